//! `ezigen train` end to end on the tiny model and the synthetic datasets: an interrupted and
//! resumed run repeats the uninterrupted one exactly, checkpoints keep the newest N in the
//! official layout and convert and generate, and bad input is a clear error.

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::DType;
use ezigen::train::data::DataSpec;
use ezigen::train::{StepLog, TrainOptions, TrainProgress, run};
use ezigen::weights::SafetensorsHeader;
use ezigen_tests::{cli_binary, cpu, fixture};

struct Quiet(Vec<String>);

impl TrainProgress for Quiet {
    fn step(&mut self, _log: &StepLog, _total: u64) {}
    fn message(&mut self, text: &str) {
        self.0.push(text.to_string());
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ezigen-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn options(out: &Path, steps: u64) -> TrainOptions {
    let data = fixture("train/data");
    let specs = vec![
        DataSpec::Folder(data.join("folder")),
        DataSpec::Coco(data.join("coco"), None),
        DataSpec::YouTubeVis(data.join("ytvis/train"), None),
    ];
    let mut o = TrainOptions::new(fixture("tiny"), specs, out.to_path_buf(), steps);
    o.save_every = 2;
    o.keep = 2;
    o.grad_accum = 2;
    o
}

fn trainables(ckpt: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(ckpt.join("model.safetensors")).unwrap();
    let h = SafetensorsHeader::parse(&bytes, "model").unwrap();
    h.tensors.iter().filter(|t| ezigen::weights::is_adapter_key(&t.name)).map(|t| (t.name.clone(), bytes[t.range.clone()].to_vec())).collect()
}

#[test]
fn a_resumed_run_repeats_the_uninterrupted_one() {
    let device = cpu();
    let (a, b) = (scratch("a"), scratch("b"));
    let mut q = Quiet(Vec::new());
    let whole = run(&options(&a, 6), &device, &mut q).unwrap();
    assert_eq!((whole.steps_run, whole.last_step), (6, 6));
    assert!(whole.stats.unreadable > 0, "the synthetic data has unreadable files: {:?}", whole.stats);
    assert!(q.0.iter().any(|m| m.contains("skipped unreadable")), "{:?}", q.0);
    // the newest two checkpoints are kept
    let mut kept: Vec<String> = std::fs::read_dir(&a).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).filter(|n| n.starts_with("checkpoint-")).collect();
    kept.sort();
    assert_eq!(kept, ["checkpoint-4", "checkpoint-6"]);

    // interrupted after 4 steps (a fresh process would see exactly this folder), then resumed
    run(&options(&b, 4), &device, &mut q).unwrap();
    let mut resumed = options(&b, 6);
    resumed.resume = Some(b.clone());
    let rest = run(&resumed, &device, &mut q).unwrap();
    assert_eq!((rest.steps_run, rest.last_step), (2, 6));

    let log = |d: &Path| ezigen::train::run::read_log(&d.join("train_log.jsonl"));
    let (la, lb) = (log(&a), log(&b));
    assert_eq!(la.len(), 6);
    assert_eq!(lb.len(), 6);
    for (x, y) in la.iter().zip(&lb) {
        assert_eq!((x.step, x.loss, x.grad_norm), (y.step, y.loss, y.grad_norm), "step {}", x.step);
    }
    assert_eq!(trainables(&a.join("checkpoint-6")), trainables(&b.join("checkpoint-6")), "same parameters after the resumed run");
    let state = |d: &Path| std::fs::read_to_string(d.join("checkpoint-6/trainer_state.json")).unwrap();
    assert_eq!(state(&a), state(&b));
    assert!(std::fs::read_to_string(a.join("loss.svg")).unwrap().contains("<polyline"));
    for d in [a, b] {
        std::fs::remove_dir_all(d).ok();
    }
}

#[test]
fn a_checkpoint_is_the_official_layout_and_converts_and_generates() {
    let out = scratch("convert");
    let mut o = options(&out, 2);
    o.grad_accum = 1;
    o.validation = Some(ezigen::train::validate::ValidationOptions {
        every: 2,
        subject: fixture("train/data/folder/images/s0_0.jpg"),
        subject_prompt: "a dog".into(),
        prompts: vec!["a dog on the beach".into(), "a dog in police outfit".into()],
        clip: fixture("tiny/clip"),
        steps: 4,
        seed: 3154,
    });
    let mut q = Quiet(Vec::new());
    run(&o, &cpu(), &mut q).unwrap();
    for i in 0..2 {
        let png = out.join(format!("validation/step-2/{i}.png"));
        let img = image::open(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert_eq!((img.width(), img.height()), (128, 128));
    }
    assert!(q.0.iter().any(|m| m.starts_with("validation images")), "{:?}", q.0);
    let ckpt = out.join("checkpoint-2");
    let bytes = std::fs::read(ckpt.join("model.safetensors")).unwrap();
    let h = SafetensorsHeader::parse(&bytes, "model").unwrap();
    let base = std::fs::read(fixture("tiny/unet/diffusion_pytorch_model.safetensors")).unwrap();
    let hb = SafetensorsHeader::parse(&base, "base").unwrap();
    // every stock key, unchanged, plus 16 × 7 adapter tensors and learnable_weights, all f32
    assert_eq!(h.tensors.len(), hb.tensors.len() + 16 * 7 + 1);
    assert!(h.tensors.iter().all(|t| t.dtype == ezigen::weights::StoredDType::F32));
    for t in &hb.tensors {
        let mine = h.tensors.iter().find(|m| m.name == t.name).unwrap_or_else(|| panic!("{} missing", t.name));
        let a = ezigen::weights::safetensors::float_data(t, &base[t.range.clone()], DType::F32, "base").unwrap();
        let b = ezigen::weights::safetensors::float_data(mine, &bytes[mine.range.clone()], DType::F32, "ckpt").unwrap();
        assert_eq!(a.as_bytes(), b.as_bytes(), "{} changed", t.name);
    }
    let conv = out.join("converted");
    let tiny = fixture("tiny");
    let status = Command::new(cli_binary())
        .args(["convert", "--sd"]).arg(&tiny).arg("--ezigen").arg(&ckpt).arg("--clip").arg(tiny.join("clip")).arg("--out").arg(&conv)
        .args(["--dtype", "f32"])
        .status()
        .unwrap();
    assert!(status.success(), "convert");
    let png = out.join("gen.png");
    let output = Command::new(cli_binary())
        .args(["generate", "--weights"]).arg(&conv)
        .arg("--subject").arg(fixture("train/data/folder/images/s0_0.jpg"))
        .args(["--subject-prompt", "a dog", "--prompt", "a dog on the beach", "--steps", "4", "--backend", "cpu", "--out"]).arg(&png)
        .output()
        .unwrap();
    assert!(output.status.success(), "generate: {}", String::from_utf8_lossy(&output.stderr));
    assert!(png.is_file());
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn bad_training_input_is_a_clear_error() {
    let out = scratch("bad");
    let device = cpu();
    let mut q = Quiet(Vec::new());
    let err = |o: TrainOptions| run(&o, &device, &mut Quiet(Vec::new())).err().expect("an error").to_string();
    // a wrong --sd folder
    let mut o = options(&out, 1);
    o.sd = fixture("train/data");
    let e = err(o);
    assert!(e.contains("unet/config.json"), "{e}");
    // a COCO root without its instances file
    let coco = out.join("coco");
    std::fs::create_dir_all(coco.join("annotations")).unwrap();
    std::fs::copy(fixture("train/data/coco/annotations/captions_val2014.json"), coco.join("annotations/captions_val2014.json")).unwrap();
    let mut o = options(&out, 1);
    o.data = vec![DataSpec::Coco(coco.clone(), None)];
    let e = err(o);
    assert!(e.contains("instances_val2014.json") && e.contains("missing"), "{e}");
    // only unusable samples: the loader gives up with the reason
    let mut o = options(&out, 1);
    o.data = vec![DataSpec::Folder(out.join("broken"))];
    std::fs::create_dir_all(out.join("broken")).unwrap();
    std::fs::write(out.join("broken/metadata.jsonl"), "{\"target\":\"nope.jpg\",\"caption\":\"x\",\"subjects\":[\"nope.jpg\"],\"category\":\"dog\"}\n").unwrap();
    o.max_skips = 5;
    let e = err(o);
    assert!(e.contains("unusable") && e.contains("nope.jpg"), "{e}");
    // resuming with another seed is refused
    let mut o = options(&out, 2);
    o.data = vec![DataSpec::Folder(fixture("train/data/folder"))];
    run(&o, &device, &mut q).unwrap();
    // a new run into the same --out is refused (it would overwrite the checkpoints and the log)
    let log = std::fs::read_to_string(out.join("train_log.jsonl")).unwrap();
    let e = err(o.clone());
    assert!(e.contains("already holds a training run") && e.contains("--resume"), "{e}");
    assert_eq!(std::fs::read_to_string(out.join("train_log.jsonl")).unwrap(), log, "nothing was lost");
    o.resume = Some(out.clone());
    o.seed = 1;
    o.steps = 3;
    let e = err(o);
    assert!(e.contains("--seed"), "{e}");
    std::fs::remove_dir_all(out).ok();
}
