//! The layers the models are built from, holding plain device tensors loaded by key name
//! (`weight`/`bias` as in PyTorch). Forward passes are infallible. One file per kind of layer
//! (`linear.rs`: Linear and Embedding; `conv.rs`; `norm.rs`: GroupNorm and LayerNorm), the
//! channel blocks that keep feature maps within a device's largest binding (`blocks.rs`), and
//! the parameter views training uses (`params.rs`); what a model is built from is [`Vars`].

mod blocks;
mod conv;
mod linear;
mod norm;
mod params;

pub use blocks::{Blocks, channel_blocks, join_blocks, reblock};
pub use conv::Conv2d;
pub use linear::{Embedding, Linear};
pub use norm::{GroupNorm, LayerNorm};
pub use params::{ParamLeaf, ParamMut};

use burn::tensor::Tensor;

use crate::kernels::Kernels;
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

    /// Takes the table `name` as row blocks within the device's largest binding (see
    /// [`VarBuilder::take_row_blocks`]).
    pub fn take_row_blocks(&self, name: &str, shape: [usize; 2]) -> Vec<Tensor<2>> {
        self.weights.take_row_blocks(name, shape)
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
