//! Assembling EZIGen's models component by component, in the order the pipeline needs them:
//! shards of a component are fed one at a time (uploaded at once, bytes dropped), then the
//! component is finished (its model built, every key checked). Used by the browser (JS pushes
//! shards), the native `--weights DIR` loader and the built-in tiny model. This is the layer
//! that joins the weights (formats, store) with the models, the pipeline and the kernel choice.

use std::collections::BTreeMap;

use burn::tensor::{DType, Device};

use crate::kernels::Kernels;
use crate::models::clip::{ClipConfig, ClipTextModel, ClipVisionModel};
use crate::models::unet::{UNet2DConditionConfig, UNet2DConditionModel};
use crate::models::vae::{AutoencoderKLConfig, VaeDecoder, VaeEncoder};
use crate::nn::Vars;
use crate::pipeline::{Models, Pipeline};
use crate::schedulers::SchedulerConfig;
use crate::tokenizer::ClipTokenizer;
use crate::weights::safetensors::SourceFile;
use crate::weights::{Loader, WeightStore};
use crate::weights::components::{Component, ModelConfigs};
use crate::{Error, Result};

/// How models are built: the kernel choice and the device's largest storage binding.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// Norm and attention implementation ([`Kernels::Wgsl`] by default).
    pub kernels: Kernels,
    /// `maxStorageBufferBindingSize` (`None`: no limit): see [`ModelBuilder::set_max_binding`].
    pub max_binding: Option<u64>,
}

impl LoadOptions {
    /// These kernels, no binding limit.
    pub fn kernels(kernels: Kernels) -> Self {
        Self { kernels, max_binding: None }
    }
}

/// A pipeline of `configs`' architecture with random weights on `device` (benchmarks and
/// memory measurements of the full-size model without its weights), with the built-in tokenizer
/// (native builds).
#[cfg(feature = "native")]
pub fn random_pipeline(configs: &ModelConfigs, device: &Device, dtype: DType, options: LoadOptions) -> Result<Pipeline> {
    random_pipeline_with(configs, ClipTokenizer::builtin(), device, dtype, options)
}

