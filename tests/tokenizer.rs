//! The CLIP tokenizer (the project's `crate/assets/tokenizer.json`, run by the `tokenizers`
//! crate with the regex engine the wasm build uses) against transformers' slow
//! `CLIPTokenizer` with ftfy (the official EZIGen environment) on the committed prompt list.
//! Exact ids are required, except for the documented `known_mismatch` prompts (ftfy
//! heuristics and Greek final sigma), whose ids must equal what tokenizer.json gives in Python.

use ezigen::tokenizer::{BOS, ClipTokenizer, EOS, MAX_LENGTH, PAD};
use serde_json::Value;

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

#[test]
fn ids_match_transformers_clip_tokenizer() {
    let prompts: Value = serde_json::from_slice(&ezigen_tests::read("tokenizer/prompts.json")).unwrap();
    let tok = ClipTokenizer::builtin();
    let (mut exact, mut known) = (0, 0);
    for p in prompts.as_array().unwrap() {
        let prompt = p["prompt"].as_str().unwrap();
        let (ours, _) = tok.encode(prompt).unwrap();
        assert_eq!(ours.len(), MAX_LENGTH);
        if p.get("known_mismatch").and_then(Value::as_bool) == Some(true) {
            assert_eq!(ours, ids(&p["tokenizer_json_ids"]), "known-mismatch prompt {prompt:?}");
            known += 1;
        } else {
            assert_eq!(ours, ids(&p["input_ids"]), "prompt {prompt:?}");
            exact += 1;
        }
    }
    eprintln!("tokenizer: {exact} prompts exact, {known} documented mismatches");
    assert!(exact >= 50);
}

#[test]
fn special_tokens_padding_and_truncation() {
    let tok = ClipTokenizer::builtin();
    let (short, truncated) = tok.encode("a dog").unwrap();
    assert!(!truncated);
    assert_eq!(short[..4], [BOS, 320, 1929, EOS]);
    assert!(short[4..].iter().all(|&t| t == PAD));
    let long = "a photo of a dog ".repeat(30);
    let (ids, truncated) = tok.encode(&long).unwrap();
    assert!(truncated);
    assert_eq!(ids[0], BOS);
    assert_eq!(ids[MAX_LENGTH - 1], EOS);
    let (empty, _) = tok.encode("").unwrap();
    assert_eq!(empty[..2], [BOS, EOS]);
}

#[test]
fn a_short_prompt_counts_its_content_tokens() {
    let tok = ClipTokenizer::builtin();
    let (ids, _) = tok.encode("a dog in police outfit").unwrap();
    let n = ids.iter().filter(|&&i| i != BOS && i != EOS && i != PAD).count();
    let c = tok.count("a dog in police outfit").unwrap();
    assert_eq!((c.count, c.max, c.kept.as_deref()), (n, MAX_LENGTH - 2, None));
}

#[test]
fn a_long_prompt_names_the_part_the_encoder_sees() {
    let tok = ClipTokenizer::builtin();
    let text = (0..100).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ");
    let c = tok.count(&text).unwrap();
    // "word0"–"word9" are two tokens ("word", "7"), "word10"–"word99" three: 20 + 270 = 290.
    assert_eq!(c.count, 290, "{c:?}");
    let kept = c.kept.expect("a cut prompt names its kept part");
    assert!(text.starts_with(&kept) && kept.len() < text.len(), "{kept:?}");
    // The kept part alone gives exactly the ids the whole prompt gives (truncated), and no more.
    assert_eq!(tok.encode(&kept).unwrap().0, tok.encode(&text).unwrap().0);
    assert_eq!(tok.count(&kept).unwrap().count, c.max);
}

#[test]
fn the_pages_tokenizer_file_inflates_to_the_built_in_tokenizer() {
    // The page sends the app's tokenizer.json.gz (the same file the native build embeds) to the
    // converter; a server that made the browser inflate it sends the JSON itself.
    let gz = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../crate/assets/tokenizer.json.gz")).unwrap();
    let json = ezigen::tokenizer::inflate_json(&gz).unwrap();
    assert_eq!(json, ezigen::tokenizer::default_tokenizer_json());
    assert_eq!(ezigen::tokenizer::inflate_json(&json).unwrap(), json);
    let err = ezigen::tokenizer::inflate_json(b"<html>not found</html>").unwrap_err().to_string();
    assert!(err.contains("tokenizer.json.gz is not a gzip file (22 bytes)"), "{err}");
}
