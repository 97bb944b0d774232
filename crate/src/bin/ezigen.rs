//! The native `ezigen` command line: generate, edit, device information and a smoke test.
//! Runs the same library code as the browser.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::{DType, Device};
use clap::{Args, Parser, Subcommand, ValueEnum};
use ezigen::pipeline::{
    EditRequest, GenerateRequest, Mask, NoiseSource, Output, Pipeline, ProgressSink, ReplayNoise, RgbaImage,
    SamplingOptions, SeededNoise, SubjectImage, Trajectory,
};
use ezigen::contract::MAX_SUBJECTS;
use ezigen::weights::safetensors::{StoredDType, TensorToWrite, write};
use ezigen::{Error, device, smoke};

#[path = "cli/progress.rs"]
mod progress;
#[path = "cli/sampling.rs"]
mod sampling;
#[path = "cli/tuning.rs"]
mod tuning;

use progress::{PreviewWriter, StderrProgress};
use sampling::Sampling;

/// The process's Rust heap, counted: `ezigen bench` reports the peak of a model load, the
/// figure that bounds the page's wasm linear memory (the same loader code runs there).
#[global_allocator]
static HEAP: ezigen::heap::Counting = ezigen::heap::Counting::new();

/// EZIGen (subject-driven generation and editing on SD 2.1-base), natively.
#[derive(Parser)]
#[command(name = "ezigen", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which burn backend runs the work.
#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    /// wgpu (Vulkan/Metal/DX12; lavapipe on a machine without GPU).
    Wgpu,
    /// The pure-Rust CPU reference backend.
    Cpu,
}

/// The float dtype of weights and activations.
#[derive(Clone, Copy, ValueEnum)]
enum Dtype {
    F32,
    F16,
}

/// Options shared by generate and edit.
#[derive(Args)]
struct Common {
    /// Target prompt, e.g. "a dog in police outfit".
    #[arg(long)]
    prompt: String,
    /// Subject class prompt, e.g. "a dog".
    #[arg(long, default_value = "")]
    subject_prompt: String,
    /// Subject image (PNG/JPEG; transparent pixels become white). Repeat for up to 4 photos of
    /// the same subject, in the order their features are concatenated.
    #[arg(long, required = true)]
    subject: Vec<PathBuf>,
    /// Subject mask (white = subject; outside becomes white), one per --subject in the same
    /// order when given; `none` for a photo without a mask.
    #[arg(long)]
    subject_mask: Vec<PathBuf>,
    /// Output PNG. With --count N > 1: OUT's name with -1 … -N before the extension.
    #[arg(long)]
    out: PathBuf,
    /// Variations: N images with seeds seed, seed+1, …, one after the other; the subject's
    /// features are computed once.
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Converted weights folder (from `ezigen convert`). Default: the built-in tiny model.
    #[arg(long)]
    weights: Option<PathBuf>,
    #[arg(long, default_value_t = SamplingOptions::default().seed)]
    seed: u64,
    /// Guidance of the edit loops (official: 2).
    #[arg(long, default_value_t = SamplingOptions::default().edit_guidance)]
    edit_guidance: f64,
    #[command(flatten)]
    sampling: Sampling,
    #[arg(long, value_enum, default_value = "wgpu")]
    backend: Backend,
    #[arg(long, value_enum, default_value = "f32")]
    dtype: Dtype,
    /// Replay recorded noise: a safetensors file with one tensor per named draw
    /// (docs/noise-replay.md).
    #[arg(long)]
    noise: Option<PathBuf>,
    /// Write the latent after every step and iteration to this safetensors file.
    #[arg(long)]
    trajectory: Option<PathBuf>,
    /// Write the live preview (the clean image a step predicts, from the latent by a fixed
    /// linear map) of every N-th UNet step as a PNG into DIR.
    #[arg(long, num_args = 2, value_names = ["N", "DIR"])]
    preview_every: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Subject image + prompt → image.
    Generate(Common),
    /// Time the GEMM kernels (burn's and the tiles of shaders/gemm.wgsl) on every GEMM problem
    /// of the model on this device, and keep the fastest per problem for later runs.
    Tune(tuning::TuneArgs),
    /// Source image + mask + subject + prompt → edited image.
    Edit {
        /// The photo to edit.
        #[arg(long)]
        source: PathBuf,
        /// Where the subject goes (white = foreground), the same size as the source.
        #[arg(long)]
        mask: PathBuf,
        /// Also paste the untouched background back in pixel space (not in the official output).
        #[arg(long)]
        composite_background: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Convert SD 2.1-base + the EZIGen checkpoint + CLIP ViT-B/32 into the sharded format the
    /// browser streams (or, with --tiny, the built-in tiny random model).
    Convert {
        /// Stable Diffusion 2.1-base folder (diffusers layout).
        #[arg(long, required_unless_present = "tiny")]
        sd: Option<PathBuf>,
        /// The official EZIGen checkpoint folder (e.g. checkpoint-200000/).
        #[arg(long, required_unless_present = "tiny")]
        ezigen: Option<PathBuf>,
        /// CLIP ViT-B/32 folder (transformers layout).
        #[arg(long, required_unless_present = "tiny")]
        clip: Option<PathBuf>,
        /// Also convert the metric models (`ezigen eval`, the page's scores): DINO ViT-S/16
        /// folder (transformers layout, `facebook/dino-vits16`); CLIP's text tower comes from
        /// --clip.
        #[arg(long)]
        dino: Option<PathBuf>,
        /// CLIP's text tower folder when it is not --clip.
        #[arg(long, requires = "dino")]
        clip_text: Option<PathBuf>,
        /// Convert the built-in tiny random-weight model instead.
        #[arg(long)]
        tiny: bool,
        /// With --tiny: include the tiny metric models.
        #[arg(long, requires = "tiny")]
        tiny_metrics: bool,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "f16")]
        dtype: Dtype,
        /// Largest shard in MiB.
        #[arg(long, default_value_t = 64)]
        shard_mb: usize,
    },
    /// Generate the DreamBench protocol's images (30 subjects × 25 prompts × N seeds) into
    /// OUT/<subject>/<prompt>-s<seed>.png; resumable, and split over machines with --shard.
    Dreambench(DreambenchArgs),
    /// Score generated DreamBench images (DINO, CLIP-I, CLIP-T) against the real subject
    /// images: OUT.json (per image, per subject, overall) and OUT.md (the paper's columns).
    Eval(EvalArgs),
    /// Train EZIGen's adapters with the official recipe (spec §6): checkpoints in the official
    /// layout (`ezigen convert --ezigen` reads them), train_log.jsonl and loss.svg in --out.
    Train(TrainArgs),
    /// Print the wgpu adapter report (name, f16 support, limits) as JSON.
    Info,
    /// Time every stage (UNet step with/without adapters, reference pass, VAE, CLIP, full
    /// generate and edit) and print one JSON object per line.
    Bench(BenchArgs),
    /// Write the TypeScript of the Rust↔page contract (crate/src/contract.rs) to a file, or print it.
    Schema {
        /// Output file (www/src/generated/contract.ts); default: standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the small conv + GroupNorm + attention computation and print it as JSON.
    Smoke {
        #[arg(long, value_enum, default_value = "wgpu")]
        backend: Backend,
        #[arg(long, value_enum, default_value = "f32")]
        dtype: Dtype,
    },
}

