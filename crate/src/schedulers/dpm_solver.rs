//! Port of diffusers 0.30.1 `schedulers/scheduling_dpmsolver_multistep.py`
//! (`DPMSolverMultistepScheduler`) with the class defaults SD 2.1-base's file leaves in place:
//! DPM-Solver++, order 2, midpoint, "linspace" spacing, final σ = 0 (so the last step is first
//! order), epsilon prediction, no thresholding. Deterministic: no noise is drawn.

use burn::tensor::Tensor;

use super::{SchedulerConfig, TimestepSpacing, linspace, round_even, trailing};

/// (α, σ) of the variance-preserving parametrisation for `sigma = σ/α`.
pub(crate) fn alpha_sigma(sigma: f64) -> (f64, f64) {
    let alpha = 1.0 / (sigma * sigma + 1.0).sqrt();
    (alpha, sigma * alpha)
}

/// λ = log α − log σ (+∞ at σ = 0).
pub(crate) fn lambda(sigma: f64) -> f64 {
    let (a, s) = alpha_sigma(sigma);
    a.ln() - s.ln()
}

/// σ = √((1−ᾱ)/ᾱ) at every training timestep.
pub(crate) fn sigmas_at(config: &SchedulerConfig, timesteps: &[usize]) -> Vec<f64> {
    let ac = config.alphas_cumprod();
    timesteps.iter().map(|&t| ((1.0 - ac[t]) / ac[t]).sqrt()).collect()
}

/// DPM-Solver++(2M) from noise to clean.
#[derive(Clone, Debug)]
pub struct DpmSolverMultistep {
    timesteps: Vec<usize>,
    sigmas: Vec<f64>,
    alphas_cumprod: Vec<f64>,
    step_index: Option<usize>,
    prev_x0: Option<Tensor<4>>,
}

impl DpmSolverMultistep {
    /// `set_timesteps(n)`: with SD's config, "linspace" spacing gives
    /// `round(linspace(0, T−1, n+1))` reversed without its last value (999, 959, …, 40 for 25
    /// steps; 400 at index int(0.6·n) whenever 5 divides n); σ at those timesteps, then 0.
    pub fn new(config: &SchedulerConfig, num_inference_steps: usize) -> Self {
        let t = config.num_train_timesteps;
        let n = num_inference_steps.clamp(1, t);
        let timesteps: Vec<usize> = match config.timestep_spacing.unwrap_or(TimestepSpacing::Linspace) {
            TimestepSpacing::Linspace => {
                let mut v: Vec<usize> = linspace(0.0, (t - 1) as f64, n + 1).into_iter().rev().map(round_even).collect();
                v.pop();
                v
            }
            TimestepSpacing::Leading => {
                let ratio = t / (n + 1);
                (1..=n).rev().map(|k| k * ratio + config.steps_offset).collect()
            }
            TimestepSpacing::Trailing => trailing(t, t as f64 / n as f64),
        };
        let timesteps: Vec<usize> = timesteps.into_iter().map(|v| v.min(t - 1)).collect();
        let mut sigmas = sigmas_at(config, &timesteps);
        sigmas.push(0.0);
        Self { timesteps, sigmas, alphas_cumprod: config.alphas_cumprod(), step_index: None, prev_x0: None }
    }

    /// The timesteps, noisiest first.
    pub fn timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    /// σ_k for every step, with the final σ = 0 appended.
    pub fn sigmas(&self) -> &[f64] {
        &self.sigmas
    }

    /// All ᾱ values.
    pub fn alphas_cumprod(&self) -> &[f64] {
        &self.alphas_cumprod
    }

    /// diffusers' `index_for_timestep`: the position of `t` in the timesteps (the second one
    /// if it occurs twice, the last step if it does not occur).
    fn index_for_timestep(&self, t: usize) -> usize {
        let hits: Vec<usize> = self.timesteps.iter().enumerate().filter(|(_, v)| **v == t).map(|(i, _)| i).collect();
        match hits.as_slice() {
            [] => self.timesteps.len() - 1,
            [only] => *only,
            [_, second, ..] => *second,
        }
    }

    /// One step from `sample` at timestep `t` given the predicted noise. The first call finds
    /// its step index from `t` (so a run may start anywhere in the list, as the pipeline's
    /// loops do) with an empty history: that step and the last one are first order, the
    /// others second order (midpoint).
    pub fn step(&mut self, model_output: Tensor<4>, t: usize, sample: Tensor<4>) -> Tensor<4> {
        let k = self.step_index.unwrap_or_else(|| self.index_for_timestep(t));
        let (s0, s1) = (self.sigmas[k], self.sigmas[k + 1]);
        let (alpha_s0, sigma_s0) = alpha_sigma(s0);
        let (alpha_t, sigma_t) = alpha_sigma(s1);
        let x0 = (sample.clone() - model_output * sigma_s0) / alpha_s0;
        let last = k == self.timesteps.len() - 1;
        let out = if sigma_t == 0.0 {
            // λ_t = ∞: the first-order update reduces to x̂₀ exactly.
            x0.clone()
        } else {
            let h = lambda(s1) - lambda(s0);
            let coef = alpha_t * ((-h).exp() - 1.0);
            match self.prev_x0.take() {
                Some(prev) if k > 0 && !last => {
                    let h0 = lambda(s0) - lambda(self.sigmas[k - 1]);
                    let d1 = (x0.clone() - prev) * (h / h0);
                    sample * (sigma_t / sigma_s0) - x0.clone() * coef - d1 * (0.5 * coef)
                }
                _ => sample * (sigma_t / sigma_s0) - x0.clone() * coef,
            }
        };
        self.prev_x0 = Some(x0);
        self.step_index = Some(k + 1);
        out
    }
}
