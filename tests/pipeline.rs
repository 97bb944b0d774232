//! The generate and edit pipelines on the CPU backend against the official EZIGen code's
//! recorded runs (`ezigen_tests::oracle`: forced rounds held to 1e-4, free runs judged by PSNR
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
