//! The one injectable source of every random draw of the pipelines. Each draw has a name
//! (the key scheme of `docs/noise-replay.md`, e.g. `run0/ddpm/step3`) and a shape; a
//! [`SeededNoise`] derives an independent standard-normal stream per key from the seed, and
//! a [`ReplayNoise`] hands out tensors recorded elsewhere (e.g. by PyTorch) under those keys,
//! and can also hand back that run's round inputs ([`RoundInputs`]) so a comparison starts
//! every round from the reference's own input.

use std::collections::BTreeMap;

use burn::tensor::{DType, Device, Tensor, TensorData};

use crate::imageops::Image8;
use crate::rng::{Xoshiro, splitmix};
use crate::weights::safetensors::{SafetensorsHeader, float_data};
use crate::{Error, Result};

/// Where the pipelines get their Gaussian noise.
pub trait NoiseSource {
    /// A standard-normal tensor for the draw `key` of shape `shape`, as f32 host values.
    fn draw(&mut self, key: &str, shape: [usize; 4]) -> Result<Vec<f32>>;

    /// The stream the subject draws (`subject/…`) come from when it does not depend on the
    /// run, so subject features computed once can be reused by later runs (the pipeline's
    /// subject cache); `None` (the default) when they cannot be (recorded noise).
    fn subject_stream(&self) -> Option<u64> {
        None
    }

    /// A recorded run's image ending iteration `k`, to start iteration `k + 1` from instead of
    /// the run's own (teacher forcing); `None` (the default) lets the run go on from its own.
    fn round_image(&mut self, _k: usize) -> Option<Image8> {
        None
    }

    /// A recorded run's latent under a trajectory key (the edit's `edit/loop1/inv{j}`, the
    /// background later rounds blend in), in place of the run's own; `None` by default.
    fn round_latent(&mut self, _key: &str) -> Option<Vec<f32>> {
        None
    }
}

/// A recorded run's round inputs. Every refinement round starts from an 8-bit image, so float
/// differences of ~1e-5 flip pixel roundings and grow from round to round; starting every round
/// from the reference run's own input measures each round on its own, as the first round is.
#[derive(Clone, Debug, Default)]
pub struct RoundInputs {
    /// The image that ends iteration `k` (0 = the initial image / the resized edit source).
    pub images: BTreeMap<usize, Image8>,
    /// Latents by trajectory key.
    pub latents: BTreeMap<String, Vec<f32>>,
}

/// Uploads a draw to `device` as `dtype`.
pub fn draw_tensor(source: &mut dyn NoiseSource, key: &str, shape: [usize; 4], device: &Device, dtype: DType) -> Result<Tensor<4>> {
    let values = source.draw(key, shape)?;
    Ok(Tensor::from_data(TensorData::new(values, shape), (device, dtype)))
}

/// The seed of the subject draws (`subject/posterior`, `subject/t1`), whatever the run's seed.
/// In the official code those come from the global torch RNG, whose state
/// `accelerator.load_state` restores from the released checkpoint after `set_seed` (spec §4.5),
/// so they do not follow `--seed` there either; here it makes a subject's features the same for
/// every seed, so they are computed once for all variations and prompts.
pub const SUBJECT_SEED: u64 = 0x5EED_5B1E_C7;

/// Deterministic noise: one independent stream per (seed, key), so a draw does not depend on
/// which other draws happened before it. Subject draws use [`SUBJECT_SEED`] instead of the seed.
#[derive(Clone, Debug)]
pub struct SeededNoise {
    seed: u64,
}

impl SeededNoise {
    /// Noise for `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }
}

impl NoiseSource for SeededNoise {
    fn draw(&mut self, key: &str, shape: [usize; 4]) -> Result<Vec<f32>> {
        // FNV-1a of the key, mixed with the seed.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in key.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3);
        }
        let seed = if key.starts_with("subject/") { SUBJECT_SEED } else { self.seed };
        let mut s = seed ^ h.rotate_left(17);
        let mut rng = Xoshiro::new(splitmix(&mut s));
        let n: usize = shape.iter().product();
        let mut out = Vec::with_capacity(n + 1);
        while out.len() < n {
            // Box–Muller: two normals per pair of uniforms.
            let (u1, u2) = (rng.uniform(), rng.uniform());
            let r = (-2.0 * u1.ln()).sqrt();
            let th = std::f64::consts::TAU * u2;
            out.push((r * th.cos()) as f32);
            out.push((r * th.sin()) as f32);
        }
        out.truncate(n);
        Ok(out)
    }

    fn subject_stream(&self) -> Option<u64> {
        Some(SUBJECT_SEED)
    }
}

/// Recorded noise: a safetensors file with one float tensor per key. A missing key or a shape
/// different from the requested one is an error naming the key.
pub struct ReplayNoise {
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    file: String,
    used: Vec<String>,
    rounds: RoundInputs,
}

impl ReplayNoise {
    /// Parses a whole safetensors file of noise draws.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<Self> {
        let header = SafetensorsHeader::parse(bytes, file)?;
        let mut tensors = BTreeMap::new();
        for info in &header.tensors {
            let data = float_data(info, &bytes[info.range.clone()], DType::F32, file)?;
            let values = data.try_to_vec::<f32>().map_err(|e| Error::Weights { file: file.into(), reason: format!("{e:?}") })?;
            tensors.insert(info.name.clone(), (info.shape.clone(), values));
        }
        Ok(Self { tensors, file: file.to_string(), used: Vec::new(), rounds: RoundInputs::default() })
    }

    /// Also hands back the recorded run's round inputs (teacher forcing).
    pub fn with_round_inputs(mut self, rounds: RoundInputs) -> Self {
        self.rounds = rounds;
        self
    }

    /// Keys handed out so far, in order.
    pub fn used(&self) -> &[String] {
        &self.used
    }
}

impl NoiseSource for ReplayNoise {
    fn draw(&mut self, key: &str, shape: [usize; 4]) -> Result<Vec<f32>> {
        let (stored_shape, values) = self.tensors.get(key).ok_or_else(|| {
            Error::Input(format!("noise file {}: no draw named `{key}` (shape {shape:?}); see docs/noise-replay.md", self.file))
        })?;
        if stored_shape.as_slice() != shape {
            return Err(Error::Input(format!(
                "noise file {}: draw `{key}` has shape {stored_shape:?}, the pipeline needs {shape:?}",
                self.file
            )));
        }
        self.used.push(key.to_string());
        Ok(values.clone())
    }

    fn round_image(&mut self, k: usize) -> Option<Image8> {
        self.rounds.images.get(&k).cloned()
    }

    fn round_latent(&mut self, key: &str) -> Option<Vec<f32>> {
        self.rounds.latents.get(key).cloned()
    }
}
