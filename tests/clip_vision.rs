//! CLIP ViT (`CLIPVisionModelWithProjection`, QuickGELU) against transformers, and OpenAI
//! CLIP's preprocessing (Pillow bicubic short side 224, centre crop, normalise) against the
//! reference transform, on the tiny fixture, on the CPU backend (wgpu: `wgpu_parity.rs`).
//!
//! Tolerances: model 1e-4 element-wise; preprocessing
//! exact to float rounding (1e-6 absolute on normalised values ≈ 1/255 · 1e-4).

use ezigen::imageops::{Image8, clip_preprocess};
use burn::tensor::DType;
use ezigen_tests::{Io, cpu, max_diff, parity};

#[test]
fn image_embeds_match_transformers() {
    parity::clip_vision("cpu f32", &cpu(), DType::F32, 1e-4);
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
