//! The neural components of EZIGen, one file per diffusers / transformers module.

pub mod clip;
pub mod resnet;
pub mod unet;
pub mod vae;
pub mod vit;
