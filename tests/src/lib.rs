//! Shared helpers of the ezigen test suite: devices, fixture loading and closeness checks.
//!
//! Fixtures (`tests/fixtures/`) are produced by `tests/gen/make_fixtures.py` from diffusers
//! 0.30.1 / transformers on tiny random-weight models; see `tests/gen/README.md`.

use std::path::{Path, PathBuf};

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use ezigen::weights::safetensors::{SafetensorsHeader, StoredDType, float_data, int_values};
use ezigen::weights::{Loader, WeightStore};

pub mod oracle;
pub mod parity;

/// The CPU reference device.
pub fn cpu() -> Device {
    ezigen::device::cpu()
}

/// The wgpu device (lavapipe on CI), created once per test process.
pub fn wgpu() -> Device {
    static DEVICE: std::sync::OnceLock<Device> = std::sync::OnceLock::new();
    DEVICE
        .get_or_init(|| {
            let (device, report) =
                ezigen::device::init_wgpu().expect("a wgpu adapter (install mesa-vulkan-drivers)");
            eprintln!("wgpu adapter: {} ({}), shader-f16: {}", report.name, report.backend, report.shader_f16);
            device
        })
        .clone()
}

/// Whether the wgpu adapter runs f16 (`shader-f16`). Adapters without it (e.g. lavapipe on a
/// CPU without F16C/AVX, as under `GALLIUM_OVERRIDE_CPU_CAPS=sse4.1`) skip the f16 checks,
/// saying so, instead of failing: the app itself falls back to f32 there.
///
/// A skip is reported, not just passed ([`report_skip`]): `./build.sh test` lists every
/// skipped check after the run.
pub fn wgpu_has_f16() -> bool {
    let ok = wgpu().supports_dtype(DType::F16);
    if !ok {
        report_skip("its f16 checks (the wgpu adapter has no shader-f16)");
    }
    ok
}

/// Reports that the running test leaves out `what`: a line `SKIP <test>: <what>` (libtest names
/// the thread after the test) on stderr, and appended to the file `$EZIGEN_SKIP_LOG` when set,
/// since libtest hides the output of tests that pass.
pub fn report_skip(what: &str) {
    let test = std::thread::current().name().unwrap_or("a test").to_string();
    let line = format!("SKIP {test}: {what}");
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("EZIGEN_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// The float dtypes the wgpu adapter runs: f32, and f16 where it has `shader-f16`.
pub fn wgpu_dtypes() -> Vec<DType> {
    if wgpu_has_f16() { vec![DType::F32, DType::F16] } else { vec![DType::F32] }
}

/// The devices and dtypes every parity test runs on, with its element-wise tolerance.
pub fn targets(cpu_tol: f32, wgpu_tol: f32, f16_tol: f32) -> Vec<(&'static str, Device, DType, f32)> {
    let mut t = vec![("cpu f32", cpu(), DType::F32, cpu_tol), ("wgpu f32", wgpu(), DType::F32, wgpu_tol)];
    if wgpu_has_f16() {
        t.push(("wgpu f16", wgpu(), DType::F16, f16_tol));
    }
    t
}

/// Path of a file under `tests/fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(rel)
}

/// Reads a fixture file.
pub fn read(rel: &str) -> Vec<u8> {
    let path = fixture(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (regenerate with tests/gen/make_fixtures.py)", path.display()))
}

/// A reference I/O file: named tensors as f32 (or i64) host values.
pub struct Io {
    file: String,
    bytes: Vec<u8>,
    header: SafetensorsHeader,
}

impl Io {
    /// Loads `tests/fixtures/<rel>`.
    pub fn load(rel: &str) -> Self {
        let bytes = read(rel);
        let header = SafetensorsHeader::parse(&bytes, rel).expect("fixture header");
        Self { file: rel.to_string(), bytes, header }
    }

    /// A `__metadata__` entry.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.header.metadata.get(key).map(String::as_str)
    }

    /// Whether a tensor exists.
    pub fn has(&self, name: &str) -> bool {
        self.header.tensors.iter().any(|t| t.name == name)
    }

    /// Raw bytes of a tensor (e.g. u8 images).
    pub fn raw(&self, name: &str) -> &[u8] {
        &self.bytes[self.info(name).range.clone()]
    }

    /// Names of all tensors.
    pub fn names(&self) -> Vec<String> {
        self.header.tensors.iter().map(|t| t.name.clone()).collect()
    }

    fn info(&self, name: &str) -> &ezigen::weights::TensorInfo {
        self.header
            .tensors
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{}: no tensor {name}", self.file))
    }

    /// Shape of a tensor.
    pub fn shape(&self, name: &str) -> Vec<usize> {
        self.info(name).shape.clone()
    }

    /// Values of a float tensor as f32.
    pub fn f32(&self, name: &str) -> Vec<f32> {
        let info = self.info(name);
        let data = float_data(info, &self.bytes[info.range.clone()], DType::F32, &self.file).unwrap();
        data.try_to_vec::<f32>().unwrap()
    }

    /// Values of an integer tensor.
    pub fn ints(&self, name: &str) -> Vec<i64> {
        let info = self.info(name);
        assert!(!info.dtype.is_float() || info.dtype == StoredDType::F32);
        int_values(info, &self.bytes[info.range.clone()], &self.file).unwrap()
    }

    /// A float tensor on `device` in `dtype`.
    pub fn tensor<const D: usize>(&self, name: &str, device: &Device, dtype: DType) -> Tensor<D> {
        let shape: [usize; D] = self.shape(name).try_into().unwrap_or_else(|_| panic!("{name}: rank"));
        Tensor::from_data(TensorData::new(self.f32(name), shape), (device, dtype))
    }

    /// An integer tensor on `device`.
    pub fn int_tensor<const D: usize>(&self, name: &str, device: &Device) -> Tensor<D, Int> {
        let shape: [usize; D] = self.shape(name).try_into().unwrap_or_else(|_| panic!("{name}: rank"));
        Tensor::from_data(TensorData::new(self.ints(name), shape), device)
    }
}

/// Loads weight files (paths under `tests/fixtures/`) into a store on `device` as `dtype`,
/// keeping the tensors `keep` accepts, and starts a loader for `component`.
pub fn loader(component: &str, files: &[&str], device: &Device, dtype: DType, keep: impl Fn(&str) -> bool) -> Loader {
    let mut store = WeightStore::new(device, dtype).keep_f32(&["learnable_weights"]);
    for f in files {
        let bytes = read(f);
        store.add_safetensors(&bytes, f, |n| keep(n).then(|| n.to_string())).expect("weights load");
    }
    store.builder(component)
}

/// Reads a tensor back to the host as f32.
pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.cast(DType::F32).into_data().try_to_vec::<f32>().unwrap()
}

