//! `ezigen convert`: turns the stock SD 2.1-base folder (diffusers layout), the official EZIGen
//! checkpoint folder (accelerate state: only its adapter keys are taken) and CLIP ViT-B/32
//! (transformers layout) into the sharded format the browser streams (`manifest.json` + shards
//! of at most `--shard-mb`, f16 by default). Reads safetensors and PyTorch `.bin` files.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::ops::Range;
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use indicatif::{ProgressBar, ProgressStyle};
use pytorch_reader::{DType as TorchDType, PytorchReader};
use sha2::{Digest, Sha256};

use crate::models::unet::UNet2DConditionConfig;
use crate::native::DiffusersFolders;
use crate::weights::components::{Component, ModelConfigs, route_raw_key};
use crate::weights::manifest::{ComponentEntry, FORMAT, Manifest, ShardEntry, TensorEntry, VERSION};
use crate::weights::safetensors::{SafetensorsHeader, StoredDType, TensorToWrite, write};
use crate::{Error, Result};

/// No single tensor is written larger than this; bigger ones are split along their first axis
/// into `name#k` parts (reassembled by the loader).
pub const MAX_TENSOR_BYTES: usize = 128 << 20;

/// What to convert and how.
pub struct ConvertOptions {
    /// The input folders.
    pub folders: DiffusersFolders,
    /// Output folder.
    pub out: PathBuf,
    /// Stored dtype of float tensors (F16 or F32); `learnable_weights` always stays F32.
    pub dtype: StoredDType,
    /// Maximum shard size in bytes.
    pub shard_bytes: usize,
    /// Model name in the manifest.
    pub name: String,
    /// Marks the built-in tiny random model.
    pub tiny: bool,
}

/// Where an input tensor's bytes are.
enum Data {
    /// A byte range of a safetensors file held in memory.
    Slice(Range<usize>),
    /// A tensor of a PyTorch checkpoint, read from the file when it is converted.
    Torch(pytorch_reader::Tensor),
}

/// A tensor in an input file.
struct Source {
    kind: &'static str,
    component: Component,
    file: usize,
    name: String,
    dtype: StoredDType,
    shape: Vec<usize>,
    data: Data,
}

impl Source {
    fn byte_len(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype.size()
    }

    /// The stored little-endian bytes (`files[self.file]` holds a safetensors file's bytes).
    fn bytes<'a>(&'a self, files: &'a [(&'static str, PathBuf, Vec<u8>)]) -> Result<Cow<'a, [u8]>> {
        let (_, path, bytes) = &files[self.file];
        match &self.data {
            Data::Slice(range) => Ok(Cow::Borrowed(&bytes[range.clone()])),
            // pytorch-reader returns native-endian bytes: little-endian on every target we build.
            Data::Torch(t) => t.read().map(Cow::Owned).map_err(|e| bad(path, e.to_string())),
        }
    }
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::Weights { file: path.display().to_string(), reason: reason.into() }
}

fn first_file(dir: &Path, names: &[&str]) -> Result<PathBuf> {
    if !dir.is_dir() {
        return Err(bad(dir, "folder not found"));
    }
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| bad(dir, format!("no weights file ({})", names.join(" or "))))
}

/// The element types the converter takes from a PyTorch checkpoint.
fn torch_dtype(d: TorchDType) -> Option<StoredDType> {
    Some(match d {
        TorchDType::F64 => StoredDType::F64,
        TorchDType::F32 => StoredDType::F32,
        TorchDType::F16 => StoredDType::F16,
        TorchDType::BF16 => StoredDType::BF16,
        TorchDType::I64 => StoredDType::I64,
        TorchDType::I32 => StoredDType::I32,
        TorchDType::U8 => StoredDType::U8,
        TorchDType::Bool => StoredDType::Bool,
        _ => return None,
    })
}

