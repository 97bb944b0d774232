//! The whole pipeline on a wgpu device whose limits are forced down to WebGPU's defaults
//! (128 MiB per storage binding, 256 MiB per buffer), with the WGSL kernels: wgpu validates
//! every buffer and binding against those limits. This runs the built-in tiny model (128-px
//! images), whose tensors are far below the limits, so it shows that every code path works on
//! such a device (the limits are read and passed down, the kernels are chosen as there), not
//! that the full-size model fits: that is the blocked VAE's test (`vae.rs`, maps split to stay
//! within a binding) and the page's adapter check (`FULL_MODEL_LIMITS`).

use burn::tensor::DType;
use ezigen::kernels::{Kernels, LaunchCounter};
use ezigen::native::DiffusersFolders;
use ezigen::pipeline::{EditRequest, GenerateRequest, Mask, NoProgress, RgbaImage, SamplingOptions, SeededNoise};

const MIB: u64 = 1 << 20;

fn image(w: usize, h: usize, k: u8) -> RgbaImage {
    let data = (0..w * h).flat_map(|i| [((i % w) * 3) as u8, ((i / w) * 5) as u8, k, 255]).collect();
    RgbaImage::new(w, h, data).unwrap()
}

#[test]
fn generate_and_edit_within_default_webgpu_limits() {
    let (device, report) = ezigen::device::init_wgpu_limited(128 * MIB, 256 * MIB).expect("a wgpu adapter");
    assert!(report.max_storage_buffer_binding_size <= 128 * MIB);
    assert!(report.max_buffer_size <= 256 * MIB);
    for dtype in [DType::F32, DType::F16] {
        if dtype == DType::F16 && !report.shader_f16 {
            continue;
        }
        let pipe = DiffusersFolders::builtin_tiny().load_with(&device, dtype, ezigen::loader::LoadOptions::kernels(Kernels::Wgsl)).unwrap();
        let opts = SamplingOptions { steps: 4, iterations: Some(2), ..Default::default() };
        let mut req = GenerateRequest::new(image(40, 30, 7), "a dog in police outfit", "a dog");
        req.options = opts.clone();
        let counter = LaunchCounter::start();
        let out = pollster::block_on(pipe.generate(&req, &mut SeededNoise::new(1), &mut NoProgress)).unwrap();
        let (flash, norm) = (counter.matching("FlashAttention"), counter.matching("Norm"));
        drop(counter);
        assert_eq!((out.image.width, out.image.height), (128, 128));
        assert!(flash > 0 && norm > 0, "{dtype:?}: the WGSL kernels ran ({flash} attention, {norm} norm launches)");

        let mut mask = vec![0u8; 90 * 60];
        for y in 15..45 {
            mask[y * 90 + 30..y * 90 + 60].fill(255);
        }
        let mut req = EditRequest::new(image(90, 60, 3), Mask::new(90, 60, mask).unwrap(), image(40, 30, 7), "a dog", "a dog");
        req.options = opts;
        let out = pollster::block_on(pipe.edit(&req, &mut SeededNoise::new(1), &mut NoProgress)).unwrap();
        assert_eq!((out.image.width, out.image.height), (192, 128));
        eprintln!("{dtype:?}: generate + edit ran within 128 MiB bindings / 256 MiB buffers");
    }
}
