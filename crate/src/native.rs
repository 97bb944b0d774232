//! Native-only model loading: a pipeline from the diffusers folder layout (SD 2.1-base + EZIGen
//! checkpoint + CLIP) or from a converted folder. The file-system pieces below it (folders,
//! files read by range, the tuning cache) are [`crate::files`].

use std::path::Path;

use burn::tensor::{DType, Device};

use crate::pipeline::Pipeline;
use crate::loader::{LoadOptions, ModelBuilder};
use crate::weights::components::{Component, ModelConfigs, route_raw_key};
use crate::weights::manifest::Manifest;
use crate::files::{DiskFile, read};
use crate::{Error, Result};

pub use crate::files::{DiffusersFolders, builtin_tiny_dir, read_tune_tables, tune_cache_path, write_tune_table};

/// Loading from the folders: an app-layer extension of [`crate::files::DiffusersFolders`]
/// (the struct lives below the converter, which reads the same folders).
impl DiffusersFolders {
    /// The configurations found in the folders.
    pub fn configs(&self) -> Result<ModelConfigs> {
        crate::convert::read_configs(&crate::convert::FolderTree(self))
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
            let file = DiskFile::open(&path)
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
