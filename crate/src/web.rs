//! The wasm boundary: the only file that uses `wasm_bindgen`. Everything here converts between
//! JavaScript values and the library's types; no math lives here.
//!
//! Values crossing the boundary are numbers, strings (JSON for structured data) and
//! `Uint8Array`s (RGBA images, single-channel masks, weight shards). Every export returns
//! `Result<_, JsError>` whose message starts with a bracketed failure kind
//! (`[bad-input] …`, `[corrupt-shard] …`, `[device-lost] …`, `[cancelled] …`, `[internal] …`);
//! nothing JS can reach unwraps.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::rc::Rc;

use burn::tensor::{DType, Device};
use serde::Deserialize;
use wasm_bindgen::prelude::*;

use crate::device::{self, AdapterReport};
use crate::pipeline::{EditRequest, Event, GenerateRequest, Mask, Pipeline, ProgressSink, RgbaImage, SamplingOptions, SeededNoise};
use crate::loader::ModelBuilder;
use crate::weights::components::Component;
use crate::weights::manifest::Manifest;
use crate::{Error, smoke};

/// A JS error whose message starts with the failure kind in brackets, which the worker maps to
/// a user-facing explanation.
fn js_err(e: Error) -> JsError {
    let kind = match &e {
        Error::Input(_) => "bad-input",
        Error::Weights { .. } | Error::Tensors { .. } => "corrupt-shard",
        Error::Device(_) | Error::Readback(_) => "device-lost",
        Error::Cancelled => "cancelled",
        Error::Config(_) => "internal",
    };
    JsError::new(&format!("[{kind}] {e}"))
}

/// Installs the panic hook so a Rust panic shows up as a readable console error.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// Parameters of `generate` / `edit` as the page sends them (protocol.ts `GenerateParams`,
/// `EditParams`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskParams {
    prompt: String,
    #[serde(default)]
    subject_prompt: String,
    #[serde(default)]
    composite_background: bool,
    #[serde(flatten)]
    options: SamplingOptions,
}

fn parse_params(json: &str) -> Result<TaskParams, Error> {
    serde_json::from_str(json).map_err(|e| Error::Input(format!("bad parameters: {e}")))
}

fn rgba(data: Vec<u8>, width: u32, height: u32) -> Result<RgbaImage, Error> {
    RgbaImage::new(width as usize, height as usize, data)
}

fn mask(data: Vec<u8>, width: u32, height: u32) -> Result<Mask, Error> {
    Mask::new(width as usize, height as usize, data)
}

/// Forwards pipeline events to a JS callback `(eventJson, rgba?) => boolean`; `false` cancels.
struct JsSink {
    callback: js_sys::Function,
}

impl ProgressSink for JsSink {
    fn event(&mut self, event: Event<'_>) -> ControlFlow<()> {
        let (json, bytes) = match event {
            Event::Progress { stage, step, total, iteration, similarity } => (
                serde_json::json!({"type": "progress", "stage": stage, "step": step, "total": total,
                                   "iteration": iteration, "similarity": similarity}),
                JsValue::UNDEFINED,
            ),
            Event::Image { iteration, similarity, image, last } => (
                serde_json::json!({"type": "image", "iteration": iteration, "similarity": similarity,
                                   "width": image.width, "height": image.height, "final": last}),
                js_sys::Uint8Array::from(image.data.as_slice()).into(),
            ),
            // The page never asks for latents (`wants_latents` stays false).
            Event::Latent { .. } => return ControlFlow::Continue(()),
        };
        match self.callback.call2(&JsValue::NULL, &JsValue::from_str(&json.to_string()), &bytes) {
            Ok(v) if v.as_bool() == Some(false) => ControlFlow::Break(()),
            Ok(_) => ControlFlow::Continue(()),
            // A throwing callback cancels rather than tearing the run down mid-step.
            Err(_) => ControlFlow::Break(()),
        }
    }
}

/// Options of [`Session::benchmark`] as the page sends them.
#[derive(Deserialize)]
struct BenchParams {
    repeats: Option<usize>,
    pipeline: Option<bool>,
    steps: Option<usize>,
    iterations: Option<usize>,
    latent: Option<usize>,
    labels: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A WebGPU session: the burn device on the browser's adapter and the loaded model.
#[wasm_bindgen]
pub struct Session {
    device: Device,
    report: AdapterReport,
    builder: RefCell<Option<ModelBuilder>>,
    finished: RefCell<BTreeSet<String>>,
    pipeline: RefCell<Option<Rc<Pipeline>>>,
}

#[wasm_bindgen]
impl Session {
    /// Initialises burn's wgpu runtime on `navigator.gpu` (fails with a readable message when
    /// there is no WebGPU or no adapter).
    pub async fn create() -> Result<Session, JsError> {
        let (device, report) = device::init_wgpu_async().await.map_err(js_err)?;
        Ok(Session {
            device,
            report,
            builder: RefCell::new(None),
            finished: RefCell::new(BTreeSet::new()),
            pipeline: RefCell::new(None),
        })
    }

