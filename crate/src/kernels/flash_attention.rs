//! Launcher of `shaders/flash_attention.wgsl`: attention straight from the projection layout
//! `[B, N, heads·D]` with an online softmax, never materialising the score matrix.

use burn::backend::wgpu::{KernelSource, SourceTemplate};
use burn::tensor::{DType, Tensor};
use cubecl::CubeDim;
use cubecl::prelude::KernelId;

use super::{Kernels, empty_like, launch, on_wgpu, placeholder, template, wrap};
use crate::ops;

/// Query rows per workgroup (one per thread).
const BLOCK_Q: u32 = 64;
/// Largest head dimension the kernel takes (two f32 rows of `D` per thread live in registers);
/// wider heads (the VAE's single 512-wide head) use the chunked reference.
pub const MAX_HEAD_DIM: usize = 128;

/// Keys per tile: two f32 tiles of `BK × D` fill at most WebGPU's default 16 KiB of workgroup
/// memory, at least 1 and at most 32 (32 for D ≤ 64, 16 for D = 128).
fn block_k(head_dim: usize) -> u32 {
    (2048 / head_dim).clamp(1, 32) as u32
}

/// The vector width the kernel reads heads of `head_dim` with: 4, else 2; `None` for an odd
/// head dimension (the reference path takes it).
fn width(head_dim: usize) -> Option<usize> {
    [4, 2].into_iter().find(|w| head_dim % w == 0)
}

struct FlashAttention {
    dtype: DType,
    head_dim: usize,
}

impl KernelSource for FlashAttention {
    fn source(&self) -> SourceTemplate {
        template(include_str!("../../../shaders/flash_attention.wgsl"), self.dtype)
            .register("head_dim", self.head_dim.to_string())
            .register("width", width(self.head_dim).unwrap_or(1).to_string())
            .register("block_q", BLOCK_Q.to_string())
            .register("block_k", block_k(self.head_dim).to_string())
    }

    fn id(&self) -> KernelId {
        KernelId::new::<Self>().info((format!("{:?}", self.dtype), self.head_dim))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// The WGSL source of flash attention for heads of `head_dim` in `dtype`, as the device
/// receives it.
pub(crate) fn source(dtype: DType, head_dim: usize) -> String {
    FlashAttention { dtype, head_dim }.source().complete()
}

/// Multi-head scaled dot-product attention, no mask: `q` `[B, Nq, heads·D]`, `k`/`v`
/// `[B, Nk, heads·D]` → `[B, Nq, heads·D]` (heads merged), `scale` applied to `q·k`.
///
/// With [`Kernels::Wgsl`] on a wgpu device this is one dispatch of the flash kernel; otherwise
/// (and for head dims above [`MAX_HEAD_DIM`] or odd ones) it is [`ops::attention_chunked`] between head
/// split and merge, which the kernel is tested against.
pub fn attention(kernels: Kernels, q: Tensor<3>, k: Tensor<3>, v: Tensor<3>, heads: usize, scale: f64) -> Tensor<3> {
    attention_joint(kernels, q, (k, v), None, heads, scale)
}

/// [`attention`] over the keys and values `[first; second]` (concatenated along the token
/// axis, each pair `[B, N_i, heads·D]`; `second` may have batch 1, shared by every batch
/// element) without concatenating or repeating them on the WGSL path: the kernel reads the two
/// sources in place.
pub fn attention_joint(
    kernels: Kernels,
    q: Tensor<3>,
    first: (Tensor<3>, Tensor<3>),
    second: Option<(&Tensor<3>, &Tensor<3>)>,
    heads: usize,
    scale: f64,
) -> Tensor<3> {
    let [b, n_q, c] = q.dims();
    let (k, v) = first;
    let n_k1 = k.dims()[1];
    let n_k = n_k1 + second.map_or(0, |(k2, _)| k2.dims()[1]);
    let head_dim = c / heads;
    let shared2 = second.is_some_and(|(k2, _)| k2.dims()[0] == 1 && b > 1);
    let second_fits = second.is_none_or(|(k2, v2)| (k2.dims()[0] == b || shared2) && k2.dims()[2] == c && v2.dims() == k2.dims());
    if kernels.wgsl() && head_dim <= MAX_HEAD_DIM && width(head_dim).is_some() && n_k1 > 0 && n_q > 0 && second_fits {
        let two = match second {
            Some((k2, v2)) => on_wgpu(k2).zip(on_wgpu(v2)),
            None => None,
        };
        if let (Some(qc), Some(kc), Some(vc), true) = (on_wgpu(&q), on_wgpu(&k), on_wgpu(&v), second.is_none() || two.is_some()) {
            let (k2c, v2c) = two.unwrap_or_else(|| (placeholder(&kc), placeholder(&vc)));
            if [&kc, &vc, &k2c, &v2c].iter().all(|t| t.dtype == qc.dtype) {
                let out = empty_like(&qc, vec![b, n_q, c]);
                let groups = (n_q as u32).div_ceil(BLOCK_Q);
                launch(
                    FlashAttention { dtype: qc.dtype, head_dim },
                    CubeDim::new_1d(BLOCK_Q),
                    (groups, (b * heads) as u32, 1),
                    &[&qc, &kc, &vc, &k2c, &v2c],
                    &out,
                    &[heads as u32, n_q as u32, n_k as u32, (scale as f32).to_bits(), n_k1 as u32, u32::from(shared2)],
                );
                return wrap(out);
            }
        }
    }
    let (k, v) = match second {
        Some((k2, v2)) if shared2 => (Tensor::cat(vec![k, k2.clone().repeat_dim(0, b)], 1), Tensor::cat(vec![v, v2.clone().repeat_dim(0, b)], 1)),
        Some((k2, v2)) => (Tensor::cat(vec![k, k2.clone()], 1), Tensor::cat(vec![v, v2.clone()], 1)),
        None => (k, v),
    };
    reference(q, k, v, heads, scale)
}

/// The plain-ops path: split heads, [`ops::attention_chunked`], merge heads.
pub fn reference(q: Tensor<3>, k: Tensor<3>, v: Tensor<3>, heads: usize, scale: f64) -> Tensor<3> {
    let (q, k, v) = (ops::split_heads(q, heads), ops::split_heads(k, heads), ops::split_heads(v, heads));
    ops::merge_heads(ops::attention_chunked(q, k, v, scale, None))
}
