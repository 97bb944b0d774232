"""A full-size SD 2.1-base + EZIGen + CLIP ViT-B/32 with random weights, in the released
layouts, for measurements that need the real sizes but no real weights (none can be fetched
here): the page's wasm memory after a full-size load, conversion and load times.

    python tests/bench/make_random_sd21.py OUT_DIR
      -> OUT_DIR/sd (text_encoder/, unet/, vae/, scheduler/ as diffusers saves them; the
         converter brings its own tokenizer.json)
         OUT_DIR/ezigen/model.safetensors (the official checkpoint layout: stock UNet keys plus
         the 113 adapter tensors, f32)
         OUT_DIR/clip (CLIPModel, openai/clip-vit-base-patch32's architecture)
    then: ezigen convert --sd OUT_DIR/sd --ezigen OUT_DIR/ezigen --clip OUT_DIR/clip --out MODEL

The architectures come from crate/src/presets.rs (one source for the configs). Weights are
N(0, 0.02) (norm weights 1, biases 0), which is all a memory or timing measurement needs; about
7.5 GB are written.
"""

import json
import os
import re
import sys

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel, CLIPTextConfig, CLIPTextModel

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "gen"))
from make_fixtures import BLOCK_PREFIXES  # noqa: E402  (the 16 transformer blocks, one list)


def presets():
    src = open(os.path.join(ROOT, "crate", "src", "presets.rs")).read()
    return {name: json.loads(body) for name, body in re.findall(r'pub const (\w+): &str = r#"(.*?)"#;', src, re.S)}


def randomize_(module):
    """N(0, 0.02) for weights, 1 for norm weights, 0 for biases (fast, in place)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif p.dim() == 1:
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02)


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    cfg = presets()

    done = lambda *p: os.path.exists(os.path.join(out, *p))  # noqa: E731  (parts already written are kept)
    if not done("ezigen", "model.safetensors"):
        write_unet(cfg, out)
    if not done("sd", "vae", "diffusion_pytorch_model.safetensors"):
        vae = AutoencoderKL(**cfg["SD21_BASE_VAE"])
        randomize_(vae)
        vae.save_pretrained(os.path.join(out, "sd", "vae"), safe_serialization=True)
        del vae
    if not done("sd", "text_encoder", "model.safetensors"):
        te = CLIPTextModel(CLIPTextConfig(**cfg["SD21_BASE_TEXT_ENCODER"]))
        randomize_(te)
        te.save_pretrained(os.path.join(out, "sd", "text_encoder"), safe_serialization=True)
        del te
    os.makedirs(os.path.join(out, "sd", "scheduler"), exist_ok=True)
    with open(os.path.join(out, "sd", "scheduler", "scheduler_config.json"), "w") as f:
        json.dump({"_class_name": "PNDMScheduler", **cfg["SD21_BASE_SCHEDULER"]}, f, indent=2)
    if not done("clip", "model.safetensors"):
        clip = CLIPModel(CLIPConfig())
        randomize_(clip)
        clip.save_pretrained(os.path.join(out, "clip"), safe_serialization=True)
    print("wrote", out)


def write_unet(cfg, out):
    """The stock UNet (sd/unet) and the official checkpoint (ezigen/model.safetensors)."""
    unet = UNet2DConditionModel(**cfg["SD21_BASE_UNET"])
    randomize_(unet)
    unet.save_pretrained(os.path.join(out, "sd", "unet"), safe_serialization=True)

    # The official checkpoint: every stock key plus each block's adapter (to_q/k/v without
    # bias, to_out.0 with bias), adapter_norm, and learnable_weights (spec §3.4).
    state = {k: v.contiguous() for k, v in unet.state_dict().items()}
    for prefix in BLOCK_PREFIXES:
        block = unet.get_submodule(prefix)
        dim = block.norm1.normalized_shape[0]
        for name in ("to_q", "to_k", "to_v", "to_out.0"):
            state[f"{prefix}.adapter.{name}.weight"] = torch.randn(dim, dim) * 0.02
        state[f"{prefix}.adapter.to_out.0.bias"] = torch.zeros(dim)
        state[f"{prefix}.adapter_norm.weight"] = torch.ones(dim)
        state[f"{prefix}.adapter_norm.bias"] = torch.zeros(dim)
    state["learnable_weights"] = torch.ones(16)
    os.makedirs(os.path.join(out, "ezigen"), exist_ok=True)
    save_file(state, os.path.join(out, "ezigen", "model.safetensors"), metadata={"format": "pt"})
    del unet, state


if __name__ == "__main__":
    main()
