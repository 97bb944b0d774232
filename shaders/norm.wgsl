// Row normalisation shared by GroupNorm, GroupNorm + SiLU and LayerNorm, in one dispatch.
//
// The input is seen as `rows` contiguous rows of `row_len` elements:
//   GroupNorm [B, C, H, W] with G groups: rows = B·G, row_len = (C/G)·H·W,
//     channel of element i of row r = (r % G)·(C/G) + i / (H·W);
//   LayerNorm [..., C]: rows = tokens, row_len = C, G = 1, C/G = C, H·W = 1.
// One workgroup per row: the mean and then the (biased) variance are reduced in f32 through
// workgroup memory (two passes over the row, which is exact where E[x²] − E[x]² is not), and
// the row is written as (x − mean)·rsqrt(var + eps)·gamma[ch] + beta[ch], optionally followed
// by SiLU. Whatever the storage type, every reduction and the affine run in f32.
//
// Template values (crate/src/kernels/norm.rs): {{ enable }}, {{ elem }} as in
// flash_attention.wgsl, {{ threads }} the workgroup size (a power of two).
{{ enable }}

alias ELEM = {{ elem }};
const T: u32 = {{ threads }}u;

// Every binding is read_write: burn's allocator packs tensors into shared wgpu buffers, and
// wgpu refuses one buffer bound both read-only and read-write in a dispatch.
@group(0) @binding(0) var<storage, read_write> x: array<ELEM>;
@group(0) @binding(1) var<storage, read_write> gamma: array<ELEM>;
@group(0) @binding(2) var<storage, read_write> beta: array<ELEM>;
@group(0) @binding(3) var<storage, read_write> out: array<ELEM>;
// [rows, row_len, groups, channels_per_group, spatial, bitcast<u32>(eps), silu, grid_x]
@group(0) @binding(4) var<uniform> params: array<vec4<u32>, 2>;

fn param(i: u32) -> u32 {
    return params[i / 4u][i % 4u];
}

var<workgroup> partial: array<f32, T>;

fn reduce_sum(lid: u32, value: f32) -> f32 {
    partial[lid] = value;
    workgroupBarrier();
    for (var stride = T / 2u; stride > 0u; stride /= 2u) {
        if (lid < stride) {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier();
    return total;
}

@compute @workgroup_size({{ threads }}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let rows = param(0u);
    let row_len = param(1u);
    let groups = param(2u);
    let per_group = param(3u);
    let spatial = param(4u);
    let eps = bitcast<f32>(param(5u));
    let silu = param(6u) != 0u;
    let r = wid.y * param(7u) + wid.x;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if (r >= rows) {
        return;
    }
    let base = r * row_len;
    let inv_len = 1.0 / f32(row_len);

    var sum = 0.0;
    for (var i = lid; i < row_len; i += T) {
        sum += f32(x[base + i]);
    }
    let mean = reduce_sum(lid, sum) * inv_len;

    var sq = 0.0;
    for (var i = lid; i < row_len; i += T) {
        let d = f32(x[base + i]) - mean;
        sq += d * d;
    }
    let rstd = inverseSqrt(reduce_sum(lid, sq) * inv_len + eps);

    let channel0 = (r % groups) * per_group;
    for (var i = lid; i < row_len; i += T) {
        let ch = channel0 + i / spatial;
        var y = (f32(x[base + i]) - mean) * rstd * f32(gamma[ch]) + f32(beta[ch]);
        if (silu) {
            y = y / (1.0 + exp(-y));
        }
        out[base + i] = ELEM(y);
    }
}
