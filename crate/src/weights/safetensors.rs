//! safetensors files through the `safetensors` crate (header parsing with its checks, and
//! writing), plus what the crate does not do: our names for the element types the model uses,
//! tensor ranges within the whole file (the weights store and the converter slice shards by
//! them), errors that name the file, and conversion of a tensor's bytes to f32/f16.
//!
//! Format: <https://github.com/huggingface/safetensors#format>.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;

use burn::tensor::{DType, TensorData};
use half::{bf16, f16};
use safetensors::tensor::Metadata;
use safetensors::{Dtype, SafeTensorError, SafeTensors, View};

use crate::{Error, Result};

/// Element type of a tensor as stored in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredDType {
    /// IEEE f32.
    F32,
    /// IEEE f16.
    F16,
    /// bfloat16.
    BF16,
    /// IEEE f64.
    F64,
    /// Signed 64-bit integers.
    I64,
    /// Signed 32-bit integers.
    I32,
    /// Unsigned bytes.
    U8,
    /// Booleans, one byte each.
    Bool,
}

impl StoredDType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "F32" => Self::F32,
            "F16" => Self::F16,
            "BF16" => Self::BF16,
            "F64" => Self::F64,
            "I64" => Self::I64,
            "I32" => Self::I32,
            "U8" => Self::U8,
            "BOOL" => Self::Bool,
            _ => return None,
        })
    }

    fn from_crate(d: Dtype) -> Option<Self> {
        Some(match d {
            Dtype::F32 => Self::F32,
            Dtype::F16 => Self::F16,
            Dtype::BF16 => Self::BF16,
            Dtype::F64 => Self::F64,
            Dtype::I64 => Self::I64,
            Dtype::I32 => Self::I32,
            Dtype::U8 => Self::U8,
            Dtype::BOOL => Self::Bool,
            _ => return None,
        })
    }

    fn to_crate(self) -> Dtype {
        match self {
            Self::F32 => Dtype::F32,
            Self::F16 => Dtype::F16,
            Self::BF16 => Dtype::BF16,
            Self::F64 => Dtype::F64,
            Self::I64 => Dtype::I64,
            Self::I32 => Dtype::I32,
            Self::U8 => Dtype::U8,
            Self::Bool => Dtype::BOOL,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::BF16 => 2,
            Self::U8 | Self::Bool => 1,
        }
    }

    /// Whether the type holds floating-point values.
    pub fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F16 | Self::BF16 | Self::F64)
    }

    /// F32 for float types (the dtype kept at full precision), itself otherwise.
    pub fn max_f32(self) -> Self {
        if self.is_float() { Self::F32 } else { self }
    }

    /// Parses the safetensors spelling.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::parse(s)
    }

    /// The safetensors spelling ("F32", "F16", ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::F64 => "F64",
            Self::I64 => "I64",
            Self::I32 => "I32",
            Self::U8 => "U8",
            Self::Bool => "BOOL",
        }
    }
}

/// One tensor's entry in a safetensors header.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// Key name (e.g. `down_blocks.0.attentions.0.proj_in.weight`).
    pub name: String,
    /// Stored element type.
    pub dtype: StoredDType,
    /// Shape.
    pub shape: Vec<usize>,
    /// Byte range **within the whole file** (header included).
    pub range: Range<usize>,
}

