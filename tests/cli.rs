//! The `ezigen` command line end to end (built-in tiny model): generate and edit on the CPU
//! backend, the refusal of a wrong mask size, and the benchmark's JSON lines on wgpu within
//! forced WebGPU default limits. The binary is built on demand (`ezigen_tests::cli_binary`).

use std::process::Command;

use ezigen_tests::cli_binary;

/// Writes a PNG through the `image` crate (test input files for the CLI).
fn write_png(path: &std::path::Path, w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 4]) {
    let img = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba(f(x, y)));
    img.save(path).unwrap();
}

/// A subject photo, a `w`×`h` source photo and its mask (a painted rectangle in the middle) in
/// a fresh folder `dir`: (subject, source, mask).
fn write_inputs(dir: &std::path::Path, w: u32, h: u32) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let subj = dir.join("subject.png");
    write_png(&subj, 48, 36, |x, y| [200, (x * 5) as u8, (y * 7) as u8, 255]);
    let src = dir.join("source.png");
    write_png(&src, w, h, |x, y| [(x * 2) as u8, (y * 4) as u8, 90, 255]);
    let mask = dir.join("mask.png");
    let painted = |x: u32, y: u32| (w / 3..2 * w / 3).contains(&x) && (h / 4..3 * h / 4).contains(&y);
    write_png(&mask, w, h, |x, y| if painted(x, y) { [255; 4] } else { [0, 0, 0, 255] });
    (subj, src, mask)
}