/// Max absolute difference and max magnitude of the expected values.
pub fn max_diff(actual: &[f32], expected: &[f32]) -> (f32, f32) {
    assert_eq!(actual.len(), expected.len(), "length mismatch");
    let mut diff = 0f32;
    let mut mag = 0f32;
    for (a, e) in actual.iter().zip(expected) {
        diff = diff.max((a - e).abs());
        mag = mag.max(e.abs());
    }
    (diff, mag)
}

/// The element-wise error of `actual` against `expected`: the largest
/// `|a − e| / (|e| + mean|expected|)` and where it is. Each element is held to its own size
/// (the relative part) plus the typical size of the tensor (the absolute part, the floor: an
/// element near zero gets the rounding of the larger values summed into it, never more), so
/// small elements are checked as closely as large ones; a single bound scaled by the largest
/// element would let them be off by that element's tolerance.
pub fn elementwise_error(actual: &[f32], expected: &[f32]) -> (f32, usize) {
    assert_eq!(actual.len(), expected.len(), "length mismatch");
    let scale = expected.iter().map(|e| e.abs() as f64).sum::<f64>() / expected.len().max(1) as f64;
    let mut worst = (0f32, 0usize);
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let err = ((a - e).abs() as f64 / (e.abs() as f64 + scale).max(f64::MIN_POSITIVE)) as f32;
        if err > worst.0 || err.is_nan() {
            worst = (err, i);
        }
    }
    worst
}

/// Asserts every element `a` of `actual` is within `tol · (|e| + mean|expected|)` of its
/// expected value `e` (relative plus absolute, [`elementwise_error`]; every tolerance of the
/// suites is derived for this bound on several float paths, docs/float-paths.md). Prints the
/// figure, where it is, the max difference and the first values (a PARITY line,
/// tests/float_paths.sh collects them), and returns the figure.
pub fn assert_close(name: &str, actual: &[f32], expected: &[f32], tol: f32) -> f32 {
    let (err, at) = elementwise_error(actual, expected);
    let (diff, mag) = max_diff(actual, expected);
    let n = actual.len().min(4);
    eprintln!(
        "PARITY {name}: rel {err:.3e} (tol {tol:.0e}) element-wise, worst at [{at}] {:e} vs {:e}; max abs {diff:.3e}, max |ref| {mag:.3e}; first {:?} vs {:?}",
        actual.get(at).copied().unwrap_or(f32::NAN),
        expected.get(at).copied().unwrap_or(f32::NAN),
        &actual[..n],
        &expected[..n]
    );
    assert!(actual.iter().all(|v| v.is_finite()), "{name}: non-finite values");
    assert!(mag > 0.0, "{name}: reference is all zeros");
    assert!(err <= tol, "{name}: element-wise error {err:.3e} at [{at}] exceeds {tol:.0e}");
    err
}

/// The `ezigen` command line of this workspace in the profile the tests were built in. It is
/// built first (`cargo build --bin ezigen`, a no-op when up to date), so CLI tests need no
/// earlier build step and never run a stale binary.
pub fn cli_binary() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        // target/<profile>/deps/<test> → target/<profile>
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps").to_path_buf();
        let profile = profile_dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug").to_string();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
        let mut cmd = std::process::Command::new(cargo);
        cmd.current_dir(workspace).args(["build", "--quiet", "-p", "ezigen", "--bin", "ezigen"]);
        match profile.as_str() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        let status = cmd.status().expect("cargo runs");
        assert!(status.success(), "building the ezigen CLI failed");
        let bin = profile_dir.join(format!("ezigen{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin
    })
    .clone()
}