    /// The adapter report (name, backend, `shader-f16`, limits) as JSON.
    #[wasm_bindgen(js_name = adapterJson)]
    pub fn adapter_json(&self) -> String {
        serde_json::to_string(&self.report).unwrap_or_default()
    }

    /// Runs the smoke computation (conv → GroupNorm+SiLU → attention) on WebGPU in f32, or in
    /// f16 when `f16` is set and the adapter supports it; returns the output as JSON.
    #[wasm_bindgen(js_name = smokeJson)]
    pub async fn smoke_json(&self, f16: bool) -> Result<String, JsError> {
        if f16 && !self.report.shader_f16 {
            return Err(js_err(Error::Input("this adapter does not support shader-f16".into())));
        }
        let dtype = if f16 { DType::F16 } else { DType::F32 };
        let out = smoke::run(&self.device, dtype).await.map_err(js_err)?;
        serde_json::to_string(&out).map_err(|e| JsError::new(&e.to_string()))
    }

    /// Starts loading a model described by `manifest.json`; weights go to the GPU in f16 when
    /// `f16` is set (and the adapter supports it), else f32. Drops any previous model.
    /// Checks every WGSL kernel against its plain-ops reference on this device, in f16 when
    /// asked and available (else f32): a JSON array of `{kernel, dtype, ran, rel_err,
    /// tolerance, ok}` (crate/src/kernels/check.rs).
    #[wasm_bindgen(js_name = kernelCheckJson)]
    pub async fn kernel_check_json(&self, f16: bool) -> Result<String, JsError> {
        let dtype = if f16 && self.report.shader_f16 { DType::F16 } else { DType::F32 };
        let checks = crate::kernels::check::run(&self.device, dtype).await.map_err(js_err)?;
        serde_json::to_string(&checks).map_err(|e| js_err(Error::Config(e.to_string())))
    }

    #[wasm_bindgen(js_name = beginModel)]
    pub fn begin_model(&self, manifest_json: &str, f16: bool) -> Result<(), JsError> {
        let manifest = Manifest::from_json(manifest_json).map_err(js_err)?;
        let dtype = if f16 && self.report.shader_f16 { DType::F16 } else { DType::F32 };
        let builder = ModelBuilder::new(&manifest.config, &self.device, dtype).map_err(js_err)?;
        *self.pipeline.borrow_mut() = None;
        self.finished.borrow_mut().clear();
        *self.builder.borrow_mut() = Some(builder);
        Ok(())
    }

    /// Uploads one shard of `component` to the GPU (the caller drops its bytes afterwards).
    #[wasm_bindgen(js_name = loadShard)]
    pub fn load_shard(&self, component: &str, bytes: &[u8]) -> Result<(), JsError> {
        let mut builder = self.builder.borrow_mut();
        let b = builder.as_mut().ok_or_else(|| js_err(Error::Input("call beginModel before loadShard".into())))?;
        let c: Component = component.parse().map_err(js_err)?;
        b.load_shard(c, bytes, component).map_err(js_err)
    }

    /// Builds `component`'s model from its shards; once every component is finished the
    /// pipeline is ready.
    #[wasm_bindgen(js_name = finishComponent)]
    pub fn finish_component(&self, component: &str) -> Result<(), JsError> {
        {
            let mut builder = self.builder.borrow_mut();
            let b = builder.as_mut().ok_or_else(|| js_err(Error::Input("call beginModel before finishComponent".into())))?;
            b.finish_component(component.parse().map_err(js_err)?).map_err(js_err)?;
        }
        let mut finished = self.finished.borrow_mut();
        finished.insert(component.to_string());
        if Component::ALL.iter().all(|c| finished.contains(c.as_str())) {
            let b = self.builder.borrow_mut().take().expect("present above");
            *self.pipeline.borrow_mut() = Some(Rc::new(b.into_pipeline().map_err(js_err)?));
        }
        Ok(())
    }

