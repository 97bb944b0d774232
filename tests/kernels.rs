//! Parity of the hand-written WGSL kernels (`shaders/`) with their plain-ops references on
//! wgpu (lavapipe on CI), in f32 and f16, on shapes the models use and on awkward ones
//! (partial tiles, tiny and maximal head dims, large logits). Each test also proves that the
//! kernel really ran, by counting its launches.

use burn::tensor::{DType, Tensor, TensorData};
use ezigen::kernels::flash_attention::{self, Variant};
use ezigen::kernels::gemm::{GemmImpl, GemmShape};
use ezigen::kernels::{Kernels, LaunchCounter, geglu, gemm, norm, tune};
use ezigen_tests::{assert_close, host, wgpu, wgpu_dtypes};

/// Deterministic pseudo-random values in [-1, 1) (a 64-bit LCG), scaled and offset.
fn values(n: usize, seed: u64, scale: f32, offset: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let unit = ((state >> 40) as f32) / ((1u64 << 24) as f32);
            (unit * 2.0 - 1.0) * scale + offset
        })
        .collect()
}

/// A tensor on wgpu in `dtype`, and the f32 copy of exactly the values it holds (f16-rounded
/// for f16), which the reference runs on.
fn pair<const D: usize>(shape: [usize; D], seed: u64, scale: f32, offset: f32, dtype: DType) -> (Tensor<D>, Tensor<D>) {
    let n = shape.iter().product();
    let data = TensorData::new(values(n, seed, scale, offset), shape);
    let x = Tensor::<D>::from_data(data, &wgpu()).cast(dtype);
    let exact = x.clone().cast(DType::F32);
    (x, exact)
}

/// Launch observers are process-wide: the tests of this file take turns.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const F32_TOL: f32 = 1e-5;
/// f16 storage of inputs and output: the result is rounded to 11 significant bits.
const F16_TOL: f32 = 2e-3;

/// The dtypes to check with their tolerances (f16 only where the adapter has it).
fn dtypes() -> Vec<(DType, f32)> {
    wgpu_dtypes().into_iter().map(|d| (d, if d == DType::F16 { F16_TOL } else { F32_TOL })).collect()
}

/// The flash-attention kernels to check at `head_dim` on this device: the plain one, and the
/// subgroup variant at every round size the device's subgroups allow (none where the adapter
/// has no subgroup operations; lavapipe has them, 8 lanes wide, or 4 with
/// `LP_NATIVE_VECTOR_WIDTH=128`).
fn variants(head_dim: usize) -> Vec<Variant> {
    let min = ezigen::device::device_subgroups(&wgpu());
    let mut out = vec![Variant::Plain];
    out.extend(flash_attention::subgroup_steps(head_dim).filter(|&sg| min.is_some_and(|m| sg <= m)).map(Variant::Subgroup));
    out
}

/// Launches of the subgroup kernel and of either flash kernel.
fn flash_launches(counter: &LaunchCounter) -> (usize, usize) {
    (counter.matching("FlashAttentionSubgroup"), counter.matching("FlashAttention"))
}

/// Asserts that exactly the kernel `variant` names ran, once.
fn assert_variant_ran(name: &str, variant: Variant, counter: &LaunchCounter) {
    let want = (usize::from(matches!(variant, Variant::Subgroup(_))), 1);
    assert_eq!(flash_launches(counter), want, "{name} {variant:?}: (subgroup, all) flash launches");
}

fn check_attention(name: &str, b: usize, n_q: usize, n_k: usize, heads: usize, head_dim: usize, magnitude: f32) {
    let _turn = serial();
    let c = heads * head_dim;
    for (dtype, tol) in dtypes() {
        let (q, q32) = pair([b, n_q, c], 1, magnitude, 0.0, dtype);
        let (k, k32) = pair([b, n_k, c], 2, magnitude, 0.0, dtype);
        let (v, v32) = pair([b, n_k, c], 3, 1.0, 0.2, dtype);
        let scale = 1.0 / (head_dim as f64).sqrt();
        let expected = host(flash_attention::reference(q32, k32, v32, heads, scale));
        for variant in variants(head_dim) {
            let counter = LaunchCounter::start();
            let out = flash_attention::attention_variant(Kernels::Wgsl, variant, q.clone(), (k.clone(), v.clone()), None, heads, scale);
            assert_variant_ran(name, variant, &counter);
            drop(counter);
            assert_eq!(out.dims(), [b, n_q, c]);
            assert_eq!(out.dtype(), dtype);
            assert_close(&format!("flash attention {name} {variant:?} wgpu {dtype:?}"), &host(out), &expected, tol);
        }
    }
}

#[test]
fn flash_attention_self_attention_partial_tiles() {
    check_attention("self 2x300x300 h2 d64", 2, 300, 300, 2, 64, 1.0);
}

#[test]
fn flash_attention_cross_attention_77_keys() {
    check_attention("cross 2x200x77 h4 d16", 2, 200, 77, 4, 16, 1.0);
}

