#!/usr/bin/env python3
"""Tiny random-weight models and reference I/O for numerical parity tests.

Everything is computed on CPU in float32 with the real reference code
(diffusers / transformers / torchvision, versions pinned in requirements.txt),
from weights exactly as they are stored (f16 text encoder and bf16 VAE weights are
rounded first). Seeds are fixed, so a re-run reproduces the same files.

Writes (see README.md for every key):
  tests/fixtures/tiny/{text_encoder,unet,vae,vae-legacy,scheduler,clip}/...
  tests/fixtures/tiny/ezigen/checkpoint/model.safetensors
  tests/fixtures/tiny/ezigen/checkpoint-bin/pytorch_model.bin
  tests/fixtures/io/{text_encoder,unet,vae,clip_vision,schedulers}.safetensors

Run from the repository root:  python tests/gen/make_fixtures.py
"""
import copy
import json
import os
import shutil
import struct
import sys
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import PIL  # noqa: E402
import PIL.Image  # noqa: E402
import safetensors  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402
import transformers  # noqa: E402
import diffusers  # noqa: E402
from diffusers import (  # noqa: E402
    AutoencoderKL,
    DDPMScheduler,
    DPMSolverMultistepInverseScheduler,
    PNDMScheduler,
    UNet2DConditionModel,
)
from diffusers.models.attention import BasicTransformerBlock  # noqa: E402
import diffusers.schedulers.scheduling_ddpm as ddpm_module  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from safetensors.torch import save as st_save  # noqa: E402
from torch import nn  # noqa: E402
from torchvision import transforms as T  # noqa: E402
from transformers import (  # noqa: E402
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTokenizer,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402  (tree_files)
import make_tokenizer  # noqa: E402  (reference tokenizer folder helpers)

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
FIX = os.path.join(ROOT, "tests", "fixtures")
TINY = os.path.join(FIX, "tiny")
IO = os.path.join(FIX, "io")
SCRIPT = "tests/gen/make_fixtures.py"

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

# ---------------------------------------------------------------------------
# configs
# ---------------------------------------------------------------------------
def tiny_clip_cfg(**sizes):
    """A tiny CLIP text or vision tower (make_eval_fixtures' text tower too): the given sizes and
    activation, eps 1e-5, no dropout, CLIP's default initialisation."""
    return dict(sizes, layer_norm_eps=1e-5, attention_dropout=0.0, dropout=0.0, initializer_range=0.02,
                initializer_factor=1.0)


def tiny_clip_text_cfg(**sizes):
    """tiny_clip_cfg with CLIP's 49408-token vocabulary, 77 positions, bos 49406 and pad 1."""
    return tiny_clip_cfg(vocab_size=49408, max_position_embeddings=77, bos_token_id=49406, pad_token_id=1, **sizes)


TEXT_CFG = tiny_clip_text_cfg(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                              hidden_act="gelu", eos_token_id=49407, projection_dim=32)

UNET_CFG = dict(
    sample_size=16,
    in_channels=4,
    out_channels=4,
    center_input_sample=False,
    flip_sin_to_cos=True,
    freq_shift=0,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    block_out_channels=(8, 16, 32, 32),
    layers_per_block=2,
    downsample_padding=1,
    mid_block_scale_factor=1,
    act_fn="silu",
    norm_num_groups=4,
    norm_eps=1e-5,
    cross_attention_dim=32,
    attention_head_dim=(2, 4, 8, 8),  # diffusers quirk: these are head COUNTS (head dim 4)
    dual_cross_attention=False,
    use_linear_projection=True,
    only_cross_attention=False,
    upcast_attention=False,
    num_class_embeds=None,
)

VAE_CFG = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(8, 16, 16, 16),
    layers_per_block=2,
    act_fn="silu",
    latent_channels=4,
    norm_num_groups=4,
    sample_size=128,
)

CLIP_VISION_CFG = tiny_clip_cfg(image_size=224, patch_size=32, num_channels=3, hidden_size=32, intermediate_size=64,
                                num_hidden_layers=2, num_attention_heads=4, projection_dim=16,
                                hidden_act="quick_gelu")

# SD2.1-base scheduler/scheduler_config.json (a PNDM config; no timestep_spacing key)
SCHEDULER_CONFIG = {
    "_class_name": "PNDMScheduler",
    "_diffusers_version": "0.10.0.dev0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
}

