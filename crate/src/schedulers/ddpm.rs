//! Port of diffusers 0.30.1 `schedulers/scheduling_ddpm.py` (`DDPMScheduler`) as EZIGen's
//! sampler uses it: the config's timestep spacing ("leading" with `steps_offset` for SD),
//! `fixed_small` variance, optional x̂₀ clipping (off for SD), no thresholding, epsilon
//! prediction, variance noise supplied by the caller.

use burn::tensor::Tensor;

use super::SchedulerConfig;

/// DDPM ancestral sampler for a fixed number of inference steps.
#[derive(Clone, Debug)]
pub struct DdpmScheduler {
    alphas_cumprod: Vec<f64>,
    timesteps: Vec<usize>,
    step_ratio: usize,
    clip_sample: bool,
}

impl DdpmScheduler {
    /// `set_timesteps(num_inference_steps)`: with 1000 training steps and 50 inference steps
    /// the timesteps are 981, 961, …, 21, 1.
    pub fn new(config: &SchedulerConfig, num_inference_steps: usize) -> Self {
        let n = num_inference_steps.clamp(1, config.num_train_timesteps);
        let step_ratio = config.num_train_timesteps / n;
        let timesteps = config.ddpm_timesteps(n);
        Self { alphas_cumprod: config.alphas_cumprod(), timesteps, step_ratio, clip_sample: config.clip_sample }
    }

    /// The timesteps, noisiest first.
    pub fn timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    /// ᾱ_t (f64).
    pub fn alpha_cumprod(&self, t: usize) -> f64 {
        self.alphas_cumprod[t]
    }

    /// All ᾱ values.
    pub fn alphas_cumprod(&self) -> &[f64] {
        &self.alphas_cumprod
    }

    /// The timestep after `t` (`t − step_ratio`; negative means "clean", ᾱ = 1).
    pub fn previous_timestep(&self, t: usize) -> Option<usize> {
        t.checked_sub(self.step_ratio)
    }

    /// The coefficients of one step at `t`: (√ᾱ_t, √(1−ᾱ_t), coefficient of x̂0, coefficient
    /// of x_t, standard deviation of the added noise).
    pub fn step_coefficients(&self, t: usize) -> [f64; 5] {
        let a_t = self.alphas_cumprod[t];
        let a_prev = self.previous_timestep(t).map_or(1.0, |p| self.alphas_cumprod[p]);
        let beta_t = 1.0 - a_t;
        let beta_prev = 1.0 - a_prev;
        let cur_alpha = a_t / a_prev;
        let cur_beta = 1.0 - cur_alpha;
        let c_x0 = a_prev.sqrt() * cur_beta / beta_t;
        let c_xt = cur_alpha.sqrt() * beta_prev / beta_t;
        let variance = (beta_prev / beta_t * cur_beta).max(1e-20);
        [a_t.sqrt(), beta_t.sqrt(), c_x0, c_xt, variance.sqrt()]
    }

    /// One step from `sample` (x_t) given the predicted noise. `variance_noise` is z ~ N(0, I)
    /// and is required for t > 0 (diffusers draws it there; at t = 0 it is ignored).
    pub fn step(&self, model_output: Tensor<4>, t: usize, sample: Tensor<4>, variance_noise: Option<Tensor<4>>) -> Tensor<4> {
        let [sa, sb, c_x0, c_xt, std] = self.step_coefficients(t);
        let mut x0 = (sample.clone() - model_output * sb) / sa;
        if self.clip_sample {
            x0 = x0.clamp(-1.0, 1.0);
        }
        let prev = x0 * c_x0 + sample * c_xt;
        match variance_noise {
            Some(z) if t > 0 => prev + z * std,
            _ => prev,
        }
    }

    /// `add_noise(x0, ε, t) = √ᾱ_t·x0 + √(1−ᾱ_t)·ε`.
    pub fn add_noise(&self, x0: Tensor<4>, noise: Tensor<4>, t: usize) -> Tensor<4> {
        super::add_noise(&self.alphas_cumprod, x0, noise, t)
    }
}
