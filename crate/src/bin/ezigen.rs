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

#[path = "cli/bench.rs"]
mod bench;
#[path = "cli/dreambench.rs"]
mod dreambench;
#[path = "cli/jobs.rs"]
mod jobs;
#[path = "cli/progress.rs"]
mod progress;
#[path = "cli/sampling.rs"]
mod sampling;
#[path = "cli/train.rs"]
mod train;
#[path = "cli/tuning.rs"]
mod tuning;

use bench::{BenchArgs, bench, tune};
use dreambench::{DreambenchArgs, EvalArgs, dreambench, eval};
use jobs::{check_count, load_pipeline, options, read_image, read_mask, read_subjects, variations};
use train::{TrainArgs, train};

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

/// Where the work runs.
#[derive(Args)]
struct DeviceArgs {
    #[arg(long, value_enum, default_value = "wgpu")]
    backend: Backend,
    #[arg(long, value_enum, default_value = "f32")]
    dtype: Dtype,
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
    /// Subject image (PNG/JPEG/WebP; transparent pixels become white). Repeat for up to 4 photos of
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
    #[command(flatten)]
    device: DeviceArgs,
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

/// The `--kernels` option's value as a [`ezigen::kernels::Kernels`] choice.
fn kernels_arg(name: &str) -> ezigen::Result<ezigen::kernels::Kernels> {
    ezigen::kernels::Kernels::parse(name)
        .ok_or_else(|| Error::Input(format!("--kernels must be wgsl, wgsl-gemm, reference, burn or a GEMM tile name (128x64k16t256, 128x64k16t256/s4), not `{name}`")))
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
            let ts = ezigen::schema::typescript();
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
