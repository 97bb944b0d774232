//! Assembling EZIGen's models component by component, in the order the pipeline needs them:
//! shards of a component are fed one at a time (uploaded at once, bytes dropped), then the
//! component is finished (its model built, every key checked). Used by the browser (JS pushes
//! shards), the native `--weights DIR` loader and the built-in tiny model.

use std::collections::BTreeMap;

use burn::tensor::{DType, Device};
use serde::{Deserialize, Serialize};

use super::{WeightStore, names};
use crate::models::clip::{ClipConfig, ClipTextModel, ClipVisionModel};
use crate::models::unet::{UNet2DConditionConfig, UNet2DConditionModel};
use crate::models::vae::{AutoencoderKLConfig, VaeDecoder, VaeEncoder};
use crate::pipeline::{Models, Pipeline};
use crate::schedulers::SchedulerConfig;
use crate::tokenizer::ClipTokenizer;
use crate::{Error, Result};

/// The components of a converted model, in load order.
pub const COMPONENTS: [&str; 7] = ["tokenizer", "text_encoder", "unet", "adapters", "vae_encoder", "vae_decoder", "clip_vision"];

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
}

/// Parsed configurations.
pub struct ParsedConfigs {
    unet: UNet2DConditionConfig,
    vae: AutoencoderKLConfig,
    text: ClipConfig,
    vision: ClipConfig,
    scheduler: SchedulerConfig,
}

impl ModelConfigs {
    /// Parses and validates every configuration.
    pub fn parse(&self) -> Result<ParsedConfigs> {
        Ok(ParsedConfigs {
            unet: UNet2DConditionConfig::from_json(&self.unet.to_string())?,
            vae: AutoencoderKLConfig::from_json(&self.vae.to_string())?,
            text: ClipConfig::from_json(&self.text_encoder.to_string(), "text_config")?,
            vision: ClipConfig::from_json(&self.clip_vision.to_string(), "vision_config")?,
            scheduler: SchedulerConfig::from_json(&self.scheduler.to_string())?,
        })
    }
}

/// Builds [`Models`] from shards pushed component by component.
pub struct ModelBuilder {
    device: Device,
    dtype: DType,
    configs: ParsedConfigs,
    stores: BTreeMap<String, WeightStore>,
    tokenizer: Option<ClipTokenizer>,
    text_encoder: Option<ClipTextModel>,
    unet: Option<UNet2DConditionModel>,
    vae_encoder: Option<VaeEncoder>,
    vae_decoder: Option<VaeDecoder>,
    clip_vision: Option<ClipVisionModel>,
}

fn unknown(component: &str) -> Error {
    Error::Input(format!("unknown model component `{component}` (expected one of {})", COMPONENTS.join(", ")))
}

impl ModelBuilder {
    /// A builder for models with these configurations on `device` in `dtype`.
    pub fn new(configs: &ModelConfigs, device: &Device, dtype: DType) -> Result<Self> {
        Ok(Self {
            device: device.clone(),
            dtype,
            configs: configs.parse()?,
            stores: BTreeMap::new(),
            tokenizer: None,
            text_encoder: None,
            unet: None,
            vae_encoder: None,
            vae_decoder: None,
            clip_vision: None,
        })
    }

    fn store(&mut self, component: &str) -> &mut WeightStore {
        // The UNet and its adapters share one store: the UNet is built with both.
        let key = if component == "adapters" { "unet" } else { component };
        let (device, dtype) = (self.device.clone(), self.dtype);
        self.stores
            .entry(key.to_string())
            .or_insert_with(|| WeightStore::new(&device, dtype).keep_f32(&["learnable_weights"]))
    }

    /// Feeds one shard of `component` (a safetensors file; the tokenizer's is tokenizer.json).
    /// `rename` maps (and filters) raw checkpoint keys; converted shards use identity.
    pub fn load_shard_with(&mut self, component: &str, bytes: &[u8], file: &str, rename: impl FnMut(&str) -> Option<String>) -> Result<()> {
        if !COMPONENTS.contains(&component) {
            return Err(unknown(component));
        }
        if component == "tokenizer" {
            self.tokenizer = Some(ClipTokenizer::from_bytes(bytes)?);
            return Ok(());
        }
        self.store(component).add_safetensors(bytes, file, rename)
    }

    /// Feeds one converted shard (keys already canonical).
    pub fn load_shard(&mut self, component: &str, bytes: &[u8], file: &str) -> Result<()> {
        self.load_shard_with(component, bytes, file, |n| Some(n.to_string()))
    }

