//! The converter's inputs: the folders it reads ([`Root`]) through a [`SourceTree`] (a disk in
//! the CLI, the files the user picked in the page), the weight files in conversion order, and
//! the model configurations found there.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::weights::components::ModelConfigs;
use crate::weights::safetensors::StoredDType;
use crate::{Error, Result};

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

/// The input weight files in conversion order: kind, folder, directory and accepted names.
pub(super) const INPUTS: [(&str, Root, &str, [&str; 2]); 5] = [
    ("text_encoder", Root::Sd, "text_encoder", ["model.safetensors", "pytorch_model.bin"]),
    ("unet", Root::Sd, "unet", ["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"]),
    ("ezigen", Root::Ezigen, "", ["model.safetensors", "pytorch_model.bin"]),
    ("vae", Root::Sd, "vae", ["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"]),
    ("clip", Root::Clip, "", ["model.safetensors", "pytorch_model.bin"]),
];

/// The metric models' weight files, converted when the DINO folder is given.
pub(super) const METRIC_INPUTS: [(&str, Root, &str, [&str; 2]); 2] = [
    ("clip_text", Root::ClipText, "", ["model.safetensors", "pytorch_model.bin"]),
    ("dino", Root::Dino, "", ["model.safetensors", "pytorch_model.bin"]),
];

pub(super) fn join(dir: &str, name: &str) -> String {
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
