//! The evaluation metrics' models and preprocessing against their references
//! (`tests/gen/make_eval_fixtures.py`): CLIP ViT-B/32's text tower with projection and DINO
//! ViT-S/16 against transformers, DINO's torchvision transform and OpenAI CLIP's transform
//! on images of three sizes and aspect ratios, and the DINO / CLIP-I / CLIP-T cosine scores.
//!
//! Tolerances: models 1e-5 element-wise on the CPU and on wgpu in f32; f16 as the other towers in
//! `wgpu_parity.rs` (text 2e-2, vision 3e-2: f16 storage of every activation through the layers;
//! measured here 1.1e-3 and 1.6e-3 on lavapipe), preprocessing 1e-5 absolute on normalised values (float rounding of the
//! normalisation; the 8-bit resampling is exact), scores 1e-6.

use burn::tensor::{DType, Tensor, TensorData};
use ezigen::eval::{cosine, dino_preprocess, mean_cosine};
use ezigen::imageops::{Image8, clip_preprocess};
use ezigen::models::clip::{ClipConfig, ClipTextModelWithProjection, ClipVisionModel, end_token_position};
use ezigen::models::vit::{VitConfig, VitModel};
use ezigen_tests::{Io, assert_close, host, loader, max_diff, read, targets};

/// The tiny CLIP vision tower (the generation model's, which the scores also use), f32.
fn vision_model(device: &burn::tensor::Device) -> ClipVisionModel {
    let config = ClipConfig::from_json(std::str::from_utf8(&read("tiny/clip/config.json")).unwrap(), "vision_config").unwrap();
    let l = loader("clip_vision", &["tiny/clip/model.safetensors"], device, DType::F32, |n| {
        n.starts_with("vision_model.") || n.starts_with("visual_projection.")
    })
    .allow_unused("vision_model.embeddings.position_ids");
    let vision = ClipVisionModel::load(&l.root().into(), &config);
    l.finish().unwrap();
    vision
}

fn io() -> Io {
    Io::load("io/eval.safetensors")
}

fn image(io: &Io, key: &str) -> Image8 {
    let shape = io.shape(key);
    let pixels: Vec<u8> = io.ints(key).into_iter().map(|v| v as u8).collect();
    Image8::new(shape[1], shape[0], 3, pixels).unwrap()
}

fn rows(io: &Io, key: &str) -> Vec<Vec<u32>> {
    let t = io.shape(key)[1];
    io.ints(key).chunks(t).map(|r| r.iter().map(|&v| v as u32).collect()).collect()
}

fn text_model(device: &burn::tensor::Device, dtype: DType) -> ClipTextModelWithProjection {
    let config = ClipConfig::from_json(std::str::from_utf8(&read("tiny/clip-text/config.json")).unwrap(), "text_config").unwrap();
    let l = loader("clip_text", &["tiny/clip-text/model.safetensors"], device, dtype, |_| true)
        .allow_unused("text_model.embeddings.position_ids");
    let model = ClipTextModelWithProjection::load(&l.root().into(), &config);
    l.finish().unwrap();
    model
}

fn dino_model(device: &burn::tensor::Device, dtype: DType) -> VitModel {
    let config = VitConfig::from_json(std::str::from_utf8(&read("tiny/dino/config.json")).unwrap()).unwrap();
    let l = loader("dino", &["tiny/dino/model.safetensors"], device, dtype, |_| true);
    let model = VitModel::load(&l.root().into(), &config);
    l.finish().unwrap();
    model
}

#[test]
fn clip_text_embeds_match_transformers() {
    let io = io();
    let ids = rows(&io, "text.input_ids");
    for (name, device, dtype, tol) in targets(1e-5, 1e-5, 2e-2) {
        let model = text_model(&device, dtype);
        let out = model.forward(&ids);
        assert_close(&format!("clip text_embeds {name}"), &host(out), &io.f32("text.text_embeds"), tol);
    }
}

#[test]
fn clip_text_pools_at_the_first_end_token_whatever_the_padding() {
    let io = io();
    // SD 2.1's tokenizer pads with "!", ViT-B/32's with the end token: the same embedding.
    let ours: Vec<Vec<u32>> = ["a photo of a dog", "a dog in police outfit"]
        .iter()
        .map(|p| ezigen::tokenizer::ClipTokenizer::builtin().encode(p).unwrap().0)
        .collect();
    let sd_pad = rows(&io, "text.input_ids_sd21_pad");
    let openai_pad = rows(&io, "text.input_ids");
    for (i, row) in ours.iter().enumerate() {
        assert_eq!(row, &sd_pad[i], "prompt {i}: the built-in tokenizer differs from the reference");
        assert_eq!(end_token_position(row), end_token_position(&openai_pad[i]));
    }
    let device = ezigen_tests::cpu();
    let model = text_model(&device, DType::F32);
    let out = host(model.forward(&sd_pad));
    assert_close("clip text_embeds with SD 2.1 padding", &out, &io.f32("text.text_embeds"), 1e-5);
}

