//! Launcher of `shaders/gemm.wgsl`, the GEMM family: Linear layers and convolutions (an
//! implicit GEMM over channels-last maps) with a tile shape and a K split chosen per problem
//! ([`GemmImpl`]), the bias, residual adds and SiLU fused into the same dispatch (or into the
//! split-K reduction). Which implementation runs a problem — burn's matmul / direct convolution
//! or one of the family — is [`choose`]'s answer: forced by [`Kernels`], kept from a tuning run
//! ([`super::tune`]), or the shipped default.

use burn::backend::wgpu::{CubeTensor, KernelSource, SourceTemplate};
use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor};
use cubecl::CubeDim;
use cubecl::prelude::KernelId;

mod tiles;

pub use tiles::{GemmImpl, GemmShape, TILES, Tile};

use super::{Kernels, empty_like, epilogue, is_channels_last, launch, on_wgpu, on_wgpu_strided, placeholder, template, tune, wrap};

/// One compiled variant of the kernel (a K split is a run-time flag).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Gemm {
    dtype: DType,
    /// The kernel side (1 for a Linear layer).
    ks: usize,
    tile: Tile,
}

impl KernelSource for Gemm {
    fn source(&self) -> SourceTemplate {
        let t = self.tile;
        template(include_str!("../../../../shaders/gemm.wgsl"), self.dtype)
            .register("wx", t.wx.to_string())
            .register("wy", t.wy.to_string())
            .register("vm", t.vm.to_string())
            .register("vn", t.vn.to_string())
            .register("tk", t.tk.to_string())
            .register("ks", self.ks.to_string())
    }

    fn id(&self) -> KernelId {
        KernelId::new::<Self>().info((format!("{:?}", self.dtype), self.ks, self.tile))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// The WGSL sources of the family in `dtype` (every tile, 1 × 1 (Linear) and 3 × 3), as the
/// device receives them.
pub(crate) fn sources(dtype: DType) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for ks in [1, 3] {
        for tile in TILES {
            let k = Gemm { dtype, ks, tile };
            out.push((format!("gemm.wgsl ks={ks} {} {dtype:?}", tile.name()), k.source().complete()));
        }
    }
    out
}

/// The tail of a GEMM: bias, residuals (of the output's shape, at most two) and SiLU.
#[derive(Clone, Copy)]
pub struct Epilogue<'a, const D: usize> {
    /// Added to every row.
    pub bias: Option<&'a Tensor<1>>,
    /// Added after the bias, in order.
    pub residuals: &'a [Tensor<D>],
    /// SiLU last.
    pub silu: bool,
}

impl<'a, const D: usize> Epilogue<'a, D> {
    /// Only a bias (or nothing).
    pub fn bias(bias: Option<&'a Tensor<1>>) -> Self {
        Self { bias, residuals: &[], silu: false }
    }
}

/// Which implementation runs `shape` in `dtype` on the device of `like` under `kernels`:
/// [`Kernels::Reference`] → burn; a forced implementation (where the family supports the
/// shape); [`Kernels::WgslGemm`] → the kept tuned tile, else [`GemmShape::heuristic`];
/// [`Kernels::Wgsl`] → the kept tuned choice, else burn (the measured default until a device
/// is tuned; the problem is recorded for the next tuning run), except where burn would sum in
/// f16 ([`GemmShape::burn_sums_in_f16`]: f16 convolutions), which take [`GemmShape::heuristic`].
pub fn choose(kernels: Kernels, shape: GemmShape, dtype: DType, like: &CubeTensor) -> GemmImpl {
    let id = like.device.to_id();
    let chosen = match kernels {
        Kernels::Reference => GemmImpl::Burn,
        Kernels::Forced(imp) => imp,
        Kernels::WgslGemm => match tune::kept(id, shape, dtype) {
            Some(imp @ GemmImpl::Tiled { .. }) => imp,
            _ => shape.heuristic(),
        },
        Kernels::Wgsl => tune::kept(id, shape, dtype).unwrap_or_else(|| {
            tune::record_untuned(id, shape, dtype);
            if shape.burn_sums_in_f16(dtype) { shape.heuristic() } else { GemmImpl::Burn }
        }),
    };
    if shape.supported() { chosen } else { GemmImpl::Burn }
}

/// The tensors of an epilogue on wgpu, in the output's dtype and `[M, N]` layout; `None` when
/// one of them is not.
struct EpilogueTensors {
    bias: Option<CubeTensor>,
    residuals: Vec<CubeTensor>,
    silu: bool,
}

impl EpilogueTensors {
    fn from<const D: usize>(epi: &Epilogue<'_, D>, dtype: DType, n: usize) -> Option<Self> {
        let bias = match epi.bias {
            Some(b) if b.dims() == [n] => Some(on_wgpu(b)?),
            Some(_) => return None,
            None => None,
        };
        let residuals = epi.residuals.iter().map(on_wgpu).collect::<Option<Vec<_>>>()?;
        if residuals.len() > 2 || bias.iter().chain(&residuals).any(|t| t.dtype != dtype) {
            return None;
        }
        Some(Self { bias, residuals, silu: epi.silu })
    }

