#!/usr/bin/env python3
"""Optional: replay the UNet fixtures through the *official* EZIGen modules.

Needs a checkout of the official repository (ZichengDuan/EZIGen) somewhere outside
this repository; nothing of it is copied here. The official classes are imported from
that checkout at run time:
  models.reference_unet.unet_ref.UNet2DConditionModel_ref  (feature capture)
  models.main_unet.unet_main.UNet2DConditionModel_main     (adapters)
  infer.register_adapter_and_configs (+ helpers), executed from infer.py's source
    (infer.py itself imports CUDA/CLIP/accelerate modules, so only those function
    definitions are taken out of it with `ast`).
Modules the official package imports but these code paths never use (cv2, clip,
scipy, matplotlib, ...) are replaced by empty stand-ins when missing.

    python tests/gen/crosscheck_official.py /path/to/EZIGen

Checks: ref.capture.{k} and ref.out (reference UNet at t=1), main.out_plain
(adapter skipped: skip_adapter_ratio=1), main.out_adapter and ns.out_adapter
(adapter on: skip_adapter_ratio=0) with the EZIGen checkpoint loaded strictly;
exclip.last_hidden_state through the official ExceptionCLIPTextModel.
"""
import ast
import os
import sys
import types

import torch
from safetensors.torch import load_file
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.abspath(os.path.join(HERE, "..", "fixtures"))
sys.path.insert(0, HERE)
from common import stub_missing  # noqa: E402  (stand-ins for the official package's unused imports)


def load_infer_functions(repo, namespace):
    src = open(os.path.join(repo, "infer.py")).read()
    tree = ast.parse(src)
    wanted = {"register_adapter_and_configs", "extract_attention_params", "initialize_adapter",
              "copy_matched_parameters"}
    body = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in wanted]
    assert {n.name for n in body} == wanted
    exec(compile(ast.Module(body=body, type_ignores=[]), "infer.py", "exec"), namespace)


def main(repo):
    # let transformers / diffusers probe the real environment before any stand-in exists
    import diffusers  # noqa: F401
    import diffusers.models.attention_processor  # noqa: F401
    import transformers  # noqa: F401
    import transformers.models.clip.modeling_clip  # noqa: F401

    stubbed = stub_missing(["cv2", "clip", "scipy", "scipy.ndimage", "matplotlib", "matplotlib.pyplot",
                            "xformers", "xformers.ops", "numba", "omegaconf", "datasets"])
    print("stand-ins for unused imports:", ", ".join(stubbed) or "none")
    sys.path.insert(0, repo)
    from models.main_unet.adapter import Attention_Adapter
    from models.main_unet.unet_main import UNet2DConditionModel_main
    from models.reference_unet.unet_ref import UNet2DConditionModel_ref

    ns = {"nn": nn, "torch": torch, "Attention_Adapter": Attention_Adapter}
    load_infer_functions(repo, ns)

    args = types.SimpleNamespace(add_before_ca=True, sub_feat_position="before_sa", residual_connection=True,
                                 skip_adapter_ratio=0.0, infer_steps=50, infer_mode=True)
    unet_dir = os.path.join(FIX, "tiny", "unet")
    main_unet = UNet2DConditionModel_main.from_pretrained(unet_dir, low_cpu_mem_usage=False).eval()
    ref_unet = UNet2DConditionModel_ref(args=args).from_pretrained(unet_dir, low_cpu_mem_usage=False).eval()
    ns["register_adapter_and_configs"](main_unet, ref_unet, args)
    ck = load_file(os.path.join(FIX, "tiny", "ezigen", "checkpoint", "model.safetensors"))
    main_unet.load_state_dict(ck, strict=True)

    io = load_file(os.path.join(FIX, "io", "unet.safetensors"))
    worst = {}

    def cmp(name, got, want):
        err = (got - want).abs().max().item()
        worst[name] = err
        print(f"{name}: max abs err {err:.3g} (|ref| max {want.abs().max().item():.3g})")

    with torch.no_grad():
        out, feats = ref_unet(io["ref.sample"], io["ref.timestep"], io["ref.encoder_hidden_states"],
                              return_dict=False, args=args)
        cmp("ref.out", out, io["ref.out"])
        assert len(feats) == 16
        for k, f in enumerate(feats):
            cmp(f"ref.capture.{k}", f, io[f"ref.capture.{k}"])
        subj = [io[f"ref.capture.{k}"].repeat(2, 1, 1) for k in range(16)]

        def run_main(sample, ratio):
            args.skip_adapter_ratio = ratio
            return main_unet(sample, io["main.timestep"], encoder_hidden_states=io["main.encoder_hidden_states"],
                             return_dict=False, subject_feats=list(subj), inf_timestep=30, args=args)[0]

        cmp("main.out_plain", run_main(io["main.sample"], 1.0), io["main.out_plain"])
        cmp("main.out_adapter", run_main(io["main.sample"], 0.0), io["main.out_adapter"])
        cmp("ns.out_adapter", run_main(io["ns.sample"], 0.0), io["ns.out_adapter"])
    # exclip (editing-time text conditioning), official ExceptionCLIPTextModel
    from models.inversion_models.clip import ExceptionCLIPTextModel

    te = load_file(os.path.join(FIX, "io", "text_encoder.safetensors"))
    exclip = ExceptionCLIPTextModel.from_pretrained(os.path.join(FIX, "tiny", "text_encoder"),
                                                    torch_dtype=torch.float32, low_cpu_mem_usage=False).eval()
    with torch.no_grad():
        ids = te["input_ids"][1:2]  # the "" prompt, as the official inversion passes it
        cmp("exclip.last_hidden_state", exclip(input_ids=ids).last_hidden_state, te["exclip.last_hidden_state"])
    bad = {k: v for k, v in worst.items() if v > 1e-5}
    print("FAILED: %s" % bad if bad else "official EZIGen modules reproduce the UNet fixtures")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(os.path.abspath(sys.argv[1]))
