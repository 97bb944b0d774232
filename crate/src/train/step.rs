//! One training step of spec §6.2 (official `train.py` main loop): subject features from the
//! reference pass, the drop rule, the noised target, the adapter-on main pass and
//! `MSE(ε̂, ε)`; then gradient clipping and AdamW over the trainable tensors.

use burn::tensor::{DType, Device, Int, Tensor, TensorData};

use super::{AdamW, AdamWConfig, StepConfig, clip_grad_norm};
use crate::models::clip::ClipTextModel;
use crate::models::unet::{FeatureBank, RefMode, UNet2DConditionModel};
use crate::models::vae::VaeEncoder;
use crate::schedulers::SchedulerConfig;
use crate::schedulers::ddpm::DdpmScheduler;
use crate::tokenizer::ClipTokenizer;

/// The models a training run uses (no decoder, no CLIP vision: those only serve validation).
pub struct TrainModels {
    /// CLIP BPE tokenizer.
    pub tokenizer: ClipTokenizer,
    /// Frozen text encoder.
    pub text_encoder: ClipTextModel,
    /// The UNet with adapters: frozen stock weights, trainable adapters and `learnable_weights`.
    /// It also serves the reference pass (capture runs the stock blocks only).
    pub unet: UNet2DConditionModel,
    /// Frozen VAE encoder.
    pub vae_encoder: VaeEncoder,
    /// Scheduler constants (the training noise schedule).
    pub scheduler: SchedulerConfig,
    /// VAE scaling factor.
    pub vae_scaling: f64,
}

/// One training sample, already preprocessed as the official datasets return it.
#[derive(Clone, Debug)]
pub struct TrainSample {
    /// Target image `[1, 3, S, S]` in [-1, 1].
    pub target: Tensor<4>,
    /// Subject images `[num_sub_img, 3, S, S]` in [-1, 1], padded with zeros (mid-grey).
    pub subjects: Tensor<4>,
    /// Target caption ids (77).
    pub input_ids: Vec<u32>,
    /// Subject prompt ids, one row of 77 per slot (padding slots all 0, i.e. "!").
    pub subject_input_ids: Vec<Vec<u32>>,
}

/// The random draws of one step (named as in `tests/gen/make_train_oracle.py`).
#[derive(Clone, Debug)]
pub struct StepDraws {
    /// Target timestep, uniform in [0, 1000).
    pub timestep: usize,
    /// Whether the subject features are zeroed this step (the drop rule's outcome).
    pub drop: bool,
    /// `subject/posterior`: posterior sample noise of the subject latents `[num_sub_img, 4, s, s]`.
    pub subject_posterior: Tensor<4>,
    /// `subject/t1`: the one noise `[1, 4, s, s]` shared by all subject latents at T_sub.
    pub subject_t1: Tensor<4>,
    /// `target/posterior`: posterior sample noise of the target latent `[1, 4, s, s]`.
    pub target_posterior: Tensor<4>,
    /// `target/noise`: ε `[1, 4, s, s]`, the regression target.
    pub target_noise: Tensor<4>,
}

impl TrainSample {
    /// Collates a preprocessed sample as the official `collate_fn` does: the subjects padded
    /// to `num_sub_img` with all-zero (mid-grey) images and all-zero ("!") prompt ids.
    pub fn from_raw(raw: &super::data::RawSample, tokenizer: &ClipTokenizer, num_sub_img: usize, device: &Device) -> crate::Result<Self> {
        let r = raw.target.width;
        let image = |img: &crate::imageops::Image8| img.to_planar(&[0.5; 3], &[0.5; 3]);
        let mut subjects: Vec<f32> = raw.subjects.iter().take(num_sub_img).flat_map(image).collect();
        subjects.resize(num_sub_img * 3 * r * r, 0.0);
        let target = Tensor::from_data(TensorData::new(image(&raw.target), [1, 3, r, r]), (device, DType::F32));
        let subjects = Tensor::from_data(TensorData::new(subjects, [num_sub_img, 3, r, r]), (device, DType::F32));
        let input_ids = tokenizer.encode(&raw.caption)?.0;
        let mut subject_input_ids = raw.subject_prompts.iter().take(num_sub_img).map(|p| tokenizer.encode(p).map(|e| e.0)).collect::<crate::Result<Vec<_>>>()?;
        subject_input_ids.resize(num_sub_img, vec![0; input_ids.len()]);
        Ok(Self { target, subjects, input_ids, subject_input_ids })
    }
}

