//! Native-only file-system pieces below the converter, the loaders and the CLI: the model
//! folders in diffusers layout, files read by range ([`DiskFile`], a
//! [`crate::weights::safetensors::SourceFile`]), the built-in tiny model's place and the GEMM
//! tuning cache. It knows paths and bytes, not models.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::weights::safetensors::SourceFile;
use crate::{Error, Result};

/// A [`Error::Weights`] naming the file at `path`.
pub(crate) fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::Weights { file: path.display().to_string(), reason: reason.into() }
}

/// Where the built-in tiny random-weight model lives in the repository (diffusers layout).
pub fn builtin_tiny_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny")
}

/// The whole file at `path`; an error names it.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Weights { file: path.display().to_string(), reason: e.to_string() })
}

/// The first existing file among `names` in `dir`.
pub fn find(dir: &Path, names: &[&str]) -> Result<PathBuf> {
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
}

/// A file on disk, read by range.
pub struct DiskFile {
    file: File,
    len: u64,
    path: PathBuf,
}

impl DiskFile {
    /// Opens `path` for reading by range.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| bad(path, e.to_string()))?;
        let len = file.metadata().map_err(|e| bad(path, e.to_string()))?.len();
        Ok(Self { file, len, path: path.to_path_buf() })
    }
}

impl SourceFile for DiskFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut buf = vec![0; len];
        let mut f = &self.file;
        f.seek(SeekFrom::Start(offset)).and_then(|_| f.read_exact(&mut buf)).map_err(|e| bad(&self.path, e.to_string()))?;
        Ok(buf)
    }
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