#[test]
fn cli_generate_and_edit() {
    let dir = std::env::temp_dir().join(format!("ezigen-cli-{}", std::process::id()));
    let (subj, src, mask) = write_inputs(&dir, 90, 60);
    let run = |args: &[&str]| {
        let out = Command::new(cli_binary()).args(args).output().unwrap();
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
        // Not a terminal: plain lines, no carriage-return redraws, a handful of lines per run.
        assert!(!log.contains('\r'), "no \\r progress redraws in a log:\n{log}");
        assert!(log.lines().count() <= 20, "a bounded number of progress lines ({}):\n{log}", log.lines().count());
        assert!(log.contains("Layout (iteration 0): "), "one line per finished stage:\n{log}");
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
    let bad = Command::new(cli_binary()).args(&args).output().unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("45×30") && err.contains("90×60"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the CLI expecting a refusal; returns its stderr.
fn refused(args: &[&str]) -> String {
    let out = Command::new(cli_binary()).args(args).output().unwrap();
    assert!(!out.status.success(), "ezigen {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn cli_refuses_an_elongated_source_and_a_truncated_jpeg() {
    let dir = std::env::temp_dir().join(format!("ezigen-cli-refuse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    write_png(&dir.join("subject.png"), 48, 36, |x, y| [200, (x * 5) as u8, (y * 7) as u8, 255]);
    // 4:1 is the limit (MAX_ASPECT_RATIO): 401×100 is refused before any model work, 400×100 runs.
    write_png(&dir.join("wide.png"), 401, 100, |x, _| [x as u8, 0, 0, 255]);
    write_png(&dir.join("wide-mask.png"), 401, 100, |_, _| [255; 4]);
    let err = refused(&["edit", "--source", &p("wide.png"), "--mask", &p("wide-mask.png"), "--subject", &p("subject.png"), "--out", &p("o.png"), "--prompt", "a dog", "--steps", "2", "--iterations", "1", "--backend", "cpu"]);
    assert!(err.contains("401×100") && err.contains("crop"), "{err}");
    // A JPEG cut short: refused with a word, not decoded with a grey remainder.
    let img = image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([(x * 4) as u8, (y * 4) as u8, 128]));
    img.save(dir.join("full.jpg")).unwrap();
    let bytes = std::fs::read(dir.join("full.jpg")).unwrap();
    std::fs::write(dir.join("cut.jpg"), &bytes[..bytes.len() * 2 / 3]).unwrap();
    let err = refused(&["generate", "--subject", &p("cut.jpg"), "--out", &p("o.png"), "--prompt", "a dog", "--steps", "2", "--iterations", "1", "--backend", "cpu"]);
    assert!(err.contains("incomplete"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_cli_reports_every_stage_as_json_lines() {
    let out = Command::new(cli_binary())
        .args(["bench", "--backend", "wgpu", "--repeats", "1", "--steps", "3", "--iterations", "1", "--max-binding-mib", "128", "--max-buffer-mib", "256"])
        .output()
        .unwrap();
    assert!(out.status.success(), "ezigen bench failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let records: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    let names: Vec<&str> = records.iter().filter_map(|r| r["bench"].as_str()).collect();
    for stage in ["load", "weights", "reference_pass", "unet_step", "vae_encode", "vae_decode", "clip_vision", "text_encoder", "generate", "edit", "memory"] {
        assert!(names.contains(&stage), "missing stage {stage} in {names:?}");
    }
    let steps: Vec<&serde_json::Value> = records.iter().filter(|r| r["bench"] == "unet_step").collect();
    assert_eq!(steps.len(), 2, "adapters on and off");
    for r in &steps {
        assert!(r["ms"].as_f64().unwrap() > 0.0);
        assert!(r["dispatches"].as_u64().unwrap() > 0);
        assert_eq!(r["model"], "tiny");
        assert_eq!(r["max_binding_mib"], 128);
    }
    let with = steps.iter().find(|r| r["adapters"] == true).unwrap();
    let without = steps.iter().find(|r| r["adapters"] == false).unwrap();
    assert!(
        with["dispatches"].as_u64() > without["dispatches"].as_u64(),
        "the adapter pass launches more kernels than the plain pass"
    );
    let memory = records.iter().find(|r| r["bench"] == "memory").unwrap();
    assert!(memory["peak_reserved_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn cli_takes_several_subject_photos_and_makes_variations() {
    let dir = std::env::temp_dir().join(format!("ezigen-cli-subjects-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let photos: Vec<String> = (0..5)
        .map(|k| {
            let p = dir.join(format!("dog{k}.png"));
            write_png(&p, 48, 36, |x, y| [200 - k * 20, (x * 5) as u8, (y * 7) as u8 ^ k, 255]);
            p.to_str().unwrap().to_string()
        })
        .collect();
    let mask = dir.join("mask.png");
    write_png(&mask, 48, 36, |x, _| if x < 30 { [255; 4] } else { [0, 0, 0, 255] });
    let out = dir.join("var.png");
    let mut args: Vec<&str> = vec!["generate", "--prompt", "a dog in police outfit", "--subject-prompt", "a dog", "--steps", "3", "--iterations", "1"];
    args.extend(["--backend", "cpu", "--seed", "41", "--count", "2", "--out", out.to_str().unwrap()]);
    for p in &photos[..2] {
        args.extend(["--subject", p.as_str()]);
    }
    args.extend(["--subject-mask", mask.to_str().unwrap(), "--subject-mask", "none"]);
    let run = Command::new(cli_binary()).args(&args).output().unwrap();
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{log}");
    let a = image::open(dir.join("var-1.png")).unwrap().to_rgba8().into_raw();
    let b = image::open(dir.join("var-2.png")).unwrap().to_rgba8().into_raw();
    assert_ne!(a, b, "variations differ");
    assert!(log.contains("seed 41") && log.contains("seed 42"), "{log}");
    assert_eq!(log.matches("SubjectReused").count(), 1, "the second variation reuses the subject:\n{log}");

    // Five photos, or masks that do not pair with the photos, are refused.
    let mut five: Vec<&str> = vec!["generate", "--prompt", "p", "--out", out.to_str().unwrap()];
    for p in &photos {
        five.extend(["--subject", p.as_str()]);
    }
    assert!(refused(&five).contains("5 --subject photos were given; at most 4 are used: remove 1"));
    let pairs = ["generate", "--prompt", "p", "--out", out.to_str().unwrap(), "--subject", &photos[0], "--subject", &photos[1], "--subject-mask", mask.to_str().unwrap()];
    assert!(refused(&pairs).contains("1 --subject-mask for 2 --subject"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 28: `--preview-every 1 DIR` writes one PNG per UNet step of the denoising runs and the
/// inversion (image size, named by stage, iteration and step); `--preset fast` makes at most a
/// third of the UNet passes of `--preset paper` for the same fixed iteration count; the progress
/// lines carry the whole run's estimate.
#[test]
fn cli_previews_every_step_and_presets_cut_the_unet_passes() {
    let dir = std::env::temp_dir().join(format!("ezigen-cli-preview-{}", std::process::id()));
    let (subj, src, mask) = write_inputs(&dir, 64, 64);
    // (stderr, PNG files written) of a run with previews of every step.
    let run = |task: &str, preset: &str, name: &str| {
        let previews = dir.join(name);
        let out = dir.join(format!("{name}.png"));
        let mut args = vec![task, "--subject", subj.to_str().unwrap(), "--out", out.to_str().unwrap(), "--prompt", "a dog", "--iterations", "2"];
        args.extend_from_slice(&["--backend", "cpu", "--preset", preset, "--preview-every", "1", previews.to_str().unwrap()]);
        if task == "edit" {
            args.extend_from_slice(&["--source", src.to_str().unwrap(), "--mask", mask.to_str().unwrap()]);
        }
        let o = Command::new(cli_binary()).args(&args).output().unwrap();
        let log = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "ezigen {args:?} failed:\n{log}");
        let mut files: Vec<String> = std::fs::read_dir(&previews).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        files.sort();
        (log, files)
    };
    // paper: 50 layout steps + 2 × 20 transfer steps; fast (DPM-Solver++, 15): 15 + 2 × 6.
    let (log, paper) = run("generate", "paper", "paper");
    assert_eq!(paper.len(), 90, "{paper:?}");
    assert!(log.contains("wrote 90 preview(s) of 90 UNet step(s)"), "{log}");
    assert_eq!(paper[0], "0001-layout-it0-step01.png");
    assert_eq!(paper[49], "0050-layout-it0-step50.png");
    assert_eq!(paper[89], "0090-transfer-it2-step20.png");
    let img = image::open(dir.join("paper").join(&paper[0])).unwrap();
    assert_eq!((img.width(), img.height()), (128, 128), "previews are upscaled to the image size");
    assert!(log.contains("UNet passes to go") && log.contains(" left"), "progress lines carry the estimate:\n{log}");
    let (_, fast) = run("generate", "fast", "fast");
    assert_eq!(fast.len(), 27, "{fast:?}");
    // The reference pass (one per subject photo) comes on top of the previewed steps.
    assert!(3 * (fast.len() + 1) <= paper.len() + 1, "fast: {} UNet passes, paper: {}", fast.len() + 1, paper.len() + 1);
    // An edit previews the inversion's steps too: 2 × (20 + 20) with paper, 2 × (6 + 6) with fast.
    let (_, edit_paper) = run("edit", "paper", "edit-paper");
    assert_eq!(edit_paper.len(), 80);
    assert!(edit_paper[0].ends_with("-inversion-it1-step01.png") && edit_paper[20].ends_with("-transfer-it1-step01.png"), "{edit_paper:?}");
    let (_, edit_fast) = run("edit", "fast", "edit-fast");
    assert_eq!(edit_fast.len(), 24);
    let _ = std::fs::remove_dir_all(&dir);
}
