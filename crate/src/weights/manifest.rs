//! `manifest.json` of a converted model: what the browser and `--weights DIR` read before
//! any shard. Written by `ezigen convert`.
//!
//! ```json
//! { "format": "ezigen-shards", "version": 1, "name": "sd21-base-ezigen", "tiny": false,
//!   "dtype": "f16", "total_bytes": 2712345678,
//!   "components": { "unet": { "bytes": N, "shards": ["unet-00000.safetensors", …],
//!                             "tensors": [{ "name", "dtype", "shape", "shard", "begin", "end" }, …] }, … },
//!   "shards": { "unet-00000.safetensors": { "component": "unet", "bytes": N, "sha256": "…" }, … },
//!   "config": { "unet": {…}, "vae": {…}, "text_encoder": {…}, "clip_vision": {…}, "scheduler": {…} } }
//! ```
//! `begin`/`end` are byte offsets of a tensor's data within its shard file. Every shard is a
//! complete safetensors file (the tokenizer's is `tokenizer.json`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::components::{Component, ModelConfigs};
use crate::{Error, Result};

/// The format name in `manifest.json`.
pub const FORMAT: &str = "ezigen-shards";
/// The format version this build reads and writes.
pub const VERSION: u32 = 1;

/// A tensor's location.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, TS)]
pub struct TensorEntry {
    /// Canonical key.
    pub name: String,
    /// Stored dtype ("F16", "F32").
    pub dtype: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Shard file name.
    pub shard: String,
    /// First byte of the data in the shard.
    #[ts(type = "number")]
    pub begin: u64,
    /// One past the last byte.
    #[ts(type = "number")]
    pub end: u64,
}

/// A component: its shards in load order and its tensors.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, TS)]
pub struct ComponentEntry {
    /// Bytes of all its shards.
    #[ts(type = "number")]
    pub bytes: u64,
    /// Shard files, in load order.
    pub shards: Vec<String>,
    /// Tensors (empty for the tokenizer).
    #[serde(default)]
    pub tensors: Vec<TensorEntry>,
}

/// A shard file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, TS)]
pub struct ShardEntry {
    /// Component it belongs to.
    pub component: String,
    /// File size.
    #[ts(type = "number")]
    pub bytes: u64,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: String,
}

/// The whole manifest.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Format version.
    pub version: u32,
    /// Model name ("sd21-base-ezigen", "tiny-random").
    pub name: String,
    /// Whether this is the built-in tiny random-weight model.
    #[serde(default)]
    pub tiny: bool,
    /// Dtype most tensors are stored in ("f16" or "f32").
    pub dtype: String,
    /// Sum of all shard sizes.
    #[ts(type = "number")]
    pub total_bytes: u64,
    /// Components by name.
    pub components: BTreeMap<String, ComponentEntry>,
    /// Shards by file name.
    pub shards: BTreeMap<String, ShardEntry>,
    /// Model configurations.
    #[ts(type = "unknown")]
    pub config: ModelConfigs,
}

impl Manifest {
    /// Whether the metric models ([`Component::EVAL`]) are in this model.
    pub fn has_metrics(&self) -> bool {
        Component::EVAL.iter().all(|c| self.components.contains_key(c.as_str()))
    }

    /// Parses and checks a manifest (format, version, every component present, shard
    /// references consistent).
    pub fn from_json(json: &str) -> Result<Self> {
        let m: Self = serde_json::from_str(json).map_err(|e| Error::Config(format!("manifest.json: {e}")))?;
        if m.format != FORMAT {
            return Err(Error::Config(format!("manifest.json: format `{}` is not `{FORMAT}`", m.format)));
        }
        if m.version != VERSION {
            return Err(Error::Config(format!(
                "manifest.json: format version {} is not supported (this build reads version {VERSION}); re-run `ezigen convert`",
                m.version
            )));
        }
        let eval = Component::EVAL.map(Component::as_str);
        for c in Component::ALL.map(Component::as_str).into_iter().chain(eval.into_iter().filter(|c| m.components.contains_key(*c))) {
            let entry = m.components.get(c).ok_or_else(|| Error::Config(format!("manifest.json: component `{c}` is missing")))?;
            for s in &entry.shards {
                match m.shards.get(s) {
                    Some(shard) if shard.component == c => {}
                    _ => return Err(Error::Config(format!("manifest.json: shard `{s}` of `{c}` is not listed under `shards`"))),
                }
            }
        }
        if Component::EVAL.iter().any(|c| m.components.contains_key(c.as_str()))
            && !(m.config.clip_text.is_some() && m.config.dino.is_some() && eval.iter().all(|c| m.components.contains_key(*c)))
        {
            return Err(Error::Config("manifest.json: the metric models (clip_text, dino) are incomplete".into()));
        }
        // The model configurations are checked where models are built from them
        // (the loader's `parse_configs`).
        Ok(m)
    }
}
