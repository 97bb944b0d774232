//! The metrics of subject-driven generation as DreamBooth-style evaluation computes them (the
//! paper's DreamBench table): DINO, CLIP-I and CLIP-T.
//!
//! - **DINO**: cosine similarity between the DINO ViT-S/16 CLS embeddings of a generated image
//!   and of each real image of the subject, averaged over the real images.
//! - **CLIP-I**: the same with CLIP ViT-B/32 image embeddings (`image_embeds`).
//! - **CLIP-T**: cosine between the generated image's CLIP embedding and the prompt's
//!   (`text_embeds`; the prompt with the class noun).
//!
//! Preprocessing follows the reference transforms exactly (Pillow resampling, see
//! [`crate::imageops`]): OpenAI CLIP's `clip.load` transform for CLIP, and for DINO torchvision's
//! `Resize(256, BICUBIC)`, `CenterCrop(224)`, `ToTensor`, `Normalize(ImageNet mean/std)`.

pub mod dreambench;
#[cfg(feature = "native")]
pub mod native;
pub mod report;

use std::collections::BTreeMap;

use burn::tensor::{DType, Device, Tensor, TensorData};

use crate::imageops::{Filter, Image8, clip_preprocess};
use crate::kernels::Kernels;
use crate::models::clip::{ClipConfig, ClipTextModelWithProjection, ClipVisionModel};
use crate::models::vit::{VitConfig, VitModel};
use crate::nn::Vars;
use crate::pipeline::{RgbaImage, SubjectImage};
use crate::tokenizer::ClipTokenizer;
use crate::weights::WeightStore;
use crate::weights::safetensors::SourceFile;
use crate::weights::components::{Component, ModelConfigs};
use crate::{Error, Result};

/// ImageNet mean (torchvision), DINO's normalisation.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet standard deviation (torchvision).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// DINO's resize of the short side before the crop.
pub const DINO_RESIZE: usize = 256;
/// DINO's input side.
pub const DINO_CROP: usize = 224;

/// DINO evaluation preprocessing of an RGB image: Pillow bicubic short side → 256, centre crop
/// 224, ImageNet-normalised planar floats `[3, 224, 224]`.
pub fn dino_preprocess(rgb: &Image8) -> Vec<f32> {
    rgb.resize_short_side(DINO_RESIZE, Filter::Bicubic).center_crop(DINO_CROP).to_planar(&IMAGENET_MEAN, &IMAGENET_STD)
}

/// Cosine similarity `x·y / (‖x‖‖y‖)` in f64 (0 when either vector is zero).
pub fn cosine(x: &[f32], y: &[f32]) -> f64 {
    let (mut dot, mut xx, mut yy) = (0f64, 0f64, 0f64);
    for (&a, &b) in x.iter().zip(y) {
        let (a, b) = (f64::from(a), f64::from(b));
        dot += a * b;
        xx += a * a;
        yy += b * b;
    }
    let norm = (xx * yy).sqrt();
    if norm > 0.0 { dot / norm } else { 0.0 }
}

/// Mean cosine similarity of `generated` to each of `references` (DINO and CLIP-I); `None`
/// without references.
pub fn mean_cosine(generated: &[f32], references: &[Vec<f32>]) -> Option<f64> {
    if references.is_empty() {
        return None;
    }
    Some(references.iter().map(|r| cosine(generated, r)).sum::<f64>() / references.len() as f64)
}

/// The three scores of one generated image.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct Scores {
    /// DINO: mean CLS cosine to the subject's real images.
    pub dino: f64,
    /// CLIP-I: mean CLIP image-embedding cosine to the subject's real images.
    pub clip_i: f64,
    /// CLIP-T: CLIP image–text cosine with the prompt.
    pub clip_t: f64,
}

/// The page's request for the scores of a result: the generated image, the subject photos it
/// was made from (compared as they are, masks unused) and its prompt.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ScoreRequest {
    /// The generated image.
    pub image: RgbaImage,
    /// The subject photos (1–4).
    pub subjects: Vec<SubjectImage>,
    /// The prompt the image was generated from.
    pub prompt: String,
}

impl Metrics {
    /// The scores a [`ScoreRequest`] asks for, with the generation model's CLIP vision tower
    /// and tokenizer.
    pub async fn score_request(&self, vision: &ClipVisionModel, tokenizer: &ClipTokenizer, req: &ScoreRequest) -> Result<Scores> {
        crate::pipeline::subject::check_subjects(&req.subjects)?;
        // Deserialised from the page: its size is checked against its bytes before any pixel is read.
        req.image.check().map_err(|e| match e {
            Error::Input(m) => Error::Input(format!("the scored image: {m}")),
            other => other,
        })?;
        let references: Vec<Image8> = req.subjects.iter().map(|s| s.image.to_rgb_on_white()).collect();
        self.score(vision, tokenizer, &req.image.to_rgb_on_white(), &references, &req.prompt).await
    }
}

/// Builds the metric models ([`Component::EVAL`]) from their shards, as the page loads them on
/// demand; the CLIP vision tower is the generation model's own.
pub struct MetricsBuilder {
    text_config: ClipConfig,
    dino_config: VitConfig,
    device: Device,
    dtype: DType,
    kernels: Kernels,
    stores: BTreeMap<Component, WeightStore>,
    clip_text: Option<ClipTextModelWithProjection>,
    dino: Option<VitModel>,
}

/// The metric models the generation model does not have: CLIP's text tower and DINO.
pub struct Metrics {
    clip_text: ClipTextModelWithProjection,
    dino: VitModel,
    device: Device,
    dtype: DType,
}

