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

    /// `((x · Wᵀ + b) + residuals[0]) + residuals[1]` (at most two residuals of the output's
    /// shape): fused into the GEMM on the family's path, one dispatch after burn's matmul on the
    /// WGSL path ([`kernels::gemm::linear_fused`]).
    pub fn forward_residual<const D: usize>(&self, x: Tensor<D>, residuals: &[Tensor<D>]) -> Tensor<D> {
        let epi = kernels::gemm::Epilogue { bias: self.bias.as_ref(), residuals, silu: false };
        kernels::gemm::linear_fused(self.kernels, x, &self.weight, epi)
    }

    /// `silu(x · Wᵀ + b)`, fused like [`Self::forward_residual`].
    pub fn forward_silu<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let epi = kernels::gemm::Epilogue { bias: self.bias.as_ref(), residuals: &[], silu: true };
        kernels::gemm::linear_fused(self.kernels, x, &self.weight, epi)
    }

    /// `x · Wᵀ` without the bias, for a kernel that adds [`Self::bias`] itself.
    pub fn forward_unbiased<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        kernels::gemm::linear(self.kernels, x, &self.weight, None)
    }

    /// The bias, if the layer has one.
    pub fn bias(&self) -> Option<&Tensor<1>> {
        self.bias.as_ref()
    }

    /// Output features.
    pub fn out_dim(&self) -> usize {
        self.weight.dims()[0]
    }
}

