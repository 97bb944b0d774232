//! Port of diffusers `models/autoencoders/autoencoder_kl.py` (`AutoencoderKL`) with its
//! `Encoder`/`Decoder` (`models/autoencoders/vae.py`), `DownEncoderBlock2D` /
//! `UpDecoderBlock2D` / `UNetMidBlock2D` and `DiagonalGaussianDistribution`.

use burn::tensor::Tensor;
use serde::Deserialize;

use crate::models::resnet::{Downsample2D, ResnetBlock2D, Upsample2D};
use crate::nn::{Blocks, Conv2d, GroupNorm, Linear, Vars, channel_blocks, join_blocks};
use crate::ops;
use crate::{Error, Result};

/// The VAE's latent scaling factor (SD 2.1-base's config does not set it: the default).
pub const SCALING_FACTOR: f64 = 0.18215;

/// The fields of diffusers' `vae/config.json` the port uses.
#[derive(Clone, Debug, Deserialize)]
pub struct AutoencoderKLConfig {
    /// Image channels (3).
    #[serde(default = "three")]
    pub in_channels: usize,
    /// Image channels out (3).
    #[serde(default = "three")]
    pub out_channels: usize,
    /// Channels per level ([128, 256, 512, 512] for SD).
    pub block_out_channels: Vec<usize>,
    /// ResNets per encoder block (decoder blocks have one more).
    #[serde(default = "one")]
    pub layers_per_block: usize,
    /// Latent channels (4).
    #[serde(default = "four")]
    pub latent_channels: usize,
    /// GroupNorm groups (32).
    #[serde(default = "groups")]
    pub norm_num_groups: usize,
    /// Image size the model was trained at.
    #[serde(default = "size")]
    pub sample_size: usize,
    /// Latent scaling (0.18215 when absent).
    #[serde(default = "scaling")]
    pub scaling_factor: f64,
}

fn three() -> usize { 3 }
fn one() -> usize { 1 }
fn four() -> usize { 4 }
fn groups() -> usize { 32 }
fn size() -> usize { 512 }
fn scaling() -> f64 { SCALING_FACTOR }

impl AutoencoderKLConfig {
    /// Parses and validates diffusers' `vae/config.json`.
    pub fn from_json(json: &str) -> Result<Self> {
        let c: Self = serde_json::from_str(json).map_err(|e| Error::Config(format!("vae config.json: {e}")))?;
        if c.norm_num_groups == 0 {
            return Err(Error::Config("vae config.json: norm_num_groups must be at least 1".into()));
        }
        if c.block_out_channels.is_empty() || c.block_out_channels.iter().any(|ch| ch % c.norm_num_groups != 0) {
            return Err(Error::Config("vae: block_out_channels must be non-empty multiples of norm_num_groups".into()));
        }
        let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        for (key, ok) in [("down_block_types", "DownEncoderBlock2D"), ("up_block_types", "UpDecoderBlock2D")] {
            if let Some(list) = v.get(key).and_then(|l| l.as_array()) {
                if list.len() != c.block_out_channels.len() || list.iter().any(|t| t.as_str() != Some(ok)) {
                    return Err(Error::Config(format!("vae: {key} must be {ok} for every block")));
                }
            }
        }
        Ok(c)
    }

    /// Spatial downsampling factor between image and latent (8 for SD).
    pub fn downsample_factor(&self) -> usize {
        1 << (self.block_out_channels.len() - 1)
    }
}

/// The VAE mid-block attention: GroupNorm, one head over all channels, biased projections,
/// residual.
#[derive(Clone, Debug)]
struct VaeAttention {
    group_norm: GroupNorm,
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
}

