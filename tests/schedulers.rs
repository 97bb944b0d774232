//! DDPM (leading spacing, fixed_small) and DPM-Solver++(2M) inverse against diffusers 0.30.1:
//! timesteps exactly, ᾱ within f32 rounding of diffusers' float32 values, and full
//! trajectories driven by recorded model outputs and noise.
//!
//! Tolerances: ᾱ 2e-6 relative; trajectories 1e-5 relative (to max(1, max |x|)) on CPU f32
//! (wgpu: `wgpu_parity.rs`; diffusers computes its scalars in float32, we compute them in f64).

use burn::tensor::DType;
use ezigen::schedulers::{DdpmScheduler, DpmSolverInverse};
use ezigen_tests::{Io, assert_close, cpu, host, parity};

#[test]
fn ddpm_constants_and_timesteps() {
    let io = Io::load("io/schedulers.safetensors");
    let s = DdpmScheduler::new(&parity::scheduler_config(), 50);
    let ts: Vec<i64> = s.timesteps().iter().map(|&t| t as i64).collect();
    assert_eq!(ts, io.ints("ddpm.timesteps"));
    assert_eq!(s.timesteps()[0], 981);
    assert_eq!(*s.timesteps().last().unwrap(), 1);
    let ac: Vec<f32> = s.alphas_cumprod().iter().map(|&v| v as f32).collect();
    let expected = io.f32("ddpm.alphas_cumprod");
    for (i, (a, e)) in ac.iter().zip(&expected).enumerate() {
        assert!(((a - e) / e).abs() < 2e-6, "alphas_cumprod[{i}]: {a} vs {e}");
    }
    // Spec table values (double precision).
    assert!((s.alpha_cumprod(1) - 0.998296).abs() < 1e-6);
    assert!((s.alpha_cumprod(400) - 0.42448).abs() < 1e-5);
}

#[test]
fn ddpm_full_trajectory_matches() {
    parity::ddpm_trajectory("ddpm", 0, &cpu(), "cpu f32");
}

#[test]
fn ddpm_truncated_trajectory_matches() {
    parity::ddpm_trajectory("ddpm20", 30, &cpu(), "cpu f32");
}

#[test]
fn ddpm_add_noise_matches() {
    let io = Io::load("io/schedulers.safetensors");
    let device = cpu();
    let s = DdpmScheduler::new(&parity::scheduler_config(), 50);
    for t in [1usize, 400] {
        let x0 = io.tensor("add_noise.x0", &device, DType::F32);
        let eps = io.tensor("add_noise.eps", &device, DType::F32);
        assert_close(&format!("add_noise t={t}"), &host(s.add_noise(x0, eps, t)), &io.f32(&format!("add_noise.t{t}")), 1e-6);
    }
}

#[test]
fn dpm_inverse_timesteps_sigmas_and_trajectory_match() {
    let io = Io::load("io/schedulers.safetensors");
    let s = DpmSolverInverse::new(&parity::scheduler_config(), 50);
    let ts: Vec<i64> = s.timesteps().iter().map(|&t| t as i64).collect();
    assert_eq!(ts, io.ints("dpminv.timesteps"));
    assert_eq!(s.timesteps()[20], 400);
    let sig: Vec<f32> = s.sigmas().iter().map(|&v| v as f32).collect();
    assert_close("dpminv sigmas", &sig, &io.f32("dpminv.sigmas"), 2e-6);
    parity::dpm_inverse_trajectory(&cpu(), "cpu f32");
}
