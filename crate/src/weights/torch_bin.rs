//! Reading PyTorch `.bin` checkpoints (`torch.save` zip archives: `*/data.pkl` + one file per
//! storage under `*/data/`) without Python: a minimal zip reader (stored entries, as torch
//! writes them) and a pickle interpreter covering the opcodes `torch.save` emits for state
//! dicts (protocols 2–4). Tensors are returned as safetensors-style entries over the storage
//! bytes (contiguous tensors only; that is what state dicts hold).

use std::collections::{BTreeMap, HashMap};

use super::safetensors::StoredDType;
use crate::{Error, Result};

fn bad(file: &str, reason: impl Into<String>) -> Error {
    Error::Weights { file: file.to_string(), reason: reason.into() }
}

/// Entries of a zip archive (name → byte range of the stored data).
fn zip_entries(bytes: &[u8], file: &str) -> Result<HashMap<String, std::ops::Range<usize>>> {
    let u16_at = |o: usize| -> Result<usize> {
        bytes.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize).ok_or_else(|| bad(file, "truncated zip"))
    };
    let u32_at = |o: usize| -> Result<usize> {
        bytes.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize).ok_or_else(|| bad(file, "truncated zip"))
    };
    // End of central directory: the last "PK\x05\x06" within the final 64 KiB + 22 bytes.
    let tail_start = bytes.len().saturating_sub(65_557);
    let eocd = (tail_start..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| bytes[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or_else(|| bad(file, "not a zip archive (no end-of-central-directory record): is it a complete PyTorch .bin?"))?;
    let mut count = u16_at(eocd + 10)?;
    let mut cd = u32_at(eocd + 16)?;
    // Zip64: the record and locator precede the EOCD.
    if count == 0xffff || cd == 0xffff_ffff {
        let loc = eocd.checked_sub(20).ok_or_else(|| bad(file, "bad zip64 locator"))?;
        let rec = u32_at(loc + 8)? as usize;
        let read64 = |o: usize| -> Result<usize> {
            bytes.get(o..o + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize).ok_or_else(|| bad(file, "truncated zip64"))
        };
        count = read64(rec + 32)?;
        cd = read64(rec + 48)?;
    }
    let mut out = HashMap::new();
    let mut p = cd;
    for _ in 0..count {
        if bytes.get(p..p + 4) != Some(&[0x50, 0x4b, 0x01, 0x02]) {
            return Err(bad(file, "corrupt zip central directory"));
        }
        let method = u16_at(p + 10)?;
        let mut csize = u32_at(p + 20)?;
        let name_len = u16_at(p + 28)?;
        let extra_len = u16_at(p + 30)?;
        let comment_len = u16_at(p + 32)?;
        let mut local = u32_at(p + 42)?;
        let name = String::from_utf8_lossy(bytes.get(p + 46..p + 46 + name_len).ok_or_else(|| bad(file, "truncated zip"))?).into_owned();
        // Zip64 extra field: sizes/offset that overflowed 32 bits.
        let mut e = p + 46 + name_len;
        let e_end = e + extra_len;
        while e + 4 <= e_end {
            let id = u16_at(e)?;
            let len = u16_at(e + 2)?;
            if id == 1 {
                let mut q = e + 4;
                let mut next = || -> Result<usize> {
                    let v = bytes.get(q..q + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize).ok_or_else(|| bad(file, "truncated zip64 extra"));
                    q += 8;
                    v
                };
                if u32_at(p + 24)? == 0xffff_ffff {
                    next()?;
                }
                if csize == 0xffff_ffff {
                    csize = next()?;
                }
                if local == 0xffff_ffff {
                    local = next()?;
                }
            }
            e += 4 + len;
        }
        if method != 0 {
            return Err(bad(file, format!("zip entry {name} is compressed (method {method}); torch.save writes stored entries")));
        }
        let lname = u16_at(local + 26)?;
        let lextra = u16_at(local + 28)?;
        let start = local + 30 + lname + lextra;
        if start + csize > bytes.len() {
            return Err(bad(file, format!("truncated: zip entry {name} runs past the end of the file")));
        }
        out.insert(name, start..start + csize);
        p += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}

/// Pickle values the interpreter builds.
#[derive(Clone, Debug)]
enum Value {
    None,
    Bool,
    Int(i64),
    Float,
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String),
    /// A storage reference: (dtype, key).
    Storage(StoredDType, String),
    /// A rebuilt tensor: storage, element offset, shape, strides.
    Tensor { dtype: StoredDType, key: String, offset: usize, shape: Vec<usize>, stride: Vec<usize> },
    Mark,
    /// A call of an unsupported global, kept opaque.
    Opaque,
}

fn storage_dtype(name: &str) -> Option<StoredDType> {
    Some(match name.rsplit('.').next()? {
        "FloatStorage" => StoredDType::F32,
        "HalfStorage" => StoredDType::F16,
        "BFloat16Storage" => StoredDType::BF16,
        "DoubleStorage" => StoredDType::F64,
        "LongStorage" => StoredDType::I64,
        "IntStorage" => StoredDType::I32,
        "ByteStorage" => StoredDType::U8,
        "BoolStorage" => StoredDType::Bool,
        _ => return None,
    })
}

fn as_usizes(v: &Value) -> Option<Vec<usize>> {
    match v {
        Value::Tuple(items) | Value::List(items) => {
            items.iter().map(|x| if let Value::Int(i) = x { usize::try_from(*i).ok() } else { None }).collect()
        }
        _ => None,
    }
}

fn call(func: Value, args: Value) -> Value {
    let Value::Global(name) = func else { return Value::Opaque };
    let Value::Tuple(args) = args else { return Value::Opaque };
    match name.as_str() {
        "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => {
            let (Some(Value::Storage(dtype, key)), Some(Value::Int(offset))) = (args.first(), args.get(1)) else {
                return Value::Opaque;
            };
            match (args.get(2).and_then(as_usizes), args.get(3).and_then(as_usizes)) {
                (Some(shape), Some(stride)) => {
                    Value::Tensor { dtype: *dtype, key: key.clone(), offset: *offset as usize, shape, stride }
                }
                _ => Value::Opaque,
            }
        }
        "collections.OrderedDict" => Value::Dict(Vec::new()),
        _ => Value::Opaque,
    }
}

