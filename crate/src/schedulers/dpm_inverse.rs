//! Port of diffusers 0.30.1 `schedulers/scheduling_dpmsolver_multistep_inverse.py`
//! (`DPMSolverMultistepInverseScheduler`) in the configuration EZIGen's editing uses:
//! DPM-Solver++, order 2, midpoint, "linspace" spacing, epsilon prediction (spec §5.2).

use burn::tensor::Tensor;

use super::SchedulerConfig;
use super::dpm_solver::{alpha_sigma, lambda, sigmas_at};

/// DPM-Solver++(2M) running from clean (t = 0) towards noise.
#[derive(Clone, Debug)]
pub struct DpmSolverInverse {
    timesteps: Vec<usize>,
    sigmas: Vec<f64>,
    step_index: usize,
    prev_x0: Option<Tensor<4>>,
}

impl DpmSolverInverse {
    /// `set_timesteps(n)`: timesteps `round(linspace(0, T−1, n+1))[:-1]` (round half to even
    /// as numpy does), σ_k = √((1−ᾱ)/ᾱ) at those timesteps, plus σ at T−1 appended.
    pub fn new(config: &SchedulerConfig, num_inference_steps: usize) -> Self {
        let last = config.num_train_timesteps - 1;
        let n = num_inference_steps.max(1);
        let mut timesteps: Vec<usize> = (0..n)
            .map(|k| (k as f64 * (last as f64 / n as f64)).round_ties_even() as usize)
            .collect();
        timesteps.dedup();
        let mut sigmas = sigmas_at(config, &timesteps);
        sigmas.extend(sigmas_at(config, &[last]));
        Self { timesteps, sigmas, step_index: 0, prev_x0: None }
    }

    /// The timesteps, cleanest first (0, 20, 40, … for 50 steps).
    pub fn timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    /// σ_k for every step, with the final σ appended.
    pub fn sigmas(&self) -> &[f64] {
        &self.sigmas
    }

    /// Index of the next step.
    pub fn step_index(&self) -> usize {
        self.step_index
    }

    /// One step from `sample` at `timesteps()[step_index]` given the predicted noise. The
    /// first step is first order; later ones are second order (midpoint), as diffusers does
    /// for runs of 15 steps or more (EZIGen stops after split_ratio·N of 50).
    pub fn step(&mut self, model_output: Tensor<4>, sample: Tensor<4>) -> Tensor<4> {
        let k = self.step_index;
        let (s0, s1) = (self.sigmas[k], self.sigmas[k + 1]);
        let (alpha_s0, sigma_s0) = alpha_sigma(s0);
        let (alpha_t, sigma_t) = alpha_sigma(s1);
        let x0 = (sample.clone() - model_output * sigma_s0) / alpha_s0;
        let h = lambda(s1) - lambda(s0);
        let coef = alpha_t * ((-h).exp() - 1.0);
        let n = self.timesteps.len();
        let lower_order_final = k == n - 1 && n < 15;
        let out = match self.prev_x0.take() {
            Some(prev) if k > 0 && !lower_order_final => {
                let h0 = lambda(s0) - lambda(self.sigmas[k - 1]);
                let r0 = h0 / h;
                let d1 = (x0.clone() - prev) * (1.0 / r0);
                sample * (sigma_t / sigma_s0) - x0.clone() * coef - d1 * (0.5 * coef)
            }
            _ => sample * (sigma_t / sigma_s0) - x0.clone() * coef,
        };
        self.prev_x0 = Some(x0);
        self.step_index += 1;
        out
    }
}
