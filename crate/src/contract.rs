//! The contract between the core and the page, defined once: the rules both sides apply
//! (defaults, limits, the component list, the mask rule, failure kinds) and the list of types
//! that cross the wasm boundary. `ezigen schema` writes all of it as TypeScript to
//! `www/src/generated/contract.ts` (run by `./build.sh build`); `tests/contract.rs` fails when
//! the checked-in file differs from what this module generates.
//!
//! The types themselves live next to the code that uses them (requests and events in
//! `pipeline`, the adapter report in `device`, the manifest in `weights::manifest`, ...) and
//! derive `ts_rs::TS`, which follows their serde attributes, so the TypeScript shapes are the
//! ones serde-wasm-bindgen produces and accepts in `web.rs`.
//!
//! Why ts-rs and our own command rather than tsify: the page needs constants as well as types
//! (defaults, limits, component order, mask threshold), which no derive emits; one generated,
//! checked-in file is reviewable and type-checks without a wasm build; and ts-rs keeps the
//! derive off the wasm boundary (nothing but `web.rs` talks to JavaScript).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::Error;

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

/// Why something failed, in the categories the page explains (each with a recovery action).
/// The core raises `bad-input`, `corrupt-shard`, `device-lost`, `cancelled` and `internal`
/// ([`Error::kind`]); the page's GPU and weights layers raise the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The browser has no `navigator.gpu`.
    NoWebgpu,
    /// WebGPU offered no adapter.
    NoAdapter,
    /// The adapter's limits are below [`FULL_MODEL_LIMITS`].
    AdapterTooSmall,
    /// The GPU device was lost.
    DeviceLost,
    /// The GPU ran out of memory.
    OutOfMemory,
    /// A weight file is damaged or does not match the model.
    CorruptShard,
    /// Browser storage is full.
    QuotaExceeded,
    /// A download failed.
    Network,
    /// No model (manifest) was found.
    NoModel,
    /// The user's input cannot be used.
    BadInput,
    /// The user cancelled.
    Cancelled,
    /// A bug or an unexpected state.
    Internal,
}

impl FailureKind {
    /// Every kind.
    pub const ALL: [FailureKind; 12] = [
        Self::NoWebgpu,
        Self::NoAdapter,
        Self::AdapterTooSmall,
        Self::DeviceLost,
        Self::OutOfMemory,
        Self::CorruptShard,
        Self::QuotaExceeded,
        Self::Network,
        Self::NoModel,
        Self::BadInput,
        Self::Cancelled,
        Self::Internal,
    ];

    /// The kebab-case name the page sees.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoWebgpu => "no-webgpu",
            Self::NoAdapter => "no-adapter",
            Self::AdapterTooSmall => "adapter-too-small",
            Self::DeviceLost => "device-lost",
            Self::OutOfMemory => "out-of-memory",
            Self::CorruptShard => "corrupt-shard",
            Self::QuotaExceeded => "quota-exceeded",
            Self::Network => "network",
            Self::NoModel => "no-model",
            Self::BadInput => "bad-input",
            Self::Cancelled => "cancelled",
            Self::Internal => "internal",
        }
    }
}

