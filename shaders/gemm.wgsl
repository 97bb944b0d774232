// The GEMM family: one template for Linear layers and for convolutions as an implicit GEMM
// over channels-last maps (the im2col matrix is never built), with the tile shape, the K split
// and the storage type as template values:
//   out[m, n] = epilogue(Σ_k A[m, k] · W[n, k])
// with m = (b, oy, ox) over [B, Ho, Wo], k = (ky, kx, ci) over [KS, KS, Cin],
//   A[m, k] = x[b, oy·stride + ky − pad, ox·stride + kx − pad, ci] for x stored [B, H, W, Cin]
//   (0 outside the image), W = the weight stored [Cout, KS, KS, Cin] (the layout the loader
//   keeps convolution weights in).
// A Linear layer is the 1 × 1 convolution of a 1 × M image with K channels (KS = 1, B = H = 1,
// W = M, stride 1, no padding): A = x [M, K] row-major, W = the weight [N, K]. So one shader
// serves both, and only KS, the tile and the split make variants.
// A and W are contiguous along k, the output [M, N] is row-major (for a convolution:
// [B, Ho, Wo, Cout], channels-last), and K and Cin are multiples of 4: every global read is a
// 4-vector along k (the launcher sends other shapes to burn's kernels).
//
// Design (after the published WGSL / CUDA register-blocking SGEMMs):
//   - a workgroup of WX × WY threads computes a TM × TN tile of the output, TM = 4·VM·WY and
//     TN = 4·VN·WX: each thread holds a (4·VM) × (4·VN) block in f32 registers, rows
//     4·(ty + WY·i) + r and columns 4·(tx + WX·j) + c, so that it reads VM + VN 4-vectors of
//     workgroup memory per k and does 16·VM·VN multiply-adds with them;
//   - the K axis is walked in tiles of TK: the A and W tiles are loaded once by the whole
//     workgroup with 4-vector reads along k and stored transposed (k-major, f32) in workgroup
//     memory, TK · (TM + TN) · 4 bytes ≤ 16 KiB (WebGPU's default);
//   - split-K (flag 16): workgroup z takes the k range [z·kchunk, (z+1)·kchunk) and writes its
//     f32 partial sums to the workspace `ws` [S, M, N]; `epilogue.wgsl` then sums the S parts
//     and applies the epilogue. A run-time flag, not a template value: one compiled variant per
//     tile serves both. For small M × N with a long K (the UNet's 8² and 16² levels, K up
//     to 11 520), so that enough workgroups are in flight;
//   - without split the epilogue is fused: bias[n], up to two residuals [M, N], then SiLU, by
//     the flag bits of `params` (bias 1, r1 2, r2 4, SiLU 8), in the order of `epilogue.wgsl`.
// Accumulation is in f32 whatever the storage type, in k order within a split.
//
// Template values (crate/src/kernels/gemm.rs): {{ enable }}, {{ elem }} as in
// flash_attention.wgsl; {{ wx }}, {{ wy }}, {{ vm }}, {{ vn }}, {{ tk }} (the tile); {{ ks }}.
{{ enable }}

alias ELEM = {{ elem }};
const WX: u32 = {{ wx }}u;
const WY: u32 = {{ wy }}u;
const VM: u32 = {{ vm }}u;
const VN: u32 = {{ vn }}u;
const TK: u32 = {{ tk }}u;
const KS: u32 = {{ ks }}u;

const THREADS: u32 = WX * WY;
const RM: u32 = 4u * VM;
const TM: u32 = RM * WY;
const TN: u32 = 4u * VN * WX;
// 4-vectors per tile row along k, and tile loads per thread.
const KV: u32 = TK / 4u;
const LA: u32 = (TM * KV + THREADS - 1u) / THREADS;
const LB: u32 = (TN * KV + THREADS - 1u) / THREADS;

// Every binding is read_write: burn's allocator packs tensors into shared wgpu buffers, and
// wgpu refuses one buffer bound both read-only and read-write in a dispatch. Absent epilogue
// terms, and `out` or `ws` (whichever is not written), are bound to small placeholder tensors.
@group(0) @binding(0) var<storage, read_write> a: array<vec4<ELEM>>;
@group(0) @binding(1) var<storage, read_write> w: array<vec4<ELEM>>;
@group(0) @binding(2) var<storage, read_write> bias: array<ELEM>;
@group(0) @binding(3) var<storage, read_write> r1: array<ELEM>;
@group(0) @binding(4) var<storage, read_write> r2: array<ELEM>;
// The f32 workspace [S, M, N] of a split K.
@group(0) @binding(5) var<storage, read_write> ws: array<f32>;
// [M, N].
@group(0) @binding(6) var<storage, read_write> out: array<ELEM>;
// [M, N, K, flags, kchunk, H, W, Ho, Wo, stride, pad]
@group(0) @binding(7) var<uniform> params: array<vec4<u32>, 3>;

var<workgroup> a_tile: array<vec4<f32>, TK * TM / 4u>; // [TK][TM / 4]
var<workgroup> b_tile: array<vec4<f32>, TK * TN / 4u>; // [TK][TN / 4]

fn param(i: u32) -> u32 {
    return params[i / 4u][i % 4u];
}