impl VaeAttention {
    fn load(vb: &Vars, ch: usize, groups: usize) -> Self {
        Self {
            group_norm: GroupNorm::load(&vb.pp("group_norm"), groups, ch, 1e-6),
            to_q: Linear::load(&vb.pp("to_q"), ch, ch, true),
            to_k: Linear::load(&vb.pp("to_k"), ch, ch, true),
            to_v: Linear::load(&vb.pp("to_v"), ch, ch, true),
            to_out: Linear::load(&vb.pp("to_out").pp(0), ch, ch, true),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        // Tokens through `[B, H, W, C]`: no copy of a channels-last map (a convolution's output).
        let t: Tensor<3> = self.group_norm.forward(x.clone()).permute([0, 2, 3, 1]).reshape([b, h * w, c]);
        let q = self.to_q.forward(t.clone()).unsqueeze_dim::<4>(1);
        let k = self.to_k.forward(t.clone()).unsqueeze_dim::<4>(1);
        let v = self.to_v.forward(t).unsqueeze_dim::<4>(1);
        let a = ops::attention_chunked(q, k, v, 1.0 / (c as f64).sqrt(), None);
        let residual: Tensor<3> = x.permute([0, 2, 3, 1]).reshape([b, h * w, c]);
        let out: Tensor<3> = self.to_out.forward_residual(ops::merge_heads(a), &[residual]);
        out.reshape([b, h, w, c]).permute([0, 3, 1, 2])
    }
}

/// `UNetMidBlock2D` without time embedding: ResNet, attention, ResNet.
#[derive(Clone, Debug)]
struct VaeMidBlock {
    resnet_0: ResnetBlock2D,
    attention: VaeAttention,
    resnet_1: ResnetBlock2D,
}

impl VaeMidBlock {
    fn load(vb: &Vars, ch: usize, groups: usize) -> Self {
        Self {
            resnet_0: ResnetBlock2D::load(&vb.pp("resnets").pp(0), ch, ch, None, groups, 1e-6),
            attention: VaeAttention::load(&vb.pp("attentions").pp(0), ch, groups),
            resnet_1: ResnetBlock2D::load(&vb.pp("resnets").pp(1), ch, ch, None, groups, 1e-6),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.resnet_1.forward(self.attention.forward(self.resnet_0.forward(x, None)), None)
    }
}

/// The VAE encoder with `quant_conv`: image `[B, 3, H, W]` in [-1, 1] → posterior moments.
#[derive(Clone, Debug)]
pub struct VaeEncoder {
    conv_in: Conv2d,
    down_blocks: Vec<(Vec<ResnetBlock2D>, Option<Downsample2D>)>,
    mid_block: VaeMidBlock,
    conv_norm_out: GroupNorm,
    conv_out: Conv2d,
    quant_conv: Conv2d,
    latent_channels: usize,
    groups: usize,
}

/// The diagonal Gaussian posterior of an encode (`DiagonalGaussianDistribution`).
#[derive(Clone, Debug)]
pub struct Posterior {
    /// Mean `[B, 4, h, w]`.
    pub mean: Tensor<4>,
    /// Log-variance, clamped to [-30, 20].
    pub logvar: Tensor<4>,
}

impl Posterior {
    /// `mean + exp(logvar / 2) · noise` (the official code always samples).
    pub fn sample(&self, noise: Tensor<4>) -> Tensor<4> {
        self.mean.clone() + (self.logvar.clone() * 0.5).exp() * noise
    }
}

impl VaeEncoder {
    /// Loads `encoder.*` and `quant_conv`.
    pub fn load(vb: &Vars, c: &AutoencoderKLConfig) -> Self {
        let evb = vb.pp("encoder");
        let boc = &c.block_out_channels;
        let g = c.norm_num_groups;
        let mut out_ch = boc[0];
        let down_blocks = boc
            .iter()
            .enumerate()
            .map(|(i, &ch)| {
                let bvb = evb.pp("down_blocks").pp(i);
                let in_ch = out_ch;
                out_ch = ch;
                let resnets = (0..c.layers_per_block)
                    .map(|j| ResnetBlock2D::load(&bvb.pp("resnets").pp(j), if j == 0 { in_ch } else { ch }, ch, None, g, 1e-6))
                    .collect();
                let down = (i + 1 < boc.len()).then(|| Downsample2D::load(&bvb.pp("downsamplers").pp(0), ch, 0));
                (resnets, down)
            })
            .collect();
        let last = *boc.last().expect("validated non-empty");
        let l2 = 2 * c.latent_channels;
        Self {
            conv_in: Conv2d::load(&evb.pp("conv_in"), c.in_channels, boc[0], 3, 1, 1),
            down_blocks,
            mid_block: VaeMidBlock::load(&evb.pp("mid_block"), last, g),
            conv_norm_out: GroupNorm::load(&evb.pp("conv_norm_out"), g, last, 1e-6),
            conv_out: Conv2d::load(&evb.pp("conv_out"), last, l2, 3, 1, 1),
            quant_conv: Conv2d::load(&vb.pp("quant_conv"), l2, l2, 1, 1, 0),
            latent_channels: c.latent_channels,
            groups: g,
        }
    }

