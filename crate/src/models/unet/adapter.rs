//! EZIGen's adapter attention (official `models/main_unet/adapter.py`:
//! `Attention_Adapter` + `AttnProcessor2_0_Adapter`), inserted into every
//! `BasicTransformerBlock` between self-attention and cross-attention (spec §3).

use burn::tensor::Tensor;

use crate::nn::{LayerNorm, Linear};
use crate::kernels::{Kernels, flash_attention};
use crate::weights::VarBuilder;

/// One block's adapter: its own LayerNorm (`adapter_norm`) and an attention whose keys and
/// values run over `[normalised main tokens ; w_k·subject tokens]` (main first), with the
/// same q/k/v projections for both parts and the internal `+ n` residual.
#[derive(Clone, Debug)]
pub struct Adapter {
    adapter_norm: LayerNorm,
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    heads: usize,
    kernels: Kernels,
}

impl Adapter {
    /// Loads `adapter.{to_q,to_k,to_v,to_out.0}` and `adapter_norm` from the block's builder.
    pub fn load(block: &VarBuilder, dim: usize, heads: usize, eps: f64) -> Self {
        let vb = block.pp("adapter");
        Self {
            adapter_norm: LayerNorm::load(&block.pp("adapter_norm"), dim, eps),
            to_q: Linear::load(&vb.pp("to_q"), dim, dim, false),
            to_k: Linear::load(&vb.pp("to_k"), dim, dim, false),
            to_v: Linear::load(&vb.pp("to_v"), dim, dim, false),
            to_out: Linear::load(&vb.pp("to_out").pp(0), dim, dim, true),
            heads,
            kernels: block.kernels(),
        }
    }

    /// Returns `a = n + to_out(attn(q(n), k/v([n; s])))` with `n = adapter_norm(h1)`; the block
    /// then adds it to `h1` (the double residual). `subject` is `[B, M, dim]`, already
    /// scaled by the block's learnable weight.
    pub fn forward(&self, h1: Tensor<3>, subject: &Tensor<3>) -> Tensor<3> {
        let n = self.adapter_norm.forward(h1);
        let dim = n.dims()[2];
        let kv_in = Tensor::cat(vec![n.clone(), subject.clone()], 1);
        let q = self.to_q.forward(n.clone());
        let k = self.to_k.forward(kv_in.clone());
        let v = self.to_v.forward(kv_in);
        let scale = 1.0 / ((dim / self.heads) as f64).sqrt();
        self.to_out.forward(flash_attention::attention(self.kernels, q, k, v, self.heads, scale)) + n
    }
}
