//! The components of a converted model: their names and load order, the configurations a
//! manifest carries, and which component a raw checkpoint key belongs to. Knows file formats
//! and names only; assembling models from components is the loader's (`loader.rs`).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::names;
use crate::presets;
use crate::{Error, Result};

/// A component of a converted model: its own shards in the manifest, loaded and finished as
/// one piece. The names are those of the manifest and the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    /// CLIP BPE tokenizer (`tokenizer.json`).
    Tokenizer,
    /// SD 2.1-base text encoder.
    TextEncoder,
    /// The SD UNet's own weights.
    Unet,
    /// EZIGen's adapters, norms and learnable weights (built together with the UNet).
    Adapters,
    /// VAE encoder.
    VaeEncoder,
    /// VAE decoder.
    VaeDecoder,
    /// CLIP ViT-B/32 vision tower (auto-stop, and the CLIP-I / CLIP-T metrics).
    ClipVision,
    /// CLIP ViT-B/32 text tower with its projection (the CLIP-T metric; optional).
    ClipText,
    /// DINO ViT-S/16 (the DINO metric; optional).
    Dino,
}

impl Component {
    /// Every component, in load order.
    pub const ALL: [Component; 7] = [
        Self::Tokenizer,
        Self::TextEncoder,
        Self::Unet,
        Self::Adapters,
        Self::VaeEncoder,
        Self::VaeDecoder,
        Self::ClipVision,
    ];

    /// The metric models of the evaluation ([`crate::eval`]): in a manifest only when converted
    /// with them, and loaded only when scores are asked for.
    pub const EVAL: [Component; 2] = [Self::ClipText, Self::Dino];

    /// The name in manifests, shard file names and the page.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tokenizer => "tokenizer",
            Self::TextEncoder => "text_encoder",
            Self::Unet => "unet",
            Self::Adapters => "adapters",
            Self::VaeEncoder => "vae_encoder",
            Self::VaeDecoder => "vae_decoder",
            Self::ClipVision => "clip_vision",
            Self::ClipText => "clip_text",
            Self::Dino => "dino",
        }
    }
}

impl std::fmt::Display for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Component {
    type Err = Error;

    /// Parses a component name; the error lists the valid ones.
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL.into_iter().chain(Self::EVAL).find(|c| c.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().chain(&Self::EVAL).map(|c| c.as_str()).collect();
            Error::Input(format!("unknown model component `{s}` (expected one of {})", names.join(", ")))
        })
    }
}

/// The model configurations the runtime needs (stored in `manifest.json`'s `config`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelConfigs {
    /// diffusers `unet/config.json`.
    pub unet: serde_json::Value,
    /// diffusers `vae/config.json`.
    pub vae: serde_json::Value,
    /// transformers `text_encoder/config.json`.
    pub text_encoder: serde_json::Value,
    /// transformers CLIP config (vision part used).
    pub clip_vision: serde_json::Value,
    /// diffusers `scheduler/scheduler_config.json`.
    pub scheduler: serde_json::Value,
    /// transformers CLIP config (text part used), when the metric models were converted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_text: Option<serde_json::Value>,
    /// transformers ViT config of DINO ViT-S/16, when the metric models were converted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dino: Option<serde_json::Value>,
}

impl ModelConfigs {
    /// The architecture of the real model: SD 2.1-base (UNet, VAE, OpenCLIP ViT-H text
    /// encoder), EZIGen's adapters and CLIP ViT-B/32 vision, as in their `config.json` files.
    /// With the loader's `random_pipeline` it gives a full-size model with random weights
    /// (benchmarks).
    pub fn sd21_base() -> Self {
        let parse = |s: &str| serde_json::from_str(s).expect("built-in config is valid JSON");
        Self {
            unet: parse(presets::SD21_BASE_UNET),
            vae: parse(presets::SD21_BASE_VAE),
            text_encoder: parse(presets::SD21_BASE_TEXT_ENCODER),
            clip_vision: parse(presets::CLIP_VIT_B32_VISION),
            scheduler: parse(presets::SD21_BASE_SCHEDULER),
            clip_text: None,
            dino: None,
        }
    }
}

/// Which component a raw checkpoint key of a diffusers-layout SD folder file belongs to, with
/// its canonical name. `file_kind` is "text_encoder", "unet", "vae", "ezigen", "clip", or for
/// the metric models "clip_text" and "dino".
pub fn route_raw_key(file_kind: &str, name: &str) -> Option<(Component, String)> {
    match file_kind {
        "text_encoder" => names::is_text_encoder_key(name).then(|| (Component::TextEncoder, name.to_string())),
        "unet" => (!super::is_adapter_key(name)).then(|| (Component::Unet, name.to_string())),
        "ezigen" => names::ezigen_adapter_key(name).map(|n| (Component::Adapters, n)),
        "vae" => {
            let n = names::vae_canonical(name);
            if names::is_vae_encoder_key(&n) {
                Some((Component::VaeEncoder, n))
            } else if names::is_vae_decoder_key(&n) {
                Some((Component::VaeDecoder, n))
            } else {
                None
            }
        }
        "clip" => names::is_clip_vision_key(name).then(|| (Component::ClipVision, name.to_string())),
        "clip_text" => (name.starts_with("text_model.") && !name.ends_with("position_ids") || name.starts_with("text_projection."))
            .then(|| (Component::ClipText, name.to_string())),
        "dino" => (!name.starts_with("pooler.")).then(|| (Component::Dino, name.to_string())),
        _ => None,
    }
}