/// Options of `ezigen dreambench`.
#[derive(Args)]
struct DreambenchArgs {
    /// The DreamBench `dataset/` folder (`prompts_and_classes.txt`, `<subject>/*.jpg`).
    #[arg(long)]
    dreambench: PathBuf,
    /// Output folder (images merge by file name across shards and runs).
    #[arg(long)]
    out: PathBuf,
    /// Converted weights folder (from `ezigen convert`). Default: the built-in tiny model.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Seeds per prompt (0, 1, …).
    #[arg(long, default_value_t = 4)]
    seeds: usize,
    /// This machine's share: `i/n` (items whose index is i mod n), or `auto` for an array job
    /// (Slurm's SLURM_ARRAY_TASK_ID/COUNT, or a Kubernetes indexed Job's JOB_COMPLETION_INDEX
    /// with --shard-count).
    #[arg(long, default_value = "0/1")]
    shard: String,
    /// Number of shards for `--shard auto` where the scheduler does not say it.
    #[arg(long)]
    shard_count: Option<usize>,
    #[command(flatten)]
    sampling: Sampling,
    #[arg(long, value_enum, default_value = "wgpu")]
    backend: Backend,
    #[arg(long, value_enum, default_value = "f32")]
    dtype: Dtype,
}

/// Options of `ezigen train` (defaults: the official `configs/train_config.yaml`).
#[derive(Args)]
struct TrainArgs {
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

/// Options of `ezigen eval`.
#[derive(Args)]
struct EvalArgs {
    /// The folder `ezigen dreambench` wrote.
    #[arg(long)]
    generated: PathBuf,
    /// The DreamBench `dataset/` folder (the real images and prompts).
    #[arg(long)]
    dreambench: PathBuf,
    /// CLIP ViT-B/32 folder (transformers layout, `openai/clip-vit-base-patch32`).
    #[arg(long)]
    clip: PathBuf,
    /// The CLIP text tower's folder when it is not in --clip.
    #[arg(long)]
    clip_text: Option<PathBuf>,
    /// DINO ViT-S/16 folder (transformers layout, `facebook/dino-vits16`).
    #[arg(long)]
    dino: PathBuf,
    /// Seeds per prompt that were generated.
    #[arg(long, default_value_t = 4)]
    seeds: usize,
    /// Report path without extension: writes OUT.json and OUT.md.
    #[arg(long, default_value = "report")]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "wgpu")]
    backend: Backend,
}

fn dreambench(a: DreambenchArgs) -> ezigen::Result<()> {
    use ezigen::eval::dreambench::{Shard, subject_prompt};
    use ezigen::eval::native::{read_benchmark, read_rgb, subject_images};
    let shard = if a.shard == "auto" {
        Shard::from_env(|k| std::env::var(k).ok(), a.shard_count)?
    } else {
        Shard::parse(&a.shard)?
    };
    if a.seeds == 0 {
        return Err(Error::Input("--seeds must be at least 1".into()));
    }
    let bench = read_benchmark(&a.dreambench)?;
    let work = bench.work(a.seeds);
    let mine: Vec<_> = work.iter().enumerate().filter(|(i, _)| shard.takes(*i)).map(|(_, w)| *w).collect();
    let todo: Vec<_> = mine.iter().filter(|w| !a.out.join(bench.file_name(w)).is_file()).copied().collect();
    eprintln!(
        "DreamBench: {} subjects, {} images in all; shard {}/{}: {} images, {} already done, {} to generate",
        bench.subjects.len(),
        work.len(),
        shard.index,
        shard.count,
        mine.len(),
        mine.len() - todo.len(),
        todo.len()
    );
    if todo.is_empty() {
        return Ok(());
    }
    // Every subject's photo is read before the first generation: a bad dataset fails fast.
    let mut photos = std::collections::BTreeMap::new();
    for w in &todo {
        if let std::collections::btree_map::Entry::Vacant(e) = photos.entry(w.subject) {
            let first = subject_images(&a.dreambench, &bench.subjects[w.subject].name)?.remove(0);
            read_rgb(&first)?;
            e.insert(read_image(&first)?);
        }
    }
    let (common_device, adapter) = pick_device(a.backend)?;
    let max_binding = adapter.as_ref().map(|r| r.max_storage_buffer_binding_size);
    let dt = dtype(a.dtype, &common_device)?;
    let options = ezigen::loader::LoadOptions { max_binding, ..Default::default() };
    let pipe = match &a.weights {
        Some(dir) => ezigen::native::load_converted_with(dir, &common_device, dt, options)?,
        None => {
            eprintln!("note: no --weights given, so the built-in tiny random-weight model is used: images will be meaningless noise.");
            ezigen::native::DiffusersFolders::builtin_tiny().load_with(&common_device, dt, options)?
        }
    };
    let t0 = Instant::now();
    for (n, w) in todo.iter().enumerate() {
        let subject = &bench.subjects[w.subject];
        let prompt = bench.prompt(w);
        let mut req = GenerateRequest::new(photos[&w.subject].clone(), &prompt, &subject_prompt(&subject.class));
        req.options = a.sampling.options(w.seed);
        req.validate()?;
        let mut noise = SeededNoise::new(w.seed);
        let out = pollster::block_on(pipe.generate(&req, &mut noise, &mut ezigen::pipeline::NoProgress))?;
        let path = a.out.join(bench.file_name(w));
        write_png_atomically(&path, &out)?;
        let per = t0.elapsed().as_secs_f64() / (n + 1) as f64;
        eprintln!("[{}/{}] {} \"{prompt}\" seed {} ({:.1} s/image, {:.0} s left)", n + 1, todo.len(), path.display(), w.seed, per, per * (todo.len() - n - 1) as f64);
    }
    Ok(())
}

/// Writes the PNG next to its final name and renames it, so an interrupted run never leaves a
/// partial image that a resume would take as done.
fn write_png_atomically(path: &Path, out: &Output) -> ezigen::Result<()> {
    let io = |e: std::io::Error| Error::Input(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let img = image::RgbaImage::from_raw(out.image.width as u32, out.image.height as u32, out.image.data.clone())
        .expect("output size matches its data");
    let tmp = path.with_extension("png.partial");
    img.save_with_format(&tmp, image::ImageFormat::Png).map_err(|e| Error::Input(format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn eval(a: EvalArgs) -> ezigen::Result<()> {
    use ezigen::eval::native::{MetricFolders, MetricModels, evaluate};
    let (device, _) = pick_device(a.backend)?;
    let folders = MetricFolders { clip: a.clip.clone(), clip_text: a.clip_text.clone(), dino: a.dino.clone() };
    let models = MetricModels::load(&folders, &device, DType::F32)?;
    let t0 = Instant::now();
    let report = evaluate(&models, &a.generated, &a.dreambench, a.seeds, |file| eprintln!("scored {file}"))?;
    let secs = t0.elapsed().as_secs_f64();
    let json = a.out.with_extension("json");
    let md = a.out.with_extension("md");
    std::fs::write(&json, report.to_json()).map_err(|e| Error::Input(format!("{}: {e}", json.display())))?;
    std::fs::write(&md, report.to_markdown()).map_err(|e| Error::Input(format!("{}: {e}", md.display())))?;
    eprintln!(
        "{} images scored in {secs:.1} s ({:.2} s/image), {} missing, {} unreadable; wrote {} and {}",
        report.overall.images,
        secs / report.overall.images.max(1) as f64,
        report.missing.len(),
        report.unreadable.len(),
        json.display(),
        md.display()
    );
    print!("{}", report.to_markdown());
    Ok(())
}

/// Options of `ezigen bench`.
#[derive(Args)]
struct BenchArgs {
    /// Full-size SD 2.1-base + adapters + CLIP ViT-B/32 architecture with random weights
    /// (default: the built-in tiny model).
    #[arg(long)]
    random_sd21: bool,
    /// Converted weights folder instead (from `ezigen convert`).
    #[arg(long, conflicts_with = "random_sd21")]
    weights: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "wgpu")]
    backend: Backend,
    #[arg(long, value_enum, default_value = "f32")]
    dtype: Dtype,
    /// `wgsl` (the kernels of shaders/, GEMMs as kept by `ezigen tune`, else burn's),
    /// `wgsl-gemm` (every GEMM on shaders/gemm.wgsl), a forced GEMM implementation (`burn`,
    /// `128x64k16t256`, `128x64k16t256/s4`: see `ezigen tune --sweep`) or `reference` (plain
    /// burn ops: the "before").
    #[arg(long, default_value = "wgsl")]
    kernels: String,
    /// Latent side of the stage benchmarks (default: the model's, 64 for SD 2.1-base).
    #[arg(long)]
    latent: Option<usize>,
    /// Warm runs per stage (0: only the cold run, for full-size models on slow devices).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Skip the full generate and edit runs.
    #[arg(long)]
    no_pipeline: bool,
    /// The sampler of the full runs (with --steps: paper = ddpm 50, balanced = dpmpp 25, fast =
    /// dpmpp 15).
    #[arg(long, value_enum, default_value = "ddpm")]
    sampler: sampling::SamplerArg,
    /// Sampler steps of the full runs.
    #[arg(long, default_value_t = SamplingOptions::default().steps)]
    steps: usize,
    /// Refinement iterations of the full runs (fixed, no auto-stop).
    #[arg(long, default_value_t = 3)]
    iterations: usize,
    /// Only these stages, comma-separated (reference_pass, unet_step, vae_encode, vae_decode,
    /// clip_vision, text_encoder; attention, the UNet's widest attention alone, only when named).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Instead of the inference stages: N training steps of SD 2.1-base + adapters with random
    /// weights at 512 px (f32), timed, with the process's peak memory.
    #[arg(long, default_value_t = 0)]
    train_step: usize,
    /// With --train-step: as `ezigen train --low-memory`.
    #[arg(long)]
    low_memory: bool,
    /// Force the wgpu device's maxStorageBufferBindingSize down to this many MiB.
    #[arg(long)]
    max_binding_mib: Option<u64>,
    /// Force the wgpu device's maxBufferSize down to this many MiB.
    #[arg(long)]
    max_buffer_mib: Option<u64>,
}

fn bench(a: BenchArgs) -> ezigen::Result<()> {
    if a.train_step > 0 {
        let (device, _) = pick_device(a.backend)?;
        let m = ezigen::train::bench::sd21_step(&device, a.train_step, a.low_memory)?;
        println!("{}", serde_json::json!({"stage": "train_step", "model": "sd21-random", "backend": format!("{:?}", device), "low_memory": a.low_memory, "measure": m}));
        return Ok(());
    }
    let kernels = ezigen::kernels::Kernels::parse(&a.kernels)
        .ok_or_else(|| Error::Input(format!("--kernels must be wgsl, wgsl-gemm, reference, burn or a GEMM tile name (128x64k16t256, 128x64k16t256/s4), not `{}`", a.kernels)))?;
    let (device, adapter, max_binding, subgroups, report) = match (a.backend, a.max_binding_mib, a.max_buffer_mib) {
        (Backend::Cpu, None, None) => (device::cpu(), "cpu (flex)".to_string(), None, None, None),
        (Backend::Cpu, _, _) => return Err(Error::Input("--max-*-mib apply to --backend wgpu".into())),
        (Backend::Wgpu, None, None) => {
            let (d, r) = device::init_wgpu()?;
            (d, r.name.clone(), Some(r.max_storage_buffer_binding_size), r.subgroups, Some(r))
        }
        (Backend::Wgpu, binding, buffer) => {
            let binding = binding.unwrap_or(u64::MAX >> 20) << 20;
            let buffer = buffer.unwrap_or(u64::MAX >> 20) << 20;
            let (d, r) = device::init_wgpu_limited(binding, buffer)?;
            eprintln!("limits forced: maxStorageBufferBindingSize {} MiB, maxBufferSize {} MiB", r.max_storage_buffer_binding_size >> 20, r.max_buffer_size >> 20);
            (d, r.name.clone(), Some(r.max_storage_buffer_binding_size), r.subgroups, Some(r))
        }
    };
    let dt = dtype(a.dtype, &device)?;
    let t0 = Instant::now();
    HEAP.reset_peak();
    let heap_before = HEAP.now();
    let options = ezigen::loader::LoadOptions { kernels, max_binding };
    let (pipe, model) = match (&a.weights, a.random_sd21) {
        (Some(dir), _) => (ezigen::native::load_converted_with(dir, &device, dt, options)?, dir.display().to_string()),
        (None, true) => (
            ezigen::loader::random_pipeline(&ezigen::weights::components::ModelConfigs::sd21_base(), &device, dt, options)?,
            "sd21-random".to_string(),
        ),
        (None, false) => (ezigen::native::DiffusersFolders::builtin_tiny().load_with(&device, dt, options)?, "tiny".to_string()),
    };
    let load_s = t0.elapsed().as_secs_f64();
    // The GEMM choices kept for this device (a forced --kernels ignores them).
    let kept = match (&report, kernels) {
        (Some(r), ezigen::kernels::Kernels::Wgsl | ezigen::kernels::Kernels::WgslGemm) => tuning::apply_kept(&pipe, r),
        _ => None,
    };
    let mut labels = serde_json::Map::new();
    labels.insert("gemm_kept".into(), kept.map(|t| serde_json::json!(t.summary())).unwrap_or(serde_json::Value::Null));
    labels.insert("model".into(), model.into());
    labels.insert("backend".into(), match a.backend { Backend::Wgpu => "wgpu", Backend::Cpu => "cpu" }.into());
    labels.insert("adapter".into(), adapter.into());
    labels.insert("dtype".into(), format!("{dt:?}").to_lowercase().into());
    labels.insert("kernels".into(), kernels.name().into());
    // The smallest subgroup of a device whose flash attention runs the subgroup variant.
    labels.insert("subgroups".into(), subgroups.into());
    if let Some(b) = a.max_binding_mib {
        labels.insert("max_binding_mib".into(), b.into());
    }
    if let Some(b) = a.max_buffer_mib {
        labels.insert("max_buffer_mib".into(), b.into());
    }
    let mut load = labels.clone();
    load.insert("bench".into(), "load".into());
    load.insert("ms".into(), (load_s * 1000.0).into());
    // The Rust heap of the load (what the page's wasm memory must hold): its peak above what
    // was in use before, and what the loaded pipeline keeps.
    load.insert("heap_peak_mib".into(), (HEAP.peak().saturating_sub(heap_before) as f64 / 1048576.0).into());
    load.insert("heap_kept_mib".into(), (HEAP.now().saturating_sub(heap_before) as f64 / 1048576.0).into());
    println!("{}", serde_json::Value::Object(load));
    let cfg = ezigen::bench::BenchConfig {
        latent: a.latent.unwrap_or(pipe.latent_size()),
        repeats: a.repeats,
        pipeline: !a.no_pipeline,
        sampler: a.sampler.kind(),
        steps: a.steps,
        iterations: a.iterations,
        labels,
        only: a.only,
        kernels,
    };
    let start = Instant::now();
    let now = move || start.elapsed().as_secs_f64() * 1000.0;
    pollster::block_on(ezigen::bench::run(&pipe, &cfg, &now, &mut |record| {
        println!("{record}");
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }))
}

/// `ezigen tune`: tunes the model's GEMMs on the wgpu device and keeps the table; with --sweep
/// every candidate's time is a JSON line.
fn tune(a: tuning::TuneArgs) -> ezigen::Result<()> {
    let (device, report) = device::init_wgpu()?;
    let dt = match a.dtype.as_str() {
        "f32" => Dtype::F32,
        "f16" => Dtype::F16,
        other => return Err(Error::Input(format!("--dtype must be f32 or f16, not `{other}`"))),
    };
    let dt = dtype(dt, &device)?;
    if !a.force && !ezigen::kernels::tune::tunable(&report) {
        eprintln!("{} is a CPU rasteriser: the shipped defaults apply (--force tunes anyway)", report.name);
        return Ok(());
    }
    let options = ezigen::loader::LoadOptions { max_binding: Some(report.max_storage_buffer_binding_size), ..Default::default() };
    let pipe = match (&a.weights, a.random_sd21) {
        (Some(dir), _) => ezigen::native::load_converted_with(dir, &device, dt, options)?,
        (None, true) => ezigen::loader::random_pipeline(&ezigen::weights::components::ModelConfigs::sd21_base(), &device, dt, options)?,
        (None, false) => ezigen::native::DiffusersFolders::builtin_tiny().load_with(&device, dt, options)?,
    };
    // The kept table is the start: its problems are not timed again, but with --force those of
    // this dtype are (the other dtype's choices stay).
    let kept = if a.no_cache { None } else { tuning::apply_kept(&pipe, &report) };
    if let (Some(mut table), true) = (kept.clone(), a.force) {
        let prefix = format!("{} ", format!("{dt:?}").to_lowercase());
        table.choices.retain(|problem, _| !problem.starts_with(&prefix));
        ezigen::kernels::tune::install(&device, table);
    } else if kept.is_some() {
        eprintln!("kept choices are reused (--force times this dtype's problems again)");
    }
    let label = serde_json::json!({"adapter": report.name, "driver": report.driver, "dtype": format!("{dt:?}").to_lowercase()});
    let sweep = a.sweep;
    let out = tuning::tune_and_keep(&pipe, &report, a.budget_ms, !a.no_cache, &mut |p| {
        let lines: Vec<serde_json::Value> = if sweep {
            p.candidates
                .iter()
                .map(|c| serde_json::json!({"bench": "gemm", "problem": p.problem, "flops": p.flops, "impl": c.choice,
                    "ms": c.ms, "tflops": c.tflops, "chosen": c.choice == p.choice, "labels": label}))
                .collect()
        } else {
            vec![serde_json::json!({"bench": "gemm_choice", "problem": p.problem, "choice": p.choice, "labels": label})]
        };
        for l in lines {
            println!("{l}");
        }
    })?;
    println!("{}", serde_json::json!({"bench": "tune", "key": out.table.key, "tuning_ms": out.table.tuning_ms,
        "problems": out.table.choices.len(), "skipped": out.skipped, "chosen": out.table.summary(), "labels": label}));
    Ok(())
}

/// `ezigen train`: the run with a progress bar.
fn train(a: TrainArgs) -> ezigen::Result<()> {
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

/// The device, and on wgpu its largest storage binding (the VAE stays within it).
fn pick_device(backend: Backend) -> ezigen::Result<(Device, Option<device::AdapterReport>)> {
    match backend {
        Backend::Cpu => Ok((device::cpu(), None)),
        Backend::Wgpu => device::init_wgpu().map(|(device, report)| {
            eprintln!(
                "wgpu adapter: {} ({}, {}), shader-f16: {}, subgroups: {}",
                report.name,
                report.backend,
                report.device_type,
                report.shader_f16,
                report.subgroups.map_or("no".to_string(), |s| format!("≥ {s} lanes"))
            );
            (device, Some(report))
        }),
    }
}

fn dtype(d: Dtype, device: &Device) -> ezigen::Result<DType> {
    match d {
        Dtype::F32 => Ok(DType::F32),
        Dtype::F16 if device.supports_dtype(DType::F16) => Ok(DType::F16),
        Dtype::F16 => Err(Error::Input("this device does not support f16; use --dtype f32".into())),
    }
}

fn read_image(path: &Path) -> ezigen::Result<RgbaImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    RgbaImage::decode(&bytes).map_err(|e| match e {
        Error::Input(why) => Error::Input(format!("{}: {why}", path.display())),
        other => other,
    })
}

fn read_mask(path: &Path) -> ezigen::Result<Mask> {
    Ok(read_image(path)?.red_channel())
}

fn load_pipeline(c: &Common) -> ezigen::Result<(Pipeline, Device)> {
    let (device, adapter) = pick_device(c.backend)?;
    let max_binding = adapter.as_ref().map(|a| a.max_storage_buffer_binding_size);
    let dtype = dtype(c.dtype, &device)?;
    let t0 = Instant::now();
    let options = ezigen::loader::LoadOptions { max_binding, ..Default::default() };
    let pipe = match &c.weights {
        Some(dir) => ezigen::native::load_converted_with(dir, &device, dtype, options)?,
        None => {
            eprintln!(
                "note: no --weights given, so the built-in tiny random-weight model is used: images will be meaningless noise.\n      \
                 For real images convert SD 2.1-base + the EZIGen checkpoint + CLIP ViT-B/32 with `ezigen convert` and pass --weights DIR."
            );
            ezigen::native::DiffusersFolders::builtin_tiny().load_with(&device, dtype, options)?
        }
    };
    eprintln!("models loaded in {:.1} s ({:?})", t0.elapsed().as_secs_f64(), dtype);
    if let Some(adapter) = &adapter {
        tuning::kept_or_tuned(&pipe, adapter);
    }
    Ok((pipe, device))
}

fn options(c: &Common) -> SamplingOptions {
    SamplingOptions { edit_guidance: c.edit_guidance, ..c.sampling.options(c.seed) }
}

fn noise_source(c: &Common, seed: u64) -> ezigen::Result<Box<dyn NoiseSource>> {
    Ok(match &c.noise {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|e| Error::Input(format!("{}: {e}", p.display())))?;
            Box::new(ReplayNoise::from_bytes(&bytes, &p.display().to_string())?)
        }
        None => Box::new(SeededNoise::new(seed)),
    })
}

/// The subject photos with their masks (`--subject-mask none` skips one).
fn read_subjects(c: &Common) -> ezigen::Result<Vec<SubjectImage>> {
    if c.subject.len() > MAX_SUBJECTS {
        return Err(Error::Input(format!("{} --subject photos were given; at most {MAX_SUBJECTS} are used: remove {}", c.subject.len(), c.subject.len() - MAX_SUBJECTS)));
    }
    if !c.subject_mask.is_empty() && c.subject_mask.len() != c.subject.len() {
        return Err(Error::Input(format!(
            "{} --subject-mask for {} --subject: give one per subject photo, in the same order (`none` for a photo without a mask)",
            c.subject_mask.len(),
            c.subject.len()
        )));
    }
    c.subject
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let mask = match c.subject_mask.get(i) {
                Some(m) if m.as_os_str() != "none" => Some(read_mask(m)?),
                _ => None,
            };
            Ok(SubjectImage { image: read_image(path)?, mask })
        })
        .collect()
}

