//! Launcher of `shaders/norm.wgsl`: GroupNorm, GroupNorm + SiLU and LayerNorm in one dispatch
//! each, reducing in f32.

use burn::backend::wgpu::{KernelSource, SourceTemplate};
use burn::tensor::{DType, Tensor};
use cubecl::CubeDim;
use cubecl::prelude::KernelId;

use burn::backend::wgpu::{CubeTensor, into_contiguous};

use super::{Kernels, empty_like, grid, is_channels_last, launch, on_wgpu, on_wgpu_strided, placeholder, wrap};
use crate::ops;

/// Threads per workgroup (one workgroup per normalised row) for rows of 256 elements and more.
const THREADS: u32 = 256;

super::threads_kernel!(Norm, "norm.wgsl", THREADS);

/// The workgroup size for rows of `row_len` elements: the power of two at or above it, at most
/// [`THREADS`]. A short row (a LayerNorm over a tiny model's 8–32 channels) in a 256-thread
/// workgroup left most threads idle through the two tree reductions' 20 barriers, and a barrier
/// is expensive on CPU adapters: a tiny-model UNet step on SwiftShader went from 8.3 s to 1.5 s
/// (docs/benchmarks.md). Every row of SD 2.1 (320 channels and more) keeps 256 threads.
pub(crate) fn threads_for(row_len: usize) -> u32 {
    row_len.clamp(1, THREADS as usize).next_power_of_two() as u32
}

/// The WGSL source at `threads` threads per workgroup (offline validation of the small sizes).
pub(crate) fn source_with_threads(dtype: DType, threads: u32) -> String {
    Norm { dtype, threads }.source().complete()
}

/// A per-(batch, channel) term added to a GroupNorm's input before the statistics:
/// `shift` `[B, C]` plus, when given, `bias` `[C]` (added to the shift first).
#[derive(Clone, Copy, Debug)]
pub struct Shift<'a> {
    /// `[B, C]`, e.g. a ResNet's time-embedding projection without its bias.
    pub shift: &'a Tensor<2>,
    /// `[C]`, the projection's bias.
    pub bias: Option<&'a Tensor<1>>,
}

impl Shift<'_> {
    /// `shift + bias` as one `[B, C]` tensor (plain ops).
    fn total(&self) -> Tensor<2> {
        match self.bias {
            Some(b) => self.shift.clone() + b.clone().unsqueeze(),
            None => self.shift.clone(),
        }
    }
}

/// How [`run`] sees its input.
struct Rows {
    rows: usize,
    groups: usize,
    per_group: usize,
    spatial: usize,
}

/// Launches the kernel on `x` seen as `rows` rows (contiguous, or channels-last when
/// `channels_last`), adding `shift` `[B, C]` first when given; the output has `x`'s layout.
/// `None` when a tensor is not on wgpu or its dtype does not match.
#[allow(clippy::too_many_arguments)]
fn run(x: CubeTensor, gamma: &Tensor<1>, beta: &Tensor<1>, shift: Option<&Shift<'_>>, rows: Rows, eps: f64, silu: bool, channels_last: bool) -> Option<CubeTensor> {
    let (gc, bc) = (on_wgpu(gamma)?, on_wgpu(beta)?);
    let sc = match shift {
        Some(s) => Some(on_wgpu(s.shift)?),
        None => None,
    };
    let sbc = match shift.and_then(|s| s.bias) {
        Some(b) => Some(on_wgpu(b)?),
        None => None,
    };
    let dtype = x.dtype;
    if [&gc, &bc].into_iter().chain(&sc).chain(&sbc).any(|t| t.dtype != dtype) || rows.rows == 0 {
        return None;
    }
    let shape = x.meta.shape().to_vec();
    let row_len = shape.iter().product::<usize>() / rows.rows;
    // Written in the input's layout: `[B, H, W, C]` storage for a channels-last map.
    let out = if channels_last { empty_like(&x, vec![shape[0], shape[2], shape[3], shape[1]]) } else { empty_like(&x, shape) };
    let count = grid(rows.rows);
    let flags = u32::from(silu) | u32::from(channels_last) << 1 | u32::from(sc.is_some()) << 2 | u32::from(sbc.is_some()) << 3;
    let params = [rows.rows, row_len, rows.groups, rows.per_group, rows.spatial].map(|v| v as u32);
    let threads = threads_for(row_len);
    launch(
        Norm { dtype, threads },
        CubeDim::new_1d(threads),
        count,
        &[&x, &gc, &bc, &sc.unwrap_or_else(|| placeholder(&x)), &sbc.unwrap_or_else(|| placeholder(&x))],
        &out,
        &[params[0], params[1], params[2], params[3], params[4], (eps as f32).to_bits(), flags, count.0],
    );
    Some(out)
}

