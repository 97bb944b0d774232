//! The benchmark behind `ezigen bench` and the page's "Benchmark" action: times every stage of
//! EZIGen on a loaded [`Pipeline`] and reports each as one JSON object (one line in the CLI).
//!
//! Figures per stage: the first run (includes shader compilation and first allocations), the
//! median and minimum of the warm runs, the GPU dispatches of one warm run, and the device
//! allocator's bytes in use / reserved afterwards. Timing waits for the device by reading one
//! value back, so a figure is device time plus one small readback. Nothing here asserts a
//! speed: the numbers are what was measured.

use burn::tensor::{DType, Distribution, Int, Tensor, TensorData};
use serde::Deserialize;
use serde_json::{Value, json};
use ts_rs::TS;

use crate::Result;
use crate::kernels::flash_attention::{self, Variant};
use crate::kernels::{Kernels, LaunchCounter, gemm, tune};
use crate::models::unet::{FeatureBank, RefMode};
use crate::schedulers::SamplerKind;
use crate::pipeline::{
    EditRequest, GenerateRequest, Mask, NoProgress, Pipeline, Preset, RgbaImage, SamplingOptions, SeededNoise, read_f32,
};

/// What to run and how often.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Latent side of the UNet/VAE stages (64 = 512 px for SD 2.1-base).
    pub latent: usize,
    /// Warm runs per stage (after one first run).
    pub repeats: usize,
    /// Run the full generate and edit (fixed iterations) as well.
    pub pipeline: bool,
    /// The sampler of the full runs (DDPM).
    pub sampler: SamplerKind,
    /// Sampler steps of the full runs.
    pub steps: usize,
    /// Refinement iterations of the full runs (fixed, no auto-stop).
    pub iterations: usize,
    /// Fields added to every record (model, backend, adapter, kernels, …).
    pub labels: serde_json::Map<String, Value>,
    /// Only these stages (`reference_pass`, `unet_step`, `vae_encode`, `vae_decode`,
    /// `clip_vision`, `text_encoder`, `preview`); empty = all. `attention` (the UNet's widest attention
    /// alone) and `gemm` (the widest GEMM problems on every implementation) run only when named.
    pub only: Vec<String>,
    /// The kernels the models were loaded with (the `attention` stage calls the same ones).
    pub kernels: Kernels,
}

/// What the page asks the benchmark for (absent = the default of [`BenchOptions::config`]).
#[derive(Clone, Debug, Default, Deserialize, TS)]
pub struct BenchOptions {
    /// Warm runs per stage (2).
    #[ts(optional)]
    pub repeats: Option<usize>,
    /// Also time a full generate and edit (true).
    #[ts(optional)]
    pub pipeline: Option<bool>,
    /// The sampler of the full runs ("ddpm").
    #[ts(optional)]
    pub sampler: Option<SamplerKind>,
    /// Sampler steps of the full runs (50).
    #[ts(optional)]
    pub steps: Option<usize>,
    /// Refinement iterations of the full runs (3).
    #[ts(optional)]
    pub iterations: Option<usize>,
    /// Latent side of the stages (the model's `sample_size`).
    #[ts(optional)]
    pub latent: Option<usize>,
    /// Only these stages (all).
    #[ts(optional)]
    pub only: Option<Vec<String>>,
    /// Fields added to every record.
    #[ts(optional, type = "Record<string, string | number | boolean>")]
    pub labels: Option<serde_json::Map<String, Value>>,
}

impl BenchOptions {
    /// The configuration these options ask for on a model of latent side `latent`.
    pub fn config(self, latent: usize) -> BenchConfig {
        BenchConfig {
            latent: self.latent.unwrap_or(latent),
            repeats: self.repeats.unwrap_or(2),
            pipeline: self.pipeline.unwrap_or(true),
            sampler: self.sampler.unwrap_or_default(),
            steps: self.steps.unwrap_or(50),
            iterations: self.iterations.unwrap_or(3),
            labels: self.labels.unwrap_or_default(),
            only: self.only.unwrap_or_default(),
            kernels: Kernels::default(),
        }
    }
}