@compute @workgroup_size({{ wx }}, {{ wy }}, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let m_len = param(0u);
    let n_len = param(1u);
    let k_len = param(2u);
    let flags = param(3u);
    let split = (flags & 16u) != 0u;
    let kchunk = param(4u);
    let h = param(5u);
    let wd = param(6u);
    let wo = param(8u);
    let hw_out = param(7u) * wo;
    let stride = param(9u);
    let pad = i32(param(10u));
    let cin = k_len / (KS * KS);
    let t = lid.y * WX + lid.x;
    let row0 = wid.y * TM;
    let col0 = wid.x * TN;
    let k_begin = wid.z * kchunk;
    let k_end = min(k_len, k_begin + kchunk);

    // What each of this thread's A loads needs that does not change along k: the row's image,
    // top-left input pixel, and whether the row exists.
    var a_row: array<u32, LA>;
    var a_kv: array<u32, LA>;
    var a_base: array<u32, LA>; // b · H
    var a_iy: array<i32, LA>;
    var a_ix: array<i32, LA>;
    var a_ok: array<bool, LA>;
    for (var l = 0u; l < LA; l++) {
        let e = t + l * THREADS;
        let row = e / KV;
        a_row[l] = row;
        a_kv[l] = e % KV;
        let m = row0 + row;
        a_ok[l] = e < TM * KV && m < m_len;
        let p = m % hw_out;
        a_base[l] = (m / hw_out) * h;
        a_iy[l] = i32((p / wo) * stride) - pad;
        a_ix[l] = i32((p % wo) * stride) - pad;
    }

    var acc: array<array<vec4<f32>, VN>, RM>;
    for (var i = 0u; i < RM; i++) {
        for (var j = 0u; j < VN; j++) {
            acc[i][j] = vec4<f32>(0.0);
        }
    }

    for (var k0 = k_begin; k0 < k_end; k0 += TK) {
        for (var l = 0u; l < LA; l++) {
            let k = k0 + 4u * a_kv[l];
            var v = vec4<f32>(0.0);
            if (a_ok[l] && k < k_end) {
                let tap = k / cin;
                let iy = a_iy[l] + i32(tap / KS);
                let ix = a_ix[l] + i32(tap % KS);
                if (iy >= 0 && ix >= 0 && iy < i32(h) && ix < i32(wd)) {
                    v = vec4<f32>(a[(((a_base[l] + u32(iy)) * wd + u32(ix)) * cin + k % cin) / 4u]);
                }
            }
            if (t + l * THREADS < TM * KV) {
                let row = a_row[l];
                let at = 4u * a_kv[l] * (TM / 4u) + row / 4u;
                a_tile[at][row % 4u] = v.x;
                a_tile[at + TM / 4u][row % 4u] = v.y;
                a_tile[at + TM / 2u][row % 4u] = v.z;
                a_tile[at + 3u * (TM / 4u)][row % 4u] = v.w;
            }
        }
        for (var l = 0u; l < LB; l++) {
            let e = t + l * THREADS;
            let col = e / KV;
            let k = k0 + 4u * (e % KV);
            let n = col0 + col;
            var v = vec4<f32>(0.0);
            if (e < TN * KV && n < n_len && k < k_end) {
                v = vec4<f32>(w[(n * k_len + k) / 4u]);
            }
            if (e < TN * KV) {
                let bt = 4u * (e % KV) * (TN / 4u) + col / 4u;
                b_tile[bt][col % 4u] = v.x;
                b_tile[bt + TN / 4u][col % 4u] = v.y;
                b_tile[bt + TN / 2u][col % 4u] = v.z;
                b_tile[bt + 3u * (TN / 4u)][col % 4u] = v.w;
            }
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            var av: array<vec4<f32>, VM>;
            var bv: array<vec4<f32>, VN>;
            for (var i = 0u; i < VM; i++) {
                av[i] = a_tile[kk * (TM / 4u) + lid.y + WY * i];
            }
            for (var j = 0u; j < VN; j++) {
                bv[j] = b_tile[kk * (TN / 4u) + lid.x + WX * j];
            }
            for (var i = 0u; i < VM; i++) {
                for (var r = 0u; r < 4u; r++) {
                    let s = vec4<f32>(av[i][r]);
                    for (var j = 0u; j < VN; j++) {
                        acc[4u * i + r][j] = fma(s, bv[j], acc[4u * i + r][j]);
                    }
                }
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < VM; i++) {
        for (var r = 0u; r < 4u; r++) {
            let m = row0 + 4u * (lid.y + WY * i) + r;
            if (m >= m_len) {
                continue;
            }
            for (var j = 0u; j < VN; j++) {
                for (var c = 0u; c < 4u; c++) {
                    let n = col0 + 4u * (lid.x + WX * j) + c;
                    if (n >= n_len) {
                        continue;
                    }
                    var v = acc[4u * i + r][j][c];
                    let at = m * n_len + n;
                    if (split) {
                        ws[wid.z * m_len * n_len + at] = v;
                    } else {
                        if ((flags & 1u) != 0u) {
                            v += f32(bias[n]);
                        }
                        if ((flags & 2u) != 0u) {
                            v += f32(r1[at]);
                        }
                        if ((flags & 4u) != 0u) {
                            v += f32(r2[at]);
                        }
                        if ((flags & 8u) != 0u) {
                            v = v / (1.0 + exp(-v));
                        }
                        out[at] = ELEM(v);
                    }
                }
            }
        }
    }
}
