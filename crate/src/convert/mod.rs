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

#[cfg(feature = "native")]
pub mod files;

#[cfg(feature = "native")]
pub use files::{ConvertOptions, FolderTree, convert};

use std::collections::BTreeMap;
use std::ops::Range;

use half::{bf16, f16};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ts_rs::TS;

use crate::models::unet::UNet2DConditionConfig;
use crate::weights::components::{Component, ModelConfigs, route_raw_key};
use crate::weights::manifest::{ComponentEntry, FORMAT, Manifest, ShardEntry, TensorEntry, VERSION};
use crate::weights::safetensors::{SafetensorsHeader, StoredDType, TensorToWrite, write};
use crate::{Error, Result};

/// No single tensor is written larger than this; bigger ones are split along their first axis
/// into `name#k` parts (reassembled by the loader).
pub const MAX_TENSOR_BYTES: usize = 128 << 20;

/// Input bytes read (and converted) at a time: the most the converter holds of an input beyond
/// the tensor it is writing.
const READ_CHUNK: usize = 16 << 20;

/// The three folders the converter reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(rename = "SourceRoot")]
pub enum Root {
    /// The Stable Diffusion 2.1-base folder (diffusers layout).
    Sd,
    /// The EZIGen checkpoint folder (`checkpoint-200000/`).
    Ezigen,
    /// The CLIP ViT-B/32 folder (transformers layout).
    Clip,
    /// The folder of CLIP ViT-B/32's text tower when it is not the CLIP folder itself (the
    /// metric models; the published CLIP folder has both towers).
    ClipText,
    /// The DINO ViT-S/16 folder (transformers layout, `facebook/dino-vits16`): when present,
    /// the metric models ([`Component::EVAL`]) are converted too.
    Dino,
}

impl Root {
    /// How messages name the folder.
    pub fn label(self) -> &'static str {
        match self {
            Root::Sd => "the Stable Diffusion 2.1-base folder",
            Root::Ezigen => "the EZIGen checkpoint folder",
            Root::Clip => "the CLIP ViT-B/32 folder",
            Root::ClipText => "the CLIP ViT-B/32 text folder",
            Root::Dino => "the DINO ViT-S/16 folder",
        }
    }
}

pub use crate::weights::safetensors::SourceFile;

/// A tensor of a PyTorch `.bin` checkpoint, read whole when converted.
pub struct TorchTensor {
    /// Key name.
    pub name: String,
    /// Element type.
    pub dtype: StoredDType,
    /// Shape.
    pub shape: Vec<usize>,
    /// Reads its little-endian bytes.
    pub read: Box<dyn Fn() -> Result<Vec<u8>>>,
}

/// The input folders, wherever they are (a disk, files the user picked in the page).
pub trait SourceTree {
    /// Opens `path` (`/`-separated, relative to `root`); `None` when there is no such file.
    fn open(&self, root: Root, path: &str) -> Result<Option<Box<dyn SourceFile>>>;
    /// Names `root/path` in messages.
    fn describe(&self, root: Root, path: &str) -> String;
    /// The tensors of a PyTorch `.bin` checkpoint at `path`. Only the CLI reads them.
    fn torch_tensors(&self, root: Root, path: &str) -> Result<Vec<TorchTensor>> {
        Err(Error::Input(format!(
            "{} is a PyTorch .bin checkpoint, which only the command-line converter (`ezigen convert`) reads; \
             choose a folder with the .safetensors file instead (the published repositories have both)",
            self.describe(root, path)
        )))
    }
}

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

/// Where an input tensor's bytes are.
enum Data {
    /// A byte range of an opened safetensors file (`files[index]`).
    Range(usize, Range<u64>),
    /// A tensor of a PyTorch checkpoint.
    Torch(Box<dyn Fn() -> Result<Vec<u8>>>),
}

/// A tensor of an input file, routed to its component.
struct Source {
    kind: &'static str,
    component: Component,
    file: String,
    name: String,
    dtype: StoredDType,
    shape: Vec<usize>,
    data: Data,
}

