//! Running the pipelines against the Python oracle (`tests/gen/make_pipeline_oracle.py`) and
//! judging them; the test files `pipeline.rs` (CPU) and `wgpu_pipeline.rs` (wgpu) call it.
//!
//! The oracle runs the official EZIGen code on the tiny models with every random draw taken from a
//! named-noise table. The same noise is replayed here and the latent after every step, every
//! decoded image and every similarity are compared.
//!
//! Every refinement round starts from an 8-bit image (the official loop decodes, rounds to
//! uint8 and re-encodes), an amplifier: float differences of ~1e-5 flip the rounding of a few
//! hundred pixel values by one level and move the next latent by up to ~1e-3, on whichever side
//! of the line a machine's float path lands. So the runs are compared two ways:
//! - **forced** (`Mode::Forced`): every round after the first starts from the oracle's own
//!   input (its image and the first round's background latents), so no round carries amplified
//!   rounding from an earlier one. Every latent of every round is held to the first round's
//!   3e-4 element-wise, images to 2 levels (see `FORCED_LEVELS`), similarities to 1e-4.
//! - **free** (`Mode::Free`): the run goes on from its own results, judged by what does not
//!   depend on where roundings land: every image's PSNR against the oracle's and the
//!   similarities. Bounds and the measurements behind them: `docs/float-paths.md`.

use std::ops::ControlFlow;

use burn::tensor::{DType, Device};
use ezigen::native::DiffusersFolders;
use ezigen::schedulers::SamplerKind;
use ezigen::imageops::Image8;
use ezigen::pipeline::{EditRequest, Event, GenerateRequest, Mask, Output, Pipeline, ProgressSink, ReplayNoise, RgbaImage, RoundInputs, SamplingOptions, SubjectImage};
use crate::{Io, read};
use serde_json::Value;

/// Collects every image and every latent of a run.
#[derive(Default)]
struct Collect {
    images: Vec<(usize, Option<f64>, RgbaImage)>,
    latents: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl ProgressSink for Collect {
    fn event(&mut self, e: Event<'_>) -> ControlFlow<()> {
        match e {
            Event::Image { iteration, similarity, image, .. } => self.images.push((iteration, similarity, image.clone())),
            Event::Latent { key, shape, values } => self.latents.push((key.to_string(), shape.to_vec(), values.to_vec())),
            Event::Progress { .. } | Event::StepPreview { .. } => {}
        }
        ControlFlow::Continue(())
    }

    fn wants_latents(&self) -> bool {
        true
    }
}

fn params(io: &Io) -> Value {
    serde_json::from_str(io.metadata("params").expect("params metadata")).unwrap()
}

fn options(p: &Value) -> SamplingOptions {
    SamplingOptions {
        seed: p["noise_seed"].as_u64().unwrap(),
        sampler: SamplerKind::parse(p["sampler"].as_str().unwrap_or("ddpm")).expect("a known sampler"),
        steps: p["infer_steps"].as_u64().unwrap() as usize,
        guidance: p["guidance_scale_initial_run"].as_f64().unwrap_or(7.5),
        edit_guidance: p["guidance_scale_loop"].as_f64().unwrap(),
        split_ratio: p["split_ratio"].as_f64().unwrap(),
        sim_threshold: 0.99,
        iterations: Some(p["iterations"].as_u64().unwrap() as usize),
    }
}

fn rgba_from(io: &Io, name: &str) -> RgbaImage {
    let shape = io.shape(name);
    let raw = io.raw(name).to_vec();
    let data = match shape[2] {
        4 => raw,
        3 => raw.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
        c => panic!("{c} channels"),
    };
    RgbaImage::new(shape[1], shape[0], data).unwrap()
}

/// The oracle's noise; in a forced run also its round inputs.
fn noise(case: &str, io: &Io, mode: Mode) -> ReplayNoise {
    let file = format!("pipeline/{case}.noise.safetensors");
    let replay = ReplayNoise::from_bytes(&read(&file), &file).unwrap();
    match mode {
        Mode::Forced => replay.with_round_inputs(forced_inputs(io)),
        Mode::Free => replay,
    }
}

/// How a run is compared with the oracle.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// Every round after the first starts from the oracle's own input (its 8-bit image and
    /// background latents): every latent of every round is held to the first round's 3e-4.
    Forced,
    /// The run goes on from its own results: judged by image PSNR and similarities only.
    Free,
}

