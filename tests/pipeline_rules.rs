//! Pipeline behaviour beyond numerical parity: the auto-stop rule, cancellation (prompt, typed,
//! and the pipeline stays usable), determinism per seed, input validation with clear errors,
//! and the CLI end to end (tiny model, CPU backend).

use std::ops::ControlFlow;
use std::process::Command;

use burn::tensor::DType;
use ezigen::Error;
use ezigen::native::DiffusersFolders;
use ezigen::pipeline::{EditRequest, Event, GenerateRequest, Mask, NoProgress, Pipeline, ProgressSink, RgbaImage, SamplingOptions, SeededNoise};
use ezigen_tests::cpu;

fn tiny() -> Pipeline {
    DiffusersFolders::builtin_tiny().load(&cpu(), DType::F32).unwrap()
}

fn subject() -> RgbaImage {
    let (w, h) = (40, 30);
    let data = (0..w * h).flat_map(|i| {
        let (x, y) = (i % w, i / w);
        let inside = (x as i32 - 20).pow(2) + (y as i32 - 15).pow(2) < 100;
        [200, (x * 6) as u8, (y * 8) as u8, if inside { 255 } else { 0 }]
    });
    RgbaImage::new(w, h, data.collect()).unwrap()
}

fn quick(iterations: Option<usize>) -> SamplingOptions {
    SamplingOptions { steps: 5, iterations, ..Default::default() }
}

#[test]
fn auto_stop_rule_matches_loop_infer() {
    let auto = SamplingOptions::default();
    // Iterations 1–3 always run, whatever the similarity.
    for k in 1..=3 {
        assert!(auto.continue_loop(k, Some(0.999)));
    }
    // From the 4th on: run while the last similarity is below the threshold, at most 9.
    assert!(!auto.continue_loop(4, Some(0.99)));
    assert!(auto.continue_loop(4, Some(0.989)));
    assert!(auto.continue_loop(9, Some(0.5)));
    assert!(!auto.continue_loop(10, Some(0.5)));
    // A fixed count runs exactly that many.
    let fixed = SamplingOptions { iterations: Some(2), ..Default::default() };
    assert!(fixed.continue_loop(2, Some(1.0)) && !fixed.continue_loop(3, Some(0.0)));
    // The official step arithmetic for N = 50, r = 0.4.
    assert_eq!((auto.layout_steps(), auto.transfer_steps(), auto.renoise_timestep(1000)), (30, 20, 400));
    assert!(!auto.adapter_active(0.6, 29) && auto.adapter_active(0.6, 30));
}

#[test]
fn auto_stop_runs_between_three_and_nine_iterations() {
    let pipe = tiny();
    let mut req = GenerateRequest::new(subject(), "a dog in police outfit", "a dog");
    req.options = SamplingOptions { steps: 5, sim_threshold: 2.0, ..Default::default() }; // never reached
    let out = pollster::block_on(pipe.generate(&req, &mut SeededNoise::new(1), &mut NoProgress)).unwrap();
    assert_eq!(out.iterations, 9);
    req.options.sim_threshold = -1.0; // always reached
    let out = pollster::block_on(pipe.generate(&req, &mut SeededNoise::new(1), &mut NoProgress)).unwrap();
    assert_eq!(out.iterations, 3);
    assert_eq!(out.similarities.len(), 3);
}

struct CancelAfter {
    steps: usize,
    seen: usize,
    after_cancel: usize,
}

impl ProgressSink for CancelAfter {
    fn event(&mut self, e: Event<'_>) -> ControlFlow<()> {
        if self.seen >= self.steps {
            self.after_cancel += 1;
            return ControlFlow::Break(());
        }
        if let Event::Progress { step, .. } = e {
            if step > 0 {
                self.seen += 1;
            }
        }
        ControlFlow::Continue(())
    }
}

#[test]
fn cancellation_is_prompt_and_leaves_the_pipeline_usable() {
    let pipe = tiny();
    let mut req = GenerateRequest::new(subject(), "a dog in police outfit", "a dog");
    req.options = quick(Some(1));
    let mut sink = CancelAfter { steps: 4, seen: 0, after_cancel: 0 };
    let r = pollster::block_on(pipe.generate(&req, &mut SeededNoise::new(7), &mut sink));
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    assert_eq!(sink.after_cancel, 1, "no further event (hence no further step) after the cancel");
    // The same pipeline runs a full job afterwards, identical to a fresh run.
    let a = pollster::block_on(pipe.generate(&req, &mut SeededNoise::new(7), &mut NoProgress)).unwrap();
    let b = pollster::block_on(tiny().generate(&req, &mut SeededNoise::new(7), &mut NoProgress)).unwrap();
    assert_eq!(a.image, b.image);
}

