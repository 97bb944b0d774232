//! Tuning a loaded pipeline's GEMMs on its device: every stage runs once at the pipeline's size
//! so that its GEMM problems are met ([`crate::kernels::tune::take_untuned`]), then
//! [`crate::kernels::tune::tune`] times the candidates of each and installs the table. Used by
//! `ezigen tune`, by the CLI before a first run on a GPU, and by the page (which keeps the table
//! in IndexedDB).

use crate::Result;
use crate::bench::{self, BenchConfig};
use crate::kernels::tune::{self, TuneReport, TunedProblem};
use crate::pipeline::Pipeline;

/// Stages whose GEMM problems are tuned: the UNet step at batch 2 with and without the adapters,
/// the reference pass, the VAE both ways, CLIP vision and the text encoder.
const STAGES: [&str; 6] = ["reference_pass", "unet_step", "vae_encode", "vae_decode", "clip_vision", "text_encoder"];

/// Meets the pipeline's GEMM problems (one untimed run of every stage) and tunes those without a
/// kept choice under `key` within `budget_ms` (see [`tune::tune`]).
pub async fn tune_pipeline(
    pipe: &Pipeline,
    key: &str,
    budget_ms: f64,
    now: &dyn Fn() -> f64,
    emit: &mut dyn FnMut(&TunedProblem),
) -> Result<TuneReport> {
    let device = pipe.device().clone();
    // Problems met before (by other runs) are tuned too.
    let mut problems = tune::take_untuned(&device);
    let cfg = BenchConfig {
        latent: pipe.latent_size(),
        repeats: 0,
        pipeline: false,
        only: STAGES.map(String::from).to_vec(),
        ..BenchConfig::default()
    };
    bench::run(pipe, &cfg, now, &mut |_| {}).await?;
    for p in tune::take_untuned(&device) {
        if !problems.contains(&p) {
            problems.push(p);
        }
    }
    tune::tune(&device, &problems, key, budget_ms, now, emit).await
}