impl MetricsBuilder {
    /// A builder for the metric models of `configs` (an error when they were not converted).
    pub fn new(configs: &ModelConfigs, device: &Device, dtype: DType) -> Result<Self> {
        let (Some(text), Some(dino)) = (&configs.clip_text, &configs.dino) else {
            return Err(Error::Input(
                "this model has no metric models: convert it with the DINO ViT-S/16 folder (`ezigen convert --dino DIR`)".into(),
            ));
        };
        crate::models::check_metric_configs(&configs.clip_vision, text, dino)?;
        Ok(Self {
            text_config: ClipConfig::from_json(&text.to_string(), "text_config")?,
            dino_config: VitConfig::from_json(&dino.to_string())?,
            device: device.clone(),
            dtype,
            kernels: Kernels::default(),
            stores: BTreeMap::new(),
            clip_text: None,
            dino: None,
        })
    }

    /// The kernels the metric models run (the generation model's choice, so both run alike).
    pub fn set_kernels(&mut self, kernels: Kernels) {
        self.kernels = kernels;
    }

    /// Whether both metric models are built ([`Self::into_metrics`] will succeed).
    pub fn is_complete(&self) -> bool {
        self.clip_text.is_some() && self.dino.is_some()
    }

    /// Feeds one converted shard of a metric component, read by range.
    pub fn load_shard(&mut self, component: Component, f: &dyn SourceFile, file: &str) -> Result<()> {
        if !Component::EVAL.contains(&component) {
            return Err(Error::Input(format!("{component} is not a metric model")));
        }
        let (device, dtype) = (self.device.clone(), self.dtype);
        self.stores.entry(component).or_insert_with(|| WeightStore::new(&device, dtype)).add_safetensors_from(f, file, |n| Some(n.to_string()))
    }

    /// Builds a metric component's model from its shards and checks every key.
    pub fn finish_component(&mut self, component: Component) -> Result<()> {
        let store = self.stores.remove(&component).unwrap_or_else(|| WeightStore::new(&self.device, self.dtype));
        let loader = store.builder(component.as_str());
        let root = Vars::new(loader.root(), self.kernels);
        match component {
            Component::ClipText => self.clip_text = Some(ClipTextModelWithProjection::load(&root, &self.text_config)),
            Component::Dino => self.dino = Some(VitModel::load(&root, &self.dino_config)),
            other => return Err(Error::Input(format!("{other} is not a metric model"))),
        }
        drop(root);
        loader.finish()
    }

    /// The metric models once both are built.
    pub fn into_metrics(self) -> Result<Metrics> {
        match (self.clip_text, self.dino) {
            (Some(clip_text), Some(dino)) => Ok(Metrics { clip_text, dino, device: self.device, dtype: self.dtype }),
            _ => Err(Error::Input("the metric models are not fully loaded (clip_text and dino)".into())),
        }
    }
}

impl Metrics {
    /// Built from models loaded elsewhere (the CLI's folders).
    pub fn new(clip_text: ClipTextModelWithProjection, dino: VitModel, device: &Device, dtype: DType) -> Self {
        Self { clip_text, dino, device: device.clone(), dtype }
    }

    fn batch(&self, planar: Vec<f32>, n: usize, side: usize) -> Tensor<4> {
        Tensor::from_data(TensorData::new(planar, [n, 3, side, side]), (&self.device, self.dtype))
    }

    /// CLIP image embeddings (with `vision`, the generation model's tower) and DINO CLS
    /// embeddings of RGB images, read back asynchronously.
    pub async fn embed_images(&self, vision: &ClipVisionModel, images: &[Image8]) -> Result<(Vec<Vec<f32>>, Vec<Vec<f32>>)> {
        let (mut clip, mut dino) = (Vec::new(), Vec::new());
        // Batches of 8 keep the activations small at full size.
        for chunk in images.chunks(8) {
            let clip_in: Vec<f32> = chunk.iter().flat_map(|i| clip_preprocess(i, 224)).collect();
            clip.extend(rows(vision.forward(self.batch(clip_in, chunk.len(), 224))).await?);
            let dino_in: Vec<f32> = chunk.iter().flat_map(dino_preprocess).collect();
            dino.extend(rows(self.dino.cls(self.batch(dino_in, chunk.len(), DINO_CROP))).await?);
        }
        Ok((clip, dino))
    }

    /// CLIP text embedding of a prompt (the tokenizer truncates to 77 tokens as CLIP does).
    pub async fn embed_text(&self, tokenizer: &ClipTokenizer, prompt: &str) -> Result<Vec<f32>> {
        let (ids, _) = tokenizer.encode(prompt)?;
        Ok(rows(self.clip_text.forward(&[ids])).await?.remove(0))
    }

    /// The three scores of `generated` against the subject's `references` and the prompt.
    pub async fn score(&self, vision: &ClipVisionModel, tokenizer: &ClipTokenizer, generated: &Image8, references: &[Image8], prompt: &str) -> Result<Scores> {
        if references.is_empty() {
            return Err(Error::Input("scores need at least one subject image".into()));
        }
        let (real_clip, real_dino) = self.embed_images(vision, references).await?;
        let (clip, dino) = self.embed_images(vision, std::slice::from_ref(generated)).await?;
        let text = self.embed_text(tokenizer, prompt).await?;
        Ok(Scores {
            dino: mean_cosine(&dino[0], &real_dino).unwrap_or(0.0),
            clip_i: mean_cosine(&clip[0], &real_clip).unwrap_or(0.0),
            clip_t: cosine(&clip[0], &text),
        })
    }
}

/// Rows of a `[n, d]` tensor, read back asynchronously.
async fn rows(t: Tensor<2>) -> Result<Vec<Vec<f32>>> {
    let [_, d] = t.dims();
    Ok(crate::device::read_f32(t).await?.chunks(d).map(<[f32]>::to_vec).collect())
}
