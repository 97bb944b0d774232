//! Port of diffusers `models/transformers/transformer_2d.py` (`Transformer2DModel`, linear
//! projection variant) and `models/attention.py` (`BasicTransformerBlock`), with EZIGen's
//! capture and adapter injection (official `models/reference_unet/attention_ref.py`,
//! `models/main_unet/attention_main.py`) as explicit arguments.

use burn::tensor::Tensor;

use super::adapter::Adapter;
use super::attention::{Attention, FeedForward};
use super::refs::{RefCursor, SubjectKv};
use crate::nn::{GroupNorm, LayerNorm, Linear, ParamMut, Vars};

/// `BasicTransformerBlock` (self-attention, cross-attention, GEGLU feed-forward; pre-norm)
/// with an optional EZIGen adapter.
#[derive(Clone, Debug)]
pub struct BasicTransformerBlock {
    norm1: LayerNorm,
    attn1: Attention,
    adapter: Option<Adapter>,
    norm2: LayerNorm,
    attn2: Attention,
    norm3: LayerNorm,
    ff: FeedForward,
}

impl BasicTransformerBlock {
    /// Loads the block; the adapter too when `with_adapter`.
    pub fn load(vb: &Vars, dim: usize, heads: usize, cross_dim: usize, eps: f64, with_adapter: bool) -> Self {
        Self {
            norm1: LayerNorm::load(&vb.pp("norm1"), dim, eps),
            attn1: Attention::load(&vb.pp("attn1"), dim, dim, heads),
            adapter: with_adapter.then(|| Adapter::load(vb, dim, heads, eps)),
            norm2: LayerNorm::load(&vb.pp("norm2"), dim, eps),
            attn2: Attention::load(&vb.pp("attn2"), dim, cross_dim, heads),
            norm3: LayerNorm::load(&vb.pp("norm3"), dim, eps),
            ff: FeedForward::load(&vb.pp("ff"), dim),
        }
    }

    /// Spec §3.1: `h1 = h + attn1(norm1(h))`; with the adapter active
    /// `h2 = h1 + adapter(adapter_norm(h1), w·s)`, else `h2 = h1`;
    /// `h3 = h2 + attn2(norm2(h2), text)`; `h4 = h3 + ff(norm3(h3))`. In capture mode the
    /// `norm1` output is recorded.
    pub fn forward(&self, h: Tensor<3>, context: &Tensor<3>, refs: &mut RefCursor<'_, '_>) -> Tensor<3> {
        let n1 = self.norm1.forward(h.clone());
        let subject = refs.visit(&n1);
        // Each residual add rides with the bias of the layer before it (one dispatch on wgpu).
        let h = self.attn1.forward_residual(n1, None, &[h]);
        let h = match (subject, &self.adapter) {
            (Some(s), Some(adapter)) => adapter.forward(h, &s),
            _ => h,
        };
        let h = self.attn2.forward_residual(self.norm2.forward(h.clone()), Some(context.clone()), &[h]);
        self.ff.forward_residual(self.norm3.forward(h.clone()), &[h])
    }

    /// Whether an adapter was loaded.
    pub fn has_adapter(&self) -> bool {
        self.adapter.is_some()
    }

    /// The adapter's keys and values of the subject tokens (`None` without an adapter).
    pub fn project_subject(&self, s: Tensor<3>) -> Option<SubjectKv> {
        self.adapter.as_ref().map(|a| a.project(s))
    }

    /// Visits the adapter's tensors (none without an adapter) under the block prefix.
    pub fn visit_adapter_params(&mut self, block: &str, f: &mut dyn FnMut(&str, ParamMut<'_>)) {
        if let Some(adapter) = &mut self.adapter {
            adapter.visit_params(block, f);
        }
    }
}

/// `Transformer2DModel` with `use_linear_projection`: GroupNorm (eps 1e-6) → tokens →
/// `proj_in` → one `BasicTransformerBlock` → `proj_out` → image → residual.
#[derive(Clone, Debug)]
pub struct Transformer2DModel {
    norm: GroupNorm,
    proj_in: Linear,
    block: BasicTransformerBlock,
    proj_out: Linear,
}

impl Transformer2DModel {
    /// Loads `norm`, `proj_in`, `transformer_blocks.0`, `proj_out`.
    pub fn load(vb: &Vars, channels: usize, heads: usize, cross_dim: usize, groups: usize, eps: f64, with_adapter: bool) -> Self {
        Self {
            norm: GroupNorm::load(&vb.pp("norm"), groups, channels, 1e-6),
            proj_in: Linear::load(&vb.pp("proj_in"), channels, channels, true),
            block: BasicTransformerBlock::load(&vb.pp("transformer_blocks").pp(0), channels, heads, cross_dim, eps, with_adapter),
            proj_out: Linear::load(&vb.pp("proj_out"), channels, channels, true),
        }
    }

    /// Applies the transformer to `[B, C, H, W]`.
    pub fn forward(&self, x: Tensor<4>, context: &Tensor<3>, refs: &mut RefCursor<'_, '_>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        // `[B, H, W, C]` first: the norm's output is channels-last on wgpu, so this copies nothing.
        let tokens: Tensor<3> = self.norm.forward(x.clone()).permute([0, 2, 3, 1]).reshape([b, h * w, c]);
        let tokens = self.block.forward(self.proj_in.forward(tokens), context, refs);
        // The residual as tokens (free when `x` is channels-last, a convolution's output), added
        // with proj_out's bias; the result is a channels-last view of `[B, C, H, W]` (reshaped
        // while contiguous, then permuted: a strided reshape copies at batch 1).
        let residual: Tensor<3> = x.permute([0, 2, 3, 1]).reshape([b, h * w, c]);
        let out: Tensor<4> = self.proj_out.forward_residual(tokens, &[residual]).reshape([b, h, w, c]);
        out.permute([0, 3, 1, 2])
    }

    /// Whether the block has an adapter.
    pub fn has_adapter(&self) -> bool {
        self.block.has_adapter()
    }

    /// The adapter's keys and values of the subject tokens `s` `[B, M, C]` (`None` without an
    /// adapter).
    pub fn project_subject(&self, s: Tensor<3>) -> Option<SubjectKv> {
        self.block.project_subject(s)
    }

    /// Visits the adapter's tensors under `{prefix}.transformer_blocks.0`.
    pub fn visit_adapter_params(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ParamMut<'_>)) {
        self.block.visit_adapter_params(&format!("{prefix}.transformer_blocks.0"), f);
    }
}
