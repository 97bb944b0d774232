"""The PyTorch side of the full-size UNet comparison: one SD 2.1-base UNet step (batch 2 for
classifier-free guidance, 64x64 latent = 512 px, 77 text tokens of width 1024) with random
weights, on the CPU, timed the same way `ezigen bench --random-sd21` times its `unet_step`
(one cold run, then the median of warm runs). Prints one JSON line in the bench format, so
the ratio to our figure on the same machine can be quoted.

    python tests/bench/torch_unet_step.py [--latent 64] [--repeats 3] [--threads N]
                                          [--device cpu|cuda] [--dtype fp32|fp16]

On CUDA every timing synchronises the device. `flops` is the step's floating-point operation
count from torch's FlopCounterMode (matmuls, convolutions and attention; 2 per multiply-add),
when this torch has it, so TFLOP/s can be quoted for this step and for ours.

Needs torch and diffusers==0.30.1 (tests/gen/requirements.txt). EZIGen's adapters are not
part of stock diffusers, so this is the "adapters off" step.
"""

import argparse
import json
import os
import statistics
import time

import sys

import torch

# Only the UNet is needed. diffusers 0.30.1 imports peft/transformers/accelerate when they are
# installed, and newer releases of those (as on a GPU machine's image) need a newer
# huggingface_hub than diffusers 0.30.1 does: hide them from this process.
for _optional in ("peft", "transformers", "accelerate"):
    sys.modules.setdefault(_optional, None)
from diffusers import UNet2DConditionModel  # noqa: E402

SD21_BASE_UNET = dict(
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    attention_head_dim=(5, 10, 20, 20),
    cross_attention_dim=1024,
    use_linear_projection=True,
    layers_per_block=2,
    norm_num_groups=32,
    sample_size=64,
    in_channels=4,
    out_channels=4,
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--latent", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "fp16"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dtype = torch.float16 if args.dtype == "fp16" else torch.float32
    dev = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    t0 = time.perf_counter()
    unet = UNet2DConditionModel(**SD21_BASE_UNET).eval().to(dev, dtype)
    sync()
    load_ms = (time.perf_counter() - t0) * 1000
    sample = torch.randn(2, 4, args.latent, args.latent, device=dev, dtype=dtype)
    context = torch.randn(2, 77, 1024, device=dev, dtype=dtype)
    t = torch.tensor(500, device=dev)

    def step():
        with torch.no_grad():
            out = unet(sample, t, encoder_hidden_states=context).sample
        sync()
        return out

    t0 = time.perf_counter()
    step()
    first_ms = (time.perf_counter() - t0) * 1000
    runs = []
    for _ in range(max(1, args.repeats)):
        t0 = time.perf_counter()
        step()
        runs.append((time.perf_counter() - t0) * 1000)
    flops = None
    try:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            step()
        flops = counter.get_total_flops()
    except Exception:  # torch < 2.1 has no FlopCounterMode
        pass
    ms = statistics.median(runs)
    print(json.dumps({
        "bench": "unet_step", "model": "sd21-random", "backend": f"pytorch-{dev.type}",
        "dtype": "float16" if dtype == torch.float16 else "float32",
        "torch": torch.__version__, "threads": args.threads, "batch": 2, "latent": args.latent,
        "adapters": False, "ms": ms, "min_ms": min(runs), "first_ms": first_ms,
        "runs": len(runs), "init_ms": load_ms,
        "params": sum(p.numel() for p in unet.parameters()),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
        "flops": flops, "tflops_per_s": flops / (ms / 1000) / 1e12 if flops else None,
    }))


if __name__ == "__main__":
    main()
