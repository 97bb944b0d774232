//! Every model component and scheduler on wgpu (lavapipe on CI) against the same fixtures as
//! the CPU files, in f32 and — where the adapter has `shader-f16` — f16. Element-wise
//! tolerances (`assert_close`), at about 3× the worst of the float paths of
//! `docs/float-paths.md` or more: f32 1e-4 as on the CPU (worst 2.5e-5, the VAE's images),
//! scheduler trajectories 3e-5 (worst 4.9e-6, the inversion). f16 (f16 storage of weights and
//! activations; norms, softmax and GEMM sums in f32): 3e-2 for the text encoder and CLIP vision
//! (worst 8.1e-3), 5e-2 for the UNet (worst 1.5e-2, a captured feature) and 1e-1 for the VAE
//! (worst 2.5e-2, its images). An f16 convolution runs on the WGSL GEMM even untuned: burn's
//! direct convolution sums in f16, which left the VAE's f16 images 0.18 off element-wise and
//! the UNet's captured features 3.2e-2 (docs/elementwise-parity.md).

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
    f32_and_f16(parity::text_encoder, 3e-2);
}

#[test]
fn exception_conditioning_matches_ezigen() {
    f32_and_f16(parity::exclip, 2e-2);
}

#[test]
fn unet_capture_plain_and_adapter_passes_match_diffusers() {
    f32_and_f16(parity::unet, 5e-2);
}

#[test]
fn vae_matches_diffusers() {
    f32_and_f16(parity::vae, 1e-1);
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
        // Every Linear layer on the family too: 9.4e-3 worst for the UNet, 2.4e-2 for the VAE.
        parity::unet_with("wgpu f16 wgsl-gemm", &wgpu(), DType::F16, 4e-2, Kernels::WgslGemm);
        parity::vae_with("wgpu f16 wgsl-gemm", &wgpu(), DType::F16, 1e-1, Kernels::WgslGemm);
    }
}
