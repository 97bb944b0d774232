//! Conversion of the published weights into the sharded format the browser streams
//! (`manifest.json` + shards, f16 by default): the stock SD 2.1-base folder (diffusers layout),
//! the official EZIGen checkpoint folder (accelerate state: only its adapter keys are taken) and
//! CLIP ViT-B/32 (transformers layout).
//!
//! The same [`Converter`] runs in the CLI (`ezigen convert`, [`files`]) and in the page's worker
//! (files the user picked, read through `File.slice`): it reads its inputs through a
//! [`SourceTree`] one byte range at a time — a whole input file is never held — and hands out one
//! finished shard at a time, so the caller stores it (a file, the browser's cache) before the next
//! is made. The refusals and messages are the same wherever it runs.

mod checks;
#[cfg(feature = "native")]
pub mod files;
mod inputs;
mod plan;

#[cfg(feature = "native")]
pub use files::{ConvertOptions, FolderTree, convert};
pub use inputs::{Root, SourceFile, SourceTree, TorchTensor, has_metric_models, read_configs};

use checks::{check_adapters, check_model, is_test_sized};
use inputs::{INPUTS, METRIC_INPUTS, join};
use plan::{Data, Piece, Planned, Source, plan_shards};

use std::collections::BTreeMap;

use half::f16;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ts_rs::TS;

use crate::models::unet::UNet2DConditionConfig;
use crate::weights::components::{Component, ModelConfigs, route_raw_key};
use crate::weights::manifest::{ComponentEntry, FORMAT, Manifest, ShardEntry, TensorEntry, VERSION};
use crate::weights::safetensors::{SafetensorsHeader, StoredDType, TensorToWrite, floats_as_f32, write};
use crate::{Error, Result};

/// No single tensor is written larger than this; bigger ones are split along their first axis
/// into `name#k` parts (reassembled by the loader).
pub const MAX_TENSOR_BYTES: usize = 128 << 20;

/// Input bytes read (and converted) at a time: the most the converter holds of an input beyond
/// the tensor it is writing.
const READ_CHUNK: usize = 16 << 20;

/// How to convert.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConvertSettings {
    /// Stored dtype of float tensors (F16 or F32); `learnable_weights` always stays F32.
    #[ts(type = "'f16' | 'f32'")]
    #[serde(with = "dtype_name")]
    pub dtype: StoredDType,
    /// Maximum shard size in bytes.
    pub shard_bytes: usize,
    /// Model name in the manifest.
    pub name: String,
    /// Marks the built-in tiny random model (also set for any test-sized model).
    pub tiny: bool,
}

/// `dtype` as the page writes it ("f16" / "f32").
mod dtype_name {
    use super::StoredDType;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &StoredDType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if *d == StoredDType::F16 { "f16" } else { "f32" })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<StoredDType, D::Error> {
        match String::deserialize(d)?.as_str() {
            "f16" => Ok(StoredDType::F16),
            "f32" => Ok(StoredDType::F32),
            other => Err(serde::de::Error::custom(format!("dtype must be \"f16\" or \"f32\", not {other:?}"))),
        }
    }
}

/// One finished shard: its file name, component, bytes and their SHA-256 (hex).
#[derive(Serialize, TS)]
#[ts(rename = "ConvertedShard")]
pub struct Shard {
    /// File name in the output (`unet-00000.safetensors`, `tokenizer.json`).
    pub file: String,
    /// The component it belongs to.
    pub component: Component,
    /// The file's bytes.
    #[serde(with = "serde_bytes")]
    #[ts(type = "Uint8Array")]
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of `bytes`.
    pub sha256: String,
}

/// What a conversion will make, known before it starts (for the storage check).
#[derive(Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConvertPlan {
    /// Bytes the shards will take (tensor data, shard headers aside).
    #[ts(type = "number")]
    pub output_bytes: u64,
    /// Number of shards.
    pub shard_count: usize,
    /// Whether the model is marked tiny (the built-in or a test-sized model).
    pub tiny: bool,
    /// What the user should know about the model (converted anyway).
    pub warnings: Vec<String>,
}

/// Where a conversion stands.
#[derive(Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConvertProgress {
    /// Input bytes converted so far.
    #[ts(type = "number")]
    pub done_bytes: u64,
    /// Input bytes in all.
    #[ts(type = "number")]
    pub total_bytes: u64,
    /// Shards made so far.
    pub shards_done: usize,
    /// Shards in all.
    pub shard_count: usize,
    /// The component being converted next (`null` when done).
    pub component: Option<Component>,
}