/// Runs `task` once per `--count` variation (seeds seed, seed+1, …) with progress on stderr,
/// saving each output.
fn variations(
    c: &Common,
    what: &str,
    mut task: impl FnMut(u64, &mut dyn NoiseSource, &mut dyn ProgressSink) -> ezigen::Result<Output>,
) -> ezigen::Result<()> {
    for i in 0..c.count {
        let seed = c.seed + i as u64;
        let mut noise = noise_source(c, seed)?;
        let mut progress = StderrProgress::new();
        let started = progress.start;
        let (out, traj) = match preview_every(c, i)? {
            Some((every, dir)) => {
                let mut previews = PreviewWriter::new(&mut progress, every, dir)?;
                let r = record(c, &mut previews, |sink| task(seed, noise.as_mut(), sink));
                previews.report();
                r?
            }
            None => record(c, &mut progress, |sink| task(seed, noise.as_mut(), sink))?,
        };
        eprintln!("{what} took {:.1} s", started.elapsed().as_secs_f64());
        save_outputs(c, i, &out, traj)?;
    }
    Ok(())
}

/// `--preview-every N DIR` for variation `i` (DIR/{i+1} when there are several).
fn preview_every(c: &Common, i: usize) -> ezigen::Result<Option<(usize, PathBuf)>> {
    let [n, dir] = match c.preview_every.as_slice() {
        [] => return Ok(None),
        [n, dir] => [n, dir],
        _ => return Err(Error::Input("--preview-every takes two values: N (every N-th UNet step) and DIR".into())),
    };
    let every = n.parse::<usize>().ok().filter(|&n| n >= 1).ok_or_else(|| Error::Input(format!("--preview-every N must be a whole number ≥ 1 (got {n})")))?;
    let dir = PathBuf::from(dir);
    Ok(Some((every, if c.count > 1 { dir.join((i + 1).to_string()) } else { dir })))
}

