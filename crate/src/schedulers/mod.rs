//! Schedulers EZIGen uses, ported from diffusers 0.30.1 with schedule constants in f64:
//! [`DdpmScheduler`] (the main sampler) and [`DpmSolverInverse`] (DPM-Solver++(2M) inversion
//! for editing). Their configuration comes from SD 2.1-base's `scheduler_config.json`.

pub mod ddpm;
pub mod dpm_inverse;

use serde::Deserialize;

pub use ddpm::DdpmScheduler;
pub use dpm_inverse::DpmSolverInverse;

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
}

fn scaled_linear() -> String { "scaled_linear".into() }
fn thousand() -> usize { 1000 }
fn epsilon() -> String { "epsilon".into() }

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
        if c.num_train_timesteps < 2 {
            return Err(Error::Config("scheduler: num_train_timesteps must be at least 2".into()));
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
}
