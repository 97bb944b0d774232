//! EZIGen's two tasks, generate and edit, as library code shared by the browser and the CLI
//! (official `infer.py: iteration_wrapper`, `loop_infer`; `models/pipelines/pipline_sd_main.py`;
//! `models/inversion_models/`; spec §2, §4, §5).
//!
//! Lean by default: the official script's two unused 50-step debug passes ("simple" and "pure
//! text") are skipped. They only produce images that are saved and never used; skipping them
//! changes which random numbers later draws get, not any output's distribution, and every draw
//! here is keyed by name anyway (`docs/noise-replay.md`).

pub mod edit;
pub mod events;
pub mod estimate;
pub mod generate;
pub mod image;
pub mod noise;
pub mod options;
pub mod preview;
pub mod subject;

use std::ops::ControlFlow;

use burn::tensor::{DType, Device, Int, Tensor, TensorData};

use crate::imageops::{Image8, clip_preprocess};
use crate::models::clip::{ClipTextModel, ClipVisionModel};
use crate::models::unet::{RefMode, SubjectFeatures, UNet2DConditionModel};
use crate::models::vae::{VaeDecoder, VaeEncoder};
use crate::schedulers::{Sampler, SchedulerConfig};
use crate::tokenizer::ClipTokenizer;
use crate::{Error, Result};

pub use edit::EditRequest;
pub use events::{Event, NoProgress, ProgressSink, Stage, Trajectory};
pub use generate::GenerateRequest;
pub use image::{Mask, RgbaImage};
pub use noise::{NoiseSource, ReplayNoise, RoundInputs, SeededNoise};
pub use options::{MAX_ITERATIONS, MIN_ITERATIONS, PassRange, Preset, PresetInfo, SamplingOptions};
pub use subject::{SubjectCache, SubjectImage};
pub use crate::device::read_f32;

/// The official negative prompt of the initial generation run (misspelling included).
pub const OFFICIAL_NEGATIVE_PROMPT: &str = "dark, blur, defoucus, lack of content, dizzy.";
/// The token EZIGen's inversion conditioning repeats (`ExceptionCLIPTextModel`).
pub const EXCEPTION_TOKEN: usize = 7788;

/// The result of a task.
#[derive(Clone, Debug)]
pub struct Output {
    /// The final image.
    pub image: RgbaImage,
    /// Refinement iterations that ran.
    pub iterations: usize,
    /// Similarity of each iteration to its predecessor.
    pub similarities: Vec<f64>,
}

/// Every model of EZIGen on one device.
pub struct Models {
    /// CLIP BPE tokenizer.
    pub tokenizer: ClipTokenizer,
    /// SD 2.1-base text encoder.
    pub text_encoder: ClipTextModel,
    /// The UNet with EZIGen's adapters (also serves the reference pass and the inversion).
    pub unet: UNet2DConditionModel,
    /// VAE encoder.
    pub vae_encoder: VaeEncoder,
    /// VAE decoder.
    pub vae_decoder: VaeDecoder,
    /// CLIP ViT-B/32 for auto-stop.
    pub clip_vision: ClipVisionModel,
    /// Scheduler constants.
    pub scheduler: SchedulerConfig,
    /// VAE scaling factor (0.18215).
    pub vae_scaling: f64,
}

/// The pipeline: models plus the device and dtype they run in.
pub struct Pipeline {
    /// The models.
    pub models: Models,
    /// Subject features of recent runs, reused by runs with the same subject.
    pub subject_cache: SubjectCache,
    device: Device,
    dtype: DType,
    max_binding: Option<u64>,
}

/// Per-job state shared by both tasks.
pub(crate) struct Job<'a> {
    pub pipe: &'a Pipeline,
    pub noise: &'a mut dyn NoiseSource,
    pub sink: &'a mut dyn ProgressSink,
    pub opts: SamplingOptions,
    /// A readback of the previous step kept in flight (one step behind).
    pending: Option<Pending>,
    /// The remaining-time estimate.
    pub(crate) estimate: estimate::Estimate,
    /// ᾱ of the schedule (x̂₀ of the previews).
    alphas_cumprod: Vec<f64>,
}

/// What the previous step left to read back.
enum Pending {
    /// One value, only to keep the queue from running ahead.
    Probe(Tensor<1>),
    /// The predicted clean latent, for a preview.
    Preview { x0: Tensor<4>, stage: Stage, step: usize, total: usize, iteration: usize },
}

/// Where a UNet step sits, for its progress and preview events.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepInfo {
    pub stage: Stage,
    /// 1-based.
    pub step: usize,
    pub total: usize,
    pub iteration: usize,
    pub similarity: Option<f64>,
}