#[test]
fn dino_cls_matches_transformers() {
    let io = io();
    for (name, device, dtype, tol) in targets(1e-5, 1e-5, 3e-2) {
        let model = dino_model(&device, dtype);
        let pixels: Vec<f32> = ["a", "b", "c"].iter().flat_map(|k| io.f32(&format!("dino.pre.{k}.pixel_values"))).collect();
        let input = Tensor::<4>::from_data(TensorData::new(pixels, [3, 3, 224, 224]), (&device, dtype));
        let out = model.cls(input);
        assert_close(&format!("dino cls {name}"), &host(out), &io.f32("dino.cls"), tol);
    }
}

#[test]
fn preprocessing_matches_the_reference_transforms() {
    let io = io();
    let mut clip_all = Vec::new();
    for key in ["a", "b", "c"] {
        let img = image(&io, &format!("img.{key}"));
        let dino = dino_preprocess(&img);
        let (diff, _) = max_diff(&dino, &io.f32(&format!("dino.pre.{key}.pixel_values")));
        eprintln!("PARITY dino preprocess {key} ({}x{}): max abs {diff:.3e}", img.width, img.height);
        assert!(diff < 1e-5, "dino preprocess {key}: differs by {diff}");
        clip_all.extend(clip_preprocess(&img, 224));
    }
    let (diff, _) = max_diff(&clip_all, &io.f32("clip.pixel_values"));
    eprintln!("PARITY clip preprocess (eval images): max abs {diff:.3e}");
    assert!(diff < 1e-5, "clip preprocess: differs by {diff}");
}

/// Rows of a `[n, d]` fixture tensor.
fn embeddings(io: &Io, key: &str) -> Vec<Vec<f32>> {
    let d = io.shape(key)[1];
    io.f32(key).chunks(d).map(<[f32]>::to_vec).collect()
}

fn close(name: &str, ours: f64, expected: f32) {
    eprintln!("PARITY score {name}: {ours:.9} vs {expected:.9}");
    assert!((ours - f64::from(expected)).abs() <= 1e-6, "{name}: {ours} vs {expected}");
}

#[test]
fn scores_match_the_reference() {
    let io = io();
    // From the reference embeddings: the metric arithmetic alone.
    let dino = embeddings(&io, "dino.cls");
    let clip = embeddings(&io, "clip.image_embeds");
    let text = embeddings(&io, "text.text_embeds");
    let dino_pairs = io.f32("score.dino_pairs");
    let clip_pairs = io.f32("score.clip_i_pairs");
    for j in 0..2 {
        close(&format!("dino pair {j}"), cosine(&dino[0], &dino[j + 1]), dino_pairs[j]);
        close(&format!("clip-i pair {j}"), cosine(&clip[0], &clip[j + 1]), clip_pairs[j]);
    }
    close("dino", mean_cosine(&dino[0], &dino[1..]).unwrap(), io.f32("score.dino")[0]);
    close("clip-i", mean_cosine(&clip[0], &clip[1..]).unwrap(), io.f32("score.clip_i")[0]);
    for (p, expected) in io.f32("score.clip_t").into_iter().enumerate() {
        close(&format!("clip-t prompt {p}"), cosine(&clip[0], &text[p]), expected);
    }
    assert_eq!(mean_cosine(&dino[0], &[]), None);

    // End to end on the CPU through the library's own scoring (`Metrics::score`: our
    // preprocessing, models and cosines): image a scored against b and c, prompt 0. The models'
    // 1e-5 relative error moves a cosine by far less than 1e-4.
    let device = ezigen_tests::cpu();
    let imgs: Vec<Image8> = ["a", "b", "c"].iter().map(|k| image(&io, &format!("img.{k}"))).collect();
    let metrics = ezigen::eval::Metrics::new(text_model(&device, DType::F32), dino_model(&device, DType::F32), &device, DType::F32);
    let tokenizer = ezigen::tokenizer::ClipTokenizer::builtin();
    let scores = pollster::block_on(metrics.score(&vision_model(&device), &tokenizer, &imgs[0], &imgs[1..], "a photo of a dog")).unwrap();
    for (name, ours, key) in [("dino", scores.dino, "score.dino"), ("clip-i", scores.clip_i, "score.clip_i"), ("clip-t", scores.clip_t, "score.clip_t")] {
        let expected = f64::from(io.f32(key)[0]);
        eprintln!("PARITY score {name} end to end: {ours:.9} vs {expected:.9}");
        assert!((ours - expected).abs() < 1e-4, "{name}: {ours} vs {expected}");
    }
}

