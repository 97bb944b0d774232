//! The wasm boundary: the only file that uses `wasm_bindgen`. Everything here converts between
//! JavaScript values and the library's types; no math lives here.
//!
//! Values cross as objects (serde-wasm-bindgen) whose TypeScript types are generated from the
//! Rust ones (`www/src/generated/contract.ts`, see `contract.rs`): requests, events, reports.
//! Images inside them are `Uint8Array`s; weight shards are plain `Uint8Array`s and a manifest is
//! its JSON text. Every export that can fail throws a `CoreError`: a JS `Error` whose `kind` is
//! a `FailureKind`; nothing JS can reach unwraps.

use std::cell::RefCell;
use std::ops::ControlFlow;
use std::rc::Rc;

use burn::tensor::{DType, Device};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;

use crate::bench::BenchOptions;
use crate::contract::FailureKind;
use crate::convert::{ConvertSettings, Converter, Root, SourceFile, SourceTree};
use crate::device::{self, AdapterReport};
use crate::eval::ScoreRequest;
use crate::session::ModelSession;
use crate::pipeline::{EditRequest, Event, GenerateRequest, Pipeline, ProgressSink, RgbaImage, SeededNoise};
use crate::weights::components::Component;
use crate::weights::manifest::Manifest;
use crate::{Error, smoke};

#[wasm_bindgen(typescript_custom_section)]
const CONTRACT_TYPES: &str = r#"
import type { AdapterReport, BenchOptions, Component, ConvertedShard, ConvertPlan, ConvertProgress, ConvertSettings, CoreEvent, EditRequest, GenerateRequest, KernelCheck, Manifest, PromptTokens, ScoreRequest, Scores, SmokeOutput, SourceRoot, TuneReport } from "../src/generated/contract.js";

/** One picked file of the original weights: its folder, its path inside it and the file. */
export interface ConvertInput {
  root: SourceRoot;
  path: string;
  file: Blob;
}
"#;

/// A thrown `CoreError`: a JS `Error` with the failure kind as `kind`.
fn core_error(kind: FailureKind, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&e, &JsValue::from_str("kind"), &JsValue::from_str(kind.as_str()));
    e.into()
}

fn js_err(e: Error) -> JsValue {
    core_error(e.kind(), &e.to_string())
}

/// A Rust value as a plain JS object (`None` → `null`, maps → objects, bytes → `Uint8Array`).
fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, JsValue> {
    let s = serde_wasm_bindgen::Serializer::new().serialize_missing_as_null(true).serialize_maps_as_objects(true);
    v.serialize(&s).map_err(|e| core_error(FailureKind::Internal, &format!("could not pass a value to the page: {e}")))
}

/// A JS object as a Rust value; a wrong shape is the caller's bad input, named.
fn from_js<T: DeserializeOwned>(v: JsValue, what: &str) -> Result<T, JsValue> {
    serde_wasm_bindgen::from_value(v).map_err(|e| core_error(FailureKind::BadInput, &format!("{what}: {e}")))
}

/// The global a panic's message is left in (`self.ezigenPanic` in the worker): after a panic the
/// module is unusable, and the worker reports the message and has the page restart it.
const PANIC_GLOBAL: &str = "ezigenPanic";

#[cfg(target_arch = "wasm32")]
unsafe extern "C" {
    /// The static constructors of the module (cubecl registers its IR dialects through
    /// `inventory`), synthesised by wasm-ld.
    fn __wasm_call_ctors();
}

/// Runs the static constructors once, then installs the panic hook: a Rust panic shows up as a
/// readable console error, and its message is left in [`PANIC_GLOBAL`].
///
/// The explicit constructor call matters for speed: a module that never calls
/// `__wasm_call_ctors` is linked "command-style", and wasm-ld then makes *every* export (the
/// glue's `malloc`, `free` and externref-table slots included, several per GPU dispatch) run all
/// constructors again first. That cost 40 % of the worker's time in a generation (docs/benchmarks.md).
#[wasm_bindgen(start)]
pub fn start() {
    // SAFETY: wasm-bindgen calls the start function once, right after instantiation and before any
    // other export; the constructors only fill `inventory` registries.
    #[cfg(target_arch = "wasm32")]
    unsafe {
        __wasm_call_ctors();
    }
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        let _ = js_sys::Reflect::set(&js_sys::global(), &PANIC_GLOBAL.into(), &info.to_string().into());
    }));
}

