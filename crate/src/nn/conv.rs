//! `torch.nn.Conv2d`, on one tensor or on channel blocks ([`super::Blocks`]).

use burn::tensor::Tensor;

use super::{Blocks, Vars};
use crate::kernels::{self, Kernels};

/// `torch.nn.Conv2d` with square kernel, stride and padding.
#[derive(Clone, Debug)]
pub struct Conv2d {
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: usize,
    padding: usize,
    kernels: Kernels,
}

impl Conv2d {
    /// Loads `weight` `[out, in, k, k]` and `bias` `[out]`.
    pub fn load(vb: &Vars, in_ch: usize, out_ch: usize, kernel: usize, stride: usize, padding: usize) -> Self {
        Self {
            weight: kernels::gemm::conv_weight(vb.kernels(), vb.take("weight", [out_ch, in_ch, kernel, kernel])),
            bias: Some(vb.take("bias", [out_ch])),
            stride,
            padding,
            kernels: vb.kernels(),
        }
    }

    /// Loads `weight` `[out, in, k, k]` of a convolution without bias.
    pub fn load_no_bias(vb: &Vars, in_ch: usize, out_ch: usize, kernel: usize, stride: usize, padding: usize) -> Self {
        let weight = kernels::gemm::conv_weight(vb.kernels(), vb.take("weight", [out_ch, in_ch, kernel, kernel]));
        Self { weight, bias: None, stride, padding, kernels: vb.kernels() }
    }

    /// Applies the convolution to `[B, C, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        kernels::gemm::conv2d(self.kernels, x, &self.weight, self.bias.as_ref(), self.stride, self.padding)
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.weight.dims()[0]
    }

    /// The convolution of a blocked map into `out_blocks` equal output blocks: each output
    /// block sums the partial convolutions of every input block with its slice of the weight,
    /// then adds its slice of the bias.
    pub fn forward_blocks(&self, x: &[Tensor<4>], out_blocks: usize) -> Blocks {
        if x.len() == 1 && out_blocks <= 1 {
            return vec![self.forward(x[0].clone())];
        }
        let cout = self.out_channels();
        let size = cout / out_blocks.max(1);
        let mut out = Vec::with_capacity(out_blocks);
        for o in 0..out_blocks.max(1) {
            let mut start = 0;
            let mut acc: Option<Tensor<4>> = None;
            for part in x {
                let c = part.dims()[1];
                let w = self.weight.clone().narrow(0, o * size, size).narrow(1, start, c);
                let y = kernels::gemm::conv2d(self.kernels, part.clone(), &w, None, self.stride, self.padding);
                acc = Some(match acc {
                    Some(a) => a + y,
                    None => y,
                });
                start += c;
            }
            let mut y = acc.expect("at least one input block");
            if let Some(b) = &self.bias {
                y = y + b.clone().narrow(0, o * size, size).reshape([1, size, 1, 1]);
            }
            out.push(y);
        }
        out
    }
}
