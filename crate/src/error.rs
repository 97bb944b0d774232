//! The crate's typed error. `Result` is used only at I/O, input and device boundaries; model
//! code is infallible.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Why something failed, in the categories the page explains (each with a recovery action).
/// The core raises `bad-input`, `corrupt-shard`, `device-lost`, `cancelled` and `internal`
/// ([`Error::kind`]); the page's GPU and weights layers raise the others. Re-exported by
/// [`crate::contract`] with the other rules shared with the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The browser has no `navigator.gpu`.
    NoWebgpu,
    /// WebGPU offered no adapter.
    NoAdapter,
    /// The adapter's limits are below [`crate::contract::FULL_MODEL_LIMITS`].
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

/// Everything that can go wrong at the boundaries of the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The GPU device could not be created or failed while running.
    #[error("GPU device error: {0}")]
    Device(String),
    /// A tensor read-back from the device failed.
    #[error("reading results back from the device failed: {0}")]
    Readback(String),
    /// The caller passed an input the library cannot use.
    #[error("invalid input: {0}")]
    Input(String),
    /// A weights file is malformed (bad header, truncated data, unsupported dtype).
    #[error("weights file {file}: {reason}")]
    Weights {
        /// File or shard name.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A component's weights do not match its architecture: every missing, unexpected and
    /// wrongly shaped tensor is listed.
    #[error("{component}: weights do not match the model ({})", describe_keys(.missing, .unexpected, .mismatched))]
    Tensors {
        /// Component name ("unet", "text_encoder", ...).
        component: String,
        /// Keys the model needs that the weights lack.
        missing: Vec<String>,
        /// Keys in the weights that the model does not use.
        unexpected: Vec<String>,
        /// Keys present with the wrong shape: "name: expected [..], found [..]".
        mismatched: Vec<String>,
    },
    /// A model configuration is invalid or describes an unsupported architecture.
    #[error("model configuration: {0}")]
    Config(String),
    /// The run was cancelled by the caller.
    #[error("cancelled")]
    Cancelled,
}

fn describe_keys(missing: &[String], unexpected: &[String], mismatched: &[String]) -> String {
    let list = |v: &[String]| {
        let shown: Vec<&str> = v.iter().take(8).map(String::as_str).collect();
        let more = if v.len() > 8 { format!(", … {} more", v.len() - 8) } else { String::new() };
        format!("{}{more}", shown.join(", "))
    };
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("{} missing: {}", missing.len(), list(missing)));
    }
    if !unexpected.is_empty() {
        parts.push(format!("{} unexpected: {}", unexpected.len(), list(unexpected)));
    }
    if !mismatched.is_empty() {
        parts.push(format!("{} with the wrong shape: {}", mismatched.len(), list(mismatched)));
    }
    parts.join("; ")
}

impl Error {
    /// The failure category the page explains.
    pub fn kind(&self) -> FailureKind {
        use FailureKind as K;
        match self {
            Self::Input(_) => K::BadInput,
            Self::Weights { .. } | Self::Tensors { .. } => K::CorruptShard,
            Self::Device(_) | Self::Readback(_) => K::DeviceLost,
            Self::Cancelled => K::Cancelled,
            // A model's configuration or manifest the core cannot use: the page offers to pick
            // another model (the message names the file and the key).
            Self::Config(_) => K::NoModel,
        }
    }
}

/// Shorthand for results carrying [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