# the 16 BasicTransformerBlocks in UNet traversal order (= capture / adapter order)
BLOCK_PREFIXES = (
    [f"down_blocks.{b}.attentions.{a}.transformer_blocks.0" for b in range(3) for a in range(2)]
    + ["mid_block.attentions.0.transformer_blocks.0"]
    + [f"up_blocks.{b}.attentions.{a}.transformer_blocks.0" for b in range(1, 4) for a in range(3)]
)

TE_PROMPTS = [
    "a dog",
    "",
    "a dog in fancy royal king's outfit, " + make_tokenizer.LONG_1,  # > 77 tokens, truncated
]

SEEDS = dict(text=1001, unet=1002, adapter=1003, vae=1004, clip=1005, io=2000)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def strip_private(v):
    """Config dicts for metadata: no private keys, strict JSON (inf/nan as strings)."""
    if isinstance(v, dict):
        return {k: strip_private(x) for k, x in v.items() if not str(k).startswith("_")}
    if isinstance(v, (list, tuple)):
        return [strip_private(x) for x in v]
    if isinstance(v, float) and not np.isfinite(v):
        return str(v)
    return v


def meta(**extra):
    m = {
        "format": "pt",
        "script": SCRIPT,
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "torchvision": torchvision.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
    }
    m.update({k: (v if isinstance(v, str) else json.dumps(strip_private(v), sort_keys=True, allow_nan=False)) for k, v in extra.items()})
    return m


def save_st(tensors, path, **extra):
    """safetensors file with a deterministic header (safetensors itself writes the
    __metadata__ map in hash order, which changes from run to run)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    clean = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    raw = st_save(clean, metadata=meta(**extra))
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    ordered = {"__metadata__": header.pop("__metadata__")}
    ordered.update(sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]))
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=True).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    back = load_file(path)
    assert back.keys() == clean.keys() and all(torch.equal(back[k], clean[k]) for k in clean)


def write_json(obj, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def write_hf_config(cfg, explicit, arch, dtype, path):
    """config.json like the real hub files: every model key explicit (also those equal
    to the class defaults), no generation-related PretrainedConfig defaults."""
    d = cfg.to_diff_dict()
    d.update(explicit)
    d.update(architectures=[arch], torch_dtype=dtype, model_type=cfg.model_type,
             transformers_version=transformers.__version__)
    write_json(d, path)


def perturb_(model, gen):
    """Make the parameters that default to constants non-trivial (seeded):
    LayerNorm/GroupNorm weights ~ N(1, 0.2), their biases ~ N(0, 0.1), all-zero biases ~ N(0, 0.05)."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.LayerNorm, nn.GroupNorm)) and mod.weight is not None:
                mod.weight.copy_(1.0 + 0.2 * torch.randn(mod.weight.shape, generator=gen))
                mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=gen))
        for name, p in model.named_parameters():
            if name.endswith("bias") and torch.count_nonzero(p) == 0:
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))


def round_params_(model, dtype):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).to(torch.float32))


def tokenizer_reference():
    vocab, merges = make_tokenizer.derive_vocab_and_merges()
    with tempfile.TemporaryDirectory() as folder:
        make_tokenizer.write_sd21_tokenizer_folder(folder, vocab, merges)
        tok = CLIPTokenizer.from_pretrained(folder)
    assert tok.fix_text is not None
    return tok


def max_abs(a, b):
    return (a - b).abs().max().item()


# ---------------------------------------------------------------------------
# EZIGen adapter (own implementation of the official Attention_Adapter +
# AttnProcessor2_0_Adapter math, see README.md)
# ---------------------------------------------------------------------------
class SubjectAdapter(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim, bias=True), nn.Dropout(0.0)])

    def forward(self, n, s):
        b = n.shape[0]
        kv_in = n if s is None else torch.cat((n, s), dim=1)  # main tokens first
        q = self.to_q(n)
        k = self.to_k(kv_in)
        v = self.to_v(kv_in)
        head_dim = k.shape[-1] // self.heads
        q = q.view(b, -1, self.heads, head_dim).transpose(1, 2)
        k = k.view(b, -1, self.heads, head_dim).transpose(1, 2)
        v = v.view(b, -1, self.heads, head_dim).transpose(1, 2)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False)
        o = o.transpose(1, 2).reshape(b, -1, self.heads * head_dim).to(q.dtype)
        o = self.to_out[0](o)
        o = self.to_out[1](o)
        o = o + n  # residual_connection: true
        return o / 1.0  # rescale_output_factor


