//! Loading the models of a training run from a diffusers SD 2.x folder: the stock weights,
//! and the adapters either initialised as §3.5 prescribes or taken from an EZIGen checkpoint
//! (`--init-from`, fine-tuning the released adapters).

use std::path::Path;

use burn::tensor::{DType, Device, TensorData};

use super::TrainModels;
use crate::kernels::Kernels;
use crate::models::clip::{ClipConfig, ClipTextModel};
use crate::models::unet::{UNet2DConditionConfig, UNet2DConditionModel};
use crate::models::vae::{AutoencoderKLConfig, VaeEncoder};
use crate::files::{find, read};
use crate::nn::Vars;
use crate::schedulers::SchedulerConfig;
use crate::tokenizer::{ClipTokenizer, default_tokenizer_json};
use crate::weights::WeightStore;
use crate::weights::components::route_raw_key;
use crate::weights::names::{adapter_init_key, ezigen_adapter_key};
use crate::{Error, Result};

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Weights { file: path.display().to_string(), reason: e.to_string() })
}

/// The stock UNet key set of a diffusers UNet file (adapter keys left out).
fn unet_file(sd: &Path) -> Result<std::path::PathBuf> {
    find(&sd.join("unet"), &["diffusion_pytorch_model.safetensors"])
}

/// Loads everything a training run needs from `sd` (a diffusers SD 2.x folder) on `device` in
/// f32, with plain burn ops. Without `init_from`, the adapters start as §3.5 prescribes
/// (copies of each block's `attn1` and `norm1`, `learnable_weights` = 1); with it, from that
/// EZIGen checkpoint's adapter keys (`model.safetensors` of a checkpoint folder, or the file).
pub fn load_train_models(sd: &Path, init_from: Option<&Path>, device: &Device) -> Result<TrainModels> {
    if !sd.is_dir() {
        return Err(Error::Input(format!("--sd {}: not a folder (a diffusers Stable Diffusion 2.x folder with unet/, vae/, text_encoder/, scheduler/)", sd.display())));
    }
    let unet_config = UNet2DConditionConfig::from_json(&read_text(&sd.join("unet/config.json"))?)?;
    let vae_config = AutoencoderKLConfig::from_json(&read_text(&sd.join("vae/config.json"))?)?;
    let text_config = ClipConfig::from_json(&read_text(&sd.join("text_encoder/config.json"))?, "text_config")?;
    let scheduler = SchedulerConfig::from_json(&read_text(&sd.join("scheduler/scheduler_config.json"))?)?;
    if unet_config.cross_attention_dim != text_config.hidden_size {
        return Err(Error::Config(format!(
            "UNet cross_attention_dim {} does not match the text encoder width {}",
            unet_config.cross_attention_dim, text_config.hidden_size
        )));
    }
    let tokenizer_path = sd.join("tokenizer/tokenizer.json");
    let tokenizer = if tokenizer_path.is_file() {
        ClipTokenizer::from_bytes(&read(&tokenizer_path)?)?
    } else {
        ClipTokenizer::from_bytes(default_tokenizer_json())?
    };
    let kernels = Kernels::Reference;

    let path = find(&sd.join("text_encoder"), &["model.safetensors"])?;
    let mut store = WeightStore::new(device, DType::F32);
    store.add_safetensors(&read(&path)?, &path.display().to_string(), |n| route_raw_key("text_encoder", n).map(|(_, k)| k))?;
    let loader = store.builder("text_encoder");
    let text_encoder = ClipTextModel::load(&Vars::new(loader.root(), kernels), &text_config);
    loader.finish()?;

    let path = find(&sd.join("vae"), &["diffusion_pytorch_model.safetensors"])?;
    let mut store = WeightStore::new(device, DType::F32);
    store.add_safetensors(&read(&path)?, &path.display().to_string(), |n| {
        route_raw_key("vae", n).and_then(|(c, k)| (c == crate::weights::components::Component::VaeEncoder).then_some(k))
    })?;
    let loader = store.builder("vae_encoder");
    let vae_encoder = VaeEncoder::load(&Vars::new(loader.root(), kernels), &vae_config);
    loader.finish()?;

    let path = unet_file(sd)?;
    let file = path.display().to_string();
    let bytes = read(&path)?;
    let mut store = WeightStore::new(device, DType::F32);
    store.add_safetensors(&bytes, &file, |n| route_raw_key("unet", n).map(|(_, k)| k))?;
    match init_from {
        None => {
            store.add_safetensors(&bytes, &file, adapter_init_key)?;
            let n = unet_config.num_transformer_blocks();
            store.insert_data("learnable_weights".into(), TensorData::new(vec![1.0f32; n], [n]), vec![n]);
        }
        Some(ck) => {
            let ck_path = if ck.is_dir() { find(ck, &["model.safetensors"])? } else { ck.to_path_buf() };
            store.add_safetensors(&read(&ck_path)?, &ck_path.display().to_string(), ezigen_adapter_key)?;
        }
    }
    drop(bytes);
    let loader = store.builder("unet + adapters");
    let unet = UNet2DConditionModel::load(&Vars::new(loader.root(), kernels), &unet_config, true);
    loader.finish()?;

    Ok(TrainModels { tokenizer, text_encoder, unet, vae_encoder, scheduler, vae_scaling: vae_config.scaling_factor })
}

/// The models of a training run with random weights in the architecture of `unet`/`vae`/
/// `text_encoder` configs (JSON; e.g. [`crate::presets`]' SD 2.1-base), §3.5-style adapters
/// included: full-size step time and memory without the weights.
pub fn random_train_models(unet: &str, vae: &str, text_encoder: &str, scheduler: &str, device: &Device) -> Result<TrainModels> {
    let unet_config = UNet2DConditionConfig::from_json(unet)?;
    let vae_config = AutoencoderKLConfig::from_json(vae)?;
    let text_config = ClipConfig::from_json(text_encoder, "text_config")?;
    let scheduler = SchedulerConfig::from_json(scheduler)?;
    let kernels = Kernels::Reference;
    let build = |name: &str| WeightStore::random_builder(device, DType::F32, None, name);
    let loader = build("text_encoder");
    let text_encoder = ClipTextModel::load(&Vars::new(loader.root(), kernels), &text_config);
    let loader = build("vae_encoder");
    let vae_encoder = VaeEncoder::load(&Vars::new(loader.root(), kernels), &vae_config);
    let loader = build("unet + adapters");
    let unet = UNet2DConditionModel::load(&Vars::new(loader.root(), kernels), &unet_config, true);
    Ok(TrainModels { tokenizer: ClipTokenizer::from_bytes(default_tokenizer_json())?, text_encoder, unet, vae_encoder, scheduler, vae_scaling: vae_config.scaling_factor })
}
