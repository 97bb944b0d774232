//! Port of transformers `models/clip/modeling_clip.py`: `CLIPTextModel` (the SD 2.1-base text
//! encoder, an OpenCLIP ViT-H text tower with 23 layers) and `CLIPVisionModelWithProjection`
//! (ViT-B/32, used by EZIGen's auto-stop rule and the CLIP-I / CLIP-T metrics), and
//! `CLIPTextModelWithProjection` (ViT-B/32's text tower, for CLIP-T). Also EZIGen's
//! `ExceptionCLIPTextModel` conditioning for inversion (`models/inversion_models/clip.py`).

use burn::tensor::activation::{gelu, sigmoid};
use burn::tensor::{DType, Int, Tensor, TensorData};
use serde::Deserialize;

use crate::nn::{Conv2d, Embedding, LayerNorm, Linear, Vars};
use crate::ops;
use crate::{Error, Result};

/// Activation of the CLIP MLPs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HiddenAct {
    /// Exact (erf) GELU: SD 2.x text encoders.
    Gelu,
    /// `x·σ(1.702x)`: OpenAI CLIP.
    QuickGelu,
}

/// The fields of transformers' `CLIPTextConfig` / `CLIPVisionConfig` the port uses.
#[derive(Clone, Debug, Deserialize)]
pub struct ClipConfig {
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// MLP activation.
    #[serde(default = "default_act")]
    pub hidden_act: HiddenAct,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Text: vocabulary size.
    #[serde(default)]
    pub vocab_size: usize,
    /// Text: positions (77).
    #[serde(default)]
    pub max_position_embeddings: usize,
    /// Vision: input resolution (224).
    #[serde(default)]
    pub image_size: usize,
    /// Vision: patch size (32 for ViT-B/32).
    #[serde(default)]
    pub patch_size: usize,
    /// Vision: projection width of `visual_projection`.
    #[serde(default)]
    pub projection_dim: usize,
}

fn default_act() -> HiddenAct {
    HiddenAct::QuickGelu
}

fn default_eps() -> f64 {
    1e-5
}

impl ClipConfig {
    /// Parses a transformers `config.json`: a text or vision config at the top level, or a
    /// full `CLIPModel` config whose `section` ("text_config" / "vision_config") is taken
    /// (with the top-level `projection_dim`).
    pub fn from_json(json: &str, section: &str) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| Error::Config(format!("CLIP config.json: {e}")))?;
        let mut inner = value.get(section).cloned().unwrap_or_else(|| value.clone());
        // A full CLIPModel config saved by transformers leaves out what equals the section's
        // defaults (CLIPTextConfig / CLIPVisionConfig: ViT-B/32's towers).
        if value.get(section).is_some() || value.get("model_type").and_then(|m| m.as_str()) == Some("clip") {
            let defaults = match section {
                "text_config" => serde_json::json!({"hidden_size": 512, "intermediate_size": 2048, "num_attention_heads": 8,
                    "num_hidden_layers": 12, "max_position_embeddings": 77, "vocab_size": 49408}),
                _ => serde_json::json!({"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12,
                    "num_hidden_layers": 12, "image_size": 224, "patch_size": 32}),
            };
            if !inner.is_object() {
                inner = serde_json::json!({});
            }
            if let (Some(obj), Some(d)) = (inner.as_object_mut(), defaults.as_object()) {
                for (k, v) in d {
                    obj.entry(k.clone()).or_insert(v.clone());
                }
                if value.get("projection_dim").is_none() {
                    obj.entry("projection_dim").or_insert(512.into());
                }
            }
        }
        if let (Some(obj), Some(p)) = (inner.as_object_mut(), value.get("projection_dim")) {
            obj.entry("projection_dim").or_insert(p.clone());
        }
        let config: Self =
            serde_json::from_value(inner).map_err(|e| Error::Config(format!("CLIP config.json ({section}): {e}")))?;
        if config.num_attention_heads == 0 {
            return Err(Error::Config(format!("CLIP config.json ({section}): num_attention_heads must be at least 1")));
        }
        if section == "vision_config" && config.patch_size == 0 {
            return Err(Error::Config(format!("CLIP config.json ({section}): patch_size must be at least 1")));
        }
        if config.hidden_size % config.num_attention_heads != 0 {
            return Err(Error::Config("CLIP hidden_size is not a multiple of num_attention_heads".into()));
        }
        Ok(config)
    }
}

/// `CLIPAttention`: multi-head attention with biased q/k/v/out projections.
#[derive(Clone, Debug)]
struct ClipAttention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    heads: usize,
}

impl ClipAttention {
    fn load(vb: &Vars, c: &ClipConfig) -> Self {
        let d = c.hidden_size;
        Self {
            q_proj: Linear::load(&vb.pp("q_proj"), d, d, true),
            k_proj: Linear::load(&vb.pp("k_proj"), d, d, true),
            v_proj: Linear::load(&vb.pp("v_proj"), d, d, true),
            out_proj: Linear::load(&vb.pp("out_proj"), d, d, true),
            heads: c.num_attention_heads,
        }
    }

