//! Schedulers EZIGen uses, ported from diffusers 0.30.1 with schedule constants in f64:
//! the three samplers of the main pipeline behind one [`Sampler`] ([`DdpmScheduler`], the
//! paper's; [`DdimScheduler`]; [`DpmSolverMultistep`], DPM-Solver++(2M)) and
//! [`DpmSolverInverse`] (the editing inversion). Their configuration comes from SD 2.1-base's
//! `scheduler_config.json`; keys the file lacks take each diffusers class's own default.

pub mod ddim;
pub mod ddpm;
pub mod dpm_inverse;
pub mod dpm_solver;
pub mod sampler;

use burn::tensor::Tensor;
use serde::Deserialize;

pub use ddim::DdimScheduler;
pub use ddpm::DdpmScheduler;
pub use dpm_inverse::DpmSolverInverse;
pub use dpm_solver::DpmSolverMultistep;
pub use sampler::{Sampler, SamplerKind};

use crate::{Error, Result};

/// The values of a diffusers `scheduler_config.json` the schedulers need.
#[derive(Clone, Debug, Deserialize)]
pub struct SchedulerConfig {
    /// β at t = 0 (0.00085).
    pub beta_start: f64,
    /// β at the last training step (0.012).
    pub beta_end: f64,
    /// Only "scaled_linear" is supported (SD's schedule).
    #[serde(default = "scaled_linear")]
    pub beta_schedule: String,
    /// Training steps (1000).
    #[serde(default = "thousand")]
    pub num_train_timesteps: usize,
    /// Offset added to "leading" timesteps (1).
    #[serde(default)]
    pub steps_offset: usize,
    /// Must be "epsilon" (SD 2.1-base; the 768-px v-model is refused).
    #[serde(default = "epsilon")]
    pub prediction_type: String,
    /// How inference timesteps are spaced; absent in SD 2.1-base's file, so each sampler takes
    /// its class default ("leading" for DDPM and DDIM, "linspace" for DPM-Solver++).
    #[serde(default)]
    pub timestep_spacing: Option<TimestepSpacing>,
    /// DDPM / DDIM: clip the predicted x̂₀ to [−1, 1] (diffusers' default true; false in SD's file).
    #[serde(default = "yes")]
    pub clip_sample: bool,
    /// DDIM: ᾱ after the last step is 1 (default true) rather than ᾱ₀ (false in SD's file).
    #[serde(default = "yes")]
    pub set_alpha_to_one: bool,
}

/// diffusers' `timestep_spacing` (Table 2 of Lin et al. 2023, "Common Diffusion Noise Schedules
/// and Sample Steps are Flawed").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimestepSpacing {
    /// Evenly spaced from T − 1 down to 0.
    Linspace,
    /// Multiples of a step ratio plus `steps_offset`.
    Leading,
    /// Counting down from T in steps of T / n, minus one.
    Trailing,
}

fn scaled_linear() -> String { "scaled_linear".into() }
fn thousand() -> usize { 1000 }
fn epsilon() -> String { "epsilon".into() }
fn yes() -> bool { true }

impl SchedulerConfig {
    /// Parses and validates `scheduler/scheduler_config.json`.
    pub fn from_json(json: &str) -> Result<Self> {
        let c: Self = serde_json::from_str(json).map_err(|e| Error::Config(format!("scheduler config: {e}")))?;
        if c.beta_schedule != "scaled_linear" {
            return Err(Error::Config(format!("scheduler: beta_schedule {} is not supported (SD uses scaled_linear)", c.beta_schedule)));
        }
        if c.prediction_type != "epsilon" {
            return Err(Error::Config(format!(
                "scheduler: prediction_type {} — EZIGen runs on SD 2.1-base (epsilon prediction), not the 768-px v-prediction model",
                c.prediction_type
            )));
        }
        if !(2..=100_000).contains(&c.num_train_timesteps) {
            return Err(Error::Config(format!("scheduler: num_train_timesteps = {} is outside 2..=100000", c.num_train_timesteps)));
        }
        if !(c.beta_start >= 0.0 && c.beta_end < 1.0 && c.beta_start <= c.beta_end) {
            return Err(Error::Config("scheduler: beta_start and beta_end must satisfy 0 ≤ beta_start ≤ beta_end < 1".into()));
        }
        Ok(c)
    }

    /// ᾱ_t for t = 0..T−1 with β_i = (√β₀ + i/(T−1)·(√β₁ − √β₀))² (scaled_linear), in f64.
    pub fn alphas_cumprod(&self) -> Vec<f64> {
        let n = self.num_train_timesteps;
        let (s, e) = (self.beta_start.sqrt(), self.beta_end.sqrt());
        let mut acc = 1.0f64;
        (0..n)
            .map(|i| {
                let beta = (s + (e - s) * i as f64 / (n - 1) as f64).powi(2);
                acc *= 1.0 - beta;
                acc
            })
            .collect()
    }

    /// DDPM's and DDIM's `set_timesteps(n)` (noisiest first): "leading" (default)
    /// `(0..n)·(T div n) + steps_offset` reversed, "linspace" `round(linspace(0, T−1, n))`
    /// reversed, "trailing" `round(arange(T, 0, −T/n)) − 1`.
    pub fn ddpm_timesteps(&self, n: usize) -> Vec<usize> {
        let t = self.num_train_timesteps;
        let n = n.clamp(1, t);
        match self.timestep_spacing.unwrap_or(TimestepSpacing::Leading) {
            TimestepSpacing::Leading => (0..n).rev().map(|i| (i * (t / n) + self.steps_offset).min(t - 1)).collect(),
            TimestepSpacing::Linspace => linspace(0.0, (t - 1) as f64, n).into_iter().rev().map(round_even).collect(),
            TimestepSpacing::Trailing => trailing(t, t as f64 / n as f64),
        }
    }
}

/// numpy's `linspace(start, stop, n)`: `start + k·((stop − start)/(n − 1))`, the last value
/// exactly `stop`.
pub(crate) fn linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    let step = (stop - start) / (n - 1) as f64;
    let mut v: Vec<f64> = (0..n).map(|k| k as f64 * step + start).collect();
    v[n - 1] = stop;
    v
}

/// numpy's `round` (half to even) to a timestep.
pub(crate) fn round_even(v: f64) -> usize {
    v.round_ties_even().max(0.0) as usize
}

/// `round(arange(from, 0, −ratio)) − 1`.
pub(crate) fn trailing(from: usize, ratio: f64) -> Vec<usize> {
    let count = (from as f64 / ratio).ceil() as usize;
    (0..count).map(|k| round_even(from as f64 - k as f64 * ratio).saturating_sub(1)).collect()
}

/// `add_noise(x0, ε, t) = √ᾱ_t·x0 + √(1−ᾱ_t)·ε` (the same for every scheduler).
pub fn add_noise(alphas_cumprod: &[f64], x0: Tensor<4>, noise: Tensor<4>, t: usize) -> Tensor<4> {
    let a = alphas_cumprod[t];
    x0 * a.sqrt() + noise * (1.0 - a).sqrt()
}

/// The clean latent an ε-prediction implies at `t`: x̂₀ = (x_t − √(1−ᾱ_t)·ε)/√ᾱ_t.
pub fn predicted_x0(alphas_cumprod: &[f64], eps: Tensor<4>, t: usize, sample: Tensor<4>) -> Tensor<4> {
    let a = alphas_cumprod[t];
    (sample - eps * (1.0 - a).sqrt()) / a.sqrt()
}