/// [`random_pipeline`] with a given tokenizer (the page's, in the wasm build: the benchmark of
/// the full-size model through the browser's engine, `tests/bench/dawn_step.mjs`).
pub fn random_pipeline_with(configs: &ModelConfigs, tokenizer: ClipTokenizer, device: &Device, dtype: DType, options: LoadOptions) -> Result<Pipeline> {
    let mut builder = ModelBuilder::new(configs, device, dtype)?;
    builder.set_options(options);
    builder.tokenizer = Some(tokenizer);
    for component in Component::ALL {
        if component != Component::Tokenizer {
            builder.random_component(component)?;
        }
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

/// Parses and validates every configuration of `configs`.
pub fn parse_configs(c: &ModelConfigs) -> Result<ParsedConfigs> {
    Ok(ParsedConfigs {
        unet: UNet2DConditionConfig::from_json(&c.unet.to_string())?,
        vae: AutoencoderKLConfig::from_json(&c.vae.to_string())?,
        text: ClipConfig::from_json(&c.text_encoder.to_string(), "text_config")?,
        vision: ClipConfig::from_json(&c.clip_vision.to_string(), "vision_config")?,
        scheduler: SchedulerConfig::from_json(&c.scheduler.to_string())?,
    })
}

/// Builds [`Models`] from shards pushed component by component.
pub struct ModelBuilder {
    device: Device,
    dtype: DType,
    configs: ParsedConfigs,
    stores: BTreeMap<Component, WeightStore>,
    tokenizer: Option<ClipTokenizer>,
    text_encoder: Option<ClipTextModel>,
    unet: Option<UNet2DConditionModel>,
    vae_encoder: Option<VaeEncoder>,
    vae_decoder: Option<VaeDecoder>,
    clip_vision: Option<ClipVisionModel>,
    kernels: Kernels,
    max_binding: Option<u64>,
}

impl ModelBuilder {
    /// A builder for models with these configurations on `device` in `dtype`.
    pub fn new(configs: &ModelConfigs, device: &Device, dtype: DType) -> Result<Self> {
        Ok(Self {
            device: device.clone(),
            dtype,
            configs: parse_configs(configs)?,
            stores: BTreeMap::new(),
            tokenizer: None,
            text_encoder: None,
            unet: None,
            vae_encoder: None,
            vae_decoder: None,
            clip_vision: None,
            kernels: Kernels::default(),
            max_binding: None,
        })
    }

    /// Sets the kernels and the binding limit together.
    pub fn set_options(&mut self, options: LoadOptions) {
        self.set_kernels(options.kernels);
        self.set_max_binding(options.max_binding);
    }

    /// The device's largest storage binding (`maxStorageBufferBindingSize`; `None`: no limit).
    /// Set it before the first shard: tables larger than this are kept as row blocks, and the
    /// finished pipeline keeps every VAE map within it ([`Pipeline::with_max_binding`]).
    pub fn set_max_binding(&mut self, limit: Option<u64>) {
        self.max_binding = limit;
    }

    /// Chooses the implementation of norms and attention for the models built from now on
    /// (default [`Kernels::Wgsl`]).
    pub fn set_kernels(&mut self, kernels: Kernels) {
        self.kernels = kernels;
    }

    /// The store a component's shards go to: the UNet and its adapters share one (the UNet is
    /// built with both).
    fn store_key(component: Component) -> Component {
        if component == Component::Adapters { Component::Unet } else { component }
    }

    fn store(&mut self, component: Component) -> &mut WeightStore {
        let (device, dtype, limit) = (self.device.clone(), self.dtype, self.max_binding);
        self.stores
            .entry(Self::store_key(component))
            .or_insert_with(|| new_store(&device, dtype, limit))
    }

    /// Feeds one shard of `component` (a safetensors file; the tokenizer's is tokenizer.json).
    /// `rename` maps (and filters) raw checkpoint keys; converted shards use identity.
    pub fn load_shard_with(&mut self, component: Component, bytes: &[u8], file: &str, rename: impl FnMut(&str) -> Option<String>) -> Result<()> {
        self.load_shard_from(component, &bytes, file, rename)
    }

    /// [`Self::load_shard_with`] from a file read by range (never held whole).
    pub fn load_shard_from(&mut self, component: Component, f: &dyn SourceFile, file: &str, rename: impl FnMut(&str) -> Option<String>) -> Result<()> {
        if component == Component::Tokenizer {
            let len = usize::try_from(f.len()).map_err(|_| Error::Weights { file: file.to_string(), reason: "too large for a tokenizer".into() })?;
            self.tokenizer = Some(ClipTokenizer::from_bytes(&f.read_at(0, len)?)?);
            return Ok(());
        }
        self.store(component).add_safetensors_from(f, file, rename)
    }

    /// Feeds one converted shard (keys already canonical).
    pub fn load_shard(&mut self, component: Component, bytes: &[u8], file: &str) -> Result<()> {
        self.load_shard_with(component, bytes, file, |n| Some(n.to_string()))
    }

    /// Builds `component`'s model from its shards and checks every key.
    pub fn finish_component(&mut self, component: Component) -> Result<()> {
        match component {
            Component::Tokenizer => {
                if self.tokenizer.is_none() {
                    return Err(Error::Input("tokenizer: no tokenizer.json was loaded".into()));
                }
                Ok(())
            }
            Component::Unet => Ok(()), // built together with the adapters
            _ => {
                let store = self.stores.remove(&Self::store_key(component)).unwrap_or_else(|| new_store(&self.device, self.dtype, self.max_binding));
                let name = if component == Component::Adapters { "unet + adapters".to_string() } else { component.to_string() };
                self.build(component, store.builder(&name))
            }
        }
    }

    /// Builds every model of a component with random weights (benchmarks, shape checks). The
    /// tokenizer is the built-in one (native builds; elsewhere [`random_pipeline_with`] sets it).
    pub fn random_component(&mut self, component: Component) -> Result<()> {
        match component {
            #[cfg(feature = "native")]
            Component::Tokenizer => {
                self.tokenizer = Some(ClipTokenizer::builtin());
                Ok(())
            }
            #[cfg(not(feature = "native"))]
            Component::Tokenizer => Err(Error::Input("no built-in tokenizer in this build".into())),
            Component::Unet => Ok(()),
            _ => self.build(component, WeightStore::random_builder(&self.device, self.dtype, self.max_binding, component.as_str())),
        }
    }

    /// Builds the model of a (non-tokenizer) component from `loader` and checks every key.
    fn build(&mut self, component: Component, loader: Loader) -> Result<()> {
        let c = &self.configs;
        let root = Vars::new(loader.root(), self.kernels);
        match component {
            Component::TextEncoder => self.text_encoder = Some(ClipTextModel::load(&root, &c.text)),
            Component::Adapters => self.unet = Some(UNet2DConditionModel::load(&root, &c.unet, true)),
            Component::VaeEncoder => self.vae_encoder = Some(VaeEncoder::load(&root, &c.vae)),
            Component::VaeDecoder => self.vae_decoder = Some(VaeDecoder::load(&root, &c.vae)),
            Component::ClipVision => self.clip_vision = Some(ClipVisionModel::load(&root, &c.vision)),
            Component::ClipText | Component::Dino => {
                return Err(Error::Input(format!("{component} is a metric model, not part of the generation model (eval::MetricsBuilder)")));
            }
            Component::Tokenizer | Component::Unet => unreachable!("handled by the callers"),
        }
        drop(root);
        loader.finish()
    }

    /// The components whose models are not built yet (empty once the model is complete).
    pub fn missing(&self) -> Vec<&'static str> {
        [
            ("tokenizer", self.tokenizer.is_none()),
            ("text_encoder", self.text_encoder.is_none()),
            ("unet + adapters", self.unet.is_none()),
            ("vae_encoder", self.vae_encoder.is_none()),
            ("vae_decoder", self.vae_decoder.is_none()),
            ("clip_vision", self.clip_vision.is_none()),
        ]
        .into_iter()
        .filter_map(|(n, m)| m.then_some(n))
        .collect()
    }

    /// Whether every component's model is built ([`Self::into_pipeline`] will succeed).
    pub fn is_complete(&self) -> bool {
        self.missing().is_empty()
    }

    /// The finished pipeline; errors name the components that are still missing.
    pub fn into_pipeline(self) -> Result<Pipeline> {
        let missing = self.missing();
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
        Ok(Pipeline::new(models, &self.device, self.dtype)?.with_max_binding(self.max_binding))
    }
}

/// An empty store of one component: `learnable_weights` stays f32, tables over `limit` are
/// row blocks.
fn new_store(device: &Device, dtype: DType, limit: Option<u64>) -> WeightStore {
    WeightStore::new(device, dtype).keep_f32(&["learnable_weights"]).max_tensor_bytes(limit)
}