/// Every latent of a forced run, element-wise ([`crate::elementwise_error`]) against the
/// oracle's: 8.3e-5 worst (the scalar CPU build, the edit with DPM-Solver++), 2.7e-5 on the SIMD
/// CPU backend (docs/float-paths.md).
const LATENT_TOL: f32 = 3e-4;
/// Forced runs: an image may differ from the oracle's by this many 8-bit levels. Latents within
/// 3e-4 leave the float images far below a level apart, so a decoded pixel can only round the
/// other way (1 level); the edit's output is that image resized (bicubic, whose weights sum to
/// more than 1 in absolute value), which can turn one level into two.
const FORCED_LEVELS: i32 = 2;
/// Forced runs: CLIP similarity of consecutive images (a few hundred one-level pixel flips move
/// it by ~1e-5).
const FORCED_SIM_TOL: f64 = 1e-4;
/// Free runs: PSNR of every image against the oracle's, in dB. 50 dB is a mean squared error
/// of 0.65 levels²; the float paths of `docs/float-paths.md` stay above 60 dB (a few hundred
/// one- or two-level flips), while a real divergence (a wrong draw, a wrong step) falls far
/// below 30 dB.
const FREE_MIN_PSNR: f64 = 50.0;
/// Free runs: CLIP similarity of consecutive images (measured ≤ 1e-4 on every float path).
const FREE_SIM_TOL: f64 = 1e-3;

/// The oracle's round inputs: its images and the first round's background trajectory.
fn forced_inputs(io: &Io) -> RoundInputs {
    let mut forced = RoundInputs::default();
    for name in io.names() {
        if let Some(k) = name.strip_prefix("image.").and_then(|k| k.parse::<usize>().ok()) {
            let shape = io.shape(&name);
            let image = Image8 { width: shape[1], height: shape[0], channels: 3, data: io.raw(&name).to_vec() };
            forced.images.insert(k, image);
        } else if name.starts_with("edit/loop1/inv") {
            forced.latents.insert(name.clone(), io.f32(&name));
        }
    }
    forced
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum::<f64>() / a.len() as f64;
    if mse == 0.0 { f64::INFINITY } else { 10.0 * (255.0f64 * 255.0 / mse).log10() }
}

fn check(case: &str, io: &Io, out: &Output, sink: &Collect, replay: &ReplayNoise, label: &str, mode: Mode) {
    let label = format!("{label} {}", if mode == Mode::Forced { "forced" } else { "free" });
    // Every recorded latent: all of them in a forced run, as a figure only in a free one.
    let mut worst = 0f32;
    let n = sink.latents.len();
    for (key, shape, values) in &sink.latents {
        assert!(io.has(key), "{case}: the oracle has no {key}");
        assert_eq!(shape, &io.shape(key), "{case}: {key} shape");
        let (rel, at) = crate::elementwise_error(values, &io.f32(key));
        worst = worst.max(rel);
        if std::env::var("EZIGEN_TRACE").is_ok() {
            eprintln!("  {key}: rel {rel:.3e}");
        }
        if mode == Mode::Forced {
            assert!(rel <= LATENT_TOL, "{case} {label}: {key} differs: element-wise {rel:.3e} at [{at}]");
        }
    }
    if mode == Mode::Forced {
        eprintln!("PARITY pipeline {case} {label} latents: {n} latents, worst rel {worst:.3e} (tol {LATENT_TOL:.0e})");
    } else {
        eprintln!("FIGURE pipeline {case} {label} latents: {n} latents, worst rel {worst:.3e} (not checked)");
    }
    // Every image and similarity.
    let sims = io.f32("similarity");
    assert_eq!(out.iterations, sims.len());
    let (mut worst_levels, mut worst_psnr, mut worst_sim) = (0, f64::INFINITY, 0f64);
    for (k, sim, img) in &sink.images {
        let key = if io.has(&format!("output.{k}")) { format!("output.{k}") } else { format!("image.{k}") };
        let shape = io.shape(&key);
        assert_eq!((img.height, img.width), (shape[0], shape[1]), "{case}: {key} size");
        let expected = io.raw(&key);
        let ours: Vec<u8> = img.data.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
        let levels = ours.iter().zip(expected).map(|(a, b)| (*a as i32 - *b as i32).abs()).max().unwrap();
        let p = psnr(&ours, expected);
        worst_levels = worst_levels.max(levels);
        worst_psnr = worst_psnr.min(p);
        match mode {
            Mode::Forced => assert!(levels <= FORCED_LEVELS, "{case} {label}: {key} differs by {levels} levels"),
            Mode::Free => assert!(p >= FREE_MIN_PSNR, "{case} {label}: {key} PSNR {p:.1} dB against the oracle"),
        }
        if let Some(s) = sim {
            let e = sims[*k - 1] as f64;
            let d = (s - e).abs();
            worst_sim = worst_sim.max(d);
            let tol = if mode == Mode::Forced { FORCED_SIM_TOL } else { FREE_SIM_TOL };
            assert!(d <= tol, "{case} {label}: similarity {k}: {s} vs {e}");
        }
    }
    let sim_tol = if mode == Mode::Forced { FORCED_SIM_TOL } else { FREE_SIM_TOL };
    if mode == Mode::Forced {
        eprintln!("PARITY pipeline {case} {label} images: worst {worst_levels} levels (tol {FORCED_LEVELS}), worst PSNR {worst_psnr:.2} dB");
    } else {
        // As an error figure for the table: the mean squared error in levels² against its bound.
        let mse = 255.0f64.powi(2) / 10f64.powf(worst_psnr / 10.0);
        let bound = 255.0f64.powi(2) / 10f64.powf(FREE_MIN_PSNR / 10.0);
        eprintln!("PARITY pipeline {case} {label} images: worst {worst_levels} levels, worst PSNR {worst_psnr:.2} dB = worst abs {mse:.3e} levels² (tol {bound:.1e})");
    }
    eprintln!("PARITY pipeline {case} {label} similarity: worst abs {worst_sim:.3e} (tol {sim_tol:.0e})");
    // Every recorded draw was consumed, in the oracle's order.
    let order: Vec<String> = serde_json::from_str(io.metadata("noise_keys_in_order").unwrap_or("[]")).unwrap_or_default();
    if !order.is_empty() {
        assert_eq!(replay.used(), order.as_slice(), "{case}: noise consumption order");
    }
}

