//! Launcher of `shaders/norm.wgsl`: GroupNorm, GroupNorm + SiLU and LayerNorm in one dispatch
//! each, reducing in f32.

use burn::backend::wgpu::{KernelSource, SourceTemplate};
use burn::tensor::{DType, Tensor};
use cubecl::CubeDim;
use cubecl::prelude::KernelId;

use super::{Kernels, empty_like, grid, launch, on_wgpu, template, wrap};
use crate::ops;

/// Threads per workgroup (one workgroup per normalised row).
const THREADS: u32 = 256;

struct Norm {
    dtype: DType,
}

impl KernelSource for Norm {
    fn source(&self) -> SourceTemplate {
        template(include_str!("../../../shaders/norm.wgsl"), self.dtype)
            .register("threads", THREADS.to_string())
    }

    fn id(&self) -> KernelId {
        KernelId::new::<Self>().info(format!("{:?}", self.dtype))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// The WGSL source of the norm kernel in `dtype`, as the device receives it.
pub(crate) fn source(dtype: DType) -> String {
    Norm { dtype }.source().complete()
}

/// Launches the kernel on `x` seen as `rows × row_len`; `None` when `x` is not a wgpu tensor
/// of a supported dtype matching the affine parameters.
#[allow(clippy::too_many_arguments)]
fn run<const D: usize>(
    x: &Tensor<D>,
    gamma: &Tensor<1>,
    beta: &Tensor<1>,
    rows: usize,
    groups: usize,
    per_group: usize,
    spatial: usize,
    eps: f64,
    silu: bool,
) -> Option<Tensor<D>> {
    let xc = on_wgpu(x)?;
    let (gc, bc) = (on_wgpu(gamma)?, on_wgpu(beta)?);
    if gc.dtype != xc.dtype || bc.dtype != xc.dtype || rows == 0 {
        return None;
    }
    let row_len = x.shape().num_elements() / rows;
    let out = empty_like(&xc, x.dims().to_vec());
    let count = grid(rows);
    let params = [rows, row_len, groups, per_group, spatial].map(|v| v as u32);
    launch(
        Norm { dtype: xc.dtype },
        CubeDim::new_1d(THREADS),
        count,
        &[&xc, &gc, &bc],
        &out,
        &[params[0], params[1], params[2], params[3], params[4], (eps as f32).to_bits(), silu as u32, count.0],
    );
    Some(wrap(out))
}

/// `torch.nn.GroupNorm` on `[B, C, H, W]`, optionally followed by SiLU: one dispatch of the
/// WGSL kernel with [`Kernels::Wgsl`] on wgpu, else [`ops::group_norm`] / [`ops::group_norm_silu`].
pub fn group_norm(kernels: Kernels, x: Tensor<4>, groups: usize, gamma: &Tensor<1>, beta: &Tensor<1>, eps: f64, silu: bool) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    if kernels.wgsl() && groups > 0 && c % groups == 0 {
        if let Some(out) = run(&x, gamma, beta, b * groups, groups, c / groups, h * w, eps, silu) {
            return out;
        }
    }
    if silu { ops::group_norm_silu(x, groups, gamma, beta, eps) } else { ops::group_norm(x, groups, gamma, beta, eps) }
}

/// `torch.nn.LayerNorm` over the last axis: one dispatch with [`Kernels::Wgsl`] on wgpu, else
/// [`ops::layer_norm`].
pub fn layer_norm<const D: usize>(kernels: Kernels, x: Tensor<D>, gamma: &Tensor<1>, beta: &Tensor<1>, eps: f64) -> Tensor<D> {
    let c = x.dims()[D - 1];
    if kernels.wgsl() && c > 0 {
        let rows = x.shape().num_elements() / c;
        if let Some(out) = run(&x, gamma, beta, rows, 1, c, 1, eps, false) {
            return out;
        }
    }
    ops::layer_norm(x, gamma, beta, eps)
}
