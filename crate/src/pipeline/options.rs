//! The sampling options of both tasks, the presets that set their sampler and step count, and
//! the count of UNet passes a run makes (the basis of the time estimate).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::schedulers::SamplerKind;
use crate::Result;

/// Fewest refinement iterations under auto-stop.
pub const MIN_ITERATIONS: usize = 3;
/// Most refinement iterations under auto-stop.
pub const MAX_ITERATIONS: usize = 9;

/// Sampling options shared by both tasks (defaults = the official values).
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct SamplingOptions {
    /// Seed of every random draw.
    #[ts(type = "number")]
    pub seed: u64,
    /// The sampler of the main pipeline (DDPM, the paper's).
    pub sampler: SamplerKind,
    /// Inference steps N of the sampler (50); the edit's inversion uses the same N.
    pub steps: usize,
    /// Classifier-free guidance of generation (7.5).
    pub guidance: f64,
    /// Guidance of the edit loops (hard-coded 2 in the official code).
    pub edit_guidance: f64,
    /// r: the last r·N steps are appearance transfer (0.4).
    pub split_ratio: f64,
    /// Auto-stop when consecutive images' CLIP similarity reaches this (0.99).
    pub sim_threshold: f64,
    /// Run exactly this many refinement iterations instead of auto-stop.
    pub iterations: Option<usize>,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        Self { seed: 3154, sampler: SamplerKind::Ddpm, steps: 50, guidance: 7.5, edit_guidance: 2.0, split_ratio: 0.4, sim_threshold: 0.99, iterations: None }
    }
}

impl SamplingOptions {
    /// Checks every option against [`LIMITS`](crate::contract::LIMITS); the error names the
    /// bad option and its range.
    pub fn validate(&self) -> Result<()> {
        let l = &crate::contract::LIMITS;
        l.seed.check("seed", self.seed as f64)?;
        l.steps.check("steps", self.steps as f64)?;
        l.guidance.check("guidance", self.guidance)?;
        l.edit_guidance.check("edit guidance", self.edit_guidance)?;
        l.split_ratio.check("split ratio", self.split_ratio)?;
        l.sim_threshold.check("similarity threshold", self.sim_threshold)?;
        if let Some(n) = self.iterations {
            l.iterations.check("iterations", n as f64)?;
        }
        // No separate rule for the appearance phase: it has `N − int(N − r·N)` = ⌈r·N⌉ steps,
        // at least one for every ratio the limits accept (r ≥ their minimum > 0;
        // tests/pipeline_rules.rs checks every step count).
        Ok(())
    }

    /// Steps of the layout phase: `int(N − r·N)` (30 of 50).
    pub fn layout_steps(&self) -> usize {
        (self.steps as f64 - self.split_ratio * self.steps as f64) as usize
    }

    /// Steps of each appearance-transfer pass (20 of 50).
    pub fn transfer_steps(&self) -> usize {
        self.steps - self.layout_steps()
    }

    /// The timestep the loop re-noises to: `int(r·1000)` (400).
    pub fn renoise_timestep(&self, train_steps: usize) -> usize {
        ((self.split_ratio * train_steps as f64) as usize).min(train_steps - 1)
    }

    /// The official gate (`attention_main.py`): the adapter is active at step index `i` of a
    /// call iff `skip_ratio · N < i + 1`.
    pub fn adapter_active(&self, skip_ratio: f64, i: usize) -> bool {
        skip_ratio * (self.steps as f64) < (i + 1) as f64
    }

    /// The loop condition of `loop_infer`: whether iteration `k` (1-based) runs, given the
    /// similarity of the last finished iteration to its predecessor.
    pub fn continue_loop(&self, k: usize, last_similarity: Option<f64>) -> bool {
        match self.iterations {
            Some(n) => k <= n,
            None => {
                let sim = last_similarity.unwrap_or(f64::NEG_INFINITY);
                (k <= MAX_ITERATIONS && sim < self.sim_threshold) || k <= MIN_ITERATIONS
            }
        }
    }
}


/// A named choice of sampler and step count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// DDPM, 50 steps: the paper's sampler and the only one the parity suites pin to the
    /// official code (the default).
    Paper,
    /// DPM-Solver++(2M), 25 steps.
    Balanced,
    /// DPM-Solver++(2M), 15 steps.
    Fast,
}

/// A preset as the page lists it.
#[derive(Clone, Copy, Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PresetInfo {
    /// The preset.
    pub preset: Preset,
    /// Its sampler.
    pub sampler: SamplerKind,
    /// Its step count.
    pub steps: usize,
    /// One line for the page and the CLI's help.
    pub description: &'static str,
}

impl Preset {
    /// Every preset, slowest first.
    pub const ALL: [Preset; 3] = [Preset::Paper, Preset::Balanced, Preset::Fast];

    /// The name the CLI, the page and stored parameters use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Paper => "paper",
            Self::Balanced => "balanced",
            Self::Fast => "fast",
        }
    }

    /// Parses [`name`](Self::name).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Sampler, steps and description.
    pub fn info(self) -> PresetInfo {
        let (sampler, steps, description) = match self {
            Self::Paper => (SamplerKind::Ddpm, 50, "DDPM, 50 steps: the paper's sampler (slowest)"),
            Self::Balanced => (SamplerKind::Dpmpp, 25, "DPM-Solver++, 25 steps: about half the UNet passes"),
            Self::Fast => (SamplerKind::Dpmpp, 15, "DPM-Solver++, 15 steps: under a third of the UNet passes"),
        };
        PresetInfo { preset: self, sampler, steps, description }
    }

    /// Every preset's info (the contract's `PRESETS`).
    pub fn all_info() -> [PresetInfo; 3] {
        Self::ALL.map(Self::info)
    }

    /// `options` with this preset's sampler and steps.
    pub fn apply(self, options: SamplingOptions) -> SamplingOptions {
        let i = self.info();
        SamplingOptions { sampler: i.sampler, steps: i.steps, ..options }
    }

    /// The preset whose sampler and steps `options` has, if any.
    pub fn of(options: &SamplingOptions) -> Option<Self> {
        Self::ALL.into_iter().find(|p| {
            let i = p.info();
            i.sampler == options.sampler && i.steps == options.steps
        })
    }
}

/// The UNet passes of a run, as a range while auto-stop decides the iteration count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, TS)]
pub struct PassRange {
    /// Fewest.
    pub min: usize,
    /// Most.
    pub max: usize,
}

impl SamplingOptions {
    /// Refinement iterations still to run after `done` finished ones, as a range (exact for a
    /// fixed count; under auto-stop at least up to [`MIN_ITERATIONS`], at most up to
    /// [`MAX_ITERATIONS`]).
    pub fn iterations_left(&self, done: usize) -> (usize, usize) {
        match self.iterations {
            Some(n) => (n.saturating_sub(done), n.saturating_sub(done)),
            None => (MIN_ITERATIONS.saturating_sub(done), MAX_ITERATIONS.saturating_sub(done)),
        }
    }

    /// Every UNet pass of a whole run: the reference pass (one per subject photo), then for a
    /// generation the initial run's N guided steps and r·N per iteration, for an edit r·N
    /// inversion steps and r·N guided steps per iteration.
    pub fn unet_passes(&self, editing: bool, subjects: usize) -> PassRange {
        let (lo, hi) = self.iterations_left(0);
        let per = if editing { 2 * self.transfer_steps() } else { self.transfer_steps() };
        let first = subjects + if editing { 0 } else { self.steps };
        PassRange { min: first + lo * per, max: first + hi * per }
    }
}
