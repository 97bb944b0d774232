//! A self-check of the WGSL kernels on the device at hand: each kernel against its plain-ops
//! reference (computed in f32 on the same device) on fixed, deterministic inputs. The page runs
//! it as part of its GPU self-test (drivers differ, f16 above all), and the Dawn test runs it
//! through Tint with `shader-f16`.

use burn::tensor::{DType, Device, Tensor, TensorData};
use serde::Serialize;
use ts_rs::TS;

use super::{Kernels, LaunchCounter, flash_attention, geglu, norm};
use crate::Result;
use crate::device::read_f32;

/// The outcome for one kernel.
#[derive(Clone, Debug, Serialize, TS)]
pub struct KernelCheck {
    /// Kernel name (`flash_attention`, `group_norm_silu`, `layer_norm`, `geglu`).
    pub kernel: String,
    /// Storage dtype the kernel ran in.
    pub dtype: String,
    /// Whether the WGSL kernel itself ran (false: the reference path was taken on this device).
    pub ran: bool,
    /// max |kernel − reference| / max |reference|.
    pub rel_err: f32,
    /// Tolerance applied: 1e-4 in f32, 4e-3 in f16.
    pub tolerance: f32,
    /// `ran` and within tolerance.
    pub ok: bool,
}

/// Deterministic values in [-scale, scale) + offset (a 64-bit LCG).
fn values(n: usize, seed: u64, scale: f32, offset: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (((state >> 40) as f32) / ((1u64 << 24) as f32) * 2.0 - 1.0) * scale + offset
        })
        .collect()
}

/// The input in `dtype` and the f32 copy of exactly its values.
fn input<const D: usize>(device: &Device, shape: [usize; D], seed: u64, scale: f32, offset: f32, dtype: DType) -> (Tensor<D>, Tensor<D>) {
    let n = shape.iter().product();
    let x = Tensor::<D>::from_data(TensorData::new(values(n, seed, scale, offset), shape), (device, DType::F32)).cast(dtype);
    let exact = x.clone().cast(DType::F32);
    (x, exact)
}

async fn compare<const D: usize>(name: &str, dtype: DType, ran: bool, actual: Tensor<D>, expected: Tensor<D>) -> Result<KernelCheck> {
    let a = read_f32(actual.cast(DType::F32)).await?;
    let e = read_f32(expected).await?;
    let (mut diff, mut mag) = (0f32, 0f32);
    for (x, y) in a.iter().zip(&e) {
        diff = diff.max(if x.is_finite() { (x - y).abs() } else { f32::INFINITY });
        mag = mag.max(y.abs());
    }
    let rel_err = diff / mag.max(f32::MIN_POSITIVE);
    let tolerance = if dtype == DType::F32 { 1e-4 } else { 4e-3 };
    Ok(KernelCheck { kernel: name.into(), dtype: format!("{dtype:?}").to_lowercase(), ran, rel_err, tolerance, ok: ran && rel_err <= tolerance })
}

/// Runs every kernel once in `dtype` on `device` and compares it with the reference.
pub async fn run(device: &Device, dtype: DType) -> Result<Vec<KernelCheck>> {
    let mut out = Vec::new();

    let (q, q32) = input(device, [2, 100, 128], 1, 1.0, 0.0, dtype);
    let (k, k32) = input(device, [2, 150, 128], 2, 1.0, 0.0, dtype);
    let (v, v32) = input(device, [2, 150, 128], 3, 1.0, 0.2, dtype);
    let counter = LaunchCounter::start();
    let actual = flash_attention::attention(Kernels::Wgsl, q, k, v, 2, 0.125);
    let ran = counter.matching("FlashAttention") > 0;
    drop(counter);
    let expected = flash_attention::reference(q32, k32, v32, 2, 0.125);
    out.push(compare("flash_attention", dtype, ran, actual, expected).await?);

    let (x, x32) = input(device, [2, 64, 6, 5], 4, 2.0, 3.0, dtype);
    let (g, g32) = input(device, [64], 5, 0.5, 1.0, dtype);
    let (b, b32) = input(device, [64], 6, 0.3, 0.0, dtype);
    let counter = LaunchCounter::start();
    let actual = norm::group_norm(Kernels::Wgsl, x, 32, &g, &b, 1e-5, true);
    let ran = counter.matching("Norm") > 0;
    drop(counter);
    let expected = norm::group_norm(Kernels::Reference, x32, 32, &g32, &b32, 1e-5, true);
    out.push(compare("group_norm_silu", dtype, ran, actual, expected).await?);

    let (x, x32) = input(device, [3, 40, 320], 7, 2.0, -1.5, dtype);
    let (g, g32) = input(device, [320], 8, 0.5, 1.0, dtype);
    let (b, b32) = input(device, [320], 9, 0.3, 0.0, dtype);
    let counter = LaunchCounter::start();
    let actual = norm::layer_norm(Kernels::Wgsl, x, &g, &b, 1e-5);
    let ran = counter.matching("Norm") > 0;
    drop(counter);
    let expected = norm::layer_norm(Kernels::Reference, x32, &g32, &b32, 1e-5);
    out.push(compare("layer_norm", dtype, ran, actual, expected).await?);

    let (h, h32) = input(device, [2, 30, 256], 10, 3.0, 0.0, dtype);
    let counter = LaunchCounter::start();
    let actual = geglu::geglu(Kernels::Wgsl, h);
    let ran = counter.matching("Geglu") > 0;
    drop(counter);
    out.push(compare("geglu", dtype, ran, actual, geglu::reference(h32)).await?);
    Ok(out)
}