#[test]
fn seeds_determine_the_output() {
    let pipe = tiny();
    let mut req = GenerateRequest::new(subject(), "a dog in police outfit", "a dog");
    req.options = quick(Some(1));
    let run = |seed| pollster::block_on(pipe.generate(&req, &mut SeededNoise::new(seed), &mut NoProgress)).unwrap().image;
    let (a, b, c) = (run(1), run(1), run(2));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

fn input_error(r: Result<ezigen::pipeline::Output, Error>) -> String {
    match r {
        Err(Error::Input(m)) => m,
        other => panic!("expected an input error, got {:?}", other.map(|o| o.iterations)),
    }
}

#[test]
fn bad_inputs_get_clear_errors() {
    let pipe = tiny();
    let source = RgbaImage::new(60, 40, vec![128; 60 * 40 * 4]).unwrap();
    let good_mask = Mask::new(60, 40, (0..60 * 40).map(|i| if i % 60 > 20 { 255 } else { 0 }).collect()).unwrap();
    let edit = |mask: Mask| {
        let mut r = EditRequest::new(source.clone(), mask, subject(), "a dog on the beach", "a dog");
        r.options = quick(Some(1));
        pollster::block_on(pipe.edit(&r, &mut SeededNoise::new(1), &mut NoProgress))
    };
    let msg = input_error(edit(Mask::new(50, 40, vec![255; 2000]).unwrap()));
    assert!(msg.contains("50×40") && msg.contains("60×40"), "{msg}");
    let msg = input_error(edit(Mask::new(60, 40, vec![0; 2400]).unwrap()));
    assert!(msg.contains("mask is empty"), "{msg}");
    assert!(edit(good_mask).is_ok());

    let mut req = GenerateRequest::new(subject(), "   ", "a dog");
    req.options = quick(Some(1));
    assert!(input_error(pollster::block_on(pipe.generate(&req, &mut SeededNoise::new(1), &mut NoProgress))).contains("prompt is empty"));
    // An empty subject class is allowed.
    let mut req = GenerateRequest::new(subject(), "a photo", "");
    req.options = quick(Some(1));
    assert!(pollster::block_on(pipe.generate(&req, &mut SeededNoise::new(1), &mut NoProgress)).is_ok());
    req.options.split_ratio = 0.0;
    assert!(input_error(pollster::block_on(pipe.generate(&req, &mut SeededNoise::new(1), &mut NoProgress))).contains("split ratio"));

    // Files that are not images.
    let msg = RgbaImage::decode(b"hello, I am a text file renamed to .png").unwrap_err().to_string();
    assert!(msg.contains("not a PNG or JPEG"), "{msg}");
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    png.extend_from_slice(&[0; 40]);
    let msg = RgbaImage::decode(&png).unwrap_err().to_string();
    assert!(msg.contains("corrupt"), "{msg}");
    let msg = RgbaImage::new(20000, 2, vec![0; 20000 * 2 * 4]).unwrap_err().to_string();
    assert!(msg.contains("16384"), "{msg}");
}

/// Writes a PNG through the `image` crate (test input files for the CLI).
fn write_png(path: &std::path::Path, w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 4]) {
    let img = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba(f(x, y)));
    img.save(path).unwrap();
}

fn cli() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("ezigen");
    assert!(bin.is_file(), "build the CLI first: cargo build --release --bin ezigen");
    bin
}

#[test]
fn cli_generate_and_edit() {
    let dir = std::env::temp_dir().join(format!("ezigen-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let subj = dir.join("subject.png");
    write_png(&subj, 48, 36, |x, y| [200, (x * 5) as u8, (y * 7) as u8, 255]);
    let src = dir.join("source.png");
    write_png(&src, 90, 60, |x, y| [(x * 2) as u8, (y * 4) as u8, 90, 255]);
    let mask = dir.join("mask.png");
    write_png(&mask, 90, 60, |x, y| if (30..60).contains(&x) && (15..45).contains(&y) { [255; 4] } else { [0, 0, 0, 255] });
    let run = |args: &[&str]| {
        let out = Command::new(cli()).args(args).output().unwrap();
        assert!(out.status.success(), "ezigen {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let common = ["--prompt", "a dog in police outfit", "--subject-prompt", "a dog", "--steps", "3", "--iterations", "1", "--backend", "cpu"];
    let mut outs = Vec::new();
    for seed in ["1", "2"] {
        let out = dir.join(format!("gen-{seed}.png"));
        let mut args = vec!["generate", "--subject", subj.to_str().unwrap(), "--out", out.to_str().unwrap(), "--seed", seed];
        args.extend_from_slice(&common);
        let log = run(&args);
        assert!(log.contains("built-in tiny random-weight model"), "the CLI says the tiny model is meaningless");
        let img = image::open(&out).unwrap().to_rgba8();
        assert_eq!(img.dimensions(), (128, 128));
        outs.push(img.into_raw());
    }
    assert_ne!(outs[0], outs[1], "different seeds give different images");
    let out = dir.join("edit.png");
    let mut args = vec!["edit", "--source", src.to_str().unwrap(), "--mask", mask.to_str().unwrap(), "--subject", subj.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(&common);
    run(&args);
    // Short side 128 (8 × the tiny UNet's sample_size), aspect kept: 90×60 → 192×128.
    assert_eq!(image::open(&out).unwrap().to_rgba8().dimensions(), (192, 128));
    // A mask of the wrong size is refused, naming both sizes.
    let small = dir.join("small-mask.png");
    write_png(&small, 45, 30, |_, _| [255; 4]);
    let mut args = vec!["edit", "--source", src.to_str().unwrap(), "--mask", small.to_str().unwrap(), "--subject", subj.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(&common);
    let bad = Command::new(cli()).args(&args).output().unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("45×30") && err.contains("90×60"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