impl Source {
    fn byte_len(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype.size()
    }
}

/// A tensor (or a block of rows of one) of an output shard.
struct Piece {
    source: usize,
    name: String,
    shape: Vec<usize>,
    to: StoredDType,
    rows: Option<Range<usize>>,
}

/// An output shard before it is made.
struct Planned {
    component: Component,
    file: String,
    pieces: Vec<Piece>,
}

/// The input weight files in conversion order: kind, folder, directory and accepted names.
const INPUTS: [(&str, Root, &str, [&str; 2]); 5] = [
    ("text_encoder", Root::Sd, "text_encoder", ["model.safetensors", "pytorch_model.bin"]),
    ("unet", Root::Sd, "unet", ["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"]),
    ("ezigen", Root::Ezigen, "", ["model.safetensors", "pytorch_model.bin"]),
    ("vae", Root::Sd, "vae", ["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"]),
    ("clip", Root::Clip, "", ["model.safetensors", "pytorch_model.bin"]),
];

/// The metric models' weight files, converted when the DINO folder is given.
const METRIC_INPUTS: [(&str, Root, &str, [&str; 2]); 2] = [
    ("clip_text", Root::ClipText, "", ["model.safetensors", "pytorch_model.bin"]),
    ("dino", Root::Dino, "", ["model.safetensors", "pytorch_model.bin"]),
];

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") }
}

fn read_all(tree: &dyn SourceTree, root: Root, path: &str) -> Result<Option<Vec<u8>>> {
    let Some(f) = tree.open(root, path)? else { return Ok(None) };
    Ok(Some(f.read_at(0, usize::try_from(f.len()).map_err(|_| too_big(tree, root, path))?)?))
}

fn too_big(tree: &dyn SourceTree, root: Root, path: &str) -> Error {
    Error::Weights { file: tree.describe(root, path), reason: "is too large to read here (over 4 GiB)".into() }
}

fn read_json(tree: &dyn SourceTree, root: Root, path: &str) -> Result<serde_json::Value> {
    let bytes = read_all(tree, root, path)?
        .ok_or_else(|| Error::Input(format!("{} not found: is this {}?", tree.describe(root, path), root.label())))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Config(format!("{}: {e}", tree.describe(root, path))))
}

/// Whether the input has the metric models' folder (DINO; CLIP's text tower comes from the
/// CLIP folder unless a separate one is given).
pub fn has_metric_models(tree: &dyn SourceTree) -> Result<bool> {
    Ok(tree.open(Root::Dino, "config.json")?.is_some())
}

/// The model configurations in the input folders (with the metric models' when present),
/// checked as the runtime will parse them.
pub fn read_configs(tree: &dyn SourceTree) -> Result<ModelConfigs> {
    let mut configs = ModelConfigs {
        unet: read_json(tree, Root::Sd, "unet/config.json")?,
        vae: read_json(tree, Root::Sd, "vae/config.json")?,
        text_encoder: read_json(tree, Root::Sd, "text_encoder/config.json")?,
        clip_vision: read_json(tree, Root::Clip, "config.json")?,
        scheduler: read_json(tree, Root::Sd, "scheduler/scheduler_config.json")?,
        clip_text: None,
        dino: None,
    };
    if has_metric_models(tree)? {
        let text = read_json(tree, Root::ClipText, "config.json")?;
        let dino = read_json(tree, Root::Dino, "config.json")?;
        crate::models::check_metric_configs(&configs.clip_vision, &text, &dino)
            .map_err(|e| Error::Input(format!("the metric models cannot be converted: {e}")))?;
        configs.clip_text = Some(text);
        configs.dino = Some(dino);
    }
    Ok(configs)
}

/// Whether the UNet is test-sized: every block narrower than SD's narrowest (320 channels).
/// Such a model is marked `tiny` in the manifest (the page says its images are noise).
fn is_test_sized(unet: &UNet2DConditionConfig) -> bool {
    unet.block_out_channels.iter().all(|&c| c < 320)
}