/// Panics on purpose with `what`: the page's crash recovery is tested with it (`?debug`).
#[wasm_bindgen(js_name = debugPanic)]
pub fn debug_panic(what: String) {
    panic!("deliberate panic for testing: {what}");
}

/// Forwards pipeline events to a JS callback `(event: CoreEvent) => boolean`; `false` cancels.
struct JsSink {
    callback: js_sys::Function,
}

impl ProgressSink for JsSink {
    fn event(&mut self, event: Event<'_>) -> ControlFlow<()> {
        // The page never asks for latents (`wants_latents` stays false).
        if matches!(event, Event::Latent { .. }) {
            return ControlFlow::Continue(());
        }
        let Ok(value) = to_js(&event) else { return ControlFlow::Continue(()) };
        match self.callback.call1(&JsValue::NULL, &value) {
            Ok(v) if v.as_bool() == Some(false) => ControlFlow::Break(()),
            Ok(_) => ControlFlow::Continue(()),
            // A throwing callback cancels rather than tearing the run down mid-step.
            Err(_) => ControlFlow::Break(()),
        }
    }

    /// The page shows the image forming at every step.
    fn wants_previews(&self) -> bool {
        true
    }

    fn clock_ms(&self) -> Option<f64> {
        Some(js_sys::Date::now())
    }
}

/// A JS exception's message.
fn js_message(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| e.as_string()).unwrap_or_else(|| format!("{e:?}"))
}

/// A shard's bytes as the page holds them, read by range into wasm memory.
struct JsBytes(js_sys::Uint8Array);

impl SourceFile for JsBytes {
    fn len(&self) -> u64 {
        self.0.byte_length() as u64
    }

    fn read_at(&self, offset: u64, len: usize) -> crate::Result<Vec<u8>> {
        Ok(self.0.subarray(offset as u32, (offset + len as u64) as u32).to_vec())
    }
}

/// Files the user picked, by folder and path (`ConvertInput[]`).
struct PickedFiles(Vec<(Root, String, web_sys::Blob)>);

/// A picked file, read by range with `FileReaderSync` (the worker's synchronous reader), so a
/// conversion never holds a whole input file.
struct PickedFile {
    blob: web_sys::Blob,
    name: String,
}

impl SourceFile for PickedFile {
    fn len(&self) -> u64 {
        self.blob.size() as u64
    }

    fn read_at(&self, offset: u64, len: usize) -> crate::Result<Vec<u8>> {
        let fail = |e: JsValue| Error::Weights { file: self.name.clone(), reason: format!("could not be read ({})", js_message(&e)) };
        let part = self.blob.slice_with_f64_and_f64(offset as f64, (offset + len as u64) as f64).map_err(fail)?;
        let buffer = web_sys::FileReaderSync::new().and_then(|r| r.read_as_array_buffer(&part)).map_err(fail)?;
        Ok(js_sys::Uint8Array::new(&buffer).to_vec())
    }
}

impl SourceTree for PickedFiles {
    fn open(&self, root: Root, path: &str) -> crate::Result<Option<Box<dyn SourceFile>>> {
        // CLIP's text tower is in the CLIP folder unless the page picked another one.
        let root = if root == Root::ClipText && !self.0.iter().any(|(r, _, _)| *r == Root::ClipText) { Root::Clip } else { root };
        Ok(self.0.iter().find(|(r, p, _)| *r == root && p == path).map(|(_, _, blob)| {
            Box::new(PickedFile { blob: blob.clone(), name: self.describe(root, path) }) as Box<dyn SourceFile>
        }))
    }

    fn describe(&self, root: Root, path: &str) -> String {
        if path.is_empty() { root.label().to_string() } else { format!("{path} in {}", root.label()) }
    }
}

