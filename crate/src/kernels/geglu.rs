//! Launcher of `shaders/geglu.wgsl`: `value · gelu(gate)` of the feed-forward's projection in
//! one dispatch.

use burn::backend::wgpu::{KernelSource, SourceTemplate};
use burn::tensor::activation::gelu;
use burn::tensor::{DType, Tensor};
use cubecl::CubeDim;
use cubecl::prelude::KernelId;

use super::{Kernels, empty_like, grid, launch, on_wgpu, placeholder, wrap};

/// Threads per workgroup (one output element each).
const THREADS: u32 = 256;

super::threads_kernel!(Geglu, "geglu.wgsl", THREADS);

/// `h[..., :I] · gelu(h[..., I:])` for `h` `[B, N, 2I]` (exact erf GELU): one dispatch with
/// [`Kernels::Wgsl`] on wgpu, else [`reference`].
pub fn geglu(kernels: Kernels, h: Tensor<3>) -> Tensor<3> {
    geglu_biased(kernels, h, None)
}

/// [`geglu`] of `h + bias` (`bias` `[2I]`, the projection's bias), the add inside the same
/// dispatch on the WGSL path.
pub fn geglu_biased(kernels: Kernels, h: Tensor<3>, bias: Option<&Tensor<1>>) -> Tensor<3> {
    let [b, n, two_i] = h.dims();
    let inner = two_i / 2;
    let total = b * n * inner;
    if kernels.wgsl() && two_i % 2 == 0 && total > 0 && total < u32::MAX as usize && bias.is_none_or(|t| t.dims() == [two_i]) {
        let bc = bias.map(on_wgpu);
        if let (Some(hc), false) = (on_wgpu(&h), matches!(bc, Some(None))) {
            let bc = bc.flatten();
            if bc.as_ref().is_none_or(|t| t.dtype == hc.dtype) {
                let out = empty_like(&hc, vec![b, n, inner]);
                let count = grid(total.div_ceil(THREADS as usize));
                let params = [(b * n) as u32, inner as u32, count.0, u32::from(bc.is_some())];
                let bc = bc.unwrap_or_else(|| placeholder(&hc));
                launch(Geglu { dtype: hc.dtype, threads: THREADS }, CubeDim::new_1d(THREADS), count, &[&hc, &bc], &out, &params);
                return wrap(out);
            }
        }
    }
    reference(match bias {
        Some(t) => h + t.clone().unsqueeze(),
        None => h,
    })
}

/// The plain-ops GEGLU: narrow into value and gate, `value · gelu(gate)`.
pub fn reference(h: Tensor<3>) -> Tensor<3> {
    let inner = h.dims()[2] / 2;
    let value = h.clone().narrow(2, 0, inner);
    let gate = h.narrow(2, inner, inner);
    value * gelu(gate)
}
