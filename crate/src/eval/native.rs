//! Native evaluation: the metric models loaded from their original folders (transformers
//! layout), image embeddings, and scoring a generated DreamBench folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{DType, Device};

use super::dreambench::{Benchmark, is_image_name};
use super::report::{ImageScore, Report, Skipped};
use super::{Metrics, Scores, cosine, mean_cosine};
use crate::imageops::Image8;
use crate::kernels::Kernels;
use crate::nn::Vars;
use crate::models::clip::{ClipConfig, ClipTextModelWithProjection, ClipVisionModel};
use crate::models::vit::{VitConfig, VitModel};
use crate::pipeline::RgbaImage;
use crate::tokenizer::ClipTokenizer;
use crate::weights::WeightStore;
use crate::{Error, Result};

/// Where the metric models are: transformers folders with `config.json` and `model.safetensors`.
pub struct MetricFolders {
    /// CLIP ViT-B/32 (`openai/clip-vit-base-patch32`: both towers and projections).
    pub clip: PathBuf,
    /// The text tower when it is in another folder than the vision tower (default: `clip`).
    pub clip_text: Option<PathBuf>,
    /// DINO ViT-S/16 (`facebook/dino-vits16`).
    pub dino: PathBuf,
}

/// The three metric models and the tokenizer.
pub struct MetricModels {
    clip_vision: ClipVisionModel,
    metrics: Metrics,
    tokenizer: ClipTokenizer,
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Weights { file: path.display().to_string(), reason: e.to_string() })
}

fn store(dir: &Path, device: &Device, dtype: DType, keep: impl Fn(&str) -> bool) -> Result<WeightStore> {
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path)
        .map_err(|e| Error::Weights { file: path.display().to_string(), reason: format!("{e} (the metric models are read from model.safetensors)") })?;
    let mut store = WeightStore::new(device, dtype);
    store.add_safetensors(&bytes, &path.display().to_string(), |n| keep(n).then(|| n.to_string()))?;
    Ok(store)
}

impl MetricModels {
    /// Loads the models from their folders on `device` in `dtype`, running `kernels`.
    pub fn load(folders: &MetricFolders, device: &Device, dtype: DType, kernels: Kernels) -> Result<Self> {
        let clip_json: serde_json::Value = serde_json::from_str(&read_text(&folders.clip.join("config.json"))?)
            .map_err(|e| Error::Config(format!("{}: {e}", folders.clip.join("config.json").display())))?;
        let text_dir = folders.clip_text.as_ref().unwrap_or(&folders.clip);
        let text_json: serde_json::Value = serde_json::from_str(&read_text(&text_dir.join("config.json"))?)
            .map_err(|e| Error::Config(format!("{}: {e}", text_dir.join("config.json").display())))?;
        let dino_json: serde_json::Value = serde_json::from_str(&read_text(&folders.dino.join("config.json"))?)
            .map_err(|e| Error::Config(format!("{}: {e}", folders.dino.join("config.json").display())))?;
        crate::models::check_metric_configs(&clip_json, &text_json, &dino_json)?;
        let vision_config = ClipConfig::from_json(&clip_json.to_string(), "vision_config")?;
        let l = store(&folders.clip, device, dtype, |n| n.starts_with("vision_model.") || n.starts_with("visual_projection."))?
            .builder("clip_vision")
            .allow_unused("vision_model.embeddings.position_ids");
        let clip_vision = ClipVisionModel::load(&Vars::new(l.root(), kernels), &vision_config);
        l.finish()?;
        let text_config = ClipConfig::from_json(&text_json.to_string(), "text_config")?;
        let l = store(text_dir, device, dtype, |n| n.starts_with("text_model.") || n.starts_with("text_projection."))?
            .builder("clip_text")
            .allow_unused("text_model.embeddings.position_ids");
        let clip_text = ClipTextModelWithProjection::load(&Vars::new(l.root(), kernels), &text_config);
        l.finish()?;
        let dino_config = VitConfig::from_json(&dino_json.to_string())?;
        let l = store(&folders.dino, device, dtype, |n| !n.starts_with("pooler."))?.builder("dino");
        let dino = VitModel::load(&Vars::new(l.root(), kernels), &dino_config);
        l.finish()?;
        Ok(Self { clip_vision, metrics: Metrics::new(clip_text, dino, device, dtype), tokenizer: ClipTokenizer::builtin() })
    }

