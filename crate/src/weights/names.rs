//! Key-name tables: which checkpoint keys belong to which component, and the few renames
//! needed to reach the canonical diffusers / transformers names.
//!
//! - VAE: legacy attention names `query`/`key`/`value`/`proj_attn` → `to_q`/`to_k`/`to_v`/
//!   `to_out.0` (older diffusers checkpoints); the VAE is split into `encoder.*` +
//!   `quant_conv.*` and `decoder.*` + `post_quant_conv.*`.
//! - EZIGen checkpoint: a `module.` prefix (multi-GPU training) is stripped; only the adapter
//!   keys are taken from it (the UNet's base weights come from SD 2.1-base).
//! - CLIP: the vision tower (`vision_model.*`, `visual_projection.*`) of a full `CLIPModel`.

use super::is_adapter_key;

/// Renames legacy VAE attention keys to the current diffusers names.
pub fn vae_canonical(name: &str) -> String {
    const TABLE: [(&str, &str); 4] =
        [(".query.", ".to_q."), (".key.", ".to_k."), (".value.", ".to_v."), (".proj_attn.", ".to_out.0.")];
    for (old, new) in TABLE {
        if name.contains(".attentions.") && name.contains(old) {
            return name.replacen(old, new, 1);
        }
    }
    name.to_string()
}

/// Whether a (canonical) VAE key belongs to the encoder half.
pub fn is_vae_encoder_key(name: &str) -> bool {
    name.starts_with("encoder.") || name.starts_with("quant_conv.")
}

/// Whether a (canonical) VAE key belongs to the decoder half.
pub fn is_vae_decoder_key(name: &str) -> bool {
    name.starts_with("decoder.") || name.starts_with("post_quant_conv.")
}

/// An EZIGen checkpoint key without a `module.` prefix, if it is an adapter key.
pub fn ezigen_adapter_key(name: &str) -> Option<String> {
    let name = name.strip_prefix("module.").unwrap_or(name);
    is_adapter_key(name).then(|| name.to_string())
}

/// The adapter tensors of one transformer block: the adapter's key suffix and the stock key of
/// the same block it is initialised from (spec §3.5) and whose shape it has — the adapter is an
/// attention of the block's self-attention size, normed like `norm1`. The converter checks a
/// checkpoint against this list; training initialises from it.
pub const ADAPTER_TENSORS: [(&str, &str); 7] = [
    ("adapter.to_q.weight", "attn1.to_q.weight"),
    ("adapter.to_k.weight", "attn1.to_k.weight"),
    ("adapter.to_v.weight", "attn1.to_v.weight"),
    ("adapter.to_out.0.weight", "attn1.to_out.0.weight"),
    ("adapter.to_out.0.bias", "attn1.to_out.0.bias"),
    ("adapter_norm.weight", "norm1.weight"),
    ("adapter_norm.bias", "norm1.bias"),
];

/// Spec §3.5 (`train.py: register_adapter_and_configs`): the adapter key that a stock UNet key
/// initialises ([`ADAPTER_TENSORS`]: block k's `attn1.{to_q,to_k,to_v,to_out.0}.*` →
/// `adapter.*` and `norm1.*` → `adapter_norm.*`), for the `transformer_blocks.0` of every
/// attention (`None` for other keys).
pub fn adapter_init_key(unet_key: &str) -> Option<String> {
    let (block, rest) = unet_key.split_once(".transformer_blocks.0.")?;
    if !block.contains(".attentions.") {
        return None;
    }
    let (adapter, _) = ADAPTER_TENSORS.iter().find(|(_, stock)| *stock == rest)?;
    Some(format!("{block}.transformer_blocks.0.{adapter}"))
}

/// Whether a CLIP key belongs to the vision tower with its projection.
pub fn is_clip_vision_key(name: &str) -> bool {
    (name.starts_with("vision_model.") || name.starts_with("visual_projection.")) && !name.ends_with("position_ids")
}

/// Whether a text-encoder key is a weight (not the `position_ids` buffer).
pub fn is_text_encoder_key(name: &str) -> bool {
    name.starts_with("text_model.") && !name.ends_with("position_ids")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapter_init_keys_follow_register_adapter_and_configs() {
        let p = "up_blocks.1.attentions.2.transformer_blocks.0";
        assert_eq!(adapter_init_key(&format!("{p}.attn1.to_q.weight")), Some(format!("{p}.adapter.to_q.weight")));
        assert_eq!(adapter_init_key(&format!("{p}.attn1.to_out.0.bias")), Some(format!("{p}.adapter.to_out.0.bias")));
        assert_eq!(adapter_init_key(&format!("{p}.norm1.weight")), Some(format!("{p}.adapter_norm.weight")));
        assert_eq!(adapter_init_key(&format!("{p}.attn2.to_q.weight")), None);
        assert_eq!(adapter_init_key(&format!("{p}.norm2.weight")), None);
        assert_eq!(adapter_init_key("down_blocks.0.resnets.0.norm1.weight"), None);
    }

    #[test]
    fn renames() {
        assert_eq!(vae_canonical("encoder.mid_block.attentions.0.query.weight"), "encoder.mid_block.attentions.0.to_q.weight");
        assert_eq!(vae_canonical("decoder.mid_block.attentions.0.proj_attn.bias"), "decoder.mid_block.attentions.0.to_out.0.bias");
        assert_eq!(vae_canonical("decoder.conv_in.weight"), "decoder.conv_in.weight");
        assert_eq!(
            ezigen_adapter_key("module.down_blocks.0.attentions.0.transformer_blocks.0.adapter.to_q.weight").as_deref(),
            Some("down_blocks.0.attentions.0.transformer_blocks.0.adapter.to_q.weight")
        );
        assert_eq!(ezigen_adapter_key("module.learnable_weights").as_deref(), Some("learnable_weights"));
        assert_eq!(ezigen_adapter_key("conv_in.weight"), None);
        assert!(is_vae_encoder_key("quant_conv.weight") && !is_vae_encoder_key("post_quant_conv.weight"));
    }
}
