//! `ezigen train`: its options (the official `configs/train_config.yaml` defaults) and the run
//! with a progress bar.

use super::*;

/// Options of `ezigen train` (defaults: the official `configs/train_config.yaml`).
#[derive(Args)]
pub(super) struct TrainArgs {
    /// Stable Diffusion 2.x folder (diffusers layout: unet/, vae/, text_encoder/, scheduler/).
    #[arg(long)]
    sd: PathBuf,
    /// Training data, repeatable: coco:DIR[:N] (COCO 2014 root, first N images),
    /// ytvis:DIR[:N] (YouTube-VIS 2019 train/ folder, N samples per epoch) or folder:DIR
    /// (metadata.jsonl). The official run: coco:…:100000 and ytvis:…:100000.
    #[arg(long, required = true)]
    data: Vec<String>,
    /// Output folder: checkpoint-N/, train_log.jsonl, loss.svg.
    #[arg(long)]
    out: PathBuf,
    /// Optimiser steps to reach (the released model: 200000).
    #[arg(long)]
    steps: u64,
    /// Learning rate (constant).
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    /// Samples per batch.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Batches per optimiser step.
    #[arg(long, default_value_t = 1)]
    grad_accum: usize,
    /// Write a checkpoint every N steps (and at the end).
    #[arg(long, default_value_t = 5000)]
    save_every: u64,
    /// Checkpoints kept.
    #[arg(long, default_value_t = 3)]
    keep: usize,
    /// Continue from a checkpoint folder, or from a previous --out (its newest checkpoint).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Seed of every random draw (data order, timesteps, noise, the drop rule).
    #[arg(long, default_value_t = 3154)]
    seed: u64,
    /// Fine-tune: start the adapters from this EZIGen checkpoint (folder or model.safetensors)
    /// instead of copies of each block's self-attention (§3.5).
    #[arg(long)]
    init_from: Option<PathBuf>,
    /// Gradient-norm clipping threshold.
    #[arg(long, default_value_t = 1.0)]
    max_grad_norm: f64,
    /// Subject features are zeroed when randint(1, 10) / 10 exceeds this (0.2: ≈80 % of the
    /// steps, as the released model was trained).
    #[arg(long, default_value_t = 0.2)]
    drop_reference_ratio: f64,
    /// The other reading of the drop option: zero the features in ≈ratio of the steps
    /// (randint(1, 10) / 10 ≤ ratio).
    #[arg(long)]
    drop_as_named: bool,
    /// Differentiate the UNet segment by segment, recomputing each in the backward pass, with
    /// burn's balanced gradient checkpointing: far less memory (a full-size step fits on a
    /// 24 GB machine) for ≈1.3× the compute.
    #[arg(long)]
    low_memory: bool,
    /// Every N steps, generate images with the current adapters into OUT/validation/step-N/
    /// (needs --validate-subject and --validate-clip).
    #[arg(long, requires_all = ["validate_subject", "validate_clip"])]
    validate_every: Option<u64>,
    /// The validation subject photo.
    #[arg(long)]
    validate_subject: Option<PathBuf>,
    /// Its class prompt.
    #[arg(long, default_value = "a dog")]
    validate_subject_prompt: String,
    /// Validation target prompts (repeatable).
    #[arg(long, default_values_t = ["a dog in police outfit".to_string(), "a dog on the beach".to_string()])]
    validate_prompt: Vec<String>,
    /// CLIP ViT-B/32 folder (the generation loop's auto-stop).
    #[arg(long)]
    validate_clip: Option<PathBuf>,
    /// DDPM steps of the validation images.
    #[arg(long, default_value_t = 50)]
    validate_steps: usize,
    #[arg(long, value_enum, default_value = "wgpu")]
    backend: Backend,
}

/// `ezigen train`: the run with a progress bar.
pub(super) fn train(a: TrainArgs) -> ezigen::Result<()> {
    use ezigen::train::{StepLog, TrainOptions, TrainProgress, data::DataSpec};
    let data = a.data.iter().map(|d| DataSpec::parse(d)).collect::<ezigen::Result<Vec<_>>>()?;
    let mut opts = TrainOptions::new(a.sd, data, a.out.clone(), a.steps);
    opts.optimizer.lr = a.lr;
    opts.batch = a.batch;
    opts.grad_accum = a.grad_accum;
    opts.save_every = a.save_every;
    opts.keep = a.keep;
    opts.resume = a.resume;
    opts.seed = a.seed;
    opts.init_from = a.init_from;
    opts.max_grad_norm = a.max_grad_norm;
    opts.step.drop_reference_ratio = a.drop_reference_ratio;
    opts.step.drop_as_named = a.drop_as_named;
    opts.low_memory = a.low_memory;
    if let (Some(every), Some(subject), Some(clip)) = (a.validate_every, a.validate_subject, a.validate_clip) {
        opts.validation = Some(ezigen::train::validate::ValidationOptions {
            every,
            subject,
            subject_prompt: a.validate_subject_prompt,
            prompts: a.validate_prompt,
            clip,
            steps: a.validate_steps,
            seed: a.seed,
        });
    }
    let (device, _) = pick_device(a.backend)?;

    struct Bar(indicatif::ProgressBar, Instant, u64);
    impl TrainProgress for Bar {
        fn step(&mut self, log: &StepLog, total: u64) {
            if self.0.length() != Some(total) {
                self.0.set_length(total);
            }
            self.0.set_position(log.step);
            self.2 += 1;
            let rate = self.2 as f64 / self.1.elapsed().as_secs_f64();
            let eta = total.saturating_sub(log.step) as f64 / rate.max(1e-9);
            self.0.set_message(format!("loss {:.4} (ema {:.4}) · {rate:.2} steps/s · ETA {}", log.loss, log.loss_ema, indicatif::HumanDuration(std::time::Duration::from_secs_f64(eta))));
        }
        fn message(&mut self, text: &str) {
            self.0.println(text);
        }
    }
    let bar = indicatif::ProgressBar::new(a.steps);
    bar.set_style(indicatif::ProgressStyle::with_template("{bar:30} step {pos}/{len} {msg}").expect("valid template"));
    let mut progress = Bar(bar, Instant::now(), 0);
    let summary = ezigen::train::run(&opts, &device, &mut progress)?;
    progress.0.finish();
    eprintln!(
        "trained to step {} ({} steps here, {:.3} steps/s); samples used {}, filtered {:?}, unreadable {}; checkpoints: {}",
        summary.last_step,
        summary.steps_run,
        summary.steps_per_second,
        summary.stats.used,
        summary.stats.filtered,
        summary.stats.unreadable,
        summary.checkpoints.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}