    /// The flag bits of `gemm.wgsl` / `epilogue.wgsl`.
    fn flags(&self) -> u32 {
        u32::from(self.bias.is_some()) | u32::from(!self.residuals.is_empty()) << 1 | u32::from(self.residuals.len() == 2) << 2 | u32::from(self.silu) << 3
    }
}

/// `gemm.wgsl`'s flag bit: write f32 partial sums of a K split.
const SPLIT_FLAG: u32 = 16;

/// The K range of one split: a whole number of K tiles.
fn split_chunk(k: usize, tile: Tile, split: u32) -> usize {
    let tk = tile.tk as usize;
    k.div_ceil(split.max(1) as usize).div_ceil(tk).max(1) * tk
}

/// How many parts K is really split into with `split` asked for (fewer when K has fewer tiles):
/// more than 1 means a second dispatch, the reduction.
pub fn split_parts(k: usize, tile: Tile, split: u32) -> usize {
    k.div_ceil(split_chunk(k, tile, split))
}

/// Runs the family on `a` (`[M, K]`, or a channels-last map for a convolution) and `w`
/// (`[N, K]` contiguous); the output is `[M, N]` contiguous with `shape_out` as its shape.
fn run_tiled(a: &CubeTensor, w: &CubeTensor, shape: GemmShape, tile: Tile, split: u32, epi: &EpilogueTensors, shape_out: Vec<usize>) -> CubeTensor {
    let (m, n, k) = shape.mnk();
    let chunk = split_chunk(k, tile, split);
    let parts = k.div_ceil(chunk);
    // A Linear layer is the 1 × 1 convolution of a 1 × M image with K channels.
    let (ks, h, wd, ho, wo, stride, pad) = match shape {
        GemmShape::Linear { m, .. } => (1, 1, m, 1, m, 1, 0),
        GemmShape::Conv { h, w, ks, stride, pad, .. } => {
            (ks, h, w, GemmShape::out_side(h, ks, stride, pad), GemmShape::out_side(w, ks, stride, pad), stride, pad)
        }
    };
    let count = (n.div_ceil(tile.tn() as usize) as u32, m.div_ceil(tile.tm() as usize) as u32, parts as u32);
    let workgroup = CubeDim::new_2d(tile.wx, tile.wy);
    let kernel = Gemm { dtype: a.dtype, ks, tile };
    let holders = || placeholder(a);
    let params = |flags: u32| [m, n, k, flags as usize, chunk, h, wd, ho, wo, stride, pad].map(|v| v as u32);
    if parts == 1 {
        let out = empty_like(a, shape_out);
        let bias = epi.bias.clone().unwrap_or_else(holders);
        let r1 = epi.residuals.first().cloned().unwrap_or_else(holders);
        let r2 = epi.residuals.get(1).cloned().unwrap_or_else(holders);
        let ws = super::empty_like_dtype(a, vec![1], DType::F32);
        launch(kernel, workgroup, count, &[a, w, &bias, &r1, &r2, &ws], &out, &params(epi.flags()));
        return out;
    }
    let workspace = super::empty_like_dtype(a, vec![parts, m, n], DType::F32);
    let [p1, p2, p3, p4] = [holders(), holders(), holders(), holders()];
    launch(kernel, workgroup, count, &[a, w, &p1, &p2, &p3, &workspace], &p4, &params(SPLIT_FLAG));
    epilogue::reduce(&workspace, parts, a.dtype, epi.bias.as_ref(), &epi.residuals, epi.silu, m * n, n, shape_out)
}

/// `x · Wᵀ + b` over the last axis of `x` `[..., K]`, for `weight` `[N, K]` (PyTorch's layout)
/// and `bias` `[N]` (see [`linear_fused`]).
pub fn linear<const D: usize>(kernels: Kernels, x: Tensor<D>, weight: &Tensor<2>, bias: Option<&Tensor<1>>) -> Tensor<D> {
    linear_fused(kernels, x, weight, Epilogue::bias(bias))
}

/// `epilogue(x · Wᵀ)`: with the family, one dispatch (two with a K split); with burn's matmul,
/// the matmul, then the bias add (plain) or [`epilogue`]'s one dispatch for residuals and SiLU.
pub fn linear_fused<const D: usize>(kernels: Kernels, x: Tensor<D>, weight: &Tensor<2>, epi: Epilogue<'_, D>) -> Tensor<D> {
    let dims = x.dims();
    let k = dims[D - 1];
    let [n, k_w] = weight.dims();
    let m: usize = dims[..D - 1].iter().product();
    if kernels.wgsl() && k == k_w {
        if let (Some(xc), Some(wc)) = (on_wgpu(&x), on_wgpu(weight)) {
            let shape = GemmShape::Linear { m, n, k };
            if let GemmImpl::Tiled { tile, split } = choose(kernels, shape, xc.dtype, &xc) {
                if let Some(epi_t) = EpilogueTensors::from(&epi, xc.dtype, n).filter(|_| wc.dtype == xc.dtype) {
                    let mut out_shape = dims.to_vec();
                    out_shape[D - 1] = n;
                    return wrap(run_tiled(&xc, &wc, shape, tile, split, &epi_t, out_shape));
                }
            }
        }
    }
    linear_burn(kernels, x, weight, epi)
}

