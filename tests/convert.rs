//! `ezigen convert` and the converted-format loader: the tiny model converted from safetensors
//! and from a `.bin` checkpoint with a `module.` prefix reproduces the reference outputs; every
//! way of damaging the output (corrupt, truncated or deleted shard, edited manifest) and every
//! wrong input (wrong model, missing adapters, missing folder) gives a clear error.

use std::path::{Path, PathBuf};

use burn::tensor::DType;
use ezigen::Error;
use ezigen::convert::{ConvertOptions, convert};
use ezigen::models::unet::{FeatureBank, RefMode};
use ezigen::native::{DiffusersFolders, builtin_tiny_dir, load_converted};
use ezigen::weights::StoredDType;
use ezigen::weights::safetensors::{SafetensorsHeader, TensorToWrite, write};
use ezigen::weights::manifest::Manifest;
use ezigen_tests::{Io, assert_close, cpu, host};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ezigen-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn options(folders: DiffusersFolders, out: &Path, dtype: StoredDType, shard_mb: usize) -> ConvertOptions {
    ConvertOptions { folders, out: out.to_path_buf(), dtype, shard_bytes: shard_mb << 20, name: "tiny-random".into(), tiny: true }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() { copy_dir(&e.path(), &dst) } else { std::fs::copy(e.path(), dst).unwrap(); }
    }
}

/// The UNet of a loaded pipeline against the fixture's adapter pass.
fn check_unet(pipe: &ezigen::pipeline::Pipeline, tol: f32, label: &str) {
    let io = Io::load("io/unet.safetensors");
    let device = pipe.device().clone();
    let dtype = pipe.dtype();
    let unet = &pipe.models.unet;
    let ctx = io.tensor::<3>("ref.encoder_hidden_states", &device, dtype);
    let mut bank = FeatureBank::default();
    let _ = unet.forward(io.tensor("ref.sample", &device, dtype), 1.0, &ctx, RefMode::Capture(&mut bank));
    let s = unet.subject_features(&bank, 2);
    let ctx = io.tensor::<3>("main.encoder_hidden_states", &device, dtype);
    let out = unet.forward(io.tensor("main.sample", &device, dtype), 381.0, &ctx, RefMode::Inject(&s));
    assert_close(&format!("converted {label} shards, unet cpu"), &host(out), &io.f32("main.out_adapter"), tol);
}