    /// Builds `component`'s model from its shards and checks every key.
    pub fn finish_component(&mut self, component: &str) -> Result<()> {
        let c = &self.configs;
        match component {
            "tokenizer" => {
                if self.tokenizer.is_none() {
                    return Err(Error::Input("tokenizer: no tokenizer.json was loaded".into()));
                }
            }
            "unet" => {} // built together with the adapters
            "text_encoder" | "adapters" | "vae_encoder" | "vae_decoder" | "clip_vision" => {
                let key = if component == "adapters" { "unet" } else { component };
                let store = self.stores.remove(key).unwrap_or_else(|| WeightStore::new(&self.device, self.dtype));
                let loader = store.builder(if component == "adapters" { "unet + adapters" } else { component });
                let root = loader.root();
                match component {
                    "text_encoder" => self.text_encoder = Some(ClipTextModel::load(&root, &c.text)),
                    "adapters" => self.unet = Some(UNet2DConditionModel::load(&root, &c.unet, true)),
                    "vae_encoder" => self.vae_encoder = Some(VaeEncoder::load(&root, &c.vae)),
                    "vae_decoder" => self.vae_decoder = Some(VaeDecoder::load(&root, &c.vae)),
                    _ => self.clip_vision = Some(ClipVisionModel::load(&root, &c.vision)),
                }
                drop(root);
                loader.finish()?;
            }
            other => return Err(unknown(other)),
        }
        Ok(())
    }

    /// Builds every model of a component with random weights (benchmarks, shape checks).
    pub fn random_component(&mut self, component: &str) -> Result<()> {
        let c = &self.configs;
        let loader = WeightStore::random_builder(&self.device, self.dtype, component);
        let root = loader.root();
        match component {
            "tokenizer" => self.tokenizer = Some(ClipTokenizer::builtin()),
            "text_encoder" => self.text_encoder = Some(ClipTextModel::load(&root, &c.text)),
            "unet" => {}
            "adapters" => self.unet = Some(UNet2DConditionModel::load(&root, &c.unet, true)),
            "vae_encoder" => self.vae_encoder = Some(VaeEncoder::load(&root, &c.vae)),
            "vae_decoder" => self.vae_decoder = Some(VaeDecoder::load(&root, &c.vae)),
            "clip_vision" => self.clip_vision = Some(ClipVisionModel::load(&root, &c.vision)),
            other => return Err(unknown(other)),
        }
        drop(root);
        loader.finish()
    }

    /// The finished pipeline; errors name the components that are still missing.
    pub fn into_pipeline(self) -> Result<Pipeline> {
        let missing: Vec<&str> = [
            ("tokenizer", self.tokenizer.is_none()),
            ("text_encoder", self.text_encoder.is_none()),
            ("unet + adapters", self.unet.is_none()),
            ("vae_encoder", self.vae_encoder.is_none()),
            ("vae_decoder", self.vae_decoder.is_none()),
            ("clip_vision", self.clip_vision.is_none()),
        ]
        .into_iter()
        .filter_map(|(n, m)| m.then_some(n))
        .collect();
        if !missing.is_empty() {
            return Err(Error::Input(format!("the model is not fully loaded: missing {}", missing.join(", "))));
        }
        let vae_scaling = self.configs.vae.scaling_factor;
        let models = Models {
            tokenizer: self.tokenizer.expect("checked"),
            text_encoder: self.text_encoder.expect("checked"),
            unet: self.unet.expect("checked"),
            vae_encoder: self.vae_encoder.expect("checked"),
            vae_decoder: self.vae_decoder.expect("checked"),
            clip_vision: self.clip_vision.expect("checked"),
            scheduler: self.configs.scheduler.clone(),
            vae_scaling,
        };
        Pipeline::new(models, &self.device, self.dtype)
    }
}

/// Which component a raw checkpoint key of a diffusers-layout SD folder file belongs to, with
/// its canonical name. `file_kind` is "text_encoder", "unet", "vae", "ezigen" or "clip".
pub fn route_raw_key(file_kind: &str, name: &str) -> Option<(&'static str, String)> {
    match file_kind {
        "text_encoder" => names::is_text_encoder_key(name).then(|| ("text_encoder", name.to_string())),
        "unet" => (!super::is_adapter_key(name)).then(|| ("unet", name.to_string())),
        "ezigen" => names::ezigen_adapter_key(name).map(|n| ("adapters", n)),
        "vae" => {
            let n = names::vae_canonical(name);
            if names::is_vae_encoder_key(&n) {
                Some(("vae_encoder", n))
            } else if names::is_vae_decoder_key(&n) {
                Some(("vae_decoder", n))
            } else {
                None
            }
        }
        "clip" => names::is_clip_vision_key(name).then(|| ("clip_vision", name.to_string())),
        _ => None,
    }
}
