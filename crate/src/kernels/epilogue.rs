//! Launcher of `shaders/epilogue.wgsl`: a Linear layer's bias and residual adds (or its bias
//! and SiLU) in one dispatch (plain ops: one dispatch per add, several for SiLU).

use burn::backend::wgpu::{KernelSource, SourceTemplate};
use burn::tensor::activation::silu;
use burn::tensor::{DType, Tensor};
use cubecl::CubeDim;
use cubecl::prelude::KernelId;

use burn::backend::wgpu::CubeTensor;

use super::{Kernels, empty_like, empty_like_dtype, grid, launch, on_wgpu, placeholder, template, wrap};

/// Threads per workgroup (one element each).
const THREADS: u32 = 256;

struct Epilogue {
    dtype: DType,
    /// y is a split-K GEMM's f32 workspace (else of `dtype`).
    y_f32: bool,
}

impl KernelSource for Epilogue {
    fn source(&self) -> SourceTemplate {
        template(include_str!("../../../shaders/epilogue.wgsl"), self.dtype)
            .register("threads", THREADS.to_string())
            .register("y_elem", if self.y_f32 { "f32" } else { "ELEM" })
    }

    fn id(&self) -> KernelId {
        KernelId::new::<Self>().info((format!("{:?}", self.dtype), self.y_f32))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// The WGSL source of the epilogue kernel in `dtype`, as the device receives it.
pub(crate) fn source(dtype: DType) -> String {
    Epilogue { dtype, y_f32: false }.source().complete()
}

/// The end of a split-K GEMM: sums the `parts` partial products of `workspace` (f32
/// `[parts, count]`), then adds `bias` (rows of `n`) and the residuals and applies SiLU, into a
/// new `dtype` tensor of `shape` (`count` elements). One dispatch.
#[allow(clippy::too_many_arguments)]
pub(crate) fn reduce(
    workspace: &CubeTensor,
    parts: usize,
    dtype: DType,
    bias: Option<&CubeTensor>,
    residuals: &[CubeTensor],
    silu: bool,
    count: usize,
    n: usize,
    shape: Vec<usize>,
) -> CubeTensor {
    let out = empty_like_dtype(workspace, shape, dtype);
    let flags = u32::from(bias.is_some()) | u32::from(!residuals.is_empty()) << 1 | u32::from(residuals.len() == 2) << 2 | u32::from(silu) << 3;
    let groups = grid(count.div_ceil(THREADS as usize));
    let hold = || placeholder(&out);
    let [b, r1, r2] = [bias.cloned(), residuals.first().cloned(), residuals.get(1).cloned()].map(|t| t.unwrap_or_else(hold));
    let params = [count as u32, n as u32, flags, groups.0, parts as u32];
    launch(Epilogue { dtype, y_f32: true }, CubeDim::new_1d(THREADS), groups, &[workspace, &b, &r1, &r2], &out, &params);
    out
}

/// `((y + bias) + residuals[0]) + residuals[1]` with `bias` `[N]` broadcast over the last axis
/// of `y` `[..., N]` and each residual of `y`'s shape (at most two): one dispatch with
/// [`Kernels::Wgsl`] on wgpu, else [`reference`] (one add each).
pub fn bias_residual<const D: usize>(kernels: Kernels, y: Tensor<D>, bias: Option<&Tensor<1>>, residuals: &[Tensor<D>]) -> Tensor<D> {
    let dims = y.dims();
    let count = y.shape().num_elements();
    let n = dims[D - 1];
    let fits = residuals.len() <= 2 && residuals.iter().all(|r| r.dims() == dims) && bias.is_none_or(|b| b.dims() == [n]);
    if kernels.wgsl() && fits && count > 0 && count < u32::MAX as usize && (bias.is_some() || !residuals.is_empty()) {
        if let Some(out) = launch_on_wgpu(&y, bias, residuals, count, n, false) {
            return wrap(out);
        }
    }
    reference(y, bias, residuals)
}

/// `silu(y + bias)` with `bias` `[N]` broadcast over the last axis: one dispatch with
/// [`Kernels::Wgsl`] on wgpu, else plain ops (burn's SiLU is several dispatches).
pub fn bias_silu<const D: usize>(kernels: Kernels, y: Tensor<D>, bias: Option<&Tensor<1>>) -> Tensor<D> {
    let count = y.shape().num_elements();
    let n = y.dims()[D - 1];
    if kernels.wgsl() && count > 0 && count < u32::MAX as usize && bias.is_none_or(|b| b.dims() == [n]) {
        if let Some(out) = launch_on_wgpu(&y, bias, &[], count, n, true) {
            return wrap(out);
        }
    }
    silu(reference(y, bias, &[]))
}

fn launch_on_wgpu<const D: usize>(
    y: &Tensor<D>,
    bias: Option<&Tensor<1>>,
    residuals: &[Tensor<D>],
    count: usize,
    n: usize,
    silu: bool,
) -> Option<burn::backend::wgpu::CubeTensor> {
    let yc = on_wgpu(y)?;
    let bc = match bias {
        Some(b) => Some(on_wgpu(b)?),
        None => None,
    };
    let rc = residuals.iter().map(on_wgpu).collect::<Option<Vec<_>>>()?;
    if bc.iter().chain(&rc).any(|t| t.dtype != yc.dtype) {
        return None;
    }
    let out = empty_like(&yc, y.dims().to_vec());
    let flags = u32::from(bc.is_some()) | u32::from(!rc.is_empty()) << 1 | u32::from(rc.len() == 2) << 2 | u32::from(silu) << 3;
    let groups = grid(count.div_ceil(THREADS as usize));
    let [bc, r1, r2] = [bc, rc.first().cloned(), rc.get(1).cloned()].map(|t| t.unwrap_or_else(|| placeholder(&yc)));
    launch(Epilogue { dtype: yc.dtype, y_f32: false }, CubeDim::new_1d(THREADS), groups, &[&yc, &bc, &r1, &r2], &out, &[count as u32, n as u32, flags, groups.0, 1]);
    Some(out)
}

/// The plain-ops epilogue: the bias, then each residual, one add each.
pub fn reference<const D: usize>(y: Tensor<D>, bias: Option<&Tensor<1>>, residuals: &[Tensor<D>]) -> Tensor<D> {
    let mut y = match bias {
        Some(b) => y + b.clone().unsqueeze(),
        None => y,
    };
    for r in residuals {
        y = y + r.clone();
    }
    y
}