#[test]
fn flash_attention_adapter_keys_twice_the_queries() {
    // EZIGen's adapter: keys/values are [main tokens ; subject tokens].
    check_attention("adapter 2x130x260 h5 d64", 2, 130, 260, 5, 64, 1.0);
}

#[test]
fn flash_attention_over_two_key_sources_equals_their_concatenation() {
    // The adapter's [own tokens; subject tokens] read in place: 130 + 77 keys (the second
    // source starts mid-tile), against the reference on the concatenated keys and values.
    let _turn = serial();
    let (b, n_q, heads, head_dim) = (2, 130, 5, 64);
    let c = heads * head_dim;
    for (dtype, tol) in dtypes() {
        let (q, q32) = pair([b, n_q, c], 21, 1.0, 0.0, dtype);
        let (k1, k1_32) = pair([b, n_q, c], 22, 1.0, 0.0, dtype);
        let (v1, v1_32) = pair([b, n_q, c], 23, 1.0, 0.2, dtype);
        let (k2, k2_32) = pair([b, 77, c], 24, 1.0, 0.0, dtype);
        let (v2, v2_32) = pair([b, 77, c], 25, 1.0, -0.3, dtype);
        let scale = 1.0 / (head_dim as f64).sqrt();
        let k = Tensor::cat(vec![k1_32.clone(), k2_32.clone()], 1);
        let v = Tensor::cat(vec![v1_32.clone(), v2_32.clone()], 1);
        let expected = host(flash_attention::reference(q32.clone(), k, v, heads, scale));
        // A second source of batch 1 is shared by both batch elements (the CFG branches).
        let shared = |t: Tensor<3>| t.narrow(0, 1, 1).repeat_dim(0, b);
        let k = Tensor::cat(vec![k1_32.clone(), shared(k2_32.clone())], 1);
        let v = Tensor::cat(vec![v1_32.clone(), shared(v2_32.clone())], 1);
        let expected_shared = host(flash_attention::reference(q32.clone(), k, v, heads, scale));
        let (k2_one, v2_one) = (k2.clone().narrow(0, 1, 1), v2.clone().narrow(0, 1, 1));
        // The second source's tiles rescale the running softmax once more than one source's
        // do: 4.2e-6 worst element-wise in f32 (docs/float-paths.md).
        let tol = if dtype == DType::F32 { 2e-5 } else { tol };
        for variant in variants(head_dim) {
            let counter = LaunchCounter::start();
            let out = flash_attention::attention_variant(Kernels::Wgsl, variant, q.clone(), (k1.clone(), v1.clone()), Some((&k2, &v2)), heads, scale);
            assert_variant_ran("two sources", variant, &counter);
            assert_eq!(counter.total(), 1, "one flash dispatch and no concatenation");
            drop(counter);
            assert_close(&format!("flash attention two sources {variant:?} wgpu {dtype:?}"), &host(out), &expected, tol);

            let counter = LaunchCounter::start();
            let out = flash_attention::attention_variant(Kernels::Wgsl, variant, q.clone(), (k1.clone(), v1.clone()), Some((&k2_one, &v2_one)), heads, scale);
            assert_variant_ran("shared second source", variant, &counter);
            assert_eq!(counter.matching("Copy"), 0, "the shared source read in place");
            drop(counter);
            assert_close(&format!("flash attention shared second source {variant:?} wgpu {dtype:?}"), &host(out), &expected_shared, tol);
        }
    }
}

#[test]
fn flash_attention_adapter_at_full_size_4096_queries_over_8192_keys() {
    // The adapter attention of SD 2.1's level 0 at 512 px: 4096 own tokens attend to
    // [4096 own; 4096 subject] keys (256 tiles, two sources), one head of 64 (the real layer
    // has 5 and batch 2: the same work per head, 10× the time). The oracle is the exact
    // attention in f64 on the host, for every 64th query row.
    let _turn = serial();
    let (n, d) = (4096, 64);
    for (dtype, tol) in dtypes() {
        let (q, q32) = pair([1, n, d], 31, 1.0, 0.0, dtype);
        let (k1, k1_32) = pair([1, n, d], 32, 1.0, 0.0, dtype);
        let (v1, v1_32) = pair([1, n, d], 33, 1.0, 0.2, dtype);
        let (k2, k2_32) = pair([1, n, d], 34, 1.0, 0.0, dtype);
        let (v2, v2_32) = pair([1, n, d], 35, 1.0, -0.3, dtype);
        let scale = 1.0 / (d as f64).sqrt();
        let rows: Vec<usize> = (0..n).step_by(64).map(|r| r + 7).collect();
        let (qh, kh, vh) = (host(q32), [host(k1_32), host(k2_32)].concat(), [host(v1_32), host(v2_32)].concat());
        let expected: Vec<f32> = rows.iter().flat_map(|&r| exact_attention_row(&qh[r * d..(r + 1) * d], &kh, &vh, d, scale)).collect();
        for variant in variants(d) {
            let counter = LaunchCounter::start();
            let out = flash_attention::attention_variant(Kernels::Wgsl, variant, q.clone(), (k1.clone(), v1.clone()), Some((&k2, &v2)), 1, scale);
            assert_variant_ran("adapter 4096 x 8192", variant, &counter);
            drop(counter);
            let out = host(out);
            let actual: Vec<f32> = rows.iter().flat_map(|&r| out[r * d..(r + 1) * d].to_vec()).collect();
            assert_close(&format!("flash attention 4096 x 8192 {variant:?} wgpu {dtype:?} vs f64"), &actual, &expected, tol);
        }
    }
}

