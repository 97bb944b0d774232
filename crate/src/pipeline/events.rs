//! What a run reports while it goes: its stages, the events a [`ProgressSink`] receives
//! (progress with the whole run's estimate, live step previews, iteration images, recorded
//! latents) and the sinks every caller shares.

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::RgbaImage;

/// Pipeline stages, as reported to the progress sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Tokenizing and encoding the prompts.
    EncodeText,
    /// Encoding the subject and the reference-UNet pass (one step per subject photo).
    Reference,
    /// The subject's features were computed by an earlier run and are reused (no reference
    /// pass).
    SubjectReused,
    /// The initial (layout + first transfer) run.
    Layout,
    /// An iterative appearance-transfer pass.
    Transfer,
    /// DPM-Solver++ inversion (editing).
    Inversion,
    /// VAE decoding.
    Decode,
}

/// What the pipeline reports while running. Progress and images reach the page as objects
/// tagged by `type` (`Latent` stays on the Rust side).
#[derive(Clone, Debug, Serialize, TS)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[ts(rename = "CoreEvent")]
pub enum Event<'a> {
    /// A step of a stage finished.
    Progress {
        /// Stage.
        stage: Stage,
        /// Steps done in this stage (1-based).
        step: usize,
        /// Steps of this stage.
        total: usize,
        /// Iteration (0 = initial image / first edit round's inputs).
        iteration: usize,
        /// Similarity of the last finished iteration to its predecessor.
        similarity: Option<f64>,
        /// Seconds the whole run still needs, fewest and most (a range while auto-stop decides
        /// the iteration count); absent until a UNet pass has been timed or without a clock.
        #[serde(rename = "secondsLeft")]
        #[ts(rename = "secondsLeft")]
        seconds_left: Option<[f64; 2]>,
        /// UNet passes the whole run still makes, fewest and most.
        #[serde(rename = "passesLeft")]
        #[ts(rename = "passesLeft")]
        passes_left: [usize; 2],
        /// `seconds_left` in words ([`super::estimate::describe`]: "about 40–70 s left").
        #[serde(rename = "timeLeft")]
        #[ts(rename = "timeLeft")]
        time_left: String,
    },
    /// The clean image a UNet step predicts (x̂₀ through [`super::preview::latent_to_rgba`]: one pixel
    /// per latent cell), after every UNet step, to sinks that
    /// [want previews](ProgressSink::wants_previews).
    StepPreview {
        /// Stage of the step.
        stage: Stage,
        /// Step of the stage (1-based).
        step: usize,
        /// Steps of the stage.
        total: usize,
        /// Iteration.
        iteration: usize,
        /// The preview (latent size: 64 × 64 for SD 2.1-base's square image).
        image: &'a RgbaImage,
    },
    /// An iteration's image (a preview; `last` for the result).
    Image {
        /// Iteration (0 = the initial image).
        iteration: usize,
        /// Similarity to the previous image (None for iteration 0).
        similarity: Option<f64>,
        /// The image.
        image: &'a RgbaImage,
        /// Whether this is the returned result.
        #[serde(rename = "final")]
        last: bool,
    },
    /// The latent after a step, under its trajectory key (`run0/step{i}`, `loop{k}/step{i}`,
    /// `edit/loop{k}/inv{j}`, `edit/loop{k}/step{i}`); sent only to sinks that
    /// [want latents](ProgressSink::wants_latents).
    #[serde(skip)]
    #[ts(skip)]
    Latent {
        /// Trajectory key.
        key: &'a str,
        /// Shape (`[1, 4, h, w]`).
        shape: &'a [usize],
        /// Values as f32.
        values: &'a [f32],
    },
}

/// Receives [`Event`]s; returning `Break` cancels the run (the pipeline returns
/// [`Error::Cancelled`] within one UNet step).
pub trait ProgressSink {
    /// Handles one event.
    fn event(&mut self, event: Event<'_>) -> ControlFlow<()>;

    /// Whether to read every step's latent back and send it as [`Event::Latent`] (slow: a
    /// full readback per step; for recording and parity checks).
    fn wants_latents(&self) -> bool {
        false
    }

    /// Whether to send [`Event::StepPreview`] after every UNet step (a 4-channel latent-size
    /// readback, one step behind, and well under a millisecond of host work).
    fn wants_previews(&self) -> bool {
        false
    }

    /// A millisecond clock for the time estimate (`None`: no estimate).
    fn clock_ms(&self) -> Option<f64> {
        None
    }
}

/// A sink that ignores everything.
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn event(&mut self, _: Event<'_>) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// A sink that records every latent as [`Event::Latent`] delivers it and forwards all events
/// to another sink.
pub struct Trajectory<'s> {
    /// Where the other events go.
    pub inner: &'s mut dyn ProgressSink,
    /// Key, shape and values in recording order.
    pub entries: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl<'s> Trajectory<'s> {
    /// Records while forwarding to `inner`.
    pub fn new(inner: &'s mut dyn ProgressSink) -> Self {
        Self { inner, entries: Vec::new() }
    }
}

impl ProgressSink for Trajectory<'_> {
    fn event(&mut self, event: Event<'_>) -> ControlFlow<()> {
        if let Event::Latent { key, shape, values } = event {
            self.entries.push((key.to_string(), shape.to_vec(), values.to_vec()));
        }
        self.inner.event(event)
    }

    fn wants_latents(&self) -> bool {
        true
    }

    fn wants_previews(&self) -> bool {
        self.inner.wants_previews()
    }

    fn clock_ms(&self) -> Option<f64> {
        self.inner.clock_ms()
    }
}