impl Pipeline {
    /// Wraps loaded models.
    pub fn new(models: Models, device: &Device, dtype: DType) -> Result<Self> {
        if !models.unet.has_adapters() {
            return Err(Error::Config("the UNet has no EZIGen adapters (load the adapter weights)".into()));
        }
        Ok(Self { models, subject_cache: SubjectCache::default(), device: device.clone(), dtype, max_binding: None })
    }

    /// Keeps every VAE tensor within `limit` bytes (the device's largest storage binding,
    /// `maxStorageBufferBindingSize`): the VAE then runs its full-resolution blocks on channel
    /// blocks ([`crate::nn::Blocks`]); nothing changes where everything fits.
    pub fn with_max_binding(mut self, limit: Option<u64>) -> Self {
        self.max_binding = limit;
        self
    }

    /// The largest tensor the VAE may make, in bytes (`None`: no limit).
    pub fn max_binding(&self) -> Option<u64> {
        self.max_binding
    }

    /// Device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Float dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Pixel size the models work at: 8 × the UNet's `sample_size` (512 for SD 2.1-base).
    pub fn image_size(&self) -> usize {
        8 * self.models.unet.config().sample_size
    }

    /// Latent size of the generation (`sample_size`).
    pub fn latent_size(&self) -> usize {
        self.models.unet.config().sample_size
    }
}

impl<'a> Job<'a> {
    pub(crate) fn new(
        pipe: &'a Pipeline,
        opts: SamplingOptions,
        editing: bool,
        noise: &'a mut dyn NoiseSource,
        sink: &'a mut dyn ProgressSink,
    ) -> Self {
        let estimate = estimate::Estimate::new(&opts, editing);
        let alphas_cumprod = pipe.models.scheduler.alphas_cumprod();
        Self { pipe, noise, sink, opts, pending: None, estimate, alphas_cumprod }
    }

    pub(crate) fn device(&self) -> &Device {
        &self.pipe.device
    }

    pub(crate) fn dtype(&self) -> DType {
        self.pipe.dtype
    }

