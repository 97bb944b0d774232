//! `torch.nn.GroupNorm` (on one tensor or on channel blocks) and `torch.nn.LayerNorm`.

use burn::tensor::Tensor;

use super::{Blocks, ParamMut, Vars};
use crate::kernels::{self, Kernels};

/// `torch.nn.GroupNorm` (affine).
#[derive(Clone, Debug)]
pub struct GroupNorm {
    gamma: Tensor<1>,
    beta: Tensor<1>,
    groups: usize,
    eps: f64,
    kernels: Kernels,
}

impl GroupNorm {
    /// Loads `weight` and `bias` `[channels]`.
    pub fn load(vb: &Vars, groups: usize, channels: usize, eps: f64) -> Self {
        Self { gamma: vb.take("weight", [channels]), beta: vb.take("bias", [channels]), groups, eps, kernels: vb.kernels() }
    }

    /// Normalises `[B, C, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        kernels::norm::group_norm(self.kernels, x, self.groups, &self.gamma, &self.beta, self.eps, false)
    }

    /// GroupNorm followed by SiLU.
    pub fn forward_silu(&self, x: Tensor<4>) -> Tensor<4> {
        kernels::norm::group_norm(self.kernels, x, self.groups, &self.gamma, &self.beta, self.eps, true)
    }

    /// GroupNorm of `x + shift` (broadcast over the map) followed by SiLU; one dispatch on the
    /// WGSL path.
    pub fn forward_silu_shifted(&self, x: Tensor<4>, shift: Option<kernels::norm::Shift<'_>>) -> Tensor<4> {
        kernels::norm::group_norm_shifted(self.kernels, x, shift, self.groups, &self.gamma, &self.beta, self.eps, true)
    }

    /// Channels per group.
    pub fn group_size(&self) -> usize {
        self.gamma.dims()[0] / self.groups
    }

    /// GroupNorm (+ SiLU) of a blocked map whose blocks hold whole groups, block by block.
    pub fn forward_blocks(&self, x: Blocks, silu: bool) -> Blocks {
        if x.len() == 1 {
            let x = x.into_iter().next().expect("one block");
            return vec![if silu { self.forward_silu(x) } else { self.forward(x) }];
        }
        let g = self.group_size();
        let mut start = 0;
        x.into_iter()
            .map(|part| {
                let c = part.dims()[1];
                let gamma = self.gamma.clone().narrow(0, start, c);
                let beta = self.beta.clone().narrow(0, start, c);
                start += c;
                kernels::norm::group_norm(self.kernels, part, c / g, &gamma, &beta, self.eps, silu)
            })
            .collect()
    }
}

/// `torch.nn.LayerNorm` (affine) over the last axis.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f64,
    kernels: Kernels,
}

impl LayerNorm {
    /// Loads `weight` and `bias` `[dim]`.
    pub fn load(vb: &Vars, dim: usize, eps: f64) -> Self {
        Self { gamma: vb.take("weight", [dim]), beta: vb.take("bias", [dim]), eps, kernels: vb.kernels() }
    }

    /// Normalises over the last axis.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        kernels::norm::layer_norm(self.kernels, x, &self.gamma, &self.beta, self.eps)
    }

    /// Visits `weight` (γ) and `bias` (β) under `prefix` (training: [`ParamMut`]).
    pub fn visit_params(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ParamMut<'_>)) {
        f(&format!("{prefix}.weight"), ParamMut::Vector(&mut self.gamma));
        f(&format!("{prefix}.bias"), ParamMut::Vector(&mut self.beta));
    }
}
