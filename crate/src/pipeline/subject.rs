//! The subject: 1–[`MAX_SUBJECTS`] photos of it, their features from the reference pass
//! (spec §2), and a bounded cache of those features so that a second run with the same subject
//! (a new prompt, a new seed, the next variation) starts directly at the denoising stage.
//!
//! Several photos: each is preprocessed as one is (white where masked, squashed to the model
//! size), VAE-encoded and noised at T_sub = 1, run through the reference UNet with the subject
//! prompt, and the 16 captured features are concatenated along the token axis in the order given
//! (spec §2.4: the official feature path with a list of images does exactly this, with one
//! posterior draw for the whole batch and one T_sub noise shared by all images, `utils.py:
//! extract_subject_features`). Only the given photos are used: training padded to 4 slots with
//! grey images, but the released inference path does not, and without the real weights there is
//! no way to measure whether padding would help.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ts_rs::TS;

use super::image::{self, Mask, RgbaImage};
use super::{Job, Stage};
use crate::models::unet::{FeatureBank, RefMode, SubjectFeatures};
use crate::{Error, Result};

pub use crate::contract::MAX_SUBJECTS;

/// Subject feature sets a pipeline keeps (the most recently used). One set holds the 16
/// captured tensors of every photo: about 11.55 M values per photo at full size (23 MB in f16,
/// 46 MB in f32), so two sets of four photos stay under 200 MB of GPU memory in f16.
pub const CACHED_SUBJECT_SETS: usize = 2;

/// One photo of the subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SubjectImage {
    /// The photo (any size; transparent pixels become white).
    pub image: RgbaImage,
    /// Optional mask: everything outside becomes white.
    pub mask: Option<Mask>,
}

impl SubjectImage {
    /// A photo without a mask.
    pub fn new(image: RgbaImage) -> Self {
        Self { image, mask: None }
    }
}

/// Checks the subject photos: 1 to [`MAX_SUBJECTS`], each a valid image of a sane shape with a
/// non-empty mask of its own size; errors name which photo ("subject image 2").
pub fn check_subjects(subjects: &[SubjectImage]) -> Result<()> {
    if subjects.is_empty() {
        return Err(Error::Input("no subject image: add a photo of the subject".into()));
    }
    if subjects.len() > MAX_SUBJECTS {
        return Err(Error::Input(format!(
            "{} subject images were given; at most {MAX_SUBJECTS} are used: remove {}",
            subjects.len(),
            subjects.len() - MAX_SUBJECTS
        )));
    }
    for (i, s) in subjects.iter().enumerate() {
        let name = if subjects.len() == 1 { "the subject image".to_string() } else { format!("subject image {}", i + 1) };
        s.image.check().map_err(|e| prefix(&name, e))?;
        s.image.check_aspect(&name)?;
        if let Some(m) = &s.mask {
            m.check().map_err(|e| prefix(&name, e))?;
            if m.is_empty() {
                return Err(Error::Input(format!("the mask of {name} is empty: paint the subject or leave the mask out")));
            }
        }
    }
    Ok(())
}

fn prefix(what: &str, e: Error) -> Error {
    match e {
        Error::Input(m) => Error::Input(format!("{what}: {m}")),
        other => other,
    }
}

/// The cache key of a subject: every photo and mask (size and bytes), the subject prompt and
/// the noise source's subject stream. The model and its dtype are the pipeline's own: a new
/// model is a new pipeline with an empty cache.
fn cache_key(subjects: &[SubjectImage], prompt: &str, stream: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(stream.to_le_bytes());
    h.update((prompt.len() as u64).to_le_bytes());
    h.update(prompt.as_bytes());
    h.update((subjects.len() as u64).to_le_bytes());
    for s in subjects {
        for v in [s.image.width, s.image.height] {
            h.update((v as u64).to_le_bytes());
        }
        h.update(&s.image.data);
        match &s.mask {
            Some(m) => {
                h.update([1]);
                for v in [m.width, m.height] {
                    h.update((v as u64).to_le_bytes());
                }
                h.update(&m.data);
            }
            None => h.update([0]),
        }
    }
    h.finalize().into()
}

