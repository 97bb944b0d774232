//! `AutoencoderKL` encoder (posterior mean, log-variance, sample from supplied noise) and
//! decoder (square and non-square latents) against diffusers 0.30.1 on the tiny fixture,
//! whose weights are stored as bf16 (exercising bf16 loading).
//!
//! Tolerances (relative to the max |reference|): CPU f32 1e-4, wgpu f32 1e-3, wgpu f16 3e-2.

use ezigen::models::vae::{AutoencoderKLConfig, VaeDecoder, VaeEncoder};
use ezigen_tests::{Io, assert_close, host, loader, read, targets};

#[test]
fn encoder_and_decoder_match_diffusers() {
    let io = Io::load("io/vae.safetensors");
    let config = AutoencoderKLConfig::from_json(std::str::from_utf8(&read("tiny/vae/config.json")).unwrap()).unwrap();
    for (name, device, dtype, tol) in targets(1e-4, 1e-3, 3e-2) {
        let l = loader("vae", &["tiny/vae/diffusion_pytorch_model.safetensors"], &device, dtype, |_| true);
        let encoder = VaeEncoder::load(&l.root(), &config);
        let decoder = VaeDecoder::load(&l.root(), &config);
        l.finish().unwrap();

        let post = encoder.forward(io.tensor("image", &device, dtype));
        assert_close(&format!("vae enc.mean {name}"), &host(post.mean.clone()), &io.f32("enc.mean"), tol);
        assert_close(&format!("vae enc.logvar {name}"), &host(post.logvar.clone()), &io.f32("enc.logvar"), tol);
        let sample = post.sample(io.tensor("enc.noise", &device, dtype));
        assert_close(&format!("vae enc.sample {name}"), &host(sample), &io.f32("enc.sample"), tol);

        for key in ["dec", "dec_ns"] {
            let img = decoder.forward(io.tensor(&format!("{key}.latent"), &device, dtype));
            assert_eq!(img.dims().to_vec(), io.shape(&format!("{key}.image")));
            assert_close(&format!("vae {key}.image {name}"), &host(img), &io.f32(&format!("{key}.image")), tol);
        }
    }
}
