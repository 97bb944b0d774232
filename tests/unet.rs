//! `UNet2DConditionModel` with EZIGen's capture and adapter injection against diffusers 0.30.1
//! (plus the spec's adapter block) on the tiny fixture: reference-pass capture of the 16
//! `norm1` features, the stock main pass, the adapter pass, and a non-square latent.
//!
//! On the CPU backend (wgpu: `wgpu_parity.rs`); tolerance 1e-4 element-wise.

use burn::tensor::DType;
use ezigen_tests::{Io, assert_close, cpu, parity};

#[test]
fn reference_capture_plain_and_adapter_passes_match_diffusers() {
    parity::unet("cpu f32", &cpu(), DType::F32, 1e-4);
}

#[test]
fn timestep_embedding_matches_diffusers() {
    let io = Io::load("io/unet.safetensors");
    let ts = io.f32("temb.t");
    let dim = io.shape("temb.out")[1];
    let ours = ezigen::models::unet::embeddings::timestep_embedding_values(&ts, dim, true, 0.0);
    assert_close("timestep embedding", &ours, &io.f32("temb.out"), 1e-5);
}
