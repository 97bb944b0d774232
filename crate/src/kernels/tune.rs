//! The GEMM tuner: times the implementations of each GEMM problem a model runs (burn's kernels
//! and the tiles of the family, [`GemmShape::candidates`]) on the device at hand, and keeps the
//! fastest per problem in a [`TuneTable`] keyed by adapter, driver/browser and build.
//!
//! A kept table makes the choice reproducible: [`gemm::choose`] reads it and never times
//! anything, so every run on that device and build takes the same float path. The table is
//! stored by the host (natively a cache file, in the page IndexedDB) and installed on the device
//! with [`install`] before the first run; a changed build (another kernel source or crate
//! version, [`BUILD`]) gives another key, so the device is tuned again. Problems a run meets
//! that the kept table lacks take the default and are recorded ([`untuned`]) for the next
//! tuning run.
//!
//! Device facts like the subgroup sizes of [`crate::device::record_subgroups`]: kept per device, not
//! model state.

use std::collections::BTreeMap;

use burn::backend::DispatchDevice;
use burn::tensor::{DType, Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::Kernels;
use super::gemm::{self, Epilogue, GemmImpl, GemmShape};
use crate::Result;
use crate::device::{AdapterReport, read_f32};

/// FNV-1a of `bytes` (a const fn, for [`BUILD`]).
const fn fnv1a(bytes: &[u8], mut hash: u64) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x100_0000_01b3);
        i += 1;
    }
    hash
}

const SOURCES_HASH: u64 = fnv1a(
    include_bytes!("../../../shaders/epilogue.wgsl"),
    fnv1a(include_bytes!("../../../shaders/gemm.wgsl"), fnv1a(include_bytes!("gemm/tiles.rs"), fnv1a(include_bytes!("gemm/mod.rs"), 0xcbf2_9ce4_8422_2325))),
);

/// The build part of a table's key: the crate version and a hash of the GEMM kernels and their
/// launcher, so that a table tuned for other kernels is never applied.
pub fn build_key() -> String {
    format!("{}+{SOURCES_HASH:016x}", env!("CARGO_PKG_VERSION"))
}

/// The key a device's table is kept under: adapter name, graphics API, driver (in the page the
/// browser's, which the page appends) and the build.
pub fn device_key(adapter: &AdapterReport, host: &str) -> String {
    let host = if host.is_empty() { String::new() } else { format!(" | {host}") };
    format!("{} | {} | {}{host} | {}", adapter.name, adapter.backend, adapter.driver, build_key())
}

/// Whether tuning is worth its time on this adapter: not on a CPU rasteriser (lavapipe,
/// SwiftShader), where timing a candidate takes seconds; there the shipped defaults apply.
pub fn tunable(adapter: &AdapterReport) -> bool {
    adapter.device_type != "Cpu"
}

/// The kept choices of one device and build.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct TuneTable {
    /// [`device_key`] of the device and build it was measured on.
    pub key: String,
    /// `"<dtype> <problem key>"` → implementation name (`burn`, `128x64k16t256/s2`, …).
    #[ts(type = "Record<string, string>")]
    pub choices: BTreeMap<String, GemmImpl>,
    /// Milliseconds the tuning took.
    pub tuning_ms: f64,
}

impl TuneTable {
    /// The table as JSON (what hosts store).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a stored table; a malformed one is an input error (the host then tunes again).
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| crate::Error::Input(format!("the kept GEMM tuning table is not valid: {e}")))
    }

    /// How many problems run on each implementation (the page's performance panel).
    pub fn summary(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for imp in self.choices.values() {
            *out.entry(imp.name()).or_default() += 1;
        }
        out
    }
}

fn problem_key(shape: GemmShape, dtype: DType) -> String {
    format!("{} {}", format!("{dtype:?}").to_lowercase(), shape.key())
}

type DeviceId = cubecl::device::DeviceId;

/// Per device: the installed table, and the problems met without a kept choice.
#[derive(Default)]
struct DeviceState {
    table: Option<TuneTable>,
    untuned: Vec<(bool, GemmShape)>,
}

static STATE: std::sync::Mutex<Vec<(DeviceId, DeviceState)>> = std::sync::Mutex::new(Vec::new());

fn with_state<R>(id: DeviceId, f: impl FnOnce(&mut DeviceState) -> R) -> Option<R> {
    let mut all = STATE.lock().ok()?;
    let i = match all.iter().position(|(d, _)| *d == id) {
        Some(i) => i,
        None => {
            all.push((id, DeviceState::default()));
            all.len() - 1
        }
    };
    Some(f(&mut all[i].1))
}

