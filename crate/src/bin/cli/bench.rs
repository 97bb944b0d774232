//! `ezigen bench` (the stages' and full runs' times as JSON lines) and `ezigen tune` (the GEMM
//! tuning table of this device).

use super::*;

/// Options of `ezigen bench`.
#[derive(Args)]
pub(super) struct BenchArgs {
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

pub(super) fn bench(a: BenchArgs) -> ezigen::Result<()> {
    if a.train_step > 0 {
        let (device, _) = pick_device(a.backend)?;
        let m = ezigen::train::bench::sd21_step(&device, a.train_step, a.low_memory)?;
        println!("{}", serde_json::json!({"stage": "train_step", "model": "sd21-random", "backend": format!("{:?}", device), "low_memory": a.low_memory, "measure": m}));
        return Ok(());
    }
    let kernels = kernels_arg(&a.kernels)?;
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
pub(super) fn tune(a: tuning::TuneArgs) -> ezigen::Result<()> {
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
