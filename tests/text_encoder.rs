//! `CLIPTextModel` (and EZIGen's exception conditioning) against transformers on the tiny
//! fixture, on the CPU backend (wgpu: `wgpu_parity.rs`). Weights are stored as f16 in the
//! fixture, so this also exercises f16 loading. Tolerance 1e-4 element-wise.

use burn::tensor::DType;
use ezigen_tests::{cpu, parity};

#[test]
fn last_hidden_state_matches_transformers() {
    parity::text_encoder("cpu f32", &cpu(), DType::F32, 1e-4);
}

#[test]
fn exception_conditioning_matches_ezigen() {
    parity::exclip("cpu f32", &cpu(), DType::F32, 1e-4);
}
