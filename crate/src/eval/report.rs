//! The evaluation report: per-image scores, per-subject and overall means (over images, as
//! DreamBooth-style evaluation averages), what was missing or unreadable, and the paper's row.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Scores;

/// The paper's DreamBench row for EZIGen (CLIP-T, CLIP-I, DINO).
pub const PAPER_EZIGEN: Scores = Scores { dino: 0.718, clip_i: 0.782, clip_t: 0.316 };

/// One scored image.
#[derive(Clone, Debug, Serialize)]
pub struct ImageScore {
    /// File name relative to the generated folder.
    pub file: String,
    /// Subject folder name.
    pub subject: String,
    /// The prompt it was generated from.
    pub prompt: String,
    /// Its scores.
    #[serde(flatten)]
    pub scores: Scores,
}

/// An image that could not be scored.
#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    /// File name relative to the generated folder.
    pub file: String,
    /// Why.
    pub reason: String,
}

/// Means over a set of images.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Mean {
    /// Images in the mean.
    pub images: usize,
    /// Mean scores.
    #[serde(flatten)]
    pub scores: Scores,
}

/// The whole report (`report.json`).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Every scored image.
    pub images: Vec<ImageScore>,
    /// Means per subject.
    pub subjects: BTreeMap<String, Mean>,
    /// Mean over all scored images.
    pub overall: Mean,
    /// Expected images that are not in the generated folder (excluded from the means).
    pub missing: Vec<String>,
    /// Images that exist but could not be read (excluded from the means).
    pub unreadable: Vec<Skipped>,
    /// The paper's EZIGen row, for comparison.
    pub paper_ezigen: Scores,
}

fn mean<'a>(scores: impl Iterator<Item = &'a Scores>) -> Mean {
    let mut m = Mean::default();
    for s in scores {
        m.images += 1;
        m.scores.dino += s.dino;
        m.scores.clip_i += s.clip_i;
        m.scores.clip_t += s.clip_t;
    }
    if m.images > 0 {
        let n = m.images as f64;
        m.scores = Scores { dino: m.scores.dino / n, clip_i: m.scores.clip_i / n, clip_t: m.scores.clip_t / n };
    }
    m
}

impl Report {
    /// Builds the means from the scored images.
    pub fn new(images: Vec<ImageScore>, missing: Vec<String>, unreadable: Vec<Skipped>) -> Self {
        let mut by_subject: BTreeMap<String, Vec<Scores>> = BTreeMap::new();
        for i in &images {
            by_subject.entry(i.subject.clone()).or_default().push(i.scores);
        }
        let subjects = by_subject.into_iter().map(|(k, v)| (k, mean(v.iter()))).collect();
        let overall = mean(images.iter().map(|i| &i.scores));
        Self { images, subjects, overall, missing, unreadable, paper_ezigen: PAPER_EZIGEN }
    }

    /// `report.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report serialises")
    }

    /// `report.md`: the paper's columns, this run next to the paper's EZIGen row, then one row
    /// per subject.
    pub fn to_markdown(&self) -> String {
        let row = |name: &str, m: &Scores, n: &str| format!("| {name} | {n} | {:.3} | {:.3} | {:.3} |\n", m.clip_t, m.clip_i, m.dino);
        let mut s = String::from("| | images | CLIP-T | CLIP-I | DINO |\n|---|---|---|---|---|\n");
        s += &row("this run", &self.overall.scores, &self.overall.images.to_string());
        s += &row("EZIGen (paper)", &self.paper_ezigen, "");
        if !self.missing.is_empty() || !self.unreadable.is_empty() {
            s += &format!(
                "\n{} expected images are missing and {} could not be read; they are left out of the means (report.json lists them).\n",
                self.missing.len(),
                self.unreadable.len()
            );
        }
        s += "\n| subject | images | CLIP-T | CLIP-I | DINO |\n|---|---|---|---|---|\n";
        for (name, m) in &self.subjects {
            s += &row(name, &m.scores, &m.images.to_string());
        }
        s
    }
}
