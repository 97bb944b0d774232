//! Every WGSL kernel of `shaders/`, rendered by its launcher for f32 and f16 (flash attention at
//! every head dimension the models use), parses and validates with naga — the WGSL front end
//! wgpu itself uses — under WebGPU's baseline capabilities (plus `shader-f16` for f16, and
//! subgroup operations for flash attention's subgroup variant). Needs
//! no GPU, so a broken shader fails here before any device test.

use burn::tensor::DType;
use naga::valid::{Capabilities, ValidationFlags, Validator};

/// Head dimensions: the tiny test models (4, 8, 16), SD 2.1-base (64), the kernel's limit (128)
/// and one that is not a power of two (40).
const HEAD_DIMS: [usize; 8] = [2, 4, 6, 8, 16, 40, 64, 128];

#[test]
fn every_kernel_validates_with_naga() {
    for (dtype, caps) in [(DType::F32, Capabilities::empty()), (DType::F16, Capabilities::SHADER_FLOAT16)] {
        for (name, source) in ezigen::kernels::rendered_sources(dtype, &HEAD_DIMS) {
            assert!(!source.contains("{{"), "{name}: a template value was not filled in");
            assert!(!source.contains("//#"), "{name}: a variant marker was left in");
            if name.starts_with("flash_attention") {
                // Both variants come from one file: each gets its own lines only.
                assert_eq!(source.contains("subgroupShuffle("), name.contains("subgroup"), "{name}: the wrong variant's lines");
            }
            let module = naga::front::wgsl::parse_str(&source).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&source)));
            // The subgroup variant needs the device feature the launcher checks for.
            let caps = if name.contains("subgroup") { caps | Capabilities::SUBGROUP } else { caps };
            Validator::new(ValidationFlags::all(), caps)
                .validate(&module)
                .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&source)));
        }
    }
}

#[test]
fn every_shader_file_is_rendered() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shaders");
    let rendered: Vec<String> = ezigen::kernels::rendered_sources(DType::F32, &[64]).into_iter().map(|(n, _)| n).collect();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".wgsl") {
            files += 1;
            assert!(rendered.iter().any(|r| r.starts_with(&name)), "shaders/{name} has no launcher in rendered_sources");
        }
    }
    assert!(files >= 3, "shaders/ holds at least flash_attention, norm and geglu");
}
