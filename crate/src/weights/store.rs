//! The device-resident weight store and the prefix builder models load from.
//!
//! Shards are fed one at a time and read by byte range ([`SourceFile`]): every tensor is
//! converted and uploaded in row-aligned pieces of at most [`UPLOAD_PIECE_BYTES`], and the
//! device's upload queue is flushed after each piece, so host (wasm) memory holds one piece at a
//! time, never a component or even a whole large tensor. Once a component's shards are in, its
//! model is built from the store by key name ([`VarBuilder`], candle-style prefixes), and every
//! missing, unexpected and wrongly shaped key is reported together in one [`Error::Tensors`].

use std::cell::RefCell;
use std::collections::BTreeMap;

use burn::tensor::{DType, Device, Tensor};

use super::safetensors::{SafetensorsHeader, SourceFile, TensorInfo, float_values};
use crate::{Error, Result};

/// The most bytes (in the stored dtype) uploaded at once: larger tensors are converted and
/// uploaded in row-aligned pieces and joined on the device.
pub const UPLOAD_PIECE_BYTES: usize = 8 << 20;

/// One uploaded tensor: flat pieces on the device (consecutive rows of its first axis, in
/// order; one piece for most tensors), with its logical shape.
struct Stored {
    pieces: Vec<(Tensor<1>, usize)>,
    shape: Vec<usize>,
}

impl Stored {
    /// The whole tensor, flat (pieces joined on the device).
    fn joined(self) -> Tensor<1> {
        let mut pieces: Vec<Tensor<1>> = self.pieces.into_iter().map(|(t, _)| t).collect();
        if pieces.len() == 1 { pieces.pop().expect("one piece") } else { Tensor::cat(pieces, 0) }
    }
}

/// Tensors of one component on one device, by key name.
pub struct WeightStore {
    device: Device,
    dtype: DType,
    keep_f32: Vec<String>,
    max_tensor_bytes: Option<u64>,
    tensors: BTreeMap<String, Stored>,
}

impl WeightStore {
    /// An empty store uploading float weights to `device` as `dtype` (F32 or F16).
    pub fn new(device: &Device, dtype: DType) -> Self {
        Self { device: device.clone(), dtype, keep_f32: Vec::new(), max_tensor_bytes: None, tensors: BTreeMap::new() }
    }

    /// The largest tensor the device can bind (`maxStorageBufferBindingSize`): a table larger
    /// than this is handed out as row blocks ([`VarBuilder::take_row_blocks`]).
    pub fn max_tensor_bytes(mut self, limit: Option<u64>) -> Self {
        self.max_tensor_bytes = limit;
        self
    }

    /// Keys containing any of these substrings stay f32 whatever the store's dtype (e.g.
    /// `learnable_weights`).
    pub fn keep_f32(mut self, patterns: &[&str]) -> Self {
        self.keep_f32 = patterns.iter().map(|s| s.to_string()).collect();
        self
    }

    /// The device tensors are uploaded to.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The float dtype weights are stored in.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Number of tensors held.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Whether a key is present.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Uploads every tensor of a whole safetensors file held in `bytes` whose name `rename`
    /// maps to `Some(key)` (return `None` to skip a tensor). Non-float tensors are refused.
    pub fn add_safetensors(&mut self, bytes: &[u8], file: &str, rename: impl FnMut(&str) -> Option<String>) -> Result<()> {
        self.add_safetensors_from(&bytes, file, rename)
    }