/// One query row's attention over all keys (`[n_k, d]` row-major), exactly (f64) on the host.
fn exact_attention_row(q: &[f32], k: &[f32], v: &[f32], d: usize, scale: f64) -> Vec<f32> {
    let scores: Vec<f64> = k.chunks(d).map(|kr| q.iter().zip(kr).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum::<f64>() * scale).collect();
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let p: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
    let sum: f64 = p.iter().sum();
    (0..d).map(|c| (p.iter().zip(v.chunks(d)).map(|(p, vr)| p * f64::from(vr[c])).sum::<f64>() / sum) as f32).collect()
}

#[test]
fn flash_attention_uses_the_subgroup_kernel_where_the_device_has_subgroups() {
    let _turn = serial();
    let min = ezigen::device::device_subgroups(&wgpu());
    let [(q, _), (k, _), (v, _)] = [5, 6, 7].map(|seed| pair([1, 64, 128], seed, 1.0, 0.0, DType::F32));
    let counter = LaunchCounter::start();
    let _ = host(flash_attention::attention(Kernels::Wgsl, q, k, v, 2, 0.125));
    let (subgroup, all) = flash_launches(&counter);
    drop(counter);
    // Heads of 64 take rounds of 16, 8 or 4 keys: any subgroup of at least 4 lanes qualifies.
    let want = usize::from(min.is_some_and(|m| m >= 4));
    assert_eq!((subgroup, all), (want, 1), "subgroups of this device: {min:?}");
    if min.is_none() {
        eprintln!("note: this adapter has no subgroup operations; only the plain flash kernel is checked here");
    }
}

#[test]
fn flash_attention_tiny_and_widest_heads() {
    check_attention("tiny 1x64x40 h2 d4", 1, 64, 40, 2, 4, 1.0);
    check_attention("wide 1x70x33 h1 d128", 1, 70, 33, 1, 128, 1.0);
    // Not a multiple of 4: read as pairs (the tiny UNet fixture has 2-wide heads).
    check_attention("pairs 2x50x45 h3 d6", 2, 50, 45, 3, 6, 1.0);
    check_attention("pairs 1x20x9 h4 d2", 1, 20, 9, 4, 2, 1.0);
}

#[test]
fn flash_attention_large_logits_stay_stable() {
    // Scores up to ~±200: the online softmax must rescale, not overflow.
    check_attention("large logits 1x96x96 h1 d64", 1, 96, 96, 1, 64, 4.0);
}

#[test]
fn flash_attention_falls_back_for_wide_heads_and_reference_choice() {
    let _turn = serial();
    let (q, _) = pair([1, 8, 512], 4, 1.0, 0.0, DType::F32);
    let counter = LaunchCounter::start();
    let wide = flash_attention::attention(Kernels::Wgsl, q.clone(), q.clone(), q.clone(), 1, 0.04);
    let reference = flash_attention::attention(Kernels::Reference, q.clone(), q.clone(), q.clone(), 2, 0.04);
    assert_eq!(counter.matching("FlashAttention"), 0, "head dim 512 and Kernels::Reference use plain ops");
    drop(counter);
    // The plain-ops paths give attention's values: checked against a host computation in f64.
    let qv = host(q);
    assert_close("fallback head dim 512 wgpu F32", &host(wide), &naive_attention(&qv, 8, 512, 1, 0.04), F32_TOL);
    assert_close("reference choice 2 heads wgpu F32", &host(reference), &naive_attention(&qv, 8, 512, 2, 0.04), F32_TOL);
}

/// Self-attention of `x` (`[n, c]`, row-major; q = k = v) with `heads` heads, in f64 on the host.
fn naive_attention(x: &[f32], n: usize, c: usize, heads: usize, scale: f64) -> Vec<f32> {
    let d = c / heads;
    let mut out = vec![0f32; n * c];
    for h in 0..heads {
        for i in 0..n {
            let row = |j: usize| &x[j * c + h * d..j * c + (h + 1) * d];
            let scores: Vec<f64> = (0..n).map(|j| row(i).iter().zip(row(j)).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>() * scale).collect();
            let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let w: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let sum: f64 = w.iter().sum();
            for k in 0..d {
                let v: f64 = (0..n).map(|j| w[j] * row(j)[k] as f64).sum::<f64>() / sum;
                out[i * c + h * d + k] = v as f32;
            }
        }
    }
    out
}

