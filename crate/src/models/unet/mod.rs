//! Port of diffusers `models/unets/unet_2d_condition.py` (`UNet2DConditionModel`), with
//! EZIGen's two extensions as explicit forward arguments ([`RefMode`]): capture of the
//! reference features (official `models/reference_unet/`) and injection through adapters
//! (official `models/main_unet/`). One set of UNet weights serves the reference pass, the main
//! pass and the inversion.

pub mod adapter;
pub mod attention;
pub mod blocks;
pub mod config;
pub mod embeddings;
pub mod refs;
pub mod segments;
pub mod transformer;

use burn::tensor::Tensor;

pub use config::UNet2DConditionConfig;
pub use refs::{FeatureBank, RefCursor, RefMode, SubjectFeatures, SubjectKv};

use blocks::{DownBlock, MidBlock, UpBlock};
use embeddings::TimestepEmbedding;
use transformer::Transformer2DModel;

use crate::models::resnet::{Downsample2D, ResnetBlock2D, Upsample2D};
use crate::nn::{Conv2d, GroupNorm, ParamMut, Vars};

/// The UNet of Stable Diffusion 2.x, optionally with EZIGen's 16 adapters and
/// `learnable_weights`.
#[derive(Clone, Debug)]
pub struct UNet2DConditionModel {
    conv_in: Conv2d,
    time_embedding: TimestepEmbedding,
    down_blocks: Vec<DownBlock>,
    mid_block: MidBlock,
    up_blocks: Vec<UpBlock>,
    conv_norm_out: GroupNorm,
    conv_out: Conv2d,
    learnable_weights: Option<Tensor<1>>,
    config: UNet2DConditionConfig,
}

