// Flash attention with subgroup shuffles: the algorithm, layouts, bindings and template values
// of flash_attention.wgsl (read that file first), with one change in how a thread reads the
// K/V tile.
//
// In flash_attention.wgsl every thread reads every key of the tile from workgroup memory (a
// broadcast read per key and vector). Here the tile is walked in rounds of SG keys: in a round,
// lane i of each subgroup reads only key i of the round from workgroup memory, and every lane
// gets the other keys from their owners with subgroupShuffle, which moves registers between
// lanes without touching memory (ONNX Runtime Web's flash attention does the same where the
// adapter has subgroups). The SG scores of a round live in registers (a fixed-size array the
// driver unrolls); the softmax and the blocked output sums run once per tile, as in
// flash_attention.wgsl.
//
// SG is a compile-time constant no larger than the adapter's smallest subgroup, so every lane a
// shuffle reads exists whatever size the driver picks; lanes past SG duplicate lane (i mod SG).
// SG divides BK, so a round never straddles two tiles. All control flow around the shuffles is
// uniform (loop bounds come from the uniform block), as subgroup operations require.
//
// Extra template value:
//   {{ subgroup }}  SG, keys per shuffle round (a power of two ≤ 16 dividing BK)
{{ enable }}

alias ELEM = {{ elem }};
alias VS = vec{{ width }}<ELEM>;
alias VF = vec{{ width }}<f32>;
const D: u32 = {{ head_dim }}u;
const DV: u32 = {{ head_dim }}u / {{ width }}u;
const BQ: u32 = {{ block_q }}u;
const BK: u32 = {{ block_k }}u;
const SG: u32 = {{ subgroup }}u;
const NEG: f32 = -3.0e38;

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
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let heads = param(0u);
    let n_q = param(1u);
    let n_k = param(2u);
    let scale = bitcast<f32>(param(3u));
    let n_k1 = param(4u);
    let row = heads * DV;
    let batch = wid.y / heads;
    let head = wid.y % heads;
    let qi = wid.x * BQ + lid;
    let valid = qi < n_q;
    // The key of each round this lane reads from workgroup memory and hands to the others.
    let mine = lane % SG;

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
        // Softmax and the output update as in flash_attention.wgsl (blocked sums per tile); the
        // values reach each lane by shuffles too.
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
        m = block_max;
    }

    if (valid) {
        let inv = 1.0 / l;
        for (var c = 0u; c < DV; c++) {
            out[q_base + c] = VS(acc[c] * inv);
        }
    }
}
