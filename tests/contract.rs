//! The Rust↔TypeScript contract: the checked-in generated file matches what the Rust side
//! generates now, and the rules it carries are the ones the core applies.

use std::path::Path;

use ezigen::contract::{LIMITS, MASK_FOREGROUND_MIN, MAX_IMAGE_SIDE};
use ezigen::pipeline::{EditRequest, GenerateRequest, Mask, RgbaImage, SamplingOptions};

const GENERATED: &str = "www/src/generated/contract.ts";

#[test]
fn generated_typescript_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(GENERATED);
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    let now = ezigen::schema::typescript();
    if on_disk != now {
        let line = on_disk.lines().zip(now.lines()).position(|(a, b)| a != b).unwrap_or(on_disk.lines().count().min(now.lines().count()));
        panic!(
            "{GENERATED} is stale (first difference at line {}): regenerate it with `./build.sh build` \
             or `cargo run --release -p ezigen --bin ezigen -- schema --out {GENERATED}`",
            line + 1
        );
    }
}

#[test]
fn the_generated_file_carries_the_rust_constants() {
    let ts = ezigen::schema::typescript();
    assert!(ts.contains(&format!("export const MAX_IMAGE_SIDE: number = {MAX_IMAGE_SIDE};")), "{ts}");
    assert!(ts.contains(&format!("export const MASK_FOREGROUND_MIN: number = {MASK_FOREGROUND_MIN};")));
    assert!(ts.contains(r#"export const COMPONENTS: readonly Component[] = ["tokenizer","text_encoder","unet","adapters","vae_encoder","vae_decoder","clip_vision"];"#));
    assert!(ts.contains(r#""seed":3154,"sampler":"ddpm","steps":50,"guidance":7.5,"editGuidance":2.0,"splitRatio":0.4,"simThreshold":0.99,"iterations":null"#));
    assert!(ts.contains(r#"export const SAMPLERS: readonly SamplerKind[] = ["ddpm","ddim","dpmpp"];"#));
    assert!(ts.contains(r#"{"preset":"fast","sampler":"dpmpp","steps":15,"#), "{ts}");
    assert!(ts.contains("export type GenerateRequest = {"));
    assert!(ts.contains("export type CoreEvent = "));
}

/// A request as the page sends it (the JSON form of the object serde-wasm-bindgen reads).
fn page_generate_request(extra: &str) -> String {
    format!(
        r#"{{"subjects":[{{"image":{{"width":1,"height":1,"data":[1,2,3,255]}},"mask":null}}],"prompt":"a dog",
            "subjectPrompt":"a dog","seed":7,"steps":20,"guidance":7.5,"editGuidance":2,"splitRatio":0.4,
            "simThreshold":0.99,"iterations":null{extra}}}"#
    )
}

#[test]
fn a_page_request_deserialises_with_official_negative_prompts() {
    let req: GenerateRequest = serde_json::from_str(&page_generate_request("")).unwrap();
    assert_eq!((req.options.seed, req.options.steps, req.options.iterations), (7, 20, None));
    assert_eq!(req.negative_prompt, ezigen::pipeline::OFFICIAL_NEGATIVE_PROMPT);
    assert_eq!(req.loop_negative_prompt, "");
    req.validate().unwrap();
}

#[test]
fn a_page_request_cannot_set_the_negative_prompts() {
    let req: GenerateRequest = serde_json::from_str(&page_generate_request(r#","negativePrompt":"x""#)).unwrap();
    assert_eq!(req.negative_prompt, ezigen::pipeline::OFFICIAL_NEGATIVE_PROMPT);
}

#[test]
fn a_deserialised_image_with_the_wrong_byte_count_is_refused() {
    let json = page_generate_request("").replace("[1,2,3,255]", "[1,2,3]");
    let req: GenerateRequest = serde_json::from_str(&json).unwrap();
    let msg = req.validate().unwrap_err().to_string();
    assert!(msg.contains("3 bytes does not match 1×1"), "{msg}");
}

#[test]
fn every_limit_is_enforced_by_the_core() {
    // Both ends of every range: each end is accepted, a value just past it refused by name
    // (integers one past; floats a hundredth of the range past, and NaN).
    type Set = fn(&mut SamplingOptions, f64);
    let cases: [(&str, Set, ezigen::contract::Range, bool); 7] = [
        ("seed", |o, v| o.seed = v as u64, LIMITS.seed, true),
        ("steps", |o, v| o.steps = v as usize, LIMITS.steps, true),
        ("guidance", |o, v| o.guidance = v, LIMITS.guidance, false),
        ("edit guidance", |o, v| o.edit_guidance = v, LIMITS.edit_guidance, false),
        ("split ratio", |o, v| o.split_ratio = v, LIMITS.split_ratio, false),
        ("similarity threshold", |o, v| o.sim_threshold = v, LIMITS.sim_threshold, false),
        ("iterations", |o, v| o.iterations = Some(v as usize), LIMITS.iterations, true),
    ];
    for (name, set, range, integer) in cases {
        for ok in [range.min, range.max] {
            let mut o = SamplingOptions::default();
            set(&mut o, ok);
            assert!(o.validate().is_ok(), "{name} = {ok} is inside the limits");
        }
        let step = if integer { 1.0 } else { (range.max - range.min) / 100.0 };
        let mut bad = vec![range.max + step];
        // An unsigned option at 0 has nothing below it to try.
        if !(integer && range.min == 0.0) {
            bad.push(range.min - step);
        }
        if !integer {
            bad.push(f64::NAN);
        }
        for v in bad {
            let mut o = SamplingOptions::default();
            set(&mut o, v);
            let msg = o.validate().map(|_| String::new()).unwrap_or_else(|e| e.to_string());
            assert!(msg.contains(name), "{name} = {v} is refused, naming the option: {msg:?}");
        }
    }
}

#[test]
fn the_mask_rule_is_one_threshold() {
    assert!(Mask::is_foreground(MASK_FOREGROUND_MIN));
    assert!(!Mask::is_foreground(MASK_FOREGROUND_MIN - 1));
    let m = Mask::new(3, 1, vec![MASK_FOREGROUND_MIN - 1, MASK_FOREGROUND_MIN, 255]).unwrap();
    assert_eq!(m.binary(), vec![0, 255, 255]);
    assert!(Mask::new(1, 1, vec![MASK_FOREGROUND_MIN - 1]).unwrap().is_empty());
    assert!(!Mask::new(1, 1, vec![MASK_FOREGROUND_MIN]).unwrap().is_empty());
}

#[test]
fn an_edit_request_names_its_fields_as_the_page_does() {
    let img = RgbaImage::new(1, 1, vec![0, 0, 0, 255]).unwrap();
    let req = EditRequest::new(img.clone(), Mask::new(1, 1, vec![255]).unwrap(), img, "p", "s");
    let v = serde_json::to_value(&req).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "compositeBackground", "editGuidance", "guidance", "iterations", "mask", "prompt", "sampler", "seed", "simThreshold",
            "source", "splitRatio", "steps", "subjectPrompt", "subjects"
        ]
    );
}

/// Issue 28: the page names the sampler as the CLI does; an unknown one is refused by name.
#[test]
fn a_page_request_names_its_sampler_and_an_unknown_one_is_refused() {
    let req: GenerateRequest = serde_json::from_str(&page_generate_request(r#","sampler":"dpmpp""#)).unwrap();
    assert_eq!(req.options.sampler, ezigen::schedulers::SamplerKind::Dpmpp);
    assert_eq!(ezigen::pipeline::Preset::of(&req.options), None, "dpmpp with 20 steps is no preset");
    let err = serde_json::from_str::<GenerateRequest>(&page_generate_request(r#","sampler":"euler""#)).unwrap_err();
    assert!(err.to_string().contains("euler"), "{err}");
    // Without the key (a page or history item from before samplers): the paper's DDPM.
    let req: GenerateRequest = serde_json::from_str(&page_generate_request("")).unwrap();
    assert_eq!(req.options.sampler, ezigen::schedulers::SamplerKind::Ddpm);
}