impl Linear {
    /// Visits `weight` and `bias` under `prefix` (training: [`ParamMut`]).
    pub fn visit_params(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ParamMut<'_>)) {
        f(&format!("{prefix}.weight"), ParamMut::Matrix(&mut self.weight));
        if let Some(bias) = &mut self.bias {
            f(&format!("{prefix}.bias"), ParamMut::Vector(bias));
        }
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
            weight: kernels::gemm::conv_weight(vb.kernels(), vb.take("weight", [out_ch, in_ch, kernel, kernel])),
            bias: Some(vb.take("bias", [out_ch])),
            stride,
            padding,
            kernels: vb.kernels(),
        }
    }

    /// Loads `weight` `[out, in, k, k]` of a convolution without bias.
    pub fn load_no_bias(vb: &Vars, in_ch: usize, out_ch: usize, kernel: usize, stride: usize, padding: usize) -> Self {
        let weight = kernels::gemm::conv_weight(vb.kernels(), vb.take("weight", [out_ch, in_ch, kernel, kernel]));
        Self { weight, bias: None, stride, padding, kernels: vb.kernels() }
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

    /// GroupNorm of `x + shift` (broadcast over the map) followed by SiLU; one dispatch on the
    /// WGSL path.
    pub fn forward_silu_shifted(&self, x: Tensor<4>, shift: Option<kernels::norm::Shift<'_>>) -> Tensor<4> {
        kernels::norm::group_norm_shifted(self.kernels, x, shift, self.groups, &self.gamma, &self.beta, self.eps, true)
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

impl LayerNorm {
    /// Visits `weight` (γ) and `bias` (β) under `prefix` (training: [`ParamMut`]).
    pub fn visit_params(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ParamMut<'_>)) {
        f(&format!("{prefix}.weight"), ParamMut::Vector(&mut self.gamma));
        f(&format!("{prefix}.bias"), ParamMut::Vector(&mut self.beta));
    }
}

/// A mutable view of one parameter tensor, handed out by the models' `visit_*params` visitors
/// under its checkpoint key (training reads and replaces parameters through it).
pub enum ParamMut<'a> {
    /// A vector (`bias`, norm `weight`, `learnable_weights`).
    Vector(&'a mut Tensor<1>),
    /// A matrix (Linear `weight`).
    Matrix(&'a mut Tensor<2>),
}

impl ParamMut<'_> {
    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        match self {
            ParamMut::Vector(t) => t.dims().to_vec(),
            ParamMut::Matrix(t) => t.dims().to_vec(),
        }
    }

    /// The values as one flat vector (a clone of the tensor, same autodiff lineage).
    pub fn flat(&self) -> Tensor<1> {
        match self {
            ParamMut::Vector(t) => (*t).clone(),
            ParamMut::Matrix(t) => {
                let n = t.dims().iter().product::<usize>();
                (*t).clone().reshape([n])
            }
        }
    }

    /// Replaces the values by `flat` (same number of elements), reshaped to the parameter's shape.
    pub fn set_flat(&mut self, flat: Tensor<1>) {
        match self {
            ParamMut::Vector(t) => **t = flat,
            ParamMut::Matrix(t) => {
                let dims = t.dims();
                **t = flat.reshape(dims);
            }
        }
    }

    /// The parameter's gradient in `grads`, flat; `None` when it received none.
    #[cfg(feature = "native")]
    pub fn grad_flat(&self, grads: &burn::tensor::Gradients) -> Option<Tensor<1>> {
        self.leaf().grad_flat(grads)
    }

    /// Drops the autodiff association (a plain tensor with the same values).
    #[cfg(feature = "native")]
    pub fn make_plain(&mut self) {
        match self {
            ParamMut::Vector(t) => **t = (*t).clone().inner(),
            ParamMut::Matrix(t) => **t = (*t).clone().inner(),
        }
    }

    /// A handle on the tensor itself (a clone: the same autodiff leaf), for reading its
    /// gradient later without borrowing the model.
    pub fn leaf(&self) -> ParamLeaf {
        match self {
            ParamMut::Vector(t) => ParamLeaf::Vector((*t).clone()),
            ParamMut::Matrix(t) => ParamLeaf::Matrix((*t).clone()),
        }
    }

    /// Makes the tensor a trainable leaf (autodiff on, gradient retained).
    #[cfg(feature = "native")]
    pub fn make_trainable(&mut self) {
        self.make_trainable_with(false);
    }

    /// [`ParamMut::make_trainable`], with burn's balanced gradient checkpointing when
    /// `checkpointing` (every operation the leaf reaches then recomputes its memory-bound
    /// intermediates in the backward pass instead of keeping them).
    #[cfg(feature = "native")]
    pub fn make_trainable_with(&mut self, checkpointing: bool) {
        use burn::tensor::GradientCheckpointingStrategy as S;
        let strategy = if checkpointing { S::Balanced } else { S::Disabled };
        match self {
            ParamMut::Vector(t) => **t = (*t).clone().inner().autodiff().with_gradient_checkpointing_strategy(strategy).require_grad(),
            ParamMut::Matrix(t) => **t = (*t).clone().inner().autodiff().with_gradient_checkpointing_strategy(strategy).require_grad(),
        }
    }
}

/// A parameter tensor held outside the model (see [`ParamMut::leaf`]).
#[derive(Clone, Debug)]
pub enum ParamLeaf {
    /// A vector.
    Vector(Tensor<1>),
    /// A matrix.
    Matrix(Tensor<2>),
}

impl ParamLeaf {
    /// The leaf's gradient in `grads`, flat; `None` when it received none.
    #[cfg(feature = "native")]
    pub fn grad_flat(&self, grads: &burn::tensor::Gradients) -> Option<Tensor<1>> {
        match self {
            ParamLeaf::Vector(t) => t.grad(grads),
            ParamLeaf::Matrix(t) => {
                let n = t.dims().iter().product::<usize>();
                t.grad(grads).map(|g| g.reshape([n]))
            }
        }
    }
}

/// `torch.nn.Embedding`.
#[derive(Clone, Debug)]
pub struct Embedding {
    /// Consecutive row blocks of the table (one unless the table is larger than the device's
    /// largest binding), with the first row of each.
    blocks: Vec<(usize, Tensor<2>)>,
}

impl Embedding {
    /// Loads `weight` `[num, dim]`, as row blocks when it is larger than the device can bind.
    pub fn load(vb: &Vars, num: usize, dim: usize) -> Self {
        let mut start = 0;
        let blocks = vb
            .take_row_blocks("weight", [num, dim])
            .into_iter()
            .map(|b| {
                let first = start;
                start += b.dims()[0];
                (first, b)
            })
            .collect();
        Self { blocks }
    }

    /// Looks up `[B, T]` ids → `[B, T, dim]`. With several blocks each block looks up the ids
    /// it holds (others clamped into it) and the rows are kept by a 0/1 mask, so the result
    /// equals the one-table lookup exactly.
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        if let [(_, table)] = self.blocks.as_slice() {
            return burn::tensor::module::embedding(table.clone(), ids);
        }
        let mut out: Option<Tensor<3>> = None;
        for (start, table) in &self.blocks {
            let rows = table.dims()[0];
            let local = ids.clone().sub_scalar(*start as i64);
            let inside = local.clone().greater_equal_elem(0).bool_and(local.clone().lower_elem(rows as i64));
            let found = burn::tensor::module::embedding(table.clone(), local.clamp(0, rows as i64 - 1));
            let kept = found * inside.float().cast(table.dtype()).unsqueeze_dim::<3>(2);
            out = Some(match out {
                None => kept,
                Some(o) => o + kept,
            });
        }
        out.expect("at least one block")
    }

    /// Row `id` of the table, `[1, dim]`.
    pub fn row(&self, id: usize) -> Tensor<2> {
        let (start, table) = self.blocks.iter().rev().find(|(s, _)| *s <= id).expect("the first block starts at row 0");
        table.clone().narrow(0, id - start, 1)
    }
}

