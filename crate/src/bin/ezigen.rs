//! The native `ezigen` command line: device information and a smoke computation now; generate,
//! edit, convert and bench as the library grows.

use std::process::ExitCode;

use burn::tensor::{DType, Device};
use clap::{Parser, Subcommand, ValueEnum};
use ezigen::{device, smoke};

/// EZIGen (subject-driven generation and editing on SD 2.1-base) natively.
#[derive(Parser)]
#[command(name = "ezigen", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which burn backend runs the work.
#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    /// wgpu (Vulkan/Metal/DX12; lavapipe on a machine without GPU).
    Wgpu,
    /// The pure-Rust CPU reference backend.
    Cpu,
}

/// The float dtype of weights and activations.
#[derive(Clone, Copy, ValueEnum)]
enum Dtype {
    F32,
    F16,
}

#[derive(Subcommand)]
enum Command {
    /// Print the wgpu adapter report (name, f16 support, limits) as JSON.
    Info,
    /// Run the small conv + GroupNorm + attention computation and print it as JSON.
    Smoke {
        #[arg(long, value_enum, default_value = "wgpu")]
        backend: Backend,
        #[arg(long, value_enum, default_value = "f32")]
        dtype: Dtype,
    },
}

fn pick_device(backend: Backend) -> ezigen::Result<Device> {
    match backend {
        Backend::Cpu => Ok(device::cpu()),
        Backend::Wgpu => device::init_wgpu().map(|(device, report)| {
            eprintln!("wgpu adapter: {} ({}, {})", report.name, report.backend, report.device_type);
            device
        }),
    }
}

fn run(cli: Cli) -> ezigen::Result<()> {
    match cli.command {
        Command::Info => {
            let (_, report) = device::init_wgpu()?;
            println!("{}", serde_json::to_string_pretty(&report).expect("report serialises"));
        }
        Command::Smoke { backend, dtype } => {
            let device = pick_device(backend)?;
            let dtype = match dtype {
                Dtype::F32 => DType::F32,
                Dtype::F16 => DType::F16,
            };
            let out = pollster::block_on(smoke::run(&device, dtype))?;
            println!("{}", serde_json::to_string(&out).expect("output serialises"));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
