//! Native-only model loading from files: the diffusers folder layout (SD 2.1-base + EZIGen
//! checkpoint + CLIP) and the project's built-in tiny random-weight model.

use std::path::{Path, PathBuf};

use burn::tensor::{DType, Device};

use crate::pipeline::Pipeline;
use crate::loader::{LoadOptions, ModelBuilder};
use crate::weights::components::{Component, ModelConfigs, route_raw_key};
use crate::weights::manifest::Manifest;
use crate::{Error, Result};

/// Where the built-in tiny random-weight model lives in the repository (diffusers layout).
pub fn builtin_tiny_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny")
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Weights { file: path.display().to_string(), reason: e.to_string() })
}

/// The first existing file among `names` in `dir`.
pub(crate) fn find(dir: &Path, names: &[&str]) -> Result<PathBuf> {
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Weights { file: dir.display().to_string(), reason: format!("none of {} found", names.join(", ")) })
}

/// Paths of the three model folders in diffusers / transformers / accelerate layout.
pub struct DiffusersFolders {
    /// SD 2.1-base folder (`text_encoder/`, `unet/`, `vae/`, `scheduler/`).
    pub sd: PathBuf,
    /// EZIGen checkpoint folder (`model.safetensors`).
    pub ezigen: PathBuf,
    /// CLIP ViT-B/32 folder (`config.json`, `model.safetensors`).
    pub clip: PathBuf,
    /// CLIP's text tower folder when it is not `clip` (only the converter's metric models).
    pub clip_text: Option<PathBuf>,
    /// DINO ViT-S/16 folder: `ezigen convert` adds the metric models when it is set.
    pub dino: Option<PathBuf>,
}

impl DiffusersFolders {
    /// The built-in tiny model's folders.
    pub fn builtin_tiny() -> Self {
        let d = builtin_tiny_dir();
        Self { sd: d.clone(), ezigen: d.join("ezigen/checkpoint"), clip: d.join("clip"), clip_text: None, dino: None }
    }

    /// The built-in tiny model with its tiny metric models (CLIP text tower, DINO).
    pub fn builtin_tiny_with_metrics() -> Self {
        let d = builtin_tiny_dir();
        Self { clip_text: Some(d.join("clip-text")), dino: Some(d.join("dino")), ..Self::builtin_tiny() }
    }

    /// The configurations found in the folders.
    pub fn configs(&self) -> Result<ModelConfigs> {
        crate::convert::read_configs(&crate::convert::FolderTree(self))
    }

    /// The weight files with the kind of checkpoint each is.
    pub fn weight_files(&self) -> Result<Vec<(&'static str, PathBuf)>> {
        Ok(vec![
            ("text_encoder", find(&self.sd.join("text_encoder"), &["model.safetensors"])?),
            ("unet", find(&self.sd.join("unet"), &["diffusion_pytorch_model.safetensors"])?),
            ("ezigen", find(&self.ezigen, &["model.safetensors"])?),
            ("vae", find(&self.sd.join("vae"), &["diffusion_pytorch_model.safetensors"])?),
            ("clip", find(&self.clip, &["model.safetensors"])?),
        ])
    }

    /// Loads everything into a pipeline on `device` in `dtype`.
    pub fn load(&self, device: &Device, dtype: DType) -> Result<Pipeline> {
        self.load_with(device, dtype, LoadOptions::default())
    }

    /// [`Self::load`] with explicit options (kernels, the device's largest binding).
    pub fn load_with(&self, device: &Device, dtype: DType, options: LoadOptions) -> Result<Pipeline> {
        let mut builder = ModelBuilder::new(&self.configs()?, device, dtype)?;
        builder.set_options(options);
        let tokenizer = self.sd.join("tokenizer/tokenizer.json");
        if tokenizer.is_file() {
            builder.load_shard(Component::Tokenizer, &read(&tokenizer)?, "tokenizer.json")?;
        } else {
            builder.load_shard(Component::Tokenizer, crate::tokenizer::default_tokenizer_json(), "built-in tokenizer.json")?;
        }
        for (kind, path) in self.weight_files()? {
            let bytes = read(&path)?;
            let file = path.display().to_string();
            for component in Component::ALL.into_iter().filter(|&c| c != Component::Tokenizer) {
                builder.load_shard_with(component, &bytes, &file, |name| {
                    route_raw_key(kind, name).and_then(|(c, n)| (c == component).then_some(n))
                })?;
            }
        }
        for component in Component::ALL {
            builder.finish_component(component)?;
        }
        builder.into_pipeline()
    }
}

