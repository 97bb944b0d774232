//! `--validate-every N`: every N steps, the current adapters generate images for fixed prompts
//! (spec §6.4 runs the generation loop during training), written to
//! `OUT/validation/step-{N}/{i}.png`. The sampling values are the inference ones (§4); §6.4's
//! training-time guidance 10 and negative prompt are not reproduced.

use std::path::{Path, PathBuf};

use burn::tensor::{DType, Device};

use super::Trainer;
use crate::kernels::Kernels;
use crate::models::clip::{ClipConfig, ClipVisionModel};
use crate::models::vae::{AutoencoderKLConfig, VaeDecoder};
use crate::files::{find, read};
use crate::nn::Vars;
use crate::pipeline::generate::GenerateRequest;
use crate::pipeline::image::RgbaImage;
use crate::pipeline::noise::SeededNoise;
use crate::pipeline::{Models, Pipeline};
use crate::weights::WeightStore;
use crate::weights::components::{Component, route_raw_key};
use crate::{Error, Result};

/// What the validation generates.
#[derive(Clone, Debug)]
pub struct ValidationOptions {
    /// Every N optimiser steps.
    pub every: u64,
    /// The subject photo.
    pub subject: PathBuf,
    /// Its class prompt ("a dog").
    pub subject_prompt: String,
    /// Target prompts, one image each.
    pub prompts: Vec<String>,
    /// CLIP ViT-B/32 folder (auto-stop of the generation loop).
    pub clip: PathBuf,
    /// DDPM steps.
    pub steps: usize,
    /// Seed.
    pub seed: u64,
}

/// The models validation needs beyond the trained ones, loaded once.
pub struct Validator {
    options: ValidationOptions,
    decoder: VaeDecoder,
    clip: ClipVisionModel,
    subject: RgbaImage,
}

fn text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Weights { file: path.display().to_string(), reason: e.to_string() })
}

impl Validator {
    /// Loads the VAE decoder from `sd` and CLIP's vision tower from `options.clip`, and reads
    /// the subject photo.
    pub fn new(options: ValidationOptions, sd: &Path, device: &Device) -> Result<Self> {
        let kernels = Kernels::default();
        let vae_config = AutoencoderKLConfig::from_json(&text(&sd.join("vae/config.json"))?)?;
        let path = find(&sd.join("vae"), &["diffusion_pytorch_model.safetensors"])?;
        let mut store = WeightStore::new(device, DType::F32);
        store.add_safetensors(&read(&path)?, &path.display().to_string(), |n| {
            route_raw_key("vae", n).and_then(|(c, k)| (c == Component::VaeDecoder).then_some(k))
        })?;
        let loader = store.builder("vae_decoder");
        let decoder = VaeDecoder::load(&Vars::new(loader.root(), kernels), &vae_config);
        loader.finish()?;

        let clip_config = ClipConfig::from_json(&text(&options.clip.join("config.json"))?, "vision_config")?;
        let path = find(&options.clip, &["model.safetensors"])?;
        let mut store = WeightStore::new(device, DType::F32);
        store.add_safetensors(&read(&path)?, &path.display().to_string(), |n| route_raw_key("clip", n).map(|(_, k)| k))?;
        let loader = store.builder("clip_vision").allow_unused("text_model.").allow_unused("text_projection").allow_unused("logit_scale");
        let clip = ClipVisionModel::load(&Vars::new(loader.root(), kernels), &clip_config);
        loader.finish()?;

        let bytes = std::fs::read(&options.subject).map_err(|e| Error::Input(format!("--validate-subject {}: {e}", options.subject.display())))?;
        let subject = RgbaImage::decode(&bytes)?;
        if options.prompts.is_empty() {
            return Err(Error::Input("validation needs at least one prompt".into()));
        }
        Ok(Self { options, decoder, clip, subject })
    }

    /// Whether step `step` validates.
    pub fn due(&self, step: u64) -> bool {
        self.options.every > 0 && step % self.options.every == 0
    }

    /// Generates the validation images with the trainer's current adapters; returns the files.
    pub fn run(&self, trainer: &mut Trainer, out: &Path, step: u64, device: &Device) -> Result<Vec<PathBuf>> {
        let m = &trainer.models;
        let mut unet = m.unet.clone();
        unet.visit_trainable(&mut |_, mut p| p.make_plain());
        let models = Models {
            tokenizer: m.tokenizer.clone(),
            text_encoder: m.text_encoder.clone(),
            unet,
            vae_encoder: m.vae_encoder.clone(),
            vae_decoder: self.decoder.clone(),
            clip_vision: self.clip.clone(),
            scheduler: m.scheduler.clone(),
            vae_scaling: m.vae_scaling,
        };
        let pipe = Pipeline::new(models, device, DType::F32)?;
        let dir = out.join("validation").join(format!("step-{step}"));
        std::fs::create_dir_all(&dir).map_err(|e| Error::Input(format!("{}: {e}", dir.display())))?;
        let mut files = Vec::new();
        for (i, prompt) in self.options.prompts.iter().enumerate() {
            let mut req = GenerateRequest::new(self.subject.clone(), prompt, &self.options.subject_prompt);
            req.options.steps = self.options.steps;
            req.options.seed = self.options.seed;
            let mut noise = SeededNoise::new(self.options.seed);
            let output = pollster::block_on(pipe.generate(&req, &mut noise, &mut crate::pipeline::NoProgress))?;
            let img = image::RgbaImage::from_raw(output.image.width as u32, output.image.height as u32, output.image.data.clone())
                .ok_or_else(|| Error::Input("validation image size".into()))?;
            let path = dir.join(format!("{i}.png"));
            img.save(&path).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
            files.push(path);
        }
        Ok(files)
    }
}
