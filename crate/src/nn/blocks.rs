//! Feature maps as consecutive channel blocks, so that no single tensor exceeds a device's
//! largest storage binding.

use burn::tensor::Tensor;

/// A feature map `[B, C, H, W]` held as consecutive channel blocks, so that no single tensor is
/// larger than a device's largest storage binding (f32 VAE at 512 px under WebGPU's default
/// 128 MiB). Convolutions sum their per-block partial products; GroupNorm normalises each block
/// on its own, which is exact because blocks hold whole groups. With one block every layer runs
/// exactly its unsplit computation.
pub type Blocks = Vec<Tensor<4>>;

/// The fewest channel blocks for a `[b, c, h, w]` map of `elem`-byte values under `limit` bytes
/// per tensor: `n` divides `c`, each block holds whole groups of `align` channels, and a block
/// fits the limit (1 without a limit; the most blocks possible when even one group is too big).
pub fn channel_blocks(dims: [usize; 4], elem: usize, align: usize, limit: Option<u64>) -> usize {
    let [b, c, h, w] = dims;
    let Some(limit) = limit else { return 1 };
    let bytes = (b * c * h * w * elem) as u64;
    let align = align.max(1);
    let mut best = 1;
    for n in 1..=c {
        if c % n != 0 || (c / n) % align != 0 {
            continue;
        }
        best = n;
        if bytes.div_ceil(n as u64) <= limit {
            return n;
        }
    }
    best
}

/// Channel counts of blocks.
fn block_channels(x: &[Tensor<4>]) -> Vec<usize> {
    x.iter().map(|t| t.dims()[1]).collect()
}

/// `x` re-cut into `n` equal channel blocks (views and concatenations of the given blocks; no
/// tensor larger than a new block is made).
pub fn reblock(x: Blocks, n: usize) -> Blocks {
    let c: usize = block_channels(&x).iter().sum();
    if x.len() == n || n == 0 || c % n != 0 {
        return x;
    }
    let size = c / n;
    let mut out = Vec::with_capacity(n);
    let mut pieces: Vec<Tensor<4>> = Vec::new();
    let mut have = 0;
    for block in x {
        let bc = block.dims()[1];
        let mut start = 0;
        while start < bc {
            let take = (size - have).min(bc - start);
            pieces.push(if start == 0 && take == bc { block.clone() } else { block.clone().narrow(1, start, take) });
            have += take;
            start += take;
            if have == size {
                let piece = if pieces.len() == 1 { pieces.pop().expect("one piece") } else { Tensor::cat(std::mem::take(&mut pieces), 1) };
                out.push(piece);
                have = 0;
            }
        }
    }
    out
}

/// The blocks joined into one tensor (only where the whole map fits a binding).
pub fn join_blocks(mut x: Blocks) -> Tensor<4> {
    if x.len() == 1 { x.pop().expect("one block") } else { Tensor::cat(x, 1) }
}
