//! Port of transformers `models/vit/modeling_vit.py`: `ViTModel` without pooler, in the layout of
//! `facebook/dino-vits16` (DINO ViT-S/16), whose CLS embedding is the DINO metric of
//! subject-driven generation.

use burn::tensor::Tensor;
use burn::tensor::activation::gelu;
use serde::Deserialize;

use crate::kernels::flash_attention;
use crate::nn::{Conv2d, LayerNorm, Linear, Vars};
use crate::{Error, Result};

/// The fields of transformers' `ViTConfig` the port uses; absent fields take transformers'
/// defaults (`save_pretrained` leaves out values equal to them).
#[derive(Clone, Debug, Deserialize)]
pub struct VitConfig {
    /// Width of the residual stream (384 for ViT-S).
    #[serde(default = "default_hidden")]
    pub hidden_size: usize,
    /// Encoder layers.
    #[serde(default = "default_layers")]
    pub num_hidden_layers: usize,
    /// Attention heads.
    #[serde(default = "default_layers")]
    pub num_attention_heads: usize,
    /// MLP width.
    #[serde(default = "default_intermediate")]
    pub intermediate_size: usize,
    /// Input resolution.
    #[serde(default = "default_image_size")]
    pub image_size: usize,
    /// Patch side.
    #[serde(default = "default_patch_size")]
    pub patch_size: usize,
    /// Input channels.
    #[serde(default = "default_channels")]
    pub num_channels: usize,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Biases on query, key and value.
    #[serde(default = "default_true")]
    pub qkv_bias: bool,
    /// MLP activation (only the exact GELU is supported).
    #[serde(default = "default_act")]
    pub hidden_act: String,
}

fn default_hidden() -> usize {
    768
}
fn default_layers() -> usize {
    12
}
fn default_intermediate() -> usize {
    3072
}
fn default_image_size() -> usize {
    224
}
fn default_patch_size() -> usize {
    16
}
fn default_channels() -> usize {
    3
}
fn default_eps() -> f64 {
    1e-12
}
fn default_true() -> bool {
    true
}
fn default_act() -> String {
    "gelu".into()
}

impl VitConfig {
    /// Parses a transformers `config.json`, refusing what the port does not implement.
    pub fn from_json(json: &str) -> Result<Self> {
        let config: Self = serde_json::from_str(json).map_err(|e| Error::Config(format!("ViT config.json: {e}")))?;
        if config.hidden_act != "gelu" {
            return Err(Error::Config(format!("ViT hidden_act `{}` is not supported (only gelu)", config.hidden_act)));
        }
        if config.num_attention_heads == 0 || config.hidden_size % config.num_attention_heads != 0 {
            return Err(Error::Config("ViT hidden_size is not a multiple of num_attention_heads".into()));
        }
        if config.patch_size == 0 || config.image_size % config.patch_size != 0 {
            return Err(Error::Config("ViT image_size is not a multiple of patch_size".into()));
        }
        Ok(config)
    }

    /// Tokens per image: the patches and the CLS token.
    pub fn tokens(&self) -> usize {
        (self.image_size / self.patch_size).pow(2) + 1
    }
}

/// `ViTLayer`: pre-norm self-attention and MLP with residuals.
#[derive(Clone, Debug)]
struct VitLayer {
    layernorm_before: LayerNorm,
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    layernorm_after: LayerNorm,
    intermediate: Linear,
    mlp_output: Linear,
    heads: usize,
    kernels: crate::kernels::Kernels,
}