/// Reads `ConvertInput[]`: a wrong shape is the caller's bad input, named.
fn picked_files(inputs: &js_sys::Array) -> Result<PickedFiles, JsValue> {
    let bad = |i: u32, what: &str| core_error(FailureKind::BadInput, &format!("conversion input {i}: {what}"));
    let mut files = Vec::new();
    for (i, item) in inputs.iter().enumerate() {
        let i = i as u32;
        let field = |name: &str| js_sys::Reflect::get(&item, &JsValue::from_str(name)).map_err(|_| bad(i, "not an object"));
        let root: Root = from_js(field("root")?, "conversion input root")?;
        let path = field("path")?.as_string().ok_or_else(|| bad(i, "`path` is not a string"))?;
        let blob = field("file")?.dyn_into::<web_sys::Blob>().map_err(|_| bad(i, "`file` is not a File"))?;
        files.push((root, path, blob));
    }
    Ok(PickedFiles(files))
}

/// A conversion of the published weights the user picked ([`crate::convert`]): the same code
/// and messages as `ezigen convert`, one shard at a time so the page stores each before the
/// next is made. Runs in the worker (it reads with `FileReaderSync`).
#[wasm_bindgen]
pub struct Conversion {
    inner: Converter,
}

#[wasm_bindgen]
impl Conversion {
    /// Reads the picked folders' configurations and weight-file headers and plans the shards;
    /// throws a `CoreError` for inputs EZIGen cannot use (wrong model, missing adapters, damaged
    /// or missing files). `tokenizer_gz` is the app's `tokenizer.json.gz` (written with the
    /// model; the wasm does not embed it).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "ConvertInput[]")] inputs: js_sys::Array,
        #[wasm_bindgen(unchecked_param_type = "ConvertSettings")] settings: JsValue,
        tokenizer_gz: &[u8],
    ) -> Result<Conversion, JsValue> {
        let settings: ConvertSettings = from_js(settings, "conversion settings")?;
        let tree = picked_files(&inputs)?;
        let tokenizer_json = crate::tokenizer::inflate_json(tokenizer_gz).map_err(js_err)?;
        Ok(Conversion { inner: Converter::new(&tree, settings, tokenizer_json).map_err(js_err)? })
    }

    /// What the conversion will make (sizes for the storage check, warnings).
    #[wasm_bindgen(unchecked_return_type = "ConvertPlan")]
    pub fn plan(&self) -> Result<JsValue, JsValue> {
        to_js(&self.inner.plan())
    }

    /// Where the conversion stands.
    #[wasm_bindgen(unchecked_return_type = "ConvertProgress")]
    pub fn progress(&self) -> Result<JsValue, JsValue> {
        to_js(&self.inner.progress())
    }

    /// Makes the next shard (`null` once all are made).
    #[wasm_bindgen(js_name = nextShard, unchecked_return_type = "ConvertedShard | null")]
    pub fn next_shard(&mut self) -> Result<JsValue, JsValue> {
        match self.inner.next_shard().map_err(js_err)? {
            Some(shard) => to_js(&shard),
            None => Ok(JsValue::NULL),
        }
    }

    /// The manifest's JSON text (complete once `nextShard` returned `null`).
    #[wasm_bindgen(js_name = manifestJson)]
    pub fn manifest_json(&self) -> String {
        serde_json::to_string_pretty(&self.inner.manifest()).expect("manifest serialises")
    }
}

/// Decodes an image file the user picked (PNG, JPEG or WebP, upright by its EXIF orientation,
/// refused with a message when too large, too elongated, damaged or of another format:
/// [`RgbaImage::decode_photo`]) into RGBA pixels. The page runs it in a worker of its own.
#[wasm_bindgen(js_name = decodeImage, unchecked_return_type = "RgbaImage")]
pub fn decode_image(bytes: &[u8]) -> Result<JsValue, JsValue> {
    match RgbaImage::decode_photo(bytes) {
        Ok(img) => to_js(&img),
        // The bare reason: the page puts the file's name in front of it.
        Err(Error::Input(why)) => Err(core_error(FailureKind::BadInput, &why)),
        Err(e) => Err(js_err(e)),
    }
}

