//! Subject-driven editing (spec §5): the source resized to short side 512 (aspect kept), the
//! mask reduced to the latent, DPM-Solver++(2M) inversion with the stock UNet and the
//! "exception" conditioning, then denoising with the adapter on and the background blended in
//! from the first round's inverted trajectory after every step; iterated with auto-stop.

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::image::{self, Mask, RgbaImage};
use super::subject::{SubjectImage, check_subjects};
use super::{AdapterGate, Blend, EXCEPTION_TOKEN, Job, StepInfo, NoiseSource, Output, Pass, Pipeline, ProgressSink, SamplingOptions, Stage};
use crate::imageops::{Filter, Image8};
use crate::models::unet::RefMode;
use crate::schedulers::{DpmSolverInverse, Sampler};
use crate::{Error, Result};

/// Inputs of an edit (the page sends it as one object).
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct EditRequest {
    /// The photo to edit.
    pub source: RgbaImage,
    /// Where the subject goes: same size as `source` (foreground as [`Mask`] says).
    pub mask: Mask,
    /// 1–4 photos of the subject, each with an optional mask.
    pub subjects: Vec<SubjectImage>,
    /// Target prompt.
    pub prompt: String,
    /// Subject class prompt.
    pub subject_prompt: String,
    /// Uncond text ("" officially).
    #[serde(skip)]
    pub negative_prompt: String,
    /// Composite the untouched background in pixel space after decoding (off by default:
    /// the official output does not).
    pub composite_background: bool,
    /// Sampling options (the loop guidance is `edit_guidance`).
    #[serde(flatten)]
    pub options: SamplingOptions,
}

impl EditRequest {
    /// A request with the official defaults.
    pub fn new(source: RgbaImage, mask: Mask, subject: RgbaImage, prompt: &str, subject_prompt: &str) -> Self {
        Self {
            source,
            mask,
            subjects: vec![SubjectImage::new(subject)],
            prompt: prompt.to_string(),
            subject_prompt: subject_prompt.to_string(),
            negative_prompt: String::new(),
            composite_background: false,
            options: SamplingOptions::default(),
        }
    }

    /// Checks the request; errors name the problem (mask size vs source size, empty mask).
    pub fn validate(&self) -> Result<()> {
        self.options.validate()?;
        self.source.check()?;
        self.source.check_aspect("the source image")?;
        self.mask.check()?;
        check_subjects(&self.subjects)?;
        if self.prompt.trim().is_empty() {
            return Err(Error::Input("the prompt is empty: describe the edited image".into()));
        }
        if self.mask.width != self.source.width || self.mask.height != self.source.height {
            return Err(Error::Input(format!(
                "the mask is {}×{} but the source image is {}×{}: they must be the same size",
                self.mask.width, self.mask.height, self.source.width, self.source.height
            )));
        }
        if self.mask.is_empty() {
            return Err(Error::Input("the mask is empty: paint where the subject should go".into()));
        }
        Ok(())
    }
}

/// The official mask preprocessing of the binary mask ([`Mask::binary`]; official masks are
/// 0 / 255 already): short-side resize (bicubic), foreground = exactly 255, OpenCV linear resize
/// to the square model size, then bilinear reduction to the latent. Returns the latent-size
/// foreground weights.
fn latent_mask(mask: &Mask, w: usize, h: usize, size: usize, lw: usize, lh: usize) -> Vec<f32> {
    let m = Image8 { width: mask.width, height: mask.height, channels: 1, data: mask.binary() };
    let m = image::bound_size(m).resize(w, h, Filter::Bicubic);
    let binary: Vec<u8> = m.data.iter().map(|&v| v / 255).collect();
    let square = crate::imageops::cv2_resize_linear(&binary, w, h, size, size);
    let f: Vec<f32> = square.iter().map(|&v| v as f32).collect();
    image::torch_bilinear(&f, size, size, lw, lh)
}

impl Pipeline {
    /// Runs an edit; the output has the source's resized size (short side = the model size).
    pub async fn edit(&self, req: &EditRequest, noise: &mut dyn NoiseSource, sink: &mut dyn ProgressSink) -> Result<Output> {
        req.validate()?;
        Job::new(self, req.options.clone(), true, noise, sink).edit(req).await
    }
}

