//! The smoke computation on the wgpu backend (f32 and f16), which runs through our WGSL norm
//! and flash-attention kernels there, agrees with the CPU reference (plain ops).

use burn::tensor::DType;
use ezigen::kernels::LaunchCounter;
use ezigen::smoke;
use ezigen_tests::{assert_close, cpu, wgpu, wgpu_has_f16};

#[test]
fn wgpu_f32_matches_cpu() {
    let expected = pollster::block_on(smoke::run(&cpu(), DType::F32)).unwrap();
    let counter = LaunchCounter::start();
    let actual = pollster::block_on(smoke::run(&wgpu(), DType::F32)).unwrap();
    assert!(counter.matching("FlashAttention") >= 1 && counter.matching("Norm") >= 1, "the WGSL kernels ran");
    drop(counter);
    assert_eq!(actual.shape, vec![1, 256, 16]);
    assert_close("smoke wgpu f32", &actual.values, &expected.values, 1e-4);
}

#[test]
fn wgpu_f16_matches_cpu() {
    if !wgpu_has_f16() {
        return;
    }
    let expected = pollster::block_on(smoke::run(&cpu(), DType::F32)).unwrap();
    let actual = pollster::block_on(smoke::run(&wgpu(), DType::F16)).unwrap();
    assert_close("smoke wgpu f16", &actual.values, &expected.values, 2e-2);
}

#[test]
fn cpu_result_is_not_degenerate() {
    let out = pollster::block_on(smoke::run(&cpu(), DType::F32)).unwrap();
    let spread = out.values.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(spread > 1e-2, "outputs collapsed to ~0 ({spread})");
    assert!(out.values.windows(2).any(|w| w[0] != w[1]));
}