    fn forward(&self, x: Tensor<3>, mask: Option<&Tensor<2>>) -> Tensor<3> {
        let d = x.dims()[2];
        let scale = 1.0 / ((d / self.heads) as f64).sqrt();
        let q = ops::split_heads(self.q_proj.forward(x.clone()), self.heads);
        let k = ops::split_heads(self.k_proj.forward(x.clone()), self.heads);
        let v = ops::split_heads(self.v_proj.forward(x), self.heads);
        self.out_proj.forward(ops::merge_heads(ops::attention_chunked(q, k, v, scale, mask)))
    }
}

/// `CLIPEncoderLayer`: pre-norm attention and MLP with residuals.
#[derive(Clone, Debug)]
struct ClipEncoderLayer {
    layer_norm1: LayerNorm,
    self_attn: ClipAttention,
    layer_norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    act: HiddenAct,
}

impl ClipEncoderLayer {
    fn load(vb: &Vars, c: &ClipConfig) -> Self {
        let (d, i) = (c.hidden_size, c.intermediate_size);
        Self {
            layer_norm1: LayerNorm::load(&vb.pp("layer_norm1"), d, c.layer_norm_eps),
            self_attn: ClipAttention::load(&vb.pp("self_attn"), c),
            layer_norm2: LayerNorm::load(&vb.pp("layer_norm2"), d, c.layer_norm_eps),
            fc1: Linear::load(&vb.pp("mlp").pp("fc1"), d, i, true),
            fc2: Linear::load(&vb.pp("mlp").pp("fc2"), i, d, true),
            act: c.hidden_act,
        }
    }

    fn forward(&self, x: Tensor<3>, mask: Option<&Tensor<2>>) -> Tensor<3> {
        let x = x.clone() + self.self_attn.forward(self.layer_norm1.forward(x), mask);
        let h = self.fc1.forward(self.layer_norm2.forward(x.clone()));
        let h = match self.act {
            HiddenAct::Gelu => gelu(h),
            HiddenAct::QuickGelu => h.clone() * sigmoid(h * 1.702),
        };
        x + self.fc2.forward(h)
    }
}

fn load_layers(vb: &Vars, c: &ClipConfig) -> Vec<ClipEncoderLayer> {
    let vb = vb.pp("encoder").pp("layers");
    (0..c.num_hidden_layers).map(|i| ClipEncoderLayer::load(&vb.pp(i), c)).collect()
}

/// `CLIPTextModel` (its `text_model`), returning `last_hidden_state` (after the final
/// LayerNorm), which is SD 2.x's conditioning.
#[derive(Clone, Debug)]
pub struct ClipTextModel {
    token_embedding: Embedding,
    position_embedding: Tensor<2>,
    layers: Vec<ClipEncoderLayer>,
    final_layer_norm: LayerNorm,
    config: ClipConfig,
}

