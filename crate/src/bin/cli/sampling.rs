//! The sampling options of generate, edit and dreambench: a preset or an explicit sampler and
//! step count, plus guidance, split ratio and the stopping rule.

use clap::{Args, ValueEnum};
use ezigen::pipeline::{Preset, SamplingOptions};
use ezigen::schedulers::SamplerKind;

/// `--preset`.
#[derive(Clone, Copy, ValueEnum)]
pub enum PresetArg {
    /// DDPM, 50 steps: the paper's sampler (the default).
    Paper,
    /// DPM-Solver++, 25 steps.
    Balanced,
    /// DPM-Solver++, 15 steps.
    Fast,
}

/// `--sampler`.
#[derive(Clone, Copy, ValueEnum)]
pub enum SamplerArg {
    /// DDPM (the paper's; draws noise at every step).
    Ddpm,
    /// DDIM, η = 0.
    Ddim,
    /// DPM-Solver++(2M).
    Dpmpp,
}

impl SamplerArg {
    /// The core's sampler.
    pub fn kind(self) -> SamplerKind {
        match self {
            Self::Ddpm => SamplerKind::Ddpm,
            Self::Ddim => SamplerKind::Ddim,
            Self::Dpmpp => SamplerKind::Dpmpp,
        }
    }
}

/// Sampling options of generate, edit and dreambench.
#[derive(Args)]
pub struct Sampling {
    /// Sampler and step count together: paper (DDPM, 50), balanced (DPM-Solver++, 25), fast
    /// (DPM-Solver++, 15). --sampler and --steps override its parts.
    #[arg(long, value_enum, default_value = "paper")]
    preset: PresetArg,
    /// The sampler (default: the preset's).
    #[arg(long, value_enum)]
    sampler: Option<SamplerArg>,
    /// Inference steps N (default: the preset's).
    #[arg(long)]
    steps: Option<usize>,
    /// Classifier-free guidance (generation).
    #[arg(long, default_value_t = SamplingOptions::default().guidance)]
    guidance: f64,
    /// Share of the steps used for appearance transfer (more = more subject appearance).
    #[arg(long, default_value_t = SamplingOptions::default().split_ratio)]
    split_ratio: f64,
    /// Auto-stop when consecutive images reach this CLIP similarity.
    #[arg(long, default_value_t = SamplingOptions::default().sim_threshold)]
    sim_threshold: f64,
    /// Run exactly this many refinement iterations (default: auto-stop, 3 to 9).
    #[arg(long)]
    pub iterations: Option<usize>,
}

impl Sampling {
    /// The core's options with this seed (and the default edit guidance).
    pub fn options(&self, seed: u64) -> SamplingOptions {
        let preset = match self.preset {
            PresetArg::Paper => Preset::Paper,
            PresetArg::Balanced => Preset::Balanced,
            PresetArg::Fast => Preset::Fast,
        };
        let base = preset.apply(SamplingOptions {
            seed,
            guidance: self.guidance,
            split_ratio: self.split_ratio,
            sim_threshold: self.sim_threshold,
            iterations: self.iterations,
            ..SamplingOptions::default()
        });
        SamplingOptions {
            sampler: self.sampler.map_or(base.sampler, SamplerArg::kind),
            steps: self.steps.unwrap_or(base.steps),
            ..base
        }
    }
}
