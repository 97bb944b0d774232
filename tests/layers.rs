//! The core's import rule (ARCHITECTURE.md, "Layers of the core"): every module of
//! `crate/src` belongs to one layer, and a module names (`crate::…`) only modules of its own
//! layer or of lower ones; within a layer the imports form no cycle. Read from the source text,
//! so a new module must be given a layer here before the suite passes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first, with their top-level modules (the file or folder name under
/// `crate/src`). `bin/` (the CLI) stands above all of them and is not listed.
const LAYERS: &[(&str, &[&str])] = &[
    ("foundations", &["error", "contract", "presets", "imageops", "rng", "heap"]),
    ("device", &["device"]),
    ("weights", &["weights"]),
    ("compute", &["kernels", "ops"]),
    ("layers", &["nn"]),
    ("models", &["models", "schedulers", "tokenizer"]),
    ("pipeline", &["pipeline"]),
    ("files", &["files"]),
    ("app", &["loader", "bench", "smoke", "tuning", "eval", "convert", "native", "train", "session"]),
    ("boundaries", &["web", "schema"]),
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crate/src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `crate/src` belongs to (`None` for `lib.rs` and `bin/`).
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    match first.as_str() {
        "lib.rs" | "bin" => None,
        f => Some(f.trim_end_matches(".rs").to_string()),
    }
}

/// The top-level modules `text` names through `crate::`, comments left out: `crate::x::…`,
/// `crate::{x, y::…}` and the `crate::Error` / `crate::Result` re-exports (module `error`).
fn imports(text: &str) -> BTreeSet<String> {
    let code: String = text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut out = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The first name of every item at the group's top level (nested groups skipped).
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        out.insert(first_ident(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(first_ident(rest));
        }
    }
    out.into_iter()
        .filter(|m| !m.is_empty())
        .map(|m| if m == "Error" || m == "Result" { "error".to_string() } else { m })
        .collect()
}

fn first_ident(s: &str) -> String {
    s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}

/// Module → (module it names → a file that names it), over every file of `crate/src`.
fn import_graph() -> BTreeMap<String, BTreeMap<String, String>> {
    let root = src_dir();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&root).unwrap().to_path_buf();
        let Some(module) = module_of(&rel) else { continue };
        let text = std::fs::read_to_string(&f).unwrap();
        let edges = graph.entry(module.clone()).or_default();
        for target in imports(&text) {
            if target != module {
                edges.entry(target).or_insert_with(|| rel.display().to_string());
            }
        }
    }
    graph
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

#[test]
fn every_module_has_a_layer() {
    let unknown: Vec<String> = import_graph().into_keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(unknown.is_empty(), "modules without a layer (add them to LAYERS in tests/layers.rs and to ARCHITECTURE.md): {unknown:?}");
}

#[test]
fn no_module_imports_from_a_higher_layer() {
    let mut upward = Vec::new();
    for (module, edges) in import_graph() {
        let Some(from) = layer_of(&module) else { continue };
        for (target, file) in edges {
            match layer_of(&target) {
                Some(to) if to > from => upward.push(format!("{file}: {module} ({}) imports {target} ({})", LAYERS[from].0, LAYERS[to].0)),
                _ => {}
            }
        }
    }
    assert!(upward.is_empty(), "imports from a lower layer to a higher one:\n{}", upward.join("\n"));
}

#[test]
fn modules_of_one_layer_import_each_other_without_cycles() {
    let graph = import_graph();
    // Depth-first search for a back edge among same-layer modules.
    fn visit(m: &str, graph: &BTreeMap<String, BTreeMap<String, String>>, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for target in graph.get(m).into_iter().flat_map(|e| e.keys()) {
            if layer_of(target).is_some() && layer_of(target) == layer_of(m) {
                if let Some(c) = visit(target, graph, path, done) {
                    return Some(c);
                }
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if let Some(cycle) = visit(m, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_rule_check_sees_imports_of_every_form() {
    // The parser the three tests above rely on, on the forms the tree uses.
    let text = "use crate::pipeline::Pipeline;\nuse crate::{Error, weights::{a, b}, kernels};\n// crate::web in a comment\nlet x = crate::models::unet::X;";
    let got: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(got, ["error", "kernels", "models", "pipeline", "weights"]);
}

#[test]
fn the_layer_table_matches_architecture_md() {
    let arch = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../ARCHITECTURE.md")).unwrap();
    let missing: Vec<&str> = LAYERS.iter().flat_map(|(_, m)| m.iter().copied()).filter(|m| !arch.contains(&format!("{m}.rs")) && !arch.contains(&format!("{m}/"))).collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md does not name these modules (as `name.rs` or `name/`): {missing:?}");
}
