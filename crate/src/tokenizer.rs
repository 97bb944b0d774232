//! The CLIP BPE tokenizer of SD 2.1-base through the `tokenizers` crate: lower-casing and
//! whitespace clean-up as CLIP does (in the tokenizer.json normaliser), BOS 49406 / EOS 49407,
//! truncation to 77 with BOS/EOS kept, and padding with id 0 ("!"), as diffusers calls
//! transformers' `CLIPTokenizer(padding="max_length", max_length=77, truncation=True)`.

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
/// `tests/gen/make_tokenizer.py`.
pub const DEFAULT_TOKENIZER_JSON: &[u8] = include_bytes!("../assets/tokenizer.json");

/// CLIP tokenizer producing 77 ids per prompt.
pub struct ClipTokenizer {
    inner: tokenizers::Tokenizer,
}

impl ClipTokenizer {
    /// Loads a `tokenizer.json` (HuggingFace tokenizers format).
    pub fn from_bytes(json: &[u8]) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_bytes(json)
            .map_err(|e| Error::Config(format!("tokenizer.json: {e}")))?;
        Ok(Self { inner })
    }

    /// The built-in tokenizer ([`DEFAULT_TOKENIZER_JSON`]).
    pub fn builtin() -> Self {
        Self::from_bytes(DEFAULT_TOKENIZER_JSON).expect("the built-in tokenizer.json is valid")
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
}
