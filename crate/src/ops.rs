//! Reference implementations of the numeric building blocks in plain burn ops. They are the
//! oracle that hand-written WGSL kernels (in `shaders/`) are tested against, and the default
//! path on every backend. Normalisations and softmax accumulate in f32 whatever the input dtype.

use burn::tensor::activation::{silu, softmax};
use burn::tensor::{DType, Tensor};

/// Runs `f` on `x` in f32 and casts the result back to `x`'s dtype (for reductions that must
/// not accumulate in f16).
fn in_f32<const D: usize>(x: Tensor<D>, f: impl FnOnce(Tensor<D>) -> Tensor<D>) -> Tensor<D> {
    let dtype = x.dtype();
    if dtype == DType::F32 {
        f(x)
    } else {
        f(x.cast(DType::F32)).cast(dtype)
    }
}

/// `torch.cat([a, b], dim=1)` of two `[B, C, H, W]` maps (an up block's skip connection). The
/// result is stored channels-last, the layout burn's convolution reads and writes, so on wgpu
/// neither the norm nor the convolution that follow copy it into another layout.
pub fn cat_channels(a: Tensor<4>, b: Tensor<4>) -> Tensor<4> {
    Tensor::cat(vec![a.permute([0, 2, 3, 1]), b.permute([0, 2, 3, 1])], 3).permute([0, 3, 1, 2])
}

/// `torch.nn.GroupNorm`: normalises `[B, C, H, W]` over groups of `C / groups` channels and
/// the spatial axes (biased variance), then applies the per-channel affine.
pub fn group_norm(x: Tensor<4>, groups: usize, gamma: &Tensor<1>, beta: &Tensor<1>, eps: f64) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    debug_assert_eq!(c % groups, 0, "channels must divide into groups");
    let normed = in_f32(x, |x| {
        let x = x.reshape([b, groups, (c / groups) * h * w]);
        let (var, mean) = x.clone().var_mean_bias(2);
        let x = (x - mean) / (var + eps).sqrt();
        x.reshape([b, c, h, w])
    });
    normed * gamma.clone().reshape([1, c, 1, 1]) + beta.clone().reshape([1, c, 1, 1])
}

/// `torch.nn.LayerNorm` over the last axis (biased variance), with affine parameters.
pub fn layer_norm<const D: usize>(
    x: Tensor<D>,
    gamma: &Tensor<1>,
    beta: &Tensor<1>,
    eps: f64,
) -> Tensor<D> {
    let normed = in_f32(x, |x| {
        let (var, mean) = x.clone().var_mean_bias(D - 1);
        (x - mean) / (var + eps).sqrt()
    });
    normed * gamma.clone().unsqueeze() + beta.clone().unsqueeze()
}

/// GroupNorm followed by SiLU, the pair every ResNet block of the UNet and VAE uses.
pub fn group_norm_silu(x: Tensor<4>, groups: usize, gamma: &Tensor<1>, beta: &Tensor<1>, eps: f64) -> Tensor<4> {
    silu(group_norm(x, groups, gamma, beta, eps))
}

/// Scaled dot-product attention over `[B, heads, tokens, head_dim]` tensors, materialising the
/// score matrix (the plain reference). `bias` (f32, `[Tq, Tk]`, e.g. a causal mask of
/// `-inf`) is added to the scores; softmax runs in f32.
pub fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, scale: f64, bias: Option<&Tensor<2>>) -> Tensor<4> {
    let dtype = q.dtype();
    let scores = q.matmul(k.swap_dims(2, 3)) * scale;
    let scores = if dtype == DType::F32 { scores } else { scores.cast(DType::F32) };
    let scores = match bias {
        Some(b) => scores + b.clone().unsqueeze(),
        None => scores,
    };
    let probs = softmax(scores, 3);
    let probs = if dtype == DType::F32 { probs } else { probs.cast(dtype) };
    probs.matmul(v)
}

/// Bytes of score matrix one attention chunk may materialise (keeps every buffer far below the
/// 128 MiB storage-binding limit of default WebGPU devices).
pub const ATTENTION_CHUNK_BYTES: usize = 32 << 20;

/// [`attention`] computed over query chunks so that no score matrix exceeds
/// [`ATTENTION_CHUNK_BYTES`] (f32 scores). Same result, bounded memory.
pub fn attention_chunked(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, scale: f64, bias: Option<&Tensor<2>>) -> Tensor<4> {
    let [b, h, tq, _] = q.dims();
    let tk = k.dims()[2];
    let per_query = b * h * tk * 4;
    let chunk = (ATTENTION_CHUNK_BYTES / per_query.max(1)).max(1);
    if chunk >= tq {
        return attention(q, k, v, scale, bias);
    }
    let mut outs = Vec::with_capacity(tq.div_ceil(chunk));
    let mut start = 0;
    while start < tq {
        let len = chunk.min(tq - start);
        let qc = q.clone().narrow(2, start, len);
        let bc = bias.map(|b| b.clone().narrow(0, start, len));
        outs.push(attention(qc, k.clone(), v.clone(), scale, bc.as_ref()));
        start += len;
    }
    Tensor::cat(outs, 2)
}

/// Splits `[B, N, heads·d]` into `[B, heads, N, d]`.
pub fn split_heads(x: Tensor<3>, heads: usize) -> Tensor<4> {
    let [b, n, c] = x.dims();
    x.reshape([b, n, heads, c / heads]).swap_dims(1, 2)
}

/// Merges `[B, heads, N, d]` back into `[B, N, heads·d]`.
pub fn merge_heads(x: Tensor<4>) -> Tensor<3> {
    let [b, h, n, d] = x.dims();
    x.swap_dims(1, 2).reshape([b, n, h * d])
}
