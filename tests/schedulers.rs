//! DDPM (leading spacing, fixed_small) and DPM-Solver++(2M) inverse against diffusers 0.30.1:
//! timesteps exactly, ᾱ within f32 rounding of diffusers' float32 values, and full
//! trajectories driven by recorded model outputs and noise.
//!
//! Tolerances: ᾱ 2e-6 relative (each value); σ and add_noise 2e-6 and trajectories 3e-5
//! element-wise on CPU f32 (wgpu: `wgpu_parity.rs`; diffusers computes its scalars in float32,
//! we compute them in f64).

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
        assert_close(&format!("add_noise t={t}"), &host(s.add_noise(x0, eps, t)), &io.f32(&format!("add_noise.t{t}")), 2e-6);
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

/// Every spacing ("leading", "linspace", "trailing") of DDIM and DPM-Solver++ for 1 to 50
/// steps gives diffusers' timesteps exactly; the DDIM constants and DPM-Solver++'s σ match.
#[test]
fn ddim_and_dpmpp_timesteps_and_constants_match() {
    use ezigen::schedulers::{DdimScheduler, DpmSolverMultistep, TimestepSpacing};
    let io = Io::load("io/samplers.safetensors");
    let base = parity::scheduler_config();
    assert_eq!(base.timestep_spacing, None, "SD 2.1-base's file has no timestep_spacing");
    assert!(!base.clip_sample && !base.set_alpha_to_one);
    for (name, spacing) in [("leading", TimestepSpacing::Leading), ("linspace", TimestepSpacing::Linspace), ("trailing", TimestepSpacing::Trailing)] {
        let config = ezigen::schedulers::SchedulerConfig { timestep_spacing: Some(spacing), ..base.clone() };
        for n in [1usize, 7, 10, 15, 20, 25, 50] {
            let want = |s: &str| -> Vec<usize> { io.ints(&format!("{s}.timesteps.{name}.{n}")).iter().map(|&t| t as usize).collect() };
            assert_eq!(DdimScheduler::new(&config, n).timesteps(), want("ddim").as_slice(), "ddim {name} {n}");
            assert_eq!(DpmSolverMultistep::new(&config, n).timesteps(), want("dpmpp").as_slice(), "dpmpp {name} {n}");
        }
    }
    // Without the key each class takes its own default: DDIM "leading", DPM-Solver++ "linspace".
    assert_eq!(DdimScheduler::new(&base, 25).timesteps()[0], 961);
    assert_eq!(DpmSolverMultistep::new(&base, 25).timesteps()[0], 999);
    // The loops start at t = 400 whenever 5 divides N (the re-noise timestep).
    for n in [10usize, 15, 25, 50] {
        let s = DpmSolverMultistep::new(&base, n);
        assert_eq!(s.timesteps()[(n as f64 - 0.4 * n as f64) as usize], 400, "dpmpp {n}");
    }
    let ac: Vec<f32> = DdimScheduler::new(&base, 25).alphas_cumprod().iter().map(|&v| v as f32).collect();
    for (i, (a, e)) in ac.iter().zip(io.f32("ddim.alphas_cumprod")).enumerate() {
        assert!(((a - e) / e).abs() < 2e-6, "alphas_cumprod[{i}]: {a} vs {e}");
    }
    assert!((io.f32("ddim.final_alpha_cumprod")[0] - ac[0]).abs() < 1e-7, "set_alpha_to_one false: ᾱ₀");
    for n in [1usize, 7, 10, 15, 20, 25, 50] {
        let sig: Vec<f32> = DpmSolverMultistep::new(&base, n).sigmas().iter().map(|&v| v as f32).collect();
        assert_close(&format!("dpmpp sigmas {n}"), &sig, &io.f32(&format!("dpmpp.sigmas.{n}")), 2e-6);
    }
}

#[test]
fn ddim_and_dpmpp_trajectories_match() {
    parity::sampler_trajectories(&cpu(), "cpu f32");
}
