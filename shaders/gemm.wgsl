// Tiled matrix product with the bias fused, for Linear layers and for convolutions as an
// implicit GEMM (the im2col matrix is never built: each A element is gathered from the image):
//   out[m, n] = Σ_k A[m, k] · W[n, k] + bias[n]
// MODE 0 (Linear): A = x [M, K] row-major, out [M, N] row-major.
// MODE 1 (Conv2d, NCHW): m = (b, oy, ox) over [B, Ho, Wo], k = (ci, ky, kx) over
//   [Cin, KS, KS], A[m, k] = x[b, ci, oy·STRIDE + ky − PAD, ox·STRIDE + kx − PAD] (0 outside),
//   W = the weight [Cout, Cin, KS, KS] as [N, K], out [B, N, Ho, Wo].
// Each workgroup of 16×16 threads computes a TM × TN = 16·R × 16·R block of the output, each
// thread R × R values in registers (rows tm + 16·i, columns tn + 16·j). The K axis is walked in
// tiles of TK: A and B tiles (TK × TM and TK × TN f32, 8 KiB together) are staged in workgroup
// memory, each loaded once by the whole workgroup with coalesced reads, then every thread does
// TK · R² multiply-adds from them. Accumulation in f32 whatever the storage type, in k order.
//
// Template values (crate/src/kernels/gemm.rs): {{ enable }}, {{ elem }} as in
// flash_attention.wgsl, {{ mode }}, {{ r }} (4 or 8), {{ tk }} (TK · 16·R = 1024),
// {{ bias }} (true/false), and for MODE 1 {{ ks }}, {{ stride }}, {{ pad }}.
{{ enable }}

alias ELEM = {{ elem }};
const MODE: u32 = {{ mode }}u;
const R: u32 = {{ r }}u;
const TK: u32 = {{ tk }}u;
const TM: u32 = 16u * R;
const TN: u32 = 16u * R;
const HAS_BIAS: bool = {{ bias }};
const KS: u32 = {{ ks }}u;
const STRIDE: u32 = {{ stride }}u;
const PAD: u32 = {{ pad }}u;

// Every binding is read_write: burn's allocator packs tensors into shared wgpu buffers, and
// wgpu refuses one buffer bound both read-only and read-write in a dispatch.
@group(0) @binding(0) var<storage, read_write> a: array<ELEM>;
@group(0) @binding(1) var<storage, read_write> w: array<ELEM>;
// The bias [N]; without bias a small placeholder tensor is bound here and never read.
@group(0) @binding(2) var<storage, read_write> bias: array<ELEM>;
@group(0) @binding(3) var<storage, read_write> out: array<ELEM>;
// [M, N, K, H, W, Ho, Wo] (the image sizes in MODE 1 only)
@group(0) @binding(4) var<uniform> params: array<vec4<u32>, 2>;

var<workgroup> a_tile: array<f32, 1024>; // [TK][TM]
var<workgroup> b_tile: array<f32, 1024>; // [TK][TN]

fn param(i: u32) -> u32 {
    return params[i / 4u][i % 4u];
}

// A[m, k], 0 outside the matrix (and in the convolution's padding).
fn load_a(m: u32, k: u32, dims: vec3<u32>) -> f32 {
    if (m >= dims.x || k >= dims.z) {
        return 0.0;
    }
    if (MODE == 0u) {
        return f32(a[m * dims.z + k]);
    }
    let h = param(3u);
    let wd = param(4u);
    let ho = param(5u);
    let wo = param(6u);
    let cin_k = k / (KS * KS);
    let r = k % (KS * KS);
    let b = m / (ho * wo);
    let p = m % (ho * wo);
    let iy = i32((p / wo) * STRIDE + r / KS) - i32(PAD);
    let ix = i32((p % wo) * STRIDE + r % KS) - i32(PAD);
    if (iy < 0 || ix < 0 || iy >= i32(h) || ix >= i32(wd)) {
        return 0.0;
    }
    let cin = dims.z / (KS * KS);
    return f32(a[((b * cin + cin_k) * h + u32(iy)) * wd + u32(ix)]);
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let dims = vec3<u32>(param(0u), param(1u), param(2u)); // M, N, K
    let t = lid.y * 16u + lid.x;
    // Consecutive threads along the output's contiguous axis: n for Linear, m for Conv2d.
    let tm = select(lid.y, lid.x, MODE == 1u);
    let tn = select(lid.x, lid.y, MODE == 1u);
    let row0 = wid.y * TM;
    let col0 = wid.x * TN;
    var acc: array<array<f32, R>, R>;
    for (var i = 0u; i < R; i++) {
        for (var j = 0u; j < R; j++) {
            acc[i][j] = 0.0;
        }
    }
    for (var k0 = 0u; k0 < dims.z; k0 += TK) {
        for (var l = 0u; l < 4u; l++) {
            let e = t + l * 256u;
            // A: x is contiguous along k for Linear, along m (the image row) for Conv2d.
            var am = e / TK;
            var ak = e % TK;
            if (MODE == 1u) {
                am = e % TM;
                ak = e / TM;
            }
            a_tile[ak * TM + am] = load_a(row0 + am, k0 + ak, dims);
            // B: W [N, K] is contiguous along k.
            let bn = e / TK;
            let bk = e % TK;
            let n = col0 + bn;
            let k = k0 + bk;
            var bv = 0.0;
            if (n < dims.y && k < dims.z) {
                bv = f32(w[n * dims.z + k]);
            }
            b_tile[bk * TN + bn] = bv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            var av: array<f32, R>;
            var bw: array<f32, R>;
            for (var i = 0u; i < R; i++) {
                av[i] = a_tile[kk * TM + tm + 16u * i];
                bw[i] = b_tile[kk * TN + tn + 16u * i];
            }
            for (var i = 0u; i < R; i++) {
                for (var j = 0u; j < R; j++) {
                    acc[i][j] = fma(av[i], bw[j], acc[i][j]);
                }
            }
        }
        workgroupBarrier();
    }
    let hw = param(5u) * param(6u);
    for (var j = 0u; j < R; j++) {
        let n = col0 + tn + 16u * j;
        if (n >= dims.y) {
            continue;
        }
        var b0 = 0.0;
        if (HAS_BIAS) {
            b0 = f32(bias[n]);
        }
        for (var i = 0u; i < R; i++) {
            let m = row0 + tm + 16u * i;
            if (m >= dims.x) {
                continue;
            }
            let v = ELEM(acc[i][j] + b0);
            if (MODE == 0u) {
                out[m * dims.y + n] = v;
            } else {
                out[((m / hw) * dims.y + n) * hw + m % hw] = v;
            }
        }
    }
}