    /// [`Self::add_safetensors`] from a file read by range: the header, then each tensor in
    /// pieces, so the file is never held whole.
    pub fn add_safetensors_from(
        &mut self,
        f: &dyn SourceFile,
        file: &str,
        mut rename: impl FnMut(&str) -> Option<String>,
    ) -> Result<()> {
        let header = SafetensorsHeader::read(f, file)?;
        for info in &header.tensors {
            let Some(key) = rename(&info.name) else { continue };
            if !info.dtype.is_float() {
                return Err(Error::Weights { file: file.to_string(), reason: format!("tensor {}: {} is not a float type", info.name, info.dtype.name()) });
            }
            let dtype = if self.keep_f32.iter().any(|p| key.contains(p.as_str())) { DType::F32 } else { self.dtype };
            let stored = self.upload(f, info, dtype)?;
            self.tensors.insert(key, stored);
        }
        Ok(())
    }

    /// Converts and uploads one tensor in row-aligned pieces of at most [`UPLOAD_PIECE_BYTES`]
    /// (and at most the largest binding), flushing the device's upload queue after each so its
    /// bytes are freed at once.
    fn upload(&self, f: &dyn SourceFile, info: &TensorInfo, dtype: DType) -> Result<Stored> {
        let rows = info.shape.first().copied().unwrap_or(1);
        let row_elems = if rows == 0 { 0 } else { info.numel() / rows };
        let out_row = (row_elems * dtype.size()).max(1);
        let piece_bytes = self.max_tensor_bytes.map_or(UPLOAD_PIECE_BYTES, |l| UPLOAD_PIECE_BYTES.min(l as usize));
        let rows_per_piece = (piece_bytes / out_row).max(1);
        let src_row = row_elems * info.dtype.size();
        let mut pieces = Vec::new();
        let mut start = 0;
        loop {
            let n = rows_per_piece.min(rows - start);
            let bytes = f.read_at((info.range.start + start * src_row) as u64, n * src_row)?;
            let piece = Tensor::<1>::from_data(float_values(info.dtype, &bytes, dtype), (&self.device, dtype));
            crate::device::submit_queued(&self.device);
            pieces.push((piece, n));
            start += n;
            if start >= rows {
                break;
            }
        }
        Ok(Stored { pieces, shape: info.shape.clone() })
    }

    /// Uploads one tensor given as flat (1-D) [`burn::tensor::TensorData`] with its logical
    /// shape.
    pub fn insert_data(&mut self, key: String, data: burn::tensor::TensorData, shape: Vec<usize>) {
        debug_assert_eq!(data.num_elements(), shape.iter().product::<usize>(), "insert_data takes flat data");
        let dtype = data.dtype();
        let tensor = Tensor::<1>::from_data(data, (&self.device, dtype));
        let rows = shape.first().copied().unwrap_or(1);
        self.tensors.insert(key, Stored { pieces: vec![(tensor, rows)], shape });
    }

    /// Starts building a model named `component` from this store.
    pub fn builder(self, component: &str) -> Loader {
        Loader {
            state: RefCell::new(LoadState {
                device: self.device.clone(),
                dtype: self.dtype,
                max_tensor_bytes: self.max_tensor_bytes,
                tensors: self.tensors,
                missing: Vec::new(),
                mismatched: Vec::new(),
                allowed_unused: Vec::new(),
                random: false,
            }),
            component: component.to_string(),
        }
    }

    /// A builder that creates every tensor the model asks for with random values on the device
    /// (normal, σ = 0.02; norm weights 1, biases 0): full-size architectures without weights,
    /// for benchmarks and shape checks.
    pub fn random_builder(device: &Device, dtype: DType, max_tensor_bytes: Option<u64>, component: &str) -> Loader {
        let loader = WeightStore::new(device, dtype).max_tensor_bytes(max_tensor_bytes).builder(component);
        loader.state.borrow_mut().random = true;
        loader
    }
}

struct LoadState {
    device: Device,
    dtype: DType,
    max_tensor_bytes: Option<u64>,
    tensors: BTreeMap<String, Stored>,
    missing: Vec<String>,
    mismatched: Vec<String>,
    allowed_unused: Vec<String>,
    random: bool,
}

/// Owns the tensors while a model takes them; [`Loader::finish`] reports what did not fit.
pub struct Loader {
    state: RefCell<LoadState>,
    component: String,
}

