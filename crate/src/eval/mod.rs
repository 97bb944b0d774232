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

use crate::imageops::{Filter, Image8};

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
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scores {
    /// DINO: mean CLS cosine to the subject's real images.
    pub dino: f64,
    /// CLIP-I: mean CLIP image-embedding cosine to the subject's real images.
    pub clip_i: f64,
    /// CLIP-T: CLIP image–text cosine with the prompt.
    pub clip_t: f64,
}