impl Job<'_> {
    /// Inverts `rgb` for `split_ratio · N` steps; returns [z0, …, z_n].
    async fn invert(&mut self, rgb: &Image8, k: usize, exclip: &Tensor<3>) -> Result<Vec<Tensor<4>>> {
        let opts = self.opts.clone();
        self.begin_pass();
        let x = image::to_tensor_f64(rgb, self.device(), self.dtype());
        let mut z = self.encode_image(x, &format!("edit/loop{k}/posterior"))?;
        let mut inv = DpmSolverInverse::new(&self.m().scheduler, opts.steps);
        let steps = opts.transfer_steps();
        let mut traj = vec![z.clone()];
        for j in 0..steps {
            let t = inv.timesteps()[j];
            let eps = self.m().unet.forward(z.clone(), t as f32, exclip, RefMode::Off);
            let x0 = self.sink.wants_previews().then(|| self.predicted_x0(eps.clone(), t, z.clone()));
            z = inv.step(eps, z);
            traj.push(z.clone());
            let at = StepInfo { stage: Stage::Inversion, step: j + 1, total: steps, iteration: k, similarity: None };
            self.after_step(format!("edit/loop{k}/inv{j}"), &z, x0, at).await?;
        }
        self.flush().await?;
        Ok(traj)
    }

    async fn edit(&mut self, req: &EditRequest) -> Result<Output> {
        let opts = self.opts.clone();
        let size = self.pipe.image_size();

        // Source and mask at short side = model size.
        let src = image::bound_size(req.source.to_rgb_on_white());
        let (w, h) = if src.width <= src.height {
            (size, (size as f64 * src.height as f64 / src.width as f64) as usize)
        } else {
            ((size as f64 * src.width as f64 / src.height as f64) as usize, size)
        };
        let src = src.resize(w, h, Filter::Bicubic);
        let (lw, lh) = (w / 8, h / 8);
        let fg_values = latent_mask(&req.mask, w, h, size, lw, lh);
        if fg_values.iter().all(|&v| v == 0.0) {
            return Err(Error::Input("the mask is too small: nothing of it survives at the model's resolution".into()));
        }
        let fg: Tensor<4> = Tensor::from_data(TensorData::new(fg_values, [1, 1, lh, lw]), (self.device(), self.dtype()))
            .repeat_dim(1, 4);
        let bg = fg.clone().neg() + 1.0;

        self.progress(Stage::EncodeText, 0, 3, 0, None)?;
        let cond = self.encode_prompt(&req.prompt)?;
        let ctx = Tensor::cat(vec![self.encode_prompt(&req.negative_prompt)?, cond], 0);
        let exclip = self.m().text_encoder.forward_exception(EXCEPTION_TOKEN, crate::tokenizer::MAX_LENGTH).cast(self.dtype());
        self.progress(Stage::EncodeText, 3, 3, 0, None)?;

        let subject = self.subject_features(&req.subjects, &req.subject_prompt)?;

        let start = opts.layout_steps();
        let mut current = src.clone();
        let mut current_emb = self.clip_embedding(&current).await?;
        self.image(0, None, &RgbaImage::from_rgb(&src), false)?;
        let mut background: Option<Vec<Tensor<4>>> = None;
        let mut sims = Vec::new();
        let mut output = src.clone();
        let mut k = 1;
        while opts.continue_loop(k, sims.last().copied()) {
            if k > 1 {
                if let Some(forced) = self.forced_image(k - 1) {
                    current_emb = self.clip_embedding(&forced).await?;
                    current = forced;
                }
                for (j, z) in background.iter_mut().flatten().enumerate().skip(1) {
                    if let Some(f) = self.forced_latent(&format!("edit/loop1/inv{}", j - 1), z) {
                        *z = f;
                    }
                }
            }
            let traj = self.invert(&current, k, &exclip).await?;
            let x = traj.last().expect("inversion has steps").clone();
            let bg_traj = background.get_or_insert(traj);
            let pass = Pass {
                sampler: Sampler::new(opts.sampler, &self.m().scheduler, opts.steps),
                start,
                ctx: &ctx,
                subject: &subject,
                adapter: AdapterGate::Always,
                guidance: opts.edit_guidance,
                prefix: format!("edit/loop{k}"),
                stage: Stage::Transfer,
                iteration: k,
                similarity: sims.last().copied(),
                blend: Some(Blend { fg: &fg, bg: &bg, trajectory: bg_traj }),
            };
            let x = self.denoise(x, pass).await?;
            let (decoded, emb, sim) = self.decode_and_compare(x, k, &current_emb, &mut sims).await?;
            output = decoded.resize(w, h, Filter::Bicubic);
            if req.composite_background {
                output = composite(&src, &output, &req.mask);
            }
            current = decoded;
            current_emb = emb;
            let last = !opts.continue_loop(k + 1, Some(sim));
            self.image(k, Some(sim), &RgbaImage::from_rgb(&output), last)?;
            k += 1;
        }
        Ok(Output { image: RgbaImage::from_rgb(&output), iterations: k - 1, similarities: sims })
    }
}

/// Pixel-space composite: the source outside the (resized) mask, the edit inside.
fn composite(src: &Image8, edited: &Image8, mask: &Mask) -> Image8 {
    let m = Image8 { width: mask.width, height: mask.height, channels: 1, data: mask.data.clone() }
        .resize(src.width, src.height, Filter::Bilinear);
    let mut out = src.clone();
    for (i, px) in out.data.chunks_exact_mut(3).enumerate() {
        let a = m.data[i] as u32;
        for c in 0..3 {
            let e = edited.data[i * 3 + c] as u32;
            px[c] = ((e * a + px[c] as u32 * (255 - a) + 127) / 255) as u8;
        }
    }
    out
}