/// Runs the pickle program and returns the unpickled value.
fn unpickle(data: &[u8], file: &str) -> Result<Value> {
    let mut stack: Vec<Value> = Vec::new();
    let mut memo: HashMap<usize, Value> = HashMap::new();
    let mut p = 0usize;
    let err = |m: &str| bad(file, format!("data.pkl: {m}"));
    macro_rules! take {
        ($n:expr) => {{
            let n = $n;
            let s = data.get(p..p + n).ok_or_else(|| err("truncated pickle"))?;
            p += n;
            s
        }};
    }
    let pop_mark = |stack: &mut Vec<Value>| -> Result<Vec<Value>> {
        let at = stack.iter().rposition(|v| matches!(v, Value::Mark)).ok_or_else(|| err("MARK missing"))?;
        let items = stack.split_off(at + 1);
        stack.pop();
        Ok(items)
    };
    loop {
        let op = *take!(1).first().expect("one byte");
        match op {
            0x80 => {
                take!(1);
            } // PROTO
            0x95 => {
                take!(8);
            } // FRAME
            b'.' => return stack.pop().ok_or_else(|| err("empty stack at STOP")),
            b'(' => stack.push(Value::Mark),
            b'}' => stack.push(Value::Dict(Vec::new())),
            b']' => stack.push(Value::List(Vec::new())),
            b')' => stack.push(Value::Tuple(Vec::new())),
            b'N' => stack.push(Value::None),
            0x88 | 0x89 => stack.push(Value::Bool),
            b'K' => stack.push(Value::Int(take!(1)[0] as i64)),
            b'M' => {
                let b = take!(2);
                stack.push(Value::Int(u16::from_le_bytes([b[0], b[1]]) as i64))
            }
            b'J' => {
                let b = take!(4);
                stack.push(Value::Int(i32::from_le_bytes(b.try_into().unwrap()) as i64))
            }
            0x8a => {
                let n = take!(1)[0] as usize;
                let b = take!(n);
                let mut v: i64 = 0;
                for (i, &x) in b.iter().enumerate().take(8) {
                    v |= (x as i64) << (8 * i);
                }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(Value::Int(v))
            }
            b'G' => {
                take!(8);
                stack.push(Value::Float)
            }
            b'X' => {
                let n = u32::from_le_bytes(take!(4).try_into().unwrap()) as usize;
                stack.push(Value::Str(String::from_utf8_lossy(take!(n)).into_owned()))
            }
            0x8c => {
                let n = take!(1)[0] as usize;
                stack.push(Value::Str(String::from_utf8_lossy(take!(n)).into_owned()))
            }
            b'c' => {
                let mut line = || -> Result<String> {
                    let end = data[p..].iter().position(|&c| c == b'\n').ok_or_else(|| err("unterminated GLOBAL"))?;
                    let s = String::from_utf8_lossy(&data[p..p + end]).into_owned();
                    p += end + 1;
                    Ok(s)
                };
                let module = line()?;
                let name = line()?;
                stack.push(Value::Global(format!("{module}.{name}")))
            }
            0x93 => {
                // STACK_GLOBAL
                let name = stack.pop();
                let module = stack.pop();
                match (module, name) {
                    (Some(Value::Str(m)), Some(Value::Str(n))) => stack.push(Value::Global(format!("{m}.{n}"))),
                    _ => return Err(err("bad STACK_GLOBAL")),
                }
            }
            b'q' => {
                let i = take!(1)[0] as usize;
                memo.insert(i, stack.last().cloned().ok_or_else(|| err("BINPUT on empty stack"))?);
            }
            b'r' => {
                let i = u32::from_le_bytes(take!(4).try_into().unwrap()) as usize;
                memo.insert(i, stack.last().cloned().ok_or_else(|| err("LONG_BINPUT on empty stack"))?);
            }
            0x94 => {
                let i = memo.len();
                memo.insert(i, stack.last().cloned().ok_or_else(|| err("MEMOIZE on empty stack"))?);
            }
            b'h' => {
                let i = take!(1)[0] as usize;
                stack.push(memo.get(&i).cloned().ok_or_else(|| err("BINGET of an unknown memo"))?)
            }
            b'j' => {
                let i = u32::from_le_bytes(take!(4).try_into().unwrap()) as usize;
                stack.push(memo.get(&i).cloned().ok_or_else(|| err("LONG_BINGET of an unknown memo"))?)
            }
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Value::Tuple(items))
            }
            0x85 | 0x86 | 0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return Err(err("TUPLE on a short stack"));
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(Value::Tuple(items))
            }
            b'a' => {
                let v = stack.pop().ok_or_else(|| err("APPEND on empty stack"))?;
                if let Some(Value::List(l)) = stack.last_mut() {
                    l.push(v)
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack)?;
                if let Some(Value::List(l)) = stack.last_mut() {
                    l.extend(items)
                }
            }
            b's' => {
                let v = stack.pop().ok_or_else(|| err("SETITEM on empty stack"))?;
                let k = stack.pop().ok_or_else(|| err("SETITEM on empty stack"))?;
                if let Some(Value::Dict(d)) = stack.last_mut() {
                    d.push((k, v))
                }
            }
            b'u' => {
                let items = pop_mark(&mut stack)?;
                if let Some(Value::Dict(d)) = stack.last_mut() {
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        d.push((k, v));
                    }
                }
            }
            b'R' => {
                let args = stack.pop().ok_or_else(|| err("REDUCE on empty stack"))?;
                let func = stack.pop().ok_or_else(|| err("REDUCE on empty stack"))?;
                stack.push(call(func, args))
            }
            0x81 => {
                // NEWOBJ
                let _args = stack.pop();
                let _cls = stack.pop();
                stack.push(Value::Opaque)
            }
            b'b' => {
                // BUILD: state applied to the object; state dicts' metadata is irrelevant.
                stack.pop();
            }
            b'Q' => {
                // BINPERSID: ('storage', storage_type, key, location, numel)
                let pid = stack.pop().ok_or_else(|| err("BINPERSID on empty stack"))?;
                let Value::Tuple(t) = pid else { return Err(err("persistent id is not a tuple")) };
                match (t.get(1), t.get(2)) {
                    (Some(Value::Global(ty)), Some(Value::Str(key))) => {
                        let dtype = storage_dtype(ty).ok_or_else(|| err(&format!("unsupported storage type {ty}")))?;
                        stack.push(Value::Storage(dtype, key.clone()))
                    }
                    _ => return Err(err("unexpected persistent id")),
                }
            }
            b'0' => {
                stack.pop();
            }
            other => return Err(err(&format!("unsupported pickle opcode 0x{other:02x}"))),
        }
    }
}

