//! Mutable views of parameter tensors, handed out by the models' visitors under their
//! checkpoint keys (training reads and replaces parameters through them).

use burn::tensor::Tensor;

/// A mutable view of one parameter tensor, handed out by the models' `visit_*params` visitors
/// under its checkpoint key (training reads and replaces parameters through it).
pub enum ParamMut<'a> {
    /// A vector (`bias`, norm `weight`, `learnable_weights`).
    Vector(&'a mut Tensor<1>),
    /// A matrix (Linear `weight`).
    Matrix(&'a mut Tensor<2>),
}

impl ParamMut<'_> {
    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        match self {
            ParamMut::Vector(t) => t.dims().to_vec(),
            ParamMut::Matrix(t) => t.dims().to_vec(),
        }
    }

    /// The values as one flat vector (a clone of the tensor, same autodiff lineage).
    pub fn flat(&self) -> Tensor<1> {
        match self {
            ParamMut::Vector(t) => (*t).clone(),
            ParamMut::Matrix(t) => {
                let n = t.dims().iter().product::<usize>();
                (*t).clone().reshape([n])
            }
        }
    }

    /// Replaces the values by `flat` (same number of elements), reshaped to the parameter's shape.
    pub fn set_flat(&mut self, flat: Tensor<1>) {
        match self {
            ParamMut::Vector(t) => **t = flat,
            ParamMut::Matrix(t) => {
                let dims = t.dims();
                **t = flat.reshape(dims);
            }
        }
    }

    /// The parameter's gradient in `grads`, flat; `None` when it received none.
    #[cfg(feature = "native")]
    pub fn grad_flat(&self, grads: &burn::tensor::Gradients) -> Option<Tensor<1>> {
        self.leaf().grad_flat(grads)
    }

    /// Drops the autodiff association (a plain tensor with the same values).
    #[cfg(feature = "native")]
    pub fn make_plain(&mut self) {
        match self {
            ParamMut::Vector(t) => **t = (*t).clone().inner(),
            ParamMut::Matrix(t) => **t = (*t).clone().inner(),
        }
    }

    /// A handle on the tensor itself (a clone: the same autodiff leaf), for reading its
    /// gradient later without borrowing the model.
    pub fn leaf(&self) -> ParamLeaf {
        match self {
            ParamMut::Vector(t) => ParamLeaf::Vector((*t).clone()),
            ParamMut::Matrix(t) => ParamLeaf::Matrix((*t).clone()),
        }
    }

    /// Makes the tensor a trainable leaf (autodiff on, gradient retained).
    #[cfg(feature = "native")]
    pub fn make_trainable(&mut self) {
        self.make_trainable_with(false);
    }

    /// [`ParamMut::make_trainable`], with burn's balanced gradient checkpointing when
    /// `checkpointing` (every operation the leaf reaches then recomputes its memory-bound
    /// intermediates in the backward pass instead of keeping them).
    #[cfg(feature = "native")]
    pub fn make_trainable_with(&mut self, checkpointing: bool) {
        use burn::tensor::GradientCheckpointingStrategy as S;
        let strategy = if checkpointing { S::Balanced } else { S::Disabled };
        match self {
            ParamMut::Vector(t) => **t = (*t).clone().inner().autodiff().with_gradient_checkpointing_strategy(strategy).require_grad(),
            ParamMut::Matrix(t) => **t = (*t).clone().inner().autodiff().with_gradient_checkpointing_strategy(strategy).require_grad(),
        }
    }
}

/// A parameter tensor held outside the model (see [`ParamMut::leaf`]).
#[derive(Clone, Debug)]
pub enum ParamLeaf {
    /// A vector.
    Vector(Tensor<1>),
    /// A matrix.
    Matrix(Tensor<2>),
}

impl ParamLeaf {
    /// The leaf's gradient in `grads`, flat; `None` when it received none.
    #[cfg(feature = "native")]
    pub fn grad_flat(&self, grads: &burn::tensor::Gradients) -> Option<Tensor<1>> {
        match self {
            ParamLeaf::Vector(t) => t.grad(grads),
            ParamLeaf::Matrix(t) => {
                let n = t.dims().iter().product::<usize>();
                t.grad(grads).map(|g| g.reshape([n]))
            }
        }
    }
}