    pub(crate) fn m(&self) -> &'a Models {
        &self.pipe.models
    }

    /// Reports progress; `Err(Cancelled)` when the sink asks to stop.
    pub(crate) fn progress(&mut self, stage: Stage, step: usize, total: usize, iteration: usize, similarity: Option<f64>) -> Result<()> {
        let seconds_left = self.estimate.seconds_left();
        let (lo, hi) = self.estimate.passes_left();
        let time_left = estimate::describe(seconds_left);
        let event = Event::Progress { stage, step, total, iteration, similarity, seconds_left, passes_left: [lo, hi], time_left };
        match self.sink.event(event) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(()) => Err(Error::Cancelled),
        }
    }

    /// Reports an image; `Err(Cancelled)` when the sink asks to stop.
    pub(crate) fn image(&mut self, iteration: usize, similarity: Option<f64>, image: &RgbaImage, last: bool) -> Result<()> {
        match self.sink.event(Event::Image { iteration, similarity, image, last }) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(()) => Err(Error::Cancelled),
        }
    }

    /// A named noise draw on the device.
    pub(crate) fn noise(&mut self, key: &str, shape: [usize; 4]) -> Result<Tensor<4>> {
        noise::draw_tensor(self.noise, key, shape, &self.pipe.device, self.pipe.dtype)
    }

    /// The reference run's image ending iteration `k`, when the noise source replays one.
    pub(crate) fn forced_image(&mut self, k: usize) -> Option<Image8> {
        self.noise.round_image(k)
    }

    /// The reference run's latent recorded under `key`, when the noise source replays one.
    pub(crate) fn forced_latent(&mut self, key: &str, like: &Tensor<4>) -> Option<Tensor<4>> {
        let values = self.noise.round_latent(key)?;
        Some(Tensor::from_data(TensorData::new(values, like.dims()), (self.device(), self.dtype())))
    }

    /// The next UNet pass follows other work (see [`estimate::Estimate::begin_pass`]).
    pub(crate) fn begin_pass(&mut self) {
        let now = self.sink.clock_ms();
        self.estimate.begin_pass(now);
    }

    /// Called after every UNet step with the new latent under its trajectory key, and with the
    /// clean latent x̂₀ the step predicted when the sink wants previews: sends the latent to a sink that wants latents;
    /// otherwise awaits the readback of the *previous* step (keeping the GPU queue full while
    /// giving a browser's event loop a turn), which for a sink that wants previews is that
    /// step's x̂₀, sent as [`Event::StepPreview`]. Then times the pass and reports progress.
    pub(crate) async fn after_step(&mut self, key: String, latent: &Tensor<4>, x0: Option<Tensor<4>>, at: StepInfo) -> Result<()> {
        let now = self.sink.clock_ms();
        self.estimate.pass_done(at.iteration, now);
        if self.sink.wants_latents() {
            let shape = latent.dims().to_vec();
            let values = read_f32(latent.clone()).await?;
            if let ControlFlow::Break(()) = self.sink.event(Event::Latent { key: &key, shape: &shape, values: &values }) {
                return Err(Error::Cancelled);
            }
        }
        let next = if let Some(x0) = x0 {
            Pending::Preview { x0, stage: at.stage, step: at.step, total: at.total, iteration: at.iteration }
        } else if self.sink.wants_latents() {
            // The latent readback above already waited for this step.
            return self.progress(at.stage, at.step, at.total, at.iteration, at.similarity);
        } else {
            Pending::Probe(latent.clone().reshape([-1]).narrow(0, 0, 1))
        };
        if let Some(prev) = self.pending.replace(next) {
            self.settle(prev).await?;
        }
        self.progress(at.stage, at.step, at.total, at.iteration, at.similarity)
    }

    /// Reads back the step still in flight (the last of a pass), sending its preview.
    pub(crate) async fn flush(&mut self) -> Result<()> {
        match self.pending.take() {
            Some(p) => self.settle(p).await,
            None => Ok(()),
        }
    }

    async fn settle(&mut self, pending: Pending) -> Result<()> {
        match pending {
            Pending::Probe(t) => read_f32(t).await.map(|_| ()),
            Pending::Preview { x0, stage, step, total, iteration } => {
                let [_, _, h, w] = x0.dims();
                let values = read_f32(x0).await?;
                let image = preview::latent_to_rgba(&values, w, h);
                match self.sink.event(Event::StepPreview { stage, step, total, iteration, image: &image }) {
                    ControlFlow::Continue(()) => Ok(()),
                    ControlFlow::Break(()) => Err(Error::Cancelled),
                }
            }
        }
    }

    /// x̂₀ of a step at `t` (batch 1; the preview's input).
    pub(crate) fn predicted_x0(&self, eps: Tensor<4>, t: usize, sample: Tensor<4>) -> Tensor<4> {
        crate::schedulers::predicted_x0(&self.alphas_cumprod, eps, t, sample)
    }

    /// One denoising pass (the official pipeline call's loop) over
    /// `pass.sampler.timesteps()[pass.start..]`: for every timestep a guided UNet step (adapter
    /// on as `pass.adapter` says), the sampler's step (DDPM with the draw
    /// `{prefix}/ddpm/step{i}`; DDIM and DPM-Solver++ draw nothing), the optional background
    /// blend, then the latent as `{prefix}/step{i}`, a preview and a progress event.
    pub(crate) async fn denoise(&mut self, mut x: Tensor<4>, mut pass: Pass<'_>) -> Result<Tensor<4>> {
        let shape = x.dims();
        let timesteps = pass.sampler.timesteps()[pass.start..].to_vec();
        let total = timesteps.len();
        for (i, &t) in timesteps.iter().enumerate() {
            let subject = pass.adapter.active(&self.opts, i).then_some(pass.subject);
            let eps = self.guided_eps(&x, t, pass.ctx, subject, pass.guidance);
            let x0 = self.sink.wants_previews().then(|| self.predicted_x0(eps.clone(), t, x.clone()));
            let z = match pass.sampler.draws_noise() {
                true => Some(self.noise(&format!("{}/ddpm/step{i}", pass.prefix), shape)?),
                false => None,
            };
            x = pass.sampler.step(eps, t, x, z);
            if let Some(b) = &pass.blend {
                // Background from the first round's trajectory, one step noisier: R[i] = z_{n−i}.
                let r = &b.trajectory[(b.trajectory.len() - 1).saturating_sub(i)];
                x = x * b.fg.clone() + r.clone() * b.bg.clone();
            }
            let at = StepInfo { stage: pass.stage, step: i + 1, total, iteration: pass.iteration, similarity: pass.similarity };
            self.after_step(format!("{}/step{i}", pass.prefix), &x, x0, at).await?;
        }
        self.flush().await?;
        Ok(x)
    }

    /// Ends refinement iteration `k`: decodes `x`, embeds the image with CLIP and records its
    /// similarity to the previous image's embedding in `sims` (the auto-stop measure). Returns
    /// the image, its embedding and the similarity.
    pub(crate) async fn decode_and_compare(&mut self, x: Tensor<4>, k: usize, previous: &[f32], sims: &mut Vec<f64>) -> Result<(Image8, Vec<f32>, f64)> {
        self.progress(Stage::Decode, 0, 1, k, sims.last().copied())?;
        let image = self.decode(x).await?;
        let emb = self.clip_embedding(&image).await?;
        let sim = similarity(&emb, previous);
        sims.push(sim);
        Ok((image, emb, sim))
    }

    /// Encodes a prompt → `[1, 77, D]`.
    pub(crate) fn encode_prompt(&self, text: &str) -> Result<Tensor<3>> {
        let (ids, _) = self.m().tokenizer.encode(text)?;
        let ids: Vec<i64> = ids.into_iter().map(i64::from).collect();
        let n = ids.len();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, n]), &self.pipe.device);
        Ok(self.m().text_encoder.forward(ids).cast(self.pipe.dtype))
    }

    /// VAE-encodes an image tensor in [-1, 1] and samples the posterior with the draw `key`,
    /// scaled by the VAE factor.
    pub(crate) fn encode_image(&mut self, image: Tensor<4>, key: &str) -> Result<Tensor<4>> {
        let post = self.m().vae_encoder.forward_limited(image, self.pipe.max_binding);
        let shape = post.mean.dims();
        let noise = self.noise(key, shape)?;
        Ok(post.sample(noise) * self.m().vae_scaling)
    }

    /// Decodes scaled latents to an 8-bit RGB image.
    pub(crate) async fn decode(&self, latents: Tensor<4>) -> Result<Image8> {
        let img = self.m().vae_decoder.forward_limited(latents / self.m().vae_scaling, self.pipe.max_binding);
        let [_, _, h, w] = img.dims();
        let values = read_f32(img).await?;
        Ok(image::from_planar(&values, w, h))
    }

    /// CLIP ViT-B/32 image embedding, L2-normalised, on the host.
    pub(crate) async fn clip_embedding(&self, rgb: &Image8) -> Result<Vec<f32>> {
        let model = &self.m().clip_vision;
        let size = model.config().image_size;
        let pixels = clip_preprocess(rgb, size);
        let x = Tensor::from_data(TensorData::new(pixels, [1, 3, size, size]), (self.device(), self.dtype()));
        let mut e = read_f32(model.forward(x)).await?;
        let norm = e.iter().map(|v| v * v).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
        e.iter_mut().for_each(|v| *v /= norm);
        Ok(e)
    }

    /// Classifier-free guided noise prediction: `ε_u + g·(ε_c − ε_u)` from one batch-2 pass
    /// over `[uncond, cond]`.
    pub(crate) fn guided_eps(&self, latent: &Tensor<4>, t: usize, ctx: &Tensor<3>, subject: Option<&SubjectFeatures>, guidance: f64) -> Tensor<4> {
        let x = Tensor::cat(vec![latent.clone(), latent.clone()], 0);
        let refs = match subject {
            Some(s) => RefMode::Inject(s),
            None => RefMode::Off,
        };
        let eps = self.m().unet.forward(x, t as f32, ctx, refs);
        let eps_u = eps.clone().narrow(0, 0, 1);
        let eps_c = eps.narrow(0, 1, 1);
        eps_u.clone() + (eps_c - eps_u) * guidance
    }
}

