//! `UNet2DConditionModel` with EZIGen's capture and adapter injection against diffusers 0.30.1
//! (plus the spec's adapter block) on the tiny fixture: reference-pass capture of the 16
//! `norm1` features, the stock main pass, the adapter pass, and a non-square latent.
//!
//! Tolerances (relative to the max |reference|): CPU f32 1e-4, wgpu f32 1e-3, wgpu f16 3e-2.

use burn::tensor::{DType, Device};
use ezigen::models::unet::{FeatureBank, RefMode, UNet2DConditionConfig, UNet2DConditionModel};
use ezigen::weights::is_adapter_key;
use ezigen_tests::{Io, assert_close, host, read, targets};

fn load(device: &Device, dtype: DType) -> UNet2DConditionModel {
    let config = UNet2DConditionConfig::from_json(std::str::from_utf8(&read("tiny/unet/config.json")).unwrap()).unwrap();
    let mut store = ezigen::weights::WeightStore::new(device, dtype).keep_f32(&["learnable_weights"]);
    let base = read("tiny/unet/diffusion_pytorch_model.safetensors");
    store.add_safetensors(&base, "unet", |n| Some(n.to_string())).unwrap();
    // Adapters from the full EZIGen checkpoint: only the adapter keys are taken.
    let ckpt = read("tiny/ezigen/checkpoint/model.safetensors");
    store.add_safetensors(&ckpt, "ezigen", |n| is_adapter_key(n).then(|| n.to_string())).unwrap();
    let loader = store.builder("unet");
    let model = UNet2DConditionModel::load(&loader.root(), &config, true);
    loader.finish().unwrap();
    model
}

#[test]
fn reference_capture_plain_and_adapter_passes_match_diffusers() {
    let io = Io::load("io/unet.safetensors");
    for (name, device, dtype, tol) in targets(1e-4, 1e-3, 3e-2) {
        let unet = load(&device, dtype);
        assert_eq!(unet.num_transformer_blocks(), 16);

        // Reference pass (capture).
        let ctx = io.tensor::<3>("ref.encoder_hidden_states", &device, dtype);
        let t = io.f32("ref.timestep")[0];
        let mut bank = FeatureBank::default();
        let out = unet.forward(io.tensor("ref.sample", &device, dtype), t, &ctx, RefMode::Capture(&mut bank));
        assert_close(&format!("unet ref.out {name}"), &host(out), &io.f32("ref.out"), tol);
        assert_eq!(bank.features.len(), 16);
        for (k, f) in bank.features.iter().enumerate() {
            let key = format!("ref.capture.{k}");
            assert_eq!(f.dims().to_vec(), io.shape(&key), "{key} shape");
            assert_close(&format!("unet {key} {name}"), &host(f.clone()), &io.f32(&key), tol);
        }

        // Main pass, stock and with adapters.
        let ctx = io.tensor::<3>("main.encoder_hidden_states", &device, dtype);
        let t = io.f32("main.timestep")[0];
        let plain = unet.forward(io.tensor("main.sample", &device, dtype), t, &ctx, RefMode::Off);
        assert_close(&format!("unet main.out_plain {name}"), &host(plain), &io.f32("main.out_plain"), tol);
        let subject = unet.subject_features(&bank, 2);
        let adapted = unet.forward(io.tensor("main.sample", &device, dtype), t, &ctx, RefMode::Inject(&subject));
        let expected = io.f32("main.out_adapter");
        assert_close(&format!("unet main.out_adapter {name}"), &host(adapted.clone()), &expected, tol);
        // The adapter must change the result (guards against a silently inactive adapter).
        let (d, _) = ezigen_tests::max_diff(&io.f32("main.out_plain"), &expected);
        assert!(d > 1e-3, "fixture adapter effect is negligible");

        // Non-square latent with the same (square) subject features.
        let ns = unet.forward(io.tensor("ns.sample", &device, dtype), t, &ctx, RefMode::Inject(&subject));
        assert_eq!(ns.dims().to_vec(), io.shape("ns.out_adapter"));
        assert_close(&format!("unet ns.out_adapter {name}"), &host(ns), &io.f32("ns.out_adapter"), tol);
    }
}

#[test]
fn timestep_embedding_matches_diffusers() {
    let io = Io::load("io/unet.safetensors");
    let ts = io.f32("temb.t");
    let dim = io.shape("temb.out")[1];
    let ours = ezigen::models::unet::embeddings::timestep_embedding_values(&ts, dim, true, 0.0);
    assert_close("timestep embedding", &ours, &io.f32("temb.out"), 1e-5);
}