impl ClipTextModel {
    /// Loads from keys `text_model.*`.
    pub fn load(vb: &Vars, config: &ClipConfig) -> Self {
        let vb = vb.pp("text_model");
        let d = config.hidden_size;
        let emb = vb.pp("embeddings");
        Self {
            token_embedding: Embedding::load(&emb.pp("token_embedding"), config.vocab_size, d),
            position_embedding: emb.pp("position_embedding").take("weight", [config.max_position_embeddings, d]),
            layers: load_layers(&vb, config),
            final_layer_norm: LayerNorm::load(&vb.pp("final_layer_norm"), d, config.layer_norm_eps),
            config: config.clone(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClipConfig {
        &self.config
    }

    fn causal_mask(&self, t: usize) -> Tensor<2> {
        let device = self.position_embedding.device();
        let values: Vec<f32> = (0..t * t)
            .map(|i| if i % t > i / t { f32::NEG_INFINITY } else { 0.0 })
            .collect();
        Tensor::from_data(TensorData::new(values, [t, t]), (&device, DType::F32))
    }

    fn encode_embeddings(&self, x: Tensor<3>) -> Tensor<3> {
        let mask = self.causal_mask(x.dims()[1]);
        let x = self.layers.iter().fold(x, |x, layer| layer.forward(x, Some(&mask)));
        self.final_layer_norm.forward(x)
    }

    /// Encodes token ids `[B, T]` (T ≤ 77) → `last_hidden_state` `[B, T, hidden]`, with the
    /// causal mask and no padding mask, as SD does.
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let t = ids.dims()[1];
        let pos = self.position_embedding.clone().narrow(0, 0, t).unsqueeze::<3>();
        self.encode_embeddings(self.token_embedding.forward(ids) + pos)
    }

    /// EZIGen's "exception" conditioning for DPM-Solver inversion: all `len` ids are `token`
    /// (7788) and the embeddings carry **no position embeddings**
    /// (`ExceptionCLIPTextEmbeddings`). Returns `[1, len, hidden]`.
    pub fn forward_exception(&self, token: usize, len: usize) -> Tensor<3> {
        let row = self.token_embedding.row(token);
        let x = row.unsqueeze::<3>().repeat_dim(1, len);
        self.encode_embeddings(x)
    }
}

/// `CLIPTextModelWithProjection`: the text tower and `text_projection`, returning
/// `text_embeds` (not normalised): the final hidden state at the end token, projected.
#[derive(Clone, Debug)]
pub struct ClipTextModelWithProjection {
    text_model: ClipTextModel,
    text_projection: Linear,
}

impl ClipTextModelWithProjection {
    /// Loads from keys `text_model.*` and `text_projection.weight`.
    pub fn load(vb: &Vars, config: &ClipConfig) -> Self {
        Self {
            text_model: ClipTextModel::load(vb, config),
            text_projection: Linear::load(&vb.pp("text_projection"), config.hidden_size, config.projection_dim, false),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClipConfig {
        self.text_model.config()
    }

    /// Token id rows (each at most 77 long, equal lengths) → `text_embeds`
    /// `[B, projection_dim]`, pooled at [`end_token_position`] of each row.
    pub fn forward(&self, ids: &[Vec<u32>]) -> Tensor<2> {
        let device = self.text_model.position_embedding.device();
        let t = ids.first().map_or(0, Vec::len);
        let flat: Vec<i64> = ids.iter().flat_map(|row| row.iter().map(|&v| i64::from(v))).collect();
        let tensor = Tensor::<2, Int>::from_data(TensorData::new(flat, [ids.len(), t]), &device);
        let hidden = self.text_model.forward(tensor);
        let d = self.config().hidden_size;
        let pooled: Vec<Tensor<2>> = ids
            .iter()
            .enumerate()
            .map(|(b, row)| hidden.clone().narrow(0, b, 1).narrow(1, end_token_position(row), 1).reshape([1, d]))
            .collect();
        self.text_projection.forward(Tensor::cat(pooled, 0))
    }
}

/// Where `CLIPTextTransformer` pools: the first occurrence of the largest id of the row
/// (`input_ids.argmax(-1)`, OpenAI CLIP's rule, kept by transformers for `eos_token_id == 2`
/// configs such as ViT-B/32's). The end token 49407 is the largest id of the vocabulary, so this
/// is the first end token for any padding.
pub fn end_token_position(ids: &[u32]) -> usize {
    let max = ids.iter().copied().max().unwrap_or(0);
    ids.iter().position(|&v| v == max).unwrap_or(0)
}

/// `CLIPVisionModelWithProjection`: ViT image tower and `visual_projection`, returning
/// `image_embeds` (not normalised).
#[derive(Clone, Debug)]
pub struct ClipVisionModel {
    class_embedding: Tensor<1>,
    patch_embedding: Conv2d,
    position_embedding: Tensor<2>,
    pre_layrnorm: LayerNorm,
    layers: Vec<ClipEncoderLayer>,
    post_layernorm: LayerNorm,
    visual_projection: Linear,
    config: ClipConfig,
}

impl ClipVisionModel {
    /// Loads from keys `vision_model.*` and `visual_projection.weight`.
    pub fn load(vb: &Vars, config: &ClipConfig) -> Self {
        let d = config.hidden_size;
        let p = config.patch_size;
        let n = (config.image_size / p).pow(2) + 1;
        let vm = vb.pp("vision_model");
        let emb = vm.pp("embeddings");
        let patch = emb.pp("patch_embedding");
        Self {
            class_embedding: emb.take("class_embedding", [d]),
            patch_embedding: Conv2d::load_no_bias(&patch, 3, d, p, p, 0),
            position_embedding: emb.pp("position_embedding").take("weight", [n, d]),
            pre_layrnorm: LayerNorm::load(&vm.pp("pre_layrnorm"), d, config.layer_norm_eps),
            layers: load_layers(&vm, config),
            post_layernorm: LayerNorm::load(&vm.pp("post_layernorm"), d, config.layer_norm_eps),
            visual_projection: Linear::load(&vb.pp("visual_projection"), d, config.projection_dim, false),
            config: config.clone(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClipConfig {
        &self.config
    }

    /// `pixel_values` `[B, 3, S, S]` (CLIP-normalised) → `image_embeds` `[B, projection_dim]`.
    pub fn forward(&self, pixel_values: Tensor<4>) -> Tensor<2> {
        let b = pixel_values.dims()[0];
        let d = self.config.hidden_size;
        let patches = self.patch_embedding.forward(pixel_values); // [B, D, g, g]
        let [_, _, gh, gw] = patches.dims();
        let patches: Tensor<3> = patches.reshape([b, d, gh * gw]).swap_dims(1, 2);
        let cls = self.class_embedding.clone().reshape([1, 1, d]).repeat_dim(0, b);
        let x = Tensor::cat(vec![cls, patches], 1) + self.position_embedding.clone().unsqueeze::<3>();
        let x = self.pre_layrnorm.forward(x);
        let x = self.layers.iter().fold(x, |x, layer| layer.forward(x, None));
        let pooled: Tensor<2> = x.narrow(1, 0, 1).reshape([b, d]);
        self.visual_projection.forward(self.post_layernorm.forward(pooled))
    }
}
