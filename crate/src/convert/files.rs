//! `ezigen convert` on disk: the input folders read by range from files (PyTorch `.bin`
//! checkpoints too), the shards and `manifest.json` written to the output folder, progress on
//! stderr.

use std::io::IsTerminal;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use pytorch_reader::{DType as TorchDType, PytorchReader};

use super::{ConvertSettings, Converter, Root, SourceFile, SourceTree, TorchTensor};
use crate::files::{DiffusersFolders, DiskFile, bad};
use crate::weights::manifest::Manifest;
use crate::weights::safetensors::StoredDType;
use crate::Result;

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

/// The three input folders on disk.
pub struct FolderTree<'a>(pub &'a DiffusersFolders);

impl FolderTree<'_> {
    fn path(&self, root: Root, path: &str) -> PathBuf {
        let dir = match root {
            Root::Sd => &self.0.sd,
            Root::Ezigen => &self.0.ezigen,
            Root::Clip => &self.0.clip,
            Root::ClipText => self.0.clip_text.as_ref().unwrap_or(&self.0.clip),
            Root::Dino => match &self.0.dino {
                Some(dir) => dir,
                // No DINO folder: a path that does not exist, so the metric models are left out.
                None => return PathBuf::from("/nonexistent/ezigen-no-dino-folder").join(path),
            },
        };
        if path.is_empty() { dir.clone() } else { dir.join(path) }
    }
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

impl SourceTree for FolderTree<'_> {
    fn open(&self, root: Root, path: &str) -> Result<Option<Box<dyn SourceFile>>> {
        let p = self.path(root, path);
        if !p.is_file() {
            return Ok(None);
        }
        Ok(Some(Box::new(DiskFile::open(&p)?)))
    }

    fn describe(&self, root: Root, path: &str) -> String {
        self.path(root, path).display().to_string()
    }

    fn torch_tensors(&self, root: Root, path: &str) -> Result<Vec<TorchTensor>> {
        let p = self.path(root, path);
        let reader = PytorchReader::new(&p).map_err(|e| bad(&p, e.to_string()))?;
        let mut out = Vec::with_capacity(reader.len());
        for (name, t) in reader.into_tensors() {
            let dtype = torch_dtype(t.dtype()).ok_or_else(|| bad(&p, format!("tensor {name}: unsupported dtype {:?}", t.dtype())))?;
            let shape = t.shape().to_vec();
            let file = p.clone();
            // pytorch-reader returns native-endian bytes: little-endian on every target we build.
            let read = Box::new(move || t.read().map_err(|e| bad(&file, e.to_string())));
            out.push(TorchTensor { name, dtype, shape, read });
        }
        Ok(out)
    }
}

/// Progress on stderr: a bar over all input bytes on a terminal; elsewhere (a log file, CI) the
/// bar is hidden and each finished component gets one plain line instead.
fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("converting [{bar:30}] {percent:>3}% {binary_bytes}/{binary_total_bytes} {msg}")
            .expect("a valid template")
            .progress_chars("#>-"),
    );
    bar
}

/// Runs the conversion into `opts.out`; returns the manifest written to `out/manifest.json`.
pub fn convert(opts: &ConvertOptions) -> Result<Manifest> {
    let f = &opts.folders;
    for dir in [&f.sd, &f.ezigen, &f.clip] {
        if !dir.is_dir() {
            return Err(bad(dir, "folder not found"));
        }
    }
    let settings = ConvertSettings { dtype: opts.dtype, shard_bytes: opts.shard_bytes, name: opts.name.clone(), tiny: opts.tiny };
    let mut conv = Converter::new(&FolderTree(f), settings, crate::tokenizer::default_tokenizer_json().to_vec())?;
    for w in conv.warnings() {
        eprintln!("warning: {w}");
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| bad(&opts.out, e.to_string()))?;
    let bar = progress_bar(conv.total_bytes());
    let say = |line: String| if bar.is_hidden() { eprintln!("{line}") } else { bar.println(line) };
    let finished = |conv: &Converter, c| {
        let e = conv.entry(c);
        format!("converted {c}: {} tensors, {:.1} MiB", e.tensors.len(), e.bytes as f64 / 1048576.0)
    };
    let mut current = None;
    loop {
        if let Some(c) = conv.next_component() {
            bar.set_message(c.as_str());
        }
        let Some(shard) = conv.next_shard()? else { break };
        if current.is_some_and(|c| c != shard.component) {
            say(finished(&conv, current.expect("checked")));
        }
        current = Some(shard.component);
        let path = opts.out.join(&shard.file);
        std::fs::write(&path, &shard.bytes).map_err(|e| bad(&path, e.to_string()))?;
        bar.set_position(conv.done_bytes());
    }
    if let Some(c) = current {
        say(finished(&conv, c));
    }
    bar.finish_and_clear();
    let manifest = conv.manifest();
    let json = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
    let path = opts.out.join("manifest.json");
    std::fs::write(&path, json).map_err(|e| bad(&path, e.to_string()))?;
    Ok(manifest)
}