// In the wasm build the cube device is the only kind, and the pattern cannot fail.
#[allow(irrefutable_let_patterns)]
fn device_id(device: &Device) -> Option<DeviceId> {
    let DispatchDevice::Cube(cube) = device.as_dispatch() else { return None };
    Some(cube.to_id())
}

/// Installs `table` as `device`'s kept choices (replacing any other), from now on.
pub fn install(device: &Device, table: TuneTable) {
    if let Some(id) = device_id(device) {
        with_state(id, |s| s.table = Some(table));
    }
}

/// Removes `device`'s kept choices (back to the defaults).
pub fn uninstall(device: &Device) {
    if let Some(id) = device_id(device) {
        with_state(id, |s| s.table = None);
    }
}

/// The table installed on `device`.
pub fn installed(device: &Device) -> Option<TuneTable> {
    with_state(device_id(device)?, |s| s.table.clone()).flatten()
}

/// The kept choice for a problem on a device.
pub(crate) fn kept(id: DeviceId, shape: GemmShape, dtype: DType) -> Option<GemmImpl> {
    let key = problem_key(shape, dtype);
    with_state(id, |s| s.table.as_ref().and_then(|t| t.choices.get(&key).copied())).flatten()
}

/// Records a problem that ran without a kept choice (once).
pub(crate) fn record_untuned(id: DeviceId, shape: GemmShape, dtype: DType) {
    let entry = (dtype == DType::F16, shape);
    with_state(id, |s| {
        if !s.untuned.contains(&entry) {
            s.untuned.push(entry);
        }
    });
}

/// The problems `device` ran without a kept choice since the last call, in the order met; the
/// record is emptied.
pub fn take_untuned(device: &Device) -> Vec<(DType, GemmShape)> {
    let Some(id) = device_id(device) else { return Vec::new() };
    with_state(id, |s| std::mem::take(&mut s.untuned))
        .unwrap_or_default()
        .into_iter()
        .map(|(f16, shape)| (if f16 { DType::F16 } else { DType::F32 }, shape))
        .collect()
}

/// One candidate's time on one problem.
#[derive(Clone, Debug, Serialize, TS)]
pub struct CandidateTime {
    /// Implementation name.
    pub choice: String,
    /// Best of the timed runs, ms (device time plus one small readback).
    pub ms: f64,
    /// 2·M·N·K / time, TFLOP/s.
    pub tflops: f64,
}

/// What tuning found for one problem.
#[derive(Clone, Debug, Serialize, TS)]
pub struct TunedProblem {
    /// `"<dtype> <problem key>"`.
    pub problem: String,
    /// 2·M·N·K.
    pub flops: f64,
    /// The chosen implementation.
    pub choice: String,
    /// Every candidate timed, in the order tried.
    pub candidates: Vec<CandidateTime>,
}

/// The outcome of [`tune`].
#[derive(Clone, Debug, Serialize, TS)]
pub struct TuneReport {
    /// The table now installed (also what the host keeps).
    pub table: TuneTable,
    /// Per problem, the candidates' times.
    pub problems: Vec<TunedProblem>,
    /// Problems left to the defaults because the time budget ran out.
    pub skipped: usize,
}

/// Waits for `t` by reading one value back.
async fn settle<const D: usize>(t: Tensor<D>) -> Result<()> {
    let n = t.shape().num_elements();
    read_f32(t.reshape([n]).narrow(0, 0, 1)).await.map(|_| ())
}

/// Runs one problem with a forced implementation on prepared inputs.
struct Problem {
    shape: GemmShape,
    x: Tensor<4>,
    w: Tensor<4>,
    bias: Tensor<1>,
}

impl Problem {
    fn new(device: &Device, shape: GemmShape, dtype: DType) -> Self {
        let dist = Distribution::Uniform(-1.0, 1.0);
        let rand = |s: [usize; 4]| Tensor::<4>::random(s, dist, (device, DType::F32)).cast(dtype);
        let (x, w, n) = match shape {
            GemmShape::Linear { m, n, k } => (rand([1, 1, m, k]), rand([1, 1, n, k]), n),
            // The map stored channels-last, as convolutions and norms leave it.
            GemmShape::Conv { b, h, w, cin, cout, ks, .. } => {
                let weight = gemm::conv_weight(Kernels::Wgsl, rand([cout, cin, ks, ks]));
                (rand([b, h, w, cin]).permute([0, 3, 1, 2]), weight, cout)
            }
        };
        let bias = Tensor::<1>::random([n], dist, (device, DType::F32)).cast(dtype);
        Self { shape, x, w, bias }
    }

