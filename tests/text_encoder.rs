//! `CLIPTextModel` (and EZIGen's exception conditioning) against transformers on the tiny
//! fixture, on the CPU backend and on wgpu in f32 and f16. Weights are stored as f16 in the
//! fixture, so this also exercises f16 loading.
//!
//! Tolerances (relative to the max |reference|): CPU f32 1e-4, wgpu f32 1e-3, wgpu f16 2e-2.

use ezigen::models::clip::{ClipConfig, ClipTextModel};
use ezigen_tests::{Io, assert_close, host, loader, read, targets};

fn load(device: &burn::tensor::Device, dtype: burn::tensor::DType) -> ClipTextModel {
    let config = ClipConfig::from_json(std::str::from_utf8(&read("tiny/text_encoder/config.json")).unwrap(), "text_config").unwrap();
    let loader = loader("text_encoder", &["tiny/text_encoder/model.safetensors"], device, dtype, |_| true)
        .allow_unused("text_model.embeddings.position_ids");
    let model = ClipTextModel::load(&loader.root(), &config);
    loader.finish().unwrap();
    model
}

#[test]
fn last_hidden_state_matches_transformers() {
    let io = Io::load("io/text_encoder.safetensors");
    let expected = io.f32("last_hidden_state");
    for (name, device, dtype, tol) in targets(1e-4, 1e-3, 2e-2) {
        let model = load(&device, dtype);
        let out = model.forward(io.int_tensor::<2>("input_ids", &device));
        assert_eq!(out.dims().to_vec(), io.shape("last_hidden_state"));
        assert_close(&format!("text_encoder {name}"), &host(out), &expected, tol);
    }
}

#[test]
fn exception_conditioning_matches_ezigen() {
    let io = Io::load("io/text_encoder.safetensors");
    let expected = io.f32("exclip.last_hidden_state");
    for (name, device, dtype, tol) in targets(1e-4, 1e-3, 2e-2) {
        let model = load(&device, dtype);
        let out = model.forward_exception(7788, 77);
        assert_close(&format!("exclip {name}"), &host(out), &expected, tol);
    }
}
