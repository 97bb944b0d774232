//! What `ezigen generate` and `ezigen edit` read and write: the photos and masks, the one
//! model-loading path (`--weights DIR`, a converted folder or the built-in tiny model), the
//! sampling options and noise, the subjects, and the output images with their trajectories.

use super::*;

pub(super) fn read_image(path: &Path) -> ezigen::Result<RgbaImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    RgbaImage::decode(&bytes).map_err(|e| match e {
        Error::Input(why) => Error::Input(format!("{}: {why}", path.display())),
        other => other,
    })
}

pub(super) fn read_mask(path: &Path) -> ezigen::Result<Mask> {
    Ok(read_image(path)?.red_channel())
}

pub(super) fn load_pipeline(c: &Common) -> ezigen::Result<(Pipeline, Device)> {
    let (device, adapter) = pick_device(c.device.backend)?;
    let max_binding = adapter.as_ref().map(|a| a.max_storage_buffer_binding_size);
    let dtype = dtype(c.device.dtype, &device)?;
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

pub(super) fn options(c: &Common) -> SamplingOptions {
    SamplingOptions { edit_guidance: c.edit_guidance, ..c.sampling.options(c.seed) }
}

pub(super) fn noise_source(c: &Common, seed: u64) -> ezigen::Result<Box<dyn NoiseSource>> {
    Ok(match &c.noise {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|e| Error::Input(format!("{}: {e}", p.display())))?;
            Box::new(ReplayNoise::from_bytes(&bytes, &p.display().to_string())?)
        }
        None => Box::new(SeededNoise::new(seed)),
    })
}

/// The subject photos with their masks (`--subject-mask none` skips one).
pub(super) fn read_subjects(c: &Common) -> ezigen::Result<Vec<SubjectImage>> {
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
pub(super) fn variations(
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
pub(super) fn preview_every(c: &Common, i: usize) -> ezigen::Result<Option<(usize, PathBuf)>> {
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
pub(super) fn check_count(c: &Common) -> ezigen::Result<()> {
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
pub(super) fn output_path(c: &Common, i: usize) -> PathBuf {
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

pub(super) fn save_outputs(c: &Common, i: usize, out: &Output, traj: Option<Latents>) -> ezigen::Result<()> {
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
pub(super) fn record(
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
