#!/usr/bin/env python3
"""Training oracle: EZIGen's OFFICIAL training step (train.py) on the tiny models, with every
random draw taken from a named-noise table, recording the loss, the gradient of every
trainable tensor and the parameters after each of 3 AdamW steps with gradient clipping.

The official code is imported from a checkout of ZichengDuan/EZIGen outside this repository
(nothing of it is copied here), as make_pipeline_oracle.py does:
  models.main_unet.unet_main.UNet2DConditionModel_main, models.reference_unet.unet_ref.UNet2DConditionModel_ref
  train.py: register_adapter_and_configs, extract_attention_params, initialize_adapter,
      copy_matched_parameters, padding_subjects, taken out of train.py with `ast` (train.py
      itself imports CUDA/accelerate/CLIP modules).
The step body is train.py's `main` loop (lines "load target related data" .. "optimizer.zero_grad()")
statement for statement, with the tiny model's latent size instead of collate_fn's 64 and these
replacements of the random sources (train.py draws from the global torch/python RNGs):
  collate_fn's torch.randint timestep        -> the sample's `timestep`
  collate_fn's target_noise / subject_noise  -> `step{n}/target/noise`, `step{n}/subject/t1`
  vae latent_dist.sample() (randn_tensor)    -> `step{n}/subject/posterior`, `step{n}/target/posterior`
  random.randint(1,10)/10 > drop_reference_ratio -> the sample's `drop` (the rule's outcome)
AdamW, clip_grad_norm_ and the loss are torch's own (torch.optim.AdamW with the official
hyper-parameters; max_grad_norm is lowered so that clipping is active in every step, see
MAX_GRAD_NORM).

Writes tests/fixtures/train/step.safetensors:
  sample{n}/target_image [1,3,S,S], sample{n}/subject_images [4,3,S,S] (padded, in [-1,1]),
  sample{n}/input_ids [1,77] i64, sample{n}/subject_input_ids [4,77] i64 (padded with 0),
  sample{n}/timestep [1] i64, sample{n}/drop [1] i64,
  step{n}/subject/posterior [4,4,s,s], step{n}/subject/t1 [1,4,s,s],
  step{n}/target/posterior [1,4,s,s], step{n}/target/noise [1,4,s,s],
  init/{key}       every trainable tensor after register_adapter_and_configs (spec section 3.5),
  step{n}/loss [1], step{n}/grad_norm [1] (before clipping), step{n}/grad/{key} (before clipping),
  step{n}/param/{key} (after the optimizer step).
Metadata: the hyper-parameters (`hparams`, JSON) and the versions.

Run from the repository root:
    python tests/gen/make_train_oracle.py /path/to/EZIGen
"""
import ast
import json
import os
import sys
import types

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_fixtures as mf  # noqa: E402
import make_pipeline_oracle as po  # noqa: E402  (deterministic writer, official import helpers)

import diffusers.models.autoencoders.vae as dvae  # noqa: E402
from diffusers import AutoencoderKL, DDPMScheduler  # noqa: E402
from transformers import CLIPTextModel  # noqa: E402

ROOT = po.ROOT
TINY = po.TINY
OUT = os.path.join(ROOT, "tests", "fixtures", "train", "step.safetensors")
po.SCRIPT = "tests/gen/make_train_oracle.py"
NOISE_SEED = 3154
STEPS = 3
NUM_SUB_IMG = 4
# train_config.yaml has max_grad_norm 1.0; the tiny model's gradient norm is below that, so the
# oracle lowers it to keep the clipping active (and tested) in every step.
MAX_GRAD_NORM = 0.05

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

# (real subjects, drop outcome, timestep, target prompt, subject prompt): a YouTube-VIS-like sample
# (1 subject + 3 grey paddings), a dropped step, a COCO-like sample with 4 crops.
SAMPLES = [
    (1, 0, 500, "a dog sitting on a red sofa", "a photo of a dog."),
    (2, 1, 17, "a cat in the snow", "a photo of a cat."),
    (4, 0, 930, "a man riding a horse on the beach", "a photo of a person."),
]

TRAIN_FUNCS = ("register_adapter_and_configs", "extract_attention_params", "initialize_adapter",
               "copy_matched_parameters", "padding_subjects")


def official_train_functions(repo):
    from models.main_unet.adapter import Attention_Adapter

    ns = {"torch": torch, "nn": nn, "Attention_Adapter": Attention_Adapter}
    tree = ast.parse(open(os.path.join(repo, "train.py")).read())
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in TRAIN_FUNCS}
    assert set(funcs) == set(TRAIN_FUNCS), set(TRAIN_FUNCS) - set(funcs)
    body = [funcs[n] for n in TRAIN_FUNCS]
    exec(compile(ast.fix_missing_locations(ast.Module(body=body, type_ignores=[])), "train.py", "exec"), ns)
    return ns


