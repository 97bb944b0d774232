//! EZIGen's adapter attention (official `models/main_unet/adapter.py`:
//! `Attention_Adapter` + `AttnProcessor2_0_Adapter`), inserted into every
//! `BasicTransformerBlock` between self-attention and cross-attention (spec §3).

use burn::tensor::Tensor;

use super::attention::Attention;
use super::refs::SubjectKv;
use crate::nn::{LayerNorm, ParamMut};
use crate::nn::Vars;

/// One block's adapter: its own LayerNorm (`adapter_norm`) and an [`Attention`] whose keys and
/// values run over `[normalised main tokens ; w_k·subject tokens]` (main first), with the
/// same q/k/v projections for both parts and the internal `+ n` residual.
#[derive(Clone, Debug)]
pub struct Adapter {
    adapter_norm: LayerNorm,
    adapter: Attention,
}

impl Adapter {
    /// Loads `adapter.{to_q,to_k,to_v,to_out.0}` and `adapter_norm` from the block's builder.
    pub fn load(block: &Vars, dim: usize, heads: usize, eps: f64) -> Self {
        Self {
            adapter_norm: LayerNorm::load(&block.pp("adapter_norm"), dim, eps),
            adapter: Attention::load(&block.pp("adapter"), dim, dim, heads),
        }
    }

    /// Returns `h2 = h1 + a` with `a = n + to_out(attn(q(n), k/v([n; s])))` and
    /// `n = adapter_norm(h1)` (the double residual; both adds and `to_out`'s bias in one
    /// dispatch on the WGSL path). `subject` holds `k(s)` and `v(s)` ([`Self::project`]): the
    /// same projections applied to the subject part of `[n; s]`, computed once per job.
    pub fn forward(&self, h1: Tensor<3>, subject: &SubjectKv) -> Tensor<3> {
        let n = self.adapter_norm.forward(h1.clone());
        self.adapter.forward_joint(n.clone(), None, Some(subject), &[n, h1])
    }

    /// The adapter's keys and values of the subject tokens `s` `[B, M, dim]` (already scaled
    /// by the block's learnable weight).
    pub fn project(&self, s: Tensor<3>) -> SubjectKv {
        self.adapter.project_kv(s)
    }

    /// Visits the adapter's tensors under the block prefix: `adapter_norm.*` and
    /// `adapter.{to_q,to_k,to_v,to_out.0}.*` (the checkpoint keys of spec §3.4).
    pub fn visit_params(&mut self, block: &str, f: &mut dyn FnMut(&str, ParamMut<'_>)) {
        self.adapter.visit_params(&format!("{block}.adapter"), f);
        self.adapter_norm.visit_params(&format!("{block}.adapter_norm"), f);
    }
}
