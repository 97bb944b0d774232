#!/usr/bin/env python3
"""Reference fixtures for the evaluation metrics (CLIP-T, CLIP-I, DINO), computed the way
DreamBooth-style evaluation code computes them.

Writes (see README.md for every key):
  tests/fixtures/tiny/clip-text/{config.json,model.safetensors}   CLIPTextModelWithProjection, f16
  tests/fixtures/tiny/dino/{config.json,model.safetensors}        ViTModel (no pooler), f32
  tests/fixtures/io/eval.safetensors                              images, preprocessing, embeddings, scores

Reuses the tiny CLIP vision model of make_fixtures.py (tests/fixtures/tiny/clip, read, not
rewritten) and make_fixtures' helpers (deterministic safetensors headers, perturb_, ...).
Run make_fixtures.py FIRST: its main() deletes tests/fixtures/tiny and tests/fixtures/io.

Everything is float32 on CPU, one thread, deterministic algorithms; every model output is
computed from the weights as stored (written, then reloaded through from_pretrained).

Run from the repository root:  OMP_NUM_THREADS=1 python tests/gen/make_eval_fixtures.py
"""
import os
import shutil
import sys
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# importing make_fixtures only defines configs/helpers and sets torch to one thread +
# deterministic algorithms; its main() (which rewrites every fixture) is not run.
import make_fixtures as mf  # noqa: E402
import make_tokenizer  # noqa: E402

import numpy as np  # noqa: E402
import PIL.Image  # noqa: E402
import torch  # noqa: E402
from torchvision import transforms as T  # noqa: E402
from transformers import (  # noqa: E402
    CLIPTextConfig,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    CLIPVisionModelWithProjection,
    ViTConfig,
    ViTModel,
)

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

SCRIPT = "tests/gen/make_eval_fixtures.py"
TINY = mf.TINY
IO = mf.IO
ROOT = mf.ROOT

# CLIP ViT-B/32's text tower layout (openai/clip-vit-base-patch32 text_config), tiny.
# eos_token_id 2 is the legacy value of that config: transformers 4.37.2 then pools at
# argmax(input_ids) (the first 49407 for CLIP ids).
CLIP_TEXT_CFG = mf.tiny_clip_text_cfg(hidden_size=16, intermediate_size=40, num_hidden_layers=2, num_attention_heads=2,
                                      hidden_act="quick_gelu", eos_token_id=2,
                                      projection_dim=16)  # = the tiny CLIP vision model's projection_dim

# facebook/dino-vits16's config, tiny
DINO_CFG = dict(
    image_size=224, patch_size=16, num_channels=3, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
    intermediate_size=64, hidden_act="gelu", layer_norm_eps=1e-12, qkv_bias=True,
    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    # dino-vits16 has 0.02 (init only, unused at inference). With 0.02 weights the CLS output
    # barely depends on the image (cosines between the noise images ~0.99999); 0.2 gives ~0.90.
    initializer_range=0.2,
)

SEEDS = dict(text=1101, dino=1102, img_a=2100, img_b=2101, img_c=2102)

IMAGE_SIZES = dict(a=(37, 50), b=(180, 300), c=(300, 181))  # H x W

PROMPTS = [
    "a photo of a dog",
    "a dog in police outfit",
    "a backpack on the beach, " + make_tokenizer.LONG_1,  # > 77 tokens, truncated
]

DINO_MEAN = (0.485, 0.456, 0.406)
DINO_STD = (0.229, 0.224, 0.225)

EOS = 49407


def save_st(tensors, path, **extra):
    mf.save_st(tensors, path, script=SCRIPT, **extra)


def dino_preprocess():
    # the DINO evaluation transform of DreamBooth-style evaluation code (torchvision on PIL)
    return T.Compose([
        T.Resize(256, interpolation=T.InterpolationMode.BICUBIC),
        T.CenterCrop(224),
        T.ToTensor(),
        T.Normalize(DINO_MEAN, DINO_STD),
    ])


def tokenizer_clip_b32():
    vocab, merges = make_tokenizer.derive_vocab_and_merges()
    with tempfile.TemporaryDirectory() as folder:
        make_tokenizer.write_sd21_tokenizer_folder(folder, vocab, merges, pad="<|endoftext|>", name_or_path="openai/clip-vit-base-patch32")
        tok = CLIPTokenizer.from_pretrained(folder)
    assert tok.fix_text is not None
    assert tok.pad_token == "<|endoftext|>" and tok.pad_token_id == EOS
    assert tok("hello!").input_ids == [49406, 3306, 256, 49407]  # "!" is not special here
    return tok


