//! `UNet2DConditionModel`'s configuration: the fields of diffusers' `unet/config.json`.

use serde::Deserialize;

use crate::{Error, Result};

/// A config value diffusers allows as one number or one per block.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum PerBlock {
    /// The same value for every block.
    One(usize),
    /// One value per down block.
    Many(Vec<usize>),
}

impl PerBlock {
    /// The value for block `i` of `n`.
    pub fn get(&self, i: usize) -> usize {
        match self {
            Self::One(v) => *v,
            Self::Many(v) => v[i.min(v.len() - 1)],
        }
    }

    fn len_ok(&self, n: usize) -> bool {
        match self {
            Self::One(_) => true,
            Self::Many(v) => v.len() == n,
        }
    }
}

/// diffusers `UNet2DConditionModel` config (SD 2.1-base values in [`Self::sd21_base`]).
#[derive(Clone, Debug, Deserialize)]
pub struct UNet2DConditionConfig {
    /// Latent channels in (4).
    #[serde(default = "four")]
    pub in_channels: usize,
    /// Latent channels out (4).
    #[serde(default = "four")]
    pub out_channels: usize,
    /// Channels per resolution level.
    pub block_out_channels: Vec<usize>,
    /// Down block class names.
    pub down_block_types: Vec<String>,
    /// Up block class names.
    pub up_block_types: Vec<String>,
    /// Mid block class name.
    #[serde(default = "mid_default")]
    pub mid_block_type: Option<String>,
    /// ResNets per down block (up blocks have one more).
    #[serde(default = "two")]
    pub layers_per_block: usize,
    /// In diffusers' naming quirk: the number of attention **heads** per block (when
    /// `num_attention_heads` is absent, as in SD 2.x).
    #[serde(default = "heads_default")]
    pub attention_head_dim: PerBlock,
    /// Heads per block when given explicitly.
    #[serde(default)]
    pub num_attention_heads: Option<PerBlock>,
    /// Width of the text tokens (1024 for SD 2.x).
    pub cross_attention_dim: usize,
    /// GroupNorm groups (32).
    #[serde(default = "groups_default")]
    pub norm_num_groups: usize,
    /// GroupNorm / LayerNorm epsilon of ResNets and transformer blocks (1e-5).
    #[serde(default = "eps_default")]
    pub norm_eps: f64,
    /// Linear (true, SD 2.x) or 1×1-conv `proj_in`/`proj_out`.
    #[serde(default)]
    pub use_linear_projection: bool,
    /// Sinusoidal time embedding: cosine half first.
    #[serde(default = "yes")]
    pub flip_sin_to_cos: bool,
    /// Sinusoidal time embedding frequency shift.
    #[serde(default)]
    pub freq_shift: f64,
    /// Latent size the model was trained at (64 → 512-px images).
    #[serde(default = "sample_default")]
    pub sample_size: usize,
    /// Transformer blocks per Transformer2D (only 1 supported).
    #[serde(default = "one_per_block")]
    pub transformer_layers_per_block: PerBlock,
    /// Downsampler convolution padding (1).
    #[serde(default = "one")]
    pub downsample_padding: usize,
    /// Upcast attention to f32 (SD 2.1-base: false). Our softmax always runs in f32.
    #[serde(default)]
    pub upcast_attention: bool,
    /// Must be false.
    #[serde(default)]
    pub only_cross_attention: serde_json::Value,
    /// Must be false.
    #[serde(default)]
    pub dual_cross_attention: bool,
    /// Must be absent.
    #[serde(default)]
    pub class_embed_type: Option<String>,
    /// Must be absent.
    #[serde(default)]
    pub addition_embed_type: Option<String>,
    /// Must be "silu".
    #[serde(default = "silu")]
    pub act_fn: String,
    /// Must be "default".
    #[serde(default = "default_shift")]
    pub resnet_time_scale_shift: String,
    /// Must be false.
    #[serde(default)]
    pub center_input_sample: bool,
}

fn four() -> usize { 4 }
fn two() -> usize { 2 }
fn one() -> usize { 1 }
fn yes() -> bool { true }
fn groups_default() -> usize { 32 }
fn eps_default() -> f64 { 1e-5 }
fn sample_default() -> usize { 64 }
fn heads_default() -> PerBlock { PerBlock::One(8) }
fn one_per_block() -> PerBlock { PerBlock::One(1) }
fn silu() -> String { "silu".into() }
fn default_shift() -> String { "default".into() }
fn mid_default() -> Option<String> { Some("UNetMidBlock2DCrossAttn".into()) }

