//! Device selection and the facts about a WebGPU/wgpu adapter that the app reports.

use burn::backend::DispatchDevice;
use burn::tensor::{DType, Device};
#[cfg(not(target_family = "wasm"))]
use burn::tensor::wgpu::WgpuBackend;
use burn::tensor::wgpu::{WgpuSetup, wgpu};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{Error, Result};

/// What the page and the CLI show about the adapter the wgpu device runs on.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, TS)]
pub struct AdapterReport {
    /// Adapter name as the driver reports it (e.g. "SwiftShader Device", "llvmpipe").
    pub name: String,
    /// Graphics API behind wgpu ("BrowserWebGpu", "Vulkan", ...).
    pub backend: String,
    /// Adapter kind ("Cpu", "DiscreteGpu", ...).
    pub device_type: String,
    /// Driver name and version, where the platform exposes them.
    pub driver: String,
    /// Whether the device was created with WGSL `shader-f16`.
    pub shader_f16: bool,
    /// `maxBufferSize` in bytes.
    #[ts(type = "number")]
    pub max_buffer_size: u64,
    /// `maxStorageBufferBindingSize` in bytes.
    #[ts(type = "number")]
    pub max_storage_buffer_binding_size: u64,
    /// `maxComputeWorkgroupStorageSize` in bytes.
    pub max_compute_workgroup_storage_size: u32,
    /// The adapter's smallest subgroup size when the device has subgroup operations and the
    /// WGSL kernels use them (flash attention's subgroup variant); `null` otherwise — always in
    /// a browser, where wgpu 30 cannot request WebGPU's `subgroups` feature.
    pub subgroups: Option<u32>,
}

impl AdapterReport {
    /// The dtype the page runs a model in on this adapter: f16 when asked for and the adapter
    /// has `shader-f16`, else f32 (the CLI refuses `--dtype f16` on such a device instead).
    pub fn dtype(&self, want_f16: bool) -> DType {
        if want_f16 && self.shader_f16 { DType::F16 } else { DType::F32 }
    }

    /// Reads the report off an initialised wgpu setup (the device's limits and features, which
    /// are what kernels may rely on, not merely what the adapter offers).
    pub fn from_setup(setup: &WgpuSetup) -> Self {
        let info = setup.adapter.get_info();
        let limits = setup.device.limits();
        let features = setup.device.features();
        let driver = format!("{} {}", info.driver, info.driver_info).trim().to_string();
        // Browsers may hide the adapter's description; fall back to what they do expose.
        let name = if !info.name.is_empty() {
            info.name
        } else if !driver.is_empty() {
            driver.clone()
        } else {
            format!("{:?} adapter (vendor {:#x})", info.device_type, info.vendor)
        };
        Self {
            name,
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver,
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            max_buffer_size: limits.max_buffer_size,
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size as u64,
            max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
            subgroups: subgroups(setup),
        }
    }
}

/// The smallest subgroup size the WGSL kernels may rely on: the adapter's, when the device was
/// created with subgroup operations and `EZIGEN_SUBGROUPS` is not `off` (the benchmark's switch
/// to measure the plain kernels on the same device).
fn subgroups(setup: &WgpuSetup) -> Option<u32> {
    let on = setup.device.features().contains(wgpu::Features::SUBGROUP) && std::env::var("EZIGEN_SUBGROUPS").as_deref() != Ok("off");
    let min = setup.adapter.get_info().subgroup_min_size;
    (on && min > 0).then_some(min)
}

/// The device and its report, with the report's subgroup size recorded for the kernels.
fn finish(device: Device, setup: &WgpuSetup) -> (Device, AdapterReport) {
    let report = AdapterReport::from_setup(setup);
    record_subgroups(&device, report.subgroups);
    (device, report)
}

/// Initialises burn's wgpu runtime asynchronously (the only way in a browser) and returns the
/// device with its adapter report. In the browser this binds to `navigator.gpu`.
pub async fn init_wgpu_async() -> Result<(Device, AdapterReport)> {
    let options = Device::wgpu_options();
    #[cfg(not(target_family = "wasm"))]
    let options = options.graphics_api(native_graphics_api());
    let (device, setup) = options
        .init_with_setup_async()
        .await
        .map_err(|e| Error::Device(e.to_string()))?;
    Ok(finish(device, &setup))
}

/// Initialises burn's wgpu runtime natively (blocking).
#[cfg(not(target_family = "wasm"))]
pub fn init_wgpu() -> Result<(Device, AdapterReport)> {
    let (device, setup) = Device::wgpu_options()
        .graphics_api(native_graphics_api())
        .init_with_setup()
        .map_err(|e| Error::Device(e.to_string()))?;
    Ok(finish(device, &setup))
}

/// The graphics API used natively: Vulkan on Linux (avoids GL probing on headless machines),
/// the platform default elsewhere. `EZIGEN_WGPU_API=auto` lets wgpu choose.
#[cfg(not(target_family = "wasm"))]
fn native_graphics_api() -> WgpuBackend {
    match std::env::var("EZIGEN_WGPU_API").as_deref() {
        Ok("auto") => WgpuBackend::Auto,
        Ok("vulkan") => WgpuBackend::Vulkan,
        Ok("metal") => WgpuBackend::Metal,
        Ok("dx12") => WgpuBackend::Dx12,
        _ if cfg!(target_os = "linux") => WgpuBackend::Vulkan,
        _ => WgpuBackend::Auto,
    }
}