/// `--count` needs seeded noise and one output per run.
fn check_count(c: &Common) -> ezigen::Result<()> {
    if c.count == 0 || c.count > 100 {
        return Err(Error::Input(format!("--count must be between 1 and 100 (got {})", c.count)));
    }
    if c.count > 1 && (c.noise.is_some() || c.trajectory.is_some()) {
        return Err(Error::Input("--count > 1 cannot be combined with --noise or --trajectory (one recorded run each)".into()));
    }
    if c.seed.checked_add(c.count as u64 - 1).is_none_or(|last| last > u32::MAX as u64) {
        return Err(Error::Input(format!("--seed {} + --count {} goes past the largest seed {}", c.seed, c.count, u32::MAX)));
    }
    Ok(())
}

/// Where variation `i` of `--count` is written: OUT itself for one image, else OUT with `-{i+1}`.
fn output_path(c: &Common, i: usize) -> PathBuf {
    if c.count == 1 {
        return c.out.clone();
    }
    let stem = c.out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match c.out.extension() {
        Some(ext) => format!("{stem}-{}.{}", i + 1, ext.to_string_lossy()),
        None => format!("{stem}-{}", i + 1),
    };
    c.out.with_file_name(name)
}

fn save_outputs(c: &Common, i: usize, out: &Output, traj: Option<Latents>) -> ezigen::Result<()> {
    let img = image::RgbaImage::from_raw(out.image.width as u32, out.image.height as u32, out.image.data.clone())
        .expect("output size matches its data");
    let path = output_path(c, i);
    img.save(&path).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    eprintln!("wrote {} ({}×{}, {} iterations, seed {})", path.display(), out.image.width, out.image.height, out.iterations, c.seed + i as u64);
    if let (Some(path), Some(traj)) = (&c.trajectory, traj) {
        let bytes: Vec<Vec<u8>> = traj.iter().map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
        let tensors: Vec<TensorToWrite> = traj
            .iter()
            .zip(&bytes)
            .map(|((name, shape, _), b)| TensorToWrite { name, dtype: StoredDType::F32, shape, bytes: b })
            .collect();
        std::fs::write(path, write(&tensors, &Default::default())).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
        eprintln!("wrote trajectory {} ({} latents)", path.display(), traj.len());
    }
    Ok(())
}