def tokenize(tok, prompts):
    return tok(prompts, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids.to(torch.int64)


def first_eos(ids):
    return (ids == EOS).int().argmax(dim=-1)


# ---------------------------------------------------------------------------
# 1. tiny CLIP text tower with projection (f16)
# ---------------------------------------------------------------------------
def make_clip_text():
    torch.manual_seed(SEEDS["text"])
    gen = torch.Generator().manual_seed(SEEDS["text"])
    cfg = CLIPTextConfig(**CLIP_TEXT_CFG)
    model = CLIPTextModelWithProjection(cfg).eval()
    mf.perturb_(model, gen)
    mf.round_params_(model, torch.float16)
    folder = os.path.join(TINY, "clip-text")
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    mf.write_hf_config(cfg, CLIP_TEXT_CFG, "CLIPTextModelWithProjection", "float16",
                       os.path.join(folder, "config.json"))
    sd = {k: v.to(torch.float16) for k, v in model.state_dict().items()}
    assert "text_projection.weight" in sd and "text_projection.bias" not in sd
    assert all(k.startswith("text_model.") or k == "text_projection.weight" for k in sd)
    save_st(sd, os.path.join(folder, "model.safetensors"), stored_dtype="float16",
            config=CLIP_TEXT_CFG, seed=str(SEEDS["text"]),
            note="tiny CLIP ViT-B/32 text tower (openai/clip-vit-base-patch32 text_config layout); "
            "eos_token_id 2 (legacy, as that config) -> transformers pools at argmax(input_ids)")
    model = CLIPTextModelWithProjection.from_pretrained(folder, torch_dtype=torch.float32,
                                                        low_cpu_mem_usage=False).eval()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert model.config.eos_token_id == 2
    return model


# ---------------------------------------------------------------------------
# 2. tiny DINO ViT (f32, no pooler)
# ---------------------------------------------------------------------------
def make_dino():
    torch.manual_seed(SEEDS["dino"])
    gen = torch.Generator().manual_seed(SEEDS["dino"])
    cfg = ViTConfig(**DINO_CFG)
    model = ViTModel(cfg, add_pooling_layer=False).eval()
    mf.perturb_(model, gen)
    # transformers initialises cls_token and position_embeddings ~trunc_normal(initializer_range)
    # (seeded by torch.manual_seed above): already non-trivial
    emb = model.embeddings
    assert torch.count_nonzero(emb.cls_token) == emb.cls_token.numel()
    assert torch.count_nonzero(emb.position_embeddings) == emb.position_embeddings.numel()
    folder = os.path.join(TINY, "dino")
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    mf.write_hf_config(cfg, DINO_CFG, "ViTModel", "float32", os.path.join(folder, "config.json"))
    sd = dict(model.state_dict())
    assert not any(k.startswith("pooler") for k in sd) and "embeddings.cls_token" in sd
    save_st(sd, os.path.join(folder, "model.safetensors"), config=DINO_CFG, seed=str(SEEDS["dino"]),
            note="tiny facebook/dino-vits16 layout: ViTModel(config, add_pooling_layer=False); "
            "Linear/Conv weights, cls_token, position_embeddings ~trunc_normal(0, 0.2) (initializer_range 0.2, "
            "dino-vits16: 0.02), LayerNorm weights ~N(1, 0.2^2), their biases ~N(0, 0.1^2), other biases ~N(0, 0.05^2)")
    model = ViTModel.from_pretrained(folder, add_pooling_layer=False, low_cpu_mem_usage=False).eval()
    assert model.pooler is None
    for k, v in model.state_dict().items():
        assert torch.equal(v, sd[k]), k
    return model


# ---------------------------------------------------------------------------
# 3. eval.safetensors
# ---------------------------------------------------------------------------
def cos64(x, y):
    x = x.to(torch.float64)
    y = y.to(torch.float64)
    return (x * y).sum(-1) / (x.norm(dim=-1) * y.norm(dim=-1))


def make_eval(text_model, dino):
    out = {}
    imgs = {}
    for name, (h, w) in IMAGE_SIZES.items():
        rs = np.random.RandomState(SEEDS["img_" + name])
        imgs[name] = rs.randint(0, 256, size=(h, w, 3), dtype=np.uint8)
        out[f"img.{name}"] = torch.from_numpy(imgs[name])
    pils = {n: PIL.Image.fromarray(a, mode="RGB") for n, a in imgs.items()}

    # --- DINO ---
    dpre = dino_preprocess()
    dpv = []
    for n in IMAGE_SIZES:
        pv = dpre(pils[n]).unsqueeze(0)
        assert pv.shape == (1, 3, 224, 224) and pv.dtype == torch.float32
        out[f"dino.pre.{n}.pixel_values"] = pv
        dpv.append(pv)
    dpv = torch.cat(dpv, 0)
    with torch.no_grad():
        lhs = dino(pixel_values=dpv).last_hidden_state
    assert lhs.shape == (3, 197, 32)
    out["dino.cls"] = lhs[:, 0].contiguous()
    out["dino.last_hidden_state"] = lhs

    # --- CLIP image (the existing tiny model, not regenerated) ---
    clip = CLIPVisionModelWithProjection.from_pretrained(os.path.join(TINY, "clip"),
                                                         low_cpu_mem_usage=False).eval()
    assert clip.config.projection_dim == CLIP_TEXT_CFG["projection_dim"]
    # the same model as make_fixtures wrote (its clip_vision.safetensors reference still holds)
    ref = mf.load_file(os.path.join(IO, "clip_vision.safetensors"))
    with torch.no_grad():
        assert torch.allclose(clip(pixel_values=ref["pixel_values"]).image_embeds, ref["image_embeds"], rtol=0, atol=1e-6)
    cpre = mf.clip_preprocess()
    cpv = torch.cat([cpre(pils[n]).unsqueeze(0) for n in IMAGE_SIZES], 0)
    with torch.no_grad():
        img_emb = clip(pixel_values=cpv).image_embeds
    assert img_emb.shape == (3, 16)
    out["clip.pixel_values"] = cpv
    out["clip.image_embeds"] = img_emb

    # --- text ---
    tok = tokenizer_clip_b32()
    ids = tokenize(tok, PROMPTS)
    ids_sd = tokenize(mf.tokenizer_reference(), PROMPTS)
    assert ids.shape == ids_sd.shape == (3, 77)
    fe, fe_sd = first_eos(ids), first_eos(ids_sd)
    assert torch.equal(fe, fe_sd)
    for i in range(3):
        e = int(fe[i])
        assert torch.equal(ids[i, : e + 1], ids_sd[i, : e + 1])
        assert (ids[i, e + 1:] == EOS).all() and (ids_sd[i, e + 1:] == 0).all()
    # transformers pools at argmax(input_ids) (eos_token_id 2): must be the first end token
    am = ids.to(torch.int).argmax(dim=-1)
    am_sd = ids_sd.to(torch.int).argmax(dim=-1)
    argmax_first_eos = bool(torch.equal(am, fe)) and bool(torch.equal(am_sd, fe_sd))
    assert argmax_first_eos, (am, fe, am_sd, fe_sd)
    with torch.no_grad():
        o = text_model(input_ids=ids)
        o_sd = text_model(input_ids=ids_sd)
    txt = o.text_embeds
    assert txt.shape == (3, 16) and o.last_hidden_state.shape == (3, 77, 16)
    # causal mask: what follows the end token cannot change the pooled embedding
    assert torch.equal(o_sd.text_embeds, txt), (o_sd.text_embeds - txt).abs().max()
    # and the pooled row is the first end token's
    rows = o.last_hidden_state[torch.arange(3), fe]
    with torch.no_grad():
        assert torch.equal(text_model.text_projection(rows), txt)
    out["text.input_ids"] = ids
    out["text.input_ids_sd21_pad"] = ids_sd
    out["text.text_embeds"] = txt
    out["text.last_hidden_state"] = o.last_hidden_state

    # --- scores (float64, stored f32); a = generated image, b and c = real subject images ---
    dc = out["dino.cls"]
    dino_pairs = cos64(dc[0:1].expand(2, -1), dc[1:3])
    clip_i_pairs = cos64(img_emb[0:1].expand(2, -1), img_emb[1:3])
    clip_t = cos64(img_emb[0:1].expand(3, -1), txt)
    out["score.dino_pairs"] = dino_pairs.to(torch.float32)
    out["score.dino"] = dino_pairs.mean().reshape(1).to(torch.float32)
    out["score.clip_i_pairs"] = clip_i_pairs.to(torch.float32)
    out["score.clip_i"] = clip_i_pairs.mean().reshape(1).to(torch.float32)
    out["score.clip_t"] = clip_t.to(torch.float32)

    save_st(
        out,
        os.path.join(IO, "eval.safetensors"),
        prompts=PROMPTS,
        image_seeds={n: SEEDS["img_" + n] for n in IMAGE_SIZES},
        image_sizes_hw={n: list(s) for n, s in IMAGE_SIZES.items()},
        images="img.{a,b,c}: uint8 HWC RGB, np.random.RandomState(seed).randint(0, 256, (H, W, 3)); "
        "a = the generated image, b and c = the real subject images",
        dino_config=dino.config.to_diff_dict(),
        clip_text_config=text_model.config.to_diff_dict(),
        clip_vision_config=clip.config.to_diff_dict(),
        dino_transform="torchvision 0.15.2 transforms on PIL: Compose([Resize(256, interpolation=BICUBIC), "
        "CenterCrop(224), ToTensor(), Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))]); "
        "the model ran on cat(dino.pre.{a,b,c}.pixel_values)",
        clip_transform="OpenAI clip.load's transform (make_fixtures.clip_preprocess, torchvision on PIL): "
        "Resize(224, BICUBIC) short side, CenterCrop(224), convert RGB, ToTensor, "
        "Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))",
        tokenizer="text.input_ids: transformers 4.37.2 slow CLIPTokenizer with openai/clip-vit-base-patch32's "
        "files (pad_token '<|endoftext|>' = 49407, model_max_length 77, ftfy installed); "
        "text.input_ids_sd21_pad: the SD2.1-base tokenizer of make_fixtures (pad_token '!' = 0); "
        "both tokenizer(prompts, padding='max_length', max_length=77, truncation=True)",
        models="dino.*: ViTModel.from_pretrained(tests/fixtures/tiny/dino, add_pooling_layer=False), "
        "dino.cls = last_hidden_state[:, 0] (after the final layernorm); "
        "clip.image_embeds: CLIPVisionModelWithProjection.from_pretrained(tests/fixtures/tiny/clip).image_embeds; "
        "text.*: CLIPTextModelWithProjection.from_pretrained(tests/fixtures/tiny/clip-text, float32)(input_ids) "
        "without attention_mask; all outputs from the weights as stored (clip-text: f16 file reloaded in f32); "
        "embeddings are NOT L2-normalised",
        pooling="text_embeds = text_projection(last_hidden_state[i, argmax(input_ids[i])]) (eos_token_id 2, legacy); "
        "argmax picks the first 49407 for both paddings (asserted), and text_embeds from text.input_ids_sd21_pad "
        "are bit-identical to text.text_embeds (asserted: the causal mask hides everything after the end token)",
        argmax_pooling_is_first_eos=str(argmax_first_eos).lower(),
        metrics="cos(x, y) = x.y / (|x| |y|) of the un-normalised embeddings, computed in float64, stored float32. "
        "score.dino_pairs[j] = cos(dino.cls[a], dino.cls[b, c][j]); score.dino = mean(score.dino_pairs); "
        "score.clip_i_pairs / score.clip_i: the same with clip.image_embeds; "
        "score.clip_t[p] = cos(clip.image_embeds[a], text.text_embeds[p]) for each prompt p",
    )
    return out


def main():
    text_model = make_clip_text()
    dino = make_dino()
    out = make_eval(text_model, dino)
    for k in sorted(out):
        v = out[k]
        print(f"{k:32s} {str(v.dtype):14s} {list(v.shape)}")
    print("input_ids first end token:", first_eos(out["text.input_ids"]).tolist())
    for k in ("score.dino_pairs", "score.dino", "score.clip_i_pairs", "score.clip_i", "score.clip_t"):
        print(f"{k:20s}", ["%.7f" % x for x in out[k].tolist()])
    for rel in ("tests/fixtures/tiny/clip-text/config.json", "tests/fixtures/tiny/clip-text/model.safetensors",
                "tests/fixtures/tiny/dino/config.json", "tests/fixtures/tiny/dino/model.safetensors",
                "tests/fixtures/io/eval.safetensors"):
        print(f"{os.path.getsize(os.path.join(ROOT, rel)):>10}  {rel}")


if __name__ == "__main__":
    main()
