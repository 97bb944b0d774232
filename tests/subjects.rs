//! Several photos of one subject and the subject-feature cache (issue 14): 1–4 photos, bad ones
//! named; a run that reuses cached features is bit-identical to one that computes them and
//! skips the reference stage (seen in the progress events); the cache is per subject (photos,
//! masks, subject prompt), shared across seeds and prompts, and bounded. Oracle parity of two
//! photos: `pipeline.rs` / `wgpu_pipeline.rs` (case `generate_2subjects`).

use std::ops::ControlFlow;

use burn::tensor::DType;
use ezigen::native::DiffusersFolders;
use ezigen::pipeline::subject::CACHED_SUBJECT_SETS;
use ezigen::pipeline::{EditRequest, Event, GenerateRequest, Mask, Pipeline, ProgressSink, RgbaImage, SamplingOptions, SeededNoise, Stage, SubjectImage};
use ezigen_tests::cpu;

fn tiny() -> Pipeline {
    DiffusersFolders::builtin_tiny().load(&cpu(), DType::F32).unwrap()
}

/// A 40×30 photo whose colours depend on `k` (different photos of "the subject").
fn photo(k: u8) -> RgbaImage {
    let (w, h) = (40, 30);
    let data = (0..w * h).flat_map(|i| {
        let (x, y) = (i % w, i / w);
        [200u8.wrapping_sub(k * 30), (x * 6) as u8 ^ k, (y * 8) as u8, 255]
    });
    RgbaImage::new(w, h, data.collect()).unwrap()
}

fn request(photos: &[u8]) -> GenerateRequest {
    let mut req = GenerateRequest::new(photo(photos[0]), "a dog in police outfit", "a dog");
    req.subjects = photos.iter().map(|&k| SubjectImage::new(photo(k))).collect();
    req.options = SamplingOptions { steps: 5, iterations: Some(1), ..Default::default() };
    req
}

/// The stages a run reported, in order, without repeats.
#[derive(Default)]
struct Stages(Vec<Stage>);

impl ProgressSink for Stages {
    fn event(&mut self, e: Event<'_>) -> ControlFlow<()> {
        if let Event::Progress { stage, .. } = e
            && self.0.last() != Some(&stage)
        {
            self.0.push(stage);
        }
        ControlFlow::Continue(())
    }
}

fn run(pipe: &Pipeline, req: &GenerateRequest, seed: u64) -> (RgbaImage, Vec<Stage>) {
    let mut stages = Stages::default();
    let out = pollster::block_on(pipe.generate(req, &mut SeededNoise::new(seed), &mut stages)).unwrap();
    (out.image, stages.0)
}

#[test]
fn reused_subject_features_give_the_same_image_and_skip_the_reference_pass() {
    let pipe = tiny();
    let req = request(&[1, 2]);
    let (first, stages) = run(&pipe, &req, 7);
    assert!(stages.contains(&Stage::Reference) && !stages.contains(&Stage::SubjectReused), "{stages:?}");
    assert_eq!(pipe.subject_cache.len(), 1);

    // The same subject, another seed and another prompt: no reference pass.
    let mut other = req.clone();
    other.prompt = "a dog on the moon".into();
    let (reused, stages) = run(&pipe, &other, 8);
    assert!(stages.contains(&Stage::SubjectReused) && !stages.contains(&Stage::Reference), "{stages:?}");
    // Bit-identical to computing the features afresh (a pipeline with an empty cache).
    pipe.subject_cache.clear();
    let (fresh, stages) = run(&pipe, &other, 8);
    assert!(stages.contains(&Stage::Reference));
    assert_eq!(reused, fresh, "reused features give the same image as computed ones");
    // And the first run again, now from the cache: the same image as the first time.
    let (again, stages) = run(&pipe, &req, 7);
    assert!(stages.contains(&Stage::SubjectReused));
    assert_eq!(again, first);
}

#[test]
fn the_cache_tells_subjects_apart_and_stays_bounded() {
    let pipe = tiny();
    let base = request(&[1]);
    run(&pipe, &base, 1);
    // Another subject prompt, another photo order and another mask are other subjects.
    let mut prompt = base.clone();
    prompt.subject_prompt = "a cat".into();
    let mut order = request(&[2, 1]);
    order.options = base.options.clone();
    let swapped = request(&[1, 2]);
    let mut masked = base.clone();
    let m = Mask::new(40, 30, (0..1200).map(|i| if i % 40 < 20 { 255 } else { 0 }).collect()).unwrap();
    masked.subjects[0].mask = Some(m);
    for (what, r) in [("subject prompt", &prompt), ("photo order", &order), ("mask", &masked)] {
        let (_, stages) = run(&pipe, r, 1);
        assert!(stages.contains(&Stage::Reference), "a new {what} is a new subject: {stages:?}");
        assert!(pipe.subject_cache.len() <= CACHED_SUBJECT_SETS);
    }
    let (a, _) = run(&pipe, &order, 1);
    let (b, _) = run(&pipe, &swapped, 1);
    assert_ne!(a, b, "the photos' order matters (features are concatenated in order)");
    assert_eq!(pipe.subject_cache.len(), CACHED_SUBJECT_SETS);
}

#[test]
fn one_to_four_photos_are_taken_and_a_bad_one_is_named() {
    let pipe = tiny();
    let five = request(&[1, 2, 3, 4, 5]);
    let msg = pollster::block_on(pipe.generate(&five, &mut SeededNoise::new(1), &mut Stages::default())).unwrap_err().to_string();
    assert!(msg.contains("5 subject images were given; at most 4 are used: remove 1"), "{msg}");

    let mut none = request(&[1]);
    none.subjects.clear();
    let msg = none.validate().unwrap_err().to_string();
    assert!(msg.contains("no subject image"), "{msg}");

    let mut bad = request(&[1, 2, 3]);
    bad.subjects[1].image.data.pop();
    let msg = bad.validate().unwrap_err().to_string();
    assert!(msg.contains("subject image 2:"), "{msg}");

    let mut long = request(&[1, 2]);
    long.subjects[1].image = RgbaImage::new(200, 10, vec![255; 200 * 10 * 4]).unwrap();
    let msg = long.validate().unwrap_err().to_string();
    assert!(msg.contains("subject image 2 is 200×10"), "{msg}");

    let mut empty_mask = request(&[1, 2]);
    empty_mask.subjects[0].mask = Some(Mask::new(40, 30, vec![0; 1200]).unwrap());
    let msg = empty_mask.validate().unwrap_err().to_string();
    assert!(msg.contains("the mask of subject image 1 is empty"), "{msg}");

    // An edit takes several photos the same way.
    let four = request(&[1, 2, 3, 4]);
    let mut edit = EditRequest::new(photo(9), Mask::new(40, 30, vec![255; 1200]).unwrap(), photo(1), "a dog on the sofa", "a dog");
    edit.subjects = four.subjects.clone();
    edit.options = four.options.clone();
    let out = pollster::block_on(pipe.edit(&edit, &mut SeededNoise::new(1), &mut Stages::default())).unwrap();
    assert_eq!(out.iterations, 1);
}
