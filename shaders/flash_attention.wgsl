// Tiled scaled-dot-product attention with an online softmax ("flash attention", forward only).
//
// q: [B, Nq, H·D], k and v: [B, Nk, H·D] (row-major, exactly what the q/k/v projections
// produce: no head split or merge copies), out: [B, Nq, H·D]. One workgroup handles BQ query
// rows of one (batch, head); every thread owns one query row. The design follows the fastest
// published WebGPU attention (ONNX Runtime Web's flash attention):
//   - every tensor is read and written as vectors of W = 4 (or 2) elements, and the query row,
//     the output accumulator and the K/V tiles are held as f32 vectors: one score is D/W
//     `dot(vec, vec)` and one output update D/W vector multiply-adds;
//   - the softmax scale is folded into the query row once, when it is loaded;
//   - the workgroup loads each tile of BK keys and values cooperatively (vector loads spread
//     over all threads), BK sized to the head dimension so that the two f32 tiles fill
//     WebGPU's default 16 KiB of workgroup memory (32 keys for D ≤ 64, 16 for D = 128).
// The running max, sum and accumulator stay in f32 registers while the tiles stream by, so the
// Nq × Nk score matrix is never materialised and every buffer stays the size of an activation.
//
// The keys and values may come from two sources, attended to as one sequence [first; second]:
// k, v hold the first n_k1 keys of each batch ([B, n_k1, H·D]) and k2, v2 the other
// n_k − n_k1 ([B, n_k − n_k1, H·D]). EZIGen's adapter attends to [its own tokens; the subject's
// tokens], whose projections are computed once per job, so no per-step concatenation is
// needed. With one source, n_k1 = n_k and k2, v2 are bound to small placeholders and not
// read. The second source may hold one batch shared by all (flag `shared2`: both CFG branches
// attend to the same subject), read without being repeated.
//
// Two variants come from this one file: the marker comments "#if subgroup", "#else" and
// "#endif" (each alone on its line, after two slashes) delimit each variant's own lines, which
// crate/src/kernels/flash_attention.rs keeps or drops before the template values are filled in:
//   - plain: every thread reads every key of the tile from workgroup memory (a broadcast read
//     per key and vector);
//   - subgroup (devices created with subgroup operations): the tile is walked in rounds of SG
//     keys; in a round, lane i of each subgroup reads only key i of the round from workgroup
//     memory, and every lane gets the other keys from their owners with subgroupShuffle, which
//     moves registers between lanes without touching memory (ONNX Runtime Web's flash
//     attention does the same where the adapter has subgroups). The SG scores of a round live
//     in registers (a fixed-size array the driver unrolls); the softmax and the blocked output
//     sums run once per tile, as in the plain variant. SG is a compile-time constant no larger
//     than the adapter's smallest subgroup, so every lane a shuffle reads exists whatever size
//     the driver picks; lanes past SG duplicate lane (i mod SG). SG divides BK, so a round never
//     straddles two tiles. All control flow around the shuffles is uniform (loop bounds come
//     from the uniform block), as subgroup operations require.
//
// Template values (filled in by crate/src/kernels/flash_attention.rs):
//   {{ enable }}    "enable f16;" when ELEM is f16, else empty
//   {{ elem }}      storage element type, f32 or f16 (all arithmetic is f32)
//   {{ head_dim }}  D, the per-head channel count (a multiple of W)
//   {{ width }}     W, the vector width (4, or 2 when D is not a multiple of 4)
//   {{ block_q }}   BQ, query rows per workgroup (= workgroup size)
//   {{ block_k }}   BK, keys per tile (BK·D·8 bytes of workgroup memory)
//   {{ subgroup }}  SG, keys per shuffle round (subgroup variant only: a power of two ≤ 16
//                   dividing BK)
{{ enable }}

alias ELEM = {{ elem }};
alias VS = vec{{ width }}<ELEM>;
alias VF = vec{{ width }}<f32>;
const D: u32 = {{ head_dim }}u;
const DV: u32 = {{ head_dim }}u / {{ width }}u;
const BQ: u32 = {{ block_q }}u;
const BK: u32 = {{ block_k }}u;
//#if subgroup
const SG: u32 = {{ subgroup }}u;
//#endif
// A finite stand-in for -inf (WGSL has no infinity literals); exp(NEG - x) underflows to 0.
const NEG: f32 = -3.0e38;

// Every binding is read_write: burn's allocator packs tensors into shared wgpu buffers, and
// wgpu refuses one buffer bound both read-only and read-write in a dispatch.
@group(0) @binding(0) var<storage, read_write> q: array<VS>;
@group(0) @binding(1) var<storage, read_write> k: array<VS>;
@group(0) @binding(2) var<storage, read_write> v: array<VS>;
@group(0) @binding(3) var<storage, read_write> k2: array<VS>;
@group(0) @binding(4) var<storage, read_write> v2: array<VS>;
@group(0) @binding(5) var<storage, read_write> out: array<VS>;
// [heads, n_q, n_k, bitcast<u32>(scale), n_k1, shared2]
@group(0) @binding(6) var<uniform> params: array<vec4<u32>, 2>;