/// Parses and checks a converted model's `manifest.json` (its text) by the core's one rule
/// (`Manifest::from_json`: format and version, plain shard file names, dtypes, SHA-256s, every
/// component and its shards, the model configurations); the page calls it before it plans a
/// load. Throws a `no-model` error whose message names the problem.
#[wasm_bindgen(js_name = parseManifest, unchecked_return_type = "Manifest")]
pub fn parse_manifest(text: &str) -> Result<JsValue, JsValue> {
    let manifest = Manifest::from_json(text).map_err(js_err)?;
    crate::loader::parse_configs(&manifest.config).map_err(js_err)?;
    to_js(&manifest)
}

/// A WebGPU session: the burn device on the browser's adapter and the loaded model
/// ([`ModelSession`]).
#[wasm_bindgen]
pub struct Session {
    device: Device,
    report: AdapterReport,
    models: RefCell<ModelSession>,
}

#[wasm_bindgen]
impl Session {
    /// Initialises burn's wgpu runtime on `navigator.gpu` (fails with a readable message when
    /// there is no WebGPU or no adapter).
    pub async fn create() -> Result<Session, JsValue> {
        let (device, report) = device::init_wgpu_async().await.map_err(js_err)?;
        let models = RefCell::new(ModelSession::new(&device, Some(report.max_storage_buffer_binding_size)));
        Ok(Session { device, report, models })
    }

    /// The adapter report (name, backend, `shader-f16`, limits).
    #[wasm_bindgen(unchecked_return_type = "AdapterReport")]
    pub fn adapter(&self) -> Result<JsValue, JsValue> {
        to_js(&self.report)
    }

    /// Runs the smoke computation (conv → GroupNorm+SiLU → attention) on WebGPU in f32, or in
    /// f16 when `f16` is set and the adapter supports it.
    #[wasm_bindgen(unchecked_return_type = "SmokeOutput")]
    pub async fn smoke(&self, f16: bool) -> Result<JsValue, JsValue> {
        if f16 && !self.report.shader_f16 {
            return Err(js_err(Error::Input("this adapter does not support shader-f16".into())));
        }
        let dtype = if f16 { DType::F16 } else { DType::F32 };
        to_js(&smoke::run(&self.device, dtype).await.map_err(js_err)?)
    }

    /// Checks every WGSL kernel against its plain-ops reference on this device, in f16 when
    /// asked and available (else f32).
    #[wasm_bindgen(js_name = kernelCheck, unchecked_return_type = "KernelCheck[]")]
    pub async fn kernel_check(&self, f16: bool) -> Result<JsValue, JsValue> {
        to_js(&crate::kernels::check::run(&self.device, self.report.dtype(f16)).await.map_err(js_err)?)
    }

    /// Starts loading a model described by `manifest.json` (its text); weights go to the GPU in
    /// f16 when `f16` is set and the adapter supports it, else f32. Drops any previous model and
    /// its metric models (they belong to it).
    #[wasm_bindgen(js_name = beginModel)]
    pub fn begin_model(&self, manifest_json: &str, f16: bool) -> Result<(), JsValue> {
        self.models.borrow_mut().begin_model(manifest_json, self.report.dtype(f16)).map_err(js_err)
    }

    /// Uploads one shard of `component` to the GPU, tensor by tensor: the bytes stay in JS and
    /// are copied into wasm memory one piece at a time (the caller drops them afterwards).
    /// `file` is the shard's file name, which errors name.
    #[wasm_bindgen(js_name = loadShard)]
    pub fn load_shard(&self, #[wasm_bindgen(unchecked_param_type = "Component")] component: &str, bytes: js_sys::Uint8Array, file: &str) -> Result<(), JsValue> {
        let c: Component = component.parse().map_err(js_err)?;
        self.models.borrow_mut().load_shard(c, &JsBytes(bytes), file).map_err(js_err)
    }

