//! The wasm boundary: the only file that uses `wasm_bindgen`. Everything here converts between
//! JavaScript values and the library's types; no math lives here.
//!
//! Values crossing the boundary are numbers, strings (JSON for structured data) and
//! `Uint8Array`s. Every export returns `Result<_, JsError>`; nothing JS can reach unwraps.

use burn::tensor::{DType, Device};
use wasm_bindgen::prelude::*;

use crate::device::{self, AdapterReport};
use crate::{Error, smoke};

/// A JS error whose message starts with the failure kind in brackets (`[bad-input] …`), which
/// the worker maps to a user-facing explanation.
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

/// A WebGPU session: the burn device on the browser's adapter. Create one per worker.
#[wasm_bindgen]
pub struct Session {
    device: Device,
    report: AdapterReport,
}

#[wasm_bindgen]
impl Session {
    /// Initialises burn's wgpu runtime on `navigator.gpu` (fails with a readable message when
    /// there is no WebGPU or no adapter).
    pub async fn create() -> Result<Session, JsError> {
        let (device, report) = device::init_wgpu_async().await.map_err(js_err)?;
        Ok(Session { device, report })
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
}