impl UNet2DConditionConfig {
    /// Parses and validates diffusers' `unet/config.json`.
    pub fn from_json(json: &str) -> Result<Self> {
        let config: Self =
            serde_json::from_str(json).map_err(|e| Error::Config(format!("unet config.json: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// Stable Diffusion 2.1-base
    /// (<https://huggingface.co/stabilityai/stable-diffusion-2-1-base/blob/main/unet/config.json>).
    pub fn sd21_base() -> Self {
        Self::from_json(crate::presets::SD21_BASE_UNET).expect("built-in config is valid")
    }

    /// Heads of the attention layers of down block `i` (the mid block uses the last).
    pub fn heads(&self, i: usize) -> usize {
        self.num_attention_heads.as_ref().unwrap_or(&self.attention_head_dim).get(i)
    }

    /// Number of transformer blocks (16 for SD 2.x): one per layer of every cross-attention down
    /// block, one in the mid block, one per layer (+1) of every cross-attention up block.
    pub fn num_transformer_blocks(&self) -> usize {
        let l = self.layers_per_block;
        let down = self.down_block_types.iter().filter(|k| k.starts_with("CrossAttn")).count();
        let up = self.up_block_types.iter().filter(|k| k.starts_with("CrossAttn")).count();
        down * l + 1 + up * (l + 1)
    }

    fn validate(&self) -> Result<()> {
        let n = self.block_out_channels.len();
        let bad = |m: String| Err(Error::Config(format!("unet config.json: {m}")));
        if n == 0 || self.down_block_types.len() != n || self.up_block_types.len() != n {
            return bad("block_out_channels, down_block_types and up_block_types must have equal, non-zero lengths".into());
        }
        for t in &self.down_block_types {
            if t != "CrossAttnDownBlock2D" && t != "DownBlock2D" {
                return bad(format!("unsupported down block {t}"));
            }
        }
        for t in &self.up_block_types {
            if t != "CrossAttnUpBlock2D" && t != "UpBlock2D" {
                return bad(format!("unsupported up block {t}"));
            }
        }
        if self.mid_block_type.as_deref() != Some("UNetMidBlock2DCrossAttn") {
            return bad(format!("unsupported mid block {:?}", self.mid_block_type));
        }
        let heads_ok = self.num_attention_heads.as_ref().is_none_or(|h| h.len_ok(n));
        if !self.attention_head_dim.len_ok(n) || !self.transformer_layers_per_block.len_ok(n) || !heads_ok {
            return bad("per-block lists (attention_head_dim, num_attention_heads, transformer_layers_per_block) must have one value per block".into());
        }
        if (0..n).any(|i| self.transformer_layers_per_block.get(i) != 1) {
            return bad("only transformer_layers_per_block = 1 is supported".into());
        }
        if self.norm_num_groups == 0 {
            return bad("norm_num_groups must be at least 1".into());
        }
        // Sizes far beyond any released UNet are a damaged file, not a model to allocate.
        let sizes = [
            ("sample_size", self.sample_size, 1024),
            ("in_channels", self.in_channels, 64),
            ("out_channels", self.out_channels, 64),
            ("layers_per_block", self.layers_per_block, 64),
            ("cross_attention_dim", self.cross_attention_dim, 65536),
        ];
        for (key, v, max) in sizes {
            if v == 0 || v > max {
                return bad(format!("{key} = {v} is outside 1..={max}"));
            }
        }
        if let Some(c) = self.block_out_channels.iter().find(|&&c| c == 0 || c > 65536) {
            return bad(format!("block_out_channels holds {c}, outside 1..=65536"));
        }
        for (i, &c) in self.block_out_channels.iter().enumerate() {
            if self.heads(i) == 0 {
                return bad(format!("block {i}: attention_head_dim gives no heads"));
            }
            if c % self.norm_num_groups != 0 || c % self.heads(i) != 0 {
                return bad(format!("block {i}: {c} channels do not divide into groups/heads"));
            }
        }
        if self.only_cross_attention.as_bool().unwrap_or(false) || self.dual_cross_attention {
            return bad("only_cross_attention / dual_cross_attention are not supported".into());
        }
        if self.class_embed_type.is_some() || self.addition_embed_type.is_some() {
            return bad("class / addition embeddings are not supported".into());
        }
        if self.act_fn != "silu" || self.resnet_time_scale_shift != "default" || self.center_input_sample {
            return bad("only act_fn silu, resnet_time_scale_shift default, no input centring".into());
        }
        Ok(())
    }
}