impl TensorInfo {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A parsed safetensors header.
#[derive(Clone, Debug, Default)]
pub struct SafetensorsHeader {
    /// Tensors in file order (sorted by offset).
    pub tensors: Vec<TensorInfo>,
    /// The `__metadata__` string map.
    pub metadata: BTreeMap<String, String>,
    /// Offset of the first data byte in the file.
    pub data_start: usize,
}

fn bad(file: &str, reason: impl Into<String>) -> Error {
    Error::Weights { file: file.to_string(), reason: reason.into() }
}

/// The crate's error in the words the page and the CLI show.
fn describe(e: SafeTensorError, len: usize) -> String {
    match e {
        SafeTensorError::HeaderTooSmall => "shorter than 8 bytes: not a safetensors file".into(),
        SafeTensorError::HeaderTooLarge => "header length is implausible: not a safetensors file".into(),
        SafeTensorError::InvalidHeaderLength => format!("truncated inside the header ({len} bytes)"),
        SafeTensorError::InvalidHeader(e) => format!("header is not valid JSON (not UTF-8: {e})"),
        SafeTensorError::InvalidHeaderDeserialization(e) => format!("header is not valid JSON: {e}"),
        SafeTensorError::MetadataIncompleteBuffer => format!("truncated (or with extra bytes): {len} bytes do not match the size its header describes"),
        SafeTensorError::InvalidOffset(name) => format!("tensor {name}: data_offsets are not contiguous"),
        SafeTensorError::TensorInvalidInfo => "a tensor's data_offsets do not match its dtype and shape".into(),
        other => other.to_string(),
    }
}

/// A file read by byte range: the converter's inputs, and a shard the weight store uploads
/// tensor by tensor (in the page, a `Uint8Array` that never enters wasm memory whole).
pub trait SourceFile {
    /// Its length in bytes.
    fn len(&self) -> u64;
    /// `len` bytes from `offset` (within the file; callers check the bounds first).
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>>;
}

/// A file already in memory.
impl SourceFile for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let start = offset as usize;
        Ok(self[start..start + len].to_vec())
    }
}

impl SafetensorsHeader {
    /// Reads and checks the header of a file read by range (two small reads: its length, then
    /// the header), with the same checks as [`Self::parse`].
    pub fn read(f: &dyn SourceFile, file: &str) -> Result<Self> {
        let len = f.len();
        let first = f.read_at(0, len.min(8) as usize)?;
        let n = Self::prefix_len(&first, len, file)?;
        Self::parse_prefix(&f.read_at(0, n)?, len, file)
    }

    /// Parses and checks a whole safetensors file (header JSON, every tensor's offsets against
    /// its dtype and shape, the file's length); errors name `file`.
    pub fn parse(bytes: &[u8], file: &str) -> Result<Self> {
        let (n, meta) = SafeTensors::read_metadata(bytes).map_err(|e| bad(file, describe(e, bytes.len())))?;
        Self::from_metadata(meta, n, file)
    }

    /// The length of the header a file starts with (its first 8 bytes), checked against the
    /// file's length: how many bytes [`Self::parse_prefix`] needs.
    pub fn prefix_len(first8: &[u8], file_len: u64, file: &str) -> Result<usize> {
        let n = first8
            .get(..8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .ok_or_else(|| bad(file, describe(SafeTensorError::HeaderTooSmall, file_len as usize)))?;
        if n > MAX_HEADER_BYTES {
            return Err(bad(file, describe(SafeTensorError::HeaderTooLarge, file_len as usize)));
        }
        if 8 + n > file_len {
            return Err(bad(file, describe(SafeTensorError::InvalidHeaderLength, file_len as usize)));
        }
        Ok(8 + n as usize)
    }

    /// Parses a safetensors header from the file's first [`Self::prefix_len`] bytes, without
    /// the tensor data: the same checks as [`Self::parse`] (the crate validates the offsets
    /// against dtypes and shapes), and the data must end exactly at `file_len`. For files read
    /// by range (the converter), which are never held whole.
    pub fn parse_prefix(prefix: &[u8], file_len: u64, file: &str) -> Result<Self> {
        let n = Self::prefix_len(prefix, file_len, file)? - 8;
        let json = prefix.get(8..8 + n).ok_or_else(|| bad(file, describe(SafeTensorError::InvalidHeaderLength, prefix.len())))?;
        let text = std::str::from_utf8(json).map_err(|e| bad(file, describe(SafeTensorError::InvalidHeader(e), prefix.len())))?;
        let meta: Metadata = serde_json::from_str(text).map_err(|e| bad(file, describe(SafeTensorError::InvalidHeaderDeserialization(e), prefix.len())))?;
        if (8 + n + meta.data_len()) as u64 != file_len {
            return Err(bad(file, describe(SafeTensorError::MetadataIncompleteBuffer, file_len as usize)));
        }
        Self::from_metadata(meta, n, file)
    }

    fn from_metadata(meta: Metadata, n: usize, file: &str) -> Result<Self> {
        let data_start = 8 + n;
        let mut tensors = Vec::with_capacity(meta.tensors().len());
        for (name, info) in meta.tensors() {
            let dtype = StoredDType::from_crate(info.dtype)
                .ok_or_else(|| bad(file, format!("tensor {name}: unsupported dtype {:?}", info.dtype)))?;
            let (begin, end) = info.data_offsets;
            tensors.push(TensorInfo { name, dtype, shape: info.shape.clone(), range: data_start + begin..data_start + end });
        }
        tensors.sort_by_key(|t| t.range.start);
        let metadata = meta.metadata().clone().unwrap_or_default().into_iter().collect();
        Ok(SafetensorsHeader { tensors, metadata, data_start })
    }
}

/// The crate's limit on a header's size (its `MAX_HEADER_SIZE`).
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Converts a stored float tensor's little-endian bytes into flat (1-D) [`TensorData`] of
/// `target` (F32 or F16), rounding to nearest.
pub fn float_data(info: &TensorInfo, bytes: &[u8], target: DType, file: &str) -> Result<TensorData> {
    if bytes.len() != info.numel() * info.dtype.size() {
        return Err(bad(file, format!("tensor {}: wrong byte length", info.name)));
    }
    if !info.dtype.is_float() {
        return Err(bad(file, format!("tensor {}: {} is not a float type", info.name, info.dtype.name())));
    }
    Ok(float_values(info.dtype, bytes, target))
}

/// Little-endian floats of a stored float type as flat [`TensorData`] in `target` (F16 stays
/// bit-exact; anything else goes through f32). `bytes` holds whole elements of a float type.
pub fn float_values(stored: StoredDType, bytes: &[u8], target: DType) -> TensorData {
    let n = bytes.len() / stored.size();
    match target {
        DType::F16 if stored == StoredDType::F16 => {
            TensorData::new(bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]])).collect::<Vec<_>>(), [n])
        }
        DType::F16 => TensorData::new(floats_as_f32(stored, bytes).into_iter().map(f16::from_f32).collect::<Vec<_>>(), [n]),
        _ => TensorData::new(floats_as_f32(stored, bytes), [n]),
    }
}