/// The most recently used subject feature sets of a pipeline (at most
/// [`CACHED_SUBJECT_SETS`]): the captured features, concatenated along tokens, batch 1.
#[derive(Default)]
pub struct SubjectCache {
    entries: Mutex<VecDeque<([u8; 32], FeatureBank)>>,
}

impl SubjectCache {
    fn get(&self, key: &[u8; 32]) -> Option<FeatureBank> {
        let mut e = self.entries.lock().ok()?;
        let i = e.iter().position(|(k, _)| k == key)?;
        let hit = e.remove(i)?;
        let bank = hit.1.clone();
        e.push_front(hit);
        Some(bank)
    }

    fn put(&self, key: [u8; 32], bank: FeatureBank) {
        if let Ok(mut e) = self.entries.lock() {
            e.retain(|(k, _)| *k != key);
            e.push_front((key, bank));
            e.truncate(CACHED_SUBJECT_SETS);
        }
    }

    /// Number of cached subject sets.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every cached set.
    pub fn clear(&self) {
        if let Ok(mut e) = self.entries.lock() {
            e.clear();
        }
    }
}

impl Job<'_> {
    /// The subject features of a job, ready for injection (batch 2): from the pipeline's cache
    /// when the same photos, masks and subject prompt were used before with the same subject
    /// noise (reported as [`Stage::SubjectReused`]); otherwise one reference pass per photo
    /// (whiten, squash to the model size, encode, noise at T_sub = 1, capture), concatenated
    /// along tokens in the order given, and cached.
    pub(crate) fn subject_features(&mut self, subjects: &[SubjectImage], subject_prompt: &str) -> Result<SubjectFeatures> {
        let key = self.noise.subject_stream().map(|s| cache_key(subjects, subject_prompt, s));
        if let Some(bank) = key.as_ref().and_then(|k| self.pipe.subject_cache.get(k)) {
            self.progress(Stage::SubjectReused, 1, 1, 0, None)?;
            return Ok(self.m().unet.subject_features(&bank, 2));
        }
        let n = subjects.len();
        self.progress(Stage::Reference, 0, n, 0, None)?;
        let size = self.pipe.image_size();
        let posteriors: Vec<_> = subjects
            .iter()
            .map(|subject| {
                let rgb = image::bound_size(subject.image.to_rgb_on_white());
                let rgb = match &subject.mask {
                    Some(m) => image::whiten_outside(&rgb, m),
                    None => rgb,
                };
                let rgb = rgb.resize(size, size, crate::imageops::Filter::Bilinear);
                self.m().vae_encoder.forward_limited(image::to_tensor(&rgb, self.device(), self.dtype()), self.pipe.max_binding())
            })
            .collect();
        // One posterior draw for the batch of photos and one T_sub noise shared by all of them,
        // as the official feature path draws them (`latent_dist.sample()` of the batch, then
        // `randn_like(latents[:1])`).
        let [_, c, h, w] = posteriors[0].mean.dims();
        let noise = self.noise("subject/posterior", [n, c, h, w])?;
        let eps = self.noise("subject/t1", [1, c, h, w])?;
        let sched = crate::schedulers::DdpmScheduler::new(&self.m().scheduler, self.opts.steps);
        let ctx = self.encode_prompt(subject_prompt)?;
        let mut banks = Vec::with_capacity(n);
        for (i, post) in posteriors.into_iter().enumerate() {
            let z = post.sample(noise.clone().narrow(0, i, 1)) * self.m().vae_scaling;
            let z = sched.add_noise(z, eps.clone(), 1);
            let mut bank = FeatureBank::default();
            let _ = self.m().unet.forward(z, 1.0, &ctx, RefMode::Capture(&mut bank));
            banks.push(bank);
            self.progress(Stage::Reference, i + 1, n, 0, None)?;
        }
        let bank = FeatureBank::concat_tokens(banks);
        let features = self.m().unet.subject_features(&bank, 2);
        if let Some(k) = key {
            self.pipe.subject_cache.put(k, bank);
        }
        Ok(features)
    }
}
