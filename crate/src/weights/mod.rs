//! Weights: safetensors parsing, the device-resident weight store that shards stream into, and
//! the prefix-based builder the models load themselves from by their original key names.

pub mod components;
pub mod manifest;
pub mod names;
pub mod safetensors;
pub mod store;

pub use safetensors::{SafetensorsHeader, StoredDType, TensorInfo};
pub use store::{Loader, VarBuilder, WeightStore};

/// Whether a checkpoint key belongs to EZIGen's additions to the UNet: the adapters
/// (`*.adapter.*`), their norms (`*.adapter_norm.*`) and `learnable_weights` (113 tensors for
/// SD 2.1-base). Keys must already be stripped of a `module.` prefix.
pub fn is_adapter_key(name: &str) -> bool {
    name.contains(".adapter.") || name.contains(".adapter_norm.") || name == "learnable_weights"
}
