#!/usr/bin/env python3
"""Pipeline oracle: EZIGen's OFFICIAL generation and editing logic on the tiny models,
with every random draw taken from a named-noise table, recorded step by step.

The official code is imported from a checkout of ZichengDuan/EZIGen outside this
repository (nothing of it is copied here):
  models.pipelines.pipline_sd_main.StableDiffusionPipeline_main      (main pipeline: CFG,
      truncation, adapter gating, mask blending, decode)
  models.inversion_models.{InversePipelinePartial, ExceptionCLIPTextModel, partial_inverse}
  models.main_unet.unet_main.UNet2DConditionModel_main, models.reference_unet.unet_ref.UNet2DConditionModel_ref
  utils.{extract_subject_features, add_noise_to_image, compute_clip_similarity, resize_image_to_fit_short}
  infer.py: loop_infer, iteration_wrapper, register_adapter_and_configs (+ helpers), taken
      out of infer.py with `ast` (infer.py itself imports CUDA/accelerate/CLIP modules).
      The only change: every literal 512 in iteration_wrapper becomes 8 * unet.sample_size
      (= 128 for the tiny UNet; spec section 11.4); args.resolution is set to the same value.
Modules the official package imports but these code paths never use (scipy, matplotlib,
numba, omegaconf, datasets, clip, xformers) are replaced by empty stand-ins when missing;
cv2 (opencv-python-headless) is REAL: it resizes the edit mask.

LEAN variant: the recorded run skips the two debug passes of iteration_wrapper ("simple"
and "pure text"; they are only saved to disk). The script also runs the unmodified
official iteration_wrapper (three initial runs for generation, "simple" for editing),
feeding the debug passes their own noise, and asserts that every recorded latent, image
and similarity is bit-identical.

Noise: all draws come from a table of named float32 N(0,1) tensors generated up front
(torch.Generator seeded with NOISE_SEED, keys generated in consumption order). The
official code's draw sites are redirected to the table: diffusers' randn_tensor in
the VAE posterior sample, in DDPMScheduler.step and in the pipeline's prepare_latents,
and torch.randn_like (subject noise at t=1, loop re-noise at t=400). Every draw is
checked against the expected key, draw site, context (pipeline call / step index /
inversion round) and shape; every saved key is consumed exactly once; the global torch
RNG and the pipeline generator are asserted untouched.

Writes tests/fixtures/pipeline/{generate,edit_square,edit_nonsquare}{.safetensors,.noise.safetensors}
(see tests/gen/README.md, section "Pipeline oracle").

Run from the repository root (OMP_NUM_THREADS=1 is set here):
    python tests/gen/make_pipeline_oracle.py /path/to/EZIGen
"""
import ast
import hashlib
import json
import os
import shutil
import sys
import tempfile
import types
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import PIL  # noqa: E402
import PIL.Image  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
import diffusers  # noqa: E402
import diffusers.models.attention_processor  # noqa: E402,F401
import diffusers.utils.torch_utils as dtu  # noqa: E402
import transformers.models.clip.modeling_clip  # noqa: E402,F401
from diffusers import (  # noqa: E402
    AutoencoderKL, DDIMScheduler, DDPMScheduler, DPMSolverMultistepInverseScheduler, DPMSolverMultistepScheduler,
    PNDMScheduler, UNet2DConditionModel,
)
from safetensors.torch import load_file  # noqa: E402
from torch import nn  # noqa: E402
from torchvision import transforms  # noqa: E402
from transformers import CLIPTextModel, CLIPVisionModelWithProjection  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_fixtures as mf  # noqa: E402  (paths, safetensors writer, reference tokenizer, OpenAI-clip preprocessing)
from common import stub_missing  # noqa: E402  (stand-ins for the official package's unused imports)

ROOT = mf.ROOT
TINY = mf.TINY
OUT = os.path.join(mf.FIX, "pipeline")
SCRIPT = "tests/gen/make_pipeline_oracle.py"
NOISE_SEED = 3154        # the official CLI seed; seeds the named-noise table
DEBUG_NOISE_SEED = 3155  # noise of the skipped "simple" pass (verification run only)
NEG_PROMPT = "dark, blur, defoucus, lack of content, dizzy."  # hard-coded in infer.py

torch.set_num_threads(1)
warnings.filterwarnings("ignore", category=FutureWarning)
torch.use_deterministic_algorithms(True)


def oracle_case(do_editing, num_interations, **extra):
    """One oracle run: the settings all cases share, then the case's own keys (in this key order)."""
    target_prompt = "a dog on the beach" if do_editing else "a dog in fancy royal king's outfit"
    return dict(do_editing=do_editing, target_prompt=target_prompt, subject_prompt="a dog", infer_steps=10,
                guidance_scale=7.5, split_ratio=0.4, num_interations=num_interations, seed=3154,
                sim_threshold=0.99, **extra)


CASES = {
    "generate": oracle_case(False, 3),
    "edit_square": oracle_case(True, 2, source_size=(128, 128)),
    # Two photos of the subject (issue 14): the official feature path with a list of images,
    # which concatenates the features along tokens (spec section 2.4).
    "generate_2subjects": oracle_case(False, 1, subjects=2),
    "edit_nonsquare": oracle_case(True, 2, source_size=(100, 75)),
    # Issue 28: the official pipeline with only its scheduler swapped (`pipeline.scheduler =
    # <class>.from_pretrained(<the same scheduler folder>)`: the file's keys, each class's own
    # defaults for the rest). The DDPM noise scheduler still re-noises the loops at t = 400 and
    # the inversion stays DPM-Solver++ inverse with the same N.
    "generate_dpmpp": oracle_case(False, 2, sampler="dpmpp"),
    "generate_ddim": oracle_case(False, 1, sampler="ddim"),
    "edit_dpmpp": oracle_case(True, 2, source_size=(128, 128), sampler="dpmpp"),
    "edit_ddim": oracle_case(True, 1, source_size=(128, 128), sampler="ddim"),
}
SAMPLERS = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler, "dpmpp": DPMSolverMultistepScheduler}


def sampler_class(case):
    return SAMPLERS[case.get("sampler", "ddpm")]


def draws_noise(case):
    """Only DDPM's step draws variance noise (DDIM runs with eta = 0; DPM-Solver++ is not SDE)."""
    return case.get("sampler", "ddpm") == "ddpm"


