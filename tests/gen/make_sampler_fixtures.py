#!/usr/bin/env python3
"""The DDIM and DPM-Solver++ samplers of diffusers 0.30.1, built as the Rust port builds them:
from SD 2.1-base's scheduler_config.json (tests/fixtures/tiny/scheduler, a PNDM config without
timestep_spacing), every key the file lacks taking the class's own default.

Writes tests/fixtures/io/samplers.safetensors:
  {ddim,dpmpp}.timesteps.{spacing}.{n}   int64, for the spacings and step counts of SPACINGS / STEPS
  {ddim,dpmpp}.alphas_cumprod            float32 (DDIM; DPM keeps its own copy, identical)
  dpmpp.sigmas.{n}                       float32 (linspace, the default)
  {sampler}.{case}.x_init / .model_out.{i} / .x.{i}   trajectories driven by random model outputs:
      full{n}    set_timesteps(n), every step
      slice{n}   set_timesteps(n), then timesteps[int(n - 0.4 n):] from the same freshly set
                 sampler (the pipeline's loop: step index taken from the first timestep, empty
                 history)
  ddim.{case}.timesteps / dpmpp.{case}.timesteps: the timesteps each trajectory ran over.

Run from the repository root after make_fixtures.py (which writes the scheduler folder):
    python tests/gen/make_sampler_fixtures.py
"""
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_fixtures as mf  # noqa: E402  (deterministic safetensors writer, paths)

SCRIPT = "tests/gen/make_sampler_fixtures.py"
SEED = 2100
STEPS = (1, 7, 10, 15, 20, 25, 50)
SPACINGS = ("leading", "linspace", "trailing")
TRAJECTORIES = (("full", 25), ("full", 15), ("full", 10), ("slice", 25), ("slice", 15), ("slice", 10))


def build(cls, spacing=None):
    folder = os.path.join(mf.TINY, "scheduler")
    s = cls.from_pretrained(folder)
    if spacing is not None:
        s = cls.from_config(s.config, timestep_spacing=spacing)
    return s


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    out = {}
    ddim = build(DDIMScheduler)
    dpm = build(DPMSolverMultistepScheduler)
    # the file's keys and the defaults it falls back on
    assert ddim.config.timestep_spacing == "leading" and not ddim.config.clip_sample
    assert not ddim.config.set_alpha_to_one and ddim.config.steps_offset == 1
    assert dpm.config.timestep_spacing == "linspace" and dpm.config.algorithm_type == "dpmsolver++"
    assert dpm.config.solver_order == 2 and dpm.config.solver_type == "midpoint"
    assert dpm.config.final_sigmas_type == "zero" and dpm.config.lower_order_final
    out["ddim.alphas_cumprod"] = ddim.alphas_cumprod.to(torch.float32)
    out["ddim.final_alpha_cumprod"] = ddim.final_alpha_cumprod.to(torch.float32).reshape(1)
    for spacing in SPACINGS:
        for name, cls in (("ddim", DDIMScheduler), ("dpmpp", DPMSolverMultistepScheduler)):
            s = build(cls, spacing)
            for n in STEPS:
                s.set_timesteps(n)
                out[f"{name}.timesteps.{spacing}.{n}"] = s.timesteps.to(torch.int64)
    for n in STEPS:
        dpm.set_timesteps(n)
        out[f"dpmpp.sigmas.{n}"] = dpm.sigmas.to(torch.float32)

    g = torch.Generator().manual_seed(SEED)
    for name, s in (("ddim", ddim), ("dpmpp", dpm)):
        for kind, n in TRAJECTORIES:
            case = f"{name}.{kind}{n}"
            s.set_timesteps(n)
            ts = s.timesteps
            if kind == "slice":
                ts = ts[int(n - 0.4 * n):]
            x = torch.randn((1, 4, 8, 8), generator=g)
            out[f"{case}.x_init"] = x
            out[f"{case}.timesteps"] = ts.to(torch.int64)
            for i, t in enumerate(ts):
                eps = torch.randn((1, 4, 8, 8), generator=g)
                x = s.step(eps, t, x).prev_sample  # eta = 0 (DDIM), no noise drawn by either
                out[f"{case}.model_out.{i}"] = eps
                out[f"{case}.x.{i}"] = x

    path = os.path.join(mf.IO, "samplers.safetensors")
    mf.save_st(out, path, script=SCRIPT, scheduler_config_file=mf.SCHEDULER_CONFIG,
               ddim_config=dict(ddim.config), dpmpp_config=dict(dpm.config))
    print(f"{os.path.getsize(path):>10}  {os.path.relpath(path, mf.ROOT)}")


if __name__ == "__main__":
    main()
