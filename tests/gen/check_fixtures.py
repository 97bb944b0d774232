#!/usr/bin/env python3
"""Independent cross-checks of tests/fixtures/io against the formulas of the spec
(docs/spec.md §1.3, §5.2, §1.2), written with numpy only.

This re-derives the scheduler trajectories, add_noise, the sinusoidal time embedding,
the VAE posterior sample and the tokenizer ids of "a dog" from first principles, so a
mistake in how make_fixtures.py drove diffusers (or a spec/diffusers disagreement)
shows up here. Needs numpy + safetensors (numpy flavour). Run from the repo root:
    python tests/gen/check_fixtures.py
"""
import json
import os
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
IO = os.path.abspath(os.path.join(HERE, "..", "fixtures", "io"))
fails = []


def check(name, got, want, tol):
    err = float(np.max(np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64))))
    ok = err <= tol
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max abs err {err:.3g} (tol {tol:g})")
    if not ok:
        fails.append(name)


def alphas_cumprod_f32():
    betas = (np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float32) ** 2).astype(np.float32)
    return np.cumprod((1.0 - betas).astype(np.float32), dtype=np.float32)


def schedulers():
    s = load_file(os.path.join(IO, "schedulers.safetensors"))
    ac = alphas_cumprod_f32()
    check("ddpm.alphas_cumprod", s["ddpm.alphas_cumprod"], ac, 1e-6)
    ac = s["ddpm.alphas_cumprod"].astype(np.float64)
    check("ddpm.timesteps", s["ddpm.timesteps"], 20 * np.arange(49, -1, -1) + 1, 0)
    check("ddpm20.timesteps", s["ddpm20.timesteps"], 20 * np.arange(19, -1, -1) + 1, 0)
    check("alpha_bar(1)", ac[1], 0.998296, 1e-6)
    check("alpha_bar(400)", ac[400], 0.42448, 1e-5)

    def ddpm_step(x, eps, t, z):
        tp = t - 20
        a_t = ac[t]
        a_p = ac[tp] if tp >= 0 else 1.0
        x0 = (x - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t)
        a = a_t / a_p
        b = 1 - a
        mean = (np.sqrt(a_p) * b / (1 - a_t)) * x0 + (np.sqrt(a) * (1 - a_p) / (1 - a_t)) * x
        var = max((1 - a_p) / (1 - a_t) * b, 1e-20)
        return mean + np.sqrt(var) * z

    for p, n in (("ddpm", 50), ("ddpm20", 20)):
        x = s[f"{p}.x_init"].astype(np.float64)
        worst = 0.0
        for i, t in enumerate(s[f"{p}.timesteps"]):
            x = ddpm_step(s[f"{p}.x.{i - 1}"] if i else x, s[f"{p}.model_out.{i}"], int(t), s[f"{p}.noise.{i}"])
            worst = max(worst, float(np.max(np.abs(x - s[f"{p}.x.{i}"]))))
        check(f"{p} trajectory (per step, from the stored previous latent)", worst, 0.0, 1e-4)

    x0, eps = s["add_noise.x0"], s["add_noise.eps"]
    for t in (1, 400):
        check(f"add_noise.t{t}", s[f"add_noise.t{t}"], np.sqrt(ac[t]) * x0 + np.sqrt(1 - ac[t]) * eps, 1e-5)

    # DPM-Solver++(2M) inverse, §5.2
    ts = np.round(np.linspace(0, 999, 51))[:-1].astype(np.int64)
    check("dpminv.timesteps", s["dpminv.timesteps"], ts, 0)
    sig_all = np.sqrt((1 - ac) / ac)
    sig = np.interp(ts, np.arange(1000), sig_all)
    sig = np.concatenate([sig, [sig_all[-1]]])
    check("dpminv.sigmas", s["dpminv.sigmas"], sig, 1e-4 * np.max(sig))
    sig = s["dpminv.sigmas"].astype(np.float64)
    alpha = 1 / np.sqrt(1 + sig**2)
    sgm = sig * alpha
    lam = np.log(alpha) - np.log(sgm)
    x = s["dpminv.x_init"].astype(np.float64)
    prev_x0 = None
    worst = 0.0
    for k in range(20):
        eps = s[f"dpminv.model_out.{k}"]
        x0 = (x - sgm[k] * eps) / alpha[k]
        h = lam[k + 1] - lam[k]
        if k == 0:
            xn = (sgm[k + 1] / sgm[k]) * x - alpha[k + 1] * (np.exp(-h) - 1) * x0
        else:
            r0 = (lam[k] - lam[k - 1]) / h
            d0, d1 = x0, (x0 - prev_x0) / r0
            xn = (sgm[k + 1] / sgm[k]) * x - alpha[k + 1] * (np.exp(-h) - 1) * d0 \
                - 0.5 * alpha[k + 1] * (np.exp(-h) - 1) * d1
        worst = max(worst, float(np.max(np.abs(xn - s[f"dpminv.x.{k}"]))))
        prev_x0 = x0
        x = s[f"dpminv.x.{k}"].astype(np.float64)
    check("dpminv trajectory (per step, spec §5.2 formulas)", worst, 0.0, 1e-4)


def unet_and_others():
    u = load_file(os.path.join(IO, "unet.safetensors"))
    t = u["temb.t"].astype(np.float64)
    half = 4
    freqs = np.exp(-np.log(10000.0) * np.arange(half) / half)
    arg = t[:, None] * freqs[None]
    check("temb.out (cos first, shift 0)", u["temb.out"], np.concatenate([np.cos(arg), np.sin(arg)], 1), 1e-4)
    with safe_open(os.path.join(IO, "unet.safetensors"), "numpy") as f:
        w = np.array(json.loads(f.metadata()["learnable_weights"]), dtype=np.float32)
    for k in (0, 6, 15):
        cap = u[f"ref.capture.{k}"]
        check(f"main.block.{k}.s = ref.capture.{k} (x2) * learnable_weights[{k}]", u[f"main.block.{k}.s"],
              np.concatenate([cap, cap]) * w[k], 0)

    v = load_file(os.path.join(IO, "vae.safetensors"))
    check("vae enc.std = exp(logvar/2)", v["enc.std"], np.exp(0.5 * v["enc.logvar"].astype(np.float64)), 1e-6)
    check("vae enc.sample = mean + std*noise", v["enc.sample"], v["enc.mean"] + v["enc.std"] * v["enc.noise"], 1e-6)

    te = load_file(os.path.join(IO, "text_encoder.safetensors"))
    check("input_ids[0] ('a dog')", te["input_ids"][0], [49406, 320, 1929, 49407] + [0] * 73, 0)
    ex = te["exclip.last_hidden_state"]
    check("exclip: all positions equal", ex, np.broadcast_to(ex[:, :1], ex.shape), 1e-5)

    c = load_file(os.path.join(IO, "clip_vision.safetensors"))
    check("clip pixel_values = cat(pre.a, pre.b)", c["pixel_values"],
          np.concatenate([c["pre.a.pixel_values"], c["pre.b.pixel_values"]]), 0)


if __name__ == "__main__":
    schedulers()
    unet_and_others()
    print("FAILED: " + ", ".join(fails) if fails else "all checks passed")
    sys.exit(1 if fails else 0)
