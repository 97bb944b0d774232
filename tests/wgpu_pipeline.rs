//! The generate and edit pipelines on wgpu (f32) against the official EZIGen code's recorded
//! runs, as `pipeline.rs` does on the CPU (`ezigen_tests::oracle`).

use ezigen_tests::oracle::{Mode, run_edit, run_generate, tiny};
use ezigen_tests::wgpu;

#[test]
fn generate_and_edit_match_on_wgpu() {
    let pipe = tiny(&wgpu());
    run_generate(&pipe, "generate", "wgpu f32", Mode::Forced);
    run_generate(&pipe, "generate_2subjects", "wgpu f32", Mode::Forced);
    run_edit(&pipe, "edit_nonsquare", "wgpu f32", Mode::Forced);
    run_edit(&pipe, "edit_nonsquare", "wgpu f32", Mode::Free);
}
