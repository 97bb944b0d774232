// Row normalisation shared by GroupNorm, GroupNorm + SiLU and LayerNorm, in one dispatch.
//
// The input is seen as `rows` rows of `row_len` elements:
//   GroupNorm [B, C, H, W] with G groups: rows = B·G, row_len = (C/G)·H·W;
//   LayerNorm [..., C]: rows = tokens, row_len = C, G = 1, C/G = C, H·W = 1.
// Two memory layouts of a GroupNorm map (flag bit 1), read and written alike:
//   NCHW (contiguous): element i of row r is at r·row_len + i, channel (r % G)·(C/G) + i / (H·W);
//   channels-last (NHWC in memory, what burn's convolution reads and writes): element i is
//     spatial position s = i / (C/G) and channel c = (r % G)·(C/G) + i % (C/G), at
//     (r / G)·H·W·C + s·C + c, so a row's channels are adjacent and the convolutions before
//     and after need no layout copy.
// With flag bit 2, `shift[b·C + c]` is added to every element before the statistics (the
// time-embedding projection of a ResNet, added to its first convolution's output); with flag
// bit 3 the projection's bias `shift_bias[c]` is added to the shift first, as the plain ops
// order it: x + (shift + shift_bias).
// One workgroup per row: the mean and then the (biased) variance are reduced in f32 through
// workgroup memory (two passes over the row, which is exact where E[x²] − E[x]² is not), and
// the row is written as (x − mean)·rsqrt(var + eps)·gamma[ch] + beta[ch], optionally followed
// by SiLU (flag bit 0). Whatever the storage type, every reduction and the affine run in f32.
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
// `[B, C]` and `[C]`; small placeholders, not read, when absent (flag bits 2 and 3 clear).
@group(0) @binding(3) var<storage, read_write> shift: array<ELEM>;
@group(0) @binding(4) var<storage, read_write> shift_bias: array<ELEM>;
@group(0) @binding(5) var<storage, read_write> out: array<ELEM>;
// [rows, row_len, groups, channels_per_group, spatial, bitcast<u32>(eps), flags, grid_x]
// flags: bit 0 SiLU, bit 1 channels-last, bit 2 shift, bit 3 shift bias.
@group(0) @binding(6) var<uniform> params: array<vec4<u32>, 2>;

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

// Where element i of row r lives, and its channel.
struct Site {
    offset: u32,
    channel: u32,
}

fn site(r: u32, i: u32, row_len: u32, groups: u32, per_group: u32, spatial: u32, channels_last: bool) -> Site {
    let g = r % groups;
    if (channels_last) {
        let c = g * per_group + i % per_group;
        return Site((r / groups) * spatial * groups * per_group + (i / per_group) * groups * per_group + c, c);
    }
    return Site(r * row_len + i, g * per_group + i / spatial);
}

// The element at `at` of batch `b`, with its shift (flag bits 2 and 3), in f32.
fn value(at: Site, b: u32, channels: u32, flags: u32) -> f32 {
    var v = f32(x[at.offset]);
    if ((flags & 4u) != 0u) {
        var s = f32(shift[b * channels + at.channel]);
        if ((flags & 8u) != 0u) {
            s += f32(shift_bias[at.channel]);
        }
        v += s;
    }
    return v;
}

@compute @workgroup_size({{ threads }}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let rows = param(0u);
    let row_len = param(1u);
    let groups = param(2u);
    let per_group = param(3u);
    let spatial = param(4u);
    let eps = bitcast<f32>(param(5u));
    let flags = param(6u);
    let silu = (flags & 1u) != 0u;
    let channels_last = (flags & 2u) != 0u;
    let r = wid.y * param(7u) + wid.x;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if (r >= rows) {
        return;
    }
    let b = r / groups;
    let channels = groups * per_group;
    let inv_len = 1.0 / f32(row_len);

    var sum = 0.0;
    for (var i = lid; i < row_len; i += T) {
        sum += value(site(r, i, row_len, groups, per_group, spatial, channels_last), b, channels, flags);
    }
    let mean = reduce_sum(lid, sum) * inv_len;

    var sq = 0.0;
    for (var i = lid; i < row_len; i += T) {
        let d = value(site(r, i, row_len, groups, per_group, spatial, channels_last), b, channels, flags) - mean;
        sq += d * d;
    }
    let rstd = inverseSqrt(reduce_sum(lid, sq) * inv_len + eps);

    for (var i = lid; i < row_len; i += T) {
        let at = site(r, i, row_len, groups, per_group, spatial, channels_last);
        var y = (value(at, b, channels, flags) - mean) * rstd * f32(gamma[at.channel]) + f32(beta[at.channel]);
        if (silu) {
            y = y / (1.0 + exp(-y));
        }
        out[at.offset] = ELEM(y);
    }
}