impl BenchConfig {
    fn wants(&self, stage: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == stage)
    }
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            latent: 64,
            repeats: 3,
            pipeline: true,
            sampler: SamplerKind::Ddpm,
            steps: 50,
            iterations: 3,
            labels: serde_json::Map::new(),
            only: Vec::new(),
            kernels: Kernels::default(),
        }
    }
}

/// Waits for `t` by reading one value of it back.
async fn settle<const D: usize>(t: Tensor<D>) -> Result<()> {
    let n = t.shape().num_elements();
    let flat: Tensor<1> = t.reshape([n]);
    read_f32(flat.narrow(0, 0, 1)).await.map(|_| ())
}

/// Runs the benchmark, handing each record to `emit` as soon as it is measured. `now` is a
/// millisecond clock (`Instant` natively, `performance.now()` in the browser).
pub async fn run(pipe: &Pipeline, cfg: &BenchConfig, now: &dyn Fn() -> f64, emit: &mut dyn FnMut(Value)) -> Result<()> {
    let device = pipe.device().clone();
    let dtype = pipe.dtype();
    let m = &pipe.models;
    let l = cfg.latent;
    let size = 8 * l;
    let ctx_dim = m.unet.config().cross_attention_dim;
    let dist = Distribution::Normal(0.0, 1.0);
    let rand4 = |shape: [usize; 4]| Tensor::<4>::random(shape, dist, (&device, DType::F32)).cast(dtype);

    let mut peak_reserved = 0u64;
    let mut record = |name: &str, mut fields: serde_json::Map<String, Value>, peak: &mut u64| {
        fields.insert("bench".into(), json!(name));
        for (k, v) in &cfg.labels {
            fields.entry(k.clone()).or_insert(v.clone());
        }
        if let Some(usage) = device.memory_pool_usage() {
            *peak = (*peak).max(usage.bytes_reserved);
            fields.insert("mem_in_use_bytes".into(), json!(usage.bytes_in_use));
            fields.insert("mem_reserved_bytes".into(), json!(usage.bytes_reserved));
        }
        emit(Value::Object(fields));
    };
    record("weights", obj(json!({"note": "allocator after loading the models (resident weights)"})), &mut peak_reserved);

    // Inputs shared by the UNet stages.
    let sample2 = rand4([2, 4, l, l]);
    let sample1 = rand4([1, 4, l, l]);
    let ctx2 = Tensor::<3>::random([2, 77, ctx_dim], dist, (&device, DType::F32)).cast(dtype);
    let ctx1 = ctx2.clone().narrow(0, 0, 1);

    // Reference pass (batch 1, capture) — also yields the subject features for the adapters.
    let mut bank = FeatureBank::default();
    if cfg.wants("reference_pass") {
        let reference = timed(cfg, now, || {
            bank = FeatureBank::default();
            m.unet.forward(sample1.clone(), 999.0, &ctx1, RefMode::Capture(&mut bank))
        })
        .await?;
        record("reference_pass", with(reference, json!({"batch": 1, "latent": l})), &mut peak_reserved);
    } else if cfg.wants("unet_step") {
        // The adapters need subject features: one untimed reference pass.
        settle(m.unet.forward(sample1.clone(), 999.0, &ctx1, RefMode::Capture(&mut bank))).await?;
    }

    if cfg.wants("unet_step") {
        let features = m.unet.subject_features(&bank, 2);
        drop(bank);
        let off = timed(cfg, now, || m.unet.forward(sample2.clone(), 500.0, &ctx2, RefMode::Off)).await?;
        record("unet_step", with(off, json!({"batch": 2, "latent": l, "adapters": false})), &mut peak_reserved);
        let on = timed(cfg, now, || m.unet.forward(sample2.clone(), 500.0, &ctx2, RefMode::Inject(&features))).await?;
        record("unet_step", with(on, json!({"batch": 2, "latent": l, "adapters": true})), &mut peak_reserved);
    } else {
        drop(bank);
    }
    drop((sample2, ctx1, ctx2));

    if cfg.only.iter().any(|s| s == "attention") {
        // The UNet's widest attention (level 0, l² tokens, batch 2) alone: self-attention, and
        // the adapter's over [l² own; l² subject tokens] with the subject shared by the batch.
        let unet = m.unet.config();
        let (c, heads, n) = (unet.block_out_channels[0], unet.heads(0), l * l);
        let rand3 = |shape: [usize; 3]| Tensor::<3>::random(shape, dist, (&device, DType::F32)).cast(dtype);
        let (q, k, v) = (rand3([2, n, c]), rand3([2, n, c]), rand3([2, n, c]));
        let (k2, v2) = (rand3([1, n, c]), rand3([1, n, c]));
        let scale = 1.0 / ((c / heads) as f64).sqrt();
        // The plain kernel and the device's choice (the subgroup variant where it has subgroups).
        let variants: &[(&str, Variant)] = if cfg.kernels.wgsl() { &[("plain", Variant::Plain), ("auto", Variant::Auto)] } else { &[("reference", Variant::Plain)] };
        for &(name, variant) in variants {
            let fields = |keys: usize| json!({"batch": 2, "tokens": n, "keys": keys, "channels": c, "heads": heads, "variant": name});
            let own = timed(cfg, now, || {
                flash_attention::attention_variant(cfg.kernels, variant, q.clone(), (k.clone(), v.clone()), None, heads, scale)
            })
            .await?;
            record("attention", with(own, fields(n)), &mut peak_reserved);
            let joint = timed(cfg, now, || {
                flash_attention::attention_variant(cfg.kernels, variant, q.clone(), (k.clone(), v.clone()), Some((&k2, &v2)), heads, scale)
            })
            .await?;
            record("attention", with(joint, fields(2 * n)), &mut peak_reserved);
        }
    }

    if cfg.only.iter().any(|s| s == "gemm") {
        // The UNet's and VAE's widest GEMM problems at this size, on burn's kernels, the
        // family's heuristic choice and every tile (`ezigen tune --sweep` times every problem).
        let unet = m.unet.config();
        let c = &unet.block_out_channels;
        let (c0, c3) = (c[0], c[c.len() - 1]);
        let (l8, tokens) = (l.div_ceil(8).max(1), 2 * l * l);
        let conv = |b, side: usize, cin, cout, ks| gemm::GemmShape::Conv { b, h: side, w: side, cin, cout, ks, stride: 1, pad: ks / 2 };
        let problems = [
            conv(2, l, c0, c0, 3),
            conv(2, l8, c3, c3, 3),
            conv(2, l8, 2 * c3, c3, 3),
            conv(1, l, 512, 512, 3),
            gemm::GemmShape::Linear { m: tokens, n: c0, k: c0 },
            gemm::GemmShape::Linear { m: tokens, n: 8 * c0, k: c0 },
            gemm::GemmShape::Linear { m: tokens, n: c0, k: 4 * c0 },
            gemm::GemmShape::Linear { m: 2 * l8 * l8, n: c3, k: c3 },
        ];
        for shape in problems {
            let mut cands = vec![gemm::GemmImpl::Burn, shape.heuristic()];
            for tile in gemm::TILES {
                let imp = gemm::GemmImpl::Tiled { tile, split: 1 };
                if !cands.contains(&imp) {
                    cands.push(imp);
                }
            }
            let (mm, nn, kk) = shape.mnk();
            for (imp, t) in tune::time_candidates(&device, shape, dtype, Some(&cands), now).await? {
                let fields = json!({"problem": shape.key(), "m": mm, "n": nn, "k": kk, "impl": imp.name(),
                    "heuristic": imp == cands[1], "ms": t.ms, "tflops": t.tflops});
                record("gemm", obj(fields), &mut peak_reserved);
            }
        }
    }

    if cfg.wants("vae_encode") {
        let image = rand4([1, 3, size, size]);
        let enc = timed(cfg, now, || m.vae_encoder.forward_limited(image.clone(), pipe.max_binding()).mean).await?;
        record("vae_encode", with(enc, json!({"pixels": size})), &mut peak_reserved);
    }
    if cfg.wants("vae_decode") {
        let dec = timed(cfg, now, || m.vae_decoder.forward_limited(sample1.clone(), pipe.max_binding())).await?;
        record("vae_decode", with(dec, json!({"latent": l, "pixels": size})), &mut peak_reserved);
    }
    drop(sample1);

    if cfg.wants("clip_vision") {
        let clip_size = m.clip_vision.config().image_size;
        let pixels = rand4([1, 3, clip_size, clip_size]);
        let clip = timed(cfg, now, || m.clip_vision.forward(pixels.clone())).await?;
        record("clip_vision", with(clip, json!({"pixels": clip_size})), &mut peak_reserved);
    }
    if cfg.wants("text_encoder") {
        let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![49406i64; 77], [1, 77]), &device);
        let text = timed(cfg, now, || m.text_encoder.forward(ids.clone())).await?;
        record("text_encoder", with(text, json!({"tokens": 77})), &mut peak_reserved);
    }

    if cfg.wants("preview") {
        // The live preview of one UNet step: x̂₀ on the device, its readback, the RGB map on
        // the host (the last alone is the core's host work per step).
        let (x, eps) = (rand4([1, 4, l, l]), rand4([1, 4, l, l]));
        let alphas = pipe.models.scheduler.alphas_cumprod();
        let mut device_ms = Vec::new();
        let mut host_ms = Vec::new();
        for _ in 0..cfg.repeats.max(1) {
            let start = now();
            let x0 = crate::schedulers::predicted_x0(&alphas, eps.clone(), 500, x.clone());
            let values = read_f32(x0).await?;
            let mid = now();
            let reps = 100;
            for _ in 0..reps {
                std::hint::black_box(crate::pipeline::preview::latent_to_rgba(std::hint::black_box(&values), l, l));
            }
            host_ms.push((now() - mid) / reps as f64);
            device_ms.push(mid - start);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        record(
            "preview",
            obj(json!({"x0_and_readback_ms": median(&mut device_ms), "latent_to_rgb_host_ms": median(&mut host_ms), "latent": l})),
            &mut peak_reserved,
        );
    }

    if cfg.pipeline {
        let opts = SamplingOptions { sampler: cfg.sampler, steps: cfg.steps, iterations: Some(cfg.iterations), ..SamplingOptions::default() };
        let preset = Preset::of(&opts).map(Preset::name);
        let run_fields = |editing: bool, ms: f64, dispatches: usize| {
            obj(json!({"ms": ms, "sampler": cfg.sampler.name(), "preset": preset, "steps": cfg.steps,
                "iterations": cfg.iterations, "unet_passes": opts.unet_passes(editing, 1).max, "pixels": size,
                "dispatches": dispatches}))
        };
        let subject = synthetic_image(size, size, 1);
        let mut req = GenerateRequest::new(subject.clone(), "a dog in police outfit", "a dog");
        req.options = opts.clone();
        // Each full run encodes its subject, as a first run does (no features from a run before).
        pipe.subject_cache.clear();
        let start = now();
        let counter = LaunchCounter::start();
        let out = pipe.generate(&req, &mut SeededNoise::new(opts.seed), &mut NoProgress).await?;
        let dispatches = counter.total();
        drop(counter);
        let ms = now() - start;
        debug_assert_eq!(out.iterations, cfg.iterations, "a fixed iteration count runs exactly");
        record("generate", run_fields(false, ms, dispatches), &mut peak_reserved);

        let source = synthetic_image(size, size, 2);
        let mut mask = vec![0u8; size * size];
        for y in size / 4..3 * size / 4 {
            mask[y * size + size / 4..y * size + 3 * size / 4].fill(255);
        }
        let mask = Mask::new(size, size, mask)?;
        let mut req = EditRequest::new(source, mask, subject, "a dog", "a dog");
        req.options = opts.clone();
        pipe.subject_cache.clear();
        let start = now();
        let counter = LaunchCounter::start();
        pipe.edit(&req, &mut SeededNoise::new(opts.seed), &mut NoProgress).await?;
        let dispatches = counter.total();
        drop(counter);
        let ms = now() - start;
        record("edit", run_fields(true, ms, dispatches), &mut peak_reserved);
    }
    record("memory", obj(json!({"peak_reserved_bytes": peak_reserved,
        "note": "high-water mark of the allocator's reserved bytes over the stages above (an upper bound of the peak in use)"})), &mut peak_reserved);
    Ok(())
}

