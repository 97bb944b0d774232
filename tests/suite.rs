//! The parity and integration suites of the ezigen crate as modules of one test binary (each
//! module is what used to be its own binary: run one with a filter, e.g.
//! `cargo test --release -p ezigen-tests --test suite pipeline::`). The wgpu suites `kernels`,
//! `wgpu_parity` and `wgpu_pipeline` are separate binaries.

#[path = "smoke.rs"]
mod smoke;
#[path = "text_encoder.rs"]
mod text_encoder;
#[path = "unet.rs"]
mod unet;
#[path = "vae.rs"]
mod vae;
#[path = "clip_vision.rs"]
mod clip_vision;
#[path = "schedulers.rs"]
mod schedulers;
#[path = "tokenizer.rs"]
mod tokenizer;
#[path = "weights.rs"]
mod weights;
#[path = "pipeline.rs"]
mod pipeline;
#[path = "convert.rs"]
mod convert;
#[path = "pipeline_rules.rs"]
mod pipeline_rules;
#[path = "limits.rs"]
mod limits;
#[path = "cli.rs"]
mod cli;
#[path = "noise.rs"]
mod noise;
#[path = "shaders.rs"]
mod shaders;
#[path = "contract.rs"]
mod contract;
#[path = "docs.rs"]
mod docs;
#[path = "layers.rs"]
mod layers;
#[path = "fuzz.rs"]
mod fuzz;
#[path = "subjects.rs"]
mod subjects;
#[path = "eval.rs"]
mod eval;
#[path = "dreambench.rs"]
mod dreambench;
#[path = "train.rs"]
mod train;