class EZIGenControl:
    """Per-call switches shared by the 16 patched blocks."""

    def __init__(self):
        self.adapter_on = False
        self.feats = None  # list of 16 scaled subject features when adapter_on
        self.capture = None  # list collecting the 16 norm1 outputs when not None
        self.order = None  # list collecting block indices in call order
        self.reimpl_without_adapter = False  # self-test of the re-implemented block path
        self.record = None  # dict: block index -> dict of adapter tensors to record


def ezigen_block_forward(self, hidden_states, attention_mask=None, encoder_hidden_states=None,
                         encoder_attention_mask=None, timestep=None, cross_attention_kwargs=None,
                         class_labels=None, added_cond_kwargs=None):
    ctl = self._ezigen_ctl
    k = self._ezigen_index
    if ctl.order is not None:
        ctl.order.append(k)
    if not ctl.adapter_on and not ctl.reimpl_without_adapter:
        # adapter off: exactly the stock diffusers block
        return BasicTransformerBlock.forward(
            self, hidden_states, attention_mask=attention_mask, encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_attention_mask, timestep=timestep,
            cross_attention_kwargs=cross_attention_kwargs, class_labels=class_labels,
            added_cond_kwargs=added_cond_kwargs)
    assert self.norm_type == "layer_norm" and self.pos_embed is None and not self.only_cross_attention
    assert self._chunk_size is None and cross_attention_kwargs is None
    # 1. self-attention (stock)
    norm_hidden_states = self.norm1(hidden_states)
    attn_output = self.attn1(norm_hidden_states, encoder_hidden_states=None, attention_mask=attention_mask)
    hidden_states = attn_output + hidden_states
    # 2. EZIGen adapter between self- and cross-attention (double residual)
    if ctl.adapter_on:
        n = self.adapter_norm(hidden_states)
        a = self.adapter(n, ctl.feats[k])
        if ctl.record is not None and k in ctl.record:
            ctl.record[k].update(h1=hidden_states, n=n, s=ctl.feats[k], a=a)
        hidden_states = a + hidden_states
    # 3. cross-attention (stock)
    norm_hidden_states = self.norm2(hidden_states)
    attn_output = self.attn2(norm_hidden_states, encoder_hidden_states=encoder_hidden_states,
                             attention_mask=encoder_attention_mask)
    hidden_states = attn_output + hidden_states
    # 4. feed-forward (stock)
    norm_hidden_states = self.norm3(hidden_states)
    ff_output = self.ff(norm_hidden_states)
    hidden_states = ff_output + hidden_states
    if ctl.record is not None and k in ctl.record:
        ctl.record[k]["block_out"] = hidden_states
    return hidden_states


def block_list(unet):
    mods = dict(unet.named_modules())
    blocks = [mods[p] for p in BLOCK_PREFIXES]
    assert all(isinstance(b, BasicTransformerBlock) for b in blocks)
    assert sum(isinstance(m, BasicTransformerBlock) for m in unet.modules()) == 16
    return blocks


def install_ezigen(unet, gen):
    """Add adapter + adapter_norm to the 16 blocks, learnable_weights to the UNet (seeded random init)."""
    ctl = EZIGenControl()
    for k, blk in enumerate(block_list(unet)):
        dim = blk.norm1.normalized_shape[0]
        heads = blk.attn1.heads
        blk.adapter = SubjectAdapter(dim, heads)
        blk.adapter_norm = nn.LayerNorm(dim, elementwise_affine=True, eps=blk.norm1.eps)
        with torch.no_grad():
            for lin in (blk.adapter.to_q, blk.adapter.to_k, blk.adapter.to_v, blk.adapter.to_out[0]):
                bound = 1.0 / np.sqrt(dim)
                lin.weight.copy_((torch.rand(lin.weight.shape, generator=gen) * 2 - 1) * bound * np.sqrt(3))
                if lin.bias is not None:
                    lin.bias.copy_((torch.rand(lin.bias.shape, generator=gen) * 2 - 1) * bound)
            blk.adapter_norm.weight.copy_(1.0 + 0.2 * torch.randn(dim, generator=gen))
            blk.adapter_norm.bias.copy_(0.1 * torch.randn(dim, generator=gen))
        blk._ezigen_ctl = ctl
        blk._ezigen_index = k
        blk.forward = ezigen_block_forward.__get__(blk, BasicTransformerBlock)
        blk.attn1.register_forward_pre_hook(
            lambda mod, args, _ctl=ctl: _ctl.capture.append(args[0]) if _ctl.capture is not None else None
        )
    with torch.no_grad():
        unet.learnable_weights = nn.Parameter(0.5 + torch.rand(16, generator=gen))
    unet._ezigen_ctl = ctl
    return ctl