/// Runs the generate case `case` ("generate", or "generate_2subjects" with two photos of the
/// subject) against the oracle.
pub fn run_generate(pipe: &Pipeline, case: &str, label: &str, mode: Mode) {
    let io = Io::load(&format!("pipeline/{case}.safetensors"));
    let p = params(&io);
    let mut req = GenerateRequest::new(rgba_from(&io, "input.subject_rgba"), p["target_prompt"].as_str().unwrap(), p["subject_prompt"].as_str().unwrap());
    if io.has("input.subject2_rgba") {
        req.subjects.push(SubjectImage::new(rgba_from(&io, "input.subject2_rgba")));
    }
    req.negative_prompt = p["negative_prompt_initial_run"].as_str().unwrap().to_string();
    req.loop_negative_prompt = p["loop_uncond"].as_str().unwrap().to_string();
    req.options = options(&p);
    let mut replay = noise(case, &io, mode);
    let mut sink = Collect::default();
    let out = pollster::block_on(pipe.generate(&req, &mut replay, &mut sink)).unwrap();
    check(case, &io, &out, &sink, &replay, label, mode);
}

pub fn run_edit(pipe: &Pipeline, case: &str, label: &str, mode: Mode) {
    let io = Io::load(&format!("pipeline/{case}.safetensors"));
    let p = params(&io);
    let shape = io.shape("input.mask");
    let mask = Mask::new(shape[1], shape[0], io.raw("input.mask").to_vec()).unwrap();
    let gen_io = Io::load("pipeline/generate.safetensors");
    let subject = if io.has("input.subject_rgba") { rgba_from(&io, "input.subject_rgba") } else { rgba_from(&gen_io, "input.subject_rgba") };
    let mut req = EditRequest::new(
        rgba_from(&io, "input.source_rgb"),
        mask,
        subject,
        p["target_prompt"].as_str().unwrap(),
        p["subject_prompt"].as_str().unwrap(),
    );
    req.negative_prompt = p["loop_uncond"].as_str().unwrap().to_string();
    req.options = options(&p);
    let mut replay = noise(case, &io, mode);
    let mut sink = Collect::default();
    let out = pollster::block_on(pipe.edit(&req, &mut replay, &mut sink)).unwrap();
    let resized: Vec<usize> = p["resized_size"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    assert_eq!((out.image.width, out.image.height), (resized[0], resized[1]), "{case}: output size");
    check(case, &io, &out, &sink, &replay, label, mode);
}

pub fn tiny(device: &Device) -> Pipeline {
    DiffusersFolders::builtin_tiny().load(device, DType::F32).unwrap()
}