impl UNet2DConditionModel {
    /// Loads the UNet by diffusers key names; with `with_adapters`, also every transformer
    /// block's `adapter.*` / `adapter_norm.*` and the top-level `learnable_weights`.
    pub fn load(vb: &Vars, config: &UNet2DConditionConfig, with_adapters: bool) -> Self {
        let c = config;
        let boc = &c.block_out_channels;
        let n = boc.len();
        let temb_ch = boc[0] * 4;
        let (groups, eps) = (c.norm_num_groups, c.norm_eps);
        let cross = c.cross_attention_dim;
        let transformer = |vb: &Vars, ch: usize, heads: usize| {
            Transformer2DModel::load(vb, ch, heads, cross, groups, eps, with_adapters)
        };

        let mut down_blocks = Vec::with_capacity(n);
        let mut out_ch = boc[0];
        for (i, kind) in c.down_block_types.iter().enumerate() {
            let vb = vb.pp("down_blocks").pp(i);
            let in_ch = out_ch;
            out_ch = boc[i];
            let cross_attn = kind == "CrossAttnDownBlock2D";
            let resnets = (0..c.layers_per_block)
                .map(|j| {
                    let r_in = if j == 0 { in_ch } else { out_ch };
                    ResnetBlock2D::load(&vb.pp("resnets").pp(j), r_in, out_ch, Some(temb_ch), groups, eps)
                })
                .collect();
            let attentions = if cross_attn {
                (0..c.layers_per_block).map(|j| transformer(&vb.pp("attentions").pp(j), out_ch, c.heads(i))).collect()
            } else {
                Vec::new()
            };
            let downsampler = (i + 1 < n)
                .then(|| Downsample2D::load(&vb.pp("downsamplers").pp(0), out_ch, c.downsample_padding));
            down_blocks.push(DownBlock { resnets, attentions, downsampler });
        }

        let mid_ch = boc[n - 1];
        let mvb = vb.pp("mid_block");
        let mid_block = MidBlock {
            resnet_0: ResnetBlock2D::load(&mvb.pp("resnets").pp(0), mid_ch, mid_ch, Some(temb_ch), groups, eps),
            attention: transformer(&mvb.pp("attentions").pp(0), mid_ch, c.heads(n - 1)),
            resnet_1: ResnetBlock2D::load(&mvb.pp("resnets").pp(1), mid_ch, mid_ch, Some(temb_ch), groups, eps),
        };

        let mut up_blocks = Vec::with_capacity(n);
        let mut prev_out = boc[n - 1];
        for (i, kind) in c.up_block_types.iter().enumerate() {
            let vb = vb.pp("up_blocks").pp(i);
            let level = n - 1 - i;
            let out_ch = boc[level];
            let in_ch = boc[level.saturating_sub(1)];
            let cross_attn = kind == "CrossAttnUpBlock2D";
            let layers = c.layers_per_block + 1;
            let resnets = (0..layers)
                .map(|j| {
                    let skip = if j == layers - 1 { in_ch } else { out_ch };
                    let r_in = if j == 0 { prev_out } else { out_ch };
                    ResnetBlock2D::load(&vb.pp("resnets").pp(j), r_in + skip, out_ch, Some(temb_ch), groups, eps)
                })
                .collect();
            let attentions = if cross_attn {
                (0..layers).map(|j| transformer(&vb.pp("attentions").pp(j), out_ch, c.heads(level))).collect()
            } else {
                Vec::new()
            };
            let upsampler = (i + 1 < n).then(|| Upsample2D::load(&vb.pp("upsamplers").pp(0), out_ch));
            up_blocks.push(UpBlock { resnets, attentions, upsampler });
            prev_out = out_ch;
        }

        let n_transformers = down_blocks.iter().map(|b| b.attentions.len()).sum::<usize>()
            + 1
            + up_blocks.iter().map(|b| b.attentions.len()).sum::<usize>();
        Self {
            conv_in: Conv2d::load(&vb.pp("conv_in"), c.in_channels, boc[0], 3, 1, 1),
            time_embedding: TimestepEmbedding::load(&vb.pp("time_embedding"), boc[0], temb_ch),
            down_blocks,
            mid_block,
            up_blocks,
            conv_norm_out: GroupNorm::load(&vb.pp("conv_norm_out"), groups, boc[0], eps),
            conv_out: Conv2d::load(&vb.pp("conv_out"), boc[0], c.out_channels, 3, 1, 1),
            learnable_weights: with_adapters.then(|| vb.take("learnable_weights", [n_transformers])),
            config: c.clone(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &UNet2DConditionConfig {
        &self.config
    }

    /// Whether EZIGen's adapters are loaded.
    pub fn has_adapters(&self) -> bool {
        self.learnable_weights.is_some()
    }

    /// Number of transformer blocks (16 for SD 2.x), i.e. of captured features.
    pub fn num_transformer_blocks(&self) -> usize {
        self.transformers().len()
    }

    /// The transformers in traversal order (down, mid, up): block k of the captured features.
    fn transformers(&self) -> Vec<&Transformer2DModel> {
        let mut out: Vec<&Transformer2DModel> = self.down_blocks.iter().flat_map(|b| &b.attentions).collect();
        out.push(&self.mid_block.attention);
        out.extend(self.up_blocks.iter().flat_map(|b| &b.attentions));
        out
    }

    /// Prepares captured features for injection: scales block k's features by
    /// `learnable_weights[k]` (as the official `unet_main.py` does at the start of every
    /// forward; done once here), projects them with block k's adapter keys and values (the
    /// subject half of the adapter's `k/v([n; s])`, the same at every step; done once here).
    /// Features of another batch than `batch` are taken from their first element and shared
    /// by the whole batch (identical for both CFG branches; the attention reads them in place).
    ///
    /// # Panics
    /// When the UNet has no adapters or the bank does not hold one tensor per block
    /// (programming errors: the pipeline checks both).
    pub fn subject_features(&self, bank: &FeatureBank, batch: usize) -> SubjectFeatures {
        let weights = self.learnable_weights.as_ref().expect("subject_features needs a UNet with adapters");
        assert_eq!(bank.features.len(), self.num_transformer_blocks(), "one captured feature per transformer block");
        let per_block = bank
            .features
            .iter()
            .zip(self.transformers())
            .enumerate()
            .map(|(k, (s, t))| {
                let w = weights.clone().narrow(0, k, 1).cast(s.dtype()).reshape([1, 1, 1]);
                let s = s.clone() * w;
                let s = if s.dims()[0] == batch { s } else { s.narrow(0, 0, 1) };
                t.project_subject(s).expect("a UNet with adapters has one in every block")
            })
            .collect();
        SubjectFeatures { per_block }
    }

    /// Visits EZIGen's trainable tensors (spec §6.1) by their checkpoint keys (§3.4), in the
    /// order of the official `main_unet.named_parameters()`: every block's
    /// `adapter.{to_q,to_k,to_v,to_out.0}` and `adapter_norm`, down, mid, up, then
    /// `learnable_weights`. Nothing without adapters.
    pub fn visit_trainable(&mut self, f: &mut dyn FnMut(&str, ParamMut<'_>)) {
        for (i, block) in self.down_blocks.iter_mut().enumerate() {
            for (j, attn) in block.attentions.iter_mut().enumerate() {
                attn.visit_adapter_params(&format!("down_blocks.{i}.attentions.{j}"), f);
            }
        }
        self.mid_block.attention.visit_adapter_params("mid_block.attentions.0", f);
        for (i, block) in self.up_blocks.iter_mut().enumerate() {
            for (j, attn) in block.attentions.iter_mut().enumerate() {
                attn.visit_adapter_params(&format!("up_blocks.{i}.attentions.{j}"), f);
            }
        }
        if let Some(w) = &mut self.learnable_weights {
            f("learnable_weights", ParamMut::Vector(w));
        }
    }

    /// Predicts the noise for `sample` `[B, 4, h, w]` at `timestep` (the same for the whole
    /// batch) given text `context` `[B, 77, cross_dim]`. `refs` selects stock behaviour,
    /// feature capture or adapter injection.
    pub fn forward(&self, sample: Tensor<4>, timestep: f32, context: &Tensor<3>, mut refs: RefMode<'_>) -> Tensor<4> {
        // silu(temb), once for every resnet (see ResnetBlock2D::forward).
        let temb = self.time_embedding_for(timestep, sample.dims()[0], sample.dtype(), &sample.device());
        let mut cursor = RefCursor::new(&mut refs);

        let mut x = self.conv_in.forward(sample);
        let mut skips = vec![x.clone()];
        for block in &self.down_blocks {
            x = block.forward(x, &temb, context, &mut cursor, &mut skips);
        }
        x = self.mid_block.forward(x, &temb, context, &mut cursor);
        for block in &self.up_blocks {
            x = block.forward(x, &temb, context, &mut cursor, &mut skips);
        }
        self.conv_out.forward(self.conv_norm_out.forward_silu(x))
    }
}
