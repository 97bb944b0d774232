//! `ezigen dreambench` (the DreamBench images, resumable) and `ezigen eval` (their scores).

use super::*;

/// Options of `ezigen dreambench`.
#[derive(Args)]
pub(super) struct DreambenchArgs {
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
    #[command(flatten)]
    device: DeviceArgs,
}

/// Options of `ezigen eval`.
#[derive(Args)]
pub(super) struct EvalArgs {
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
    /// Kernels of the metric models (as `ezigen bench --kernels`).
    #[arg(long, default_value = "wgsl")]
    kernels: String,
}

pub(super) fn dreambench(a: DreambenchArgs) -> ezigen::Result<()> {
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
    let (common_device, adapter) = pick_device(a.device.backend)?;
    let max_binding = adapter.as_ref().map(|r| r.max_storage_buffer_binding_size);
    let dt = dtype(a.device.dtype, &common_device)?;
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
pub(super) fn write_png_atomically(path: &Path, out: &Output) -> ezigen::Result<()> {
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

pub(super) fn eval(a: EvalArgs) -> ezigen::Result<()> {
    use ezigen::eval::native::{MetricFolders, MetricModels, evaluate};
    let (device, _) = pick_device(a.backend)?;
    let folders = MetricFolders { clip: a.clip.clone(), clip_text: a.clip_text.clone(), dino: a.dino.clone() };
    let models = MetricModels::load(&folders, &device, DType::F32, kernels_arg(&a.kernels)?)?;
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