#[test]
fn converted_tiny_model_reproduces_the_reference() {
    let device = cpu();
    for (dtype, tol) in [(StoredDType::F32, 1e-4), (StoredDType::F16, 3e-2)] {
        let out = scratch(&format!("conv-{}", dtype.name()));
        // Small shards force several per component.
        let m = convert(&options(DiffusersFolders::builtin_tiny(), &out, dtype, 1)).unwrap();
        assert!(m.components["unet"].shards.len() >= 2, "unet split into several shards");
        assert_eq!(m.components["adapters"].tensors.len(), 113);
        let lw = m.components["adapters"].tensors.iter().find(|t| t.name == "learnable_weights").unwrap();
        assert_eq!(lw.dtype, "F32", "learnable_weights stay f32");
        for (name, shard) in &m.shards {
            let len = std::fs::metadata(out.join(name)).unwrap().len();
            assert_eq!(len, shard.bytes);
            let in_shard: Vec<_> = m.components[&shard.component].tensors.iter().filter(|t| &t.shard == name).collect();
            let data: u64 = in_shard.iter().map(|t| t.end - t.begin).sum();
            assert!(data <= 1 << 20 || in_shard.len() == 1, "{name}: {data} bytes of tensors");
        }
        let reparsed = Manifest::from_json(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(reparsed.total_bytes, m.total_bytes);
        let pipe = load_converted(&out, &device, DType::F32).unwrap();
        check_unet(&pipe, tol, dtype.name());
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
fn bin_checkpoint_with_module_prefix_gives_the_same_adapters() {
    let a = scratch("st");
    let b = scratch("bin");
    let ma = convert(&options(DiffusersFolders::builtin_tiny(), &a, StoredDType::F32, 64)).unwrap();
    let mut folders = DiffusersFolders::builtin_tiny();
    folders.ezigen = builtin_tiny_dir().join("ezigen/checkpoint-bin");
    let mb = convert(&options(folders, &b, StoredDType::F32, 64)).unwrap();
    for (name, shard) in &ma.shards {
        assert_eq!(shard.sha256, mb.shards[name].sha256, "{name} differs between safetensors and .bin sources");
    }
    let _ = (std::fs::remove_dir_all(a), std::fs::remove_dir_all(b));
}

fn expect_weights_error(dir: &Path, needle: &str) {
    match load_converted(dir, &cpu(), DType::F32) {
        Err(e @ (Error::Weights { .. } | Error::Config(_))) => {
            let msg = e.to_string();
            assert!(msg.contains(needle), "expected `{needle}` in: {msg}");
        }
        Err(other) => panic!("unexpected error kind: {other}"),
        Ok(_) => panic!("loading damaged weights succeeded ({needle})"),
    }
}

#[test]
fn damaged_conversions_are_refused() {
    let out = scratch("damage");
    let m = convert(&options(DiffusersFolders::builtin_tiny(), &out, StoredDType::F16, 1)).unwrap();
    let shard = m.components["unet"].shards[0].clone();
    let path = out.join(&shard);
    let good = std::fs::read(&path).unwrap();

    let mut corrupt = good.clone();
    let n = corrupt.len();
    corrupt[n - 10] ^= 0xff;
    std::fs::write(&path, &corrupt).unwrap();
    expect_weights_error(&out, "SHA-256");

    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    expect_weights_error(&out, "truncated");

    std::fs::remove_file(&path).unwrap();
    expect_weights_error(&out, &shard);
    std::fs::write(&path, &good).unwrap();

    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    std::fs::write(out.join("manifest.json"), manifest.replace("\"version\": 1", "\"version\": 99")).unwrap();
    expect_weights_error(&out, "version 99");
    std::fs::write(out.join("manifest.json"), manifest.replace("\"adapters\": {", "\"adapters_gone\": {")).unwrap();
    expect_weights_error(&out, "component `adapters` is missing");
    std::fs::write(out.join("manifest.json"), &manifest).unwrap();
    assert!(load_converted(&out, &cpu(), DType::F32).is_ok(), "restored files load again");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn wrong_inputs_are_refused() {
    let root = scratch("wrong");
    let sd = root.join("sd");
    copy_dir(&builtin_tiny_dir(), &sd);
    let folders = |sd: &Path, ez: &Path| DiffusersFolders { sd: sd.to_path_buf(), ezigen: ez.to_path_buf(), clip: sd.join("clip"), clip_text: None, dino: None };
    let fail = |f: DiffusersFolders, needle: &str| {
        let mut o = options(f, &root.join("out"), StoredDType::F16, 64);
        o.tiny = true;
        match convert(&o) {
            Err(e) => assert!(e.to_string().contains(needle), "expected `{needle}` in: {e}"),
            Ok(_) => panic!("conversion should fail ({needle})"),
        }
    };
    // A missing folder.
    fail(folders(&root.join("nope"), &sd.join("ezigen/checkpoint")), "nope");
    // The EZIGen folder holding a stock UNet (no adapters).
    let fake = root.join("fake-ckpt");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::copy(sd.join("unet/diffusion_pytorch_model.safetensors"), fake.join("model.safetensors")).unwrap();
    fail(folders(&sd, &fake), "lacks 113 of the 113 adapter tensors");
    // Adapters whose shapes do not fit this UNet (a checkpoint trained on another base).
    let ck = std::fs::read(sd.join("ezigen/checkpoint/model.safetensors")).unwrap();
    let header = SafetensorsHeader::parse(&ck, "checkpoint").unwrap();
    let tensors: Vec<(String, StoredDType, Vec<usize>, Vec<u8>)> = header
        .tensors
        .iter()
        .map(|t| {
            let shape = if t.name.ends_with("mid_block.attentions.0.transformer_blocks.0.adapter.to_q.weight") { vec![t.numel()] } else { t.shape.clone() };
            (t.name.clone(), t.dtype, shape, ck[t.range.clone()].to_vec())
        })
        .collect();
    assert!(tensors.iter().any(|t| t.2.len() == 1 && t.0.contains("adapter.to_q")), "the mid-block adapter is in the checkpoint");
    let misfit = root.join("misfit-ckpt");
    std::fs::create_dir_all(&misfit).unwrap();
    let views: Vec<TensorToWrite> = tensors.iter().map(|(n, d, s, b)| TensorToWrite { name: n, dtype: *d, shape: s, bytes: b }).collect();
    std::fs::write(misfit.join("model.safetensors"), write(&views, &Default::default())).unwrap();
    fail(folders(&sd, &misfit), "does not fit this Stable Diffusion model: mid_block.attentions.0.transformer_blocks.0.adapter.to_q.weight");
    // A truncated weights file.
    let unet_file = sd.join("unet/diffusion_pytorch_model.safetensors");
    let unet_bytes = std::fs::read(&unet_file).unwrap();
    std::fs::write(&unet_file, &unet_bytes[..unet_bytes.len() - 1000]).unwrap();
    fail(folders(&sd, &sd.join("ezigen/checkpoint")), "truncated");
    std::fs::write(&unet_file, &unet_bytes).unwrap();
    // The 768-px v-prediction model.
    let sched = sd.join("scheduler/scheduler_config.json");
    let text = std::fs::read_to_string(&sched).unwrap();
    std::fs::write(&sched, text.replace("\"epsilon\"", "\"v_prediction\"")).unwrap();
    fail(folders(&sd, &sd.join("ezigen/checkpoint")), "v-prediction");
    std::fs::write(&sched, &text).unwrap();
    // An SD 1.x-like text/UNet mismatch.
    let unet_cfg = sd.join("unet/config.json");
    let text = std::fs::read_to_string(&unet_cfg).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["cross_attention_dim"] = 768.into();
    std::fs::write(&unet_cfg, v.to_string()).unwrap();
    fail(folders(&sd, &sd.join("ezigen/checkpoint")), "does not match the text encoder width");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_base_other_than_the_released_one_is_converted_with_a_warning() {
    // The tiny model converted as if it were a user's model (not `--tiny`): it is not
    // SD 2.1-base, so the converter warns, converts, and marks the test-sized model tiny.
    let folders = DiffusersFolders::builtin_tiny();
    let settings = ezigen::convert::ConvertSettings { dtype: StoredDType::F16, shard_bytes: 64 << 20, name: "user".into(), tiny: false };
    let mut conv = ezigen::convert::Converter::new(&ezigen::convert::FolderTree(&folders), settings, ezigen::tokenizer::default_tokenizer_json().to_vec()).unwrap();
    assert_eq!(conv.warnings().len(), 1);
    assert!(conv.warnings()[0].contains("is not stable-diffusion-2-1-base's"), "{}", conv.warnings()[0]);
    let plan = conv.plan();
    let mut shards = 0;
    let mut written = 0;
    while let Some(shard) = conv.next_shard().unwrap() {
        shards += 1;
        written += shard.bytes.len() as u64;
        assert_eq!(conv.progress().shards_done, shards);
    }
    assert_eq!(shards, plan.shard_count);
    assert_eq!(conv.done_bytes(), conv.total_bytes(), "every input byte was converted");
    assert!(written >= plan.output_bytes && written < plan.output_bytes + 64 * 1024 * shards as u64, "{written} vs planned {}", plan.output_bytes);
    let m = conv.manifest();
    assert!(m.tiny, "a test-sized model is marked tiny");
    assert_eq!(m.total_bytes, written);
}

#[test]
fn a_tokenizer_that_is_not_a_clip_tokenizer_json_is_refused_before_converting() {
    // The page passes the app's tokenizer file; a damaged one stops the conversion at once.
    let folders = DiffusersFolders::builtin_tiny();
    let settings = ezigen::convert::ConvertSettings { dtype: StoredDType::F16, shard_bytes: 64 << 20, name: "user".into(), tiny: true };
    let Err(e) = ezigen::convert::Converter::new(&ezigen::convert::FolderTree(&folders), settings, b"{\"model\": 1}".to_vec()) else {
        panic!("a damaged tokenizer.json was accepted");
    };
    assert!(e.to_string().contains("tokenizer.json"), "{e}");
}

/// `manifest.json` is the one rule of the CLI and the page (the page calls the core's
/// `parseManifest`): each way a manifest can be wrong is refused with a message naming it.
#[test]
fn manifest_from_json_refuses_every_broken_manifest() {
    let out = scratch("manifest-rule");
    let m = convert(&options(DiffusersFolders::builtin_tiny(), &out, StoredDType::F32, 64)).unwrap();
    let good: serde_json::Value = serde_json::to_value(&m).unwrap();
    let _ = std::fs::remove_dir_all(&out);
    let shard = m.components["unet"].shards[0].clone();
    // Renames a shard everywhere it is named.
    let rename = |v: &mut serde_json::Value, to: &str| {
        let entry = v["shards"].as_object_mut().unwrap().remove(&shard).unwrap();
        v["shards"][to] = entry;
        for s in v["components"]["unet"]["shards"].as_array_mut().unwrap() {
            if s == &shard {
                *s = to.into();
            }
        }
        for t in v["components"]["unet"]["tensors"].as_array_mut().unwrap() {
            if t["shard"] == shard.as_str() {
                t["shard"] = to.into();
            }
        }
    };
    let refused = |label: &str, edit: &dyn Fn(&mut serde_json::Value), needle: &str| {
        let mut v = good.clone();
        edit(&mut v);
        match Manifest::from_json(&v.to_string()) {
            Ok(_) => panic!("{label}: accepted"),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains("manifest.json") && msg.contains(needle), "{label}: {msg}");
                assert_eq!(e.kind(), ezigen::contract::FailureKind::NoModel, "{label}");
            }
        }
    };
    assert!(Manifest::from_json(&good.to_string()).is_ok(), "the converter's own manifest is accepted");
    assert!(matches!(Manifest::from_json("{not json"), Err(Error::Config(_))));
    refused("format", &|v| v["format"] = "other".into(), "format `other`");
    refused("version", &|v| v["version"] = 99.into(), "version 99");
    refused("dtype", &|v| v["dtype"] = "bf16".into(), "dtype `bf16`");
    for name in ["../unet.safetensors", "a/b.safetensors", "a\\b.safetensors", "https:x", ".hidden", "a?b", ""] {
        refused(name, &|v| rename(v, name), "is not a plain file name");
    }
    refused("sha256 length", &|v| v["shards"][&shard]["sha256"] = "abc".into(), "no SHA-256");
    refused("sha256 digits", &|v| v["shards"][&shard]["sha256"] = "z".repeat(64).into(), "no SHA-256");
    refused("unknown component", &|v| v["components"]["extra"] = serde_json::json!({"bytes": 0, "shards": []}), "component `extra`");
    refused("missing component", &|v| drop(v["components"].as_object_mut().unwrap().remove("vae_decoder")), "`vae_decoder` is missing");
    refused("shard not listed", &|v| drop(v["shards"].as_object_mut().unwrap().remove(&shard)), "is not listed under `shards`");
    refused("shard of another component", &|v| v["shards"][&shard]["component"] = "vae_decoder".into(), "which does not list it");
    refused("tensor dtype", &|v| v["components"]["unet"]["tensors"][0]["dtype"] = "Q4".into(), "unknown dtype `Q4`");
    refused("tensor past its shard", &|v| v["components"]["unet"]["tensors"][0]["end"] = (1u64 << 40).into(), "outside its shard");
    refused("tensor in another shard", &|v| v["components"]["unet"]["tensors"][0]["shard"] = "tokenizer.json".into(), "outside its shard");
    refused("metric models half there", &|v| v["components"]["clip_text"] = serde_json::json!({"bytes": 0, "shards": []}), "metric models");
    // Normalised: upper-case SHA-256s come back lower-case, a missing total is computed.
    let mut v = good.clone();
    v["shards"][&shard]["sha256"] = m.shards[&shard].sha256.to_uppercase().into();
    v.as_object_mut().unwrap().remove("total_bytes");
    let parsed = Manifest::from_json(&v.to_string()).unwrap();
    assert_eq!(parsed.shards[&shard].sha256, m.shards[&shard].sha256);
    assert_eq!(parsed.total_bytes, m.shards.values().map(|s| s.bytes).sum::<u64>());
}
