//! Parity checks of every model component and scheduler against the diffusers / transformers
//! fixtures, for one device and dtype. The CPU test files (`text_encoder.rs`, `unet.rs`, …) and
//! the wgpu file (`wgpu_parity.rs`) run the same checks against the same fixtures.
//!
//! Every check is element-wise (`assert_close`: each element within `tol · (|e| + mean|e|)`),
//! with tolerances set from `docs/float-paths.md` at about 3× the worst float path or more: f32
//! 1e-4 (the CPU VAE 3e-4); f16 3e-2 (text encoder, CLIP vision), 5e-2 (UNet), 1e-1 (VAE);
//! scheduler trajectories 3e-5.

use burn::tensor::{DType, Device, Tensor};
use ezigen::models::clip::{ClipConfig, ClipTextModel, ClipVisionModel};
use ezigen::models::unet::{FeatureBank, RefMode, UNet2DConditionConfig, UNet2DConditionModel};
use ezigen::models::vae::{AutoencoderKLConfig, VaeDecoder, VaeEncoder};
use ezigen::schedulers::{DdpmScheduler, DpmSolverInverse, Sampler, SamplerKind, SchedulerConfig};
use ezigen::kernels::Kernels;
use ezigen::nn::Vars;
use ezigen::weights::is_adapter_key;

use crate::{Io, assert_close, host, loader, max_diff, read};

fn text_encoder_model(device: &Device, dtype: DType) -> ClipTextModel {
    let config = ClipConfig::from_json(std::str::from_utf8(&read("tiny/text_encoder/config.json")).unwrap(), "text_config").unwrap();
    let loader = loader("text_encoder", &["tiny/text_encoder/model.safetensors"], device, dtype, |_| true)
        .allow_unused("text_model.embeddings.position_ids");
    let model = ClipTextModel::load(&loader.root().into(), &config);
    loader.finish().unwrap();
    model
}

/// `CLIPTextModel`'s last hidden state (weights stored f16 in the fixture).
pub fn text_encoder(name: &str, device: &Device, dtype: DType, tol: f32) {
    let io = Io::load("io/text_encoder.safetensors");
    let expected = io.f32("last_hidden_state");
    let model = text_encoder_model(device, dtype);
    let out = model.forward(io.int_tensor::<2>("input_ids", device));
    assert_eq!(out.dims().to_vec(), io.shape("last_hidden_state"));
    assert_close(&format!("text_encoder {name}"), &host(out), &expected, tol);
}

/// EZIGen's exception conditioning (token 7788 repeated, no positions).
pub fn exclip(name: &str, device: &Device, dtype: DType, tol: f32) {
    let io = Io::load("io/text_encoder.safetensors");
    let expected = io.f32("exclip.last_hidden_state");
    let out = text_encoder_model(device, dtype).forward_exception(7788, 77);
    assert_close(&format!("exclip {name}"), &host(out), &expected, tol);
}

/// `AutoencoderKL`: encoder mean, log-variance and sample, decoder on square and non-square
/// latents (weights stored bf16 in the fixture).
pub fn vae(name: &str, device: &Device, dtype: DType, tol: f32) {
    vae_with(name, device, dtype, tol, Kernels::default());
}

/// [`vae`] with the layers on `kernels`.
pub fn vae_with(name: &str, device: &Device, dtype: DType, tol: f32, kernels: Kernels) {
    let io = Io::load("io/vae.safetensors");
    let config = AutoencoderKLConfig::from_json(std::str::from_utf8(&read("tiny/vae/config.json")).unwrap()).unwrap();
    let l = loader("vae", &["tiny/vae/diffusion_pytorch_model.safetensors"], device, dtype, |_| true);
    let encoder = VaeEncoder::load(&Vars::new(l.root(), kernels), &config);
    let decoder = VaeDecoder::load(&Vars::new(l.root(), kernels), &config);
    l.finish().unwrap();

    let post = encoder.forward(io.tensor("image", device, dtype));
    assert_close(&format!("vae enc.mean {name}"), &host(post.mean.clone()), &io.f32("enc.mean"), tol);
    assert_close(&format!("vae enc.logvar {name}"), &host(post.logvar.clone()), &io.f32("enc.logvar"), tol);
    let sample = post.sample(io.tensor("enc.noise", device, dtype));
    assert_close(&format!("vae enc.sample {name}"), &host(sample), &io.f32("enc.sample"), tol);

    for key in ["dec", "dec_ns"] {
        let img = decoder.forward(io.tensor(&format!("{key}.latent"), device, dtype));
        assert_eq!(img.dims().to_vec(), io.shape(&format!("{key}.image")));
        assert_close(&format!("vae {key}.image {name}"), &host(img), &io.f32(&format!("{key}.image")), tol);
    }
}

