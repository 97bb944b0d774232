//! `ezigen dreambench` and `ezigen eval` end to end on a DreamBench-shaped folder made here (2
//! subjects, one object and one live, 2 prompts each, 2 seeds) with the built-in tiny model and
//! the tiny metric models: the file layout, resume after an interruption, two shards merging
//! to the unsharded result, the report, and bad input (missing subject folder, an image that
//! does not decode, missing generated images).

use std::path::{Path, PathBuf};
use std::process::Command;

use ezigen_tests::{cli_binary, fixture};

const PROMPTS: &str = "Classes\n\nsubject_name,class\nteapot,teapot\ndog9,dog\n\nPrompts\n\nObject Prompts\n\nprompt_list = [\n\
'a {0} {1} in the jungle'.format(unique_token, class_token),\n'a red {0} {1}'.format(unique_token, class_token)\n]\n\n\
Live Subject Prompts\n\nprompt_list = [\n'a {0} {1} in a police outfit'.format(unique_token, class_token),\n\
'a {0} {1} wearing a red hat'.format(unique_token, class_token)\n]\n";

const FILES: [&str; 8] = [
    "teapot/00-s0.png",
    "teapot/00-s1.png",
    "teapot/01-s0.png",
    "teapot/01-s1.png",
    "dog9/00-s0.png",
    "dog9/00-s1.png",
    "dog9/01-s0.png",
    "dog9/01-s1.png",
];

fn dataset(dir: &Path) -> PathBuf {
    let d = dir.join("dataset");
    for (subject, n, tint) in [("teapot", 2u32, 40u8), ("dog9", 3, 200)] {
        std::fs::create_dir_all(d.join(subject)).unwrap();
        for i in 0..n {
            let img = image::RgbImage::from_fn(40 + 7 * i, 30 + 5 * i, |x, y| image::Rgb([tint, (x * 6) as u8, (y * 8 + i * 30) as u8]));
            img.save(d.join(subject).join(format!("{i:02}.jpg"))).unwrap();
        }
    }
    std::fs::write(d.join("prompts_and_classes.txt"), PROMPTS).unwrap();
    d
}

fn run(args: &[&str]) -> String {
    let out = Command::new(cli_binary()).args(args).output().unwrap();
    assert!(out.status.success(), "ezigen {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn fails(args: &[&str]) -> String {
    let out = Command::new(cli_binary()).args(args).output().unwrap();
    assert!(!out.status.success(), "ezigen {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn generate(data: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["dreambench", "--dreambench", data.to_str().unwrap(), "--out", out.to_str().unwrap(), "--seeds", "2"];
    args.extend_from_slice(&["--steps", "2", "--iterations", "1", "--backend", "cpu"]);
    args.extend_from_slice(extra);
    run(&args)
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    FILES.iter().filter(|f| dir.join(f).is_file()).map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap())).collect()
}

#[test]
fn dreambench_generates_resumes_and_shards() {
    let dir = std::env::temp_dir().join(format!("ezigen-dreambench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dataset(&dir);
    let full = dir.join("full");
    let log = generate(&data, &full, &[]);
    assert!(log.contains("8 images in all"), "{log}");
    let all = files(&full);
    assert_eq!(all.len(), 8, "every image of the protocol is written: {log}");
    assert_ne!(all[0].1, all[1].1, "the seeds differ");
    // Resume: nothing to do; after an interruption (one image gone, one partial file left)
    // only the missing image is made again, identical to before.
    assert!(generate(&data, &full, &[]).contains("8 already done, 0 to generate"));
    std::fs::remove_file(full.join(FILES[5])).unwrap();
    std::fs::write(full.join("dog9/00-s1.png.partial"), b"cut off").unwrap();
    let log = generate(&data, &full, &[]);
    assert!(log.contains("7 already done, 1 to generate"), "{log}");
    assert_eq!(files(&full), all, "the resumed run gives the same images");
    // Two shards, one through Slurm's variables, merge to the unsharded result.
    let sharded = dir.join("sharded");
    assert!(generate(&data, &sharded, &["--shard", "0/2"]).contains("shard 0/2: 4 images"));
    let out = Command::new(cli_binary())
        .args(["dreambench", "--dreambench", data.to_str().unwrap(), "--out", sharded.to_str().unwrap(), "--seeds", "2"])
        .args(["--steps", "2", "--iterations", "1", "--backend", "cpu", "--shard", "auto"])
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "2")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard 1/2: 4 images"));
    assert_eq!(files(&sharded), all, "two shards give exactly the unsharded images");

    // Scores of the generated folder against the real images, with the tiny metric models.
    let report = dir.join("report");
    let metric = |extra: &[&str]| -> Vec<String> {
        let mut a = vec!["eval", "--generated", full.to_str().unwrap(), "--dreambench", data.to_str().unwrap(), "--seeds", "2"];
        a.extend_from_slice(&["--out", report.to_str().unwrap(), "--backend", "cpu"]);
        for (flag, rel) in [("--clip", "tiny/clip"), ("--clip-text", "tiny/clip-text"), ("--dino", "tiny/dino")] {
            a.push(flag);
            a.push(Box::leak(fixture(rel).to_str().unwrap().to_string().into_boxed_str()));
        }
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect()
    };
    let args = metric(&[]);
    run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(report.with_extension("json")).unwrap()).unwrap();
    assert_eq!(json["overall"]["images"], 8);
    assert_eq!(json["images"].as_array().unwrap().len(), 8);
    assert_eq!(json["images"][4]["prompt"], "a dog in a police outfit");
    for key in ["dino", "clip_i", "clip_t"] {
        let v = json["overall"][key].as_f64().unwrap();
        assert!((-1.0..=1.0).contains(&v) && v != 0.0, "{key} = {v}");
    }
    let md = std::fs::read_to_string(report.with_extension("md")).unwrap();
    assert!(md.contains("| EZIGen (paper) |  | 0.316 | 0.782 | 0.718 |"), "{md}");

    // One image missing, one that does not decode: reported and left out of the means.
    std::fs::remove_file(full.join(FILES[0])).unwrap();
    std::fs::write(full.join(FILES[1]), b"not a png").unwrap();
    run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(report.with_extension("json")).unwrap()).unwrap();
    assert_eq!(json["overall"]["images"], 6);
    assert_eq!(json["missing"], serde_json::json!([FILES[0]]));
    assert_eq!(json["unreadable"][0]["file"], FILES[1]);
    assert!(std::fs::read_to_string(report.with_extension("md")).unwrap().contains("1 expected images are missing and 1 could not be read"));

    // A subject folder that is not there: a clear error naming it.
    std::fs::remove_dir_all(data.join("dog9")).unwrap();
    let err = fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("subject folder") && err.contains("dog9"), "{err}");
    let err = fails(&["dreambench", "--dreambench", data.to_str().unwrap(), "--out", dir.join("x").to_str().unwrap(), "--backend", "cpu"]);
    assert!(err.contains("dog9"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