# ---------------------------------------------------------------------------
# deterministic safetensors writer (make_fixtures'; metadata also names this script and cv2)
# ---------------------------------------------------------------------------
def save_st(tensors, path, **extra):
    import cv2

    # SCRIPT is read at call time: make_train_oracle.py sets po.SCRIPT to its own name
    mf.save_st(tensors, path, script=SCRIPT, opencv=cv2.__version__, **extra)


# ---------------------------------------------------------------------------
# official code import
# ---------------------------------------------------------------------------
OFFICIAL_COMMIT = "8a5137d9eeda4f7ccb9b51219f1db0c7c8e518c1"  # ZichengDuan/EZIGen at this commit: its sources hash to
OFFICIAL_SOURCES_SHA256 = "7662d219920659fd3ab145cf29b687a00b55d8be28ddde51aa1ba1a1a125eb29"


def official_sources_sha256(repo):
    """sha256 over (path, sha256(content)) of infer.py, configs/*.yaml, utils/*.py, models/**/*.py."""
    files = ["infer.py"]
    for top in ("configs", "utils", "models"):
        for d, dirs, fs in os.walk(os.path.join(repo, top)):
            dirs[:] = sorted(x for x in dirs if x != "__pycache__")
            files += [os.path.relpath(os.path.join(d, f), repo) for f in fs if f.endswith((".py", ".yaml"))]
    h = hashlib.sha256()
    for rel in sorted(files):
        with open(os.path.join(repo, rel), "rb") as f:
            h.update(f"{rel}\0{hashlib.sha256(f.read()).hexdigest()}\n".encode())
    return h.hexdigest()


class Replace512(ast.NodeTransformer):
    """The official generalisation for other model sizes: literal 512 -> 8 * sample_size."""

    def __init__(self, size):
        self.size, self.count = size, 0

    def visit_Constant(self, node):
        if type(node.value) is int and node.value == 512:
            self.count += 1
            return ast.copy_location(ast.Constant(self.size), node)
        return node


class Official:
    INFER_FUNCS = ("loop_infer", "iteration_wrapper", "register_adapter_and_configs", "extract_attention_params",
                   "initialize_adapter", "copy_matched_parameters")

    def __init__(self, repo, size):
        self.repo = repo
        self.stubbed = stub_missing(["clip", "scipy", "scipy.ndimage", "matplotlib", "matplotlib.pyplot",
                                     "xformers", "xformers.ops", "numba", "omegaconf", "datasets"])
        import cv2  # real: the mask resize

        sys.path.insert(0, repo)
        from models.inversion_models import ExceptionCLIPTextModel, InversePipelinePartial, partial_inverse
        from models.main_unet.adapter import Attention_Adapter
        from models.main_unet.unet_main import UNet2DConditionModel_main
        from models.pipelines import pipline_sd_main
        from models.reference_unet.unet_ref import UNet2DConditionModel_ref
        import utils.utils as off_utils

        self.pipeline_module = pipline_sd_main
        self.StableDiffusionPipeline_main = pipline_sd_main.StableDiffusionPipeline_main
        self.InversePipelinePartial = InversePipelinePartial
        self.ExceptionCLIPTextModel = ExceptionCLIPTextModel
        self.UNet2DConditionModel_main = UNet2DConditionModel_main
        self.UNet2DConditionModel_ref = UNet2DConditionModel_ref
        self.utils = off_utils
        with open(os.path.join(repo, "configs", "infer_config.yaml")) as f:
            import yaml

            self.infer_config = yaml.safe_load(f)
        self.sources_sha256 = official_sources_sha256(repo)

        # infer.py functions, as in infer.py, with globals of infer.py's module namespace
        self.clip_calls = []

        def recording_similarity(model, preprocess, image1, image2, device):
            sim = off_utils.compute_clip_similarity(model, preprocess, image1, image2, device)
            self.clip_calls.append(dict(sim=sim, size1=image1.size, size2=image2.size))
            return sim

        self.ns = {
            "torch": torch, "nn": nn, "np": np, "cv2": cv2, "F": F, "Image": PIL.Image, "device": "cpu",
            "plt": types.SimpleNamespace(imsave=lambda *a, **k: None),  # mask_foreground.png: not needed
            "Attention_Adapter": Attention_Adapter, "partial_inverse": partial_inverse,
            "extract_subject_features": off_utils.extract_subject_features,
            "add_noise_to_image": off_utils.add_noise_to_image,
            "resize_image_to_fit_short": off_utils.resize_image_to_fit_short,
            "compute_clip_similarity": recording_similarity,
        }
        src = open(os.path.join(repo, "infer.py")).read()
        tree = ast.parse(src)
        funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in self.INFER_FUNCS}
        assert set(funcs) == set(self.INFER_FUNCS)
        rep = Replace512(size)
        funcs["iteration_wrapper"] = rep.visit(funcs["iteration_wrapper"])
        # 512 in iteration_wrapper: short side of the source (1) and of the mask (1), the dead
        # (512, 512) resize of the source (2), cv2.resize of the mask to (512, 512) (2)
        assert rep.count == 6, rep.count
        assert "512" not in ast.unparse(funcs["loop_infer"])
        self.replaced_512 = rep.count
        body = [funcs[n] for n in self.INFER_FUNCS]
        exec(compile(ast.fix_missing_locations(ast.Module(body=body, type_ignores=[])), "infer.py", "exec"), self.ns)


