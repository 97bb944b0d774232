//! Port of diffusers `models/unets/unet_2d_blocks.py`: `CrossAttnDownBlock2D` /
//! `DownBlock2D` ([`DownBlock`]), `UNetMidBlock2DCrossAttn` ([`MidBlock`]) and
//! `CrossAttnUpBlock2D` / `UpBlock2D` ([`UpBlock`]). A block without attentions is the plain
//! variant; weight keys are identical.

use burn::tensor::Tensor;

use super::refs::RefCursor;
use crate::ops::cat_channels;
use crate::models::resnet::{Downsample2D, ResnetBlock2D, Upsample2D};
use super::transformer::Transformer2DModel;

/// A down block: ResNets, each followed by a transformer in the cross-attention variant,
/// then an optional downsampler.
#[derive(Clone, Debug)]
pub struct DownBlock {
    pub(super) resnets: Vec<ResnetBlock2D>,
    pub(super) attentions: Vec<Transformer2DModel>,
    pub(super) downsampler: Option<Downsample2D>,
}

impl DownBlock {
    /// Runs the block; pushes every intermediate state for the skip connections.
    pub fn forward(
        &self,
        mut x: Tensor<4>,
        temb: &Tensor<2>,
        context: &Tensor<3>,
        refs: &mut RefCursor<'_, '_>,
        skips: &mut Vec<Tensor<4>>,
    ) -> Tensor<4> {
        for (i, resnet) in self.resnets.iter().enumerate() {
            x = resnet.forward(x, Some(temb));
            if let Some(attn) = self.attentions.get(i) {
                x = attn.forward(x, context, refs);
            }
            skips.push(x.clone());
        }
        if let Some(down) = &self.downsampler {
            x = down.forward(x);
            skips.push(x.clone());
        }
        x
    }
}

/// `UNetMidBlock2DCrossAttn`: ResNet, transformer, ResNet.
#[derive(Clone, Debug)]
pub struct MidBlock {
    pub(super) resnet_0: ResnetBlock2D,
    pub(super) attention: Transformer2DModel,
    pub(super) resnet_1: ResnetBlock2D,
}

impl MidBlock {
    /// Runs the block.
    pub fn forward(&self, x: Tensor<4>, temb: &Tensor<2>, context: &Tensor<3>, refs: &mut RefCursor<'_, '_>) -> Tensor<4> {
        let x = self.resnet_0.forward(x, Some(temb));
        let x = self.attention.forward(x, context, refs);
        self.resnet_1.forward(x, Some(temb))
    }
}

/// An up block: ResNets over `[x ; skip]`, each followed by a transformer in the
/// cross-attention variant, then an optional upsampler.
#[derive(Clone, Debug)]
pub struct UpBlock {
    pub(super) resnets: Vec<ResnetBlock2D>,
    pub(super) attentions: Vec<Transformer2DModel>,
    pub(super) upsampler: Option<Upsample2D>,
}

impl UpBlock {
    /// Runs the block, consuming its skip connections from the end of `skips`. The upsampler
    /// targets the size of the next skip (`upsample_size` in diffusers) so latents that are
    /// not multiples of 8 work.
    pub fn forward(
        &self,
        mut x: Tensor<4>,
        temb: &Tensor<2>,
        context: &Tensor<3>,
        refs: &mut RefCursor<'_, '_>,
        skips: &mut Vec<Tensor<4>>,
    ) -> Tensor<4> {
        for (i, resnet) in self.resnets.iter().enumerate() {
            let skip = skips.pop().expect("a skip connection per up ResNet");
            x = resnet.forward(cat_channels(x, skip), Some(temb));
            if let Some(attn) = self.attentions.get(i) {
                x = attn.forward(x, context, refs);
            }
        }
        if let Some(up) = &self.upsampler {
            let size = skips.last().map(|s| {
                let [_, _, h, w] = s.dims();
                [h, w]
            });
            x = up.forward(x, size);
        }
        x
    }
}