/// One stage's timings.
struct Timing {
    first_ms: f64,
    runs: Vec<f64>,
    dispatches: usize,
    kernels: std::collections::BTreeMap<&'static str, usize>,
}

/// Runs `f` once cold, then `cfg.repeats` times warm (counting the dispatches of the first
/// warm run), waiting for the device after each. With `repeats == 0` the cold run is the only
/// run (full-size models on slow devices), and its dispatches are counted.
async fn timed<const D: usize>(cfg: &BenchConfig, now: &dyn Fn() -> f64, mut f: impl FnMut() -> Tensor<D>) -> Result<Timing> {
    let cold_counter = (cfg.repeats == 0).then(LaunchCounter::start);
    let start = now();
    let out = f();
    let mut dispatches = 0;
    let mut kernels = Default::default();
    if let Some(counter) = cold_counter {
        dispatches = counter.total();
        kernels = counter.counts();
    }
    settle(out).await?;
    let first_ms = now() - start;
    let mut runs = Vec::new();
    for i in 0..cfg.repeats {
        let counter = (i == 0).then(LaunchCounter::start);
        let start = now();
        let out = f();
        if let Some(counter) = counter {
            // Counted before the settling readback, which is not part of the stage.
            dispatches = counter.total();
            kernels = counter.counts();
        }
        settle(out).await?;
        runs.push(now() - start);
    }
    if runs.is_empty() {
        runs.push(first_ms);
    }
    Ok(Timing { first_ms, runs, dispatches, kernels })
}

