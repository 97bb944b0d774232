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
use super::safetensors::StoredDType;
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
    /// Sum of all shard sizes (computed when absent).
    #[ts(type = "number")]
    #[serde(default)]
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

    /// Parses and checks a manifest: the one rule the CLI and the page apply (format, version,
    /// dtype, shard names that are plain file names, SHA-256s as 64 hex digits, known components
    /// and every required one present, shard and tensor references consistent). Errors name the
    /// problem; the SHA-256s come back lower-case and a missing `total_bytes` is computed.
    pub fn from_json(json: &str) -> Result<Self> {
        let bad = |why: String| Error::Config(format!("manifest.json: {why}"));
        let mut m: Self = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        if m.format != FORMAT {
            return Err(bad(format!("format `{}` is not `{FORMAT}`", m.format)));
        }
        if m.version != VERSION {
            return Err(bad(format!("format version {} is not supported (this build reads version {VERSION}); re-run `ezigen convert`", m.version)));
        }
        if m.dtype != "f16" && m.dtype != "f32" {
            return Err(bad(format!("dtype `{}` is not f16 or f32", m.dtype)));
        }
        // Required components first: a missing one is named as missing, not through its shards.
        for c in Component::ALL.map(Component::as_str) {
            if !m.components.contains_key(c) {
                return Err(bad(format!("component `{c}` is missing")));
            }
        }
        for name in m.components.keys() {
            name.parse::<Component>().map_err(|_| bad(format!("component `{name}` is not one this build knows")))?;
        }
        for (file, shard) in &mut m.shards {
            if !is_plain_file_name(file) {
                return Err(bad(format!("shard name `{file}` is not a plain file name (letters, digits, `.`, `_`, `-`)")));
            }
            if shard.sha256.len() != 64 || !shard.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(format!("shard `{file}` has no SHA-256 (64 hex digits)")));
            }
            shard.sha256.make_ascii_lowercase();
            match m.components.get(&shard.component) {
                Some(c) if c.shards.contains(file) => {}
                _ => return Err(bad(format!("shard `{file}` belongs to `{}`, which does not list it", shard.component))),
            }
        }
        for (name, entry) in &m.components {
            for s in &entry.shards {
                match m.shards.get(s) {
                    Some(shard) if shard.component == *name => {}
                    _ => return Err(bad(format!("shard `{s}` of `{name}` is not listed under `shards`"))),
                }
            }
            for t in &entry.tensors {
                if StoredDType::from_name(&t.dtype).is_none() {
                    return Err(bad(format!("tensor `{}` has the unknown dtype `{}`", t.name, t.dtype)));
                }
                let within = entry.shards.contains(&t.shard) && t.begin <= t.end && m.shards.get(&t.shard).is_some_and(|s| t.end <= s.bytes);
                if !within {
                    return Err(bad(format!("tensor `{}` lies outside its shard `{}`", t.name, t.shard)));
                }
            }
        }
        let eval = Component::EVAL.map(Component::as_str);
        if Component::EVAL.iter().any(|c| m.components.contains_key(c.as_str()))
            && !(m.config.clip_text.is_some() && m.config.dino.is_some() && eval.iter().all(|c| m.components.contains_key(*c)))
        {
            return Err(bad("the metric models (clip_text, dino) are incomplete".into()));
        }
        let sum: u64 = m.shards.values().map(|s| s.bytes).sum();
        if m.total_bytes == 0 {
            m.total_bytes = sum;
        }
        // The model configurations are checked where models are built from them
        // (the loader's `parse_configs`).
        Ok(m)
    }
}

/// A shard name the page and the CLI may join to a folder or a URL: letters, digits, `.`, `_`
/// and `-`, not starting with a dot (so no `..`, no path separators, no scheme or query).
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && !name.starts_with('.') && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}
