//! `torch.optim.AdamW` (single-tensor path of torch 2.0, `amsgrad=False`) and
//! `torch.nn.utils.clip_grad_norm_`, on flat device tensors.

use std::collections::BTreeMap;

use burn::tensor::Tensor;

/// AdamW's hyper-parameters (official defaults: lr 1e-4, β 0.9/0.999, weight decay 0.01, ε 1e-8).
#[derive(Clone, Debug, PartialEq)]
pub struct AdamWConfig {
    /// Learning rate (constant).
    pub lr: f64,
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// ε added to the denominator.
    pub eps: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self { lr: 1e-4, beta1: 0.9, beta2: 0.999, weight_decay: 0.01, eps: 1e-8 }
    }
}

/// One parameter's moments.
#[derive(Clone, Debug)]
pub struct Moments {
    /// First moment (`exp_avg`).
    pub m: Tensor<1>,
    /// Second moment (`exp_avg_sq`).
    pub v: Tensor<1>,
}

/// AdamW with its state: the step count and the moments of every parameter by key.
#[derive(Clone, Debug)]
pub struct AdamW {
    /// Hyper-parameters.
    pub config: AdamWConfig,
    /// Optimiser steps taken.
    pub step: u64,
    /// Moments by parameter key.
    pub moments: BTreeMap<String, Moments>,
}

impl AdamW {
    /// A fresh optimiser.
    pub fn new(config: AdamWConfig) -> Self {
        Self { config, step: 0, moments: BTreeMap::new() }
    }

    /// Starts a step (the step count is shared by every parameter, as torch's per-parameter
    /// counts are when every parameter gets a gradient each step).
    pub fn begin_step(&mut self) {
        self.step += 1;
    }

    /// Updates one parameter (flat, without autodiff) with its gradient; returns the new value.
    ///
    /// `p ← p·(1 − lr·wd)`; `m ← m + (1−β₁)(g − m)`; `v ← β₂v + (1−β₂)g²`;
    /// `p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)`.
    pub fn update(&mut self, key: &str, param: Tensor<1>, grad: Tensor<1>) -> Tensor<1> {
        let c = &self.config;
        let t = self.step.max(1) as i32;
        let moments = self.moments.entry(key.to_string()).or_insert_with(|| Moments {
            m: grad.zeros_like(),
            v: grad.zeros_like(),
        });
        let param = param * (1.0 - c.lr * c.weight_decay);
        let m = moments.m.clone() + (grad.clone() - moments.m.clone()) * (1.0 - c.beta1);
        let v = moments.v.clone() * c.beta2 + grad.clone() * grad * (1.0 - c.beta2);
        let bias_correction1 = 1.0 - c.beta1.powi(t);
        let bias_correction2_sqrt = (1.0 - c.beta2.powi(t)).sqrt();
        let step_size = c.lr / bias_correction1;
        let denom = v.clone().sqrt() / bias_correction2_sqrt + c.eps;
        let param = param - m.clone() / denom * step_size;
        moments.m = m;
        moments.v = v;
        param
    }
}

/// `clip_grad_norm_(grads, max_norm)`: the total 2-norm over all gradients (the norm of the
/// per-tensor norms), then every gradient scaled by `min(1, max_norm / (total + 1e-6))`.
/// Returns the total norm before clipping.
pub fn clip_grad_norm(grads: &mut [Tensor<1>], max_norm: f64) -> f32 {
    let Some(first) = grads.first() else { return 0.0 };
    let device = first.device();
    let norms: Vec<Tensor<1>> = grads.iter().map(|g| (g.clone() * g.clone()).sum().sqrt()).collect();
    let total = Tensor::cat(norms, 0);
    let total = (total.clone() * total).sum().sqrt();
    let total_host = super::host_scalar(total.clone());
    let coef = (Tensor::<1>::from_floats([max_norm as f32], &device) / (total + 1e-6)).clamp_max(1.0);
    for g in grads.iter_mut() {
        *g = g.clone() * coef.clone();
    }
    total_host
}