/// Recorded latents: key, shape, values.
type Latents = Vec<(String, Vec<usize>, Vec<f32>)>;

/// Runs a task with `progress`, recording every latent when `--trajectory` asks for it.
fn record(
    c: &Common,
    progress: &mut dyn ProgressSink,
    task: impl FnOnce(&mut dyn ProgressSink) -> ezigen::Result<Output>,
) -> ezigen::Result<(Output, Option<Latents>)> {
    if c.trajectory.is_none() {
        return Ok((task(progress)?, None));
    }
    let mut traj = Trajectory::new(progress);
    let out = task(&mut traj)?;
    Ok((out, Some(traj.entries)))
}

fn run(cli: Cli) -> ezigen::Result<()> {
    match cli.command {
        Command::Convert { sd, ezigen: ez, clip, dino, clip_text, tiny, tiny_metrics, out, dtype: d, shard_mb } => {
            let folders = if tiny_metrics {
                ezigen::native::DiffusersFolders::builtin_tiny_with_metrics()
            } else if tiny {
                ezigen::native::DiffusersFolders::builtin_tiny()
            } else {
                ezigen::native::DiffusersFolders { sd: sd.expect("required"), ezigen: ez.expect("required"), clip: clip.expect("required"), clip_text, dino }
            };
            if shard_mb == 0 {
                return Err(Error::Input("--shard-mb must be at least 1".into()));
            }
            let opts = ezigen::convert::ConvertOptions {
                folders,
                out: out.clone(),
                dtype: match d {
                    Dtype::F16 => StoredDType::F16,
                    Dtype::F32 => StoredDType::F32,
                },
                shard_bytes: shard_mb << 20,
                name: if tiny { "tiny-random".into() } else { "sd21-base-ezigen".into() },
                tiny,
            };
            let t0 = Instant::now();
            let manifest = ezigen::convert::convert(&opts)?;
            eprintln!("wrote {} in {:.1} s:\n{}", out.display(), t0.elapsed().as_secs_f64(), ezigen::convert::summary(&manifest));
        }
        Command::Bench(a) => bench(a)?,
        Command::Tune(a) => tune(a)?,
        Command::Dreambench(a) => dreambench(a)?,
        Command::Eval(a) => eval(a)?,
        Command::Train(a) => train(a)?,
        Command::Info => {
            let (_, report) = device::init_wgpu()?;
            println!("{}", serde_json::to_string_pretty(&report).expect("report serialises"));
        }
        Command::Schema { out } => {
            let ts = ezigen::contract::typescript();
            match out {
                Some(path) => std::fs::write(&path, ts).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?,
                None => print!("{ts}"),
            }
        }
        Command::Smoke { backend, dtype: d } => {
            let (device, _) = pick_device(backend)?;
            let dt = dtype(d, &device)?;
            let out = pollster::block_on(smoke::run(&device, dt))?;
            println!("{}", serde_json::to_string(&out).expect("output serialises"));
        }
        Command::Generate(c) => {
            let subjects = read_subjects(&c)?;
            let mut req = GenerateRequest::new(subjects[0].image.clone(), &c.prompt, &c.subject_prompt);
            req.subjects = subjects;
            req.options = options(&c);
            req.validate()?;
            check_count(&c)?;
            if c.subject_prompt.trim().is_empty() {
                eprintln!("warning: empty --subject-prompt; EZIGen expects the subject's class, e.g. \"a dog\"");
            }
            let (pipe, _) = load_pipeline(&c)?;
            variations(&c, "generate", |seed, noise, sink| {
                req.options.seed = seed;
                pollster::block_on(pipe.generate(&req, noise, sink))
            })?;
        }
        Command::Edit { source, mask, composite_background, common: c } => {
            let subjects = read_subjects(&c)?;
            let mut req = EditRequest::new(read_image(&source)?, read_mask(&mask)?, subjects[0].image.clone(), &c.prompt, &c.subject_prompt);
            req.subjects = subjects;
            req.composite_background = composite_background;
            req.options = options(&c);
            req.validate()?;
            check_count(&c)?;
            let (pipe, _) = load_pipeline(&c)?;
            variations(&c, "edit", |seed, noise, sink| {
                req.options.seed = seed;
                pollster::block_on(pipe.edit(&req, noise, sink))
            })?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nerror: {e}");
            ExitCode::FAILURE
        }
    }
}