    /// Builds `component`'s model from its shards; once every component is built, the pipeline
    /// (or the metric models) is ready.
    #[wasm_bindgen(js_name = finishComponent)]
    pub fn finish_component(&self, #[wasm_bindgen(unchecked_param_type = "Component")] component: &str) -> Result<(), JsValue> {
        let c: Component = component.parse().map_err(js_err)?;
        self.models.borrow_mut().finish_component(c).map_err(js_err)
    }

    /// Starts loading the metric models of the loaded model's `manifest.json` (its text): CLIP's
    /// text tower and DINO, pushed with `loadShard` / `finishComponent` like the model's own
    /// components. Fails when the model was converted without them.
    #[wasm_bindgen(js_name = beginMetrics)]
    pub fn begin_metrics(&self, manifest_json: &str, f16: bool) -> Result<(), JsValue> {
        self.models.borrow_mut().begin_metrics(manifest_json, self.report.dtype(f16)).map_err(js_err)
    }

    /// Whether the metric models of the loaded model are loaded.
    #[wasm_bindgen(js_name = metricsReady)]
    pub fn metrics_ready(&self) -> bool {
        self.models.borrow().metrics_ready()
    }

    /// The identity (DINO, CLIP-I) and prompt (CLIP-T) scores of a result.
    #[wasm_bindgen(unchecked_return_type = "Scores")]
    pub async fn scores(&self, #[wasm_bindgen(unchecked_param_type = "ScoreRequest")] request: JsValue) -> Result<JsValue, JsValue> {
        let pipe = self.pipeline()?;
        let metrics = self.models.borrow().metrics().map_err(js_err)?;
        let req: ScoreRequest = from_js(request, "score request")?;
        let scores = metrics.score_request(&pipe.models.clip_vision, &pipe.models.tokenizer, &req).await.map_err(js_err)?;
        to_js(&scores)
    }

    /// Whether a complete model is loaded.
    #[wasm_bindgen(js_name = modelReady)]
    pub fn model_ready(&self) -> bool {
        self.models.borrow().model_ready()
    }

    /// How `text` fits the loaded model's text encoder (token count, and the kept part when it
    /// is cut).
    #[wasm_bindgen(js_name = promptTokens, unchecked_return_type = "PromptTokens")]
    pub fn prompt_tokens(&self, text: &str) -> Result<JsValue, JsValue> {
        to_js(&self.pipeline()?.models.tokenizer.count(text).map_err(js_err)?)
    }

    /// Runs the benchmark ([`crate::bench`]) on the loaded model; `on_record` receives one
    /// record object per measured stage.
    pub async fn benchmark(
        &self,
        #[wasm_bindgen(unchecked_param_type = "BenchOptions")] options: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(record: Record<string, unknown>) => void")] on_record: js_sys::Function,
    ) -> Result<(), JsValue> {
        let pipe = self.pipeline()?;
        let options: BenchOptions = from_js(options, "benchmark options")?;
        let mut cfg = options.config(pipe.latent_size());
        cfg.labels.entry("backend".to_string()).or_insert("webgpu".into());
        cfg.labels.entry("adapter".to_string()).or_insert(self.report.name.clone().into());
        cfg.labels.entry("dtype".to_string()).or_insert(format!("{:?}", pipe.dtype()).to_lowercase().into());
        let now = || js_sys::Date::now();
        let mut emit = |record: serde_json::Value| {
            if let Ok(v) = to_js(&record) {
                let _ = on_record.call1(&JsValue::NULL, &v);
            }
        };
        crate::bench::run(&pipe, &cfg, &now, &mut emit).await.map_err(js_err)
    }

