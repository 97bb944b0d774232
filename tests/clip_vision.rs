//! CLIP ViT (`CLIPVisionModelWithProjection`, QuickGELU) against transformers, and OpenAI
//! CLIP's preprocessing (Pillow bicubic short side 224, centre crop, normalise) against the
//! reference transform, on the tiny fixture.
//!
//! Tolerances: model as the other components (1e-4 / 1e-3 / 3e-2 relative); preprocessing
//! exact to float rounding (1e-6 absolute on normalised values ≈ 1/255 · 1e-4).

use ezigen::imageops::{Image8, clip_preprocess};
use ezigen::models::clip::{ClipConfig, ClipVisionModel};
use ezigen_tests::{Io, assert_close, host, loader, max_diff, read, targets};

#[test]
fn image_embeds_match_transformers() {
    let io = Io::load("io/clip_vision.safetensors");
    let config = ClipConfig::from_json(std::str::from_utf8(&read("tiny/clip/config.json")).unwrap(), "vision_config").unwrap();
    for (name, device, dtype, tol) in targets(1e-4, 1e-3, 3e-2) {
        let l = loader("clip_vision", &["tiny/clip/model.safetensors"], &device, dtype, |n| {
            n.starts_with("vision_model.") || n.starts_with("visual_projection.")
        })
        .allow_unused("vision_model.embeddings.position_ids");
        let model = ClipVisionModel::load(&l.root(), &config);
        l.finish().unwrap();
        let out = model.forward(io.tensor("pixel_values", &device, dtype));
        assert_close(&format!("clip_vision image_embeds {name}"), &host(out), &io.f32("image_embeds"), tol);
    }
}

#[test]
fn preprocessing_matches_openai_clip_transform() {
    let io = Io::load("io/clip_vision.safetensors");
    for key in ["pre.a", "pre.b"] {
        let shape = io.shape(&format!("{key}.image"));
        let pixels: Vec<u8> = io.ints(&format!("{key}.image")).into_iter().map(|v| v as u8).collect();
        let img = Image8::new(shape[1], shape[0], 3, pixels).unwrap();
        let ours = clip_preprocess(&img, 224);
        let expected = io.f32(&format!("{key}.pixel_values"));
        let (diff, _) = max_diff(&ours, &expected);
        eprintln!("PARITY clip preprocess {key} ({}x{}): max abs {diff:.3e}", shape[1], shape[0]);
        assert!(diff < 1e-5, "{key}: preprocessing differs by {diff} (more than float rounding)");
    }
}
