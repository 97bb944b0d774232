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
use serde::{Deserialize, Serialize};

use super::{Kernels, empty_like, epilogue, is_channels_last, launch, on_wgpu, on_wgpu_strided, placeholder, template, tune, wrap};

/// One tile shape of the family: a workgroup of `wx × wy` threads, each computing a
/// `4·vm × 4·vn` block of the output, walking K in tiles of `tk`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tile {
    /// Threads along N.
    pub wx: u32,
    /// Threads along M.
    pub wy: u32,
    /// 4-row groups per thread.
    pub vm: u32,
    /// 4-column groups per thread.
    pub vn: u32,
    /// K tile (a multiple of 4).
    pub tk: u32,
}

impl Tile {
    /// Output rows per workgroup.
    pub const fn tm(self) -> u32 {
        4 * self.vm * self.wy
    }

    /// Output columns per workgroup.
    pub const fn tn(self) -> u32 {
        4 * self.vn * self.wx
    }

    /// Threads per workgroup.
    pub const fn threads(self) -> u32 {
        self.wx * self.wy
    }

    /// Workgroup memory of the two f32 tiles, in bytes.
    pub const fn workgroup_bytes(self) -> u32 {
        self.tk * (self.tm() + self.tn()) * 4
    }

    /// Within WebGPU's default limits (256 invocations, 16 KiB of workgroup memory).
    pub const fn within_default_limits(self) -> bool {
        self.threads() <= 256 && self.workgroup_bytes() <= 16 * 1024 && self.tk % 4 == 0 && self.tk > 0 && self.vm > 0 && self.vn > 0
    }

    /// `TMxTNkTKtTHREADS`, e.g. `128x64k16t256`.
    pub fn name(self) -> String {
        format!("{}x{}k{}t{}", self.tm(), self.tn(), self.tk, self.threads())
    }
}

const fn tile(wx: u32, wy: u32, vm: u32, vn: u32, tk: u32) -> Tile {
    Tile { wx, wy, vm, vn, tk }
}

/// The tiles the tuner chooses among and the sweep measures, largest first. All stay within
/// WebGPU's default limits. Each is a shader of its own (per storage type and kernel side), so
/// the set is kept small: the sizes the published WGSL GEMMs found best, and smaller ones for
/// problems with few output tiles.
pub const TILES: [Tile; 5] = [
    // 128 × 128, 8 × 8 outputs per thread: the most multiply-adds per workgroup-memory read.
    tile(16, 16, 2, 2, 16),
    // 128 × 64, 8 × 4 per thread (the shape of the fastest published WGSL f32 GEMM on an A100).
    tile(16, 16, 2, 1, 16),
    // 64 × 64, 4 × 4 per thread, with a longer K tile.
    tile(16, 16, 1, 1, 32),
    // 64 threads: for problems with few output tiles.
    tile(8, 8, 2, 2, 16),
    tile(8, 8, 1, 1, 32),
];

/// How one GEMM problem runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GemmImpl {
    /// burn's kernels: the matmul (cubek's unit matmul) and the direct convolution.
    Burn,
    /// A tile of the family, with K split in `split` parts (1: no split, the epilogue fused).
    Tiled {
        /// The tile.
        tile: Tile,
        /// K splits (the reduction and the epilogue then run in `epilogue.wgsl`).
        split: u32,
    },
}

impl GemmImpl {
    /// `burn`, or the tile's name with `/sS` when K is split (`128x64k16t256/s4`).
    pub fn name(self) -> String {
        match self {
            Self::Burn => "burn".into(),
            Self::Tiled { tile, split: 1 } => tile.name(),
            Self::Tiled { tile, split } => format!("{}/s{split}", tile.name()),
        }
    }

    /// Parses [`Self::name`] (the tile must be one of [`TILES`]).
    pub fn parse(name: &str) -> Option<Self> {
        if name == "burn" {
            return Some(Self::Burn);
        }
        let (tile_name, split) = match name.split_once("/s") {
            Some((t, s)) => (t, s.parse().ok().filter(|&s: &u32| (1..=64).contains(&s))?),
            None => (name, 1),
        };
        let tile = TILES.into_iter().find(|t| t.name() == tile_name)?;
        Some(Self::Tiled { tile, split })
    }
}

impl Serialize for GemmImpl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for GemmImpl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Self::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown GEMM implementation `{name}`")))
    }
}