    /// Whether a complete model is loaded.
    #[wasm_bindgen(js_name = modelReady)]
    pub fn model_ready(&self) -> bool {
        self.pipeline.borrow().is_some()
    }

    fn pipeline(&self) -> Result<Rc<Pipeline>, JsError> {
        self.pipeline.borrow().clone().ok_or_else(|| js_err(Error::Input("no model is loaded yet".into())))
    }

    /// Runs the benchmark ([`crate::bench`]) on the loaded model: `options_json` is
    /// `{"repeats", "pipeline", "steps", "iterations", "latent"?, "labels"?}` (all optional) and
    /// `on_record(json)` receives one JSON record per measured stage.
    #[wasm_bindgen(js_name = benchmark)]
    pub async fn benchmark(&self, options_json: &str, on_record: js_sys::Function) -> Result<(), JsError> {
        let pipe = self.pipeline()?;
        let o: BenchParams = serde_json::from_str(options_json)
            .map_err(|e| js_err(Error::Input(format!("benchmark options: {e}"))))?;
        let mut labels = o.labels.unwrap_or_default();
        labels.entry("backend".to_string()).or_insert("webgpu".into());
        labels.entry("adapter".to_string()).or_insert(self.report.name.clone().into());
        labels.entry("dtype".to_string()).or_insert(format!("{:?}", pipe.dtype()).to_lowercase().into());
        let cfg = crate::bench::BenchConfig {
            latent: o.latent.unwrap_or(pipe.latent_size()),
            repeats: o.repeats.unwrap_or(2),
            pipeline: o.pipeline.unwrap_or(true),
            steps: o.steps.unwrap_or(50),
            iterations: o.iterations.unwrap_or(3),
            labels,
            only: Vec::new(),
        };
        let now = || js_sys::Date::now();
        let mut emit = |record: serde_json::Value| {
            let _ = on_record.call1(&JsValue::NULL, &JsValue::from_str(&record.to_string()));
        };
        crate::bench::run(&pipe, &cfg, &now, &mut emit).await.map_err(js_err)
    }

    /// Subject-driven generation. `subject` is RGBA (`width·height·4`), `subject_mask` an
    /// optional single-channel mask of the same size. `on_event(json, rgba?)` receives progress
    /// and every iteration's image; returning `false` cancels.
    pub async fn generate(
        &self,
        params_json: &str,
        subject: Vec<u8>,
        width: u32,
        height: u32,
        subject_mask: Option<Vec<u8>>,
        on_event: js_sys::Function,
    ) -> Result<(), JsError> {
        let pipe = self.pipeline()?;
        let p = parse_params(params_json).map_err(js_err)?;
        let mut req = GenerateRequest::new(rgba(subject, width, height).map_err(js_err)?, &p.prompt, &p.subject_prompt);
        req.subject_mask = subject_mask.map(|m| mask(m, width, height)).transpose().map_err(js_err)?;
        req.options = p.options;
        let mut noise = SeededNoise::new(req.options.seed);
        let mut sink = JsSink { callback: on_event };
        pipe.generate(&req, &mut noise, &mut sink).await.map_err(js_err)?;
        Ok(())
    }

    /// Subject-driven editing. `source` is RGBA `sw×sh`, `mask` single-channel `sw×sh`
    /// (nonzero = where the subject goes), `subject` RGBA `width×height`.
    #[allow(clippy::too_many_arguments)]
    pub async fn edit(
        &self,
        params_json: &str,
        source: Vec<u8>,
        sw: u32,
        sh: u32,
        mask_bytes: Vec<u8>,
        subject: Vec<u8>,
        width: u32,
        height: u32,
        subject_mask: Option<Vec<u8>>,
        on_event: js_sys::Function,
    ) -> Result<(), JsError> {
        let pipe = self.pipeline()?;
        let p = parse_params(params_json).map_err(js_err)?;
        let mut req = EditRequest::new(
            rgba(source, sw, sh).map_err(js_err)?,
            mask(mask_bytes, sw, sh).map_err(js_err)?,
            rgba(subject, width, height).map_err(js_err)?,
            &p.prompt,
            &p.subject_prompt,
        );
        req.subject_mask = subject_mask.map(|m| mask(m, width, height)).transpose().map_err(js_err)?;
        req.composite_background = p.composite_background;
        req.options = p.options;
        let mut noise = SeededNoise::new(req.options.seed);
        let mut sink = JsSink { callback: on_event };
        pipe.edit(&req, &mut noise, &mut sink).await.map_err(js_err)?;
        Ok(())
    }
}
