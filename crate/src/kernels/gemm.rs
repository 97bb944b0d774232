//! Launcher of `shaders/gemm.wgsl`: Linear layers and convolutions (as an implicit GEMM) in
//! one register-tiled dispatch each, bias included.

use burn::backend::wgpu::{KernelSource, SourceTemplate};
use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor};
use cubecl::CubeDim;
use cubecl::prelude::KernelId;

use super::{Kernels, empty_like, launch, on_wgpu, placeholder, template, wrap};

/// The register tile's side (outputs per thread per axis): 8 for large products (more
/// multiply-adds per workgroup-memory read), 4 for small ones (more workgroups in flight).
fn register_tile(m: usize, n: usize) -> u32 {
    if m >= 1024 && n >= 256 { 8 } else { 4 }
}

/// What one compiled variant of the kernel is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Gemm {
    dtype: DType,
    /// `None`: Linear; `Some((kernel, stride, padding))`: Conv2d.
    conv: Option<(usize, usize, usize)>,
    r: u32,
    bias: bool,
}

impl KernelSource for Gemm {
    fn source(&self) -> SourceTemplate {
        let (ks, stride, pad) = self.conv.unwrap_or((1, 1, 0));
        template(include_str!("../../../shaders/gemm.wgsl"), self.dtype)
            .register("mode", if self.conv.is_some() { "1" } else { "0" })
            .register("r", self.r.to_string())
            .register("tk", (1024 / (16 * self.r)).to_string())
            .register("bias", if self.bias { "true" } else { "false" })
            .register("ks", ks.to_string())
            .register("stride", stride.to_string())
            .register("pad", pad.to_string())
    }

