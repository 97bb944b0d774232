//! The layers the models are built from, holding plain device tensors loaded by key name
//! (`weight`/`bias` as in PyTorch). Forward passes are infallible.

use burn::tensor::{Int, Tensor};

use crate::kernels::{self, Kernels};
use crate::weights::VarBuilder;

/// What a model is built from: a view of its weights under a key prefix ([`VarBuilder`], by
/// the original diffusers / transformers names) and the compute choice for its layers
/// ([`Kernels`]). The weights layer knows nothing of kernels; the loader joins the two here.
#[derive(Clone)]
pub struct Vars<'a> {
    weights: VarBuilder<'a>,
    kernels: Kernels,
}

impl<'a> Vars<'a> {
    /// Weights with a kernel choice.
    pub fn new(weights: VarBuilder<'a>, kernels: Kernels) -> Self {
        Self { weights, kernels }
    }

    /// The view of a sub-module (`vb.pp("down_blocks").pp(0)`).
    pub fn pp(&self, name: impl std::fmt::Display) -> Vars<'a> {
        Self { weights: self.weights.pp(name), kernels: self.kernels }
    }

    /// Takes the tensor `name` of the given shape (see [`VarBuilder::take`]).
    pub fn take<const D: usize>(&self, name: &str, shape: [usize; D]) -> Tensor<D> {
        self.weights.take(name, shape)
    }

    /// Takes the tensor `name` when present (see [`VarBuilder::take_opt`]).
    pub fn take_opt<const D: usize>(&self, name: &str, shape: [usize; D]) -> Option<Tensor<D>> {
        self.weights.take_opt(name, shape)
    }

    /// Whether a tensor exists under this prefix.
    pub fn contains(&self, name: &str) -> bool {
        self.weights.contains(name)
    }

    /// The implementation the layers built from here use for norms and attention.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }
}

/// Weights with the default kernel choice ([`Kernels::Wgsl`]: WGSL on wgpu, plain ops elsewhere).
impl<'a> From<VarBuilder<'a>> for Vars<'a> {
    fn from(weights: VarBuilder<'a>) -> Self {
        Self::new(weights, Kernels::default())
    }
}

/// `torch.nn.Linear` (weight `[out, in]` as stored).
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
    kernels: Kernels,
}

impl Linear {
    /// Loads `weight` `[out, in]` and, when `bias` is set, `bias` `[out]`.
    pub fn load(vb: &Vars, in_dim: usize, out_dim: usize, bias: bool) -> Self {
        let weight = vb.take("weight", [out_dim, in_dim]);
        let bias = bias.then(|| vb.take("bias", [out_dim]));
        Self { weight, bias, kernels: vb.kernels() }
    }

    /// `x · Wᵀ + b` over the last axis ([`kernels::gemm::linear`]).
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        kernels::gemm::linear(self.kernels, x, &self.weight, self.bias.as_ref())
    }

    /// Output features.
    pub fn out_dim(&self) -> usize {
        self.weight.dims()[0]
    }
}

/// `torch.nn.Conv2d` with square kernel, stride and padding.
#[derive(Clone, Debug)]
pub struct Conv2d {
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: usize,
    padding: usize,
    kernels: Kernels,
}

impl Conv2d {
    /// Loads `weight` `[out, in, k, k]` and `bias` `[out]`.
    pub fn load(vb: &Vars, in_ch: usize, out_ch: usize, kernel: usize, stride: usize, padding: usize) -> Self {
        Self {
            weight: vb.take("weight", [out_ch, in_ch, kernel, kernel]),
            bias: Some(vb.take("bias", [out_ch])),
            stride,
            padding,
            kernels: vb.kernels(),
        }
    }

    /// Loads `weight` `[out, in, k, k]` of a convolution without bias.
    pub fn load_no_bias(vb: &Vars, in_ch: usize, out_ch: usize, kernel: usize, stride: usize, padding: usize) -> Self {
        Self { weight: vb.take("weight", [out_ch, in_ch, kernel, kernel]), bias: None, stride, padding, kernels: vb.kernels() }
    }

    /// Applies the convolution to `[B, C, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        kernels::gemm::conv2d(self.kernels, x, &self.weight, self.bias.as_ref(), self.stride, self.padding)
    }
}

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
}

/// `torch.nn.Embedding`.
#[derive(Clone, Debug)]
pub struct Embedding {
    weight: Tensor<2>,
}

impl Embedding {
    /// Loads `weight` `[num, dim]`.
    pub fn load(vb: &Vars, num: usize, dim: usize) -> Self {
        Self { weight: vb.take("weight", [num, dim]) }
    }

    /// Looks up `[B, T]` ids → `[B, T, dim]`.
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        burn::tensor::module::embedding(self.weight.clone(), ids)
    }

    /// The table itself.
    pub fn weight(&self) -> &Tensor<2> {
        &self.weight
    }
}
