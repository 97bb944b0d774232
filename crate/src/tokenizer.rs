//! The CLIP BPE tokenizer of SD 2.1-base through the `tokenizers` crate: lower-casing and
//! whitespace clean-up as CLIP does (in the tokenizer.json normaliser), BOS 49406 / EOS 49407,
//! truncation to 77 with BOS/EOS kept, and padding with id 0 ("!"), as diffusers calls
//! transformers' `CLIPTokenizer(padding="max_length", max_length=77, truncation=True)`.

use serde::Serialize;
use ts_rs::TS;

use crate::{Error, Result};

/// Sequence length of SD's text encoder.
pub const MAX_LENGTH: usize = 77;
/// `<|startoftext|>`.
pub const BOS: u32 = 49406;
/// `<|endoftext|>`.
pub const EOS: u32 = 49407;
/// SD 2.x pads with "!" (id 0), not with EOS (huggingface/transformers#24925).
pub const PAD: u32 = 0;

/// The project's default tokenizer file, built from OpenAI's CLIP BPE vocabulary by
/// `tests/gen/make_tokenizer.py`, gzip-compressed (1.5 MB of JSON, 0.54 MB this way). Native
/// builds embed it; the page does not (it would be a twentieth of the wasm for the one
/// operation that needs it, converting published weights): the build copies it next to the
/// wasm as `tokenizer.json.<hash>.gz`, and the page's converter fetches it (`inflate_json`).
#[cfg(feature = "native")]
const DEFAULT_TOKENIZER_GZ: &[u8] = include_bytes!("../assets/tokenizer.json.gz");

/// The project's default tokenizer.json (inflated once, on first use; native builds).
#[cfg(feature = "native")]
pub fn default_tokenizer_json() -> &'static [u8] {
    static JSON: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    JSON.get_or_init(|| inflate_json(DEFAULT_TOKENIZER_GZ).expect("the embedded tokenizer is valid gzip (checked by tests/tokenizer.rs)"))
}

/// Inflates a gzip-compressed `tokenizer.json` (the project's `tokenizer.json.gz`). Bytes
/// that are already JSON are returned as they are (a server that sends the file with
/// `Content-Encoding: gzip` has the browser inflate it); anything else is an input error.
pub fn inflate_json(gz: &[u8]) -> Result<Vec<u8>> {
    if gz.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return Ok(gz.to_vec());
    }
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut out)
        .map_err(|e| Error::Input(format!("tokenizer.json.gz is not a gzip file ({} bytes): {e}", gz.len())))?;
    Ok(out)
}

/// How a prompt fits the text encoder: its content tokens (BOS/EOS and padding not counted)
/// against the [`MAX_LENGTH`] − 2 the encoder sees; the page shows it under the prompt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, TS)]
pub struct PromptTokens {
    /// Content tokens of the whole prompt.
    pub count: usize,
    /// Content tokens the text encoder sees (75).
    pub max: usize,
    /// When the prompt is longer: the part of it the encoder sees (everything after is cut).
    pub kept: Option<String>,
}

/// CLIP tokenizer producing 77 ids per prompt.
#[derive(Clone)]
pub struct ClipTokenizer {
    inner: tokenizers::Tokenizer,
    /// The same without truncation or padding, made on the first [`ClipTokenizer::count`].
    whole: std::sync::OnceLock<tokenizers::Tokenizer>,
}

impl ClipTokenizer {
    /// Loads a `tokenizer.json` (HuggingFace tokenizers format).
    pub fn from_bytes(json: &[u8]) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_bytes(json)
            .map_err(|e| Error::Config(format!("tokenizer.json: {e}")))?;
        Ok(Self { inner, whole: std::sync::OnceLock::new() })
    }

    /// The built-in tokenizer ([`default_tokenizer_json`]; native builds).
    #[cfg(feature = "native")]
    pub fn builtin() -> Self {
        Self::from_bytes(default_tokenizer_json()).expect("the built-in tokenizer.json is valid")
    }

    /// `[BOS] + first 75 tokens + [EOS]`, padded with [`PAD`] to [`MAX_LENGTH`] (the file
    /// configures truncation and padding). Also returns whether the prompt was truncated.
    pub fn encode(&self, text: &str) -> Result<(Vec<u32>, bool)> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| Error::Input(format!("cannot tokenize the prompt: {e}")))?;
        let ids = enc.get_ids().to_vec();
        if ids.len() != MAX_LENGTH || ids[0] != BOS {
            return Err(Error::Config(format!(
                "tokenizer.json must add BOS/EOS and pad/truncate to {MAX_LENGTH} (got {} ids)",
                ids.len()
            )));
        }
        Ok((ids, !enc.get_overflowing().is_empty()))
    }

    /// Counts a prompt's content tokens and, when it is longer than the encoder's 75, names the
    /// part that is kept (the text up to the end of the last kept token).
    pub fn count(&self, text: &str) -> Result<PromptTokens> {
        let whole = self.whole.get_or_init(|| {
            let mut t = self.inner.clone();
            t.with_padding(None);
            // Turning truncation off cannot fail (only invalid truncation parameters do).
            let _ = t.with_truncation(None);
            t
        });
        let enc = whole.encode(text, false).map_err(|e| Error::Input(format!("cannot tokenize the prompt: {e}")))?;
        let (count, max) = (enc.len(), MAX_LENGTH - 2);
        let kept = (count > max).then(|| text.get(..enc.get_offsets()[max - 1].1).unwrap_or_default().to_string());
        Ok(PromptTokens { count, max, kept })
    }
}