/// Opens a safetensors or PyTorch `.bin` file: its bytes (safetensors; a `.bin` is read one
/// tensor at a time instead) and its tensors, sorted by file offset (safetensors) or name (`.bin`).
fn open_weights(path: &Path) -> Result<(Vec<u8>, Vec<(String, StoredDType, Vec<usize>, Data)>)> {
    if path.extension().is_some_and(|e| e == "bin") {
        let reader = PytorchReader::new(path).map_err(|e| bad(path, e.to_string()))?;
        let mut tensors = Vec::with_capacity(reader.len());
        for (name, t) in reader.into_tensors() {
            let dtype = torch_dtype(t.dtype()).ok_or_else(|| bad(path, format!("tensor {name}: unsupported dtype {:?}", t.dtype())))?;
            tensors.push((name, dtype, t.shape().to_vec(), Data::Torch(t)));
        }
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        Ok((Vec::new(), tensors))
    } else {
        let bytes = std::fs::read(path).map_err(|e| bad(path, e.to_string()))?;
        let h = SafetensorsHeader::parse(&bytes, &path.display().to_string())?;
        let tensors = h.tensors.into_iter().map(|t| (t.name, t.dtype, t.shape, Data::Slice(t.range))).collect();
        Ok((bytes, tensors))
    }
}

/// Refuses models that are not SD 2.1-base-like, naming what was found.
fn check_model(configs: &ModelConfigs, tiny: bool) -> Result<()> {
    let pred = configs.scheduler.get("prediction_type").and_then(|v| v.as_str()).unwrap_or("epsilon");
    if pred != "epsilon" {
        return Err(Error::Config(format!(
            "the SD folder's scheduler predicts `{pred}`: this is the 768-px v-prediction model; EZIGen needs stable-diffusion-2-1-base"
        )));
    }
    let unet = UNet2DConditionConfig::from_json(&configs.unet.to_string())?;
    let text_width = configs.text_encoder.get("hidden_size").and_then(|v| v.as_u64()).unwrap_or(0) as usize;
    if unet.cross_attention_dim != text_width {
        return Err(Error::Config(format!(
            "UNet cross_attention_dim {} does not match the text encoder width {text_width}",
            unet.cross_attention_dim
        )));
    }
    if !tiny {
        if unet.cross_attention_dim == 768 {
            return Err(Error::Config("this is a Stable Diffusion 1.x model (768-wide text encoder); EZIGen needs stable-diffusion-2-1-base".into()));
        }
        if unet.sample_size != 64 || unet.cross_attention_dim != 1024 || unet.block_out_channels != [320, 640, 1280, 1280] {
            return Err(Error::Config(format!(
                "unexpected UNet (sample_size {}, cross_attention_dim {}, channels {:?}): EZIGen needs stable-diffusion-2-1-base (sample_size 64, 1024, [320, 640, 1280, 1280])",
                unet.sample_size, unet.cross_attention_dim, unet.block_out_channels
            )));
        }
    }
    Ok(())
}

/// The adapter keys a UNet with this config must have in the EZIGen checkpoint.
fn expected_adapter_keys(unet: &UNet2DConditionConfig) -> Vec<String> {
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
    let mut keys = vec!["learnable_weights".to_string()];
    for p in prefixes {
        for s in ["adapter.to_q.weight", "adapter.to_k.weight", "adapter.to_v.weight", "adapter.to_out.0.weight", "adapter.to_out.0.bias", "adapter_norm.weight", "adapter_norm.bias"] {
            keys.push(format!("{p}.transformer_blocks.0.{s}"));
        }
    }
    keys
}

/// Converts a stored tensor's bytes to `target` (float types) or keeps them.
fn convert_bytes(bytes: &[u8], from: StoredDType, to: StoredDType) -> Vec<u8> {
    if from == to || !from.is_float() {
        return bytes.to_vec();
    }
    let values: Vec<f32> = match from {
        StoredDType::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
        StoredDType::F16 => bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        StoredDType::BF16 => bytes.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        _ => bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
    };
    match to {
        StoredDType::F16 => values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect(),
        _ => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Progress on stderr: a bar over all input bytes on a terminal; elsewhere (a log file, CI) the
/// bar is hidden and each finished component gets one plain line instead.
fn progress_bar(total: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("converting [{bar:30}] {percent:>3}% {binary_bytes}/{binary_total_bytes} {msg}")
            .expect("a valid template")
            .progress_chars("#>-"),
    );
    bar
}

struct ShardWriter<'a> {
    out: &'a Path,
    component: Component,
    index: usize,
    pending: Vec<(String, StoredDType, Vec<usize>, Vec<u8>)>,
    pending_bytes: usize,
    limit: usize,
    entry: ComponentEntry,
    shards: BTreeMap<String, ShardEntry>,
}

