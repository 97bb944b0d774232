//! Port of diffusers `models/embeddings.py`: `get_timestep_embedding` (`Timesteps`) and
//! `TimestepEmbedding`.

use burn::tensor::{DType, Device, Tensor, TensorData};

use crate::nn::Linear;
use crate::nn::Vars;

/// The sinusoidal projection of timesteps, computed on the host in f32 exactly as diffusers
/// does: `exponent = -ln(10000)·i / (half − shift)`, `emb = t·exp(exponent)`, `[sin, cos]`
/// (or `[cos, sin]` with `flip_sin_to_cos`). Returns `[timesteps.len(), dim]` values.
pub fn timestep_embedding_values(timesteps: &[f32], dim: usize, flip_sin_to_cos: bool, shift: f64) -> Vec<f32> {
    let half = dim / 2;
    let freqs: Vec<f32> = (0..half)
        .map(|i| {
            let exponent = -(10000f32.ln()) * i as f32 / (half as f32 - shift as f32);
            exponent.exp()
        })
        .collect();
    let mut out = Vec::with_capacity(timesteps.len() * dim);
    for &t in timesteps {
        let args: Vec<f32> = freqs.iter().map(|f| t * f).collect();
        let (sin, cos): (Vec<f32>, Vec<f32>) = args.iter().map(|a| (a.sin(), a.cos())).unzip();
        if flip_sin_to_cos {
            out.extend(cos);
            out.extend(sin);
        } else {
            out.extend(sin);
            out.extend(cos);
        }
        if dim % 2 == 1 {
            out.push(0.0);
        }
    }
    out
}

/// [`timestep_embedding_values`] as a device tensor of `dtype`.
pub fn timestep_embedding(
    timesteps: &[f32],
    dim: usize,
    flip_sin_to_cos: bool,
    shift: f64,
    device: &Device,
    dtype: DType,
) -> Tensor<2> {
    let values = timestep_embedding_values(timesteps, dim, flip_sin_to_cos, shift);
    Tensor::from_data(TensorData::new(values, [timesteps.len(), dim]), (device, dtype))
}

/// `TimestepEmbedding`: Linear → SiLU → Linear.
#[derive(Clone, Debug)]
pub struct TimestepEmbedding {
    linear_1: Linear,
    linear_2: Linear,
}

impl TimestepEmbedding {
    /// Loads `linear_1` (`in_dim → dim`) and `linear_2` (`dim → dim`).
    pub fn load(vb: &Vars, in_dim: usize, dim: usize) -> Self {
        Self { linear_1: Linear::load(&vb.pp("linear_1"), in_dim, dim, true), linear_2: Linear::load(&vb.pp("linear_2"), dim, dim, true) }
    }

    /// Embeds the sinusoidal projection.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.linear_2.forward(self.linear_1.forward_silu(x))
    }

    /// `silu` of [`Self::forward`] (what every UNet ResNet takes), each Linear's bias and SiLU in
    /// one dispatch on the WGSL path.
    pub fn forward_silu(&self, x: Tensor<2>) -> Tensor<2> {
        self.linear_2.forward_silu(self.linear_1.forward_silu(x))
    }
}