/// When a denoising pass uses the adapter.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AdapterGate {
    /// Every step.
    Always,
    /// The official gate of the initial run: on at step `i` iff `skip · N < i + 1`.
    After(f64),
}

impl AdapterGate {
    fn active(self, opts: &SamplingOptions, i: usize) -> bool {
        match self {
            Self::Always => true,
            Self::After(skip) => opts.adapter_active(skip, i),
        }
    }
}

/// The edit's latent blend: `x·fg + R[i]·bg` with `R` the first round's inverted trajectory.
pub(crate) struct Blend<'p> {
    pub fg: &'p Tensor<4>,
    pub bg: &'p Tensor<4>,
    pub trajectory: &'p [Tensor<4>],
}

/// What one denoising pass runs with (see [`Job::denoise`]).
pub(crate) struct Pass<'p> {
    /// A freshly set sampler (diffusers resets its scheduler at every pipeline call).
    pub sampler: Sampler,
    /// The first step: 0, or `int(N − r·N)` for the loops (`timesteps[latents_steps:]`).
    pub start: usize,
    /// `[uncond; cond]` text embeddings.
    pub ctx: &'p Tensor<3>,
    pub subject: &'p SubjectFeatures,
    pub adapter: AdapterGate,
    pub guidance: f64,
    /// Key prefix of the pass's draws and latents: `run0`, `loop{k}`, `edit/loop{k}`.
    pub prefix: String,
    pub stage: Stage,
    pub iteration: usize,
    pub similarity: Option<f64>,
    pub blend: Option<Blend<'p>>,
}

/// Cosine similarity of two normalised embeddings.
pub(crate) fn similarity(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

