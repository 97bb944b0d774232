//! Port of diffusers `models/resnet.py` (`ResnetBlock2D`) and `models/downsampling.py` /
//! `models/upsampling.py` (`Downsample2D`, `Upsample2D`), shared by the UNet and the VAE.

use burn::tensor::Tensor;
use burn::tensor::activation::silu;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use crate::nn::{Conv2d, GroupNorm, Linear, Vars};

/// `ResnetBlock2D` with the "default" time-embedding mode (added after `conv1`); without a
/// time embedding in the VAE.
#[derive(Clone, Debug)]
pub struct ResnetBlock2D {
    norm1: GroupNorm,
    conv1: Conv2d,
    time_emb_proj: Option<Linear>,
    norm2: GroupNorm,
    conv2: Conv2d,
    conv_shortcut: Option<Conv2d>,
}

impl ResnetBlock2D {
    /// Loads a block `in_ch → out_ch`; `temb_ch` is `None` in the VAE.
    pub fn load(vb: &Vars, in_ch: usize, out_ch: usize, temb_ch: Option<usize>, groups: usize, eps: f64) -> Self {
        Self {
            norm1: GroupNorm::load(&vb.pp("norm1"), groups, in_ch, eps),
            conv1: Conv2d::load(&vb.pp("conv1"), in_ch, out_ch, 3, 1, 1),
            time_emb_proj: temb_ch.map(|t| Linear::load(&vb.pp("time_emb_proj"), t, out_ch, true)),
            norm2: GroupNorm::load(&vb.pp("norm2"), groups, out_ch, eps),
            conv2: Conv2d::load(&vb.pp("conv2"), out_ch, out_ch, 3, 1, 1),
            conv_shortcut: (in_ch != out_ch).then(|| Conv2d::load(&vb.pp("conv_shortcut"), in_ch, out_ch, 1, 1, 0)),
        }
    }

    /// `x + conv2(silu(norm2(conv1(silu(norm1(x))) + proj(silu(temb)))))` (output scale 1).
    pub fn forward(&self, x: Tensor<4>, temb: Option<&Tensor<2>>) -> Tensor<4> {
        let h = self.conv1.forward(self.norm1.forward_silu(x.clone()));
        let h = match (&self.time_emb_proj, temb) {
            (Some(proj), Some(t)) => {
                let [b, c] = [h.dims()[0], h.dims()[1]];
                h + proj.forward(silu(t.clone())).reshape([b, c, 1, 1])
            }
            _ => h,
        };
        let h = self.conv2.forward(self.norm2.forward_silu(h));
        let x = match &self.conv_shortcut {
            Some(conv) => conv.forward(x),
            None => x,
        };
        x + h
    }
}

/// `Downsample2D` with a convolution: stride 2, with padding `padding` (UNet: 1), or, with
/// padding 0 (VAE), an explicit zero pad of one row/column at the bottom/right first.
#[derive(Clone, Debug)]
pub struct Downsample2D {
    conv: Conv2d,
    pad_bottom_right: bool,
}

impl Downsample2D {
    /// Loads `conv` (`channels → channels`, 3×3, stride 2).
    pub fn load(vb: &Vars, channels: usize, padding: usize) -> Self {
        Self { conv: Conv2d::load(&vb.pp("conv"), channels, channels, 3, 2, padding), pad_bottom_right: padding == 0 }
    }

    /// Halves the resolution (rounding up).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = if self.pad_bottom_right { x.pad((0, 1, 0, 1), burn::tensor::ops::PadMode::Constant(0.0)) } else { x };
        self.conv.forward(x)
    }
}

/// `Upsample2D` with a convolution: nearest-neighbour ×2 (or to an explicit size, as the UNet
/// does when the latent is not a multiple of 8), then a 3×3 convolution.
#[derive(Clone, Debug)]
pub struct Upsample2D {
    conv: Conv2d,
}

impl Upsample2D {
    /// Loads `conv` (`channels → channels`, 3×3).
    pub fn load(vb: &Vars, channels: usize) -> Self {
        Self { conv: Conv2d::load(&vb.pp("conv"), channels, channels, 3, 1, 1) }
    }

    /// Upsamples to `size` (default: twice the input).
    pub fn forward(&self, x: Tensor<4>, size: Option<[usize; 2]>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let size = size.unwrap_or([h * 2, w * 2]);
        let x = interpolate(x, InterpolateOptions::new(InterpolateMode::Nearest).with_output_size(size));
        self.conv.forward(x)
    }
}
