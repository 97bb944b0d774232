// The elementwise tail of a Linear layer in one dispatch: its bias and up to two residual
// adds, which plain burn ops issue as one dispatch each (and write one intermediate tensor
// each):
//   out[i] = ((y[i] + bias[i % n]) + r1[i]) + r2[i]
// for y, r1, r2 contiguous with the same shape (`count` elements, rows of `n`), each term
// present or not by its flag bit (bias 1, r1 2, r2 4), optionally followed by SiLU (flag 8:
// out = v / (1 + exp(-v)), the time embedding's activation). The adds run in f32 in the order the
// plain ops run them, so in f32 storage the result is bit-identical to theirs; in f16 it is
// rounded once instead of after every add.
//
// y may also be the f32 workspace of a split-K GEMM (`gemm.wgsl`): `parts` partial sums of
// `count` elements each, summed in order first (parts = 1 for a plain y).
//
// Template values (crate/src/kernels/epilogue.rs): {{ enable }}, {{ elem }} as in
// flash_attention.wgsl, {{ y_elem }} (ELEM, or f32 for a split-K workspace), {{ threads }}
// the workgroup size.
{{ enable }}

alias ELEM = {{ elem }};
const T: u32 = {{ threads }}u;

// Every binding is read_write: burn's allocator packs tensors into shared wgpu buffers, and
// wgpu refuses one buffer bound both read-only and read-write in a dispatch. An absent term is
// bound to a small placeholder tensor and not read (WebGPU refuses one buffer range in two
// writable bindings).
@group(0) @binding(0) var<storage, read_write> y: array<{{ y_elem }}>;
@group(0) @binding(1) var<storage, read_write> bias: array<ELEM>;
@group(0) @binding(2) var<storage, read_write> r1: array<ELEM>;
@group(0) @binding(3) var<storage, read_write> r2: array<ELEM>;
@group(0) @binding(4) var<storage, read_write> out: array<ELEM>;
// [count, n, flags, grid_x, parts]
@group(0) @binding(5) var<uniform> params: array<vec4<u32>, 2>;

fn param(i: u32) -> u32 {
    return params[i / 4u][i % 4u];
}

@compute @workgroup_size({{ threads }}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let count = param(0u);
    let n = param(1u);
    let flags = param(2u);
    let idx = (wid.y * param(3u) + wid.x) * T + lid;
    if (idx >= count) {
        return;
    }
    var v = f32(y[idx]);
    for (var p = 1u; p < param(4u); p++) {
        v += f32(y[p * count + idx]);
    }
    if ((flags & 1u) != 0u) {
        v += f32(bias[idx % n]);
    }
    if ((flags & 2u) != 0u) {
        v += f32(r1[idx]);
    }
    if ((flags & 4u) != 0u) {
        v += f32(r2[idx]);
    }
    if ((flags & 8u) != 0u) {
        v = v / (1.0 + exp(-v));
    }
    out[idx] = ELEM(v);
}
