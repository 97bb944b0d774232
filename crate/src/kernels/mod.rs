//! Hand-written WGSL kernels (the `.wgsl` files in `shaders/`) and the switch that picks them.
//!
//! Every kernel has a reference implementation in plain burn ops ([`crate::ops`]) that it is
//! tested against (`tests/tests/kernels.rs`, f32 and f16). A kernel runs only on a wgpu
//! tensor whose shape it supports; anything else (the CPU reference device, an unsupported
//! shape) takes the reference path, so models call one function and stay device-agnostic.

pub mod check;
pub mod epilogue;
pub mod flash_attention;
pub mod gemm;
pub mod geglu;
pub mod norm;
pub mod tune;

use burn::backend::wgpu::{CubeTensor, KernelSource, SourceKernel, SourceTemplate, into_contiguous};
use burn::backend::{DispatchDevice, Wgpu};
use burn::tensor::{DType, Shape, Tensor};
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use cubecl::server::{KernelArguments, MetadataBindingInfo};
use cubecl::{CubeCount, CubeDim};
use cubecl::ir::attributes::BufferIOAttr;

/// Which implementation the numeric building blocks use. Chosen when a model is built
/// ([`crate::loader::ModelBuilder::set_kernels`], through [`crate::nn::Vars`]) and carried by
/// the layers that use it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kernels {
    /// The WGSL kernels of `shaders/` on wgpu devices (reference ops elsewhere); each Linear
    /// layer and convolution runs what the device's kept tuning chose for its shape
    /// ([`tune`]), burn's matmul and convolution where nothing was tuned, but an f16
    /// convolution the family's heuristic tile (burn's direct convolution sums in f16,
    /// [`gemm::GemmShape::burn_sums_in_f16`]).
    #[default]
    Wgsl,
    /// [`Kernels::Wgsl`] with every Linear layer and convolution the family supports on
    /// `shaders/gemm.wgsl`: the kept tuned tile, else [`gemm::GemmShape::heuristic`].
    WgslGemm,
    /// [`Kernels::Wgsl`] with one GEMM implementation forced for every shape the family supports
    /// (`burn`, or a tile name such as `128x64k16t256/s2`): the sweep and the per-choice parity
    /// runs.
    Forced(gemm::GemmImpl),
    /// Plain burn ops everywhere (the oracle; also the "before" of the benchmark).
    Reference,
}

impl Kernels {
    /// Parses `wgsl`, `wgsl-gemm`, `reference` or a GEMM implementation's name (`burn`,
    /// `128x64k16t256`, `128x64k16t256/s2`: forced) (CLI and bench option values).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "wgsl" => Some(Self::Wgsl),
            "wgsl-gemm" => Some(Self::WgslGemm),
            "reference" => Some(Self::Reference),
            other => gemm::GemmImpl::parse(other).map(Self::Forced),
        }
    }

    /// The option value naming this choice.
    pub fn name(self) -> String {
        match self {
            Self::Wgsl => "wgsl".into(),
            Self::WgslGemm => "wgsl-gemm".into(),
            Self::Forced(imp) => imp.name(),
            Self::Reference => "reference".into(),
        }
    }

    /// Whether the WGSL kernels of `shaders/` run (on wgpu devices).
    pub fn wgsl(self) -> bool {
        !matches!(self, Self::Reference)
    }
}

/// The WGSL storage type and `enable` line for a float dtype the kernels support.
fn wgsl_elem(dtype: DType) -> Option<(&'static str, &'static str)> {
    match dtype {
        DType::F32 => Some(("f32", "")),
        DType::F16 => Some(("f16", "enable f16;")),
        _ => None,
    }
}

