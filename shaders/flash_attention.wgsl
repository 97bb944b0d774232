// Tiled scaled-dot-product attention with an online softmax ("flash attention", forward only).
//
// q: [B, Nq, H·D], k and v: [B, Nk, H·D] (row-major, exactly what the q/k/v projections
// produce: no head split or merge copies), out: [B, Nq, H·D]. One workgroup handles BQ query
// rows of one (batch, head); every thread owns one query row and keeps its running max, sum
// and output accumulator in f32 registers while the workgroup streams BK keys/values at a
// time through workgroup memory. The Nq × Nk score matrix is never materialised, so every
// buffer stays the size of an activation whatever the sequence lengths.
//
// The keys and values may come from two sources, attended to as one sequence [first; second]:
// k, v hold the first n_k1 keys of each batch ([B, n_k1, H·D]) and k2, v2 the other
// n_k − n_k1 ([B, n_k − n_k1, H·D]). EZIGen's adapter attends to [its own tokens; the subject's
// tokens], whose projections are computed once per job, so no per-step concatenation is
// needed. With one source, n_k1 = n_k and k2, v2 are bound to k, v and not read. The second
// source may hold one batch shared by all (flag `shared2`: both CFG branches attend to the
// same subject), read without being repeated.
//
// Template values (filled in by crate/src/kernels/flash_attention.rs):
//   {{ enable }}    "enable f16;" when ELEM is f16, else empty
//   {{ elem }}      storage element type, f32 or f16 (all arithmetic is f32)
//   {{ head_dim }}  D, the per-head channel count
//   {{ block_q }}   BQ, query rows per workgroup (= workgroup size)
//   {{ block_k }}   BK, keys per tile (BK·D·8 bytes of workgroup memory)
{{ enable }}

alias ELEM = {{ elem }};
const D: u32 = {{ head_dim }}u;
const BQ: u32 = {{ block_q }}u;
const BK: u32 = {{ block_k }}u;
// A finite stand-in for -inf (WGSL has no infinity literals); exp(NEG - x) underflows to 0.
const NEG: f32 = -3.0e38;

// Every binding is read_write: burn's allocator packs tensors into shared wgpu buffers, and
// wgpu refuses one buffer bound both read-only and read-write in a dispatch.
@group(0) @binding(0) var<storage, read_write> q: array<ELEM>;
@group(0) @binding(1) var<storage, read_write> k: array<ELEM>;
@group(0) @binding(2) var<storage, read_write> v: array<ELEM>;
@group(0) @binding(3) var<storage, read_write> k2: array<ELEM>;
@group(0) @binding(4) var<storage, read_write> v2: array<ELEM>;
@group(0) @binding(5) var<storage, read_write> out: array<ELEM>;
// [heads, n_q, n_k, bitcast<u32>(scale), n_k1, shared2]
@group(0) @binding(6) var<uniform> params: array<vec4<u32>, 2>;

fn param(i: u32) -> u32 {
    return params[i / 4u][i % 4u];
}

var<workgroup> k_tile: array<f32, BK * D>;
var<workgroup> v_tile: array<f32, BK * D>;

@compute @workgroup_size({{ block_q }}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let heads = param(0u);
    let n_q = param(1u);
    let n_k = param(2u);
    let scale = bitcast<f32>(param(3u));
    let n_k1 = param(4u);
    let row = heads * D;
    let batch = wid.y / heads;
    let head = wid.y % heads;
    let qi = wid.x * BQ + lid;
    let valid = qi < n_q;

    let q_base = (batch * n_q + min(qi, n_q - 1u)) * row + head * D;
    let kv_base = batch * n_k1 * row + head * D;
    let kv2_base = select(batch, 0u, param(5u) != 0u) * (n_k - n_k1) * row + head * D;

    var q_reg: array<f32, D>;
    var acc: array<f32, D>;
    for (var c = 0u; c < D; c++) {
        q_reg[c] = f32(q[q_base + c]) * scale;
        acc[c] = 0.0;
    }
    var m = NEG;
    var l = 0.0;
    var s: array<f32, BK>;

    for (var kb = 0u; kb < n_k; kb += BK) {
        workgroupBarrier();
        for (var i = lid; i < BK * D; i += BQ) {
            let key = kb + i / D;
            if (key < n_k1) {
                let src = kv_base + key * row + i % D;
                k_tile[i] = f32(k[src]);
                v_tile[i] = f32(v[src]);
            } else if (key < n_k) {
                let src = kv2_base + (key - n_k1) * row + i % D;
                k_tile[i] = f32(k2[src]);
                v_tile[i] = f32(v2[src]);
            } else {
                k_tile[i] = 0.0;
                v_tile[i] = 0.0;
            }
        }
        workgroupBarrier();

        let count = min(BK, n_k - kb);
        var block_max = m;
        for (var j = 0u; j < count; j++) {
            var dot = 0.0;
            for (var c = 0u; c < D; c++) {
                dot += q_reg[c] * k_tile[j * D + c];
            }
            s[j] = dot;
            block_max = max(block_max, dot);
        }
        let correction = exp(m - block_max);
        l *= correction;
        for (var c = 0u; c < D; c++) {
            acc[c] *= correction;
        }
        for (var j = 0u; j < count; j++) {
            let p = exp(s[j] - block_max);
            l += p;
            for (var c = 0u; c < D; c++) {
                acc[c] += p * v_tile[j * D + c];
            }
        }
        m = block_max;
    }

    if (valid) {
        let inv = 1.0 / l;
        for (var c = 0u; c < D; c++) {
            out[q_base + c] = ELEM(acc[c] * inv);
        }
    }
}
