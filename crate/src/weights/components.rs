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
use crate::kernels::Kernels;
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

impl ModelConfigs {
    /// The architecture of the real model: SD 2.1-base (UNet, VAE, OpenCLIP ViT-H text
    /// encoder), EZIGen's adapters and CLIP ViT-B/32 vision, as in their `config.json` files.
    /// With [`random_pipeline`] it gives a full-size model with random weights (benchmarks).
    pub fn sd21_base() -> Self {
        let parse = |s: &str| serde_json::from_str(s).expect("built-in config is valid JSON");
        Self {
            unet: parse(crate::models::unet::config::SD21_BASE_JSON),
            vae: parse(
                r#"{"act_fn":"silu","block_out_channels":[128,256,512,512],
                "down_block_types":["DownEncoderBlock2D","DownEncoderBlock2D","DownEncoderBlock2D","DownEncoderBlock2D"],
                "up_block_types":["UpDecoderBlock2D","UpDecoderBlock2D","UpDecoderBlock2D","UpDecoderBlock2D"],
                "in_channels":3,"latent_channels":4,"layers_per_block":2,"norm_num_groups":32,"out_channels":3,
                "sample_size":512,"scaling_factor":0.18215}"#,
            ),
            text_encoder: parse(
                r#"{"hidden_act":"gelu","hidden_size":1024,"intermediate_size":4096,"layer_norm_eps":1e-5,
                "max_position_embeddings":77,"num_attention_heads":16,"num_hidden_layers":23,
                "projection_dim":512,"vocab_size":49408}"#,
            ),
            clip_vision: parse(
                r#"{"hidden_act":"quick_gelu","hidden_size":768,"image_size":224,"intermediate_size":3072,
                "layer_norm_eps":1e-5,"num_attention_heads":12,"num_hidden_layers":12,"patch_size":32,
                "projection_dim":512}"#,
            ),
            scheduler: parse(
                r#"{"beta_end":0.012,"beta_schedule":"scaled_linear","beta_start":0.00085,"clip_sample":false,
                "num_train_timesteps":1000,"prediction_type":"epsilon","set_alpha_to_one":false,"steps_offset":1}"#,
            ),
        }
    }
}

/// A pipeline of `configs`' architecture with random weights on `device` (benchmarks and
/// memory measurements of the full-size model without its weights).
pub fn random_pipeline(configs: &ModelConfigs, device: &Device, dtype: DType, kernels: Kernels) -> Result<Pipeline> {
    let mut builder = ModelBuilder::new(configs, device, dtype)?;
    builder.set_kernels(kernels);
    for component in COMPONENTS {
        builder.random_component(component)?;
    }
    builder.into_pipeline()
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
    kernels: Kernels,
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
            kernels: Kernels::default(),
        })
    }

    /// Chooses the implementation of norms and attention for the models built from now on
    /// (default [`Kernels::Wgsl`]).
    pub fn set_kernels(&mut self, kernels: Kernels) {
        self.kernels = kernels;
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
                let loader = store.builder(if component == "adapters" { "unet + adapters" } else { component }).set_kernels(self.kernels);
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
        let loader = WeightStore::random_builder(&self.device, self.dtype, component).set_kernels(self.kernels);
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
