//! `AutoencoderKL` encoder (posterior mean, log-variance, sample from supplied noise) and
//! decoder (square and non-square latents) against diffusers 0.30.1 on the tiny fixture, whose
//! weights are stored as bf16, on the CPU backend (wgpu: `wgpu_parity.rs`). Tolerance 1e-4.

use burn::tensor::DType;
use ezigen_tests::{cpu, parity};

#[test]
fn encoder_and_decoder_match_diffusers() {
    parity::vae("cpu f32", &cpu(), DType::F32, 1e-4);
}