fn check_group_norm(name: &str, shape: [usize; 4], groups: usize, silu: bool) {
    let _turn = serial();
    let c = shape[1];
    for (dtype, tol) in dtypes() {
        // A large common offset: a one-pass E[x²]−E[x]² variance would lose digits here.
        let (x, x32) = pair(shape, 5, 2.0, 3.0, dtype);
        let (gamma, g32) = pair([c], 6, 0.5, 1.0, dtype);
        let (beta, b32) = pair([c], 7, 0.3, 0.0, dtype);
        let counter = LaunchCounter::start();
        let out = norm::group_norm(Kernels::Wgsl, x, groups, &gamma, &beta, 1e-5, silu);
        let launched = counter.matching("Norm");
        drop(counter);
        assert_eq!(launched, 1, "{name}: the WGSL norm kernel did not run exactly once");
        assert_eq!(out.dtype(), dtype);
        let expected = norm::group_norm(Kernels::Reference, x32, groups, &g32, &b32, 1e-5, silu);
        assert_close(&format!("group norm {name} wgpu {dtype:?}"), &host(out), &host(expected), tol);
    }
}

#[test]
fn group_norm_matches_reference() {
    check_group_norm("2x64x9x7 g32", [2, 64, 9, 7], 32, false);
    check_group_norm("1x320x16x16 g32", [1, 320, 16, 16], 32, false);
}

#[test]
fn group_norm_silu_matches_reference() {
    check_group_norm("2x64x9x7 g32 silu", [2, 64, 9, 7], 32, true);
    check_group_norm("1x8x5x5 g4 silu", [1, 8, 5, 5], 4, true);
}

#[test]
fn group_norm_reads_and_writes_channels_last_and_adds_a_shift_with_its_bias() {
    let _turn = serial();
    // Rows of 126 elements (128 threads) and of 18 (32 threads).
    for [b, c, h, w] in [[2, 64, 9, 7], [2, 64, 3, 3]] {
        for (dtype, tol) in dtypes() {
            // Stored [B, H, W, C] and seen as [B, C, H, W]: the layout burn's convolution writes.
            let (nhwc, nhwc32) = pair([b, h, w, c], 11, 2.0, 3.0, dtype);
            let (x, x32) = (nhwc.permute([0, 3, 1, 2]), nhwc32.permute([0, 3, 1, 2]));
            let (shift, s32) = pair([b, c], 12, 1.5, 0.5, dtype);
            let (bias, bias32) = pair([c], 15, 0.7, -0.2, dtype);
            let (gamma, g32) = pair([c], 13, 0.5, 1.0, dtype);
            let (beta, b32) = pair([c], 14, 0.3, 0.0, dtype);
            let counter = LaunchCounter::start();
            let shift_term = norm::Shift { shift: &shift, bias: Some(&bias) };
            let out = norm::group_norm_shifted(Kernels::Wgsl, x.clone(), Some(shift_term), 32, &gamma, &beta, 1e-5, true);
            let plain = norm::group_norm(Kernels::Wgsl, x, 32, &gamma, &beta, 1e-5, false);
            let (norms, launched) = (counter.matching("Norm"), counter.total());
            drop(counter);
            assert_eq!((norms, launched), (2, 2), "one norm dispatch each, no layout copy and no separate add");
            // The output keeps the input's layout: the next convolution reads it as it is.
            let counter = LaunchCounter::start();
            let flat: Tensor<1> = out.clone().permute([0, 2, 3, 1]).reshape([b * h * w * c]);
            assert_eq!((flat.dims(), counter.total()), ([b * h * w * c], 0), "stored channels-last: flattening [B, H, W, C] copies nothing");
            drop(counter);
            let shifted = x32.clone() + (s32 + bias32.unsqueeze()).reshape([b, c, 1, 1]);
            let expected = norm::group_norm(Kernels::Reference, shifted, 32, &g32, &b32, 1e-5, true);
            assert_close(&format!("group norm channels-last + shift {b}x{c}x{h}x{w} wgpu {dtype:?}"), &host(out), &host(expected), tol);
            let expected = norm::group_norm(Kernels::Reference, x32, 32, &g32, &b32, 1e-5, false);
            assert_close(&format!("group norm channels-last {b}x{c}x{h}x{w} wgpu {dtype:?}"), &host(plain), &host(expected), tol);
        }
    }
}

