// GEGLU, the gated activation of the transformer blocks' feed-forward (diffusers `GEGLU`):
//   h: [rows, 2·I] (the output of `net.0.proj` before its bias), with a = h + bias (flag 1;
//   the bias add of `net.0.proj`, in f32), out[r, i] = a[r, i] · gelu(a[r, I + i])
// with the exact (erf) GELU, in one dispatch: no narrowed copies of the value and gate halves
// and no intermediate tensors of the activation (the widest of the UNet: 4·dim per token).
// Arithmetic in f32 whatever the storage type.
//
// Template values (crate/src/kernels/geglu.rs): {{ enable }}, {{ elem }} as in
// flash_attention.wgsl, {{ threads }} the workgroup size.
{{ enable }}

alias ELEM = {{ elem }};
const T: u32 = {{ threads }}u;

// Every binding is read_write: burn's allocator packs tensors into shared wgpu buffers, and
// wgpu refuses one buffer bound both read-only and read-write in a dispatch.
@group(0) @binding(0) var<storage, read_write> h: array<ELEM>;
// [2·I]; a small placeholder, not read, without a bias.
@group(0) @binding(1) var<storage, read_write> bias: array<ELEM>;
@group(0) @binding(2) var<storage, read_write> out: array<ELEM>;
// [rows, inner, grid_x, has_bias]
@group(0) @binding(3) var<uniform> params: array<vec4<u32>, 2>;

fn param(i: u32) -> u32 {
    return params[i / 4u][i % 4u];
}

// erf(x) by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7, below f32's resolution of GELU's
// output scale), odd-extended to negative x.
fn erf_f32(x: f32) -> f32 {
    let a = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let y = 1.0 - poly * exp(-a * a);
    return select(y, -y, x < 0.0);
}

@compute @workgroup_size({{ threads }}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let rows = param(0u);
    let inner = param(1u);
    let idx = (wid.y * param(2u) + wid.x) * T + lid;
    if (idx >= rows * inner) {
        return;
    }
    let r = idx / inner;
    let i = idx % inner;
    let base = r * 2u * inner;
    var value = f32(h[base + i]);
    var gate = f32(h[base + inner + i]);
    if (param(3u) != 0u) {
        value += f32(bias[i]);
        gate += f32(bias[inner + i]);
    }
    out[idx] = ELEM(value * gate * 0.5 * (1.0 + erf_f32(gate * 0.70710678118654752)));
}