/// The Linear on burn's matmul with the epilogue after it.
fn linear_burn<const D: usize>(kernels: Kernels, x: Tensor<D>, weight: &Tensor<2>, epi: Epilogue<'_, D>) -> Tensor<D> {
    if epi.silu {
        let y = linear_reference(x, weight, None);
        return epilogue::bias_silu(kernels, y, epi.bias);
    }
    if epi.residuals.is_empty() {
        return linear_reference(x, weight, epi.bias);
    }
    epilogue::bias_residual(kernels, linear_reference(x, weight, None), epi.bias, epi.residuals)
}

/// The plain-ops Linear: a matmul with the transposed weight, plus the bias.
pub fn linear_reference<const D: usize>(x: Tensor<D>, weight: &Tensor<2>, bias: Option<&Tensor<1>>) -> Tensor<D> {
    let y = x.matmul(weight.clone().transpose().unsqueeze());
    match bias {
        Some(b) => y + b.clone().unsqueeze(),
        None => y,
    }
}

/// A convolution weight `[Cout, Cin, KS, KS]` as the convolutions on wgpu read it fastest: the
/// same tensor stored channels-last (`[Cout, KS, KS, Cin]` in memory, seen as
/// `[Cout, Cin, KS, KS]`). It is what burn's direct convolution wants (it does not copy the weight
/// on every call) and the `[N, K]` matrix of the family's implicit GEMM; elsewhere unchanged.
pub fn conv_weight(_kernels: Kernels, weight: Tensor<4>) -> Tensor<4> {
    if super::on_wgpu(&weight).is_none() {
        return weight;
    }
    let [o, i, kh, kw] = weight.dims();
    // Reshaping the permuted view copies it into `[Cout, KS, KS, Cin]` order (once, at load).
    let flat: Tensor<2> = weight.permute([0, 2, 3, 1]).reshape([o, kh * kw * i]);
    flat.reshape([o, kh, kw, i]).permute([0, 3, 1, 2])
}

/// The cubecl tensor of a map `[B, C, H, W]` stored channels-last (`[B, H, W, C]` contiguous):
/// the tensor itself when it already is (what convolutions and norms write), else a copy.
fn channels_last(x: &Tensor<4>) -> Option<CubeTensor> {
    let xc = on_wgpu_strided(x)?;
    if is_channels_last(xc.meta.shape(), xc.meta.strides()) {
        return Some(xc);
    }
    on_wgpu(&x.clone().permute([0, 2, 3, 1]))
}

/// A square-kernel convolution of `x` `[B, Cin, H, W]` with `weight` `[Cout, Cin, KS, KS]`,
/// `bias` `[Cout]`, stride and symmetric padding: the family's implicit GEMM where [`choose`]
/// says so (output stored channels-last), else [`conv2d_reference`] (burn's convolution).
pub fn conv2d(kernels: Kernels, x: Tensor<4>, weight: &Tensor<4>, bias: Option<&Tensor<1>>, stride: usize, padding: usize) -> Tensor<4> {
    let [b, cin, h, w] = x.dims();
    let [cout, cin_w, ks, ks2] = weight.dims();
    let shape = GemmShape::Conv { b, h, w, cin, cout, ks, stride, pad: padding };
    if kernels.wgsl() && ks == ks2 && cin == cin_w && shape.mnk().0 > 0 {
        if let Some(wc) = on_wgpu_strided(weight) {
            if let GemmImpl::Tiled { tile, split } = choose(kernels, shape, wc.dtype, &wc) {
                // The weight as [N, K] with k = (ky, kx, ci): its channels-last storage.
                let wc = if is_channels_last(wc.meta.shape(), wc.meta.strides()) { Some(wc) } else { on_wgpu(&conv_weight(kernels, weight.clone())) };
                let epi = EpilogueTensors::from(&Epilogue::<4>::bias(bias), x.dtype(), cout);
                if let (Some(xc), Some(wc), Some(epi)) = (channels_last(&x), wc, epi) {
                    if xc.dtype == wc.dtype {
                        let ho = GemmShape::out_side(h, ks, stride, padding);
                        let wo = GemmShape::out_side(w, ks, stride, padding);
                        let out = run_tiled(&xc, &wc, shape, tile, split, &epi, vec![b, ho, wo, cout]);
                        return wrap::<4>(out).permute([0, 3, 1, 2]);
                    }
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
