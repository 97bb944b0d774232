//! DDPM (leading spacing, fixed_small) and DPM-Solver++(2M) inverse against diffusers 0.30.1:
//! timesteps exactly, ᾱ within f32 rounding of diffusers' float32 values, and full
//! trajectories driven by recorded model outputs and noise.
//!
//! Tolerances: ᾱ 2e-6 relative; trajectories 1e-5 relative (to max(1, max |x|)) on CPU f32 and
//! wgpu f32 (diffusers computes its scalars in float32, we compute them in f64).

use burn::tensor::{DType, Tensor};
use ezigen::schedulers::{DdpmScheduler, DpmSolverInverse, SchedulerConfig};
use burn::tensor::Device;
use ezigen_tests::{Io, assert_close, cpu, host, max_diff, wgpu};

fn config() -> SchedulerConfig {
    let json = std::fs::read_to_string(ezigen_tests::fixture("tiny/scheduler/scheduler_config.json")).unwrap();
    SchedulerConfig::from_json(&json).unwrap()
}

#[test]
fn ddpm_constants_and_timesteps() {
    let io = Io::load("io/schedulers.safetensors");
    let s = DdpmScheduler::new(&config(), 50);
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

/// Trajectory tolerance: max |diff| ≤ 1e-5 · max(1, max |x|).
const TRAJ_TOL: f32 = 1e-5;

fn ddpm_trajectory(prefix: &str, start: usize, device: &Device, label: &str) {
    let io = Io::load("io/schedulers.safetensors");
    let s = DdpmScheduler::new(&config(), 50);
    let mut x: Tensor<4> = io.tensor(&format!("{prefix}.x_init"), device, DType::F32);
    let mut worst = 0f32;
    for (i, &t) in s.timesteps()[start..].iter().enumerate() {
        let eps = io.tensor(&format!("{prefix}.model_out.{i}"), device, DType::F32);
        let z = io.tensor(&format!("{prefix}.noise.{i}"), device, DType::F32);
        x = s.step(eps, t, x, Some(z));
        let expected = io.f32(&format!("{prefix}.x.{i}"));
        let (d, m) = max_diff(&host(x.clone()), &expected);
        worst = worst.max(d / m.max(1.0));
        assert!(d <= TRAJ_TOL * m.max(1.0), "{prefix} {label} step {i} (t={t}): {d} of {m}");
    }
    eprintln!("PARITY {prefix} trajectory {label}: {} steps, worst rel {worst:.3e} (tol {TRAJ_TOL:.0e})", s.timesteps().len() - start);
}

#[test]
fn ddpm_full_trajectory_matches() {
    ddpm_trajectory("ddpm", 0, &cpu(), "cpu f32");
    ddpm_trajectory("ddpm", 0, &wgpu(), "wgpu f32");
}

#[test]
fn ddpm_truncated_trajectory_matches() {
    ddpm_trajectory("ddpm20", 30, &cpu(), "cpu f32");
    ddpm_trajectory("ddpm20", 30, &wgpu(), "wgpu f32");
}

#[test]
fn ddpm_add_noise_matches() {
    let io = Io::load("io/schedulers.safetensors");
    let device = cpu();
    let s = DdpmScheduler::new(&config(), 50);
    for t in [1usize, 400] {
        let x0 = io.tensor("add_noise.x0", &device, DType::F32);
        let eps = io.tensor("add_noise.eps", &device, DType::F32);
        assert_close(&format!("add_noise t={t}"), &host(s.add_noise(x0, eps, t)), &io.f32(&format!("add_noise.t{t}")), 1e-6);
    }
}

#[test]
fn dpm_inverse_timesteps_sigmas_and_trajectory_match() {
    let io = Io::load("io/schedulers.safetensors");
    let s = DpmSolverInverse::new(&config(), 50);
    let ts: Vec<i64> = s.timesteps().iter().map(|&t| t as i64).collect();
    assert_eq!(ts, io.ints("dpminv.timesteps"));
    assert_eq!(s.timesteps()[20], 400);
    let sig: Vec<f32> = s.sigmas().iter().map(|&v| v as f32).collect();
    assert_close("dpminv sigmas", &sig, &io.f32("dpminv.sigmas"), 2e-6);
    for (device, label) in [(cpu(), "cpu f32"), (wgpu(), "wgpu f32")] {
        let mut s = DpmSolverInverse::new(&config(), 50);
        let mut x: Tensor<4> = io.tensor("dpminv.x_init", &device, DType::F32);
        let mut worst = 0f32;
        for i in 0..20 {
            let eps = io.tensor(&format!("dpminv.model_out.{i}"), &device, DType::F32);
            x = s.step(eps, x);
            let expected = io.f32(&format!("dpminv.x.{i}"));
            let (d, m) = max_diff(&host(x.clone()), &expected);
            worst = worst.max(d / m.max(1.0));
            assert!(d <= TRAJ_TOL * m.max(1.0), "dpminv {label} step {i}: {d} of {m}");
        }
        eprintln!("PARITY dpminv trajectory {label}: 20 steps, worst rel {worst:.3e} (tol {TRAJ_TOL:.0e})");
    }
}