fn param(i: u32) -> u32 {
    return params[i / 4u][i % 4u];
}

var<workgroup> k_tile: array<VF, BK * DV>;
var<workgroup> v_tile: array<VF, BK * DV>;

@compute @workgroup_size({{ block_q }}, 1, 1)
//#if subgroup
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
//#else
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
//#endif
    let heads = param(0u);
    let n_q = param(1u);
    let n_k = param(2u);
    let scale = bitcast<f32>(param(3u));
    let n_k1 = param(4u);
    // Offsets below count vectors of W elements.
    let row = heads * DV;
    let batch = wid.y / heads;
    let head = wid.y % heads;
    let qi = wid.x * BQ + lid;
    let valid = qi < n_q;
//#if subgroup
    // The key of each round this lane reads from workgroup memory and hands to the others.
    let mine = lane % SG;
//#endif

    let q_base = (batch * n_q + min(qi, n_q - 1u)) * row + head * DV;
    let kv_base = batch * n_k1 * row + head * DV;
    let kv2_base = select(batch, 0u, param(5u) != 0u) * (n_k - n_k1) * row + head * DV;

    var q_reg: array<VF, DV>;
    var acc: array<VF, DV>;
    for (var c = 0u; c < DV; c++) {
        q_reg[c] = VF(q[q_base + c]) * scale;
        acc[c] = VF(0.0);
    }
    var m = NEG;
    var l = 0.0;
    var s: array<f32, BK>;

    for (var kb = 0u; kb < n_k; kb += BK) {
        workgroupBarrier();
        for (var i = lid; i < BK * DV; i += BQ) {
            let key = kb + i / DV;
            let c = i % DV;
            if (key < n_k1) {
                let src = kv_base + key * row + c;
                k_tile[i] = VF(k[src]);
                v_tile[i] = VF(v[src]);
            } else if (key < n_k) {
                let src = kv2_base + (key - n_k1) * row + c;
                k_tile[i] = VF(k2[src]);
                v_tile[i] = VF(v2[src]);
            } else {
                k_tile[i] = VF(0.0);
                v_tile[i] = VF(0.0);
            }
        }
        workgroupBarrier();

        let count = min(BK, n_k - kb);
//#if subgroup
        // Scores of the tile, SG keys per round, kept in s (0-probability past the end).
        var block_max = m;
        for (var j0 = 0u; j0 < count; j0 += SG) {
            let own = (j0 + mine) * DV;
            var round: array<f32, SG>;
            for (var c = 0u; c < DV; c++) {
                let kc = k_tile[own + c];
                let qc = q_reg[c];
                for (var j = 0u; j < SG; j++) {
                    round[j] += dot(qc, subgroupShuffle(kc, j));
                }
            }
            for (var j = 0u; j < SG; j++) {
                let inside = j0 + j < count;
                s[j0 + j] = select(NEG, round[j], inside);
                block_max = select(block_max, max(block_max, round[j]), inside);
            }
        }
//#else
        var block_max = m;
        for (var j = 0u; j < count; j++) {
            var score = 0.0;
            for (var c = 0u; c < DV; c++) {
                score += dot(q_reg[c], k_tile[j * DV + c]);
            }
            s[j] = score;
            block_max = max(block_max, score);
        }
//#endif
        // The tile's probabilities, then its share of the sum and of the output, each summed
        // over the tile first and then added to the running value: blocked summation, so an
        // 8192-key row accumulates ~n/BK + BK roundings instead of n. (Subgroup variant: the
        // values reach each lane by shuffles too, and the padding of the last round has
        // probability 0.)
//#if subgroup
        let correction = exp(m - block_max);
        let rounds = (count + SG - 1u) / SG * SG;
        var tile_l = 0.0;
        for (var j = 0u; j < rounds; j++) {
            s[j] = exp(s[j] - block_max);
            tile_l += s[j];
        }
        l = l * correction + tile_l;
        for (var c = 0u; c < DV; c++) {
            var t = VF(0.0);
            for (var j0 = 0u; j0 < rounds; j0 += SG) {
                let vc = v_tile[(j0 + mine) * DV + c];
                for (var j = 0u; j < SG; j++) {
                    t += s[j0 + j] * subgroupShuffle(vc, j);
                }
            }
            acc[c] = acc[c] * correction + t;
        }
//#else
        let correction = exp(m - block_max);
        var tile_l = 0.0;
        for (var j = 0u; j < count; j++) {
            s[j] = exp(s[j] - block_max);
            tile_l += s[j];
        }
        l = l * correction + tile_l;
        for (var c = 0u; c < DV; c++) {
            var t = VF(0.0);
            for (var j = 0u; j < count; j++) {
                t += s[j] * v_tile[j * DV + c];
            }
            acc[c] = acc[c] * correction + t;
        }
//#endif
        m = block_max;
    }

    if (valid) {
        let inv = 1.0 / l;
        for (var c = 0u; c < DV; c++) {
            out[q_base + c] = VS(acc[c] * inv);
        }
    }
}