#[test]
fn layer_norm_matches_reference() {
    let _turn = serial();
    // The workgroup shrinks to the row (norm::threads_for): 320 and 1280 run 256 threads, 65 runs
    // 128, 64 runs 64 (130 rows: 130 workgroups), 33 runs 64 (31 of them idle), 8 runs 8, 3 runs 4
    // and 1 runs a single thread.
    let cases = [("2x77x320", 154, 320), ("3x1280", 3, 1280), ("5x65", 5, 65), ("130x64", 130, 64), ("7x33", 7, 33), ("5x8", 5, 8), ("4x3", 4, 3), ("6x1", 6, 1)];
    for (name, rows, c) in cases {
        for (dtype, tol) in dtypes() {
            let (x, x32) = pair([rows, c], 8, 2.0, -1.5, dtype);
            let (gamma, g32) = pair([c], 9, 0.5, 1.0, dtype);
            let (beta, b32) = pair([c], 10, 0.3, 0.0, dtype);
            let counter = LaunchCounter::start();
            let out = norm::layer_norm(Kernels::Wgsl, x, &gamma, &beta, 1e-5);
            assert_eq!(counter.matching("Norm"), 1, "{name}: the WGSL norm kernel did not run");
            drop(counter);
            let expected = norm::layer_norm(Kernels::Reference, x32, &g32, &b32, 1e-5);
            assert_close(&format!("layer norm {name} wgpu {dtype:?}"), &host(out), &host(expected), tol);
        }
    }
}

#[test]
fn geglu_matches_reference() {
    let _turn = serial();
    // [B, N, 2·I]: tiny-model width, an odd row count, and the widest SD level (I = 5120).
    for (name, shape) in [("2x33x64", [2, 33, 64]), ("1x7x10240", [1, 7, 10240]), ("2x256x40", [2, 256, 40])] {
        for (dtype, tol) in dtypes() {
            let (h, h32) = pair(shape, 11, 3.0, 0.0, dtype);
            let counter = LaunchCounter::start();
            let out = geglu::geglu(Kernels::Wgsl, h);
            assert_eq!(counter.matching("Geglu"), 1, "{name}: the WGSL GEGLU kernel did not run");
            drop(counter);
            assert_eq!(out.dims(), [shape[0], shape[1], shape[2] / 2]);
            let expected = geglu::reference(h32);
            assert_close(&format!("geglu {name} wgpu {dtype:?}"), &host(out), &host(expected), tol);
        }
    }
}

/// Element-wise tolerance of a product over `k` terms against the reference matmul on f32:
/// both accumulate in f32, in different orders (√k-scaled rounding); f16 output rounding
/// dominates in f16.
fn gemm_tol(dtype: DType, k: usize) -> f32 {
    if dtype == DType::F16 { F16_TOL } else { F32_TOL * (k as f32 / 64.0).sqrt().max(1.0) }
}

/// The implementations of the GEMM family the tests force in `dtype`: in f32 each tile without
/// split and with an odd and an even K split (a split count larger than K's tiles is clamped);
/// in f16 (the same code with another storage type) the largest and the smallest tile, without
/// and with a split. Each tile is a shader compile of its own, seconds each on a cold lavapipe.
fn family(dtype: DType) -> Vec<GemmImpl> {
    if dtype == DType::F16 {
        return [gemm::TILES[0], gemm::TILES[4]].into_iter().flat_map(|tile| [1, 3].map(|split| GemmImpl::Tiled { tile, split })).collect();
    }
    gemm::TILES.into_iter().flat_map(|tile| [1, 3, 4].map(|split| GemmImpl::Tiled { tile, split })).collect()
}

/// Launches of the family's kernel and of the split-K reduction (the epilogue kernel).
fn assert_family_ran(name: &str, imp: GemmImpl, counter: &LaunchCounter, split_used: bool) {
    assert_eq!(counter.matching("Gemm"), 1, "{name} {}: the GEMM family did not run exactly once", imp.name());
    let expected = if split_used { 2 } else { 1 };
    assert_eq!(counter.total(), expected, "{name} {}: {:?}", imp.name(), counter.counts());
}

#[test]
fn gemm_family_linear_every_tile_and_split_on_awkward_shapes() {
    let _turn = serial();
    // [rows, K] → N with the epilogue: partial tiles on every axis, M or N of 1, K not a
    // multiple of any K tile, K = 4 and 2 560 (one split of several K tiles), two residuals,
    // and SiLU (the time embedding).
    for (name, shape, n, bias, residuals, silu) in [
        ("2x33x40→24 bias", [2, 33, 40], 24, true, 0, false),
        ("1x1x12→1", [1, 1, 12], 1, true, 0, false),
        ("3x1x4→5 silu", [3, 1, 4], 5, true, 0, true),
        ("1x77x2560→8 2 residuals", [1, 77, 2560], 8, true, 2, false),
        ("2x70x320→260 residual, no bias", [2, 70, 320], 260, false, 1, false),
    ] {
        let k = shape[2];
        for (dtype, _) in dtypes() {
            let (x, x32) = pair(shape, 21, 1.0, 0.1, dtype);
            let (w, w32) = pair([n, k], 22, 0.2, 0.0, dtype);
            let (b, b32) = pair([n], 23, 0.5, 0.0, dtype);
            let res: Vec<_> = (0..residuals).map(|i| pair([shape[0], shape[1], n], 30 + i as u64, 1.0, 0.0, dtype)).collect();
            let (r, r32): (Vec<_>, Vec<_>) = res.into_iter().unzip();
            let epi32 = gemm::Epilogue { bias: bias.then_some(&b32), residuals: &r32, silu };
            let expected = host(gemm::linear_fused(Kernels::Reference, x32.clone(), &w32, epi32));
            for imp in family(dtype) {
                let GemmImpl::Tiled { tile, split } = imp else { unreachable!() };
                let counter = LaunchCounter::start();
                let epi = gemm::Epilogue { bias: bias.then_some(&b), residuals: &r, silu };
                let out = gemm::linear_fused(Kernels::Forced(imp), x.clone(), &w, epi);
                assert_family_ran(name, imp, &counter, gemm::split_parts(k, tile, split) > 1);
                drop(counter);
                assert_eq!(out.dims(), [shape[0], shape[1], n]);
                assert_eq!(out.dtype(), dtype);
                assert_close(&format!("linear {name} {} {dtype:?}", imp.name()), &host(out), &expected, gemm_tol(dtype, k));
            }
        }
    }
}