/// The TypeScript of the contract: every boundary type and every shared constant, as written to
/// `www/src/generated/contract.ts`.
pub fn typescript() -> String {
    use crate::bench::BenchOptions;
    use crate::convert::{ConvertPlan, ConvertProgress, ConvertSettings, Root, Shard};
    use crate::device::AdapterReport;
    use crate::eval::{ScoreRequest, Scores};
    use crate::kernels::check::KernelCheck;
    use crate::kernels::tune::{CandidateTime, TuneReport, TuneTable, TunedProblem};
    use crate::pipeline::{EditRequest, Event, GenerateRequest, Mask, Preset, PresetInfo, RgbaImage, SamplingOptions, Stage, SubjectImage};
    use crate::schedulers::SamplerKind;
    use crate::smoke::SmokeOutput;
    use crate::tokenizer::PromptTokens;
    use crate::weights::components::Component;
    use crate::weights::manifest::{ComponentEntry, Manifest, ShardEntry, TensorEntry};

    let cfg = ts_rs::Config::default();
    let mut out = String::from(
        "// Generated by `ezigen schema` from crate/src/contract.rs and the types it lists. Do not edit:\n\
         // change the Rust side and run ./build.sh build (tests/contract.rs fails while this is stale).\n\
         /* eslint-disable */\n",
    );
    let mut decl = |docs: Option<String>, decl: String| {
        out.push('\n');
        out.push_str(&docs.unwrap_or_default());
        out.push_str("export ");
        out.push_str(&decl);
        out.push('\n');
    };
    macro_rules! types {
        ($($t:ty),* $(,)?) => { $( decl(<$t as TS>::docs(), <$t as TS>::decl(&cfg)); )* };
    }
    types!(
        RgbaImage, Mask, SubjectImage, SamplerKind, Preset, PresetInfo, SamplingOptions, GenerateRequest, EditRequest, Stage, Event<'static>, FailureKind,
        AdapterReport, SmokeOutput, KernelCheck, BenchOptions, Component, Manifest, ComponentEntry, ShardEntry,
        TensorEntry, Range, Limits, GpuLimits, PromptTokens, Root, ConvertSettings, ConvertPlan, ConvertProgress, Shard,
        Scores, ScoreRequest, TuneTable, CandidateTime, TunedProblem, TuneReport,
    );

    let json = |v: &dyn erased::Json| v.json();
    let constants: [(&str, &str, &str, String); 14] = [
        ("The official sampling defaults (configs/infer_config.yaml).", "DEFAULT_OPTIONS", "SamplingOptions", json(&SamplingOptions::default())),
        ("Every sampler, in the order the page lists them.", "SAMPLERS", "readonly SamplerKind[]", json(&SamplerKind::ALL)),
        ("The presets (sampler and step count), slowest first; the first is the default.", "PRESETS", "readonly PresetInfo[]", json(&Preset::all_info())),
        ("Ranges of the sampling options; the core refuses values outside them.", "LIMITS", "Limits", json(&LIMITS)),
        ("The largest image side accepted (page upload and core).", "MAX_IMAGE_SIDE", "number", MAX_IMAGE_SIDE.to_string()),
        ("The most elongated edit source or subject accepted (long side : short side).", "MAX_ASPECT_RATIO", "number", json(&MAX_ASPECT_RATIO)),
        ("A mask byte at or above this is foreground (page and core).", "MASK_FOREGROUND_MIN", "number", MASK_FOREGROUND_MIN.to_string()),
        ("The most photos of one subject a run takes.", "MAX_SUBJECTS", "number", MAX_SUBJECTS.to_string()),
        ("Model components in load order.", "COMPONENTS", "readonly Component[]", json(&Component::ALL)),
        ("The metric models' components, loaded only when scores are asked for.", "METRIC_COMPONENTS", "readonly Component[]", json(&Component::EVAL)),
        ("Every failure kind.", "FAILURE_KINDS", "readonly FailureKind[]", json(&FailureKind::ALL)),
        ("WebGPU limits the full-size model needs.", "FULL_MODEL_LIMITS", "GpuLimits", json(&FULL_MODEL_LIMITS)),
        ("`format` of a converted model's manifest.json.", "MANIFEST_FORMAT", "string", json(&crate::weights::manifest::FORMAT)),
        ("Manifest `version` this build reads.", "MANIFEST_VERSION", "number", crate::weights::manifest::VERSION.to_string()),
    ];
    for (doc, name, ty, value) in constants {
        out.push_str(&format!("\n/** {doc} */\nexport const {name}: {ty} = {value};\n"));
    }
    out.push_str(
        "\n/** What the core's exports throw: an `Error` whose `kind` says what failed. */\n\
         export interface CoreError extends Error {\n  kind: FailureKind;\n}\n",
    );
    out
}

/// Serialising through a trait object (the constants table holds values of several types).
mod erased {
    /// A value that serialises to JSON.
    pub trait Json {
        /// Compact JSON.
        fn json(&self) -> String;
    }

    impl<T: serde::Serialize + ?Sized> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).expect("contract constants serialise")
        }
    }
}
