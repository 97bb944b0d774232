//! Port of diffusers 0.30.1 `schedulers/scheduling_ddim.py` (`DDIMScheduler`) with η = 0 (the
//! pipelines' default): deterministic, no noise drawn. Timestep spacing from the config
//! ("leading" with `steps_offset` for SD), ᾱ after the last step from `set_alpha_to_one`
//! (ᾱ₀ for SD), optional x̂₀ clipping (off for SD), epsilon prediction.

use burn::tensor::Tensor;

use super::SchedulerConfig;

/// DDIM (η = 0) for a fixed number of inference steps.
#[derive(Clone, Debug)]
pub struct DdimScheduler {
    alphas_cumprod: Vec<f64>,
    final_alpha_cumprod: f64,
    timesteps: Vec<usize>,
    step_ratio: usize,
    clip_sample: bool,
}

impl DdimScheduler {
    /// `set_timesteps(num_inference_steps)`: with SD's config and 25 steps the timesteps are
    /// 961, 921, …, 41, 1.
    pub fn new(config: &SchedulerConfig, num_inference_steps: usize) -> Self {
        let n = num_inference_steps.clamp(1, config.num_train_timesteps);
        let alphas_cumprod = config.alphas_cumprod();
        let final_alpha_cumprod = if config.set_alpha_to_one { 1.0 } else { alphas_cumprod[0] };
        Self {
            timesteps: config.ddpm_timesteps(n),
            step_ratio: config.num_train_timesteps / n,
            alphas_cumprod,
            final_alpha_cumprod,
            clip_sample: config.clip_sample,
        }
    }

    /// The timesteps, noisiest first.
    pub fn timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    /// All ᾱ values.
    pub fn alphas_cumprod(&self) -> &[f64] {
        &self.alphas_cumprod
    }

    /// ᾱ of the step after `t` (`t − T div n`; below 0 it is the final ᾱ).
    fn alpha_prev(&self, t: usize) -> f64 {
        t.checked_sub(self.step_ratio).map_or(self.final_alpha_cumprod, |p| self.alphas_cumprod[p])
    }

    /// One step from `sample` (x_t) given the predicted noise:
    /// x̂₀ = (x_t − √(1−ᾱ_t)·ε)/√ᾱ_t, x_prev = √ᾱ_prev·x̂₀ + √(1−ᾱ_prev)·ε.
    pub fn step(&self, model_output: Tensor<4>, t: usize, sample: Tensor<4>) -> Tensor<4> {
        let a_t = self.alphas_cumprod[t];
        let a_prev = self.alpha_prev(t);
        let mut x0 = (sample - model_output.clone() * (1.0 - a_t).sqrt()) / a_t.sqrt();
        if self.clip_sample {
            // ε stays the model's: diffusers re-derives it from the clipped x̂₀ only with
            // `use_clipped_model_output`, which the pipelines leave false.
            x0 = x0.clamp(-1.0, 1.0);
        }
        x0 * a_prev.sqrt() + model_output * (1.0 - a_prev).sqrt()
    }
}