/// Refuses models EZIGen cannot run, naming what was found; returns warnings for models it can
/// run but was not trained on.
fn check_model(configs: &ModelConfigs, unet: &UNet2DConditionConfig, tiny: bool) -> Result<Vec<String>> {
    let pred = configs.scheduler.get("prediction_type").and_then(|v| v.as_str()).unwrap_or("epsilon");
    if pred != "epsilon" {
        return Err(Error::Config(format!(
            "the SD folder's scheduler predicts `{pred}`: this is the 768-px v-prediction model; EZIGen needs stable-diffusion-2-1-base"
        )));
    }
    let text_width = configs.text_encoder.get("hidden_size").and_then(|v| v.as_u64()).unwrap_or(0) as usize;
    if unet.cross_attention_dim != text_width {
        return Err(Error::Config(format!(
            "UNet cross_attention_dim {} does not match the text encoder width {text_width}",
            unet.cross_attention_dim
        )));
    }
    let mut warnings = Vec::new();
    if !tiny {
        if unet.cross_attention_dim == 768 {
            return Err(Error::Config("this is a Stable Diffusion 1.x model (768-wide text encoder); EZIGen needs stable-diffusion-2-1-base".into()));
        }
        if unet.sample_size != 64 || unet.cross_attention_dim != 1024 || unet.block_out_channels != [320, 640, 1280, 1280] {
            warnings.push(format!(
                "this UNet (sample_size {}, cross_attention_dim {}, channels {:?}) is not stable-diffusion-2-1-base's (64, 1024, [320, 640, 1280, 1280]), \
                 on which the released EZIGen adapters were trained: converted anyway, for a model whose adapters were trained on this base",
                unet.sample_size, unet.cross_attention_dim, unet.block_out_channels
            ));
        }
    }
    Ok(warnings)
}

/// The attention-block prefixes that carry an adapter, in the official order.
fn adapter_prefixes(unet: &UNet2DConditionConfig) -> Vec<String> {
    let mut prefixes = Vec::new();
    for (i, t) in unet.down_block_types.iter().enumerate() {
        if t == "CrossAttnDownBlock2D" {
            prefixes.extend((0..unet.layers_per_block).map(|j| format!("down_blocks.{i}.attentions.{j}")));
        }
    }
    prefixes.push("mid_block.attentions.0".into());
    for (i, t) in unet.up_block_types.iter().enumerate() {
        if t == "CrossAttnUpBlock2D" {
            prefixes.extend((0..=unet.layers_per_block).map(|j| format!("up_blocks.{i}.attentions.{j}")));
        }
    }
    prefixes
}

/// The adapter tensors of one block: the adapter's key suffix and the UNet key (of the same
/// transformer block) whose shape it must have — the adapter is an attention of the block's
/// self-attention size, normed like `norm1`.
const ADAPTER_TENSORS: [(&str, &str); 7] = [
    ("adapter.to_q.weight", "attn1.to_q.weight"),
    ("adapter.to_k.weight", "attn1.to_k.weight"),
    ("adapter.to_v.weight", "attn1.to_v.weight"),
    ("adapter.to_out.0.weight", "attn1.to_out.0.weight"),
    ("adapter.to_out.0.bias", "attn1.to_out.0.bias"),
    ("adapter_norm.weight", "norm1.weight"),
    ("adapter_norm.bias", "norm1.bias"),
];

