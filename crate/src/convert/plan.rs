//! The converter's plan: every input tensor routed to its component ([`Source`]), and the
//! output shards each component's tensors are grouped into ([`plan_shards`]), before any byte
//! is converted.

use std::ops::Range;

use super::{ConvertSettings, MAX_TENSOR_BYTES};
use crate::weights::components::Component;
use crate::weights::safetensors::StoredDType;
use crate::Result;

/// Where an input tensor's bytes are.
pub(super) enum Data {
    /// A byte range of an opened safetensors file (`files[index]`).
    Range(usize, Range<u64>),
    /// A tensor of a PyTorch checkpoint.
    Torch(Box<dyn Fn() -> Result<Vec<u8>>>),
}

/// A tensor of an input file, routed to its component.
pub(super) struct Source {
    pub(super) kind: &'static str,
    pub(super) component: Component,
    pub(super) file: String,
    pub(super) name: String,
    pub(super) dtype: StoredDType,
    pub(super) shape: Vec<usize>,
    pub(super) data: Data,
}

impl Source {
    pub(super) fn byte_len(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype.size()
    }
}

/// A tensor (or a block of rows of one) of an output shard.
pub(super) struct Piece {
    pub(super) source: usize,
    pub(super) name: String,
    pub(super) shape: Vec<usize>,
    pub(super) to: StoredDType,
    pub(super) rows: Option<Range<usize>>,
}

/// An output shard before it is made.
pub(super) struct Planned {
    pub(super) component: Component,
    pub(super) file: String,
    pub(super) pieces: Vec<Piece>,
}

/// Groups every component's tensors into shards of at most `shard_bytes` (a tensor larger than
/// that gets a shard of its own; one over [`MAX_TENSOR_BYTES`] is split into row blocks).
pub(super) fn plan_shards(sources: &[Source], settings: &ConvertSettings, components: &[Component]) -> Vec<Planned> {
    let mut plan = Vec::new();
    for &component in components {
        if component == Component::Tokenizer {
            plan.push(Planned { component, file: "tokenizer.json".into(), pieces: Vec::new() });
            continue;
        }
        let mut pieces = Vec::new();
        for (i, s) in sources.iter().enumerate().filter(|(_, s)| s.component == component) {
            let to = if s.name.contains("learnable_weights") || !s.dtype.is_float() { s.dtype.max_f32() } else { settings.dtype };
            let out_bytes = s.shape.iter().product::<usize>() * to.size();
            if out_bytes > MAX_TENSOR_BYTES && s.shape.len() > 1 {
                let rows = s.shape[0];
                let per = (MAX_TENSOR_BYTES / (out_bytes / rows)).max(1);
                for (k, start) in (0..rows).step_by(per).enumerate() {
                    let n = per.min(rows - start);
                    let mut shape = s.shape.clone();
                    shape[0] = n;
                    pieces.push(Piece { source: i, name: format!("{}#{k}", s.name), shape, to, rows: Some(start..start + n) });
                }
            } else {
                pieces.push(Piece { source: i, name: s.name.clone(), shape: s.shape.clone(), to, rows: None });
            }
        }
        let mut shard: Vec<Piece> = Vec::new();
        let mut shard_bytes = 0;
        let mut index = 0;
        let mut flush = |shard: &mut Vec<Piece>, shard_bytes: &mut usize| {
            if !shard.is_empty() {
                plan.push(Planned { component, file: format!("{component}-{index:05}.safetensors"), pieces: std::mem::take(shard) });
                index += 1;
                *shard_bytes = 0;
            }
        };
        for p in pieces {
            let n = p.shape.iter().product::<usize>() * p.to.size();
            if !shard.is_empty() && shard_bytes + n > settings.shard_bytes {
                flush(&mut shard, &mut shard_bytes);
            }
            shard_bytes += n;
            shard.push(p);
        }
        flush(&mut shard, &mut shard_bytes);
    }
    plan
}
