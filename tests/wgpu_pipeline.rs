//! The generate and edit pipelines on wgpu (f32) against the official EZIGen code's recorded
//! runs, as `pipeline.rs` does on the CPU (`ezigen_tests::oracle`); and the weight store's host
//! memory while it uploads to wgpu (this binary counts its heap, and its tests run one at a time
//! so that the count is the store's alone).

use std::collections::BTreeMap;
use std::sync::Mutex;

use burn::tensor::DType;
use ezigen::heap::Counting;
use ezigen::weights::WeightStore;
use ezigen::weights::safetensors::{StoredDType, TensorToWrite, write};
use ezigen::weights::store::UPLOAD_PIECE_BYTES;
use ezigen_tests::oracle::{Mode, run_edit, run_generate, tiny};
use ezigen_tests::wgpu;

#[global_allocator]
static HEAP: Counting = Counting::new();

/// Held by every test of this binary.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn generate_and_edit_match_on_wgpu() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let pipe = tiny(&wgpu());
    run_generate(&pipe, "generate", "wgpu f32", Mode::Forced);
    run_generate(&pipe, "generate_2subjects", "wgpu f32", Mode::Forced);
    run_edit(&pipe, "edit_nonsquare", "wgpu f32", Mode::Forced);
    run_edit(&pipe, "edit_nonsquare", "wgpu f32", Mode::Free);
}

/// The official pipeline with only its scheduler swapped (DDIM, DPM-Solver++), on wgpu.
#[test]
fn other_samplers_match_on_wgpu() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let pipe = tiny(&wgpu());
    run_generate(&pipe, "generate_dpmpp", "wgpu f32", Mode::Forced);
    run_generate(&pipe, "generate_ddim", "wgpu f32", Mode::Forced);
    run_edit(&pipe, "edit_dpmpp", "wgpu f32", Mode::Forced);
    run_edit(&pipe, "edit_ddim", "wgpu f32", Mode::Forced);
}

/// A 192 MiB f16 shard of 48 tensors of 4 MiB, uploaded as f32 (widened to 8 MiB each): the
/// host memory above the shard itself stays within a few upload pieces. Before each upload
/// was flushed, cubecl's queue of 32 tasks held up to 31 converted tensors (248 MiB here; the
/// page's wasm memory reached 642 MiB loading SD 2.1).
#[test]
fn uploading_a_shard_holds_a_few_pieces_of_host_memory() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let device = wgpu();
    let elems = 2 << 20;
    let bytes: Vec<u8> = (0..elems).flat_map(|i| burn::tensor::f16::from_f32((i % 1000) as f32 * 1e-3).to_le_bytes()).collect();
    let names: Vec<String> = (0..48).map(|i| format!("t{i}")).collect();
    let shape = [elems / 512, 512];
    let tensors: Vec<TensorToWrite> =
        names.iter().map(|n| TensorToWrite { name: n, dtype: StoredDType::F16, shape: &shape, bytes: &bytes }).collect();
    let file = write(&tensors, &BTreeMap::new());
    drop(tensors);
    let mut store = WeightStore::new(&device, DType::F32);
    HEAP.reset_peak();
    let before = HEAP.now();
    store.add_safetensors(&file, "big", |n| Some(n.to_string())).unwrap();
    let peak = HEAP.peak() - before;
    assert_eq!(store.len(), 48);
    eprintln!("host memory above the shard while uploading it: {:.1} MiB", peak as f64 / 1048576.0);
    // One f16 piece read, its f32 conversion, and slack for the device's own bookkeeping.
    let bound = 4 * UPLOAD_PIECE_BYTES;
    assert!(peak < bound, "uploading held {peak} bytes of host memory (bound {bound})");
}