# ---------------------------------------------------------------------------
# named noise
# ---------------------------------------------------------------------------
def noise_plan(case, R8, gen_hw, edit_hw):
    """[(key, shape, site, context)] in consumption order of the LEAN run."""
    p = case
    n = p["infer_steps"]
    n_loop = n - int(p["infer_steps"] - p["split_ratio"] * p["infer_steps"])  # len(timesteps[latents_steps:])
    sub = (1, 4, R8, R8)
    # One posterior draw for the batch of subject photos, one t=1 noise shared by all of them
    # (utils.py: extract_subject_features: latent_dist.sample(), randn_like(latents[:1])).
    subs = (p.get("subjects", 1), 4, R8, R8)
    plan = [("subject/posterior", subs, "posterior", "outside"), ("subject/t1", sub, "randn_like", "outside")]
    if not p["do_editing"]:
        g = (1, 4) + gen_hw
        plan.append(("init/latents", g, "latents", "run0/latents"))
        plan += [(f"run0/ddpm/step{i}", g, "ddpm", f"run0/ddpm/step{i}") for i in range(n) if draws_noise(p)]
        for k in range(1, p["num_interations"] + 1):
            plan.append((f"loop{k}/posterior", sub, "posterior", "outside"))
            plan.append((f"loop{k}/renoise", sub, "randn_like", "outside"))
            plan += [(f"loop{k}/ddpm/step{i}", g, "ddpm", f"loop{k}/ddpm/step{i}") for i in range(n_loop)
                     if draws_noise(p)]
    else:
        e = (1, 4) + edit_hw
        for k in range(1, p["num_interations"] + 1):
            plan.append((f"edit/loop{k}/posterior", e, "posterior", f"inversion{k}"))
            plan += [(f"edit/loop{k}/ddpm/step{i}", e, "ddpm", f"edit/loop{k}/ddpm/step{i}") for i in range(n_loop)
                     if draws_noise(p)]
    return plan


def make_table(plan, seed):
    gen = torch.Generator().manual_seed(seed)
    table = {}
    for key, shape, _, _ in plan:
        if key not in table:
            table[key] = torch.randn(shape, generator=gen, dtype=torch.float32)
    return table


def full_run_plan(case, lean_plan, gen_hw):
    """Consumption order of the unmodified official iteration_wrapper: the lean plan with the
    debug passes inserted. "simple" gets its own keys; "pure text" re-uses init/latents and
    run0/ddpm/* exactly as the official generator re-seeding makes it share them with run0."""
    n = case["infer_steps"]
    g = (1, 4) + gen_hw
    simple = [("debug/simple/latents", g, "latents", "simple/latents")]
    simple += [(f"debug/simple/ddpm/step{i}", g, "ddpm", f"simple/ddpm/step{i}") for i in range(n) if draws_noise(case)]
    plan = lean_plan[:2] + simple
    if not case["do_editing"]:
        pure = [("init/latents", g, "latents", "pure/latents")]
        pure += [(f"run0/ddpm/step{i}", g, "ddpm", f"pure/ddpm/step{i}") for i in range(n) if draws_noise(case)]
        plan += pure
    return plan + lean_plan[2:], simple


class Tape:
    """Replaces the official draw sites; hands out the planned tensors in order."""

    SITES = {"diffusers.models.autoencoders.vae": "posterior", "diffusers.schedulers.scheduling_ddpm": "ddpm"}

    def __init__(self, plan, table, recorder, pipeline_module):
        self.plan, self.table, self.rec = plan, table, recorder
        self.pos = 0
        self.consumed = []
        self.sites = dict(self.SITES)
        self.sites[pipeline_module.__name__] = "latents"

    def draw(self, site, shape, dtype):
        ctx = self.rec.context(site)
        if self.pos >= len(self.plan):
            raise AssertionError(f"unplanned draw at site {site}, context {ctx}, shape {tuple(shape)}")
        key, want_shape, want_site, want_ctx = self.plan[self.pos]
        got = (site, ctx, tuple(shape), dtype)
        want = (want_site, want_ctx, tuple(want_shape), torch.float32)
        assert got == want, f"draw #{self.pos} ({key}): got {got}, planned {want}"
        self.pos += 1
        self.consumed.append(key)
        return self.table[key].clone()

    def __enter__(self):
        orig = dtu.randn_tensor
        self.patched = []
        for name, mod in list(sys.modules.items()):
            if mod is not None and getattr(mod, "randn_tensor", None) is orig and mod is not dtu:
                site = self.sites.get(name, "unexpected:" + name)
                self.patched.append((mod, orig))
                mod.randn_tensor = (lambda shape, generator=None, device=None, dtype=None, layout=None, _s=site:
                                    self.draw(_s, shape, dtype))
        missing = set(self.sites) - {m.__name__ for m, _ in self.patched}
        assert not missing, f"draw sites not found: {missing}"
        self.orig_randn_like = torch.randn_like
        torch.randn_like = lambda input, *a, **k: self.draw("randn_like", input.shape, k.get("dtype") or input.dtype)
        self.rng_state = torch.get_rng_state()
        return self

    def __exit__(self, *exc):
        for mod, orig in self.patched:
            mod.randn_tensor = orig
        torch.randn_like = self.orig_randn_like
        if exc[0] is None:
            assert torch.equal(torch.get_rng_state(), self.rng_state), "global torch RNG was used"
            assert self.pos == len(self.plan), f"only {self.pos} of {len(self.plan)} planned draws happened"


# ---------------------------------------------------------------------------
# recording wrappers (the official functions call these objects like the real ones)
# ---------------------------------------------------------------------------
class Recorder:
    def __init__(self, labels):
        self.labels = list(labels)
        self.calls = []
        self.inversions = []
        self.active_call = None
        self.active_inversion = None

    def context(self, site):
        if self.active_call is not None:
            c = self.active_call
            if site == "latents":
                return f"{c['label']}/latents"
            if site == "ddpm":
                return f"{c['label']}/ddpm/step{len(c['steps'])}"
            return f"{c['label']}/{site}"
        if self.active_inversion is not None:
            return f"inversion{len(self.inversions)}"
        return "outside"


class RecordingPipeline:
    """Forwards to StableDiffusionPipeline_main.__call__, adding a callback_on_step_end that
    records the latent after every step (after the DDPM step and the mask blend) and the
    foreground mask the pipeline built."""

    def __init__(self, pipe, rec):
        self.pipe, self.rec = pipe, rec
        pipe._callback_tensor_inputs = list(pipe._callback_tensor_inputs) + ["foreground_mask"]
        self.text = []
        pipe.unet.register_forward_pre_hook(self._unet_hook, with_kwargs=True)

    def _unet_hook(self, module, args, kwargs):
        c = self.rec.active_call
        if c is not None and "text" not in c:
            c["text"] = kwargs["encoder_hidden_states"].clone()
            c["adapter_gate"] = []
        if c is not None:
            a = kwargs["args"]
            c["adapter_gate"].append(bool(a.skip_adapter_ratio * a.infer_steps < kwargs["inf_timestep"] + 1))

    def __call__(self, *a, **kw):
        assert "callback_on_step_end" not in kw
        label = self.rec.labels[len(self.rec.calls)]
        call = dict(label=label, steps=[], start=None if kw.get("latents") is None else kw["latents"].clone(),
                    guidance=kw.get("guidance_scale"), negative_prompt=kw.get("negative_prompt"),
                    latents_steps=kw.get("latents_steps"), fg=None)
        self.rec.calls.append(call)

        def on_step(pipe, i, t, cb):
            assert i == len(call["steps"])
            call["steps"].append((int(t), cb["latents"].clone()))
            fg = cb["foreground_mask"]
            if call["fg"] is None:
                call["fg"] = fg.clone()
            assert torch.equal(call["fg"], fg)
            return {}

        kw["callback_on_step_end"] = on_step
        kw["callback_on_step_end_tensor_inputs"] = ["latents", "foreground_mask"]
        self.rec.active_call = call
        try:
            res = self.pipe(*a, **kw)
        finally:
            self.rec.active_call = None
        call["image"] = np.array(res["images"][0])
        return res