/// `torch.nn.GroupNorm` on `[B, C, H, W]`, optionally followed by SiLU: one dispatch of the
/// WGSL kernel with [`Kernels::Wgsl`] on wgpu, else [`ops::group_norm`] / [`ops::group_norm_silu`].
pub fn group_norm(kernels: Kernels, x: Tensor<4>, groups: usize, gamma: &Tensor<1>, beta: &Tensor<1>, eps: f64, silu: bool) -> Tensor<4> {
    group_norm_shifted(kernels, x, None, groups, gamma, beta, eps, silu)
}

/// [`group_norm`] of `x + shift` with the [`Shift`] broadcast over the map (a ResNet's
/// time-embedding projection and its bias), in the same dispatch on the WGSL path (the sums in
/// f32, in the plain ops' order). On
/// wgpu a channels-last map (a convolution's output) is read and written channels-last, so
/// neither this kernel nor the next convolution copies it.
#[allow(clippy::too_many_arguments)]
pub fn group_norm_shifted(
    kernels: Kernels,
    x: Tensor<4>,
    shift: Option<Shift<'_>>,
    groups: usize,
    gamma: &Tensor<1>,
    beta: &Tensor<1>,
    eps: f64,
    silu: bool,
) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    if kernels.wgsl() && groups > 0 && c % groups == 0 && b * c * h * w > 0 {
        if let Some(xc) = on_wgpu_strided(&x) {
            let channels_last = !xc.is_contiguous() && is_channels_last(xc.meta.shape(), xc.meta.strides());
            let xc = if channels_last { xc } else { into_contiguous(xc) };
            let rows = Rows { rows: b * groups, groups, per_group: c / groups, spatial: h * w };
            if let Some(out) = run(xc, gamma, beta, shift.as_ref(), rows, eps, silu, channels_last) {
                return if channels_last { wrap::<4>(out).permute([0, 3, 1, 2]) } else { wrap(out) };
            }
        }
    }
    let x = match shift {
        Some(s) => x + s.total().reshape([b, c, 1, 1]),
        None => x,
    };
    if silu { ops::group_norm_silu(x, groups, gamma, beta, eps) } else { ops::group_norm(x, groups, gamma, beta, eps) }
}

/// `torch.nn.LayerNorm` over the last axis: one dispatch with [`Kernels::Wgsl`] on wgpu, else
/// [`ops::layer_norm`].
pub fn layer_norm<const D: usize>(kernels: Kernels, x: Tensor<D>, gamma: &Tensor<1>, beta: &Tensor<1>, eps: f64) -> Tensor<D> {
    let c = x.dims()[D - 1];
    if kernels.wgsl() && c > 0 {
        let rows = x.shape().num_elements() / c;
        if let Some(xc) = on_wgpu(&x) {
            if let Some(out) = run(xc, gamma, beta, None, Rows { rows, groups: 1, per_group: c, spatial: 1 }, eps, false, false) {
                return wrap(out);
            }
        }
    }
    ops::layer_norm(x, gamma, beta, eps)
}