/// `CLIPVisionModelWithProjection`'s image embeddings.
pub fn clip_vision(name: &str, device: &Device, dtype: DType, tol: f32) {
    let io = Io::load("io/clip_vision.safetensors");
    let config = ClipConfig::from_json(std::str::from_utf8(&read("tiny/clip/config.json")).unwrap(), "vision_config").unwrap();
    let l = loader("clip_vision", &["tiny/clip/model.safetensors"], device, dtype, |n| {
        n.starts_with("vision_model.") || n.starts_with("visual_projection.")
    })
    .allow_unused("vision_model.embeddings.position_ids");
    let model = ClipVisionModel::load(&l.root().into(), &config);
    l.finish().unwrap();
    let out = model.forward(io.tensor("pixel_values", device, dtype));
    assert_close(&format!("clip_vision image_embeds {name}"), &host(out), &io.f32("image_embeds"), tol);
}

fn unet_model(device: &Device, dtype: DType, kernels: Kernels) -> UNet2DConditionModel {
    let config = UNet2DConditionConfig::from_json(std::str::from_utf8(&read("tiny/unet/config.json")).unwrap()).unwrap();
    let mut store = ezigen::weights::WeightStore::new(device, dtype).keep_f32(&["learnable_weights"]);
    let base = read("tiny/unet/diffusion_pytorch_model.safetensors");
    store.add_safetensors(&base, "unet", |n| Some(n.to_string())).unwrap();
    // Adapters from the full EZIGen checkpoint: only the adapter keys are taken.
    let ckpt = read("tiny/ezigen/checkpoint/model.safetensors");
    store.add_safetensors(&ckpt, "ezigen", |n| is_adapter_key(n).then(|| n.to_string())).unwrap();
    let loader = store.builder("unet");
    let model = UNet2DConditionModel::load(&Vars::new(loader.root(), kernels), &config, true);
    loader.finish().unwrap();
    model
}

/// `UNet2DConditionModel` with EZIGen's capture and adapters: the reference pass and its 16
/// captured features, the stock main pass, the adapter pass and a non-square latent.
pub fn unet(name: &str, device: &Device, dtype: DType, tol: f32) {
    unet_with(name, device, dtype, tol, Kernels::default());
}

/// [`unet`] with the layers on `kernels` (each GEMM choice of the family in turn).
pub fn unet_with(name: &str, device: &Device, dtype: DType, tol: f32, kernels: Kernels) {
    let io = Io::load("io/unet.safetensors");
    let unet = unet_model(device, dtype, kernels);
    assert_eq!(unet.num_transformer_blocks(), 16);

    // Reference pass (capture).
    let ctx = io.tensor::<3>("ref.encoder_hidden_states", device, dtype);
    let t = io.f32("ref.timestep")[0];
    let mut bank = FeatureBank::default();
    let out = unet.forward(io.tensor("ref.sample", device, dtype), t, &ctx, RefMode::Capture(&mut bank));
    assert_close(&format!("unet ref.out {name}"), &host(out), &io.f32("ref.out"), tol);
    assert_eq!(bank.features.len(), 16);
    for (k, f) in bank.features.iter().enumerate() {
        let key = format!("ref.capture.{k}");
        assert_eq!(f.dims().to_vec(), io.shape(&key), "{key} shape");
        assert_close(&format!("unet {key} {name}"), &host(f.clone()), &io.f32(&key), tol);
    }

    // Main pass, stock and with adapters.
    let ctx = io.tensor::<3>("main.encoder_hidden_states", device, dtype);
    let t = io.f32("main.timestep")[0];
    let plain = unet.forward(io.tensor("main.sample", device, dtype), t, &ctx, RefMode::Off);
    assert_close(&format!("unet main.out_plain {name}"), &host(plain), &io.f32("main.out_plain"), tol);
    let subject = unet.subject_features(&bank, 2);
    let adapted = unet.forward(io.tensor("main.sample", device, dtype), t, &ctx, RefMode::Inject(&subject));
    let expected = io.f32("main.out_adapter");
    assert_close(&format!("unet main.out_adapter {name}"), &host(adapted.clone()), &expected, tol);
    // The adapter must change the result (guards against a silently inactive adapter).
    let (d, _) = max_diff(&io.f32("main.out_plain"), &expected);
    assert!(d > 1e-3, "fixture adapter effect is negligible");

    // Non-square latent with the same (square) subject features.
    let ns = unet.forward(io.tensor("ns.sample", device, dtype), t, &ctx, RefMode::Inject(&subject));
    assert_eq!(ns.dims().to_vec(), io.shape("ns.out_adapter"));
    assert_close(&format!("unet ns.out_adapter {name}"), &host(ns), &io.f32("ns.out_adapter"), tol);
}

/// The tiny fixture's scheduler configuration.
pub fn scheduler_config() -> SchedulerConfig {
    let json = std::fs::read_to_string(crate::fixture("tiny/scheduler/scheduler_config.json")).unwrap();
    SchedulerConfig::from_json(&json).unwrap()
}

/// Trajectory tolerance, element-wise ([`crate::elementwise_error`]) at every step.
pub const TRAJ_TOL: f32 = 3e-5;

