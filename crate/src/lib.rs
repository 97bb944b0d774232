//! EZIGen in Rust: zero-shot subject-driven image generation and editing on Stable Diffusion
//! 2.1-base, running on WebGPU (browser) or natively (wgpu on Vulkan/Metal/DX12, or the CPU
//! reference backend).
//!
//! The same library code serves the browser (through [`web`], the only wasm-bindgen file) and
//! the native CLI (`src/bin/ezigen.rs`). Models are device-agnostic: burn 0.22 picks the backend
//! and dtype from the [`burn::tensor::Device`] at run time.

pub mod bench;
pub mod contract;
pub mod convert;
pub mod device;
pub mod error;
pub mod eval;
#[cfg(feature = "native")]
pub mod files;
#[cfg(feature = "native")]
pub mod heap;
pub mod imageops;
pub mod kernels;
pub mod loader;
pub mod models;
#[cfg(feature = "native")]
pub mod native;
pub mod nn;
pub mod ops;
pub mod pipeline;
pub mod presets;
pub mod rng;
pub mod schedulers;
pub mod schema;
pub mod session;
pub mod smoke;
pub mod tokenizer;
pub mod tuning;
#[cfg(feature = "native")]
pub mod train;
pub mod weights;

#[cfg(feature = "web")]
pub mod web;

pub use error::{Error, Result};