/// A kernel of `shaders/` whose template values are its storage type and `{{ threads }}` (one
/// compiled variant per dtype): declares its type (launch counts name it), its `KernelSource`
/// and `source(dtype)`, the WGSL the device receives. Used by `norm.rs` and `geglu.rs`.
macro_rules! threads_kernel {
    ($(#[$doc:meta])* $name:ident, $file:literal, $threads:expr) => {
        $(#[$doc])*
        struct $name {
            dtype: DType,
            threads: u32,
        }

        impl KernelSource for $name {
            fn source(&self) -> SourceTemplate {
                super::template(include_str!(concat!("../../../shaders/", $file)), self.dtype).register("threads", self.threads.to_string())
            }

            fn id(&self) -> KernelId {
                KernelId::new::<Self>().info((format!("{:?}", self.dtype), self.threads))
            }

            fn lang(&self) -> &'static str {
                "wgsl"
            }
        }

        /// The WGSL source of this file's kernel in `dtype` at its default workgroup size, as
        /// the device receives it.
        pub(crate) fn source(dtype: DType) -> String {
            $name { dtype, threads: $threads }.source().complete()
        }
    };
}
use threads_kernel;

/// The template of a `shaders/` file with its storage type filled in (`{{ elem }}` and the
/// `{{ enable }}` line); each launcher registers its own remaining values.
fn template(source: &str, dtype: DType) -> SourceTemplate {
    let (elem, enable) = wgsl_elem(dtype).unwrap_or(("f32", ""));
    SourceTemplate::new(source).register("enable", enable).register("elem", elem)
}

/// Every kernel of `shaders/` as its launcher renders it for `dtype` (flash attention at each
/// head dimension `head_dims` lists, its subgroup variant at every round size), named: what the device compiles, for offline validation
/// (`tests/shaders.rs` runs naga on each) and inspection.
pub fn rendered_sources(dtype: DType, head_dims: &[usize]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = head_dims
        .iter()
        .map(|&d| (format!("flash_attention.wgsl d{d} {dtype:?}"), flash_attention::source(dtype, d, None)))
        .collect();
    out.extend(head_dims.iter().flat_map(|&d| {
        flash_attention::subgroup_steps(d)
            .map(move |sg| (format!("flash_attention.wgsl (subgroup) d{d} sg{sg} {dtype:?}"), flash_attention::source(dtype, d, Some(sg))))
    }));
    out.push((format!("norm.wgsl {dtype:?}"), norm::source(dtype)));
    out.push((format!("norm.wgsl {dtype:?} 1 thread"), norm::source_with_threads(dtype, 1)));
    out.push((format!("geglu.wgsl {dtype:?}"), geglu::source(dtype)));
    out.push((format!("epilogue.wgsl {dtype:?}"), epilogue::source(dtype)));
    out.extend(gemm::sources(dtype));
    out
}

/// The smallest subgroup size of the device `x` lives on, when it runs subgroup kernels.
fn subgroup_min(x: &CubeTensor) -> Option<u32> {
    crate::device::recorded_subgroups(x.device.to_id())
}

/// The cubecl tensor behind `x`, in whatever layout it has, when it lives on a wgpu device
/// with a dtype the kernels support; `None` otherwise.
fn on_wgpu_strided<const D: usize>(x: &Tensor<D>) -> Option<CubeTensor> {
    if !matches!(x.device().as_dispatch(), DispatchDevice::Cube(_)) {
        return None;
    }
    wgsl_elem(x.dtype())?;
    x.clone().try_into_primitive::<Wgpu>().ok()
}

/// The contiguous cubecl tensor behind `x` when it lives on a wgpu device, `None` otherwise.
fn on_wgpu<const D: usize>(x: &Tensor<D>) -> Option<CubeTensor> {
    on_wgpu_strided(x).map(into_contiguous)
}

/// Whether `[B, C, H, W]` with these strides is stored channels-last (`[B, H, W, C]` in
/// memory without gaps), the layout burn's convolution writes. Strides of axes of size 1 do
/// not matter.
fn is_channels_last(shape: &[usize], strides: &[usize]) -> bool {
    let [b, c, h, w] = [shape[0], shape[1], shape[2], shape[3]];
    let want = [h * w * c, 1, w * c, c];
    (0..4).all(|i| shape[i] == 1 || strides[i] == want[i]) && b * c * h * w > 0
}

/// Words of the uniform parameter block the kernels of `shaders/` read: they declare
/// `var<uniform> params: array<vec4<u32>, 2>` (`gemm.wgsl`: 3), and the block is always this
/// long (a binding may be larger than what a shader declares).
pub const PARAM_WORDS: usize = 12;

/// Launches `kernel` over `count` workgroups with `inputs`, then `output`, bound in that order
/// (bindings 0, 1, …), and `params` (at most [`PARAM_WORDS`] u32) as the uniform after them —
/// cubecl's metadata buffer for externally compiled kernels, which lives in its own uniform
/// pool rather than among the tensors.
fn launch<K: KernelSource>(
    kernel: K,
    workgroup: CubeDim,
    count: (u32, u32, u32),
    inputs: &[&CubeTensor],
    output: &CubeTensor,
    params: &[u32],
) {
    debug_assert!(params.len() <= PARAM_WORDS);
    assert_no_aliasing(inputs.iter().copied().chain([output]));
    let mut words = [0u32; PARAM_WORDS];
    words[..params.len()].copy_from_slice(params);
    let info: Vec<u64> = words.chunks(2).map(|p| u64::from(p[0]) | (u64::from(p[1]) << 32)).collect();
    let mut args = KernelArguments::new();
    for input in inputs {
        args = args.with_buffer_io(input.handle.clone().binding(), BufferIOAttr::ReadOnly);
    }
    args = args
        .with_buffer_io(output.handle.clone().binding(), BufferIOAttr::ReadWrite)
        .with_info(MetadataBindingInfo::custom(info));
    output.client.launch(Box::new(SourceKernel::new(kernel, workgroup)), CubeCount::Static(count.0, count.1, count.2), args);
}

/// Panics when two of a dispatch's bindings overlap in memory (a programming error of a
/// launcher). Every binding of `shaders/` is a writable storage buffer, and WebGPU (Dawn)
/// rejects a dispatch whose writable bindings alias, which fails the page; wgpu natively does
/// not check it, so the native tests catch it here.
fn assert_no_aliasing<'a>(bindings: impl Iterator<Item = &'a CubeTensor>) {
    // A handle addresses [offset_start, size − offset_end) of its allocation.
    let ranges: Vec<_> = bindings
        .map(|t| {
            let h = &t.handle;
            let start = h.offset_start.unwrap_or(0);
            (h.memory.descriptor().id, start, h.size().saturating_sub(h.offset_end.unwrap_or(0)).max(start))
        })
        .collect();
    for (i, a) in ranges.iter().enumerate() {
        for b in &ranges[i + 1..] {
            assert!(
                a.0 != b.0 || a.2 <= b.1 || b.2 <= a.1,
                "a WGSL kernel binds overlapping memory twice (WebGPU refuses aliasing writable bindings)"
            );
        }
    }
}