/// Checks one step of a trajectory element-wise against the recorded latent and returns the
/// figure (`what` names the step in the failure).
fn trajectory_step(actual: Tensor<4>, expected: &[f32], what: &str) -> f32 {
    let (err, at) = crate::elementwise_error(&host(actual), expected);
    assert!(err <= TRAJ_TOL, "{what}: element-wise error {err:.3e} at [{at}] exceeds {TRAJ_TOL:.0e}");
    err
}

/// A DDPM trajectory (`ddpm` from step 0, `ddpm20` from step 30) driven by recorded model
/// outputs and noise.
pub fn ddpm_trajectory(prefix: &str, start: usize, device: &Device, label: &str) {
    let io = Io::load("io/schedulers.safetensors");
    let s = DdpmScheduler::new(&scheduler_config(), 50);
    let mut x: Tensor<4> = io.tensor(&format!("{prefix}.x_init"), device, DType::F32);
    let mut worst = 0f32;
    for (i, &t) in s.timesteps()[start..].iter().enumerate() {
        let eps = io.tensor(&format!("{prefix}.model_out.{i}"), device, DType::F32);
        let z = io.tensor(&format!("{prefix}.noise.{i}"), device, DType::F32);
        x = s.step(eps, t, x, Some(z));
        let expected = io.f32(&format!("{prefix}.x.{i}"));
        worst = worst.max(trajectory_step(x.clone(), &expected, &format!("{prefix} {label} step {i} (t={t})")));
    }
    eprintln!("PARITY {prefix} trajectory {label}: {} steps, worst rel {worst:.3e} (tol {TRAJ_TOL:.0e})", s.timesteps().len() - start);
}

/// The DPM-Solver++(2M) inverse trajectory (20 steps) driven by recorded model outputs.
pub fn dpm_inverse_trajectory(device: &Device, label: &str) {
    let io = Io::load("io/schedulers.safetensors");
    let mut s = DpmSolverInverse::new(&scheduler_config(), 50);
    let mut x: Tensor<4> = io.tensor("dpminv.x_init", device, DType::F32);
    let mut worst = 0f32;
    for i in 0..20 {
        let eps = io.tensor(&format!("dpminv.model_out.{i}"), device, DType::F32);
        x = s.step(eps, x);
        let expected = io.f32(&format!("dpminv.x.{i}"));
        worst = worst.max(trajectory_step(x.clone(), &expected, &format!("dpminv {label} step {i}")));
    }
    eprintln!("PARITY dpminv trajectory {label}: 20 steps, worst rel {worst:.3e} (tol {TRAJ_TOL:.0e})");
}

/// A DDIM or DPM-Solver++ trajectory of `io/samplers.safetensors` (`{sampler}.{case}`, case
/// `full{n}` or `slice{n}`) driven by recorded model outputs: the timesteps exactly, then every
/// step within [`TRAJ_TOL`]. A `slice` case starts a freshly set sampler at
/// `timesteps[int(n − 0.4·n):]`, as the pipeline's loops do.
pub fn sampler_trajectory(sampler: &str, case: &str, device: &Device, label: &str) {
    let io = Io::load("io/samplers.safetensors");
    let kind = SamplerKind::parse(sampler).unwrap();
    let (sliced, n) = match case.strip_prefix("slice") {
        Some(n) => (true, n.parse::<usize>().unwrap()),
        None => (false, case.strip_prefix("full").unwrap().parse::<usize>().unwrap()),
    };
    let mut s = Sampler::new(kind, &scheduler_config(), n);
    let start = if sliced { (n as f64 - 0.4 * n as f64) as usize } else { 0 };
    let timesteps = s.timesteps()[start..].to_vec();
    let key = format!("{sampler}.{case}");
    let expected: Vec<usize> = io.ints(&format!("{key}.timesteps")).iter().map(|&t| t as usize).collect();
    assert_eq!(timesteps, expected, "{key} timesteps");
    let mut x: Tensor<4> = io.tensor(&format!("{key}.x_init"), device, DType::F32);
    let mut worst = 0f32;
    for (i, &t) in timesteps.iter().enumerate() {
        let eps = io.tensor(&format!("{key}.model_out.{i}"), device, DType::F32);
        x = s.step(eps, t, x, None);
        let expected = io.f32(&format!("{key}.x.{i}"));
        worst = worst.max(trajectory_step(x.clone(), &expected, &format!("{key} {label} step {i} (t={t})")));
    }
    eprintln!("PARITY {key} trajectory {label}: {} steps, worst rel {worst:.3e} (tol {TRAJ_TOL:.0e})", timesteps.len());
}

/// Every DDIM and DPM-Solver++ trajectory of `io/samplers.safetensors`.
pub fn sampler_trajectories(device: &Device, label: &str) {
    for sampler in ["ddim", "dpmpp"] {
        for case in ["full25", "full15", "full10", "slice25", "slice15", "slice10"] {
            sampler_trajectory(sampler, case, device, label);
        }
    }
}