/// The geometry of one GEMM problem (without its dtype).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GemmShape {
    /// `[m, k] · [n, k]ᵀ`.
    Linear {
        /// Rows (tokens × batch).
        m: usize,
        /// Output features.
        n: usize,
        /// Input features.
        k: usize,
    },
    /// A square-kernel convolution of `[b, cin, h, w]` into `cout` channels.
    Conv {
        /// Batch.
        b: usize,
        /// Input height.
        h: usize,
        /// Input width.
        w: usize,
        /// Input channels.
        cin: usize,
        /// Output channels.
        cout: usize,
        /// Kernel side.
        ks: usize,
        /// Stride.
        stride: usize,
        /// Symmetric padding.
        pad: usize,
    },
}

impl GemmShape {
    /// The output side of a convolution (0 when the kernel does not fit).
    fn out_side(len: usize, ks: usize, stride: usize, pad: usize) -> usize {
        if len + 2 * pad < ks || stride == 0 { 0 } else { (len + 2 * pad - ks) / stride + 1 }
    }

    /// `(M, N, K)` of the product.
    pub fn mnk(self) -> (usize, usize, usize) {
        match self {
            Self::Linear { m, n, k } => (m, n, k),
            Self::Conv { b, h, w, cin, cout, ks, stride, pad } => {
                (b * Self::out_side(h, ks, stride, pad) * Self::out_side(w, ks, stride, pad), cout, cin * ks * ks)
            }
        }
    }

    /// Floating-point operations (2·M·N·K).
    pub fn flops(self) -> f64 {
        let (m, n, k) = self.mnk();
        2.0 * m as f64 * n as f64 * k as f64
    }

    /// A stable text key: `linear m8192 n320 k320`, `conv3s1p1 b2 64x64 320->320`.
    pub fn key(self) -> String {
        match self {
            Self::Linear { m, n, k } => format!("linear m{m} n{n} k{k}"),
            Self::Conv { b, h, w, cin, cout, ks, stride, pad } => format!("conv{ks}s{stride}p{pad} b{b} {h}x{w} {cin}->{cout}"),
        }
    }

    /// Whether the family can run it: K (and a convolution's input channels) a multiple of 4
    /// for the 4-vector reads, every index within u32, and a grid within WebGPU's limits.
    pub fn supported(self) -> bool {
        let (m, n, k) = self.mnk();
        let channels_ok = match self {
            Self::Linear { .. } => true,
            Self::Conv { b, h, w, cin, .. } => cin % 4 == 0 && b * h * w * cin < MAX_INDEX,
        };
        m > 0 && n > 0 && k > 0 && k % 4 == 0 && channels_ok && m.max(n) * k < MAX_INDEX && m * n < MAX_INDEX / 16
            && m.div_ceil(32) <= 65_535
    }

    /// The implementations worth timing for this problem: burn's kernels, every tile, and for
    /// problems with few output tiles and a long K, the K splits that bring the workgroup count
    /// up to a few hundred.
    pub fn candidates(self) -> Vec<GemmImpl> {
        let mut out = vec![GemmImpl::Burn];
        if !self.supported() {
            return out;
        }
        let (m, n, k) = self.mnk();
        for tile in TILES {
            if m.div_ceil(tile.tm() as usize) > 65_535 {
                continue;
            }
            out.push(GemmImpl::Tiled { tile, split: 1 });
            let groups = m.div_ceil(tile.tm() as usize) * n.div_ceil(tile.tn() as usize);
            for split in [2u32, 4, 8, 16] {
                // Each split keeps at least 8 K tiles, and splitting stops at ~512 workgroups.
                if groups * split as usize <= 512 && k >= 8 * tile.tk as usize * split as usize {
                    out.push(GemmImpl::Tiled { tile, split });
                }
            }
        }
        out
    }

    /// The family's choice without measurements: the 128 × 64 tile for large outputs, 64 × 64
    /// below, and a K split when the output has fewer than 128 tiles and K is long.
    pub fn heuristic(self) -> GemmImpl {
        let (m, n, k) = self.mnk();
        let tile = if m >= 1024 && n >= 256 { TILES[1] } else { TILES[2] };
        let groups = m.div_ceil(tile.tm() as usize) * n.div_ceil(tile.tn() as usize);
        let mut split = 1u32;
        while groups * (split as usize) < 128 && k >= 16 * tile.tk as usize * split as usize && split < 16 {
            split *= 2;
        }
        GemmImpl::Tiled { tile, split }
    }
}

/// Largest index the kernel computes with (u32 arithmetic in WGSL).
const MAX_INDEX: usize = u32::MAX as usize / 2;

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
        template(include_str!("../../../shaders/gemm.wgsl"), self.dtype)
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
/// is tuned; the problem is recorded for the next tuning run).
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
            GemmImpl::Burn
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
