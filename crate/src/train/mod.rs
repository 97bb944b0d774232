//! Training EZIGen's adapters natively (spec §6, official `train.py`): the per-step computation
//! of §6.2 on the same model code as inference, gradients through burn's autodiff, and the
//! official optimiser (AdamW with gradient-norm clipping, constant learning rate, fp32).
//!
//! Only the trainable tensors (§6.1: the 16 adapters, their `adapter_norm`s and
//! `learnable_weights`) are autodiff leaves; every frozen model runs without autodiff, so no
//! gradient or graph is kept for it. Every layer runs on plain burn ops ([`Kernels::Reference`]):
//! the WGSL kernels have no backward pass.
//!
//! [`Kernels::Reference`]: crate::kernels::Kernels::Reference

pub mod adamw;
pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod load;
pub mod rng;
pub mod run;
pub mod validate;
pub mod step;

pub use adamw::{AdamW, AdamWConfig, clip_grad_norm};
pub use load::load_train_models;
pub use run::{RunSummary, StepLog, TrainOptions, TrainProgress, run};
pub use step::{StepDraws, TrainModels, TrainSample, Trainer, TrainerGrads};

/// The per-step constants of §6.2 (`configs/train_config.yaml`).
#[derive(Clone, Debug, PartialEq)]
pub struct StepConfig {
    /// Subject slots per sample (`num_sub_img`, 4); missing ones are mid-grey with all-"!" prompts.
    pub num_sub_img: usize,
    /// The subject latents' noise level (`subject_timestep`, 1).
    pub subject_timestep: usize,
    /// `drop_reference_ratio` (0.2): features are zeroed when `randint(1, 10) / 10` exceeds it,
    /// i.e. in ≈80 % of the steps, as the released model was trained (§6.2 step 4).
    pub drop_reference_ratio: f64,
    /// The other reading of the option (off by default): drop when `r / 10 ≤ ratio`, i.e. in
    /// ≈`ratio` of the steps.
    pub drop_as_named: bool,
}

impl Default for StepConfig {
    fn default() -> Self {
        Self { num_sub_img: 4, subject_timestep: 1, drop_reference_ratio: 0.2, drop_as_named: false }
    }
}

impl StepConfig {
    /// The official drop rule for a draw `r` of `randint(1, 10)`: drop when `r / 10 > ratio`
    /// (or the opposite with [`StepConfig::drop_as_named`]).
    pub fn drops(&self, r: u32) -> bool {
        let above = f64::from(r) / 10.0 > self.drop_reference_ratio;
        if self.drop_as_named { !above } else { above }
    }
}

/// The first value of a (one-element) tensor on the host; NaN when it cannot be read back.
pub fn host_scalar(t: burn::tensor::Tensor<1>) -> f32 {
    let data = t.cast(burn::tensor::DType::F32).into_data();
    data.try_to_vec::<f32>().ok().and_then(|v| v.first().copied()).unwrap_or(f32::NAN)
}