/// Little-endian floats of a stored float type (F32, F16, BF16, F64) as f32 values (the
/// loader's and the converter's one decoding). `bytes` holds whole elements of a float type.
pub fn floats_as_f32(stored: StoredDType, bytes: &[u8]) -> Vec<f32> {
    match stored {
        StoredDType::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect(),
        StoredDType::F16 => bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        StoredDType::BF16 => bytes.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        StoredDType::F64 => bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect(),
        _ => unreachable!("float types only (checked by the callers)"),
    }
}

/// Reads an integer tensor (I64/I32/U8) as i64 values.
pub fn int_values(info: &TensorInfo, bytes: &[u8], file: &str) -> Result<Vec<i64>> {
    if bytes.len() != info.numel() * info.dtype.size() {
        return Err(bad(file, format!("tensor {}: wrong byte length", info.name)));
    }
    Ok(match info.dtype {
        StoredDType::I64 => bytes.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect(),
        StoredDType::I32 => bytes.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64).collect(),
        StoredDType::U8 | StoredDType::Bool => bytes.iter().map(|&b| b as i64).collect(),
        other => return Err(bad(file, format!("tensor {}: {} is not an integer type", info.name, other.name()))),
    })
}

/// One tensor to write: name, stored dtype, shape and little-endian bytes.
pub struct TensorToWrite<'a> {
    /// Key name.
    pub name: &'a str,
    /// Stored dtype.
    pub dtype: StoredDType,
    /// Shape.
    pub shape: &'a [usize],
    /// `numel · dtype.size()` bytes.
    pub bytes: &'a [u8],
}

impl View for &TensorToWrite<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype.to_crate()
    }

    fn shape(&self) -> &[usize] {
        self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.bytes)
    }

    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Serialises tensors and string metadata into a safetensors file (the crate's writer: header
/// padded to 8 bytes, tensors ordered by alignment then name).
pub fn write(tensors: &[TensorToWrite<'_>], metadata: &BTreeMap<String, String>) -> Vec<u8> {
    let meta = (!metadata.is_empty()).then(|| metadata.clone().into_iter().collect());
    safetensors::serialize(tensors.iter().map(|t| (t.name, t)), meta).expect("tensor byte lengths match their shapes")
}