#[test]
fn gemm_family_conv2d_every_tile_and_split_on_awkward_shapes() {
    let _turn = serial();
    // [B, Cin, H, W], Cout, kernel, stride, padding: a 3×3 on odd sizes, the stride-2
    // downsampler, a 1×1 shortcut without bias, 4 input channels (conv_in) with stride 2 and no
    // padding, a 1×1 map, and a map stored channels-last (what convolutions and norms write).
    for (name, shape, cout, ks, stride, pad, bias, channels_last) in [
        ("2x8x9x7 3x3", [2, 8, 9, 7], 12, 3, 1, 1, true, false),
        ("1x16x10x10 3x3 s2", [1, 16, 10, 10], 16, 3, 2, 1, true, true),
        ("2x24x6x5 1x1", [2, 24, 6, 5], 8, 1, 1, 0, false, true),
        ("1x4x9x9 3x3 s2 p0", [1, 4, 9, 9], 4, 3, 2, 0, true, false),
        ("1x64x1x1 3x3 →1", [1, 64, 1, 1], 1, 3, 1, 1, true, true),
    ] {
        let k = shape[1] * ks * ks;
        for (dtype, _) in dtypes() {
            let (x, x32) = pair(shape, 24, 1.0, 0.1, dtype);
            let x = if channels_last {
                let [b, c, h, w] = shape;
                x.permute([0, 2, 3, 1]).reshape([b * h * w * c]).reshape([b, h, w, c]).permute([0, 3, 1, 2])
            } else {
                x
            };
            let (w, w32) = pair([cout, shape[1], ks, ks], 25, 0.2, 0.0, dtype);
            let w = gemm::conv_weight(Kernels::Wgsl, w);
            let (b, b32) = pair([cout], 26, 0.5, 0.0, dtype);
            let expected = gemm::conv2d_reference(x32, &w32, bias.then_some(&b32), stride, pad);
            let expected_dims = expected.dims();
            let expected = host(expected);
            for imp in family(dtype) {
                let GemmImpl::Tiled { tile, split } = imp else { unreachable!() };
                let counter = LaunchCounter::start();
                let out = gemm::conv2d(Kernels::Forced(imp), x.clone(), &w, bias.then_some(&b), stride, pad);
                let copies = counter.total() - counter.matching("Gemm") - counter.matching("Epilogue");
                assert_eq!(copies, usize::from(!channels_last), "{name}: a channels-last map is read in place, another copied once");
                assert_eq!(counter.matching("Gemm"), 1, "{name} {}: the GEMM family did not run exactly once", imp.name());
                assert_eq!(counter.matching("Epilogue"), usize::from(gemm::split_parts(k, tile, split) > 1), "{name} {}", imp.name());
                drop(counter);
                assert_eq!(out.dtype(), dtype);
                assert_eq!(out.dims(), expected_dims, "{name}");
                assert_close(&format!("conv2d {name} {} {dtype:?}", imp.name()), &host(out), &expected, gemm_tol(dtype, k));
            }
        }
    }
}

#[test]
fn gemm_family_declines_what_it_cannot_run() {
    let _turn = serial();
    // 3 input channels (the VAE's and CLIP's first convolutions) and K = 7 are not multiples of
    // 4: burn's kernels run them even when a tile is forced.
    let imp = GemmImpl::Tiled { tile: gemm::TILES[1], split: 1 };
    let (x, x32) = pair([1, 3, 8, 8], 1, 1.0, 0.0, DType::F32);
    let (w, w32) = pair([16, 3, 3, 3], 2, 0.2, 0.0, DType::F32);
    let counter = LaunchCounter::start();
    let out = gemm::conv2d(Kernels::Forced(imp), x, &w, None, 1, 1);
    assert_eq!(counter.matching("Gemm"), 0);
    drop(counter);
    assert_close("conv 3 channels", &host(out), &host(gemm::conv2d_reference(x32, &w32, None, 1, 1)), F32_TOL);
    let (x, _) = pair([5, 7], 3, 1.0, 0.0, DType::F32);
    let (w, _) = pair([6, 7], 4, 1.0, 0.0, DType::F32);
    let counter = LaunchCounter::start();
    let _ = gemm::linear(Kernels::Forced(imp), x, &w, None);
    assert_eq!(counter.matching("Gemm"), 0);
}