/// A tensor of a `.bin` checkpoint: its dtype, shape and byte range within the file.
#[derive(Clone, Debug)]
pub struct BinTensor {
    /// Element type.
    pub dtype: StoredDType,
    /// Shape.
    pub shape: Vec<usize>,
    /// Byte range within the `.bin` file.
    pub range: std::ops::Range<usize>,
}

/// Lists the tensors of a PyTorch state-dict `.bin` file (name → location in `bytes`).
pub fn read_state_dict(bytes: &[u8], file: &str) -> Result<BTreeMap<String, BinTensor>> {
    let entries = zip_entries(bytes, file)?;
    let (pkl_name, pkl) = entries
        .iter()
        .find(|(n, _)| n.ends_with("data.pkl"))
        .ok_or_else(|| bad(file, "no data.pkl in the archive: not a torch.save file"))?;
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    let root = unpickle(&bytes[pkl.clone()], file)?;
    let Value::Dict(items) = root else { return Err(bad(file, "the checkpoint is not a state dict")) };
    let mut out = BTreeMap::new();
    for (k, v) in items {
        let (Value::Str(name), Value::Tensor { dtype, key, offset, shape, stride }) = (k, v) else { continue };
        // Contiguous row-major strides only.
        let mut expect = 1usize;
        let contiguous = shape.iter().zip(&stride).rev().all(|(&d, &s)| {
            let ok = d == 1 || s == expect;
            expect *= d;
            ok
        });
        if !contiguous {
            return Err(bad(file, format!("tensor {name} is not contiguous (strides {stride:?})")));
        }
        let storage = entries
            .get(&format!("{prefix}data/{key}"))
            .ok_or_else(|| bad(file, format!("storage {key} of tensor {name} is missing: truncated file?")))?;
        let numel: usize = shape.iter().product();
        let start = storage.start + offset * dtype.size();
        let end = start + numel * dtype.size();
        if end > storage.end {
            return Err(bad(file, format!("tensor {name} runs past its storage")));
        }
        out.insert(name, BinTensor { dtype, shape, range: start..end });
    }
    Ok(out)
}
