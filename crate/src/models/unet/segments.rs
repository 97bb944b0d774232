//! The UNet's forward pass as a list of segments (a ResNet with its transformer, a sampler, the
//! mid block's parts, the output head), each runnable on its own. Training recomputes one
//! segment at a time in the backward pass instead of keeping the whole pass's graph (gradient
//! checkpointing by segments), which is what lets a full-size step fit in memory.

use burn::tensor::Tensor;

use super::refs::{RefCursor, RefMode, SubjectFeatures};
use super::transformer::Transformer2DModel;
use super::UNet2DConditionModel;
use crate::models::resnet::{Downsample2D, ResnetBlock2D, Upsample2D};

/// One segment of the forward pass. `k` is the index of a segment's transformer block (the
/// order of captured features).
pub enum Segment<'m> {
    /// `conv_in`; its output is the first skip connection.
    ConvIn,
    /// A down ResNet and its transformer (cross-attention blocks); pushes its output.
    Down {
        /// The ResNet.
        resnet: &'m ResnetBlock2D,
        /// The transformer with its block index.
        attn: Option<(&'m Transformer2DModel, usize)>,
    },
    /// A downsampler; pushes its output.
    Downsample(&'m Downsample2D),
    /// One of the mid block's two ResNets.
    MidResnet(&'m ResnetBlock2D),
    /// The mid block's transformer.
    MidAttn(&'m Transformer2DModel, usize),
    /// An up ResNet over `[x; skip]` (the skip popped) and its transformer.
    Up {
        /// The ResNet.
        resnet: &'m ResnetBlock2D,
        /// The transformer with its block index.
        attn: Option<(&'m Transformer2DModel, usize)>,
    },
    /// An upsampler to `size`, the next skip's spatial size.
    Upsample(&'m Upsample2D),
    /// `conv_norm_out`, SiLU, `conv_out`.
    Out,
}

impl Segment<'_> {
    /// Whether the segment pushes its output as a skip connection.
    pub fn pushes_skip(&self) -> bool {
        matches!(self, Segment::ConvIn | Segment::Down { .. } | Segment::Downsample(_))
    }

    /// Whether the segment pops a skip connection.
    pub fn pops_skip(&self) -> bool {
        matches!(self, Segment::Up { .. })
    }

    /// The transformer block index, if the segment has a transformer.
    pub fn block(&self) -> Option<usize> {
        self.transformer().map(|(_, k)| k)
    }

    /// The segment's transformer with its block index, if it has one.
    fn transformer(&self) -> Option<(&Transformer2DModel, usize)> {
        match self {
            Segment::Down { attn, .. } | Segment::Up { attn, .. } => *attn,
            Segment::MidAttn(t, k) => Some((t, *k)),
            _ => None,
        }
    }

    /// Runs the segment on `x` (and `skip` for an up segment, `size` for an upsampler), with
    /// the adapter on `subject` (block k's `w_k · s_k`) when given, stock otherwise.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        unet: &UNet2DConditionModel,
        x: Tensor<4>,
        skip: Option<Tensor<4>>,
        size: Option<[usize; 2]>,
        temb: &Tensor<2>,
        context: &Tensor<3>,
        subject: Option<Tensor<3>>,
    ) -> Tensor<4> {
        // The adapter's keys and values of the subject, inside this segment's graph (training
        // differentiates through the projections).
        let projected = subject.and_then(|s| self.transformer().and_then(|(t, _)| t.project_subject(s)));
        let features = SubjectFeatures { per_block: projected.into_iter().collect() };
        let mut mode = if features.is_empty() { RefMode::Off } else { RefMode::Inject(&features) };
        let mut refs = RefCursor::new(&mut mode);
        let attend = |x: Tensor<4>, attn: Option<(&Transformer2DModel, usize)>, refs: &mut RefCursor<'_, '_>| match attn {
            Some((t, _)) => t.forward(x, context, refs),
            None => x,
        };
        match self {
            Segment::ConvIn => unet.conv_in.forward(x),
            Segment::Down { resnet, attn } => attend(resnet.forward(x, Some(temb)), *attn, &mut refs),
            Segment::Downsample(d) => d.forward(x),
            Segment::MidResnet(r) => r.forward(x, Some(temb)),
            Segment::MidAttn(t, _) => t.forward(x, context, &mut refs),
            Segment::Up { resnet, attn } => {
                let skip = skip.expect("an up segment takes its skip connection");
                attend(resnet.forward(crate::ops::cat_channels(x, skip), Some(temb)), *attn, &mut refs)
            }
            Segment::Upsample(u) => u.forward(x, size),
            Segment::Out => unet.conv_out.forward(unet.conv_norm_out.forward_silu(x)),
        }
    }
}

impl UNet2DConditionModel {
    /// The forward pass as segments, in order ([`UNet2DConditionModel::forward`] is their
    /// composition).
    pub fn segments(&self) -> Vec<Segment<'_>> {
        let mut out = vec![Segment::ConvIn];
        let mut k = 0;
        let mut next = |has: bool| {
            has.then(|| {
                k += 1;
                k - 1
            })
        };
        for block in &self.down_blocks {
            for (i, resnet) in block.resnets.iter().enumerate() {
                let attn = block.attentions.get(i).and_then(|t| next(true).map(|k| (t, k)));
                out.push(Segment::Down { resnet, attn });
            }
            if let Some(d) = &block.downsampler {
                out.push(Segment::Downsample(d));
            }
        }
        out.push(Segment::MidResnet(&self.mid_block.resnet_0));
        out.push(Segment::MidAttn(&self.mid_block.attention, next(true).expect("index")));
        out.push(Segment::MidResnet(&self.mid_block.resnet_1));
        for block in &self.up_blocks {
            for (i, resnet) in block.resnets.iter().enumerate() {
                let attn = block.attentions.get(i).and_then(|t| next(true).map(|k| (t, k)));
                out.push(Segment::Up { resnet, attn });
            }
            if let Some(u) = &block.upsampler {
                out.push(Segment::Upsample(u));
            }
        }
        out.push(Segment::Out);
        out
    }

    /// `silu` of the time embedding of `timestep` for a batch of `b` (the first stage of every
    /// forward; every resnet takes it as it is).
    pub fn time_embedding_for(&self, timestep: f32, b: usize, dtype: burn::tensor::DType, device: &burn::tensor::Device) -> Tensor<2> {
        let boc0 = self.config.block_out_channels[0];
        let t = super::embeddings::timestep_embedding(&vec![timestep; b], boc0, self.config.flip_sin_to_cos, self.config.freq_shift, device, dtype);
        self.time_embedding.forward_silu(t)
    }

    /// Block k's injected features `w_k · s_k` from its captured `s_k` `[1, M, C]`.
    ///
    /// # Panics
    /// When the UNet has no adapters (a programming error).
    pub fn subject_feature(&self, s: &Tensor<3>, k: usize) -> Tensor<3> {
        let weights = self.learnable_weights.as_ref().expect("subject_feature needs a UNet with adapters");
        s.clone() * weights.clone().narrow(0, k, 1).cast(s.dtype()).reshape([1, 1, 1])
    }
}
