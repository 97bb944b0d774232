"""Full-size metric models with random weights, for timing `ezigen eval` (no real weights can
be fetched here): CLIP ViT-B/32 (transformers' CLIPConfig defaults are exactly
openai/clip-vit-base-patch32's architecture) and DINO ViT-S/16 (facebook/dino-vits16's
config, pooler included as in the published checkpoint), written with save_pretrained.

    python tests/bench/make_random_metric_models.py OUT_DIR   ->  OUT_DIR/clip, OUT_DIR/dino
"""

import sys

import torch
from transformers import CLIPConfig, CLIPModel, ViTConfig, ViTModel

out = sys.argv[1]
torch.manual_seed(0)
CLIPModel(CLIPConfig()).save_pretrained(f"{out}/clip", safe_serialization=True)
dino = ViTConfig(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536,
                 patch_size=16, image_size=224, qkv_bias=True, layer_norm_eps=1e-12, hidden_act="gelu")
ViTModel(dino, add_pooling_layer=True).save_pretrained(f"{out}/dino", safe_serialization=True)
print("wrote", out)