/// Converts a stored tensor's bytes to `to` (float types) or keeps them.
fn convert_bytes(bytes: &[u8], from: StoredDType, to: StoredDType, out: &mut Vec<u8>) {
    if from == to || !from.is_float() {
        out.extend_from_slice(bytes);
        return;
    }
    let values = floats_as_f32(from, bytes);
    match to {
        StoredDType::F16 => out.extend(values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes())),
        _ => out.extend(values.iter().flat_map(|v| v.to_le_bytes())),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Turns the input folders into shards, one at a time ([`Converter::next_shard`]), then the
/// manifest ([`Converter::manifest`]).
pub struct Converter {
    files: Vec<Box<dyn SourceFile>>,
    sources: Vec<Source>,
    plan: Vec<Planned>,
    next: usize,
    settings: ConvertSettings,
    tiny: bool,
    configs: ModelConfigs,
    warnings: Vec<String>,
    total_bytes: u64,
    done_bytes: u64,
    components: BTreeMap<String, ComponentEntry>,
    shards: BTreeMap<String, ShardEntry>,
    /// The `tokenizer.json` written with the model (the converter's caller supplies it: the CLI
    /// its built-in one, the page the app's `tokenizer.json.gz` asset).
    tokenizer_json: Vec<u8>,
}

impl Converter {
    /// Reads the configurations and the input files' headers, refuses what EZIGen cannot run
    /// (wrong model, missing or misfitting adapters, damaged files) and plans the shards.
    /// `tokenizer_json` is the CLIP tokenizer written with the model; it is checked here.
    pub fn new(tree: &dyn SourceTree, settings: ConvertSettings, tokenizer_json: Vec<u8>) -> Result<Self> {
        if settings.shard_bytes == 0 {
            return Err(Error::Input("the shard size must be at least 1 byte".into()));
        }
        crate::tokenizer::ClipTokenizer::from_bytes(&tokenizer_json)?;
        let configs = read_configs(tree)?;
        let unet = UNet2DConditionConfig::from_json(&configs.unet.to_string())?;
        let warnings = check_model(&configs, &unet, settings.tiny)?;
        let tiny = settings.tiny || is_test_sized(&unet);

        let mut files: Vec<Box<dyn SourceFile>> = Vec::new();
        let mut sources = Vec::new();
        let mut checkpoint = String::new();
        let metrics = has_metric_models(tree)?;
        let inputs = INPUTS.iter().chain(if metrics { &METRIC_INPUTS[..] } else { &[] });
        for &(kind, root, dir, names) in inputs {
            let mut opened = None;
            for name in names {
                let path = join(dir, name);
                if name.ends_with(".bin") {
                    if tree.open(root, &path)?.is_some() {
                        opened = Some((path, None));
                        break;
                    }
                } else if let Some(f) = tree.open(root, &path)? {
                    opened = Some((path, Some(f)));
                    break;
                }
            }
            let (path, file) = opened
                .ok_or_else(|| Error::Input(format!("{} has no weights file ({}): is it {}?", tree.describe(root, dir), names.join(" or "), root.label())))?;
            let described = tree.describe(root, &path);
            if kind == "ezigen" {
                checkpoint = described.clone();
            }
            let mut push = |name: String, dtype, shape, data| {
                if let Some((component, canonical)) = route_raw_key(kind, &name) {
                    sources.push(Source { kind, component, file: described.clone(), name: canonical, dtype, shape, data });
                }
            };
            match file {
                Some(f) => {
                    let header = SafetensorsHeader::read(f.as_ref(), &described)?;
                    let index = files.len();
                    for t in header.tensors {
                        push(t.name, t.dtype, t.shape, Data::Range(index, t.range.start as u64..t.range.end as u64));
                    }
                    files.push(f);
                }
                None => {
                    let mut tensors = tree.torch_tensors(root, &path)?;
                    tensors.sort_by(|a, b| a.name.cmp(&b.name));
                    for t in tensors {
                        push(t.name, t.dtype, t.shape, Data::Torch(t.read));
                    }
                }
            }
        }
        check_adapters(&sources, &unet, &checkpoint)?;

        let components_in: Vec<Component> = Component::ALL.into_iter().chain(if metrics { Component::EVAL.to_vec() } else { Vec::new() }).collect();
        let plan = plan_shards(&sources, &settings, &components_in);
        let total_bytes = sources.iter().map(|s| s.byte_len() as u64).sum();
        let components = components_in
            .iter()
            .map(|c| (c.to_string(), ComponentEntry { bytes: 0, shards: Vec::new(), tensors: Vec::new() }))
            .collect();
        Ok(Self {
            files,
            sources,
            plan,
            next: 0,
            settings,
            tiny,
            configs,
            warnings,
            total_bytes,
            done_bytes: 0,
            components,
            shards: BTreeMap::new(),
            tokenizer_json,
        })
    }

    /// What the conversion will make.
    pub fn plan(&self) -> ConvertPlan {
        ConvertPlan { output_bytes: self.output_bytes(), shard_count: self.plan.len(), tiny: self.tiny, warnings: self.warnings.clone() }
    }

    /// Where the conversion stands.
    pub fn progress(&self) -> ConvertProgress {
        ConvertProgress {
            done_bytes: self.done_bytes,
            total_bytes: self.total_bytes,
            shards_done: self.next,
            shard_count: self.plan.len(),
            component: self.next_component(),
        }
    }

    /// What the user should know about the model (converted anyway).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Bytes of input tensors in all.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Bytes of input tensors converted so far.
    pub fn done_bytes(&self) -> u64 {
        self.done_bytes
    }

    /// The component the next shard belongs to (`None` when all are made).
    pub fn next_component(&self) -> Option<Component> {
        self.plan.get(self.next).map(|p| p.component)
    }

    /// Output bytes of tensors in all (shard headers aside): what the output will take.
    pub fn output_bytes(&self) -> u64 {
        let tensors: usize = self.plan.iter().flat_map(|p| &p.pieces).map(|p| p.shape.iter().product::<usize>() * p.to.size()).sum();
        tensors as u64 + self.tokenizer_json.len() as u64
    }

    /// The manifest's entry for `component` as far as it is converted.
    pub fn entry(&self, component: Component) -> &ComponentEntry {
        &self.components[component.as_str()]
    }

    /// Makes the next shard; `None` once every shard is made.
    pub fn next_shard(&mut self) -> Result<Option<Shard>> {
        let Some(planned) = self.plan.get(self.next) else { return Ok(None) };
        let component = planned.component;
        let file = planned.file.clone();
        let bytes = if component == Component::Tokenizer {
            self.tokenizer_json.clone()
        } else {
            let mut parts = Vec::with_capacity(planned.pieces.len());
            for piece in &planned.pieces {
                let (bytes, read) = self.piece_bytes(piece)?;
                self.done_bytes += read;
                parts.push((piece, bytes));
            }
            let tensors: Vec<TensorToWrite> =
                parts.iter().map(|(p, b)| TensorToWrite { name: &p.name, dtype: p.to, shape: &p.shape, bytes: b }).collect();
            let mut meta = BTreeMap::new();
            meta.insert("component".to_string(), component.to_string());
            write(&tensors, &meta)
        };
        let entry = self.components.get_mut(component.as_str()).expect("every component has an entry");
        if component != Component::Tokenizer {
            let header = SafetensorsHeader::parse(&bytes, &file)?;
            for t in header.tensors {
                entry.tensors.push(TensorEntry {
                    name: t.name,
                    dtype: t.dtype.name().into(),
                    shape: t.shape,
                    shard: file.clone(),
                    begin: t.range.start as u64,
                    end: t.range.end as u64,
                });
            }
        }
        let sha256 = hex(&Sha256::digest(&bytes));
        entry.bytes += bytes.len() as u64;
        entry.shards.push(file.clone());
        self.shards.insert(file.clone(), ShardEntry { component: component.to_string(), bytes: bytes.len() as u64, sha256: sha256.clone() });
        self.next += 1;
        Ok(Some(Shard { file, component, bytes, sha256 }))
    }

    /// A piece's converted bytes and how many input bytes were read for it.
    fn piece_bytes(&self, piece: &Piece) -> Result<(Vec<u8>, u64)> {
        let s = &self.sources[piece.source];
        let rows = s.shape.first().copied().unwrap_or(1).max(1);
        let in_row = s.byte_len() / rows;
        let span = piece.rows.clone().map(|r| r.start * in_row..r.end * in_row).unwrap_or(0..s.byte_len());
        let mut out = Vec::with_capacity(span.len() / s.dtype.size() * piece.to.size());
        match &s.data {
            Data::Range(index, range) => {
                let f = &self.files[*index];
                let mut at = span.start;
                while at < span.end {
                    let n = READ_CHUNK.min(span.end - at);
                    let chunk = f.read_at(range.start + at as u64, n)?;
                    if chunk.len() != n {
                        return Err(Error::Weights { file: s.file.clone(), reason: format!("tensor {}: could not be read whole", s.name) });
                    }
                    convert_bytes(&chunk, s.dtype, piece.to, &mut out);
                    at += n;
                }
            }
            Data::Torch(read) => {
                let all = read()?;
                if all.len() != s.byte_len() {
                    return Err(Error::Weights { file: s.file.clone(), reason: format!("tensor {}: {} bytes, its shape needs {}", s.name, all.len(), s.byte_len()) });
                }
                convert_bytes(&all[span.clone()], s.dtype, piece.to, &mut out);
            }
        }
        Ok((out, span.len() as u64))
    }

    /// The manifest of the converted model (complete once [`Self::next_shard`] returned `None`).
    pub fn manifest(&self) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            version: VERSION,
            name: self.settings.name.clone(),
            tiny: self.tiny,
            dtype: if self.settings.dtype == StoredDType::F16 { "f16".into() } else { "f32".into() },
            total_bytes: self.shards.values().map(|s| s.bytes).sum(),
            components: self.components.clone(),
            shards: self.shards.clone(),
            config: self.configs.clone(),
        }
    }
}

/// A one-line-per-component summary of a manifest.
pub fn summary(m: &Manifest) -> String {
    let mut s = String::new();
    for c in Component::ALL.into_iter().chain(Component::EVAL).map(Component::as_str) {
        if let Some(e) = m.components.get(c) {
            s += &format!("  {c:<13} {:>8.1} MiB in {:>2} shard(s), {} tensors\n", e.bytes as f64 / 1048576.0, e.shards.len(), e.tensors.len());
        }
    }
    s += &format!("  {:<13} {:>8.1} MiB in {} files ({})\n", "total", m.total_bytes as f64 / 1048576.0, m.shards.len(), m.dtype);
    s
}
