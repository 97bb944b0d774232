//! `AutoencoderKL` encoder (posterior mean, log-variance, sample from supplied noise) and
//! decoder (square and non-square latents) against diffusers 0.30.1 on the tiny fixture, whose
//! weights are stored as bf16, on the CPU backend (wgpu: `wgpu_parity.rs`). Tolerance 3e-4
//! element-wise (7.8e-5 worst, the scalar build's decoder on the non-square latent).

use burn::tensor::DType;
use ezigen_tests::{cpu, parity};

#[test]
fn encoder_and_decoder_match_diffusers() {
    parity::vae("cpu f32", &cpu(), DType::F32, 3e-4);
}

/// The VAE on channel blocks (`forward_limited`, the f32 path of a device with WebGPU's default
/// 128 MiB bindings at 512 px) equals the unsplit VAE: a 128 KiB limit on the tiny model splits
/// every full-resolution map (8 channels × 128² × 4 B = 512 KiB) into 4 blocks of whole groups.
/// CPU and wgpu, f32; tolerance 5e-5 element-wise (the partial convolutions sum in another
/// order: 1.3e-5 worst over the float paths).
#[test]
fn blocked_vae_equals_the_unsplit_vae() {
    use ezigen::models::vae::{AutoencoderKLConfig, VaeDecoder, VaeEncoder};
    use ezigen_tests::{Io, assert_close, host, loader, read, wgpu};
    let limit = Some(128 << 10);
    assert_eq!(ezigen::nn::channel_blocks([1, 8, 128, 128], 4, 2, limit), 4);
    assert_eq!(ezigen::nn::channel_blocks([1, 8, 129, 129], 4, 1, limit), 8, "the padded map needs more blocks");
    assert_eq!(ezigen::nn::channel_blocks([1, 8, 128, 128], 4, 2, None), 1);
    let io = Io::load("io/vae.safetensors");
    for (name, device) in [("cpu", cpu()), ("wgpu", wgpu())] {
        let config = AutoencoderKLConfig::from_json(std::str::from_utf8(&read("tiny/vae/config.json")).unwrap()).unwrap();
        let l = loader("vae", &["tiny/vae/diffusion_pytorch_model.safetensors"], &device, DType::F32, |_| true);
        let encoder = VaeEncoder::load(&l.root().into(), &config);
        let decoder = VaeDecoder::load(&l.root().into(), &config);
        l.finish().unwrap();
        let image = io.tensor::<4>("image", &device, DType::F32);
        let whole = encoder.forward(image.clone());
        let blocked = encoder.forward_limited(image, limit);
        assert_close(&format!("blocked vae enc.mean {name}"), &host(blocked.mean), &host(whole.mean), 5e-5);
        assert_close(&format!("blocked vae enc.logvar {name}"), &host(blocked.logvar), &host(whole.logvar), 5e-5);
        for key in ["dec", "dec_ns"] {
            let latent = io.tensor::<4>(&format!("{key}.latent"), &device, DType::F32);
            let whole = decoder.forward(latent.clone());
            let blocked = decoder.forward_limited(latent, limit);
            assert_close(&format!("blocked vae {key}.image {name}"), &host(blocked), &host(whole), 5e-5);
        }
    }
}
