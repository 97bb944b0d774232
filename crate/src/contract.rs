//! The rules the core and the page both apply, defined once: limits, the image and mask rules,
//! the WebGPU limits of the full model (the failure kinds live in [`crate::error`]). A
//! foundation module: it imports nothing above `error`, and everything that obeys a rule imports
//! it from here. [`crate::schema`] (at the top, beside the CLI) writes these rules and the
//! boundary types as TypeScript for the page.

use serde::Serialize;
use ts_rs::TS;

use crate::Error;
pub use crate::error::FailureKind;

/// The largest image side accepted anywhere (page upload, core decode, RGBA from the page):
/// 8192² RGBA is 256 MiB; larger photos are refused with their size in the message.
pub const MAX_IMAGE_SIDE: usize = 8192;

/// The most elongated photo accepted as an edit source or a subject (long side : short side).
/// An edit source is resized to short side 512 with its aspect kept, so 4:1 gives a 2048×512
/// image (a 256×64 latent, four times the model's own size); beyond that the run's memory and time
/// grow past what a browser GPU can hold, and a subject is squashed to a square anyway. Wider
/// photos are refused with a message to crop them.
pub const MAX_ASPECT_RATIO: f64 = 4.0;

/// The mask rule, the same for the page and the core: a mask byte at or above this value is
/// foreground (where the subject goes, or the part of the subject photo to keep). Masks the page
/// sends are 0 / 255. The edit then follows the official preprocessing of such a binary mask
/// (resize, foreground = exactly 255), see `pipeline::edit`.
pub const MASK_FOREGROUND_MIN: u8 = 128;

/// The most photos of one subject a run takes (EZIGen was trained with up to 4, spec §6.2).
pub const MAX_SUBJECTS: usize = 4;

/// WebGPU limits the full-size (SD 2.1-base) model needs; the page refuses to download it on an
/// adapter with smaller ones.
pub const FULL_MODEL_LIMITS: GpuLimits = GpuLimits { max_buffer_size: 256 << 20, max_storage_buffer_binding_size: 128 << 20 };

/// A pair of WebGPU limits in bytes.
#[derive(Clone, Copy, Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct GpuLimits {
    /// `maxBufferSize`.
    pub max_buffer_size: u32,
    /// `maxStorageBufferBindingSize`.
    pub max_storage_buffer_binding_size: u32,
}

/// An inclusive range a numeric option must lie in.
#[derive(Clone, Copy, Debug, Serialize, TS)]
pub struct Range {
    /// Smallest allowed value.
    pub min: f64,
    /// Largest allowed value.
    pub max: f64,
}

impl Range {
    /// Whether `v` lies in the range (NaN never does).
    pub fn contains(&self, v: f64) -> bool {
        v >= self.min && v <= self.max
    }

    /// `Ok` when `v` lies in the range, else an input error naming the option.
    pub fn check(&self, name: &str, v: f64) -> crate::Result<()> {
        if self.contains(v) {
            Ok(())
        } else {
            Err(Error::Input(format!("{name} must be between {} and {} (got {v})", self.min, self.max)))
        }
    }
}

/// Allowed ranges of the sampling options (`pipeline::SamplingOptions`), checked by the core and
/// by the page's form.
#[derive(Clone, Copy, Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Seed of every random draw.
    pub seed: Range,
    /// DDPM steps.
    pub steps: Range,
    /// Guidance of the initial generation.
    pub guidance: Range,
    /// Guidance of the edit and refinement loops.
    pub edit_guidance: Range,
    /// Share of the steps used for appearance transfer.
    pub split_ratio: Range,
    /// Auto-stop similarity threshold.
    pub sim_threshold: Range,
    /// Fixed refinement iterations.
    pub iterations: Range,
}

/// The ranges of every sampling option.
pub const LIMITS: Limits = Limits {
    seed: Range { min: 0.0, max: 4_294_967_295.0 },
    steps: Range { min: 1.0, max: 1000.0 },
    guidance: Range { min: 0.0, max: 30.0 },
    edit_guidance: Range { min: 0.0, max: 30.0 },
    split_ratio: Range { min: 0.01, max: 1.0 },
    sim_threshold: Range { min: 0.0, max: 1.0 },
    iterations: Range { min: 1.0, max: 50.0 },
};