impl StepDraws {
    /// The draws of micro-sample `k` of a run seeded with `seed`: the timestep and the drop
    /// rule's `randint(1, 10)` from the integer stream `("draws", k)`, the Gaussian tensors
    /// from the named-noise stream under `train/sample{k}/…`. `s` is the latent size.
    pub fn seeded(seed: u64, k: u64, config: &StepConfig, num_timesteps: usize, s: usize, device: &Device) -> crate::Result<Self> {
        use crate::pipeline::noise::{NoiseSource, SeededNoise};
        let mut rng = super::rng::Rng::keyed(seed, "draws", k);
        let timestep = rng.below(num_timesteps as u64) as usize;
        let drop = config.drops(1 + rng.below(10) as u32);
        let mut noise = SeededNoise::new(seed);
        let mut draw = |name: &str, b: usize| -> crate::Result<Tensor<4>> {
            let shape = [b, 4, s, s];
            let values = noise.draw(&format!("train/sample{k}/{name}"), shape)?;
            Ok(Tensor::from_data(TensorData::new(values, shape), (device, DType::F32)))
        };
        Ok(Self {
            timestep,
            drop,
            subject_posterior: draw("subject/posterior", config.num_sub_img)?,
            subject_t1: draw("subject/t1", 1)?,
            target_posterior: draw("target/posterior", 1)?,
            target_noise: draw("target/noise", 1)?,
        })
    }
}

/// The loss of one forward pass and the gradients of every trainable tensor (flat, by key,
/// in [`UNet2DConditionModel::visit_trainable`] order), before clipping.
pub struct TrainerGrads {
    /// `MSE(ε̂, ε)`.
    pub loss: f32,
    /// Gradients by key.
    pub grads: Vec<(String, Tensor<1>)>,
}

/// The models, the optimiser and the step constants of one run.
pub struct Trainer {
    /// The models (the UNet's trainable tensors are autodiff leaves).
    pub models: TrainModels,
    /// AdamW with its state.
    pub optimizer: AdamW,
    /// Per-step constants.
    pub config: StepConfig,
    /// Gradient-norm clipping threshold (1.0).
    pub max_grad_norm: f64,
    /// burn's balanced gradient checkpointing on the trainable leaves (memory-bound
    /// intermediates such as the softmax chain are recomputed in the backward pass instead of
    /// kept); off by default.
    pub checkpointing: bool,
    /// Differentiate the main pass segment by segment, recomputing each in the backward pass
    /// (see [`Trainer::gradients`]); off by default.
    pub segmented: bool,
    ddpm: DdpmScheduler,
}

impl Trainer {
    /// Makes the UNet's adapter tensors and `learnable_weights` trainable leaves.
    pub fn new(mut models: TrainModels, optimizer: AdamWConfig, config: StepConfig, max_grad_norm: f64) -> Self {
        models.unet.visit_trainable(&mut |_, mut p| p.make_trainable());
        let ddpm = DdpmScheduler::new(&models.scheduler, 1);
        Self { models, optimizer: AdamW::new(optimizer), config, max_grad_norm, checkpointing: false, segmented: false, ddpm }
    }

    /// `--low-memory`: segment-by-segment differentiation with balanced checkpointing (or
    /// neither).
    pub fn set_low_memory(&mut self, on: bool) {
        self.segmented = on;
        self.checkpointing = on;
        self.models.unet.visit_trainable(&mut |_, mut p| p.make_trainable_with(on));
    }

    /// The trainable tensors' keys and current values (flat, without autodiff).
    pub fn parameters(&mut self) -> Vec<(String, Tensor<1>)> {
        let mut out = Vec::new();
        self.models.unet.visit_trainable(&mut |key, p| out.push((key.to_string(), p.flat().inner())));
        out
    }