/// A feature map `[B, C, H, W]` held as consecutive channel blocks, so that no single tensor is
/// larger than a device's largest storage binding (f32 VAE at 512 px under WebGPU's default
/// 128 MiB). Convolutions sum their per-block partial products; GroupNorm normalises each block
/// on its own, which is exact because blocks hold whole groups. With one block every layer runs
/// exactly its unsplit computation.
pub type Blocks = Vec<Tensor<4>>;

/// The fewest channel blocks for a `[b, c, h, w]` map of `elem`-byte values under `limit` bytes
/// per tensor: `n` divides `c`, each block holds whole groups of `align` channels, and a block
/// fits the limit (1 without a limit; the most blocks possible when even one group is too big).
pub fn channel_blocks(dims: [usize; 4], elem: usize, align: usize, limit: Option<u64>) -> usize {
    let [b, c, h, w] = dims;
    let Some(limit) = limit else { return 1 };
    let bytes = (b * c * h * w * elem) as u64;
    let align = align.max(1);
    let mut best = 1;
    for n in 1..=c {
        if c % n != 0 || (c / n) % align != 0 {
            continue;
        }
        best = n;
        if bytes.div_ceil(n as u64) <= limit {
            return n;
        }
    }
    best
}

/// Channel counts of blocks.
fn block_channels(x: &[Tensor<4>]) -> Vec<usize> {
    x.iter().map(|t| t.dims()[1]).collect()
}

/// `x` re-cut into `n` equal channel blocks (views and concatenations of the given blocks; no
/// tensor larger than a new block is made).
pub fn reblock(x: Blocks, n: usize) -> Blocks {
    let c: usize = block_channels(&x).iter().sum();
    if x.len() == n || n == 0 || c % n != 0 {
        return x;
    }
    let size = c / n;
    let mut out = Vec::with_capacity(n);
    let mut pieces: Vec<Tensor<4>> = Vec::new();
    let mut have = 0;
    for block in x {
        let bc = block.dims()[1];
        let mut start = 0;
        while start < bc {
            let take = (size - have).min(bc - start);
            pieces.push(if start == 0 && take == bc { block.clone() } else { block.clone().narrow(1, start, take) });
            have += take;
            start += take;
            if have == size {
                let piece = if pieces.len() == 1 { pieces.pop().expect("one piece") } else { Tensor::cat(std::mem::take(&mut pieces), 1) };
                out.push(piece);
                have = 0;
            }
        }
    }
    out
}

/// The blocks joined into one tensor (only where the whole map fits a binding).
pub fn join_blocks(mut x: Blocks) -> Tensor<4> {
    if x.len() == 1 { x.pop().expect("one block") } else { Tensor::cat(x, 1) }
}

impl Conv2d {
    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.weight.dims()[0]
    }

    /// The convolution of a blocked map into `out_blocks` equal output blocks: each output
    /// block sums the partial convolutions of every input block with its slice of the weight,
    /// then adds its slice of the bias.
    pub fn forward_blocks(&self, x: &[Tensor<4>], out_blocks: usize) -> Blocks {
        if x.len() == 1 && out_blocks <= 1 {
            return vec![self.forward(x[0].clone())];
        }
        let cout = self.out_channels();
        let size = cout / out_blocks.max(1);
        let mut out = Vec::with_capacity(out_blocks);
        for o in 0..out_blocks.max(1) {
            let mut start = 0;
            let mut acc: Option<Tensor<4>> = None;
            for part in x {
                let c = part.dims()[1];
                let w = self.weight.clone().narrow(0, o * size, size).narrow(1, start, c);
                let y = kernels::gemm::conv2d(self.kernels, part.clone(), &w, None, self.stride, self.padding);
                acc = Some(match acc {
                    Some(a) => a + y,
                    None => y,
                });
                start += c;
            }
            let mut y = acc.expect("at least one input block");
            if let Some(b) = &self.bias {
                y = y + b.clone().narrow(0, o * size, size).reshape([1, size, 1, 1]);
            }
            out.push(y);
        }
        out
    }
}

impl GroupNorm {
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