    fn run(&self, imp: GemmImpl) -> Tensor<4> {
        let kernels = Kernels::Forced(imp);
        match self.shape {
            GemmShape::Linear { n, k, .. } => {
                let w: Tensor<2> = self.w.clone().reshape([n, k]);
                let x: Tensor<3> = self.x.clone().squeeze_dim(0);
                gemm::linear_fused(kernels, x, &w, Epilogue::bias(Some(&self.bias))).unsqueeze()
            }
            GemmShape::Conv { stride, pad, .. } => gemm::conv2d(kernels, self.x.clone(), &self.w, Some(&self.bias), stride, pad),
        }
    }
}

/// Times `imp` on `problem`: one run to compile and warm up, one to calibrate, then the best of
/// two batches of runs issued back to back and waited for once (so that the readback's latency is
/// shared by the batch), per run. A candidate already 4× slower than `best` is not timed further.
async fn time_one(problem: &Problem, imp: GemmImpl, best: f64, now: &dyn Fn() -> f64) -> Result<f64> {
    settle(problem.run(imp)).await?;
    let t0 = now();
    settle(problem.run(imp)).await?;
    let mut ms = now() - t0;
    // Batches of at least ~4 ms of work, at most 16 runs.
    let reps = ((4.0 / ms.max(0.05)).ceil() as usize).clamp(1, 16);
    for _ in 0..2 {
        if ms > 4.0 * best {
            break;
        }
        let t0 = now();
        let mut last = problem.run(imp);
        for _ in 1..reps {
            last = problem.run(imp);
        }
        settle(last).await?;
        ms = ms.min((now() - t0) / reps as f64);
    }
    Ok(ms)
}

/// Times every candidate of `shape` in `dtype` on `device` ([`GemmShape::candidates`], or the
/// given ones), in order; the fastest is the first of the minimal times.
pub async fn time_candidates(
    device: &Device,
    shape: GemmShape,
    dtype: DType,
    candidates: Option<&[GemmImpl]>,
    now: &dyn Fn() -> f64,
) -> Result<Vec<(GemmImpl, CandidateTime)>> {
    let problem = Problem::new(device, shape, dtype);
    let all = shape.candidates(dtype);
    let mut best = f64::INFINITY;
    let mut out = Vec::new();
    for &imp in candidates.unwrap_or(&all) {
        let ms = time_one(&problem, imp, best, now).await?;
        best = best.min(ms);
        out.push((imp, CandidateTime { choice: imp.name(), ms, tflops: shape.flops() / (ms.max(1e-6) * 1e9) }));
    }
    Ok(out)
}

/// Times every candidate of each problem on `device` in `dtype`s as listed, keeps the fastest,
/// and installs the resulting table (merged over the one installed, under `key`). Stops
/// starting new problems once `budget_ms` have passed (those keep the default; the report counts
/// them). `now` is a millisecond clock; `emit` receives each problem's result as it is measured.
pub async fn tune(
    device: &Device,
    problems: &[(DType, GemmShape)],
    key: &str,
    budget_ms: f64,
    now: &dyn Fn() -> f64,
    emit: &mut dyn FnMut(&TunedProblem),
) -> Result<TuneReport> {
    let start = now();
    let mut table = installed(device).filter(|t| t.key == key).unwrap_or_else(|| TuneTable { key: key.to_string(), ..Default::default() });
    let mut out = Vec::new();
    let mut skipped = 0;
    for &(dtype, shape) in problems {
        let pkey = problem_key(shape, dtype);
        if table.choices.contains_key(&pkey) {
            continue;
        }
        if now() - start > budget_ms {
            skipped += 1;
            continue;
        }
        let timed = time_candidates(device, shape, dtype, None, now).await?;
        let best = timed.iter().fold((f64::INFINITY, GemmImpl::Burn), |b, (imp, t)| if t.ms < b.0 { (t.ms, *imp) } else { b });
        let times = timed.into_iter().map(|(_, t)| t).collect();
        table.choices.insert(pkey.clone(), best.1);
        let result = TunedProblem { problem: pkey, flops: shape.flops(), choice: best.1.name(), candidates: times };
        emit(&result);
        out.push(result);
    }
    table.tuning_ms += now() - start;
    install(device, table.clone());
    Ok(TuneReport { table, problems: out, skipped })
}
