//! Header-only parsing of the safetensors format (an 8-byte little-endian header length, a JSON
//! header, then raw little-endian tensor data) and conversion of a tensor's bytes to f32/f16.
//!
//! Format: <https://github.com/huggingface/safetensors#format>.

use std::collections::BTreeMap;
use std::ops::Range;

use burn::tensor::{DType, TensorData};
use half::{bf16, f16};
use serde_json::Value;

use crate::{Error, Result};

/// Headers larger than this are refused (the format's own limit is 100 MB).
const MAX_HEADER: usize = 100 << 20;

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
    /// Total file size the header implies (data_start + the end of the last tensor).
    pub file_len: usize,
}

fn bad(file: &str, reason: impl Into<String>) -> Error {
    Error::Weights { file: file.to_string(), reason: reason.into() }
}

impl SafetensorsHeader {
    /// Length of the header prefix (8 + JSON) given at least the file's first 8 bytes.
    pub fn prefix_len(first8: &[u8], file: &str) -> Result<usize> {
        let Some(len) = first8.get(..8) else {
            return Err(bad(file, "shorter than 8 bytes: not a safetensors file"));
        };
        let n = u64::from_le_bytes(len.try_into().expect("8 bytes")) as usize;
        if n > MAX_HEADER {
            return Err(bad(file, format!("header length {n} is implausible: not a safetensors file")));
        }
        Ok(8 + n)
    }

    /// Parses the header from the file's leading bytes (at least [`Self::prefix_len`] of them).
    pub fn parse(bytes: &[u8], file: &str) -> Result<Self> {
        let data_start = Self::prefix_len(bytes, file)?;
        let json = bytes
            .get(8..data_start)
            .ok_or_else(|| bad(file, "truncated inside the header"))?;
        let value: Value = serde_json::from_slice(json)
            .map_err(|e| bad(file, format!("header is not valid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(bad(file, "header is not a JSON object"));
        };
        let mut header = SafetensorsHeader { data_start, ..Default::default() };
        let mut end = 0usize;
        for (name, entry) in map {
            if name == "__metadata__" {
                if let Value::Object(m) = entry {
                    for (k, v) in m {
                        header.metadata.insert(k, v.as_str().unwrap_or_default().to_string());
                    }
                }
                continue;
            }
            let field = |k: &str| entry.get(k).ok_or_else(|| bad(file, format!("tensor {name}: no `{k}`")));
            let dtype_s = field("dtype")?.as_str().unwrap_or_default();
            let dtype = StoredDType::parse(dtype_s)
                .ok_or_else(|| bad(file, format!("tensor {name}: unsupported dtype {dtype_s}")))?;
            let shape = field("shape")?
                .as_array()
                .ok_or_else(|| bad(file, format!("tensor {name}: shape is not a list")))?
                .iter()
                .map(|d| d.as_u64().map(|d| d as usize))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad(file, format!("tensor {name}: shape has a non-integer")))?;
            let offsets = field("data_offsets")?
                .as_array()
                .filter(|a| a.len() == 2)
                .and_then(|a| Some((a[0].as_u64()? as usize, a[1].as_u64()? as usize)))
                .ok_or_else(|| bad(file, format!("tensor {name}: bad data_offsets")))?;
            let numel = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
            let expected = numel.and_then(|n| n.checked_mul(dtype.size()));
            if offsets.1 < offsets.0 || Some(offsets.1 - offsets.0) != expected {
                return Err(bad(file, format!("tensor {name}: data_offsets {offsets:?} do not match {dtype_s} {shape:?}")));
            }
            end = end.max(offsets.1);
            header.tensors.push(TensorInfo {
                name,
                dtype,
                shape,
                range: data_start + offsets.0..data_start + offsets.1,
            });
        }
        header.tensors.sort_by_key(|t| t.range.start);
        header.file_len = data_start + end;
        Ok(header)
    }

    /// Checks that `len` bytes hold every tensor (detects truncated files).
    pub fn check_len(&self, len: usize, file: &str) -> Result<()> {
        if len < self.file_len {
            return Err(bad(file, format!("truncated: {len} bytes, the header needs {}", self.file_len)));
        }
        Ok(())
    }
}

/// Converts a stored float tensor's little-endian bytes into flat (1-D) [`TensorData`] of
/// `target` (F32 or F16), rounding to nearest.
pub fn float_data(info: &TensorInfo, bytes: &[u8], target: DType, file: &str) -> Result<TensorData> {
    if bytes.len() != info.numel() * info.dtype.size() {
        return Err(bad(file, format!("tensor {}: wrong byte length", info.name)));
    }
    let shape = vec![info.numel()];
    let f32s = || -> Vec<f32> {
        match info.dtype {
            StoredDType::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
            StoredDType::F16 => bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            StoredDType::BF16 => bytes.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            StoredDType::F64 => bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
            _ => unreachable!("checked by the caller"),
        }
    };
    if !info.dtype.is_float() {
        return Err(bad(file, format!("tensor {}: {} is not a float type", info.name, info.dtype.name())));
    }
    Ok(match target {
        DType::F16 if info.dtype == StoredDType::F16 => TensorData::new(
            bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]])).collect::<Vec<_>>(),
            shape,
        ),
        DType::F16 => TensorData::new(f32s().into_iter().map(f16::from_f32).collect::<Vec<_>>(), shape),
        _ => TensorData::new(f32s(), shape),
    })
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

/// Serialises tensors (in the given order) and string metadata into a safetensors file. The
/// header is padded with spaces to a multiple of 8 bytes, as the reference writer does.
pub fn write(tensors: &[TensorToWrite<'_>], metadata: &BTreeMap<String, String>) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        let m: serde_json::Map<String, Value> = metadata.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        header.insert("__metadata__".into(), Value::Object(m));
    }
    let mut offset = 0usize;
    for t in tensors {
        let end = offset + t.bytes.len();
        header.insert(
            t.name.to_string(),
            serde_json::json!({ "dtype": t.dtype.name(), "shape": t.shape, "data_offsets": [offset, end] }),
        );
        offset = end;
    }
    let mut json = serde_json::to_vec(&Value::Object(header)).expect("header serialises");
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + json.len() + offset);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    for t in tensors {
        out.extend_from_slice(t.bytes);
    }
    out
}