    /// CLIP image embeddings and DINO CLS embeddings of RGB images.
    pub fn embed_images(&self, images: &[Image8]) -> Result<(Vec<Vec<f32>>, Vec<Vec<f32>>)> {
        pollster::block_on(self.metrics.embed_images(&self.clip_vision, images))
    }

    /// CLIP text embedding of a prompt (truncated to 77 tokens as CLIP does).
    pub fn embed_text(&self, prompt: &str) -> Result<Vec<f32>> {
        pollster::block_on(self.metrics.embed_text(&self.tokenizer, prompt))
    }
}

/// An RGB image from a file, as `PIL.Image.open(path).convert("RGB")` (alpha dropped): the
/// DreamBench reference transforms read images that way, so the scores do too (where the
/// generation pipeline composites a transparent subject on white instead).
pub fn read_rgb(path: &Path) -> Result<Image8> {
    let bytes = std::fs::read(path).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    let rgba = RgbaImage::decode(&bytes).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    let rgb: Vec<u8> = rgba.data.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    Image8::new(rgba.width, rgba.height, 3, rgb).ok_or_else(|| Error::Input(format!("{}: empty image", path.display())))
}

/// The image files of a subject folder, sorted by name; an error when there are none.
pub fn subject_images(dataset: &Path, subject: &str) -> Result<Vec<PathBuf>> {
    let dir = dataset.join(subject);
    let entries = std::fs::read_dir(&dir).map_err(|e| Error::Input(format!("subject folder {}: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_name().and_then(|n| n.to_str()).is_some_and(is_image_name))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::Input(format!("subject folder {} has no .jpg/.png images", dir.display())));
    }
    Ok(files)
}

/// Reads `prompts_and_classes.txt` of a DreamBench dataset folder.
pub fn read_benchmark(dataset: &Path) -> Result<Benchmark> {
    let path = dataset.join("prompts_and_classes.txt");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::Input(format!("{}: {e} (--dreambench is the dataset/ folder of the DreamBooth repository)", path.display())))?;
    Benchmark::parse(&text)
}

/// Scores every expected image of `generated` (the layout `ezigen dreambench` writes, `seeds`
/// seeds) against the real images of `dataset`. `progress` gets each scored file name.
pub fn evaluate(models: &MetricModels, generated: &Path, dataset: &Path, seeds: usize, mut progress: impl FnMut(&str)) -> Result<Report> {
    let bench = read_benchmark(dataset)?;
    let work = bench.work(seeds);
    let mut by_subject: BTreeMap<usize, Vec<_>> = BTreeMap::new();
    for item in &work {
        by_subject.entry(item.subject).or_default().push(*item);
    }
    let (mut images, mut missing, mut unreadable) = (Vec::new(), Vec::new(), Vec::new());
    let mut text_cache: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    for (s, items) in by_subject {
        let subject = &bench.subjects[s];
        let present: Vec<_> = items.iter().filter(|i| generated.join(bench.file_name(i)).is_file()).collect();
        missing.extend(items.iter().filter(|i| !present.contains(i)).map(|i| bench.file_name(i)));
        if present.is_empty() {
            continue;
        }
        let mut reals = Vec::new();
        for path in subject_images(dataset, &subject.name)? {
            match read_rgb(&path) {
                Ok(img) => reals.push(img),
                Err(e) => unreadable.push(Skipped { file: path.display().to_string(), reason: format!("real image left out: {e}") }),
            }
        }
        if reals.is_empty() {
            return Err(Error::Input(format!("no real image of {} could be read", subject.name)));
        }
        let (real_clip, real_dino) = models.embed_images(&reals)?;
        for item in present {
            let file = bench.file_name(item);
            let img = match read_rgb(&generated.join(&file)) {
                Ok(img) => img,
                Err(e) => {
                    unreadable.push(Skipped { file, reason: e.to_string() });
                    continue;
                }
            };
            let prompt = bench.prompt(item);
            if !text_cache.contains_key(&prompt) {
                text_cache.insert(prompt.clone(), models.embed_text(&prompt)?);
            }
            let (clip, dino) = models.embed_images(std::slice::from_ref(&img))?;
            let scores = Scores {
                dino: mean_cosine(&dino[0], &real_dino).unwrap_or(0.0),
                clip_i: mean_cosine(&clip[0], &real_clip).unwrap_or(0.0),
                clip_t: cosine(&clip[0], &text_cache[&prompt]),
            };
            progress(&file);
            images.push(ImageScore { file, subject: subject.name.clone(), prompt, scores });
        }
    }
    Ok(Report::new(images, missing, unreadable))
}
