//! The main pipeline's sampler, one of three, behind one type: every denoising pass builds a
//! fresh one (as diffusers' `set_timesteps` resets a scheduler at every pipeline call) and may
//! start part-way through its timesteps (`timesteps[latents_steps:]`).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{DdimScheduler, DdpmScheduler, DpmSolverMultistep, SchedulerConfig};

/// Which sampler denoises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum SamplerKind {
    /// DDPM, ancestral (the paper's; draws noise at every step).
    #[default]
    Ddpm,
    /// DDIM with η = 0 (deterministic).
    Ddim,
    /// DPM-Solver++(2M) (deterministic).
    Dpmpp,
}

impl SamplerKind {
    /// Every kind, in the order the CLI and the page list them.
    pub const ALL: [SamplerKind; 3] = [SamplerKind::Ddpm, SamplerKind::Ddim, SamplerKind::Dpmpp];

    /// The name the CLI, the page and stored parameters use ("ddpm", "ddim", "dpmpp").
    pub fn name(self) -> &'static str {
        match self {
            Self::Ddpm => "ddpm",
            Self::Ddim => "ddim",
            Self::Dpmpp => "dpmpp",
        }
    }

    /// Parses [`name`](Self::name).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A sampler set to a number of inference steps.
#[derive(Clone, Debug)]
pub enum Sampler {
    /// [`DdpmScheduler`].
    Ddpm(DdpmScheduler),
    /// [`DdimScheduler`].
    Ddim(DdimScheduler),
    /// [`DpmSolverMultistep`].
    Dpmpp(DpmSolverMultistep),
}

impl Sampler {
    /// `kind` built from `config` and set to `steps` inference steps.
    pub fn new(kind: SamplerKind, config: &SchedulerConfig, steps: usize) -> Self {
        match kind {
            SamplerKind::Ddpm => Self::Ddpm(DdpmScheduler::new(config, steps)),
            SamplerKind::Ddim => Self::Ddim(DdimScheduler::new(config, steps)),
            SamplerKind::Dpmpp => Self::Dpmpp(DpmSolverMultistep::new(config, steps)),
        }
    }

    /// The timesteps, noisiest first.
    pub fn timesteps(&self) -> &[usize] {
        match self {
            Self::Ddpm(s) => s.timesteps(),
            Self::Ddim(s) => s.timesteps(),
            Self::Dpmpp(s) => s.timesteps(),
        }
    }

    /// All ᾱ values.
    pub fn alphas_cumprod(&self) -> &[f64] {
        match self {
            Self::Ddpm(s) => s.alphas_cumprod(),
            Self::Ddim(s) => s.alphas_cumprod(),
            Self::Dpmpp(s) => s.alphas_cumprod(),
        }
    }

    /// Whether a step takes variance noise (DDPM only).
    pub fn draws_noise(&self) -> bool {
        matches!(self, Self::Ddpm(_))
    }

    /// One step at timestep `t`; `noise` is the DDPM variance draw (ignored by the others).
    pub fn step(&mut self, model_output: Tensor<4>, t: usize, sample: Tensor<4>, noise: Option<Tensor<4>>) -> Tensor<4> {
        match self {
            Self::Ddpm(s) => s.step(model_output, t, sample, noise),
            Self::Ddim(s) => s.step(model_output, t, sample),
            Self::Dpmpp(s) => s.step(model_output, t, sample),
        }
    }

    /// `add_noise(x0, ε, t)`.
    pub fn add_noise(&self, x0: Tensor<4>, noise: Tensor<4>, t: usize) -> Tensor<4> {
        super::add_noise(self.alphas_cumprod(), x0, noise, t)
    }

    /// The clean latent the model's ε implies at `t` (the live preview's x̂₀).
    pub fn predicted_x0(&self, model_output: Tensor<4>, t: usize, sample: Tensor<4>) -> Tensor<4> {
        super::predicted_x0(self.alphas_cumprod(), model_output, t, sample)
    }
}
