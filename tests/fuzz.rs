//! Property tests over every parser of user input (issue 29): mutated valid inputs (manifest.json
//! and the model configurations inside it, each model's `config.json`, safetensors files and
//! their tensors, PNG, JPEG and WebP bytes) never panic; every refusal is an `Err` with a message.
//! In the page a panic kills the worker, so these are the inputs a picked folder, a download or
//! an upload can hand the core.
//!
//! The mutations are seeded (xorshift), so a failure names a case that replays. Each target runs
//! `CASES` cases; the whole file takes about half a minute.

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::tensor::DType;
use ezigen::convert::{ConvertOptions, convert};
use ezigen::native::DiffusersFolders;
use ezigen::pipeline::RgbaImage;
use ezigen::weights::manifest::Manifest;
use ezigen::weights::safetensors::{SafetensorsHeader, StoredDType, float_data, int_values};
use serde_json::{Value, json};

/// Cases per target.
const CASES: usize = 1500;

/// xorshift64*: the mutations' seeded stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// 1–4 byte-level mutations: bit flips, extreme bytes, insertions, deletions, truncation,
/// a duplicated run.
fn mutate_bytes(rng: &mut Rng, base: &[u8], focus: usize) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len().max(1);
        // Most mutations land in the first `focus` bytes (a header), the rest anywhere.
        let at = if rng.below(4) > 0 { rng.below(focus.min(len)) } else { rng.below(len) };
        let last = v.len().saturating_sub(1);
        match rng.below(7) {
            0 if !v.is_empty() => v[at.min(last)] ^= 1 << rng.below(8),
            1 if !v.is_empty() => v[at.min(last)] = [0, 0xff, 0x7f, 0x80, b'9', b'"', b'{'][rng.below(7)],
            2 => {
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                let at = at.min(v.len());
                v.splice(at..at, bytes);
            }
            3 if !v.is_empty() => {
                let at = at.min(v.len() - 1);
                let end = (at + 1 + rng.below(32)).min(v.len());
                v.drain(at..end);
            }
            4 => v.truncate(at),
            5 if !v.is_empty() => {
                let at = at.min(v.len() - 1);
                let end = (at + 1 + rng.below(64)).min(v.len());
                let run = v[at..end].to_vec();
                v.splice(at..at, run);
            }
            _ => {}
        }
    }
    v
}

/// Values a careless or hostile file may hold where a number, string or list was expected.
fn odd_value(rng: &mut Rng) -> Value {
    match rng.below(16) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(1),
        3 => json!(u64::MAX),
        4 => json!(i64::MIN),
        5 => json!(1e308),
        6 => json!(-1e-308),
        7 => json!(0.5),
        8 => json!(""),
        9 => json!("x/../../etc/passwd"),
        10 => Value::Null,
        11 => json!(true),
        12 => json!([]),
        13 => json!({}),
        14 => json!([0, 0, 0, 0]),
        _ => json!(4_000_000_000u64),
    }
}

