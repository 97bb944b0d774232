//! Launcher of `shaders/flash_attention.wgsl`: attention straight from the projection layout
//! `[B, N, heads·D]` with an online softmax, never materialising the score matrix; and of its
//! subgroup variant (the same file's `//#if subgroup` lines), used on devices created with
//! subgroup operations.

use burn::backend::wgpu::{CubeTensor, KernelSource, SourceTemplate};
use burn::tensor::{DType, Tensor};
use cubecl::CubeDim;
use cubecl::prelude::KernelId;

use super::{Kernels, empty_like, launch, on_wgpu, placeholder, subgroup_min, template, wrap};
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

/// Keys per shuffle round the subgroup variant can use for heads of `head_dim`, largest first:
/// 16, 8 or 4, those that divide the tile (a round never straddles two tiles). At most 16
/// because a round's scores live in registers (ONNX Runtime Web's kernel caps them at 16 too).
/// Empty where the plain kernel does not run either.
pub fn subgroup_steps(head_dim: usize) -> impl Iterator<Item = u32> {
    let bk = block_k(head_dim) as usize;
    let ok = head_dim <= MAX_HEAD_DIM && width(head_dim).is_some();
    [16, 8, 4].into_iter().filter(move |&sg| ok && bk % sg == 0).map(|sg| sg as u32)
}

/// Which kernel [`attention_variant`] launches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The subgroup kernel where the device was created with subgroup operations and a round
    /// fits its smallest subgroup, else the plain kernel (what [`attention`] does).
    Auto,
    /// `shaders/flash_attention.wgsl`, whatever the device offers.
    Plain,
    /// The subgroup variant of `shaders/flash_attention.wgsl` with this many keys per round,
    /// when the device has subgroups at least that wide and the head dimension allows it; the
    /// plain kernel otherwise.
    Subgroup(u32),
}

struct FlashAttention {
    dtype: DType,
    head_dim: usize,
}

/// The subgroup variant (its own type, so launch counts tell the two kernels apart).
struct FlashAttentionSubgroup {
    dtype: DType,
    head_dim: usize,
    step: u32,
}

/// `shaders/flash_attention.wgsl`, both variants in one file.
const SOURCE: &str = include_str!("../../../shaders/flash_attention.wgsl");

/// The lines of `source` for one variant: a line `//#if subgroup` starts the subgroup variant's
/// lines, `//#else` the plain variant's, `//#endif` ends the pair; the marker lines go.
fn variant(source: &str, subgroup: bool) -> String {
    let mut keep = true;
    let mut out = String::with_capacity(source.len());
    for line in source.lines() {
        match line.trim() {
            "//#if subgroup" => keep = subgroup,
            "//#else" => keep = !subgroup,
            "//#endif" => keep = true,
            _ if keep => {
                out.push_str(line);
                out.push('\n');
            }
            _ => {}
        }
    }
    out
}

/// The template of one variant with every value but the subgroup round filled in.
fn render(subgroup: bool, dtype: DType, head_dim: usize) -> SourceTemplate {
    template(&variant(SOURCE, subgroup), dtype)
        .register("head_dim", head_dim.to_string())
        .register("width", width(head_dim).unwrap_or(1).to_string())
        .register("block_q", BLOCK_Q.to_string())
        .register("block_k", block_k(head_dim).to_string())
}

impl KernelSource for FlashAttention {
    fn source(&self) -> SourceTemplate {
        render(false, self.dtype, self.head_dim)
    }

    fn id(&self) -> KernelId {
        KernelId::new::<Self>().info((format!("{:?}", self.dtype), self.head_dim))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

impl KernelSource for FlashAttentionSubgroup {
    fn source(&self) -> SourceTemplate {
        render(true, self.dtype, self.head_dim)
            .register("subgroup", self.step.to_string())
    }

    fn id(&self) -> KernelId {
        KernelId::new::<Self>().info((format!("{:?}", self.dtype), self.head_dim, self.step))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// The WGSL source of flash attention for heads of `head_dim` in `dtype`, as the device
/// receives it: the plain kernel, or the subgroup variant with `subgroup` keys per round.
pub(crate) fn source(dtype: DType, head_dim: usize, subgroup: Option<u32>) -> String {
    match subgroup {
        None => FlashAttention { dtype, head_dim }.source().complete(),
        Some(step) => FlashAttentionSubgroup { dtype, head_dim, step }.source().complete(),
    }
}

/// The keys per round of the subgroup variant for this launch, or `None` for the plain kernel.
fn subgroup_step(variant: Variant, q: &CubeTensor, head_dim: usize) -> Option<u32> {
    let min = subgroup_min(q)?;
    let mut steps = subgroup_steps(head_dim).filter(|&sg| sg <= min);
    match variant {
        Variant::Plain => None,
        Variant::Auto => steps.next(),
        Variant::Subgroup(step) => steps.find(|&sg| sg == step),
    }
}

/// Multi-head scaled dot-product attention, no mask: `q` `[B, Nq, heads·D]`, `k`/`v`
/// `[B, Nk, heads·D]` → `[B, Nq, heads·D]` (heads merged), `scale` applied to `q·k`.
///
/// With [`Kernels::Wgsl`] on a wgpu device this is one dispatch of the flash kernel (its
/// subgroup variant where the device has subgroups, [`Variant::Auto`]); otherwise
/// (and for head dims above [`MAX_HEAD_DIM`] or odd ones) it is [`ops::attention_chunked`] between head
/// split and merge, which the kernel is tested against.
pub fn attention(kernels: Kernels, q: Tensor<3>, k: Tensor<3>, v: Tensor<3>, heads: usize, scale: f64) -> Tensor<3> {
    attention_variant(kernels, Variant::Auto, q, (k, v), None, heads, scale)
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
    attention_variant(kernels, Variant::Auto, q, first, second, heads, scale)
}

/// [`attention_joint`] with the kernel variant chosen by the caller (tests and the benchmark
/// compare the two).
pub fn attention_variant(
    kernels: Kernels,
    variant: Variant,
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
                let count = ((n_q as u32).div_ceil(BLOCK_Q), (b * heads) as u32, 1);
                let bindings = [&qc, &kc, &vc, &k2c, &v2c];
                let params = [heads as u32, n_q as u32, n_k as u32, (scale as f32).to_bits(), n_k1 as u32, u32::from(shared2)];
                let dtype = qc.dtype;
                match subgroup_step(variant, &qc, head_dim) {
                    Some(step) => launch(FlashAttentionSubgroup { dtype, head_dim, step }, CubeDim::new_1d(BLOCK_Q), count, &bindings, &out, &params),
                    None => launch(FlashAttention { dtype, head_dim }, CubeDim::new_1d(BLOCK_Q), count, &bindings, &out, &params),
                }
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