impl ShardWriter<'_> {
    fn push(&mut self, name: String, dtype: StoredDType, shape: Vec<usize>, bytes: Vec<u8>) -> Result<()> {
        if !self.pending.is_empty() && self.pending_bytes + bytes.len() > self.limit {
            self.flush()?;
        }
        self.pending_bytes += bytes.len();
        self.pending.push((name, dtype, shape, bytes));
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let file = format!("{}-{:05}.safetensors", self.component, self.index);
        self.index += 1;
        let tensors: Vec<TensorToWrite> = self
            .pending
            .iter()
            .map(|(n, d, s, b)| TensorToWrite { name: n, dtype: *d, shape: s, bytes: b })
            .collect();
        let mut meta = BTreeMap::new();
        meta.insert("component".to_string(), self.component.to_string());
        let bytes = write(&tensors, &meta);
        let header = SafetensorsHeader::parse(&bytes, &file)?;
        for t in header.tensors {
            self.entry.tensors.push(TensorEntry {
                name: t.name,
                dtype: t.dtype.name().into(),
                shape: t.shape,
                shard: file.clone(),
                begin: t.range.start as u64,
                end: t.range.end as u64,
            });
        }
        let path = self.out.join(&file);
        std::fs::write(&path, &bytes).map_err(|e| bad(&path, e.to_string()))?;
        self.entry.bytes += bytes.len() as u64;
        self.entry.shards.push(file.clone());
        self.shards.insert(file, ShardEntry { component: self.component.to_string(), bytes: bytes.len() as u64, sha256: hex(&Sha256::digest(&bytes)) });
        self.pending.clear();
        self.pending_bytes = 0;
        Ok(())
    }
}

