//! Port of diffusers `models/attention_processor.py` (`Attention` with `AttnProcessor2_0`) and
//! `models/attention.py` (`FeedForward` with `GEGLU`).

use burn::tensor::Tensor;

use super::refs::SubjectKv;
use crate::nn::{Linear, ParamMut};
use crate::kernels::{Kernels, flash_attention, geglu};
use crate::nn::Vars;

/// `Attention` as SD's transformer blocks use it: bias-free q/k/v, `to_out.0` with bias,
/// head dimension `dim / heads`, scale `1/√head_dim`, no mask.
#[derive(Clone, Debug)]
pub struct Attention {
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    heads: usize,
    kernels: Kernels,
}

impl Attention {
    /// Loads `to_q` (`dim → dim`), `to_k`/`to_v` (`kv_dim → dim`) and `to_out.0`.
    pub fn load(vb: &Vars, dim: usize, kv_dim: usize, heads: usize) -> Self {
        Self {
            to_q: Linear::load(&vb.pp("to_q"), dim, dim, false),
            to_k: Linear::load(&vb.pp("to_k"), kv_dim, dim, false),
            to_v: Linear::load(&vb.pp("to_v"), kv_dim, dim, false),
            to_out: Linear::load(&vb.pp("to_out").pp(0), dim, dim, true),
            heads,
            kernels: vb.kernels(),
        }
    }

    /// Attends from `x` `[B, N, dim]` to `context` `[B, M, kv_dim]` (itself for
    /// self-attention).
    pub fn forward(&self, x: Tensor<3>, context: Option<Tensor<3>>) -> Tensor<3> {
        self.forward_residual(x, context, &[])
    }

    /// [`Self::forward`] plus `residuals` (at most two, each `[B, N, dim]`), added with
    /// `to_out`'s bias in one dispatch on the WGSL path.
    pub fn forward_residual(&self, x: Tensor<3>, context: Option<Tensor<3>>, residuals: &[Tensor<3>]) -> Tensor<3> {
        self.forward_joint(x, context, None, residuals)
    }

    /// [`Self::forward_residual`] with the keys and values of `context` (itself when `None`)
    /// followed by the already projected `extra` ones: attention over `[context; extra]`.
    pub fn forward_joint(&self, x: Tensor<3>, context: Option<Tensor<3>>, extra: Option<&SubjectKv>, residuals: &[Tensor<3>]) -> Tensor<3> {
        let dim = x.dims()[2];
        let context = context.unwrap_or_else(|| x.clone());
        let q = self.to_q.forward(x);
        let k = self.to_k.forward(context.clone());
        let v = self.to_v.forward(context);
        let scale = 1.0 / ((dim / self.heads) as f64).sqrt();
        let second = extra.map(|e| (&e.k, &e.v));
        self.to_out.forward_residual(flash_attention::attention_joint(self.kernels, q, (k, v), second, self.heads, scale), residuals)
    }

    /// The keys and values of `context` (for [`Self::forward_joint`]'s `extra`).
    pub fn project_kv(&self, context: Tensor<3>) -> SubjectKv {
        SubjectKv { k: self.to_k.forward(context.clone()), v: self.to_v.forward(context) }
    }
}

impl Attention {
    /// Visits `to_q`, `to_k`, `to_v` and `to_out.0` under `prefix`.
    pub fn visit_params(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ParamMut<'_>)) {
        self.to_q.visit_params(&format!("{prefix}.to_q"), f);
        self.to_k.visit_params(&format!("{prefix}.to_k"), f);
        self.to_v.visit_params(&format!("{prefix}.to_v"), f);
        self.to_out.visit_params(&format!("{prefix}.to_out.0"), f);
    }
}

/// `FeedForward` with `GEGLU`: `net.0.proj` (`dim → 2·4·dim`) split into value and gate,
/// `value · gelu(gate)` (exact erf GELU), then `net.2` (`4·dim → dim`).
#[derive(Clone, Debug)]
pub struct FeedForward {
    proj: Linear,
    out: Linear,
    kernels: Kernels,
}

impl FeedForward {
    /// Loads `net.0.proj` and `net.2`.
    pub fn load(vb: &Vars, dim: usize) -> Self {
        let inner = dim * 4;
        Self {
            proj: Linear::load(&vb.pp("net").pp(0).pp("proj"), dim, inner * 2, true),
            out: Linear::load(&vb.pp("net").pp(2), inner, dim, true),
            kernels: vb.kernels(),
        }
    }

    /// Applies the GEGLU MLP.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.forward_residual(x, &[])
    }

    /// The GEGLU MLP plus `residuals`: `net.0.proj`'s bias is added inside the GEGLU kernel
    /// and `net.2`'s bias with the residuals in one dispatch, on the WGSL path.
    pub fn forward_residual(&self, x: Tensor<3>, residuals: &[Tensor<3>]) -> Tensor<3> {
        let h = geglu::geglu_biased(self.kernels, self.proj.forward_unbiased(x), self.proj.bias());
        self.out.forward_residual(h, residuals)
    }
}