class RecordingInversion:
    def __init__(self, pipe, rec):
        self.pipe, self.rec = pipe, rec
        pipe.unet.register_forward_pre_hook(self._unet_hook, with_kwargs=True)

    def _unet_hook(self, module, args, kwargs):
        inv = self.rec.active_inversion
        if inv is not None and "text" not in inv:
            inv["text"] = kwargs["encoder_hidden_states"].clone()

    def __call__(self, *a, **kw):
        inv = dict(input=np.array(kw["image"]), kwargs={k: v for k, v in kw.items() if k != "image"})
        self.rec.inversions.append(inv)
        self.rec.active_inversion = inv
        try:
            out = self.pipe(*a, **kw)
        finally:
            self.rec.active_inversion = None
        inv["z"] = [z.clone() for z in out["inversed_intermediate_latents"]]
        inv["noise"] = out["noise"].clone()
        inv["timesteps"] = self.pipe.scheduler.timesteps.clone()
        return out


class TinyOpenAIClip:
    """The tiny CLIPVisionModelWithProjection behind OpenAI clip's model.encode_image."""

    def __init__(self, model):
        self.model = model

    def encode_image(self, x):
        return self.model(pixel_values=x).image_embeds


# ---------------------------------------------------------------------------
# models, set up as infer.py main() / load_models / load_pipelines do
# ---------------------------------------------------------------------------
def build(off, case, size, rec):
    args = types.SimpleNamespace(**off.infer_config)
    args.config = "configs/infer_config.yaml"
    for k in ("target_prompt", "subject_prompt", "do_editing", "seed", "split_ratio", "infer_steps",
              "guidance_scale", "sim_threshold", "num_interations"):
        setattr(args, k, case[k])
    args.resolution = size  # the 512 of infer_config.yaml -> 8 * sample_size
    weight_dtype = torch.float32
    sched_dir = os.path.join(TINY, "scheduler")
    noise_scheduler = DDPMScheduler.from_pretrained(sched_dir)
    tokenizer = mf.tokenizer_reference()
    text_encoder = CLIPTextModel.from_pretrained(os.path.join(TINY, "text_encoder"), low_cpu_mem_usage=False)
    vae = AutoencoderKL.from_pretrained(os.path.join(TINY, "vae"), low_cpu_mem_usage=False)
    unet_dir = os.path.join(TINY, "unet")
    main_unet = off.UNet2DConditionModel_main.from_pretrained(unet_dir, low_cpu_mem_usage=False)
    # infer.py: UNet2DConditionModel_ref(args=args).from_pretrained(...): from_pretrained is a
    # classmethod, the throw-away default-config instance is skipped here
    reference_unet = off.UNet2DConditionModel_ref.from_pretrained(unet_dir, low_cpu_mem_usage=False)
    exclip = off.ExceptionCLIPTextModel.from_pretrained(os.path.join(TINY, "text_encoder"), low_cpu_mem_usage=False)
    clip_model = TinyOpenAIClip(CLIPVisionModelWithProjection.from_pretrained(os.path.join(TINY, "clip"),
                                                                              low_cpu_mem_usage=False).eval())
    clip_processor = mf.clip_preprocess(224)
    off.ns["register_adapter_and_configs"](main_unet, reference_unet, args)
    # accelerator.load_state(checkpoint): strict load of the full main-UNet state dict
    ck = load_file(os.path.join(TINY, "ezigen", "checkpoint", "model.safetensors"))
    main_unet.load_state_dict(ck, strict=True)
    for m in (text_encoder, vae, reference_unet, exclip, main_unet):
        m.to("cpu", dtype=weight_dtype).eval()
    pipeline = off.StableDiffusionPipeline_main(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=main_unet, scheduler=noise_scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipeline.scheduler = noise_scheduler
    if sampler_class(case) is not DDPMScheduler:
        # the only change of the sampler cases: the main pipeline's scheduler
        pipeline.scheduler = sampler_class(case).from_pretrained(sched_dir)
    # the inverse pipeline owns a stock UNet and VAE (from_pretrained(SD2.1-base, text_encoder=exclip))
    inv_unet = UNet2DConditionModel.from_pretrained(unet_dir, low_cpu_mem_usage=False)
    inv_vae = AutoencoderKL.from_pretrained(os.path.join(TINY, "vae"), low_cpu_mem_usage=False)
    inverse_pipeline = off.InversePipelinePartial(
        vae=inv_vae, text_encoder=exclip, tokenizer=tokenizer, unet=inv_unet,
        scheduler=PNDMScheduler.from_pretrained(sched_dir), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)
    inverse_pipeline.scheduler = DPMSolverMultistepInverseScheduler.from_config(inverse_pipeline.scheduler.config)
    inverse_pipeline.to("cpu", dtype=weight_dtype)
    pipeline.to("cpu", dtype=weight_dtype)
    for pipe in (pipeline, inverse_pipeline):
        pipe.set_progress_bar_config(disable=True)
    train_transforms = transforms.Compose([
        transforms.Resize((args.resolution, args.resolution), interpolation=transforms.InterpolationMode.BILINEAR),
        transforms.ToTensor(),
        transforms.Normalize([0.5], [0.5]),
    ])
    generator = torch.Generator(device="cpu").manual_seed(args.seed)
    return dict(
        args=args, accelerator=None, main_unet=main_unet, reference_unet=reference_unet, text_encoder=text_encoder,
        tokenizer=tokenizer, vae=vae, noise_scheduler=noise_scheduler, weight_dtype=weight_dtype,
        train_transforms=train_transforms, generator=generator, pipeline=RecordingPipeline(pipeline, rec),
        exclip=exclip, inverse_pipeline=RecordingInversion(inverse_pipeline, rec), clip_model=clip_model,
        clip_processor=clip_processor)


# ---------------------------------------------------------------------------
# the LEAN iteration_wrapper: infer.py's iteration_wrapper without the "simple" and
# "pure text" passes (statement for statement otherwise, 512 -> size)
# ---------------------------------------------------------------------------
def lean_iteration_wrapper(ns, size, taps, args, accelerator, subject_img_path, main_unet, reference_unet,
                           text_encoder, tokenizer, vae, noise_scheduler, weight_dtype, target_prompt,
                           subject_prompt, train_transforms, generator=None, output_root=None, post_fix="",
                           pipeline=None, exclip=None, inverse_pipeline=None, clip_model=None, clip_processor=None,
                           source_image_path=None, foreground_mask_path=None):
    Image, np_, cv2, torch_ = ns["Image"], ns["np"], ns["cv2"], ns["torch"]
    subject_features = ns["extract_subject_features"](
        args, subject_img_path, reference_unet, text_encoder, tokenizer, vae, noise_scheduler, None, weight_dtype,
        train_transforms, text=subject_prompt, subject_denoise_timestep=args.subject_denoise_timestep,
        device=reference_unet.device, generator=generator)
    taps["subject_features"] = [f.clone() for f in subject_features]
    assert subject_features[0].ndim == 3 and subject_features[0].shape[0] == 1
    subject_features = [torch_.vstack((subject_feature, subject_feature)) for subject_feature in subject_features]

    # [skipped: "simple" pass]
    if args.do_editing and source_image_path:
        initial_image = Image.open(source_image_path).convert('RGB')
        initial_image = ns["resize_image_to_fit_short"](initial_image, short_size=size)
        # [dead in infer.py: initial_image_resized = initial_image.resize((512, 512), 1), overwritten below]
    else:
        # [skipped: "pure text" pass]
        generator.manual_seed(int(args.seed))
        args.skip_adapter_ratio = 1 - args.split_ratio
        res = pipeline(target_prompt, num_inference_steps=args.infer_steps, generator=generator,
                       subject_features=subject_features,
                       image_paths=subject_img_path,
                       reference_unet=reference_unet,
                       weight_dtype=weight_dtype,
                       train_transforms=train_transforms,
                       subject_prompt=subject_prompt,
                       args=args,
                       latents=None,
                       latents_steps=None,
                       negative_prompt="dark, blur, defoucus, lack of content, dizzy.",
                       guidance_scale=args.guidance_scale)
        initial_image = res["images"][0]

    initial_image_resized = initial_image
    W, H = initial_image.size
    taps["initial_image"] = np_.array(initial_image)
    initial_image.save(f"{output_root}/{target_prompt}{post_fix}/initial_loop.png")

    if args.do_editing:
        foreground_mask = Image.open(foreground_mask_path).convert('RGB')
        foreground_mask = ns["resize_image_to_fit_short"](foreground_mask, short_size=size)
        foreground_mask = np_.array(foreground_mask)[:, :, 0] // 255
        taps["mask_resized"] = foreground_mask.copy()
        foreground_mask = cv2.resize(foreground_mask, (size, size))
        taps["mask_square"] = foreground_mask.copy()
        foreground_mask = torch_.tensor(foreground_mask).to(reference_unet.device)
    else:
        foreground_mask = None

    args.skip_adapter_ratio = 0
    return ns["loop_infer"](
        args, subject_img_path, subject_features, vae, noise_scheduler, weight_dtype, target_prompt, subject_prompt,
        train_transforms, generator, initial_image_resized, sim_threshold=args.sim_threshold, pipeline=pipeline,
        output_root=output_root, post_fix=post_fix, reference_unet=reference_unet, exclip=exclip,
        inverse_pipeline=inverse_pipeline, main_unet=main_unet, clip_model=clip_model, clip_processor=clip_processor,
        foreground_mask=foreground_mask, initial_image_size=(W, H), source_image_path=source_image_path)


# ---------------------------------------------------------------------------
# synthetic inputs
# ---------------------------------------------------------------------------
def subject_rgba():
    """96x72 RGBA: a brown 'dog' ellipse with a red collar, a blue semi-transparent patch,
    a soft alpha ramp and fully transparent pixels whose (green) RGB must not leak."""
    h, w = 72, 96
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    rgb = np.zeros((h, w, 3), np.float64)
    rgb[..., 0] = 40 + 30 * np.sin(x / 5.0)
    rgb[..., 1] = 200 + 40 * np.cos(y / 7.0)
    rgb[..., 2] = 60 + 20 * np.sin((x + y) / 9.0)
    a = np.clip((x - 10) * 4.0, 0, 255)  # transparent left edge, ramp to opaque
    body = ((x - 50) / 28.0) ** 2 + ((y - 40) / 20.0) ** 2 <= 1.0
    rgb[body] = np.stack([150 + 30 * np.sin(x / 3.0), 95 + 20 * np.cos(y / 4.0), 40 + 10 * np.sin(x * y / 50.0)],
                         -1)[body]
    a[body] = 255
    collar = (np.abs(x - 34) <= 3) & (np.abs(y - 36) <= 12)
    rgb[collar] = (220, 30, 40)
    a[collar] = 255
    patch = (x >= 70) & (x < 90) & (y >= 4) & (y < 20)
    rgb[patch] = (30, 60, 230)
    a[patch] = 128
    a[(y < 3) | (y >= h - 3)] = 0
    out = np.concatenate([np.round(rgb), np.round(a)[..., None]], -1)
    return np.clip(out, 0, 255).astype(np.uint8)


def subject2_rgba():
    """The second photo of the subject: the first one mirrored, warmer and darker, with its own
    transparent border (a different view of the same 'dog')."""
    a = subject_rgba()[:, ::-1].astype(np.int64)
    a[..., 0] = np.clip(a[..., 0] + 25, 0, 255)
    a[..., 1] = np.clip(a[..., 1] * 7 // 8, 0, 255)
    a[:, :4, 3] = 0
    return np.ascontiguousarray(a.astype(np.uint8))


class RepeatedText:
    """The text encoder as extract_subject_features sees it for a list of photos: its output
    repeated to the number of photos. The official code encodes the subject prompt once
    ([1, 77, D]) and feeds the reference UNet a batch of photos; the stock attention processor
    then takes its batch size from the text, which only works for one photo. Repeating the text
    per photo (as the training path's per-slot prompts do) is the minimal change that runs the
    official path with several photos; with one photo it is the identity."""

    def __init__(self, text_encoder, k):
        self.te, self.k = text_encoder, k

    def __call__(self, *a, **kw):
        out = self.te(*a, **kw)
        return (out[0].repeat(self.k, 1, 1),) + tuple(out[1:])

    def __getattr__(self, name):
        return getattr(self.te, name)


def composite_on_white(rgba):
    rgb = rgba[..., :3].astype(np.int64)
    a = rgba[..., 3:4].astype(np.int64)
    return ((rgb * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def source_rgb(w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v = x / w, y / h
    sky = v < 0.45
    img = np.zeros((h, w, 3), np.float64)
    img[..., 0] = np.where(sky, 110 + 60 * v, 210 + 30 * np.sin(13 * u + 7 * v))
    img[..., 1] = np.where(sky, 170 + 50 * v, 180 + 25 * np.cos(11 * v))
    img[..., 2] = np.where(sky, 235 - 20 * u, 120 + 20 * np.sin(17 * u * v))
    sun = (u - 0.8) ** 2 + (v - 0.15) ** 2 < 0.006
    img[sun] = (250, 240, 120)
    img += (12 * np.sin(x * 1.7) * np.cos(y * 2.3))[..., None]  # high-frequency texture for the resizers
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def mask_u8(w, h):
    """255 = foreground: a rectangle plus a round blob, 0 elsewhere."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v = (x + 0.5) / w, (y + 0.5) / h
    rect = (u >= 0.18) & (u < 0.52) & (v >= 0.42) & (v < 0.86)
    blob = ((u - 0.66) / 0.16) ** 2 + ((v - 0.58) / 0.2) ** 2 <= 1.0
    return np.where(rect | blob, 255, 0).astype(np.uint8)


# ---------------------------------------------------------------------------
def run_case(off, name, case, size, workdir, subject_store, verify=True):
    print(f"=== {name}")
    rgba = subject_rgba()
    rgb = composite_on_white(rgba)
    subject_path = os.path.join(workdir, "subject.png")
    PIL.Image.fromarray(rgb).save(subject_path)
    inputs = {"input.subject_rgba": torch.from_numpy(rgba), "input.subject_rgb": torch.from_numpy(rgb)}
    n_subjects = case.get("subjects", 1)
    subject_paths = [subject_path]
    if n_subjects == 2:
        rgba2 = subject2_rgba()
        subject_paths.append(os.path.join(workdir, "subject2.png"))
        PIL.Image.fromarray(composite_on_white(rgba2)).save(subject_paths[1])
        inputs["input.subject2_rgba"] = torch.from_numpy(rgba2)
    assert len(subject_paths) == n_subjects
    src_path = mask_path = None
    if case["do_editing"]:
        w0, h0 = case["source_size"]
        src, m = source_rgb(w0, h0), mask_u8(w0, h0)
        src_path, mask_path = os.path.join(workdir, "source.png"), os.path.join(workdir, "mask.png")
        PIL.Image.fromarray(src).save(src_path)
        PIL.Image.fromarray(np.repeat(m[..., None], 3, -1)).save(mask_path)  # 3-channel mask PNG
        inputs["input.source_rgb"] = torch.from_numpy(src)
        inputs["input.mask"] = torch.from_numpy(m)
        # the edit latent size (3 diffusers Downsample2D: pad (0,1,0,1), conv 3x3 stride 2: n -> (n - 2) // 2 + 1)
        W, H = (size, int(h0 / w0 * size)) if w0 < h0 else (int(w0 / h0 * size), size)
        lat = lambda n: (((n - 2) // 2 + 1 - 2) // 2 + 1 - 2) // 2 + 1  # noqa: E731
        edit_hw = (lat(H), lat(W))
    else:
        edit_hw = None
    R8 = size // 8
    gen_hw = (R8, R8)  # pipeline default height = width = sample_size * 8
    plan = noise_plan(case, R8, gen_hw, edit_hw)
    table = make_table(plan, NOISE_SEED)
    keys = [p[0] for p in plan]
    assert len(keys) == len(set(keys))

    post_fix = ("_editing" if case["do_editing"] else "") + f"_seed_{case['seed']}"

    def execute(full):
        out_root = os.path.join(workdir, "full" if full else "lean")
        os.makedirs(f"{out_root}/{case['target_prompt']}{post_fix}", exist_ok=True)
        n_it = case["num_interations"]
        loops = [("edit/" if case["do_editing"] else "") + f"loop{k}" for k in range(1, n_it + 1)]
        if full:
            labels = ["simple"] + ([] if case["do_editing"] else ["pure", "run0"]) + loops
            p, simple = full_run_plan(case, plan, gen_hw)
            tab = dict(table)
            tab.update(make_table(simple, DEBUG_NOISE_SEED))
        else:
            labels = ([] if case["do_editing"] else ["run0"]) + loops
            p, tab = plan, table
        rec = Recorder(labels)
        env = build(off, case, size, rec)
        gen_state = env["generator"].get_state()
        taps = {}
        subj = {}

        def ref_hook(mod, a, kw):
            assert not subj, "the reference UNet runs once"
            subj.update(latent=a[0].clone(), text=a[2].clone())

        hook = env["reference_unet"].register_forward_pre_hook(ref_hook, with_kwargs=True)
        enc_inputs = []
        orig_encode = env["vae"].encode
        env["vae"].encode = lambda x, *a, **k: (enc_inputs.append(x.clone()), orig_encode(x, *a, **k))[1]
        off.clip_calls.clear()
        if n_subjects > 1:
            env["text_encoder"] = RepeatedText(env["text_encoder"], n_subjects)
        kwargs = dict(env, subject_img_path=subject_path if n_subjects == 1 else subject_paths,
                      target_prompt=case["target_prompt"],
                      subject_prompt=case["subject_prompt"], output_root=out_root, post_fix=post_fix,
                      source_image_path=src_path, foreground_mask_path=mask_path)
        tape = Tape(p, tab, rec, off.pipeline_module)
        with torch.no_grad(), tape:
            if full:
                off.ns["iteration_wrapper"](**kwargs)
            else:
                lean_iteration_wrapper(off.ns, size, taps, **kwargs)
        hook.remove()
        assert torch.equal(env["generator"].get_state(), gen_state), "the pipeline generator was used"
        assert [c["label"] for c in rec.calls] == labels
        outputs = [np.array(PIL.Image.open(f"{out_root}/{case['target_prompt']}{post_fix}/loop_{k}.png"))
                   for k in range(1, n_it + 1)]
        return dict(rec=rec, tape=tape, taps=taps, subj=subj, enc_inputs=enc_inputs, outputs=outputs,
                    clip=list(off.clip_calls), env=env)

    lean = execute(full=False)
    rec, tape = lean["rec"], lean["tape"]
    assert tape.consumed == keys and sorted(set(tape.consumed)) == sorted(table), "each key exactly once"
    calls = {c["label"]: c for c in rec.calls}
    p = case
    n = p["infer_steps"]
    latents_steps = int(p["infer_steps"] - p["split_ratio"] * p["infer_steps"])
    dd_ts = sampler_class(p).from_pretrained(os.path.join(TINY, "scheduler"))
    dd_ts.set_timesteps(n)
    all_ts = [int(t) for t in dd_ts.timesteps]

    t = dict(inputs)
    resize = transforms.Resize((size, size), interpolation=transforms.InterpolationMode.BILINEAR)
    resized_all = [torch.from_numpy(np.array(resize(PIL.Image.open(q).convert("RGB")))) for q in subject_paths]
    resized = resized_all[0]
    # what the VAE encoded for the subject(s) is exactly ToTensor+Normalize of those resizes
    pix = torch.stack([r.permute(2, 0, 1) for r in resized_all]).float() / 255.0
    assert torch.equal(lean["enc_inputs"][0], (pix - 0.5) / 0.5)
    t["subject/latent"] = lean["subj"]["latent"]
    t["text/subject"] = lean["subj"]["text"][:1]
    assert all(torch.equal(x, t["text/subject"][0]) for x in lean["subj"]["text"])
    subject = {k: inputs[k] for k in ("input.subject_rgba", "input.subject_rgb")}
    subject["subject/resized_rgb"] = resized
    for k, f in enumerate(lean["taps"]["subject_features"]):
        subject[f"subject/capture.{k}"] = f
    subject.update({k: t[k] for k in ("subject/latent", "text/subject")})
    if n_subjects > 1:  # this case's own subject: both photos, the concatenated captures
        t.update(subject)
        t["subject/resized_rgb2"] = resized_all[1]
    elif subject_store:  # identical in every case (same image, same subject noise): stored once, in generate
        assert subject_store.keys() == subject.keys()
        assert all(torch.equal(subject_store[k], subject[k]) for k in subject)
        del t["input.subject_rgb"]
    else:
        subject_store.update(subject)
        t.update(subject)
    t[f"timesteps/{p.get('sampler', 'ddpm')}"] = torch.tensor(all_ts, dtype=torch.int64)
    similarity = [c["sim"] for c in lean["clip"]]
    gates = {}
    if not p["do_editing"]:
        c0 = calls["run0"]
        assert [s[0] for s in c0["steps"]] == all_ts and c0["start"] is None
        for i, (_, z) in enumerate(c0["steps"]):
            t[f"run0/step{i}"] = z
        t["text/run0"] = c0["text"]
        gates["run0"] = c0["adapter_gate"]
        t["image.0"] = torch.from_numpy(c0["image"])
        assert np.array_equal(c0["image"], lean["taps"]["initial_image"])
        for k in range(1, p["num_interations"] + 1):
            c = calls[f"loop{k}"]
            assert [s[0] for s in c["steps"]] == all_ts[latents_steps:] and c["latents_steps"] == latents_steps
            t[f"loop{k}/start"] = c["start"]
            for i, (_, z) in enumerate(c["steps"]):
                t[f"loop{k}/step{i}"] = z
            t[f"image.{k}"] = torch.from_numpy(c["image"])
            assert np.array_equal(lean["outputs"][k - 1], c["image"])  # resize to (W, H) = identity
            gates[f"loop{k}"] = c["adapter_gate"]
            if k == 1:
                t["text/loop"] = c["text"]
            else:
                assert torch.equal(c["text"], t["text/loop"])
        # loop re-encode input = previous image (no-op resize), normalised
        for k in range(1, p["num_interations"] + 1):
            prev = t[f"image.{k - 1}"].permute(2, 0, 1)[None].float() / 255.0
            assert torch.equal(lean["enc_inputs"][k], (prev - 0.5) / 0.5)
    else:
        t["image.0"] = torch.from_numpy(lean["taps"]["initial_image"])
        t["edit/mask_resized"] = torch.from_numpy(lean["taps"]["mask_resized"].astype(np.uint8))
        t["edit/mask_square"] = torch.from_numpy(lean["taps"]["mask_square"].astype(np.uint8))
        assert len(rec.inversions) == p["num_interations"]
        inv_ts = None
        inverted_sizes = []
        for k in range(1, p["num_interations"] + 1):
            inv = rec.inversions[k - 1]
            c = calls[f"edit/loop{k}"]
            n_inv = len(inv["z"]) - 1
            t[f"edit/loop{k}/z0"] = inv["z"][0]
            for j in range(n_inv):
                t[f"edit/loop{k}/inv{j}"] = inv["z"][j + 1]
            assert torch.equal(inv["noise"], inv["z"][-1]) and torch.equal(c["start"], inv["z"][-1])
            ts = inv["timesteps"][:n_inv]
            inv_ts = ts if inv_ts is None else inv_ts
            assert torch.equal(ts, inv_ts)
            assert [s[0] for s in c["steps"]] == all_ts[latents_steps:] and c["latents_steps"] == latents_steps
            assert c["guidance"] == 2
            for i, (_, z) in enumerate(c["steps"]):
                t[f"edit/loop{k}/step{i}"] = z
            if k == 1:
                fg = c["fg"]
                assert all(torch.equal(fg[:, ch], fg[:, 0]) for ch in range(4))
                t["edit/fg"] = fg[:, :1]
                t["text/loop"] = c["text"]
            else:
                assert torch.equal(c["fg"][:, :1], t["edit/fg"]) and torch.equal(c["text"], t["text/loop"])
            # what was inverted: the source (k = 1), else the previous DECODED image (native size)
            want = lean["taps"]["initial_image"] if k == 1 else calls[f"edit/loop{k - 1}"]["image"]
            assert np.array_equal(inv["input"], want)
            t[f"image.{k}"] = torch.from_numpy(c["image"])
            t[f"output.{k}"] = torch.from_numpy(lean["outputs"][k - 1])
            gates[f"edit/loop{k}"] = c["adapter_gate"]
            # blending: after step i, latent = stepped * fg + R[i] * (1 - fg) with R = the FIRST round's
            # [z0 .. zn] reversed; where fg == 0 the latent is exactly R[i]
            first = rec.inversions[0]["z"][::-1]
            bg_only = c["fg"] == 0
            assert bg_only.any()
            for i, (_, z) in enumerate(c["steps"]):
                assert torch.equal(z[bg_only], first[i][bg_only])
            inverted_sizes.append(list(inv["input"].shape[:2]))
        t["edit/inv_timesteps"] = inv_ts.to(torch.int64)
        t["text/exclip"] = rec.inversions[0]["text"]
        assert all(torch.equal(inv["text"], t["text/exclip"]) for inv in rec.inversions)
    t["similarity"] = torch.tensor(similarity, dtype=torch.float32)

    # ---- verification (a): the unmodified official iteration_wrapper gives the same numbers
    report = {}
    if verify:
        full = execute(full=True)
        fcalls = {c["label"]: c for c in full["rec"].calls}
        for label, c in calls.items():
            f = fcalls[label]
            assert len(f["steps"]) == len(c["steps"])
            assert all(a[0] == b[0] and torch.equal(a[1], b[1]) for a, b in zip(c["steps"], f["steps"])), label
            assert np.array_equal(c["image"], f["image"]), label
        assert all(np.array_equal(a, b) for a, b in zip(lean["outputs"], full["outputs"]))
        assert [c["sim"] for c in full["clip"]] == similarity
        for a, b in zip(rec.inversions, full["rec"].inversions):
            assert all(torch.equal(x, y) for x, y in zip(a["z"], b["z"]))
        report["full_official_run"] = "identical"
        if not p["do_editing"]:
            pure, run0 = fcalls["pure"], fcalls["run0"]
            same = [torch.equal(a[1], b[1]) for a, b in zip(pure["steps"], run0["steps"])]
            report["pure_text_equals_decoupled_steps"] = same
            gates["pure"] = pure["adapter_gate"]
        gates["simple"] = fcalls["simple"]["adapter_gate"]
        print("  full official run (with the debug passes): identical latents, images, similarities")

    params = dict(
        case=name, sampler=p.get("sampler", "ddpm"), do_editing=p["do_editing"], target_prompt=p["target_prompt"], subject_prompt=p["subject_prompt"],
        negative_prompt_initial_run=None if p["do_editing"] else NEG_PROMPT, loop_uncond="",
        infer_steps=n, guidance_scale_initial_run=None if p["do_editing"] else p["guidance_scale"],
        guidance_scale_loop=2 if p["do_editing"] else p["guidance_scale"], split_ratio=p["split_ratio"],
        iterations=p["num_interations"], noise_seed=NOISE_SEED, resolution=size,
        subject_timestep=1, renoise_timestep=None if p["do_editing"] else int(p["split_ratio"] * 1000),
        latents_steps=latents_steps, loop_timesteps=all_ts[latents_steps:],
        layout_steps=None if p["do_editing"] else sum(1 for g in gates["run0"] if not g),
        adapter_gate=gates, similarity=similarity,
    )
    if p["do_editing"]:
        params.update(source_size=list(p["source_size"]), resized_size=[W, H],
                      latent_hw=list(edit_hw), decoded_hw=[edit_hw[0] * 8, edit_hw[1] * 8],
                      inversion_steps=len(rec.inversions[0]["z"]) - 1,
                      inversion_timesteps=[int(x) for x in t["edit/inv_timesteps"]],
                      inverted_image_hw=inverted_sizes)
    common = dict(params=params, official_repo="ZichengDuan/EZIGen", official_sources_sha256=off.sources_sha256,
                  official_commit=OFFICIAL_COMMIT if off.sources_sha256 == OFFICIAL_SOURCES_SHA256 else "unknown",
                  official_changes=f"infer.py iteration_wrapper: {off.replaced_512} literals 512 -> {size}; "
                  f"args.resolution = {size}; lean variant (no 'simple' / 'pure text' passes)",
                  verification=report or "not run",
                  subject_tensors="input.subject_rgb, subject/resized_rgb, subject/capture.{0..15}: in "
                  "generate.safetensors only (identical in every case, asserted)")
    save_st(t, os.path.join(OUT, f"{name}.safetensors"), **common)
    save_st(table, os.path.join(OUT, f"{name}.noise.safetensors"), noise_keys_in_order=keys,
            noise="float32 N(0,1), torch.Generator().manual_seed(noise_seed), drawn in the order of noise_keys_in_order",
            **common)
    print(f"  similarity {similarity}")
    return params, report


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    repo = os.path.abspath(sys.argv[1])
    verify = "--no-verify" not in sys.argv[2:]
    unet_cfg = json.load(open(os.path.join(TINY, "unet", "config.json")))
    size = 8 * unet_cfg["sample_size"]
    off = Official(repo, size)
    print("stand-ins for unused imports:", ", ".join(off.stubbed) or "none")
    # --only NAME[,NAME]: (re)write just these cases, keeping the other files (torch's float path
    # depends on the CPU, so a full re-run elsewhere rewrites every file).
    only = next((a.split("=", 1)[1].split(",") for a in sys.argv[2:] if a.startswith("--only=")), None)
    if only is None and os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT, exist_ok=True)
    summary = {}
    subject_store = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, case in CASES.items():
            if only is not None and name not in only:
                continue
            wd = os.path.join(tmp, name)
            os.makedirs(wd)
            summary[name] = run_case(off, name, case, size, wd, subject_store, verify=verify)
    total = 0
    for f in sorted(os.listdir(OUT)):
        s = os.path.getsize(os.path.join(OUT, f))
        total += s
        print(f"{s:>10}  tests/fixtures/pipeline/{f}")
    print(f"{total:>10}  total")
    assert total < 5 * 1024 * 1024


if __name__ == "__main__":
    main()
