//! A whole training run (`ezigen train`): data, steps, checkpoints, resume, logs and the loss
//! plot. One optimiser step averages the gradients of `batch · grad_accum` samples, which is
//! what a batch of that size gives (the loss is a mean over the batch) and what accelerate's
//! accumulation gives.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Device, Tensor};

use super::checkpoint::{self, TrainerState};
use super::data::{Cursor, DataSpec, DataStats, Mixture};
use super::rng::Rng;
use super::{AdamWConfig, StepConfig, StepDraws, TrainSample, Trainer, TrainerGrads, load_train_models};
use crate::{Error, Result};

/// Everything `ezigen train` takes (official defaults in [`TrainOptions::new`]).
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// diffusers SD 2.x folder.
    pub sd: PathBuf,
    /// Data sources.
    pub data: Vec<DataSpec>,
    /// Output folder (checkpoints, `train_log.jsonl`, `loss.svg`).
    pub out: PathBuf,
    /// Optimiser steps to reach.
    pub steps: u64,
    /// AdamW hyper-parameters.
    pub optimizer: AdamWConfig,
    /// Samples per batch.
    pub batch: usize,
    /// Batches per optimiser step.
    pub grad_accum: usize,
    /// Checkpoint every N steps (and at the end).
    pub save_every: u64,
    /// Checkpoints kept.
    pub keep: usize,
    /// A checkpoint (or a previous `--out`) to continue from.
    pub resume: Option<PathBuf>,
    /// Seed of every random draw.
    pub seed: u64,
    /// Start the adapters from this EZIGen checkpoint instead of the §3.5 initialisation.
    pub init_from: Option<PathBuf>,
    /// Gradient-norm clipping.
    pub max_grad_norm: f64,
    /// Per-step constants.
    pub step: StepConfig,
    /// Consecutive unusable samples tolerated before the run stops.
    pub max_skips: usize,
    /// Differentiate the main pass segment by segment with burn's balanced checkpointing
    /// (`--low-memory`): a full-size step fits in far less memory for ≈1.3× the compute.
    pub low_memory: bool,
    /// `--validate-every`: images from the current adapters every N steps.
    pub validation: Option<super::validate::ValidationOptions>,
}

impl TrainOptions {
    /// The official defaults (`configs/train_config.yaml`) for these folders.
    pub fn new(sd: PathBuf, data: Vec<DataSpec>, out: PathBuf, steps: u64) -> Self {
        Self {
            sd,
            data,
            out,
            steps,
            optimizer: AdamWConfig::default(),
            batch: 1,
            grad_accum: 1,
            save_every: 5000,
            keep: 3,
            resume: None,
            seed: 3154,
            init_from: None,
            max_grad_norm: 1.0,
            step: StepConfig::default(),
            max_skips: 1000,
            low_memory: false,
            validation: None,
        }
    }
}

/// One logged step.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct StepLog {
    /// Optimiser step (1-based).
    pub step: u64,
    /// Mean loss of the step's samples.
    pub loss: f64,
    /// Exponential moving average of the loss (α = 0.05).
    pub loss_ema: f64,
    /// Learning rate.
    pub lr: f64,
    /// Total gradient norm before clipping.
    pub grad_norm: f64,
    /// Seconds this step took.
    pub seconds: f64,
}

/// Where a run reports to (the CLI's progress bar; tests collect).
pub trait TrainProgress {
    /// After every optimiser step.
    fn step(&mut self, log: &StepLog, total: u64);
    /// A line of information (checkpoint written, file skipped, …).
    fn message(&mut self, text: &str);
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// Steps taken in this invocation.
    pub steps_run: u64,
    /// The final step.
    pub last_step: u64,
    /// Checkpoints written.
    pub checkpoints: Vec<PathBuf>,
    /// Data counters.
    pub stats: DataStats,
    /// Steps per second in this invocation (after the first step).
    pub steps_per_second: f64,
}

const EMA: f64 = 0.05;