def run_unet(unet, sample, t, text, feats=None, capture=False, record=None, reimpl=False):
    ctl = unet._ezigen_ctl
    ctl.order = []
    ctl.capture = [] if capture else None
    ctl.record = record
    ctl.reimpl_without_adapter = reimpl
    if feats is not None:
        # as official unet_main.forward: every feature scaled by its learnable weight first
        ctl.feats = [f * w for (f, w) in zip(feats, unet.learnable_weights)]
        ctl.adapter_on = True
    else:
        ctl.feats = None
        ctl.adapter_on = False
    try:
        with torch.no_grad():
            out = unet(sample, t, encoder_hidden_states=text).sample
    finally:
        ctl.adapter_on = False
        ctl.feats = None
        ctl.reimpl_without_adapter = False
    assert ctl.order == list(range(16)), ctl.order
    caps = ctl.capture
    ctl.capture = None
    ctl.record = None
    return out, caps


# ---------------------------------------------------------------------------
# 1. text encoder (+ exclip)
# ---------------------------------------------------------------------------
class TokenOnlyEmbeddings(nn.Module):
    """EZIGen's ExceptionCLIPTextEmbeddings: token embeddings, no position embeddings."""

    def __init__(self, token_embedding):
        super().__init__()
        self.token_embedding = token_embedding

    def forward(self, input_ids=None, position_ids=None, inputs_embeds=None):
        return self.token_embedding(input_ids) if inputs_embeds is None else inputs_embeds