/// The SD 2.1-base UNet's and VAE's convolution and Linear geometries of each kind (channels,
/// kernel, stride; K up to 23 040), on small maps and few tokens so that lavapipe runs them in
/// seconds, with the shipped heuristic choice (`wgsl-gemm`; the awkward-shape tests above
/// cover every tile and split).
#[test]
fn gemm_family_on_the_sd21_channel_geometries() {
    let _turn = serial();
    // conv_in (4 channels), a level-0 3 × 3 and its stride-2 downsampler, a 1 × 1 shortcut, the
    // widest up-block input (K = 23 040), the VAE's 512 channels and conv_out to 4 channels.
    let convs: &[(usize, usize, usize, usize)] = &[
        (4, 320, 3, 1), (320, 320, 3, 1), (320, 320, 3, 2), (320, 640, 1, 1), (2560, 1280, 3, 1), (512, 512, 3, 1), (320, 4, 3, 1),
    ];
    // An attention projection, the feed-forward's GEGLU input and output.
    let linears: &[(usize, usize)] = &[(320, 320), (1280, 10240), (5120, 1280)];
    let tiles = [Kernels::WgslGemm];
    for (i, &(cin, cout, ks, stride)) in convs.iter().enumerate() {
        let (x, x32) = pair([1, cin, 4, 4], 40 + i as u64, 1.0, 0.0, DType::F32);
        let (w, w32) = pair([cout, cin, ks, ks], 60 + i as u64, 0.05, 0.0, DType::F32);
        let w = gemm::conv_weight(Kernels::Wgsl, w);
        let (b, b32) = pair([cout], 80 + i as u64, 0.5, 0.0, DType::F32);
        let pad = ks / 2;
        let expected = host(gemm::conv2d_reference(x32, &w32, Some(&b32), stride, pad));
        for &kernels in &tiles {
            let out = gemm::conv2d(kernels, x.clone(), &w, Some(&b), stride, pad);
            assert_close(&format!("conv {cin}->{cout} k{ks} s{stride} {}", kernels.name()), &host(out), &expected, gemm_tol(DType::F32, cin * ks * ks));
        }
    }
    for (i, &(k, n)) in linears.iter().enumerate() {
        let (x, x32) = pair([2, 24, k], 100 + i as u64, 1.0, 0.0, DType::F32);
        let (w, w32) = pair([n, k], 120 + i as u64, 0.05, 0.0, DType::F32);
        let expected = host(gemm::linear_reference(x32, &w32, None));
        for &kernels in &tiles {
            let out = gemm::linear(kernels, x.clone(), &w, None);
            assert_close(&format!("linear {k}->{n} {}", kernels.name()), &host(out), &expected, gemm_tol(DType::F32, k));
        }
    }
}