    fn id(&self) -> KernelId {
        KernelId::new::<Self>().info((format!("{:?}", self.dtype), self.conv, self.r, self.bias))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// The WGSL sources of the GEMM kernel in `dtype` (Linear and a 3×3 convolution, both tiles),
/// as the device receives them.
pub(crate) fn sources(dtype: DType) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for conv in [None, Some((3, 1, 1))] {
        for r in [4, 8] {
            let k = Gemm { dtype, conv, r, bias: true };
            out.push((format!("gemm.wgsl conv={conv:?} r={r} {dtype:?}"), k.source().complete()));
        }
    }
    out
}

/// Largest index the kernel computes with (u32 arithmetic in WGSL).
const MAX_INDEX: usize = u32::MAX as usize / 2;

/// `x · Wᵀ + b` over the last axis of `x` `[..., K]`, for `weight` `[N, K]` (PyTorch's layout)
/// and `bias` `[N]`: one dispatch with [`Kernels::WgslGemm`] on wgpu, else [`linear_reference`].
pub fn linear<const D: usize>(kernels: Kernels, x: Tensor<D>, weight: &Tensor<2>, bias: Option<&Tensor<1>>) -> Tensor<D> {
    let dims = x.dims();
    let k = dims[D - 1];
    let [n, k_w] = weight.dims();
    let m: usize = dims[..D - 1].iter().product();
    if kernels.gemm() && k == k_w && m > 0 && n > 0 && k > 0 && m.max(n) * k < MAX_INDEX && m * n < MAX_INDEX {
        if let (Some(xc), Some(wc)) = (on_wgpu(&x), on_wgpu(weight)) {
            let bc = bias.and_then(on_wgpu);
            if xc.dtype == wc.dtype && bc.as_ref().is_none_or(|b| b.dtype == xc.dtype) && bias.is_some() == bc.is_some() {
                let mut shape = dims.to_vec();
                shape[D - 1] = n;
                let out = empty_like(&xc, shape);
                let r = register_tile(m, n);
                let tile = 16 * r as usize;
                let kernel = Gemm { dtype: xc.dtype, conv: None, r, bias: bc.is_some() };
                let count = (n.div_ceil(tile) as u32, m.div_ceil(tile) as u32, 1);
                if count.1 > 65_535 {
                    return linear_reference(x, weight, bias);
                }
                let bias_binding = bc.clone().unwrap_or_else(|| placeholder(&wc));
                launch(kernel, CubeDim::new_2d(16, 16), count, &[&xc, &wc, &bias_binding], &out, &[m as u32, n as u32, k as u32]);
                return wrap(out);
            }
        }
    }
    linear_reference(x, weight, bias)
}

/// The plain-ops Linear: a matmul with the transposed weight, plus the bias.
pub fn linear_reference<const D: usize>(x: Tensor<D>, weight: &Tensor<2>, bias: Option<&Tensor<1>>) -> Tensor<D> {
    let y = x.matmul(weight.clone().transpose().unsqueeze());
    match bias {
        Some(b) => y + b.clone().unsqueeze(),
        None => y,
    }
}

/// A convolution weight `[Cout, Cin, KS, KS]` as the convolution on `kernels`' path reads it
/// fastest: on wgpu with burn's convolution, the same tensor stored channels-last
/// (`[Cout, KS, KS, Cin]` in memory, seen as `[Cout, Cin, KS, KS]`), the layout burn's direct
/// convolution wants, so it does not copy the weight on every call; elsewhere unchanged.
pub fn conv_weight(kernels: Kernels, weight: Tensor<4>) -> Tensor<4> {
    if kernels.gemm() || super::on_wgpu(&weight).is_none() {
        return weight;
    }
    let [o, i, kh, kw] = weight.dims();
    // Reshaping the permuted view copies it into `[Cout, KS, KS, Cin]` order (once, at load).
    let flat: Tensor<2> = weight.permute([0, 2, 3, 1]).reshape([o, kh * kw * i]);
    flat.reshape([o, kh, kw, i]).permute([0, 3, 1, 2])
}

/// A square-kernel convolution of `x` `[B, Cin, H, W]` with `weight` `[Cout, Cin, KS, KS]`,
/// `bias` `[Cout]`, stride and symmetric padding: one implicit-GEMM dispatch with
/// [`Kernels::WgslGemm`] on wgpu, else [`conv2d_reference`] (burn's convolution).
pub fn conv2d(kernels: Kernels, x: Tensor<4>, weight: &Tensor<4>, bias: Option<&Tensor<1>>, stride: usize, padding: usize) -> Tensor<4> {
    let [b, cin, h, w] = x.dims();
    let [cout, cin_w, ks, ks2] = weight.dims();
    let fits = ks == ks2 && cin == cin_w && stride > 0 && h + 2 * padding >= ks && w + 2 * padding >= ks;
    if kernels.gemm() && fits && b * cin * h * w > 0 && cout > 0 {
        let ho = (h + 2 * padding - ks) / stride + 1;
        let wo = (w + 2 * padding - ks) / stride + 1;
        let (m, n, k) = (b * ho * wo, cout, cin * ks * ks);
        let small = m.max(n) * k < MAX_INDEX && m * n < MAX_INDEX && b * cin * h * w < MAX_INDEX;
        if small {
            if let (Some(xc), Some(wc)) = (on_wgpu(&x), on_wgpu(weight)) {
                let bc = bias.and_then(on_wgpu);
                if xc.dtype == wc.dtype && bc.as_ref().is_none_or(|b| b.dtype == xc.dtype) && bias.is_some() == bc.is_some() {
                    let out = empty_like(&xc, vec![b, cout, ho, wo]);
                    let r = register_tile(m, n);
                    let tile = 16 * r as usize;
                    let kernel = Gemm { dtype: xc.dtype, conv: Some((ks, stride, padding)), r, bias: bc.is_some() };
                    let count = (n.div_ceil(tile) as u32, m.div_ceil(tile) as u32, 1);
                    if count.1 > 65_535 {
                        return conv2d_reference(x, weight, bias, stride, padding);
                    }
                    let bias_binding = bc.clone().unwrap_or_else(|| placeholder(&wc));
                    let params = [m as u32, n as u32, k as u32, h as u32, w as u32, ho as u32, wo as u32];
                    launch(kernel, CubeDim::new_2d(16, 16), count, &[&xc, &wc, &bias_binding], &out, &params);
                    return wrap(out);
                }
            }
        }
    }
    conv2d_reference(x, weight, bias, stride, padding)
}

/// burn's convolution (direct on wgpu without autotune; the CPU backend's own elsewhere).
pub fn conv2d_reference(x: Tensor<4>, weight: &Tensor<4>, bias: Option<&Tensor<1>>, stride: usize, padding: usize) -> Tensor<4> {
    let options = ConvOptions::new([stride, stride], [padding, padding], [1, 1], 1);
    burn_conv2d(x, weight.clone(), bias.cloned(), options)
}
