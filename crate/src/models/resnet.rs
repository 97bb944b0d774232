//! Port of diffusers `models/resnet.py` (`ResnetBlock2D`) and `models/downsampling.py` /
//! `models/upsampling.py` (`Downsample2D`, `Upsample2D`), shared by the UNet and the VAE.

use burn::tensor::Tensor;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use crate::kernels::norm::Shift;
use crate::nn::{Blocks, Conv2d, GroupNorm, Linear, Vars, channel_blocks, reblock};

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
    /// `temb_silu` is `silu(temb)`, which the caller computes once per UNet forward: diffusers
    /// applies the same SiLU to the same embedding in every block (7 dispatches each on wgpu).
    pub fn forward(&self, x: Tensor<4>, temb_silu: Option<&Tensor<2>>) -> Tensor<4> {
        let h = self.conv1.forward(self.norm1.forward_silu(x.clone()));
        // The time embedding (with its projection's bias) is added inside norm2's dispatch on the
        // WGSL path.
        let projected = match (&self.time_emb_proj, temb_silu) {
            (Some(proj), Some(t)) => Some((proj.forward_unbiased(t.clone()), proj.bias())),
            _ => None,
        };
        let shift = projected.as_ref().map(|(shift, bias)| Shift { shift, bias: *bias });
        let h = self.conv2.forward(self.norm2.forward_silu_shifted(h, shift));
        let x = match &self.conv_shortcut {
            Some(conv) => conv.forward(x),
            None => x,
        };
        // `h` first: the sum then takes the layout of the convolution's output (channels-last
        // on wgpu) whatever `x`'s is. The same values either way.
        h + x
    }

    /// [`Self::forward`] without time embedding on a channel-blocked map ([`Blocks`]), every
    /// tensor within `limit` bytes.
    pub fn forward_blocks(&self, x: Blocks, limit: Option<u64>) -> Blocks {
        let [b, _, h, w] = x[0].dims();
        let elem = x[0].dtype().size();
        let n_out = channel_blocks([b, self.conv1.out_channels(), h, w], elem, self.norm2.group_size(), limit);
        let hb = self.norm1.forward_blocks(x.clone(), true);
        let hb = self.conv1.forward_blocks(&hb, n_out);
        let hb = self.norm2.forward_blocks(hb, true);
        let hb = self.conv2.forward_blocks(&hb, n_out);
        let xb = match &self.conv_shortcut {
            Some(conv) => conv.forward_blocks(&x, n_out),
            None => reblock(x, n_out),
        };
        xb.into_iter().zip(hb).map(|(x, h)| x + h).collect()
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

    /// [`Self::forward`] on a channel-blocked map, every tensor (the padded input too) within
    /// `limit` bytes; output blocks hold whole groups of `groups`.
    pub fn forward_blocks(&self, x: Blocks, limit: Option<u64>, groups: usize) -> Blocks {
        let [b, c, h, w] = [x[0].dims()[0], x.iter().map(|t| t.dims()[1]).sum(), x[0].dims()[2], x[0].dims()[3]];
        let elem = x[0].dtype().size();
        let pad = usize::from(self.pad_bottom_right);
        let x = reblock(x, channel_blocks([b, c, h + pad, w + pad], elem, 1, limit));
        let x: Blocks = if self.pad_bottom_right {
            x.into_iter().map(|t| t.pad((0, 1, 0, 1), burn::tensor::ops::PadMode::Constant(0.0))).collect()
        } else {
            x
        };
        let n_out = channel_blocks([b, c, h.div_ceil(2), w.div_ceil(2)], elem, c / groups.max(1), limit);
        self.conv.forward_blocks(&x, n_out)
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

    /// ×2 on a channel-blocked map, every tensor within `limit` bytes; output blocks hold whole
    /// groups of `groups`.
    pub fn forward_blocks(&self, x: Blocks, limit: Option<u64>, groups: usize) -> Blocks {
        let [b, c, h, w] = [x[0].dims()[0], x.iter().map(|t| t.dims()[1]).sum(), x[0].dims()[2], x[0].dims()[3]];
        let elem = x[0].dtype().size();
        let size = [h * 2, w * 2];
        let x: Blocks = reblock(x, channel_blocks([b, c, size[0], size[1]], elem, 1, limit))
            .into_iter()
            .map(|t| interpolate(t, InterpolateOptions::new(InterpolateMode::Nearest).with_output_size(size)))
            .collect();
        let n_out = channel_blocks([b, c, size[0], size[1]], elem, c / groups.max(1), limit);
        self.conv.forward_blocks(&x, n_out)
    }
}