#[test]
fn tuner_keeps_its_choice_and_tunes_again_for_another_build() {
    let _turn = serial();
    let device = wgpu();
    tune::uninstall(&device);
    // A Linear problem and a 1 × 1 convolution (the 3 × 3 shaders are the conv tests' to compile).
    let problems = [
        (DType::F32, GemmShape::Linear { m: 64, n: 32, k: 48 }),
        (DType::F32, GemmShape::Conv { b: 1, h: 6, w: 6, cin: 8, cout: 16, ks: 1, stride: 1, pad: 0 }),
    ];
    let start = std::time::Instant::now();
    let now = move || start.elapsed().as_secs_f64() * 1000.0;
    let first = pollster::block_on(tune::tune(&device, &problems, "test-build-a", 60_000.0, &now, &mut |_| {})).unwrap();
    assert_eq!(first.problems.len(), 2);
    for (p, (dtype, shape)) in first.problems.iter().zip(&problems) {
        assert_eq!(p.candidates.len(), shape.candidates(*dtype).len(), "{p:?}");
        assert!(p.candidates.iter().any(|c| c.choice == p.choice), "{p:?}");
        assert!(p.candidates.iter().all(|c| c.ms.is_finite() && c.ms >= 0.0), "{p:?}");
    }
    assert_eq!(first.table.choices.len(), 2);
    assert_eq!(tune::installed(&device).as_ref(), Some(&first.table));
    // The kept table round-trips through its JSON, and the second run times nothing.
    // (Its tuning time is informational: serde_json's default float parsing is not always
    // correctly rounded, 205.648961 came back as 205.64896099999999.)
    let kept = tune::TuneTable::from_json(&first.table.to_json()).unwrap();
    assert_eq!((&kept.key, &kept.choices), (&first.table.key, &first.table.choices));
    assert!((kept.tuning_ms - first.table.tuning_ms).abs() <= 1e-9 * first.table.tuning_ms.abs().max(1.0));
    tune::install(&device, kept);
    let second = pollster::block_on(tune::tune(&device, &problems, "test-build-a", 60_000.0, &now, &mut |_| panic!("timed a kept problem"))).unwrap();
    assert!(second.problems.is_empty());
    assert_eq!(second.table.choices, first.table.choices);
    // A run takes the kept choice: the GEMM family or burn's kernels, as chosen.
    let (x, _) = pair([1, 64, 48], 5, 1.0, 0.0, DType::F32);
    let (w, _) = pair([32, 48], 6, 1.0, 0.0, DType::F32);
    let counter = LaunchCounter::start();
    let _ = gemm::linear(Kernels::Wgsl, x, &w, None);
    let chosen = &first.table.choices["f32 linear m64 n32 k48"];
    assert_eq!(counter.matching("Gemm") == 1, *chosen != GemmImpl::Burn, "{chosen:?}: {:?}", counter.counts());
    drop(counter);
    // Another build key: tuned again.
    let third = pollster::block_on(tune::tune(&device, &problems, "test-build-b", 60_000.0, &now, &mut |_| {})).unwrap();
    assert_eq!(third.problems.len(), 2);
    assert_eq!(third.table.key, "test-build-b");
    // Past the budget nothing more is timed: the rest keep the default.
    tune::uninstall(&device);
    let none = pollster::block_on(tune::tune(&device, &problems, "test-build-c", -1.0, &now, &mut |_| {})).unwrap();
    assert_eq!((none.problems.len(), none.skipped), (0, 2));
    tune::uninstall(&device);
    assert!(tune::TuneTable::from_json("{\"key\": 3}").is_err());
    assert!(tune::TuneTable::from_json(r#"{"key":"k","choices":{"f32 linear m1 n1 k4":"9x9k9t9"},"tuning_ms":1}"#).is_err());
}

#[test]
fn untuned_problems_are_recorded_and_run_on_burn() {
    let _turn = serial();
    let device = wgpu();
    tune::uninstall(&device);
    let _ = tune::take_untuned(&device);
    let (x, _) = pair([3, 40], 7, 1.0, 0.0, DType::F32);
    let (w, _) = pair([8, 40], 8, 1.0, 0.0, DType::F32);
    let counter = LaunchCounter::start();
    let _ = gemm::linear(Kernels::Wgsl, x.clone(), &w, None);
    let _ = gemm::linear(Kernels::Wgsl, x, &w, None);
    assert_eq!(counter.matching("Gemm"), 0);
    drop(counter);
    assert_eq!(tune::take_untuned(&device), vec![(DType::F32, GemmShape::Linear { m: 3, n: 8, k: 40 })]);
    assert!(tune::take_untuned(&device).is_empty());
}

#[test]
fn self_check_passes_in_f32_and_f16() {
    let _turn = serial();
    for dtype in wgpu_dtypes() {
        let checks = pollster::block_on(ezigen::kernels::check::run(&wgpu(), dtype)).unwrap();
        assert_eq!(checks.len(), 4);
        for c in &checks {
            eprintln!("self-check {} wgpu {}: ran {}, rel {:.2e} (tol {:.0e})", c.kernel, c.dtype, c.ran, c.rel_err, c.tolerance);
            assert!(c.ok, "{c:?}");
        }
    }
}

#[test]
fn unet_step_and_vae_stay_within_their_dispatch_budgets() {
    // Issue 13's budgets for a UNet step at batch 2 (1190 launches with adapters, 1014 without,
    // before the fusions). Launch counts do not depend on the device or its speed.
    let _turn = serial();
    let options = ezigen::loader::LoadOptions::kernels(Kernels::Wgsl);
    let pipe = ezigen::native::DiffusersFolders::builtin_tiny().load_with(&wgpu(), DType::F32, options).unwrap();
    let only = ["reference_pass", "unet_step", "vae_encode", "vae_decode"].map(String::from).to_vec();
    let cfg = ezigen::bench::BenchConfig { latent: pipe.latent_size(), repeats: 0, pipeline: false, only, kernels: Kernels::Wgsl, ..Default::default() };
    let start = std::time::Instant::now();
    let now = move || start.elapsed().as_secs_f64() * 1000.0;
    let mut records = Vec::new();
    pollster::block_on(ezigen::bench::run(&pipe, &cfg, &now, &mut |r| records.push(r))).unwrap();
    let dispatches = |bench: &str, adapters: Option<bool>| {
        let r = records.iter().find(|r| r["bench"] == bench && r.get("adapters").and_then(|a| a.as_bool()) == adapters);
        r.and_then(|r| r["dispatches"].as_u64()).unwrap_or_else(|| panic!("no dispatch count for {bench}"))
    };
    let counted = [
        ("UNet step with adapters", dispatches("unet_step", Some(true)), 700),
        ("UNet step without adapters", dispatches("unet_step", Some(false)), 600),
        ("reference pass", dispatches("reference_pass", None), 600),
        ("VAE encode", dispatches("vae_encode", None), 100),
        ("VAE decode", dispatches("vae_decode", None), 110),
    ];
    eprintln!("dispatches: {counted:?}");
    for (stage, n, budget) in counted {
        assert!(n <= budget, "{stage}: {n} dispatches, over the budget of {budget}");
    }
}
