//! EZIGen's subject-feature plumbing, passed to the UNet as explicit arguments: capture of
//! the reference UNet's `norm1` outputs and injection into the main UNet's adapters.

use burn::tensor::Tensor;

/// The 16 (for SD) captured `norm1` outputs of a reference pass, `[B, HW, C]` each, in the
/// UNet's traversal order of its transformer blocks (down, mid, up).
#[derive(Clone, Debug, Default)]
pub struct FeatureBank {
    /// Captured tensors, by block index k.
    pub features: Vec<Tensor<3>>,
}

impl FeatureBank {
    /// Several banks side by side (several photos of one subject): per block, the tokens of
    /// every bank in order along the token axis (a single bank is returned as it is).
    pub fn concat_tokens(mut banks: Vec<FeatureBank>) -> FeatureBank {
        if banks.len() == 1 {
            return banks.pop().expect("one bank");
        }
        let blocks = banks.first().map(|b| b.features.len()).unwrap_or(0);
        let features = (0..blocks).map(|k| Tensor::cat(banks.iter().map(|b| b.features[k].clone()).collect(), 1)).collect();
        FeatureBank { features }
    }
}

/// One block's subject tokens as its adapter attends to them: the adapter's key and value
/// projections of `w_k · s_k`, `[B, M, C]` each, or `[1, M, C]` shared by every batch element. The adapter attends to
/// `[its own tokens; these]`; the subject part does not change during a job, so it is
/// projected once instead of at every denoising step.
#[derive(Clone, Debug)]
pub struct SubjectKv {
    /// `to_k(w_k · s_k)`.
    pub k: Tensor<3>,
    /// `to_v(w_k · s_k)`.
    pub v: Tensor<3>,
}

/// Subject features ready for injection: per block, the adapter's keys and values of
/// `w_k · s_k`, of batch 1 (shared by both CFG branches, which get identical features) or of
/// the main pass's batch.
/// Built once per job by [`super::UNet2DConditionModel::subject_features`].
#[derive(Clone, Debug)]
pub struct SubjectFeatures {
    pub(super) per_block: Vec<SubjectKv>,
}

impl SubjectFeatures {
    /// Number of blocks covered.
    pub fn len(&self) -> usize {
        self.per_block.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.per_block.is_empty()
    }
}

/// How one UNet forward pass interacts with subject features.
pub enum RefMode<'a> {
    /// Stock Stable Diffusion: nothing captured, adapters inactive (exactly the stock block).
    Off,
    /// Reference pass: record every block's `norm1` output into the bank.
    Capture(&'a mut FeatureBank),
    /// Main pass with the adapters active on these features.
    Inject(&'a SubjectFeatures),
}

/// Walks the transformer blocks in traversal order during one forward pass.
pub struct RefCursor<'m, 'a> {
    mode: &'m mut RefMode<'a>,
    index: usize,
}

impl<'m, 'a> RefCursor<'m, 'a> {
    /// Starts at block 0.
    pub fn new(mode: &'m mut RefMode<'a>) -> Self {
        Self { mode, index: 0 }
    }

    /// Called by block k with its `norm1` output: records it (capture) or returns the
    /// block's subject keys and values (inject).
    pub fn visit(&mut self, norm1_out: &Tensor<3>) -> Option<SubjectKv> {
        let k = self.index;
        self.index += 1;
        match &mut *self.mode {
            RefMode::Off => None,
            RefMode::Capture(bank) => {
                bank.features.push(norm1_out.clone());
                None
            }
            RefMode::Inject(subject) => subject.per_block.get(k).cloned(),
        }
    }
}