/// The metric models converted into shards (`ezigen convert --tiny --tiny-metrics`, f32) and
/// loaded as the page loads them (`MetricsBuilder`, shard by shard) give the reference
/// embeddings; a model converted without them says how to get them.
#[test]
fn converted_metric_models_match_transformers() {
    use ezigen::eval::MetricsBuilder;
    use ezigen::weights::components::Component;
    use ezigen::weights::manifest::Manifest;
    let dir = std::env::temp_dir().join(format!("ezigen-eval-convert-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(ezigen_tests::cli_binary()).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let with = dir.join("with");
    run(&["convert", "--tiny", "--tiny-metrics", "--dtype", "f32", "--shard-mb", "1", "--out", with.to_str().unwrap()]);
    let manifest = Manifest::from_json(&std::fs::read_to_string(with.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest.has_metrics());
    let io = io();
    let device = ezigen_tests::cpu();
    let mut builder = MetricsBuilder::new(&manifest.config, &device, DType::F32).unwrap();
    for c in Component::EVAL {
        for shard in &manifest.components[c.as_str()].shards {
            builder.load_shard(c, &std::fs::read(with.join(shard)).unwrap().as_slice(), shard).unwrap();
        }
        builder.finish_component(c).unwrap();
    }
    let metrics = builder.into_metrics().unwrap();
    let tokenizer = ezigen::tokenizer::ClipTokenizer::builtin();
    let text = pollster::block_on(metrics.embed_text(&tokenizer, "a photo of a dog")).unwrap();
    assert_close("converted clip text_embeds", &text, &io.f32("text.text_embeds")[..16], 1e-5);

    // A scored image whose size does not match its bytes (it arrives deserialised from the page)
    // is refused before any pixel is read.
    let vision = vision_model(&device);
    let subject = ezigen::pipeline::SubjectImage { image: ezigen::pipeline::RgbaImage::new(8, 8, vec![200; 256]).unwrap(), mask: None };
    let wrong = ezigen::pipeline::RgbaImage { width: 64, height: 64, data: vec![0, 0, 0, 255] };
    let req = ezigen::eval::ScoreRequest { image: wrong, subjects: vec![subject], prompt: "a dog".into() };
    let err = pollster::block_on(metrics.score_request(&vision, &tokenizer, &req)).unwrap_err().to_string();
    assert!(err.contains("the scored image"), "{err}");

    // The page's session: the model, then its metric models; loading a model again drops
    // the metric models with the old model (the page must load them anew).
    let text_json = std::fs::read_to_string(with.join("manifest.json")).unwrap();
    let mut session = ezigen::session::ModelSession::new(&device, None);
    let push = |session: &mut ezigen::session::ModelSession, components: &[Component]| {
        for &c in components {
            for shard in &manifest.components[c.as_str()].shards {
                session.load_shard(c, &std::fs::read(with.join(shard)).unwrap().as_slice(), shard).unwrap();
            }
            session.finish_component(c).unwrap();
        }
    };
    session.begin_model(&text_json, DType::F32).unwrap();
    assert!(session.load_shard(Component::Dino, &[].as_slice(), "x").is_err(), "metric shards need beginMetrics");
    push(&mut session, &Component::ALL[..Component::ALL.len() - 1]);
    assert!(!session.model_ready(), "not complete before the last component");
    push(&mut session, &Component::ALL[Component::ALL.len() - 1..]);
    assert!(session.model_ready() && !session.metrics_ready());
    session.begin_metrics(&text_json, DType::F32).unwrap();
    push(&mut session, &Component::EVAL);
    assert!(session.metrics_ready() && session.metrics().is_ok());
    session.begin_model(&text_json, DType::F32).unwrap();
    assert!(!session.model_ready() && !session.metrics_ready(), "a new model drops the old one's metric models");
    assert!(session.metrics().err().is_some_and(|e| e.to_string().contains("not loaded")));

    let without = dir.join("without");
    run(&["convert", "--tiny", "--shard-mb", "1", "--out", without.to_str().unwrap()]);
    let manifest = Manifest::from_json(&std::fs::read_to_string(without.join("manifest.json")).unwrap()).unwrap();
    assert!(!manifest.has_metrics());
    let err = MetricsBuilder::new(&manifest.config, &device, DType::F32).err().unwrap().to_string();
    assert!(err.contains("--dino"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
