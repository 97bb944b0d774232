//! The GEMM family's vocabulary: its tile shapes ([`Tile`], [`TILES`]), the implementation a
//! problem runs ([`GemmImpl`]: burn's, or a tile with a K split) and the problems themselves
//! ([`GemmShape`]: Linear layers and convolutions as GEMMs) with the shipped heuristic.

use burn::tensor::DType;
use serde::{Deserialize, Serialize};

/// Largest index the kernel computes with (u32 arithmetic in WGSL).
const MAX_INDEX: usize = u32::MAX as usize / 2;

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
    pub(super) fn out_side(len: usize, ks: usize, stride: usize, pad: usize) -> usize {
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

    /// Whether burn's kernel for this problem sums its products in f16 when `dtype` is f16: its
    /// direct convolution (cubek-convolution's `launch_direct`) accumulates in the storage type,
    /// so an f16 3 × 3 convolution sums 9·C_in products in f16 (up to 23,040 in SD 2.1's UNet);
    /// its matmul sums f16 in f32. On the tiny VAE's f16 images that is 0.18 element-wise
    /// against 2.4e-2 on the family, which sums in f32 (docs/elementwise-parity.md).
    pub fn burn_sums_in_f16(self, dtype: DType) -> bool {
        matches!(self, Self::Conv { .. }) && dtype == DType::F16
    }

    /// The implementations worth timing for this problem in `dtype`: burn's kernels (unless they
    /// would sum in f16, [`Self::burn_sums_in_f16`], and the family can run the problem), every
    /// tile, and for problems with few output tiles and a long K, the K splits that bring the
    /// workgroup count up to a few hundred.
    pub fn candidates(self, dtype: DType) -> Vec<GemmImpl> {
        if !self.supported() {
            return vec![GemmImpl::Burn];
        }
        let mut out = if self.burn_sums_in_f16(dtype) { Vec::new() } else { vec![GemmImpl::Burn] };
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