/// Every path to a node of `v`, as keys and indices.
fn paths(v: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(prefix.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                prefix.push(json!(k));
                paths(x, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                prefix.push(json!(i));
                paths(x, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn node<'v>(v: &'v mut Value, path: &[Value]) -> &'v mut Value {
    path.iter().fold(v, |v, step| match step {
        Value::String(k) => &mut v[k.as_str()],
        Value::Number(i) => &mut v[i.as_u64().unwrap() as usize],
        _ => unreachable!(),
    })
}

/// 1–3 structural mutations of a JSON document: a node replaced by an odd value, a key
/// removed, a list emptied or grown.
fn mutate_json(rng: &mut Rng, base: &Value) -> Value {
    let mut v = base.clone();
    for _ in 0..1 + rng.below(3) {
        let mut all = Vec::new();
        paths(&v, &mut Vec::new(), &mut all);
        let path = all[rng.below(all.len())].clone();
        match rng.below(4) {
            0 | 1 => *node(&mut v, &path) = odd_value(rng),
            2 => {
                if let Some((last, parent)) = path.split_last() {
                    match (node(&mut v, parent), last) {
                        (Value::Object(m), Value::String(k)) => {
                            m.remove(k);
                        }
                        (Value::Array(a), Value::Number(i)) => {
                            a.remove(i.as_u64().unwrap() as usize);
                        }
                        _ => {}
                    }
                }
            }
            _ => {
                if let Value::Array(a) = node(&mut v, &path) {
                    let extra = a.first().cloned().unwrap_or(Value::Null);
                    a.push(extra);
                }
            }
        }
    }
    v
}

/// Runs `f` on every case: a panic fails the test naming the case; an `Err` must say something.
/// Returns (accepted, refused).
fn no_panic(target: &str, cases: impl Iterator<Item = Vec<u8>>, f: impl Fn(&[u8]) -> ezigen::Result<()>) -> (usize, usize) {
    let (mut ok, mut refused) = (0, 0);
    for (i, input) in cases.enumerate() {
        match catch_unwind(AssertUnwindSafe(|| f(&input))) {
            Ok(Ok(())) => ok += 1,
            Ok(Err(e)) => {
                assert!(!e.to_string().trim().is_empty(), "{target} case {i}: an error without a message");
                refused += 1;
            }
            Err(_) => {
                let path = std::env::temp_dir().join(format!("ezigen-fuzz-{target}-{i}.bin"));
                std::fs::write(&path, &input).unwrap();
                panic!("{target} case {i} panicked; its input is in {}", path.display());
            }
        }
    }
    eprintln!("FUZZ {target}: {} cases, {ok} accepted, {refused} refused with a message, no panic", ok + refused);
    (ok, refused)
}

fn json_cases(seed: u64, base: Value) -> impl Iterator<Item = Vec<u8>> {
    let mut rng = Rng(seed);
    (0..CASES).map(move |i| {
        // Mostly structural mutations of valid JSON; a quarter are byte-level.
        if i % 4 == 3 {
            mutate_bytes(&mut rng, base.to_string().as_bytes(), usize::MAX)
        } else {
            mutate_json(&mut rng, &base).to_string().into_bytes()
        }
    })
}

fn text(bytes: &[u8]) -> ezigen::Result<&str> {
    std::str::from_utf8(bytes).map_err(|e| ezigen::Error::Config(format!("not UTF-8: {e}")))
}

#[test]
fn a_mutated_manifest_and_its_model_configurations_never_panic() {
    let out = std::env::temp_dir().join(format!("ezigen-fuzz-model-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let options = ConvertOptions {
        folders: DiffusersFolders::builtin_tiny(),
        out: out.clone(),
        dtype: StoredDType::F16,
        shard_bytes: 1 << 20,
        name: "tiny-random".into(),
        tiny: true,
    };
    convert(&options).unwrap();
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&out);
    let (ok, refused) = no_panic("manifest", json_cases(1, manifest), |b| {
        let m = Manifest::from_json(text(b)?)?;
        ezigen::loader::parse_configs(&m.config).map(|_| ())
    });
    assert!(ok > 0 && refused > 0, "the mutations reach both outcomes");
}

#[test]
fn mutated_model_configurations_never_panic() {
    use ezigen::models::clip::ClipConfig;
    use ezigen::models::unet::UNet2DConditionConfig;
    use ezigen::models::vae::AutoencoderKLConfig;
    use ezigen::schedulers::SchedulerConfig;
    let read = |p: &str| -> Value { serde_json::from_str(&std::fs::read_to_string(ezigen_tests::fixture(p)).unwrap()).unwrap() };
    let presets = |s: &str| -> Value { serde_json::from_str(s).unwrap() };
    no_panic("unet config", json_cases(2, presets(ezigen::presets::SD21_BASE_UNET)), |b| UNet2DConditionConfig::from_json(text(b)?).map(|_| ()));
    no_panic("unet config (tiny)", json_cases(3, read("tiny/unet/config.json")), |b| UNet2DConditionConfig::from_json(text(b)?).map(|_| ()));
    no_panic("vae config", json_cases(4, read("tiny/vae/config.json")), |b| AutoencoderKLConfig::from_json(text(b)?).map(|_| ()));
    no_panic("clip vision config", json_cases(5, read("tiny/clip/config.json")), |b| ClipConfig::from_json(text(b)?, "vision_config").map(|_| ()));
    no_panic("text encoder config", json_cases(6, read("tiny/text_encoder/config.json")), |b| ClipConfig::from_json(text(b)?, "text_config").map(|_| ()));
    no_panic("scheduler config", json_cases(7, read("tiny/scheduler/scheduler_config.json")), |b| SchedulerConfig::from_json(text(b)?).map(|_| ()));
}

#[test]
fn mutated_safetensors_files_never_panic() {
    let base = std::fs::read(ezigen_tests::fixture("tiny/vae/diffusion_pytorch_model.safetensors")).unwrap();
    let header = 8 + u64::from_le_bytes(base[..8].try_into().unwrap()) as usize;
    let mut rng = Rng(8);
    let cases = (0..CASES).map(move |_| mutate_bytes(&mut rng, &base, header));
    let (ok, refused) = no_panic("safetensors", cases, |bytes| {
        let h = SafetensorsHeader::parse(bytes, "vae.safetensors")?;
        // The same header read by range (the converter's and the page's path) agrees.
        let by_range = SafetensorsHeader::read(&bytes, "vae.safetensors")?;
        assert_eq!(h.tensors, by_range.tensors);
        for t in &h.tensors {
            let data = bytes.get(t.range.clone()).ok_or_else(|| ezigen::Error::Input("range outside the file".into()))?;
            if t.dtype.is_float() {
                float_data(t, data, DType::F32, "vae.safetensors")?;
            } else {
                int_values(t, data, "vae.safetensors")?;
            }
        }
        Ok(())
    });
    assert!(ok > 0 && refused > 0, "the mutations reach both outcomes");
}

#[test]
fn mutated_png_jpeg_and_webp_bytes_never_panic() {
    let img = image::RgbaImage::from_fn(37, 23, |x, y| image::Rgba([(x * 7) as u8, (y * 11) as u8, 90, (x * y) as u8]));
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let mut webp = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut webp), image::ImageFormat::WebP).unwrap();
    let rgb = image::DynamicImage::ImageRgba8(img).to_rgb8();
    let mut jpeg = Vec::new();
    rgb.write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
    for (name, base, seed) in [("png", png, 9), ("jpeg", jpeg, 10), ("webp", webp, 11)] {
        let mut rng = Rng(seed);
        let cases = (0..CASES).map(move |_| mutate_bytes(&mut rng, &base, 64));
        no_panic(name, cases, |b| {
            let img = RgbaImage::decode(b)?;
            img.check()?;
            img.to_rgb_on_white();
            // The page's decode of the same bytes (the aspect rule on top) agrees or refuses.
            match RgbaImage::decode_photo(b) {
                Ok(photo) => assert_eq!(photo, img, "decode_photo and decode differ on a photo both accept"),
                Err(e) => assert!(e.to_string().contains("more elongated"), "decode_photo refused what decode read: {e}"),
            }
            Ok(())
        });
    }
}