    /// The forward pass of §6.2 and its backward pass: loss and gradients, before clipping.
    pub fn gradients(&mut self, sample: &TrainSample, draws: &StepDraws) -> TrainerGrads {
        let m = &self.models;
        let device = sample.target.device();
        let n_sub = sample.subjects.dims()[0];
        let ids = |rows: &[Vec<u32>]| -> Tensor<2, Int> {
            let flat: Vec<i64> = rows.iter().flatten().map(|&t| i64::from(t)).collect();
            Tensor::from_data(TensorData::new(flat, [rows.len(), rows[0].len()]), &device)
        };
        // 1–3: subject latents at T_sub with one shared noise, reference pass with the subject
        // prompts, the captured norm1 features of the n_sub images side by side along tokens.
        let t_sub = self.config.subject_timestep;
        let latents = m.vae_encoder.forward(sample.subjects.clone()).sample(draws.subject_posterior.clone()) * m.vae_scaling;
        let noisy = self.ddpm.add_noise(latents, draws.subject_t1.clone().repeat_dim(0, n_sub), t_sub);
        let context = m.text_encoder.forward(ids(&sample.subject_input_ids));
        let mut bank = FeatureBank::default();
        let _ = m.unet.forward(noisy, t_sub as f32, &context, RefMode::Capture(&mut bank));
        let features = bank
            .features
            .into_iter()
            .map(|f| {
                let [b, hw, c] = f.dims();
                let f = f.reshape([1, b * hw, c]);
                // 4: the drop rule zeroes the features (zero keys and values, no bias).
                if draws.drop { f.zeros_like() } else { f }
            })
            .collect();
        // 5: the noised target latent and its caption.
        let target = m.vae_encoder.forward(sample.target.clone()).sample(draws.target_posterior.clone()) * m.vae_scaling;
        let noisy = self.ddpm.add_noise(target, draws.target_noise.clone(), draws.timestep);
        let context = m.text_encoder.forward(ids(std::slice::from_ref(&sample.input_ids)));
        // 6: the main pass with every adapter active; MSE over all elements.
        if self.segmented {
            return self.gradients_segmented(features, noisy, context, draws);
        }
        let subject = m.unet.subject_features(&FeatureBank { features }, 1);
        let pred = m.unet.forward(noisy, draws.timestep as f32, &context, RefMode::Inject(&subject));
        let diff = pred - draws.target_noise.clone();
        let loss = (diff.clone() * diff).mean();
        let grads = loss.backward();
        let loss = super::host_scalar(loss.inner());
        let mut out = Vec::new();
        self.models.unet.visit_trainable(&mut |key, p| {
            let g = p.grad_flat(&grads).unwrap_or_else(|| p.flat().inner().zeros_like());
            out.push((key.to_string(), g));
        });
        TrainerGrads { loss, grads: out }
    }