impl Loader {
    /// The root builder (no prefix).
    pub fn root(&self) -> VarBuilder<'_> {
        VarBuilder { state: &self.state, prefix: String::new() }
    }

    /// Keys starting with this prefix may be left unused without an error.
    pub fn allow_unused(self, prefix: &str) -> Self {
        self.state.borrow_mut().allowed_unused.push(prefix.to_string());
        self
    }

    /// Succeeds only when every key the model asked for was present with the right shape and
    /// every key in the store was used (or allowed to stay unused).
    pub fn finish(self) -> Result<()> {
        let state = self.state.into_inner();
        let unexpected: Vec<String> = state
            .tensors
            .keys()
            .filter(|k| !state.allowed_unused.iter().any(|p| k.starts_with(p.as_str())))
            .cloned()
            .collect();
        if state.missing.is_empty() && state.mismatched.is_empty() && unexpected.is_empty() {
            Ok(())
        } else {
            Err(Error::Tensors {
                component: self.component,
                missing: state.missing,
                unexpected,
                mismatched: state.mismatched,
            })
        }
    }
}

/// A view of a [`Loader`] under a key prefix. Models take their tensors through it by their
/// original (diffusers / transformers) key names.
#[derive(Clone)]
pub struct VarBuilder<'a> {
    state: &'a RefCell<LoadState>,
    prefix: String,
}

impl<'a> VarBuilder<'a> {
    /// The builder for a sub-module (`vb.pp("down_blocks").pp(0)`).
    pub fn pp(&self, name: impl std::fmt::Display) -> VarBuilder<'a> {
        let prefix = if self.prefix.is_empty() { name.to_string() } else { format!("{}.{name}", self.prefix) };
        VarBuilder { state: self.state, prefix }
    }

    /// The full key of `name` under this prefix.
    pub fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_string() } else { format!("{}.{name}", self.prefix) }
    }

    /// The device the model lives on.
    pub fn device(&self) -> Device {
        self.state.borrow().device.clone()
    }

    /// The float dtype of the weights.
    pub fn dtype(&self) -> DType {
        self.state.borrow().dtype
    }

    /// Whether a tensor exists under this prefix.
    pub fn contains(&self, name: &str) -> bool {
        self.state.borrow().tensors.contains_key(&self.key(name))
    }

    /// Takes the tensor `name` with the given shape. A missing or misshapen tensor is recorded
    /// (and reported by [`Loader::finish`]); a placeholder is returned so loading can go on and
    /// find every other problem too.
    pub fn take<const D: usize>(&self, name: &str, shape: [usize; D]) -> Tensor<D> {
        let key = self.key(name);
        let mut state = self.state.borrow_mut();
        let stored = state.tensors.remove(&key).or_else(|| join_parts(&mut state.tensors, &key));
        match stored {
            Some(stored) if same_shape(&stored.shape, &shape) => stored.joined().reshape(shape),
            Some(stored) => {
                state.mismatched.push(format!("{key}: expected {shape:?}, found {:?}", stored.shape));
                Tensor::zeros([1; D], (&state.device, state.dtype))
            }
            None if state.random => random_param(&key, shape, &state.device, state.dtype),
            None => {
                state.missing.push(key);
                Tensor::zeros([1; D], (&state.device, state.dtype))
            }
        }
    }

    /// Takes the tensor `name` if present (for optional biases).
    pub fn take_opt<const D: usize>(&self, name: &str, shape: [usize; D]) -> Option<Tensor<D>> {
        self.contains(name).then(|| self.take(name, shape))
    }

    /// Takes the table `name` `[rows, cols]` as consecutive row blocks, each within the store's
    /// largest tensor (one block when it fits, or without a limit): a table the device could
    /// not bind whole (SD 2.1's f32 token embedding, 202 MB, over WebGPU's default 128 MiB).
    /// Problems are recorded as by [`Self::take`].
    pub fn take_row_blocks(&self, name: &str, shape: [usize; 2]) -> Vec<Tensor<2>> {
        let key = self.key(name);
        let mut state = self.state.borrow_mut();
        let [rows, cols] = shape;
        let row_bytes = (cols * state.dtype.size()).max(1) as u64;
        let max_rows = state.max_tensor_bytes.map_or(usize::MAX, |l| (l / row_bytes).max(1) as usize);
        let stored = state.tensors.remove(&key).or_else(|| join_parts(&mut state.tensors, &key));
        match stored {
            Some(stored) if same_shape(&stored.shape, &shape) => {
                let mut blocks = Vec::new();
                let mut group: Vec<Tensor<1>> = Vec::new();
                let mut group_rows = 0;
                let mut close = |group: &mut Vec<Tensor<1>>, group_rows: &mut usize| {
                    let t = if group.len() == 1 { group.pop().expect("one piece") } else { Tensor::cat(std::mem::take(group), 0) };
                    blocks.push(t.reshape([*group_rows, cols]));
                    *group_rows = 0;
                };
                for (piece, n) in stored.pieces {
                    if group_rows > 0 && group_rows + n > max_rows {
                        close(&mut group, &mut group_rows);
                    }
                    group.push(piece);
                    group_rows += n;
                }
                close(&mut group, &mut group_rows);
                blocks
            }
            Some(stored) => {
                state.mismatched.push(format!("{key}: expected {shape:?}, found {:?}", stored.shape));
                vec![Tensor::zeros([1, cols], (&state.device, state.dtype))]
            }
            None if state.random => (0..rows)
                .step_by(max_rows.min(rows).max(1))
                .map(|s| random_param(&key, [max_rows.min(rows - s), cols], &state.device, state.dtype))
                .collect(),
            None => {
                state.missing.push(key);
                vec![Tensor::zeros([1, cols], (&state.device, state.dtype))]
            }
        }
    }
}

