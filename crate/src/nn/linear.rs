//! `torch.nn.Linear` and `torch.nn.Embedding`.

use burn::tensor::{Int, Tensor};

use super::{ParamMut, Vars};
use crate::kernels::{self, Kernels};

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

    /// Visits `weight` and `bias` under `prefix` (training: [`ParamMut`]).
    pub fn visit_params(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ParamMut<'_>)) {
        f(&format!("{prefix}.weight"), ParamMut::Matrix(&mut self.weight));
        if let Some(bias) = &mut self.bias {
            f(&format!("{prefix}.bias"), ParamMut::Vector(bias));
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
