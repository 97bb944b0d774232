//! Subject-driven generation (spec §4): reference features once, the decoupled initial run
//! (layout with the adapter off for the first (1−r)·N steps, on for the rest), then iterative
//! appearance transfer with CLIP auto-stop.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::image::{self, RgbaImage};
use super::subject::{SubjectImage, check_subjects};
use super::{AdapterGate, Job, NoiseSource, OFFICIAL_NEGATIVE_PROMPT, Output, Pass, Pipeline, ProgressSink, SamplingOptions, Stage};
use crate::imageops::Filter;
use crate::schedulers::Sampler;
use crate::{Error, Result};

/// Inputs of a generation (the page sends it as one object; the negative prompts stay the
/// official ones there).
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct GenerateRequest {
    /// 1–4 photos of the subject, each with an optional mask.
    pub subjects: Vec<SubjectImage>,
    /// Target prompt ("a dog in police outfit").
    pub prompt: String,
    /// Subject class prompt ("a dog"); empty is allowed.
    pub subject_prompt: String,
    /// Uncond text of the initial run (the official negative prompt by default).
    #[serde(skip, default = "official_negative_prompt")]
    pub negative_prompt: String,
    /// Uncond text of the loop iterations ("" officially).
    #[serde(skip)]
    pub loop_negative_prompt: String,
    /// Sampling options.
    #[serde(flatten)]
    pub options: SamplingOptions,
}

fn official_negative_prompt() -> String {
    OFFICIAL_NEGATIVE_PROMPT.to_string()
}

impl GenerateRequest {
    /// A request with the official defaults.
    pub fn new(subject: RgbaImage, prompt: &str, subject_prompt: &str) -> Self {
        Self {
            subjects: vec![SubjectImage::new(subject)],
            prompt: prompt.to_string(),
            subject_prompt: subject_prompt.to_string(),
            negative_prompt: OFFICIAL_NEGATIVE_PROMPT.to_string(),
            loop_negative_prompt: String::new(),
            options: SamplingOptions::default(),
        }
    }

    /// Checks the request; errors name the problem.
    pub fn validate(&self) -> Result<()> {
        self.options.validate()?;
        check_subjects(&self.subjects)?;
        if self.prompt.trim().is_empty() {
            return Err(Error::Input("the prompt is empty: describe the image to generate".into()));
        }
        Ok(())
    }
}

impl Pipeline {
    /// Runs a generation. `noise` supplies every random draw (seeded or replayed), `sink`
    /// receives progress, previews and (when it wants them) every latent, and may cancel.
    pub async fn generate(&self, req: &GenerateRequest, noise: &mut dyn NoiseSource, sink: &mut dyn ProgressSink) -> Result<Output> {
        req.validate()?;
        Job::new(self, req.options.clone(), false, noise, sink).generate(req).await
    }
}

impl Job<'_> {
    async fn generate(&mut self, req: &GenerateRequest) -> Result<Output> {
        let opts = self.opts.clone();
        let config = &self.m().scheduler;

        self.progress(Stage::EncodeText, 0, 3, 0, None)?;
        let cond = self.encode_prompt(&req.prompt)?;
        let ctx0 = Tensor::cat(vec![self.encode_prompt(&req.negative_prompt)?, cond.clone()], 0);
        let ctx_loop = Tensor::cat(vec![self.encode_prompt(&req.loop_negative_prompt)?, cond], 0);
        self.progress(Stage::EncodeText, 3, 3, 0, None)?;

        let subject = self.subject_features(&req.subjects, &req.subject_prompt)?;

        // Decoupled initial run: adapter off for i < (1 − r)·N.
        let s = self.pipe.latent_size();
        let x = self.noise("init/latents", [1, 4, s, s])?;
        self.begin_pass();
        let pass = Pass {
            sampler: Sampler::new(opts.sampler, config, opts.steps),
            start: 0,
            ctx: &ctx0,
            subject: &subject,
            adapter: AdapterGate::After(1.0 - opts.split_ratio),
            guidance: opts.guidance,
            prefix: "run0".into(),
            stage: Stage::Layout,
            iteration: 0,
            similarity: None,
            blend: None,
        };
        let x = self.denoise(x, pass).await?;
        self.progress(Stage::Decode, 0, 1, 0, None)?;
        let mut current = self.decode(x).await?;
        let mut current_emb = self.clip_embedding(&current).await?;
        self.image(0, None, &RgbaImage::from_rgb(&current), false)?;

        // Iterative appearance transfer.
        let size = self.pipe.image_size();
        let t_renoise = opts.renoise_timestep(self.m().scheduler.num_train_timesteps);
        let start = opts.layout_steps();
        let mut sims = Vec::new();
        let mut k = 1;
        while opts.continue_loop(k, sims.last().copied()) {
            if let Some(forced) = self.forced_image(k - 1) {
                current_emb = self.clip_embedding(&forced).await?;
                current = forced;
            }
            let input = current.resize(size, size, Filter::Bilinear);
            let z0 = self.encode_image(image::to_tensor(&input, self.device(), self.dtype()), &format!("loop{k}/posterior"))?;
            let eps0 = self.noise(&format!("loop{k}/renoise"), z0.dims())?;
            // The official loop re-noises with its DDPM scheduler (the same ᾱ for every sampler).
            let x = crate::schedulers::add_noise(&self.alphas_cumprod, z0, eps0, t_renoise);
            self.begin_pass();
            let pass = Pass {
                sampler: Sampler::new(opts.sampler, config, opts.steps),
                start,
                ctx: &ctx_loop,
                subject: &subject,
                adapter: AdapterGate::Always,
                guidance: opts.guidance,
                prefix: format!("loop{k}"),
                stage: Stage::Transfer,
                iteration: k,
                similarity: sims.last().copied(),
                blend: None,
            };
            let x = self.denoise(x, pass).await?;
            let (next, emb, sim) = self.decode_and_compare(x, k, &current_emb, &mut sims).await?;
            current = next;
            current_emb = emb;
            let last = !opts.continue_loop(k + 1, Some(sim));
            self.image(k, Some(sim), &RgbaImage::from_rgb(&current), last)?;
            k += 1;
        }
        Ok(Output { image: RgbaImage::from_rgb(&current), iterations: k - 1, similarities: sims })
    }
}