def make_text_encoder(tok):
    torch.manual_seed(SEEDS["text"])
    gen = torch.Generator().manual_seed(SEEDS["text"])
    cfg = CLIPTextConfig(**TEXT_CFG)
    model = CLIPTextModel(cfg).eval()
    perturb_(model, gen)
    round_params_(model, torch.float16)

    folder = os.path.join(TINY, "text_encoder")
    os.makedirs(folder, exist_ok=True)
    write_hf_config(cfg, TEXT_CFG, "CLIPTextModel", "float16", os.path.join(folder, "config.json"))
    sd = {k: v.to(torch.float16) for k, v in model.state_dict().items()}
    save_st(sd, os.path.join(folder, "model.safetensors"), stored_dtype="float16")

    # reload through transformers and compute from exactly the stored values
    model = CLIPTextModel.from_pretrained(folder, torch_dtype=torch.float32, low_cpu_mem_usage=False).eval()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    ids = tok(TE_PROMPTS, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    assert ids.shape == (3, 77)
    with torch.no_grad():
        lhs = model(ids).last_hidden_state
        # exclip: all 77 ids = 7788, token embeddings only, causal mask, final LN
        exclip = copy.deepcopy(model)
        exclip.text_model.embeddings = TokenOnlyEmbeddings(exclip.text_model.embeddings.token_embedding)
        ex_ids = torch.zeros((1, 77), dtype=torch.long) + 7788
        ex = exclip(input_ids=ex_ids).last_hidden_state
    print("exclip: max deviation between positions %.3g" % max_abs(ex, ex[:, :1].expand_as(ex)))
    save_st(
        {
            "input_ids": ids.to(torch.int64),
            "last_hidden_state": lhs,
            "exclip.input_ids": ex_ids,
            "exclip.last_hidden_state": ex,
        },
        os.path.join(IO, "text_encoder.safetensors"),
        prompts=TE_PROMPTS,
        tokenizer="reference slow CLIPTokenizer (SD2.1-base tokenizer/ config, ftfy), padding=max_length 77, truncation",
    )
    return lhs


# ---------------------------------------------------------------------------
# 2-3. UNet + EZIGen adapters
# ---------------------------------------------------------------------------
def make_unet(te_hidden):
    torch.manual_seed(SEEDS["unet"])
    gen = torch.Generator().manual_seed(SEEDS["unet"])
    unet = UNet2DConditionModel(**UNET_CFG).eval()
    perturb_(unet, gen)

    folder = os.path.join(TINY, "unet")
    unet.save_config(folder)
    stock_sd = {k: v.clone() for k, v in unet.state_dict().items()}
    save_st(stock_sd, os.path.join(folder, "diffusion_pytorch_model.safetensors"))
    unet = UNet2DConditionModel.from_pretrained(folder, low_cpu_mem_usage=False).eval()  # reload the stored weights

    gen_a = torch.Generator().manual_seed(SEEDS["adapter"])
    install_ezigen(unet, gen_a)
    full_sd = unet.state_dict()
    new_keys = sorted(set(full_sd) - set(stock_sd))
    expected = sorted(
        [f"{p}.adapter.{n}" for p in BLOCK_PREFIXES
         for n in ("to_q.weight", "to_k.weight", "to_v.weight", "to_out.0.weight", "to_out.0.bias")]
        + [f"{p}.adapter_norm.{n}" for p in BLOCK_PREFIXES for n in ("weight", "bias")]
        + ["learnable_weights"]
    )
    assert new_keys == expected and len(new_keys) == 113, new_keys
    ck_sd = {k: v.detach().clone().contiguous() for k, v in full_sd.items()}
    ck_dir = os.path.join(TINY, "ezigen", "checkpoint")
    save_st(ck_sd, os.path.join(ck_dir, "model.safetensors"),
            content="full main-UNet state_dict: stock keys + 113 EZIGen adapter tensors")
    bin_dir = os.path.join(TINY, "ezigen", "checkpoint-bin")
    os.makedirs(bin_dir, exist_ok=True)
    torch.save({"module." + k: v for k, v in ck_sd.items()}, os.path.join(bin_dir, "pytorch_model.bin"))

    g = torch.Generator().manual_seed(SEEDS["io"] + 1)
    out = {}
    # --- reference pass (stock UNet, capture norm1 outputs), batch 1, t = 1, "a dog"
    ref_sample = torch.randn((1, 4, 16, 16), generator=g)
    ref_t = torch.tensor([1.0], dtype=torch.float32)  # float like the rest of the file
    ref_text = te_hidden[0:1]
    ref_out, caps = run_unet(unet, ref_sample, ref_t, ref_text, capture=True)
    assert len(caps) == 16
    out.update({"ref.sample": ref_sample, "ref.timestep": ref_t, "ref.encoder_hidden_states": ref_text,
                "ref.out": ref_out})
    for k, c in enumerate(caps):
        out[f"ref.capture.{k}"] = c
    # --- main pass, batch 2 ([uncond "", cond long prompt]), t = 381
    main_sample = torch.randn((2, 4, 16, 16), generator=g)
    main_t = torch.tensor([381.0], dtype=torch.float32)
    main_text = te_hidden[1:3]
    feats = [c.repeat(2, 1, 1) for c in caps]  # CFG: identical features on both halves
    plain, _ = run_unet(unet, main_sample, main_t, main_text)
    reimpl, _ = run_unet(unet, main_sample, main_t, main_text, reimpl=True)
    assert torch.equal(plain, reimpl), "re-implemented block path differs from the stock block"
    rec = {0: {}, 6: {}, 15: {}}
    adapted, _ = run_unet(unet, main_sample, main_t, main_text, feats=feats, record=rec)
    out.update({"main.sample": main_sample, "main.timestep": main_t, "main.encoder_hidden_states": main_text,
                "main.out_plain": plain, "main.out_adapter": adapted})
    for k, r in rec.items():
        for name, v in r.items():
            out[f"main.block.{k}.{name}"] = v
    # adapter math cross-check against an independent formulation (explicit softmax)
    blk = block_list(unet)[0]
    r = rec[0]
    with torch.no_grad():
        a = blk.adapter
        heads, c = a.heads, r["n"].shape[-1]
        kv = torch.cat([r["n"], r["s"]], 1)
        q = a.to_q(r["n"]).unflatten(-1, (heads, c // heads)).transpose(1, 2)
        kk = a.to_k(kv).unflatten(-1, (heads, c // heads)).transpose(1, 2)
        vv = a.to_v(kv).unflatten(-1, (heads, c // heads)).transpose(1, 2)
        att = torch.softmax(q @ kk.transpose(-1, -2) / np.sqrt(c // heads), -1) @ vv
        chk = a.to_out[0](att.transpose(1, 2).flatten(2)) + r["n"]
    assert max_abs(chk, r["a"]) < 1e-5
    # --- non-square main pass with the same features
    ns_sample = torch.randn((2, 4, 16, 24), generator=g)
    ns_adapted, _ = run_unet(unet, ns_sample, main_t, main_text, feats=feats)
    out.update({"ns.sample": ns_sample, "ns.out_adapter": ns_adapted})
    # --- timestep embedding
    temb_t = torch.tensor([1.0, 381.0, 981.0], dtype=torch.float32)
    with torch.no_grad():
        temb = unet.time_proj(temb_t)
        out.update({"temb.t": temb_t, "temb.out": temb, "temb.emb": unet.time_embedding(temb)})

    # --- the checkpoints reload (strict) into a fresh stock UNet + adapters and reproduce the outputs
    fresh = UNet2DConditionModel.from_pretrained(folder, low_cpu_mem_usage=False).eval()
    install_ezigen(fresh, torch.Generator().manual_seed(12345))
    fresh.load_state_dict(load_file(os.path.join(ck_dir, "model.safetensors")), strict=True)
    assert torch.equal(run_unet(fresh, main_sample, main_t, main_text, feats=feats)[0], adapted)
    bin_sd = torch.load(os.path.join(bin_dir, "pytorch_model.bin"), map_location="cpu")
    fresh.load_state_dict({k[len("module."):]: v for k, v in bin_sd.items()}, strict=True)
    assert torch.equal(run_unet(fresh, ns_sample, main_t, main_text, feats=feats)[0], ns_adapted)

    print("unet: |out_adapter - out_plain| max %.4g (|out_plain| max %.4g)"
          % (max_abs(adapted, plain), plain.abs().max().item()))
    save_st(out, os.path.join(IO, "unet.safetensors"), unet_config=dict(unet.config),
            block_prefixes=BLOCK_PREFIXES, learnable_weights=[float(x) for x in unet.learnable_weights])


# ---------------------------------------------------------------------------
# 4. VAE
# ---------------------------------------------------------------------------
LEGACY_ATTN = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}


def make_vae():
    torch.manual_seed(SEEDS["vae"])
    gen = torch.Generator().manual_seed(SEEDS["vae"])
    vae = AutoencoderKL(**VAE_CFG).eval()
    perturb_(vae, gen)
    round_params_(vae, torch.bfloat16)
    folder = os.path.join(TINY, "vae")
    vae.save_config(folder)
    sd = {k: v.to(torch.bfloat16) for k, v in vae.state_dict().items()}
    save_st(sd, os.path.join(folder, "diffusion_pytorch_model.safetensors"), stored_dtype="bfloat16")
    # legacy attention key names (query/key/value/proj_attn), as in older SD VAE files
    legacy = {}
    for k, v in sd.items():
        for new, old in LEGACY_ATTN.items():
            if ".mid_block.attentions.0." + new + "." in k:
                k = k.replace(".mid_block.attentions.0." + new + ".", ".mid_block.attentions.0." + old + ".")
        legacy[k] = v
    lfolder = os.path.join(TINY, "vae-legacy")
    vae.save_config(lfolder)
    save_st(legacy, os.path.join(lfolder, "diffusion_pytorch_model.safetensors"), stored_dtype="bfloat16",
            note="same weights as ../vae with the legacy mid-block attention names")

    vae = AutoencoderKL.from_pretrained(folder, torch_dtype=torch.float32, low_cpu_mem_usage=False).eval()
    vae_l = AutoencoderKL.from_pretrained(lfolder, torch_dtype=torch.float32, low_cpu_mem_usage=False).eval()
    for (ka, a), (kb, b) in zip(sorted(vae.state_dict().items()), sorted(vae_l.state_dict().items())):
        assert ka == kb and torch.equal(a, b)

    g = torch.Generator().manual_seed(SEEDS["io"] + 2)
    # smooth random image in [-1, 1] (upsampled noise + fine noise)
    coarse = F.interpolate(torch.rand((1, 3, 16, 16), generator=g), size=(128, 128), mode="bilinear",
                           align_corners=False)
    image = (coarse * 1.6 - 0.8 + 0.2 * (torch.rand((1, 3, 128, 128), generator=g) - 0.5)).clamp(-1, 1)
    with torch.no_grad():
        post = vae.encode(image).latent_dist
        gs = torch.Generator().manual_seed(SEEDS["io"] + 3)
        noise = torch.randn(post.mean.shape, generator=gs)
        sample = post.sample(generator=torch.Generator().manual_seed(SEEDS["io"] + 3))
        assert torch.equal(sample, post.mean + post.std * noise)
        dec_latent = torch.randn((1, 4, 16, 16), generator=g)
        dec_image = vae.decode(dec_latent).sample
        dec_ns_latent = torch.randn((1, 4, 16, 24), generator=g)
        dec_ns_image = vae.decode(dec_ns_latent).sample
    save_st(
        {
            "image": image,
            "enc.mean": post.mean,
            "enc.logvar": post.logvar,
            "enc.std": post.std,
            "enc.noise": noise,
            "enc.sample": sample,
            "dec.latent": dec_latent,
            "dec.image": dec_image,
            "dec_ns.latent": dec_ns_latent,
            "dec_ns.image": dec_ns_image,
        },
        os.path.join(IO, "vae.safetensors"),
        vae_config=dict(vae.config),
        note="raw VAE: no 0.18215 scaling; enc.logvar is clamped to [-30, 20] as diffusers holds it",
    )


# ---------------------------------------------------------------------------
# 5. CLIP vision + OpenAI clip.load preprocessing
# ---------------------------------------------------------------------------
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def clip_preprocess(n_px=224):
    # the transform of OpenAI clip.load (clip/clip.py: _transform)
    return T.Compose([
        T.Resize(n_px, interpolation=T.InterpolationMode.BICUBIC),
        T.CenterCrop(n_px),
        lambda im: im.convert("RGB"),
        T.ToTensor(),
        T.Normalize(CLIP_MEAN, CLIP_STD),
    ])


def make_clip():
    torch.manual_seed(SEEDS["clip"])
    gen = torch.Generator().manual_seed(SEEDS["clip"])
    cfg = CLIPVisionConfig(**CLIP_VISION_CFG)
    model = CLIPVisionModelWithProjection(cfg).eval()
    perturb_(model, gen)
    folder = os.path.join(TINY, "clip")
    os.makedirs(folder, exist_ok=True)
    write_hf_config(cfg, CLIP_VISION_CFG, "CLIPVisionModelWithProjection", "float32",
                    os.path.join(folder, "config.json"))
    save_st(dict(model.state_dict()), os.path.join(folder, "model.safetensors"))
    model = CLIPVisionModelWithProjection.from_pretrained(folder, low_cpu_mem_usage=False).eval()

    rs = np.random.RandomState(SEEDS["io"] + 4)
    img_a = rs.randint(0, 256, size=(37, 50, 3), dtype=np.uint8)
    img_b = rs.randint(0, 256, size=(180, 300, 3), dtype=np.uint8)
    pre = clip_preprocess()
    pa = pre(PIL.Image.fromarray(img_a)).unsqueeze(0)
    pb = pre(PIL.Image.fromarray(img_b)).unsqueeze(0)
    pixel_values = torch.cat([pa, pb], 0)
    with torch.no_grad():
        emb = model(pixel_values=pixel_values).image_embeds
    save_st(
        {
            "pre.a.image": torch.from_numpy(img_a),
            "pre.a.pixel_values": pa,
            "pre.b.image": torch.from_numpy(img_b),
            "pre.b.pixel_values": pb,
            "pixel_values": pixel_values,
            "image_embeds": emb,
        },
        os.path.join(IO, "clip_vision.safetensors"),
        preprocessing="OpenAI clip.load transform: PIL Resize(224, BICUBIC) short side, CenterCrop(224), "
        "RGB, ToTensor, Normalize(CLIP mean/std); pixel_values = cat(pre.a, pre.b)",
        clip_mean=list(CLIP_MEAN), clip_std=list(CLIP_STD),
        note="image_embeds are projected, not L2-normalised",
    )


# ---------------------------------------------------------------------------
# 6. schedulers
# ---------------------------------------------------------------------------
class NoiseRecorder:
    """Wraps diffusers' randn_tensor inside scheduling_ddpm so that the variance
    noise consumed by DDPMScheduler.step is recorded exactly."""

    def __init__(self):
        self.orig = ddpm_module.randn_tensor
        self.drawn = []

    def __enter__(self):
        def wrapped(*args, **kwargs):
            x = self.orig(*args, **kwargs)
            self.drawn.append(x.clone())
            return x

        ddpm_module.randn_tensor = wrapped
        return self

    def __exit__(self, *exc):
        ddpm_module.randn_tensor = self.orig


def make_schedulers():
    folder = os.path.join(TINY, "scheduler")
    write_json(SCHEDULER_CONFIG, os.path.join(folder, "scheduler_config.json"))
    # as the official code: DDPMScheduler.from_pretrained(SD2.1-base, "scheduler") and
    # DPMSolverMultistepInverseScheduler.from_config(<the pipeline's PNDM scheduler>.config)
    ddpm = DDPMScheduler.from_pretrained(folder)
    pndm = PNDMScheduler.from_pretrained(folder)
    dpm = DPMSolverMultistepInverseScheduler.from_config(pndm.config)
    assert ddpm.config.timestep_spacing == "leading" and ddpm.config.variance_type == "fixed_small"
    assert dpm.config.timestep_spacing == "linspace" and dpm.config.algorithm_type == "dpmsolver++"
    assert dpm.config.solver_order == 2 and dpm.config.solver_type == "midpoint"

    out = {}
    g = torch.Generator().manual_seed(SEEDS["io"] + 5)
    ddpm.set_timesteps(50)
    out["ddpm.alphas_cumprod"] = ddpm.alphas_cumprod.to(torch.float32)
    out["ddpm.timesteps"] = ddpm.timesteps.to(torch.int64)

    def trajectory(prefix, timesteps, seed):
        x = torch.randn((1, 4, 8, 8), generator=g)
        out[f"{prefix}.x_init"] = x
        out[f"{prefix}.timesteps"] = timesteps.to(torch.int64)
        var_gen = torch.Generator().manual_seed(seed)
        for i, t in enumerate(timesteps):
            eps = torch.randn((1, 4, 8, 8), generator=g)
            with NoiseRecorder() as rec:
                x = ddpm.step(eps, t, x, generator=var_gen).prev_sample
            assert len(rec.drawn) == 1  # t > 0 always draws variance noise
            out[f"{prefix}.model_out.{i}"] = eps
            out[f"{prefix}.noise.{i}"] = rec.drawn[0]
            out[f"{prefix}.x.{i}"] = x

    trajectory("ddpm", ddpm.timesteps, SEEDS["io"] + 6)
    ddpm.set_timesteps(50)
    trajectory("ddpm20", ddpm.timesteps[30:], SEEDS["io"] + 7)

    x0 = torch.randn((1, 4, 8, 8), generator=g)
    eps = torch.randn((1, 4, 8, 8), generator=g)
    out["add_noise.x0"] = x0
    out["add_noise.eps"] = eps
    out["add_noise.t1"] = ddpm.add_noise(x0, eps, torch.tensor([1], dtype=torch.int64))
    out["add_noise.t400"] = ddpm.add_noise(x0, eps, torch.tensor([400], dtype=torch.int64))

    dpm.set_timesteps(50)
    out["dpminv.timesteps"] = dpm.timesteps.to(torch.int64)
    out["dpminv.sigmas"] = dpm.sigmas.to(torch.float32)
    x = torch.randn((1, 4, 8, 8), generator=g)
    out["dpminv.x_init"] = x
    for i in range(20):
        t = dpm.timesteps[i]
        eps = torch.randn((1, 4, 8, 8), generator=g)
        x = dpm.step(eps, t, x).prev_sample
        out[f"dpminv.model_out.{i}"] = eps
        out[f"dpminv.x.{i}"] = x

    save_st(out, os.path.join(IO, "schedulers.safetensors"),
            scheduler_config_file=SCHEDULER_CONFIG,
            ddpm_config=dict(ddpm.config), dpminv_config=dict(dpm.config))


# ---------------------------------------------------------------------------
def main():
    for d in (TINY, IO):
        if os.path.isdir(d):
            shutil.rmtree(d)
    tok = tokenizer_reference()
    te_hidden = make_text_encoder(tok)
    make_unet(te_hidden)
    make_vae()
    make_clip()
    make_schedulers()
    total = 0
    for p in common.tree_files(FIX):
        total += os.path.getsize(p)
        print(f"{os.path.getsize(p):>10}  {os.path.relpath(p, ROOT)}")
    print(f"{total:>10}  total tests/fixtures")


if __name__ == "__main__":
    main()