/// Every adapter tensor must be in the EZIGen checkpoint, with the shape this UNet needs.
fn check_adapters(sources: &[Source], unet: &UNet2DConditionConfig, checkpoint: &str) -> Result<()> {
    let found: BTreeMap<&str, &[usize]> =
        sources.iter().filter(|s| s.kind == "ezigen").map(|s| (s.name.as_str(), s.shape.as_slice())).collect();
    let base: BTreeMap<&str, &[usize]> =
        sources.iter().filter(|s| s.kind == "unet").map(|s| (s.name.as_str(), s.shape.as_slice())).collect();
    let mut expected = vec!["learnable_weights".to_string()];
    let mut pairs = Vec::new();
    for p in adapter_prefixes(unet) {
        for (adapter, like) in ADAPTER_TENSORS {
            let key = format!("{p}.transformer_blocks.0.{adapter}");
            pairs.push((key.clone(), format!("{p}.transformer_blocks.0.{like}")));
            expected.push(key);
        }
    }
    let missing: Vec<&String> = expected.iter().filter(|k| !found.contains_key(k.as_str())).collect();
    if !missing.is_empty() {
        return Err(Error::Config(format!(
            "the EZIGen checkpoint {checkpoint} lacks {} of the {} adapter tensors (e.g. {}): is it the EZIGen checkpoint-200000 folder?",
            missing.len(),
            expected.len(),
            missing[0]
        )));
    }
    for (key, like) in pairs {
        if let (Some(a), Some(b)) = (found.get(key.as_str()), base.get(like.as_str()))
            && a != b
        {
            return Err(Error::Config(format!(
                "the EZIGen checkpoint {checkpoint} does not fit this Stable Diffusion model: {key} has shape {a:?}, the UNet needs {b:?} \
                 (the checkpoint was trained on another base model)"
            )));
        }
    }
    Ok(())
}

/// Converts a stored tensor's bytes to `to` (float types) or keeps them.
fn convert_bytes(bytes: &[u8], from: StoredDType, to: StoredDType, out: &mut Vec<u8>) {
    if from == to || !from.is_float() {
        out.extend_from_slice(bytes);
        return;
    }
    let values: Vec<f32> = match from {
        StoredDType::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect(),
        StoredDType::F16 => bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        StoredDType::BF16 => bytes.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        _ => bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect(),
    };
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

/// Groups every component's tensors into shards of at most `shard_bytes` (a tensor larger than
/// that gets a shard of its own; one over [`MAX_TENSOR_BYTES`] is split into row blocks).
fn plan_shards(sources: &[Source], settings: &ConvertSettings, components: &[Component]) -> Vec<Planned> {
    let mut plan = Vec::new();
    for &component in components {
        if component == Component::Tokenizer {
            plan.push(Planned { component, file: "tokenizer.json".into(), pieces: Vec::new() });
            continue;
        }
        let mut pieces = Vec::new();
        for (i, s) in sources.iter().enumerate().filter(|(_, s)| s.component == component) {
            let to = if s.name.contains("learnable_weights") || !s.dtype.is_float() { s.dtype.max_f32() } else { settings.dtype };
            let out_bytes = s.shape.iter().product::<usize>() * to.size();
            if out_bytes > MAX_TENSOR_BYTES && s.shape.len() > 1 {
                let rows = s.shape[0];
                let per = (MAX_TENSOR_BYTES / (out_bytes / rows)).max(1);
                for (k, start) in (0..rows).step_by(per).enumerate() {
                    let n = per.min(rows - start);
                    let mut shape = s.shape.clone();
                    shape[0] = n;
                    pieces.push(Piece { source: i, name: format!("{}#{k}", s.name), shape, to, rows: Some(start..start + n) });
                }
            } else {
                pieces.push(Piece { source: i, name: s.name.clone(), shape: s.shape.clone(), to, rows: None });
            }
        }
        let mut shard: Vec<Piece> = Vec::new();
        let mut shard_bytes = 0;
        let mut index = 0;
        let mut flush = |shard: &mut Vec<Piece>, shard_bytes: &mut usize| {
            if !shard.is_empty() {
                plan.push(Planned { component, file: format!("{component}-{index:05}.safetensors"), pieces: std::mem::take(shard) });
                index += 1;
                *shard_bytes = 0;
            }
        };
        for p in pieces {
            let n = p.shape.iter().product::<usize>() * p.to.size();
            if !shard.is_empty() && shard_bytes + n > settings.shard_bytes {
                flush(&mut shard, &mut shard_bytes);
            }
            shard_bytes += n;
            shard.push(p);
        }
        flush(&mut shard, &mut shard_bytes);
    }
    plan
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