/// Runs the conversion; returns the manifest written to `out/manifest.json`.
pub fn convert(opts: &ConvertOptions) -> Result<Manifest> {
    let f = &opts.folders;
    let configs = f.configs()?;
    check_model(&configs, opts.tiny)?;
    let unet_config = UNet2DConditionConfig::from_json(&configs.unet.to_string())?;
    let files: Vec<(&'static str, PathBuf)> = vec![
        ("text_encoder", first_file(&f.sd.join("text_encoder"), &["model.safetensors", "pytorch_model.bin"])?),
        ("unet", first_file(&f.sd.join("unet"), &["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"])?),
        ("ezigen", first_file(&f.ezigen, &["model.safetensors", "pytorch_model.bin"])?),
        ("vae", first_file(&f.sd.join("vae"), &["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"])?),
        ("clip", first_file(&f.clip, &["model.safetensors", "pytorch_model.bin"])?),
    ];
    let mut opened = Vec::new();
    let mut sources = Vec::new();
    for (i, (kind, path)) in files.into_iter().enumerate() {
        let (bytes, tensors) = open_weights(&path)?;
        for (name, dtype, shape, data) in tensors {
            if let Some((component, canonical)) = route_raw_key(kind, &name) {
                sources.push(Source { kind, component, file: i, name: canonical, dtype, shape, data });
            }
        }
        opened.push((kind, path, bytes));
    }
    let files = opened;
    // The EZIGen checkpoint must provide every adapter tensor.
    let expected = expected_adapter_keys(&unet_config);
    let found: std::collections::BTreeSet<&str> = sources.iter().filter(|s| s.kind == "ezigen").map(|s| s.name.as_str()).collect();
    let missing: Vec<&String> = expected.iter().filter(|k| !found.contains(k.as_str())).collect();
    if !missing.is_empty() {
        return Err(Error::Config(format!(
            "the EZIGen checkpoint {} lacks {} of the {} adapter tensors (e.g. {}): is it the EZIGen checkpoint-200000 folder?",
            files[2].1.display(),
            missing.len(),
            expected.len(),
            missing[0]
        )));
    }

    std::fs::create_dir_all(&opts.out).map_err(|e| bad(&opts.out, e.to_string()))?;
    let bar = progress_bar(sources.iter().map(Source::byte_len).sum());
    let mut components = BTreeMap::new();
    let mut shards = BTreeMap::new();
    for component in Component::ALL {
        let mut w = ShardWriter {
            out: &opts.out,
            component,
            index: 0,
            pending: Vec::new(),
            pending_bytes: 0,
            limit: opts.shard_bytes,
            entry: ComponentEntry { bytes: 0, shards: Vec::new(), tensors: Vec::new() },
            shards: BTreeMap::new(),
        };
        if component == Component::Tokenizer {
            let file = "tokenizer.json".to_string();
            let bytes = crate::tokenizer::DEFAULT_TOKENIZER_JSON;
            let path = opts.out.join(&file);
            std::fs::write(&path, bytes).map_err(|e| bad(&path, e.to_string()))?;
            w.entry.bytes = bytes.len() as u64;
            w.entry.shards.push(file.clone());
            w.shards.insert(file, ShardEntry { component: component.to_string(), bytes: bytes.len() as u64, sha256: hex(&Sha256::digest(bytes)) });
        } else {
            for s in sources.iter().filter(|s| s.component == component) {
                let to = if s.name.contains("learnable_weights") || !s.dtype.is_float() { s.dtype.max_f32() } else { opts.dtype };
                bar.set_message(component.as_str());
                let bytes = convert_bytes(&s.bytes(&files)?, s.dtype, to);
                bar.inc(s.byte_len() as u64);
                if bytes.len() > MAX_TENSOR_BYTES && s.shape.len() > 1 {
                    let rows = s.shape[0];
                    let row_bytes = bytes.len() / rows;
                    let per = (MAX_TENSOR_BYTES / row_bytes).max(1);
                    for (k, start) in (0..rows).step_by(per).enumerate() {
                        let n = per.min(rows - start);
                        let mut shape = s.shape.clone();
                        shape[0] = n;
                        w.push(format!("{}#{k}", s.name), to, shape, bytes[start * row_bytes..(start + n) * row_bytes].to_vec())?;
                    }
                } else {
                    w.push(s.name.clone(), to, s.shape.clone(), bytes)?;
                }
            }
            w.flush()?;
        }
        let line = format!("converted {component}: {} tensors, {:.1} MiB", w.entry.tensors.len(), w.entry.bytes as f64 / 1048576.0);
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
        shards.extend(std::mem::take(&mut w.shards));
        components.insert(component.to_string(), w.entry);
    }
    bar.finish_and_clear();
    let manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        name: opts.name.clone(),
        tiny: opts.tiny,
        dtype: if opts.dtype == StoredDType::F16 { "f16".into() } else { "f32".into() },
        total_bytes: shards.values().map(|s| s.bytes).sum(),
        components,
        shards,
        config: configs,
    };
    let json = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
    let path = opts.out.join("manifest.json");
    std::fs::write(&path, json).map_err(|e| bad(&path, e.to_string()))?;
    Ok(manifest)
}

/// A one-line-per-component summary of a manifest.
pub fn summary(m: &Manifest) -> String {
    let mut s = String::new();
    for c in Component::ALL.map(Component::as_str) {
        if let Some(e) = m.components.get(c) {
            s += &format!("  {c:<13} {:>8.1} MiB in {:>2} shard(s), {} tensors\n", e.bytes as f64 / 1048576.0, e.shards.len(), e.tensors.len());
        }
    }
    s += &format!("  {:<13} {:>8.1} MiB in {} files ({})\n", "total", m.total_bytes as f64 / 1048576.0, m.shards.len(), m.dtype);
    s
}
