//! The device-resident weight store and the prefix builder models load from.
//!
//! Shards are fed one at a time: every tensor is converted and uploaded to the device at once
//! and the shard's bytes are dropped by the caller, so no component is ever held whole in
//! (wasm) memory. Once a component's shards are in, its model is built from the store by key
//! name ([`VarBuilder`], candle-style prefixes), and every missing, unexpected and wrongly
//! shaped key is reported together in one [`Error::Tensors`].

use std::cell::RefCell;
use std::collections::BTreeMap;

use burn::tensor::{DType, Device, Tensor};

use super::safetensors::{SafetensorsHeader, float_data};
use crate::{Error, Result};

/// One uploaded tensor: flat on the device, with its logical shape.
struct Stored {
    data: Tensor<1>,
    shape: Vec<usize>,
}

/// Tensors of one component on one device, by key name.
pub struct WeightStore {
    device: Device,
    dtype: DType,
    keep_f32: Vec<String>,
    tensors: BTreeMap<String, Stored>,
}

impl WeightStore {
    /// An empty store uploading float weights to `device` as `dtype` (F32 or F16).
    pub fn new(device: &Device, dtype: DType) -> Self {
        Self { device: device.clone(), dtype, keep_f32: Vec::new(), tensors: BTreeMap::new() }
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
    pub fn add_safetensors(
        &mut self,
        bytes: &[u8],
        file: &str,
        mut rename: impl FnMut(&str) -> Option<String>,
    ) -> Result<()> {
        let header = SafetensorsHeader::parse(bytes, file)?;
        for info in &header.tensors {
            let Some(key) = rename(&info.name) else { continue };
            let dtype = if self.keep_f32.iter().any(|p| key.contains(p.as_str())) { DType::F32 } else { self.dtype };
            let data = float_data(info, &bytes[info.range.clone()], dtype, file)?;
            self.insert_data(key, data, info.shape.clone());
        }
        Ok(())
    }

    /// Uploads one tensor given as flat (1-D) [`burn::tensor::TensorData`] with its logical
    /// shape.
    pub fn insert_data(&mut self, key: String, data: burn::tensor::TensorData, shape: Vec<usize>) {
        debug_assert_eq!(data.num_elements(), shape.iter().product::<usize>(), "insert_data takes flat data");
        let dtype = data.dtype();
        let tensor = Tensor::<1>::from_data(data, (&self.device, dtype));
        self.tensors.insert(key, Stored { data: tensor, shape });
    }

    /// Starts building a model named `component` from this store.
    pub fn builder(self, component: &str) -> Loader {
        Loader {
            state: RefCell::new(LoadState {
                device: self.device.clone(),
                dtype: self.dtype,
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
    pub fn random_builder(device: &Device, dtype: DType, component: &str) -> Loader {
        let loader = WeightStore::new(device, dtype).builder(component);
        loader.state.borrow_mut().random = true;
        loader
    }
}

struct LoadState {
    device: Device,
    dtype: DType,
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
            Some(stored) if same_shape(&stored.shape, &shape) => stored.data.reshape(shape),
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
}

/// Reassembles a tensor written in parts `key#0`, `key#1`, … (split along the first axis by the
/// converter to keep every tensor under 128 MiB).
fn join_parts(tensors: &mut BTreeMap<String, Stored>, key: &str) -> Option<Stored> {
    let mut parts = Vec::new();
    while let Some(p) = tensors.remove(&format!("{key}#{}", parts.len())) {
        parts.push(p);
    }
    let first = parts.first()?;
    let mut shape = first.shape.clone();
    shape[0] = parts.iter().map(|p| p.shape[0]).sum();
    let data = Tensor::cat(parts.into_iter().map(|p| p.data).collect(), 0);
    Some(Stored { data, shape })
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