def smooth_image(gen, n, size):
    """Images with structure at several scales, in [-1, 1]."""
    low = torch.rand((n, 3, size // 16, size // 16), generator=gen) * 2 - 1
    mid = torch.rand((n, 3, size // 4, size // 4), generator=gen) * 2 - 1
    img = 0.7 * F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    img = img + 0.3 * F.interpolate(mid, size=(size, size), mode="bilinear", align_corners=False)
    return img.clamp(-1, 1)


def ids(tokenizer, text):
    return torch.tensor([tokenizer(text, padding="max_length", max_length=77, truncation=True).input_ids])


class PosteriorTape:
    """Replaces diffusers' randn_tensor in the VAE posterior sample with the planned tensors."""

    def __init__(self):
        self.queue = []

    def __call__(self, shape, generator=None, device=None, dtype=None, layout=None):
        key, t = self.queue.pop(0)
        assert tuple(t.shape) == tuple(shape), (key, t.shape, shape)
        return t.clone()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    repo = os.path.abspath(sys.argv[1])
    size = 8 * json.load(open(os.path.join(TINY, "unet", "config.json")))["sample_size"]
    s = size // 8
    off = po.Official(repo, size)  # stand-ins for unused imports, official sources on sys.path
    ns = official_train_functions(repo)
    import yaml

    with open(os.path.join(repo, "configs", "train_config.yaml")) as f:
        args = types.SimpleNamespace(**yaml.safe_load(f))
    args.train_batch_size = 1
    args.resolution = size
    assert args.num_sub_img == NUM_SUB_IMG and args.subject_timestep == 1 and args.residual_connection
    assert args.drop_reference_ratio == 0.2 and args.snr_gamma is None and args.prediction_type is None

    tokenizer = mf.tokenizer_reference()
    noise_scheduler = DDPMScheduler.from_pretrained(os.path.join(TINY, "scheduler"))
    text_encoder = CLIPTextModel.from_pretrained(os.path.join(TINY, "text_encoder"), low_cpu_mem_usage=False)
    vae = AutoencoderKL.from_pretrained(os.path.join(TINY, "vae"), low_cpu_mem_usage=False)
    unet_dir = os.path.join(TINY, "unet")
    main_unet = off.UNet2DConditionModel_main.from_pretrained(unet_dir, low_cpu_mem_usage=False)
    reference_unet = off.UNet2DConditionModel_ref.from_pretrained(unet_dir, low_cpu_mem_usage=False)
    # train.py: load_models_and_learnable_params
    vae.requires_grad_(False)
    text_encoder.requires_grad_(False)
    main_unet.requires_grad_(False)
    reference_unet.requires_grad_(False)
    ns["register_adapter_and_configs"](main_unet, reference_unet, args)
    weight_dtype = torch.float32
    for m in (text_encoder, vae, reference_unet, main_unet):
        m.to("cpu", dtype=weight_dtype)
    main_unet.train()
    trainable = [(k, p) for k, p in main_unet.named_parameters() if p.requires_grad]
    trainable_params = [p for _, p in trainable]
    names = [k for k, _ in trainable]
    assert len(names) == 16 * 7 + 1, len(names)
    optimizer = torch.optim.AdamW(trainable_params, lr=args.learning_rate, betas=(args.adam_beta1, args.adam_beta2),
                                  weight_decay=args.adam_weight_decay, eps=args.adam_epsilon)
    out = {f"init/{k}": p.detach().clone() for k, p in trainable}

    gen = torch.Generator().manual_seed(NOISE_SEED)
    tape = PosteriorTape()
    dvae.randn_tensor = tape
    norms = []
    for n, (real, drop, t, target_prompt, subject_prompt) in enumerate(SAMPLES):
        target_image = smooth_image(gen, 1, size)
        subjects = smooth_image(gen, real, size)
        subject_ids = ids(tokenizer, subject_prompt).repeat(real, 1)
        # collate_fn: pad to num_sub_img with zero images (mid-grey) and zero ids ("!" x 77)
        subject_images = ns["padding_subjects"](subjects, NUM_SUB_IMG - real)
        subject_input_ids = ns["padding_subjects"](subject_ids, NUM_SUB_IMG - real)
        noise = {
            "subject/posterior": torch.randn((NUM_SUB_IMG, 4, s, s), generator=gen),
            "subject/t1": torch.randn((1, 4, s, s), generator=gen),
            "target/posterior": torch.randn((1, 4, s, s), generator=gen),
            "target/noise": torch.randn((1, 4, s, s), generator=gen),
        }
        batch = {
            "target_image": target_image, "input_ids": ids(tokenizer, target_prompt),
            "subject_images": subject_images, "subject_input_ids": subject_input_ids,
            "timestep": torch.tensor([t]), "target_noise": noise["target/noise"],
            "subject_noise": noise["subject/t1"], "padding_num": torch.tensor([NUM_SUB_IMG - real]),
        }
        for k in ("target_image", "input_ids", "subject_images", "subject_input_ids", "timestep"):
            out[f"sample{n}/{k}"] = batch[k]
        out[f"sample{n}/drop"] = torch.tensor([drop])
        for k, v in noise.items():
            out[f"step{n}/{k}"] = v
        tape.queue = [("subject/posterior", noise["subject/posterior"]), ("target/posterior", noise["target/posterior"])]

        # ---- train.py main loop, statement for statement ----
        target_image = batch["target_image"].to(weight_dtype)
        target_input_ids = batch["input_ids"]
        target_noise = batch['target_noise']
        target_timestep = batch['timestep']
        padding_nums = batch['padding_num']
        target_timestep = target_timestep.long()
        subject_images = batch["subject_images"].to(weight_dtype)
        subject_input_ids = batch["subject_input_ids"]
        subject_noise = batch['subject_noise']
        subject_timestep = torch.tensor(args.subject_timestep, device=subject_images.device).repeat(subject_images.shape[0])
        subject_timestep = subject_timestep.long()
        if subject_noise.shape[0] != subject_images.shape[0]:
            subject_noise = subject_noise.repeat(subject_images.shape[0], 1, 1, 1)
        subject_latents = vae.encode(subject_images.to(weight_dtype)).latent_dist.sample()
        subject_latents = subject_latents * vae.config.scaling_factor
        noisy_subject_latents = noise_scheduler.add_noise(subject_latents, subject_noise, subject_timestep)
        subject_encoder_hidden_states = text_encoder(subject_input_ids, return_dict=False)[0]
        _, subject_features = reference_unet(noisy_subject_latents, subject_timestep, subject_encoder_hidden_states,
                                             return_dict=False, args=args)
        subject_features = [block_feat.reshape(args.train_batch_size, -1, block_feat.shape[-1])
                            for block_feat in subject_features]
        if drop:  # random.randint(1,10) / 10 > args.drop_reference_ratio
            subject_features = [torch.zeros_like(subject_features[i]).to(weight_dtype) for i in range(16)]
            padding_nums = torch.tensor([args.num_sub_img] * args.train_batch_size)
        target_latents = vae.encode(target_image).latent_dist.sample()
        target_latents = target_latents * vae.config.scaling_factor
        noisy_target_latents = noise_scheduler.add_noise(target_latents, target_noise, target_timestep)
        target_encoder_hidden_states = text_encoder(target_input_ids, return_dict=False)[0]
        assert noise_scheduler.config.prediction_type == "epsilon"
        target = target_noise
        training_attn_mask = None
        if padding_nums is not None:
            training_attn_mask = torch.zeros(args.train_batch_size, 2, 2 * (args.num_sub_img + 1))
            for i in range(args.train_batch_size):
                training_attn_mask[i, :, - padding_nums[i] * 2:] = -10000.0
            training_attn_mask = training_attn_mask.to(weight_dtype)
        model_pred = main_unet(noisy_target_latents, target_timestep, target_encoder_hidden_states, return_dict=False,
                               subject_feats=subject_features, training_attn_mask=training_attn_mask)[0]
        loss = F.mse_loss(model_pred.float(), target.float(), reduction="mean")
        loss.backward()
        for k, p in trainable:
            out[f"step{n}/grad/{k}"] = p.grad.detach().clone()
        grad_norm = torch.nn.utils.clip_grad_norm_(trainable_params, MAX_GRAD_NORM)
        optimizer.step()
        optimizer.zero_grad()
        # ---- end of the official step ----
        assert not tape.queue
        out[f"step{n}/loss"] = loss.detach().reshape(1)
        out[f"step{n}/grad_norm"] = grad_norm.detach().reshape(1)
        norms.append(float(grad_norm))
        for k, p in trainable:
            out[f"step{n}/param/{k}"] = p.detach().clone()
        print(f"step {n}: loss {loss.item():.6f} grad norm {float(grad_norm):.6f} (drop {drop}, t {t})")
    assert min(norms) > MAX_GRAD_NORM, norms  # clipping active in every step
    lw = out[f"step{STEPS - 1}/grad/learnable_weights"]
    assert out["step1/grad/learnable_weights"].abs().max() == 0 and lw.abs().max() > 0

    hparams = dict(lr=args.learning_rate, beta1=args.adam_beta1, beta2=args.adam_beta2,
                   weight_decay=args.adam_weight_decay, eps=args.adam_epsilon, max_grad_norm=MAX_GRAD_NORM,
                   num_sub_img=NUM_SUB_IMG, subject_timestep=args.subject_timestep, steps=STEPS,
                   official_commit=po.OFFICIAL_COMMIT)
    po.save_st(out, OUT, hparams=hparams, trainable=names)
    print(f"{os.path.getsize(OUT):>10}  tests/fixtures/train/step.safetensors")


if __name__ == "__main__":
    main()
