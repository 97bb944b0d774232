//! The training data readers on tiny synthetic datasets in the public formats
//! (`tests/gen/make_train_data.py`): mask decoding against pycocotools, the official COCO
//! instance rules, YouTube-VIS filters, the folder format, and how unusable samples are counted.

use std::path::PathBuf;

use ezigen::train::data::coco::{Coco, Segmentation};
use ezigen::train::data::folder::Folder;
use ezigen::train::data::rle::Rle;
use ezigen::train::data::ytvis::YouTubeVis;
use ezigen::train::data::{Cursor, DataSource, DataSpec, DataStats, Draw, Mixture};
use ezigen::train::rng::Rng;
use serde_json::Value;

fn data(rel: &str) -> PathBuf {
    ezigen_tests::fixture("train/data").join(rel)
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(data(rel)).unwrap()).unwrap()
}

/// The golden mask (pycocotools) as row-major bytes.
fn golden(g: &Value) -> Vec<u8> {
    let counts: Vec<u32> = g["rle"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    Rle { h: g["height"].as_u64().unwrap() as usize, w: g["width"].as_u64().unwrap() as usize, counts }.decode()
}

#[test]
fn coco_masks_decode_as_pycocotools_does() {
    let gold = json("coco_masks.json");
    let mut checked = 0;
    for split in ["train2014", "val2014"] {
        let inst = json(&format!("coco/annotations/instances_{split}.json"));
        let sizes: std::collections::HashMap<u64, (usize, usize)> = inst["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["id"].as_u64().unwrap(), (i["height"].as_u64().unwrap() as usize, i["width"].as_u64().unwrap() as usize)))
            .collect();
        for a in inst["annotations"].as_array().unwrap() {
            let id = a["id"].as_u64().unwrap().to_string();
            let (h, w) = sizes[&a["image_id"].as_u64().unwrap()];
            let seg: Segmentation = serde_json::from_value(a["segmentation"].clone()).unwrap();
            let mask = seg.decode(h, w).unwrap_or_else(|| panic!("annotation {id} decodes"));
            let expected = golden(&gold[&id]);
            let differ = mask.iter().zip(&expected).filter(|(a, b)| a != b).count();
            assert_eq!(differ, 0, "annotation {id}: {differ} pixels differ from pycocotools");
            assert_eq!(mask.iter().map(|&m| m as u64).sum::<u64>(), gold[&id]["area"].as_u64().unwrap());
            checked += 1;
        }
    }
    assert_eq!(checked, gold.as_object().unwrap().len());
}

#[test]
fn ytvis_masks_decode_as_pycocotools_does() {
    let gold = json("ytvis_masks.json");
    let train = json("ytvis/train/train.json");
    for (key, g) in gold.as_object().unwrap() {
        let (ann, frame) = key.split_once('/').unwrap();
        let a = train["annotations"].as_array().unwrap().iter().find(|a| a["id"].as_u64().unwrap().to_string() == ann).unwrap();
        let s = &a["segmentations"][frame.parse::<usize>().unwrap()];
        let counts: Vec<u32> = s["counts"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let rle = Rle { h: s["size"][0].as_u64().unwrap() as usize, w: s["size"][1].as_u64().unwrap() as usize, counts };
        assert_eq!(rle.decode(), golden(g), "{key}");
    }
}

fn sample(d: Draw) -> ezigen::train::data::RawSample {
    match d {
        Draw::Sample(s) => s,
        other => panic!("expected a sample, got {other:?}"),
    }
}

#[test]
fn coco_follows_the_official_instance_rules() {
    let coco = Coco::open(&data("coco"), None).unwrap();
    assert_eq!(coco.len(), 7, "5 train + 2 val images");
    let mut rng = Rng::keyed(0, "test", 0);
    // a: two instances over 1000 px, largest first; the 308 px bottle is filtered
    let a = sample(coco.get(0, 64, &mut rng));
    assert_eq!(a.subject_prompts, ["a photo of a dog.", "a photo of a teddybear."]);
    assert!(a.subjects.iter().all(|s| (s.width, s.height, s.channels) == (64, 64, 3)));
    assert_eq!((a.target.width, a.target.height), (64, 64));
    let captions = json("coco/annotations/captions_train2014.json");
    let longest = captions["annotations"].as_array().unwrap().iter().filter(|c| c["image_id"] == 139).map(|c| c["caption"].as_str().unwrap()).max_by_key(|c| c.len()).unwrap();
    assert_eq!(a.caption, longest);
    // b: six instances: top half by area only, the crowd RLE skipped as the official merge call fails
    let b = sample(coco.get(1, 64, &mut rng));
    assert_eq!(b.subject_prompts, ["a photo of a sofa.", "a photo of a chair."]);
    // c: nothing usable: 4 black subjects
    let c = sample(coco.get(2, 64, &mut rng));
    assert_eq!(c.subjects.len(), 4);
    assert!(c.subjects.iter().all(|s| s.data.iter().all(|&v| v == 0)));
    assert_eq!(c.subject_prompts, vec!["a photo of a .".to_string(); 4]);
    // d: missing file, e: corrupt file
    for (i, what) in [(3, "missing"), (4, "corrupt")] {
        match coco.get(i, 64, &mut rng) {
            Draw::Unreadable { path, .. } => assert!(path.to_string_lossy().contains("COCO_train2014"), "{what}: {}", path.display()),
            other => panic!("{what} image: expected Unreadable, got {other:?}"),
        }
    }
    // f: the compressed-RLE dog is skipped, the person polygon kept
    let f = sample(coco.get(5, 64, &mut rng));
    assert_eq!(f.subject_prompts, ["a photo of a person."]);
    // the cap keeps the first N images
    assert_eq!(Coco::open(&data("coco"), Some(3)).unwrap().len(), 3);
}

#[test]
fn youtube_vis_samples_pass_the_official_filters() {
    let ytvis = YouTubeVis::open(&data("ytvis/train"), None).unwrap();
    assert_eq!(ytvis.len(), 3);
    let (mut ok, mut filtered, mut unreadable) = (0, std::collections::BTreeMap::new(), 0);
    let mut categories = std::collections::BTreeSet::new();
    for i in 0..200 {
        let mut rng = Rng::keyed(3154, "test", i);
        match ytvis.get(0, 64, &mut rng) {
            Draw::Sample(s) => {
                ok += 1;
                assert_eq!(s.subjects.len(), 1);
                assert_eq!((s.subjects[0].width, s.target.width, s.target.height), (64, 64, 64));
                let cat = s.subject_prompts[0].trim_start_matches("a photo of a ").trim_end_matches('.').to_string();
                assert!(s.caption.contains(&cat), "{} / {}", s.caption, s.subject_prompts[0]);
                categories.insert(cat);
            }
            Draw::Filtered(r) => *filtered.entry(r).or_insert(0) += 1,
            Draw::Unreadable { .. } => unreadable += 1,
        }
    }
    eprintln!("ytvis: {ok} samples, filtered {filtered:?}, unreadable {unreadable}, categories {categories:?}");
    assert!(ok > 0);
    assert!(categories.contains("dog") && categories.contains("cat"), "{categories:?}");
    assert!(!categories.contains("parrot"), "the tiny parrot fails the area filter");
    assert!(filtered.contains_key("mask area ratio outside [0.01, 0.64]"), "{filtered:?}");
    assert!(filtered.contains_key("subject mask not connected"), "{filtered:?}");
}

#[test]
fn folder_samples_and_an_unreadable_line() {
    let folder = Folder::open(&data("folder")).unwrap();
    assert_eq!(folder.len(), 4);
    let mut rng = Rng::keyed(0, "test", 0);
    let s = sample(folder.get(2, 64, &mut rng));
    assert_eq!(s.subjects.len(), 4);
    assert_eq!(s.subject_prompts[0], "a photo of a toy.");
    assert_eq!(s.caption, "a red toy in the snow");
    assert!(matches!(folder.get(3, 64, &mut rng), Draw::Unreadable { .. }));
}

#[test]
fn the_mixture_skips_and_counts_unusable_samples() {
    let sources = vec![DataSpec::parse(&format!("coco:{}", data("coco").display())).unwrap().open().unwrap()];
    let mix = Mixture::new(sources, 3154).unwrap();
    let (mut cursor, mut stats) = (Cursor::default(), DataStats::default());
    let mut reported = Vec::new();
    for step in 0..14 {
        let mut rng = Rng::keyed(3154, "step", step);
        mix.next(&mut cursor, 32, &mut rng, &mut stats, &mut |p, _| reported.push(p.to_path_buf()), 10).unwrap();
    }
    // two epochs: each has the missing and the corrupt image once
    assert_eq!(stats.used, 14);
    assert!(cursor.consumed >= 14 + 2, "{cursor:?}");
    assert_eq!(stats.unreadable as usize, reported.len());
    assert!(reported.iter().any(|p| p.ends_with("COCO_train2014_000000000724.jpg")));
    // bad specs and empty data are clear errors
    assert!(DataSpec::parse("imagenet:/x").is_err());
    assert!(DataSpec::parse(&format!("folder:{}", data("nope").display())).unwrap().open().is_err());
    assert!(Mixture::new(Vec::new(), 0).is_err());
    let empty = std::env::temp_dir().join(format!("ezigen-empty-folder-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("metadata.jsonl"), "").unwrap();
    let e = Mixture::new(vec![Box::new(Folder::open(&empty).unwrap())], 0).err().unwrap();
    std::fs::remove_dir_all(&empty).ok();
    assert!(e.to_string().contains("empty"), "{e}");
}