impl VitLayer {
    fn load(vb: &Vars, c: &VitConfig) -> Self {
        let (d, i) = (c.hidden_size, c.intermediate_size);
        let attention = vb.pp("attention");
        let qkv = attention.pp("attention");
        Self {
            layernorm_before: LayerNorm::load(&vb.pp("layernorm_before"), d, c.layer_norm_eps),
            query: Linear::load(&qkv.pp("query"), d, d, c.qkv_bias),
            key: Linear::load(&qkv.pp("key"), d, d, c.qkv_bias),
            value: Linear::load(&qkv.pp("value"), d, d, c.qkv_bias),
            output: Linear::load(&attention.pp("output").pp("dense"), d, d, true),
            layernorm_after: LayerNorm::load(&vb.pp("layernorm_after"), d, c.layer_norm_eps),
            intermediate: Linear::load(&vb.pp("intermediate").pp("dense"), d, i, true),
            mlp_output: Linear::load(&vb.pp("output").pp("dense"), i, d, true),
            heads: c.num_attention_heads,
            kernels: vb.kernels(),
        }
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let d = x.dims()[2];
        let h = self.layernorm_before.forward(x.clone());
        let (q, k, v) = (self.query.forward(h.clone()), self.key.forward(h.clone()), self.value.forward(h));
        let scale = 1.0 / ((d / self.heads) as f64).sqrt();
        let attended = flash_attention::attention(self.kernels, q, k, v, self.heads, scale);
        let x = x + self.output.forward(attended);
        let h = gelu(self.intermediate.forward(self.layernorm_after.forward(x.clone())));
        x + self.mlp_output.forward(h)
    }
}

/// `ViTModel` (no pooler): patch embedding, CLS token and position embeddings, the encoder and
/// the final LayerNorm.
#[derive(Clone, Debug)]
pub struct VitModel {
    cls_token: Tensor<3>,
    position_embeddings: Tensor<3>,
    patch_embedding: Conv2d,
    layers: Vec<VitLayer>,
    layernorm: LayerNorm,
    config: VitConfig,
}

impl VitModel {
    /// Loads from keys `embeddings.*`, `encoder.layer.N.*` and `layernorm.*` (a `pooler.*`, when
    /// stored, is not used).
    pub fn load(vb: &Vars, config: &VitConfig) -> Self {
        let d = config.hidden_size;
        let emb = vb.pp("embeddings");
        let p = config.patch_size;
        let layers = vb.pp("encoder").pp("layer");
        Self {
            cls_token: emb.take("cls_token", [1, 1, d]),
            position_embeddings: emb.take("position_embeddings", [1, config.tokens(), d]),
            patch_embedding: Conv2d::load(&emb.pp("patch_embeddings").pp("projection"), config.num_channels, d, p, p, 0),
            layers: (0..config.num_hidden_layers).map(|i| VitLayer::load(&layers.pp(i), config)).collect(),
            layernorm: LayerNorm::load(&vb.pp("layernorm"), d, config.layer_norm_eps),
            config: config.clone(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &VitConfig {
        &self.config
    }

    /// `pixel_values` `[B, 3, S, S]` (S = `image_size`) → `last_hidden_state` `[B, tokens, D]`.
    pub fn forward(&self, pixel_values: Tensor<4>) -> Tensor<3> {
        let b = pixel_values.dims()[0];
        let d = self.config.hidden_size;
        let patches = self.patch_embedding.forward(pixel_values); // [B, D, g, g]
        let [_, _, gh, gw] = patches.dims();
        let patches: Tensor<3> = patches.reshape([b, d, gh * gw]).swap_dims(1, 2);
        let cls = self.cls_token.clone().repeat_dim(0, b);
        let x = Tensor::cat(vec![cls, patches], 1) + self.position_embeddings.clone();
        let x = self.layers.iter().fold(x, |x, layer| layer.forward(x));
        self.layernorm.forward(x)
    }

    /// The CLS embedding `[B, D]` (`last_hidden_state[:, 0]`): DINO's image descriptor.
    pub fn cls(&self, pixel_values: Tensor<4>) -> Tensor<2> {
        let x = self.forward(pixel_values);
        let [b, _, d] = x.dims();
        x.narrow(1, 0, 1).reshape([b, d])
    }
}