    /// Loads the full-size SD 2.1-base + adapters + CLIP architecture with random weights
    /// (benchmarks through the browser's engine without the published weights;
    /// `tests/bench/dawn_step.mjs`), f16 where asked for and available. `tokenizer_gz` is the
    /// app's `tokenizer.json.<hash>.gz`.
    #[wasm_bindgen(js_name = loadRandomModel)]
    pub fn load_random_model(&self, f16: bool, tokenizer_gz: &[u8]) -> Result<(), JsValue> {
        let json = crate::tokenizer::inflate_json(tokenizer_gz).map_err(js_err)?;
        let tokenizer = crate::tokenizer::ClipTokenizer::from_bytes(&json).map_err(js_err)?;
        let configs = crate::weights::components::ModelConfigs::sd21_base();
        let options = crate::loader::LoadOptions { max_binding: Some(self.report.max_storage_buffer_binding_size), ..Default::default() };
        let pipe = crate::loader::random_pipeline_with(&configs, tokenizer, &self.device, self.report.dtype(f16), options).map_err(js_err)?;
        self.models.borrow_mut().set_pipeline(pipe);
        Ok(())
    }

    /// The key the GEMM tuning table of this device is kept under: adapter, `browser` (the
    /// page passes `navigator.userAgent`, which names the browser and its version) and build.
    #[wasm_bindgen(js_name = tuningKey)]
    pub fn tuning_key(&self, browser: &str) -> String {
        crate::kernels::tune::device_key(&self.report, browser)
    }

    /// Whether tuning is worth its time here (not on a CPU rasteriser such as SwiftShader,
    /// where the shipped defaults apply).
    #[wasm_bindgen(js_name = tuningWanted)]
    pub fn tuning_wanted(&self) -> bool {
        crate::kernels::tune::tunable(&self.report)
    }

    /// Installs a kept GEMM tuning table (its JSON, as [`Session::tune_gemm`] returned it) on the
    /// device; `false` (nothing installed) when it was made for another device, browser or
    /// build, an error when it is not a table.
    #[wasm_bindgen(js_name = installTuning)]
    pub fn install_tuning(&self, json: &str, browser: &str) -> Result<bool, JsValue> {
        let table = crate::kernels::tune::TuneTable::from_json(json).map_err(js_err)?;
        if table.key != self.tuning_key(browser) {
            return Ok(false);
        }
        crate::kernels::tune::install(&self.device, table);
        Ok(true)
    }

    /// Times the loaded model's GEMM problems on this device within `budget_ms`
    /// ([`crate::tuning::tune_pipeline`]) and installs the fastest; returns the report, whose
    /// `table` the page keeps (IndexedDB).
    #[wasm_bindgen(js_name = tuneGemm, unchecked_return_type = "TuneReport")]
    pub async fn tune_gemm(&self, browser: &str, budget_ms: f64) -> Result<JsValue, JsValue> {
        let pipe = self.pipeline()?;
        let key = self.tuning_key(browser);
        let now = || js_sys::Date::now();
        let report = crate::tuning::tune_pipeline(&pipe, &key, budget_ms, &now, &mut |_| {}).await.map_err(js_err)?;
        to_js(&report)
    }

    /// Subject-driven generation. `on_event` receives progress and every iteration's image;
    /// returning `false` cancels.
    pub async fn generate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "GenerateRequest")] request: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(event: CoreEvent) => boolean")] on_event: js_sys::Function,
    ) -> Result<(), JsValue> {
        let pipe = self.pipeline()?;
        let req: GenerateRequest = from_js(request, "generate request")?;
        let mut noise = SeededNoise::new(req.options.seed);
        pipe.generate(&req, &mut noise, &mut JsSink { callback: on_event }).await.map_err(js_err)?;
        Ok(())
    }

    /// Subject-driven editing. `on_event` as for [`Session::generate`].
    pub async fn edit(
        &self,
        #[wasm_bindgen(unchecked_param_type = "EditRequest")] request: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(event: CoreEvent) => boolean")] on_event: js_sys::Function,
    ) -> Result<(), JsValue> {
        let pipe = self.pipeline()?;
        let req: EditRequest = from_js(request, "edit request")?;
        let mut noise = SeededNoise::new(req.options.seed);
        pipe.edit(&req, &mut noise, &mut JsSink { callback: on_event }).await.map_err(js_err)?;
        Ok(())
    }
}

impl Session {
    fn pipeline(&self) -> Result<Rc<Pipeline>, JsValue> {
        self.models.borrow().pipeline().map_err(js_err)
    }
}