/// Reassembles a tensor written in parts `key#0`, `key#1`, … (split along the first axis by the
/// converter to keep every tensor under 128 MiB).
fn join_parts(tensors: &mut BTreeMap<String, Stored>, key: &str) -> Option<Stored> {
    let mut parts = Vec::new();
    while let Some(p) = tensors.remove(&format!("{key}#{}", parts.len())) {
        parts.push(p);
    }
    let mut shape = parts.first()?.shape.clone();
    shape[0] = parts.iter().map(|p| p.shape[0]).sum();
    let pieces = parts.into_iter().flat_map(|p| p.pieces).collect();
    Some(Stored { pieces, shape })
}

fn random_param<const D: usize>(key: &str, shape: [usize; D], device: &Device, dtype: DType) -> Tensor<D> {
    let dtype = if key.contains("learnable_weights") { DType::F32 } else { dtype };
    let leaf = key.rsplit('.').next().unwrap_or(key);
    let is_norm = key.contains("norm") && D == 1;
    if leaf == "bias" {
        Tensor::zeros(shape, (device, dtype))
    } else if is_norm || key.contains("learnable_weights") {
        Tensor::ones(shape, (device, dtype))
    } else {
        Tensor::random(shape, burn::tensor::Distribution::Normal(0.0, 0.02), (device, dtype))
    }
}

/// Shapes match exactly, or up to trailing unit axes (a 1×1 convolution weight `[C, C, 1, 1]`
/// stored for what is now a Linear `[C, C]`, as in legacy VAE attention weights).
fn same_shape(stored: &[usize], wanted: &[usize]) -> bool {
    fn trim(s: &[usize]) -> &[usize] {
        let mut n = s.len();
        while n > 1 && s[n - 1] == 1 {
            n -= 1;
        }
        &s[..n]
    }
    stored == wanted || trim(stored) == trim(wanted)
}