/// Runs (or resumes) training on `device`.
pub fn run(opts: &TrainOptions, device: &Device, progress: &mut dyn TrainProgress) -> Result<RunSummary> {
    if opts.batch == 0 || opts.grad_accum == 0 {
        return Err(Error::Input("--batch and --grad-accum must be at least 1".into()));
    }
    if opts.resume.is_none() {
        // Never overwrite another run's checkpoints and log.
        let existing = checkpoint::list(&opts.out);
        if let Some(last) = existing.iter().max() {
            return Err(Error::Input(format!(
                "--out {} already holds a training run (checkpoint-{last}): continue it with --resume {0} or choose another --out",
                opts.out.display()
            )));
        }
    }
    let sources = opts.data.iter().map(DataSpec::open).collect::<Result<Vec<_>>>()?;
    let names: Vec<String> = sources.iter().map(|s| format!("{} ({} samples)", s.name(), s.len())).collect();
    let mixture = Mixture::new(sources, opts.seed)?;
    progress.message(&format!("data: {} — {} samples per epoch", names.join(" + "), mixture.len()));
    let models = load_train_models(&opts.sd, opts.init_from.as_deref(), device)?;
    let config = models.unet.config().clone();
    let r = 8 * config.sample_size;
    let num_timesteps = models.scheduler.num_train_timesteps;
    let mut trainer = Trainer::new(models, opts.optimizer.clone(), opts.step.clone(), opts.max_grad_norm);
    trainer.set_low_memory(opts.low_memory);
    let micro = (opts.batch * opts.grad_accum) as u64;
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::Input(format!("--out {}: {e}", opts.out.display())))?;
    let base_unet = crate::files::find(&opts.sd.join("unet"), &["diffusion_pytorch_model.safetensors"])?;

    let mut state = TrainerState { step: 0, seed: opts.seed, micro_per_step: micro, cursor: Cursor::default(), stats: DataStats::default(), loss_ema: None };
    if let Some(resume) = &opts.resume {
        let dir = checkpoint::resolve(resume)?;
        state = checkpoint::restore(&dir, &mut trainer, device)?;
        if state.seed != opts.seed || state.micro_per_step != micro {
            return Err(Error::Input(format!(
                "--resume {}: that run used --seed {} and {} samples per step; this one {} and {micro}",
                dir.display(),
                state.seed,
                state.micro_per_step,
                opts.seed
            )));
        }
        progress.message(&format!("resumed from {} at step {}", dir.display(), state.step));
    }
    let validator = match &opts.validation {
        Some(v) => Some(super::validate::Validator::new(v.clone(), &opts.sd, device)?),
        None => None,
    };
    let log_path = opts.out.join("train_log.jsonl");
    let mut history = read_log(&log_path);
    history.retain(|l| l.step <= state.step);
    rewrite_log(&log_path, &history)?;
    let mut log_file = std::fs::OpenOptions::new().append(true).create(true).open(&log_path).map_err(|e| Error::Input(format!("{}: {e}", log_path.display())))?;

    let mut summary = RunSummary { steps_run: 0, last_step: state.step, checkpoints: Vec::new(), stats: DataStats::default(), steps_per_second: 0.0 };
    let mut timer: Option<Instant> = None;
    while state.step < opts.steps {
        let started = Instant::now();
        let mut sum: Option<Vec<(String, Tensor<1>)>> = None;
        let mut loss = 0.0;
        for m in 0..micro {
            let k = state.step * micro + m;
            let mut rng = Rng::keyed(opts.seed, "sample", k);
            let raw = mixture.next(&mut state.cursor, r, &mut rng, &mut state.stats, &mut |p, why| progress.message(&format!("skipped unreadable {}: {why}", p.display())), opts.max_skips)?;
            let sample = TrainSample::from_raw(&raw, &trainer.models.tokenizer, opts.step.num_sub_img, device)?;
            let draws = StepDraws::seeded(opts.seed, k, &opts.step, num_timesteps, config.sample_size, device)?;
            let g = trainer.gradients(&sample, &draws);
            loss += f64::from(g.loss) / micro as f64;
            sum = Some(match sum {
                None => g.grads,
                Some(acc) => acc.into_iter().zip(g.grads).map(|((k, a), (_, b))| (k, a + b)).collect(),
            });
        }
        let grads = sum.expect("at least one sample").into_iter().map(|(k, g)| (k, if micro > 1 { g / micro as f64 } else { g })).collect();
        let norm = trainer.apply(TrainerGrads { loss: loss as f32, grads });
        state.step += 1;
        let ema = state.loss_ema.map_or(loss, |e| e + EMA * (loss - e));
        state.loss_ema = Some(ema);
        let log = StepLog { step: state.step, loss, loss_ema: ema, lr: opts.optimizer.lr, grad_norm: f64::from(norm), seconds: started.elapsed().as_secs_f64() };
        writeln!(log_file, "{}", serde_json::to_string(&log).expect("serialisable")).map_err(|e| Error::Input(format!("{}: {e}", log_path.display())))?;
        history.push(log.clone());
        progress.step(&log, opts.steps);
        summary.steps_run += 1;
        if summary.steps_run == 1 {
            timer = Some(Instant::now());
        }
        if let Some(v) = validator.as_ref().filter(|v| v.due(state.step)) {
            let files = v.run(&mut trainer, &opts.out, state.step, device)?;
            progress.message(&format!("validation images: {}", files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")));
        }
        if state.step % opts.save_every.max(1) == 0 || state.step == opts.steps {
            let dir = checkpoint::save(&opts.out, &base_unet, &mut trainer, &state, opts.keep)?;
            write_plot(&opts.out.join("loss.svg"), &history)?;
            progress.message(&format!("checkpoint {}", dir.display()));
            summary.checkpoints.push(dir);
        }
    }
    if let Some(t) = timer {
        if summary.steps_run > 1 {
            summary.steps_per_second = (summary.steps_run - 1) as f64 / t.elapsed().as_secs_f64();
        }
    }
    summary.last_step = state.step;
    summary.stats = state.stats;
    Ok(summary)
}

/// The steps logged in a `train_log.jsonl` (unparseable lines are ignored).
pub fn read_log(path: &Path) -> Vec<StepLog> {
    std::fs::read_to_string(path).map(|t| t.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()).unwrap_or_default()
}

fn rewrite_log(path: &Path, history: &[StepLog]) -> Result<()> {
    let text: String = history.iter().map(|l| serde_json::to_string(l).expect("serialisable") + "\n").collect();
    std::fs::write(path, text).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}

/// Writes the loss curve (raw and smoothed) as a small SVG.
pub fn write_plot(path: &Path, history: &[StepLog]) -> Result<()> {
    let (w, h, m) = (640.0, 360.0, 48.0);
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    if let (Some(first), Some(last)) = (history.first(), history.last()) {
        let lo = history.iter().map(|l| l.loss).fold(f64::INFINITY, f64::min);
        let hi = history.iter().map(|l| l.loss).fold(f64::NEG_INFINITY, f64::max);
        let span = (hi - lo).max(1e-12);
        let steps = (last.step - first.step).max(1) as f64;
        let x = |s: u64| m + (s - first.step) as f64 / steps * (w - 2.0 * m);
        let y = |v: f64| h - m - (v - lo) / span * (h - 2.0 * m);
        let line = |f: &dyn Fn(&StepLog) -> f64| history.iter().map(|l| format!("{:.1},{:.1}", x(l.step), y(f(l)))).collect::<Vec<_>>().join(" ");
        svg += &format!("<polyline fill=\"none\" stroke=\"#9ab\" stroke-width=\"1\" points=\"{}\"/>\n", line(&|l| l.loss));
        svg += &format!("<polyline fill=\"none\" stroke=\"#036\" stroke-width=\"2\" points=\"{}\"/>\n", line(&|l| l.loss_ema));
        svg += &format!("<line x1=\"{m}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"black\"/><line x1=\"{m}\" y1=\"{m}\" x2=\"{m}\" y2=\"{0}\" stroke=\"black\"/>\n", h - m, w - m);
        svg += &format!("<text x=\"{m}\" y=\"{}\">step {}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">step {}</text>\n", h - m + 16.0, first.step, w - m, h - m + 16.0, last.step);
        svg += &format!("<text x=\"4\" y=\"{}\">{hi:.4}</text><text x=\"4\" y=\"{}\">{lo:.4}</text>\n", m, h - m);
        svg += &format!("<text x=\"{}\" y=\"20\" text-anchor=\"middle\">training loss (grey: per step, blue: EMA {EMA})</text>\n", w / 2.0);
    }
    svg += "</svg>\n";
    std::fs::write(path, svg).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}
