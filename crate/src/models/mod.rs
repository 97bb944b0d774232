//! The neural components of EZIGen, one file per diffusers / transformers module.

pub mod clip;
pub mod resnet;
pub mod unet;
pub mod vae;
pub mod vit;

use crate::{Error, Result};
use clip::ClipConfig;
use vit::VitConfig;

/// Checks the configurations of the metric models (DreamBench's scores): CLIP's image and text
/// towers must be one CLIP model (equal projection widths) and DINO a ViT this port runs. Used
/// by the converter and by the metric loaders alike.
pub fn check_metric_configs(clip_vision: &serde_json::Value, clip_text: &serde_json::Value, dino: &serde_json::Value) -> Result<()> {
    let vision = ClipConfig::from_json(&clip_vision.to_string(), "vision_config")?;
    let text = ClipConfig::from_json(&clip_text.to_string(), "text_config")?;
    VitConfig::from_json(&dino.to_string())?;
    if text.projection_dim != vision.projection_dim || text.projection_dim == 0 {
        return Err(Error::Config(format!(
            "CLIP's text projection ({}) and image projection ({}) differ: not one CLIP model",
            text.projection_dim, vision.projection_dim
        )));
    }
    Ok(())
}