/// Loads a converted model folder (`manifest.json` + shards, written by `ezigen convert`),
/// component by component, one shard in memory at a time, each verified against its SHA-256.
pub fn load_converted(dir: &Path, device: &Device, dtype: DType) -> Result<Pipeline> {
    load_converted_with(dir, device, dtype, LoadOptions::default())
}

/// [`load_converted`] with explicit options (kernels, the device's largest binding).
pub fn load_converted_with(dir: &Path, device: &Device, dtype: DType, options: LoadOptions) -> Result<Pipeline> {
    use crate::weights::safetensors::SourceFile;
    use crate::weights::store::UPLOAD_PIECE_BYTES;
    use sha2::{Digest, Sha256};
    let manifest_path = dir.join("manifest.json");
    let json = std::fs::read_to_string(&manifest_path)
        .map_err(|e| Error::Weights { file: manifest_path.display().to_string(), reason: format!("{e} (is this a folder written by `ezigen convert`?)") })?;
    let manifest = Manifest::from_json(&json)?;
    let mut builder = ModelBuilder::new(&manifest.config, device, dtype)?;
    builder.set_options(options);
    for component in Component::ALL {
        for shard in &manifest.components[component.as_str()].shards {
            let entry = &manifest.shards[shard];
            let path = dir.join(shard);
            let file = crate::convert::files::DiskFile::open(&path)
                .map_err(|e| Error::Weights { file: shard.clone(), reason: format!("cannot read {}: {e}", path.display()) })?;
            if file.len() != entry.bytes {
                return Err(Error::Weights { file: shard.clone(), reason: format!("{} bytes, the manifest says {} (truncated or replaced)", file.len(), entry.bytes) });
            }
            // Verified, then uploaded tensor by tensor: the shard is never held whole (as in the page).
            let mut sha = Sha256::new();
            let mut at = 0;
            while at < file.len() {
                let n = (file.len() - at).min(UPLOAD_PIECE_BYTES as u64) as usize;
                sha.update(file.read_at(at, n)?);
                at += n as u64;
            }
            let digest: String = sha.finalize().iter().map(|b| format!("{b:02x}")).collect();
            if digest != entry.sha256 {
                return Err(Error::Weights { file: shard.clone(), reason: "SHA-256 does not match the manifest (corrupt file)".into() });
            }
            builder.load_shard_from(component, &file, shard, |n| Some(n.to_string()))?;
        }
        builder.finish_component(component)?;
    }
    builder.into_pipeline()
}

/// Where the CLI keeps GEMM tuning tables ([`crate::kernels::tune`]): `$EZIGEN_TUNE_CACHE`,
/// else `$XDG_CACHE_HOME/ezigen/gemm-tuning.json`, else `~/.cache/ezigen/gemm-tuning.json`.
pub fn tune_cache_path() -> PathBuf {
    if let Some(p) = std::env::var_os("EZIGEN_TUNE_CACHE") {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("ezigen").join("gemm-tuning.json")
}

/// The tables kept in the cache file `path` (several devices and builds); none when the file
/// does not exist. A file that is not a list of tables is an error naming it.
pub fn read_tune_tables(path: &Path) -> Result<Vec<crate::kernels::tune::TuneTable>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| Error::Input(format!("{}: not a GEMM tuning cache ({e}); delete it to tune again", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::Input(format!("{}: {e}", path.display()))),
    }
}

/// Keeps `table` in the cache file `path`, replacing the table of the same key.
pub fn write_tune_table(path: &Path, table: &crate::kernels::tune::TuneTable) -> Result<()> {
    let mut tables = read_tune_tables(path).unwrap_or_default();
    tables.retain(|t| t.key != table.key);
    tables.push(table.clone());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::Input(format!("{}: {e}", dir.display())))?;
    }
    let text = serde_json::to_string_pretty(&tables).unwrap_or_default();
    // Written next to the file and renamed, so a reader never sees half a table.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, path)).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}