/// An uninitialised contiguous output on `like`'s device.
fn empty_like(like: &CubeTensor, shape: Vec<usize>) -> CubeTensor {
    empty_like_dtype(like, shape, like.dtype)
}

/// An uninitialised contiguous tensor of `dtype` on `like`'s device.
fn empty_like_dtype(like: &CubeTensor, shape: Vec<usize>, dtype: DType) -> CubeTensor {
    empty_device_contiguous_dtype(like.client.clone(), like.device.clone(), Shape::from(shape), dtype)
}

/// A small uninitialised tensor to bind where a kernel's optional input is absent (the kernel
/// does not read it). An absent input must not reuse a present one: WebGPU (Dawn) refuses a
/// buffer range bound to two writable storage bindings of one dispatch ("writable storage
/// buffer binding aliasing"), and every binding here is read_write. Four elements: one vector
/// of the widest kernel.
fn placeholder(like: &CubeTensor) -> CubeTensor {
    empty_like(like, vec![4])
}

/// Wraps a cubecl result back into a dispatch tensor.
fn wrap<const D: usize>(x: CubeTensor) -> Tensor<D> {
    Tensor::from_primitive::<Wgpu>(x)
}

/// Splits a workgroup count over x and y so that neither exceeds WebGPU's default 65535.
fn grid(groups: usize) -> (u32, u32, u32) {
    let x = groups.min(65_535);
    (x as u32, groups.div_ceil(x.max(1)) as u32, 1)
}

/// Counts GPU kernel launches (dispatches) by kernel name while it is alive: the benchmark's
/// "dispatches per UNet step" and the tests' proof that a WGSL kernel really ran. Launches are
/// counted when issued, on every cubecl device of the process.
pub struct LaunchCounter {
    counts: std::sync::Arc<Counts>,
    _observation: cubecl::logging::LaunchObservation,
}

#[derive(Default)]
struct Counts(std::sync::Mutex<std::collections::BTreeMap<&'static str, usize>>);

impl cubecl::logging::LaunchObserver for Counts {
    fn launched(&self, kernel: &'static str) {
        if let Ok(mut counts) = self.0.lock() {
            *counts.entry(kernel).or_default() += 1;
        }
    }
}

impl LaunchCounter {
    /// Starts counting (replacing any other observer until this counter is dropped).
    pub fn start() -> Self {
        let counts = std::sync::Arc::new(Counts::default());
        let observation = cubecl::logging::LaunchObservation::new(counts.clone());
        Self { counts, _observation: observation }
    }

    /// Launches so far, by kernel name.
    pub fn counts(&self) -> std::collections::BTreeMap<&'static str, usize> {
        self.counts.0.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Total launches so far.
    pub fn total(&self) -> usize {
        self.counts().values().sum()
    }

    /// Launches so far of kernels whose name contains `part`.
    pub fn matching(&self, part: &str) -> usize {
        self.counts().iter().filter(|(k, _)| k.contains(part)).map(|(_, v)| v).sum()
    }
}
