//! One full training step timed and its memory measured (`ezigen bench --train-step`).

use std::time::Instant;

use burn::tensor::{DType, Device, Distribution, Tensor};

use super::{AdamWConfig, StepConfig, StepDraws, TrainSample, Trainer, load::random_train_models};
use crate::Result;

/// What one measured step gives.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StepMeasure {
    /// Seconds to build the random model.
    pub load_s: f64,
    /// Seconds of each step (gradients, clipping, AdamW; read back).
    pub step_s: Vec<f64>,
    /// The steps' losses.
    pub loss: Vec<f32>,
    /// Peak resident memory of the process (Linux `VmHWM`), bytes; `None` elsewhere.
    pub peak_rss_bytes: Option<u64>,
    /// Trainable parameters.
    pub trainable_parameters: usize,
}

/// The process's peak resident set (Linux).
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

/// `steps` training steps of SD 2.1-base + adapters with random weights at 512 px on `device`
/// (f32, plain ops), with random images, the features kept (no drop) and every adapter on;
/// `low_memory` as `ezigen train --low-memory`.
pub fn sd21_step(device: &Device, steps: usize, low_memory: bool) -> Result<StepMeasure> {
    use crate::presets::{SD21_BASE_SCHEDULER, SD21_BASE_TEXT_ENCODER, SD21_BASE_UNET, SD21_BASE_VAE};
    let t0 = Instant::now();
    let models = random_train_models(SD21_BASE_UNET, SD21_BASE_VAE, SD21_BASE_TEXT_ENCODER, SD21_BASE_SCHEDULER, device)?;
    let s = models.unet.config().sample_size;
    let r = 8 * s;
    let mut trainer = Trainer::new(models, AdamWConfig::default(), StepConfig::default(), 1.0);
    trainer.set_low_memory(low_memory);
    let mut trainable = 0;
    trainer.models.unet.visit_trainable(&mut |_, p| trainable += p.shape().iter().product::<usize>());
    let load_s = t0.elapsed().as_secs_f64();
    let tok = &trainer.models.tokenizer;
    let ids = tok.encode("a photo of a dog.")?.0;
    let caption = tok.encode("a dog in a police outfit on the beach")?.0;
    let mut m = StepMeasure { load_s, step_s: Vec::new(), loss: Vec::new(), peak_rss_bytes: None, trainable_parameters: trainable };
    for k in 0..steps {
        let image = |n: usize| Tensor::<4>::random([n, 3, r, r], Distribution::Uniform(-1.0, 1.0), (device, DType::F32));
        let sample = TrainSample { target: image(1), subjects: image(4), input_ids: caption.clone(), subject_input_ids: vec![ids.clone(); 4] };
        let mut draws = StepDraws::seeded(3154, k as u64, &StepConfig::default(), 1000, s, device)?;
        draws.drop = false;
        let t = Instant::now();
        let (loss, _norm) = trainer.step(&sample, &draws);
        m.step_s.push(t.elapsed().as_secs_f64());
        m.loss.push(loss);
    }
    m.peak_rss_bytes = peak_rss();
    Ok(m)
}