    /// Encodes an image in [-1, 1] to the posterior (unscaled latents).
    pub fn forward(&self, image: Tensor<4>) -> Posterior {
        self.forward_limited(image, None)
    }

    /// [`Self::forward`] with no tensor larger than `limit` bytes (the device's largest storage
    /// binding): the full-resolution blocks run on channel blocks ([`crate::nn::Blocks`]).
    /// Without a limit, or when everything fits, it is exactly the unsplit computation.
    pub fn forward_limited(&self, image: Tensor<4>, limit: Option<u64>) -> Posterior {
        let [b, _, h, w] = image.dims();
        let c0 = self.conv_in.out_channels();
        let n = channel_blocks([b, c0, h, w], image.dtype().size(), c0 / self.groups, limit);
        let mut x = self.conv_in.forward_blocks(&[image], n);
        for (resnets, down) in &self.down_blocks {
            for r in resnets {
                x = r.forward_blocks(x, limit);
            }
            if let Some(d) = down {
                x = d.forward_blocks(x, limit, self.groups);
            }
        }
        let x = self.mid_block.forward(join_blocks(x));
        let moments = self.quant_conv.forward(self.conv_out.forward(self.conv_norm_out.forward_silu(x)));
        let l = self.latent_channels;
        let mean = moments.clone().narrow(1, 0, l);
        let logvar = moments.narrow(1, l, l).clamp(-30.0, 20.0);
        Posterior { mean, logvar }
    }
}

/// The VAE decoder with `post_quant_conv`: unscaled latents → image in about [-1, 1].
#[derive(Clone, Debug)]
pub struct VaeDecoder {
    post_quant_conv: Conv2d,
    conv_in: Conv2d,
    mid_block: VaeMidBlock,
    up_blocks: Vec<(Vec<ResnetBlock2D>, Option<Upsample2D>)>,
    conv_norm_out: GroupNorm,
    conv_out: Conv2d,
    groups: usize,
}

impl VaeDecoder {
    /// Loads `decoder.*` and `post_quant_conv`.
    pub fn load(vb: &Vars, c: &AutoencoderKLConfig) -> Self {
        let dvb = vb.pp("decoder");
        let boc = &c.block_out_channels;
        let g = c.norm_num_groups;
        let n = boc.len();
        let last = boc[n - 1];
        let mut prev = last;
        let up_blocks = (0..n)
            .map(|i| {
                let bvb = dvb.pp("up_blocks").pp(i);
                let ch = boc[n - 1 - i];
                let resnets = (0..c.layers_per_block + 1)
                    .map(|j| ResnetBlock2D::load(&bvb.pp("resnets").pp(j), if j == 0 { prev } else { ch }, ch, None, g, 1e-6))
                    .collect();
                prev = ch;
                let up = (i + 1 < n).then(|| Upsample2D::load(&bvb.pp("upsamplers").pp(0), ch));
                (resnets, up)
            })
            .collect();
        Self {
            post_quant_conv: Conv2d::load(&vb.pp("post_quant_conv"), c.latent_channels, c.latent_channels, 1, 1, 0),
            conv_in: Conv2d::load(&dvb.pp("conv_in"), c.latent_channels, last, 3, 1, 1),
            mid_block: VaeMidBlock::load(&dvb.pp("mid_block"), last, g),
            up_blocks,
            conv_norm_out: GroupNorm::load(&dvb.pp("conv_norm_out"), g, boc[0], 1e-6),
            conv_out: Conv2d::load(&dvb.pp("conv_out"), boc[0], c.out_channels, 3, 1, 1),
            groups: g,
        }
    }

    /// Decodes unscaled latents `[B, 4, h, w]` → image `[B, 3, 8h, 8w]`.
    pub fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        self.forward_limited(z, None)
    }

    /// [`Self::forward`] with no tensor larger than `limit` bytes (see
    /// [`VaeEncoder::forward_limited`]).
    pub fn forward_limited(&self, z: Tensor<4>, limit: Option<u64>) -> Tensor<4> {
        let x = self.conv_in.forward(self.post_quant_conv.forward(z));
        let mut x: Blocks = vec![self.mid_block.forward(x)];
        for (resnets, up) in &self.up_blocks {
            for r in resnets {
                x = r.forward_blocks(x, limit);
            }
            if let Some(u) = up {
                x = u.forward_blocks(x, limit, self.groups);
            }
        }
        let x = self.conv_norm_out.forward_blocks(x, true);
        join_blocks(self.conv_out.forward_blocks(&x, 1))
    }
}