fn obj(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// Merges a stage's timings with its descriptive fields.
fn with(t: Timing, extra: Value) -> serde_json::Map<String, Value> {
    let mut sorted = t.runs.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let mut fields = obj(extra);
    fields.insert("ms".into(), json!(median));
    fields.insert("min_ms".into(), json!(sorted[0]));
    fields.insert("first_ms".into(), json!(t.first_ms));
    fields.insert("runs".into(), json!(t.runs.len()));
    fields.insert("dispatches".into(), json!(t.dispatches));
    let top: serde_json::Map<String, Value> = {
        let mut by_count: Vec<_> = t.kernels.into_iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1));
        by_count.into_iter().take(8).map(|(k, v)| (short_name(k), json!(v))).collect()
    };
    fields.insert("top_kernels".into(), Value::Object(top));
    fields
}

/// `a::b::Kernel<c::D>` → `Kernel<D>`.
fn short_name(name: &str) -> String {
    let mut out = String::new();
    for part in name.split_inclusive(['<', '>', ',', ' ']) {
        out.push_str(part.rsplit("::").next().unwrap_or(part));
    }
    out
}

/// A smooth, deterministic test image (no photo is needed to time the pipeline).
fn synthetic_image(w: usize, h: usize, seed: u8) -> RgbaImage {
    let mut data = Vec::with_capacity(w * h * 4);
    for y in 0..h {
        for x in 0..w {
            data.extend([(x * 255 / w) as u8, (y * 255 / h) as u8, seed.wrapping_mul(97), 255]);
        }
    }
    RgbaImage::new(w, h, data).expect("non-empty image")
}
