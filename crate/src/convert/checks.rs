//! The converter's checks: models EZIGen cannot run are refused before anything is written,
//! naming what was found, and the EZIGen checkpoint must carry every adapter tensor with the
//! shape this UNet needs.

use std::collections::BTreeMap;

use super::plan::Source;
use crate::models::unet::UNet2DConditionConfig;
use crate::weights::names::ADAPTER_TENSORS;
use crate::weights::components::ModelConfigs;
use crate::{Error, Result};

/// Whether the UNet is test-sized: every block narrower than SD's narrowest (320 channels).
/// Such a model is marked `tiny` in the manifest (the page says its images are noise).
pub(super) fn is_test_sized(unet: &UNet2DConditionConfig) -> bool {
    unet.block_out_channels.iter().all(|&c| c < 320)
}

/// Refuses models EZIGen cannot run, naming what was found; returns warnings for models it can
/// run but was not trained on.
pub(super) fn check_model(configs: &ModelConfigs, unet: &UNet2DConditionConfig, tiny: bool) -> Result<Vec<String>> {
    let pred = configs.scheduler.get("prediction_type").and_then(|v| v.as_str()).unwrap_or("epsilon");
    if pred != "epsilon" {
        return Err(Error::Config(format!(
            "the SD folder's scheduler predicts `{pred}`: this is the 768-px v-prediction model; EZIGen needs stable-diffusion-2-1-base"
        )));
    }
    let text_width = configs.text_encoder.get("hidden_size").and_then(|v| v.as_u64()).unwrap_or(0) as usize;
    if unet.cross_attention_dim != text_width {
        return Err(Error::Config(format!(
            "UNet cross_attention_dim {} does not match the text encoder width {text_width}",
            unet.cross_attention_dim
        )));
    }
    let mut warnings = Vec::new();
    if !tiny {
        if unet.cross_attention_dim == 768 {
            return Err(Error::Config("this is a Stable Diffusion 1.x model (768-wide text encoder); EZIGen needs stable-diffusion-2-1-base".into()));
        }
        if unet.sample_size != 64 || unet.cross_attention_dim != 1024 || unet.block_out_channels != [320, 640, 1280, 1280] {
            warnings.push(format!(
                "this UNet (sample_size {}, cross_attention_dim {}, channels {:?}) is not stable-diffusion-2-1-base's (64, 1024, [320, 640, 1280, 1280]), \
                 on which the released EZIGen adapters were trained: converted anyway, for a model whose adapters were trained on this base",
                unet.sample_size, unet.cross_attention_dim, unet.block_out_channels
            ));
        }
    }
    Ok(warnings)
}

/// The attention-block prefixes that carry an adapter, in the official order.
fn adapter_prefixes(unet: &UNet2DConditionConfig) -> Vec<String> {
    let mut prefixes = Vec::new();
    for (i, t) in unet.down_block_types.iter().enumerate() {
        if t == "CrossAttnDownBlock2D" {
            prefixes.extend((0..unet.layers_per_block).map(|j| format!("down_blocks.{i}.attentions.{j}")));
        }
    }
    prefixes.push("mid_block.attentions.0".into());
    for (i, t) in unet.up_block_types.iter().enumerate() {
        if t == "CrossAttnUpBlock2D" {
            prefixes.extend((0..=unet.layers_per_block).map(|j| format!("up_blocks.{i}.attentions.{j}")));
        }
    }
    prefixes
}

/// Every adapter tensor must be in the EZIGen checkpoint, with the shape this UNet needs.
pub(super) fn check_adapters(sources: &[Source], unet: &UNet2DConditionConfig, checkpoint: &str) -> Result<()> {
    let found: BTreeMap<&str, &[usize]> =
        sources.iter().filter(|s| s.kind == "ezigen").map(|s| (s.name.as_str(), s.shape.as_slice())).collect();
    let base: BTreeMap<&str, &[usize]> =
        sources.iter().filter(|s| s.kind == "unet").map(|s| (s.name.as_str(), s.shape.as_slice())).collect();
    let mut expected = vec!["learnable_weights".to_string()];
    let mut pairs = Vec::new();
    for p in adapter_prefixes(unet) {
        for (adapter, like) in ADAPTER_TENSORS {
            let key = format!("{p}.transformer_blocks.0.{adapter}");
            pairs.push((key.clone(), format!("{p}.transformer_blocks.0.{like}")));
            expected.push(key);
        }
    }
    let missing: Vec<&String> = expected.iter().filter(|k| !found.contains_key(k.as_str())).collect();
    if !missing.is_empty() {
        return Err(Error::Config(format!(
            "the EZIGen checkpoint {checkpoint} lacks {} of the {} adapter tensors (e.g. {}): is it the EZIGen checkpoint-200000 folder?",
            missing.len(),
            expected.len(),
            missing[0]
        )));
    }
    for (key, like) in pairs {
        if let (Some(a), Some(b)) = (found.get(key.as_str()), base.get(like.as_str()))
            && a != b
        {
            return Err(Error::Config(format!(
                "the EZIGen checkpoint {checkpoint} does not fit this Stable Diffusion model: {key} has shape {a:?}, the UNet needs {b:?} \
                 (the checkpoint was trained on another base model)"
            )));
        }
    }
    Ok(())
}
