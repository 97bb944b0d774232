//! The generate and edit pipelines on the CPU backend against the official EZIGen code's
//! recorded runs (`ezigen_tests::oracle`: forced rounds held to 3e-4 element-wise, free runs judged by PSNR
//! and similarities). wgpu: `wgpu_pipeline.rs`.

use ezigen_tests::cpu;
use ezigen_tests::oracle::{Mode, run_edit, run_generate, tiny};

#[test]
fn generate_matches_official_logic_cpu() {
    run_generate(&tiny(&cpu()), "generate", "cpu f32", Mode::Forced);
}

#[test]
fn edit_square_matches_official_logic_cpu() {
    run_edit(&tiny(&cpu()), "edit_square", "cpu f32", Mode::Forced);
}

#[test]
fn edit_nonsquare_matches_official_logic_cpu() {
    run_edit(&tiny(&cpu()), "edit_nonsquare", "cpu f32", Mode::Forced);
}

#[test]
fn generate_free_running_stays_close_cpu() {
    run_generate(&tiny(&cpu()), "generate", "cpu f32", Mode::Free);
}

#[test]
fn edit_nonsquare_free_running_stays_close_cpu() {
    run_edit(&tiny(&cpu()), "edit_nonsquare", "cpu f32", Mode::Free);
}


#[test]
fn two_subject_photos_match_official_logic_cpu() {
    run_generate(&tiny(&cpu()), "generate_2subjects", "cpu f32", Mode::Forced);
}

/// Issue 28: the official pipeline with only its scheduler swapped, generate and edit, forced
/// round by round; DPM-Solver++ also free-running.
#[test]
fn dpmpp_generate_and_edit_match_official_logic_with_the_scheduler_swapped_cpu() {
    let pipe = tiny(&cpu());
    run_generate(&pipe, "generate_dpmpp", "cpu f32", Mode::Forced);
    run_edit(&pipe, "edit_dpmpp", "cpu f32", Mode::Forced);
    run_generate(&pipe, "generate_dpmpp", "cpu f32", Mode::Free);
}

#[test]
fn ddim_generate_and_edit_match_official_logic_with_the_scheduler_swapped_cpu() {
    let pipe = tiny(&cpu());
    run_generate(&pipe, "generate_ddim", "cpu f32", Mode::Forced);
    run_edit(&pipe, "edit_ddim", "cpu f32", Mode::Forced);
}