/// The CPU reference device (burn's pure-Rust `flex` backend), used by native tests and the
/// CLI's `--backend cpu`. Not compiled into the browser bundle.
#[cfg(feature = "native")]
pub fn cpu() -> Device {
    Device::flex()
}

/// Initialises a native wgpu device whose limits are forced down to at most `max_binding`
/// bytes per storage binding and `max_buffer` bytes per buffer (WebGPU's defaults are
/// 128 MiB and 256 MiB), whatever the adapter offers. Everything the models allocate or bind
/// on it is validated against those limits by wgpu, so a run that succeeds here fits a
/// default WebGPU device.
#[cfg(all(feature = "native", not(target_family = "wasm")))]
pub fn init_wgpu_limited(max_binding: u64, max_buffer: u64) -> Result<(Device, AdapterReport)> {
    let backends = match native_graphics_api() {
        WgpuBackend::Vulkan => wgpu::Backends::VULKAN,
        WgpuBackend::Metal => wgpu::Backends::METAL,
        WgpuBackend::Dx12 => wgpu::Backends::DX12,
        _ => wgpu::Backends::all(),
    };
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor { backends, ..wgpu::InstanceDescriptor::new_without_display_handle() });
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
        .map_err(|e| Error::Device(format!("no wgpu adapter: {e}")))?;
    let mut limits = adapter.limits();
    limits.max_storage_buffer_binding_size = limits.max_storage_buffer_binding_size.min(max_binding as _);
    limits.max_buffer_size = limits.max_buffer_size.min(max_buffer);
    // The features burn's own WGSL device requests, less the experimental ones (which need an
    // unsafe opt-in and which WGSL kernels never use); only the memory limits differ.
    let features = adapter
        .features()
        .difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS)
        .difference(wgpu::Features::all_experimental_mask());
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("ezigen (limits forced)"),
        required_features: features,
        required_limits: limits,
        ..Default::default()
    }))
    .map_err(|e| Error::Device(format!("cannot create the limited device: {e}")))?;
    let backend = adapter.get_info().backend;
    let setup = WgpuSetup { instance, adapter, device, queue, backend };
    let device = Device::wgpu_options().setup(setup.clone()).init().map_err(|e| Error::Device(e.to_string()))?;
    Ok(finish(device, &setup))
}

/// Reads a tensor back as f32 host values (asynchronously, as browsers require).
pub async fn read_f32<const D: usize>(t: burn::tensor::Tensor<D>) -> Result<Vec<f32>> {
    let data = t.cast(burn::tensor::DType::F32).into_data_async().await.map_err(|e| Error::Readback(format!("{e:?}")))?;
    data.try_to_vec::<f32>().map_err(|e| Error::Readback(format!("{e:?}")))
}

/// The smallest subgroup size of each wgpu device created with subgroup operations
/// (`Features::SUBGROUP`), by device: recorded here when a device is created, read by the kernel
/// launchers (`crate::kernels`) that have a subgroup variant. A device fact like the limits
/// cubecl keeps per device, not model state.
static SUBGROUP_MIN: std::sync::Mutex<Vec<(cubecl::device::DeviceId, u32)>> = std::sync::Mutex::new(Vec::new());

/// Records whether `device` may run subgroup kernels: `Some(smallest subgroup size)` when it
/// was created with subgroup operations, `None` to use the plain kernels only. Devices never
/// recorded use the plain kernels.
// In the wasm build the cube device is the only kind, and the pattern cannot fail.
#[allow(irrefutable_let_patterns)]
pub fn record_subgroups(device: &Device, min_size: Option<u32>) {
    let DispatchDevice::Cube(cube) = device.as_dispatch() else { return };
    let id = cube.to_id();
    if let Ok(mut table) = SUBGROUP_MIN.lock() {
        table.retain(|(d, _)| *d != id);
        if let Some(size) = min_size.filter(|&s| s > 0) {
            table.push((id, size));
        }
    }
}

/// The smallest subgroup size recorded for `device`, when it runs subgroup kernels.
#[allow(irrefutable_let_patterns)]
pub fn device_subgroups(device: &Device) -> Option<u32> {
    let DispatchDevice::Cube(cube) = device.as_dispatch() else { return None };
    recorded_subgroups(cube.to_id())
}

/// The smallest subgroup size recorded for the device with this id.
pub(crate) fn recorded_subgroups(id: cubecl::device::DeviceId) -> Option<u32> {
    SUBGROUP_MIN.lock().ok()?.iter().find(|(d, _)| *d == id).map(|&(_, s)| s)
}

/// Sends `device`'s queued work, uploads included, on its way (a no-op off wgpu). cubecl queues
/// up to 32 tasks before it submits them, and a queued upload keeps its bytes in host memory
/// until then: the weight store calls this after each upload so loading holds one piece at a
/// time (in the page, wasm memory never shrinks).
#[allow(irrefutable_let_patterns)]
pub fn submit_queued(device: &Device) {
    let DispatchDevice::Cube(cube) = device.as_dispatch() else { return };
    // A failed submit shows up, with its cause, at the next use of the device.
    let _ = cube.client().flush();
}
