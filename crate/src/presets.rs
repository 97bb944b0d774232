//! The released models' configurations, in one place, as their `config.json` files publish
//! them (the fields this port reads). Used for full-size models with random weights
//! (benchmarks, memory and limit checks) and as the reference for what the real model is.

/// SD 2.1-base `unet/config.json`
/// (<https://huggingface.co/stabilityai/stable-diffusion-2-1-base/blob/main/unet/config.json>).
pub const SD21_BASE_UNET: &str = r#"{"block_out_channels":[320,640,1280,1280],
    "down_block_types":["CrossAttnDownBlock2D","CrossAttnDownBlock2D","CrossAttnDownBlock2D","DownBlock2D"],
    "up_block_types":["UpBlock2D","CrossAttnUpBlock2D","CrossAttnUpBlock2D","CrossAttnUpBlock2D"],
    "attention_head_dim":[5,10,20,20],"cross_attention_dim":1024,"use_linear_projection":true,
    "layers_per_block":2,"norm_num_groups":32,"norm_eps":1e-5,"flip_sin_to_cos":true,
    "freq_shift":0,"sample_size":64,"in_channels":4,"out_channels":4}"#;

/// SD 2.1-base `vae/config.json`
/// (<https://huggingface.co/stabilityai/stable-diffusion-2-1-base/blob/main/vae/config.json>).
pub const SD21_BASE_VAE: &str = r#"{"act_fn":"silu","block_out_channels":[128,256,512,512],
    "down_block_types":["DownEncoderBlock2D","DownEncoderBlock2D","DownEncoderBlock2D","DownEncoderBlock2D"],
    "up_block_types":["UpDecoderBlock2D","UpDecoderBlock2D","UpDecoderBlock2D","UpDecoderBlock2D"],
    "in_channels":3,"latent_channels":4,"layers_per_block":2,"norm_num_groups":32,"out_channels":3,
    "sample_size":512,"scaling_factor":0.18215}"#;

/// SD 2.1-base `text_encoder/config.json`, OpenCLIP ViT-H/14's text tower
/// (<https://huggingface.co/stabilityai/stable-diffusion-2-1-base/blob/main/text_encoder/config.json>).
pub const SD21_BASE_TEXT_ENCODER: &str = r#"{"hidden_act":"gelu","hidden_size":1024,"intermediate_size":4096,
    "layer_norm_eps":1e-5,"max_position_embeddings":77,"num_attention_heads":16,"num_hidden_layers":23,
    "projection_dim":512,"vocab_size":49408}"#;

/// SD 2.1-base `scheduler/scheduler_config.json`
/// (<https://huggingface.co/stabilityai/stable-diffusion-2-1-base/blob/main/scheduler/scheduler_config.json>).
pub const SD21_BASE_SCHEDULER: &str = r#"{"beta_end":0.012,"beta_schedule":"scaled_linear","beta_start":0.00085,
    "clip_sample":false,"num_train_timesteps":1000,"prediction_type":"epsilon","set_alpha_to_one":false,
    "steps_offset":1}"#;

/// CLIP ViT-B/32's vision tower, the auto-stop similarity model
/// (<https://huggingface.co/openai/clip-vit-base-patch32/blob/main/config.json>, `vision_config`).
pub const CLIP_VIT_B32_VISION: &str = r#"{"hidden_act":"quick_gelu","hidden_size":768,"image_size":224,
    "intermediate_size":3072,"layer_norm_eps":1e-5,"num_attention_heads":12,"num_hidden_layers":12,
    "patch_size":32,"projection_dim":512}"#;