    /// Step 6 by segments ([`crate::models::unet::segments`]): the main pass runs once without
    /// keeping any graph, recording each segment's inputs; then, from the output back, each
    /// segment is recomputed with autodiff and differentiated against the gradient of its
    /// output (`sum(out · g)`), giving its parameters' gradients and its inputs' gradient. Only
    /// one segment's graph exists at a time. The same operations as the monolithic pass, so
    /// the same gradients up to summation order.
    fn gradients_segmented(&mut self, features: Vec<Tensor<3>>, noisy: Tensor<4>, context: Tensor<3>, draws: &StepDraws) -> TrainerGrads {
        use burn::tensor::GradientCheckpointingStrategy as S;
        let strategy = if self.checkpointing { S::Balanced } else { S::Disabled };
        let leaf = |t: Tensor<4>| t.autodiff().with_gradient_checkpointing_strategy(strategy).require_grad();
        let mut leaves = Vec::new();
        self.models.unet.visit_trainable(&mut |key, p| leaves.push((key.to_string(), p.leaf())));
        let unet = &self.models.unet;
        // The forward pass runs on a copy whose trainable tensors are plain (no autodiff), so it
        // builds no graph at all; only the recomputations below differentiate.
        let mut plain = unet.clone();
        plain.visit_trainable(&mut |_, mut p| p.make_plain());
        let device = noisy.device();
        let segments = unet.segments();
        let plain_segments = plain.segments();
        let temb = unet.time_embedding_for(draws.timestep as f32, 1, noisy.dtype(), &device);
        let subject = |k: Option<usize>| k.map(|k| unet.subject_feature(&features[k], k));

        struct Record {
            x: Tensor<4>,
            skip: Option<(usize, Tensor<4>)>,
            size: Option<[usize; 2]>,
            pushed: Option<usize>,
        }
        let mut records = Vec::with_capacity(segments.len());
        let mut stack: Vec<(usize, Tensor<4>)> = Vec::new();
        let mut pushed_count = 0;
        let mut x = noisy;
        let plain_subject = |k: Option<usize>| k.map(|k| plain.subject_feature(&features[k], k));
        for seg in &plain_segments {
            let skip = if seg.pops_skip() { stack.pop() } else { None };
            let size = matches!(seg, crate::models::unet::segments::Segment::Upsample(_)).then(|| {
                let [_, _, h, w] = stack.last().map(|s| s.1.dims()).unwrap_or(x.dims());
                [h, w]
            });
            let out = seg.run(&plain, x.clone(), skip.as_ref().map(|s| s.1.clone()), size, &temb, &context, plain_subject(seg.block()));
            let pushed = seg.pushes_skip().then(|| {
                stack.push((pushed_count, out.clone()));
                pushed_count += 1;
                pushed_count - 1
            });
            records.push(Record { x, skip, size, pushed });
            x = out;
        }
        let n = x.dims().iter().product::<usize>() as f64;
        let diff = x - draws.target_noise.clone();
        let loss = super::host_scalar((diff.clone() * diff.clone()).mean());
        let mut g_out = diff * (2.0 / n);

        let first = segments.iter().position(|s| s.block().is_some()).unwrap_or(0);
        let mut skip_grads: Vec<Option<Tensor<4>>> = vec![None; pushed_count];
        let mut acc: Vec<Option<Tensor<1>>> = vec![None; leaves.len()];
        for i in (first..segments.len()).rev() {
            let (seg, rec) = (&segments[i], &records[i]);
            if let Some(id) = rec.pushed {
                if let Some(g) = skip_grads[id].take() {
                    g_out = g_out + g;
                }
            }
            let x_in = leaf(rec.x.clone());
            let skip_in = rec.skip.as_ref().map(|(id, s)| (*id, leaf(s.clone())));
            let out = seg.run(unet, x_in.clone(), skip_in.as_ref().map(|s| s.1.clone()), rec.size, &temb, &context, subject(seg.block()));
            let grads = (out * g_out.clone()).sum().backward();
            for ((_, l), a) in leaves.iter().zip(acc.iter_mut()) {
                if let Some(g) = l.grad_flat(&grads) {
                    *a = Some(match a.take() {
                        Some(prev) => prev + g,
                        None => g,
                    });
                }
            }
            if let Some((id, s)) = skip_in {
                skip_grads[id] = s.grad(&grads);
            }
            if i > first {
                g_out = x_in.grad(&grads).unwrap_or_else(|| rec.x.zeros_like());
            }
        }
        let grads = leaves
            .into_iter()
            .zip(acc)
            .map(|((key, l), g)| {
                let zeros = || match &l {
                    crate::nn::ParamLeaf::Vector(t) => t.clone().inner().zeros_like(),
                    crate::nn::ParamLeaf::Matrix(t) => {
                        let n = t.dims().iter().product::<usize>();
                        t.clone().inner().reshape([n]).zeros_like()
                    }
                };
                (key, g.unwrap_or_else(zeros))
            })
            .collect();
        TrainerGrads { loss, grads }
    }

    /// Clips the gradients (total norm `max_grad_norm`) and takes one AdamW step; returns the
    /// total gradient norm before clipping.
    pub fn apply(&mut self, grads: TrainerGrads) -> f32 {
        let (keys, mut values): (Vec<String>, Vec<Tensor<1>>) = grads.grads.into_iter().unzip();
        let norm = clip_grad_norm(&mut values, self.max_grad_norm);
        let mut by_key: std::collections::BTreeMap<String, Tensor<1>> = keys.into_iter().zip(values).collect();
        let optimizer = &mut self.optimizer;
        let checkpointing = self.checkpointing;
        optimizer.begin_step();
        self.models.unet.visit_trainable(&mut |key, mut p| {
            if let Some(g) = by_key.remove(key) {
                let updated = optimizer.update(key, p.flat().inner(), g);
                p.set_flat(updated);
                p.make_trainable_with(checkpointing);
            }
        });
        norm
    }

    /// One full step: gradients, clipping, AdamW. Returns (loss, gradient norm).
    pub fn step(&mut self, sample: &TrainSample, draws: &StepDraws) -> (f32, f32) {
        let grads = self.gradients(sample, draws);
        let loss = grads.loss;
        (loss, self.apply(grads))
    }
}
