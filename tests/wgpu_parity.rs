//! Every model component and scheduler on wgpu (lavapipe on CI) against the same fixtures as
//! the CPU files, in f32 and — where the adapter has `shader-f16` — f16. Tolerances (relative
//! to the max |reference|, from `docs/float-paths.md`): f32 1e-4 as on the CPU (worst measured
//! 3.0e-6 over lavapipe with and without FMA; it was 1e-3, set from one run), scheduler
//! trajectories 1e-5, f16 2e-2 for the text encoder and 3e-2 for the rest (f16 storage of
//! weights and activations through 16 transformer blocks, norms and softmax in f32; worst 1.3e-2).

use burn::tensor::DType;
use ezigen_tests::{parity, wgpu, wgpu_has_f16};

/// Runs `check` in f32 and, where the adapter has it, in f16.
fn f32_and_f16(check: fn(&str, &burn::tensor::Device, DType, f32), f16_tol: f32) {
    check("wgpu f32", &wgpu(), DType::F32, 1e-4);
    if wgpu_has_f16() {
        check("wgpu f16", &wgpu(), DType::F16, f16_tol);
    }
}

#[test]
fn text_encoder_matches_transformers() {
    f32_and_f16(parity::text_encoder, 2e-2);
}

#[test]
fn exception_conditioning_matches_ezigen() {
    f32_and_f16(parity::exclip, 2e-2);
}

#[test]
fn unet_capture_plain_and_adapter_passes_match_diffusers() {
    f32_and_f16(parity::unet, 3e-2);
}

#[test]
fn vae_matches_diffusers() {
    f32_and_f16(parity::vae, 3e-2);
}

#[test]
fn clip_vision_matches_transformers() {
    f32_and_f16(parity::clip_vision, 3e-2);
}

#[test]
fn ddpm_trajectories_match() {
    parity::ddpm_trajectory("ddpm", 0, &wgpu(), "wgpu f32");
    parity::ddpm_trajectory("ddpm20", 30, &wgpu(), "wgpu f32");
}

#[test]
fn dpm_inverse_trajectory_matches() {
    parity::dpm_inverse_trajectory(&wgpu(), "wgpu f32");
}

#[test]
fn ddim_and_dpmpp_trajectories_match() {
    parity::sampler_trajectories(&wgpu(), "wgpu f32");
}

/// Every GEMM choice the tuner may make passes the UNet parity checks (f32): each tile of the
/// family and a K split (burn's kernels are the default of the tests above); the VAE (the same convolution code on other channel counts)
/// with the largest tile and the split; f16 with the family's heuristic tiles.
#[test]
fn unet_and_vae_match_with_every_gemm_choice() {
    use ezigen::kernels::Kernels;
    use ezigen::kernels::gemm::{GemmImpl, TILES};
    let split = GemmImpl::Tiled { tile: TILES[1], split: 4 };
    let choices = TILES.into_iter().map(|tile| GemmImpl::Tiled { tile, split: 1 }).chain([split]);
    for imp in choices {
        parity::unet_with(&format!("wgpu f32 gemm {}", imp.name()), &wgpu(), DType::F32, 1e-4, Kernels::Forced(imp));
    }
    for imp in [GemmImpl::Tiled { tile: TILES[0], split: 1 }, split] {
        parity::vae_with(&format!("wgpu f32 gemm {}", imp.name()), &wgpu(), DType::F32, 1e-4, Kernels::Forced(imp));
    }
    if wgpu_has_f16() {
        parity::unet_with("wgpu f16 wgsl-gemm", &wgpu(), DType::F16, 3e-2, Kernels::WgslGemm);
        parity::vae_with("wgpu f16 wgsl-gemm", &wgpu(), DType::F16, 3e-2, Kernels::WgslGemm);
    }
}
