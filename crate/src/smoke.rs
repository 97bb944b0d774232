//! A small end-to-end computation (conv → GroupNorm+SiLU → multi-head attention) whose inputs
//! are generated from closed-form formulas, so the browser's WebGPU result can be checked
//! against the CPU reference backend computed natively by the test itself. It runs through the
//! models' own building blocks with the default kernel choice: the WGSL norm and flash-attention
//! kernels on wgpu, the plain-ops references on the CPU, so the comparison checks our kernels.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::Result;
use crate::device::read_f32;
use crate::kernels::{Kernels, flash_attention, norm};

const C_IN: usize = 8;
const C: usize = 16;
const HW: usize = 16;
const HEADS: usize = 2;
const GROUPS: usize = 4;

/// The result of [`run`]: the output tensor's shape and values (f32, row-major).
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct SmokeOutput {
    /// Output shape `[1, 256, 16]`.
    pub shape: Vec<usize>,
    /// Output values.
    pub values: Vec<f32>,
    /// The dtype the computation ran in ("F32" or "F16").
    pub dtype: String,
}

/// Deterministic pseudo-random values in [-1, 1) from an index (no RNG, identical everywhere).
fn pattern(n: usize, salt: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as f32 * 0.7548777 + salt) * 12.9898).sin())
        .collect()
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device, dtype: DType) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), (device, dtype))
}

/// Runs the smoke computation on `device` in `dtype` and reads the result back asynchronously.
pub async fn run(device: &Device, dtype: DType) -> Result<SmokeOutput> {
    let x = tensor(pattern(C_IN * HW * HW, 0.1), [1, C_IN, HW, HW], device, dtype);
    let w = tensor(
        pattern(C * C_IN * 9, 0.2).into_iter().map(|v| v * 0.3).collect(),
        [C, C_IN, 3, 3],
        device,
        dtype,
    );
    let b = tensor(pattern(C, 0.3), [C], device, dtype);
    let gamma = tensor(pattern(C, 0.4).into_iter().map(|v| 1.0 + 0.2 * v).collect(), [C], device, dtype);
    let beta = tensor(pattern(C, 0.5).into_iter().map(|v| 0.1 * v).collect(), [C], device, dtype);
    let proj = |salt| tensor(pattern(C * C, salt).into_iter().map(|v| v * 0.25).collect(), [C, C], device, dtype);
    let (wq, wk, wv) = (proj(0.6), proj(0.7), proj(0.8));

    let h = conv2d(x, w, Some(b), ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
    let h = norm::group_norm(Kernels::default(), h, GROUPS, &gamma, &beta, 1e-5, true);
    let tokens: Tensor<3> = h.reshape([1, C, HW * HW]).swap_dims(1, 2);
    let q = tokens.clone().matmul(wq.unsqueeze());
    let k = tokens.clone().matmul(wk.unsqueeze());
    let v = tokens.matmul(wv.unsqueeze());
    let out = flash_attention::attention(Kernels::default(), q, k, v, HEADS, 1.0 / ((C / HEADS) as f64).sqrt());

    let shape = out.dims().to_vec();
    let values = read_f32(out).await?;
    Ok(SmokeOutput { shape, values, dtype: format!("{dtype:?}") })
}
