//! A plain folder of a user's own training pairs: `metadata.jsonl`, one JSON object per line:
//! `{"target": "t.jpg", "caption": "…", "subjects": ["s1.png", …], "masks": ["m1.png" | null, …],
//! "category": "dog"}` (paths relative to the folder; `masks` optional, white = subject).
//!
//! Preprocessed like the official COCO crops: a masked subject is whitened outside its mask and
//! cropped to the mask's box; every subject is padded to a square with white and resized to
//! `R × R` (the subject transform); the target is squashed to `R × R` (OpenCV linear).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{DataSource, Draw, RawSample, cv2_resize, crop, pad_to_square, read_gray, read_rgb, subject_resize};
use crate::imageops::Image8;
use crate::train::rng::Rng;
use crate::{Error, Result};

#[derive(Clone, Debug, Deserialize)]
struct Line {
    target: String,
    caption: String,
    subjects: Vec<String>,
    #[serde(default)]
    masks: Option<Vec<Option<String>>>,
    category: String,
}

/// A `metadata.jsonl` folder.
pub struct Folder {
    root: PathBuf,
    lines: Vec<Line>,
}

impl Folder {
    /// Reads `DIR/metadata.jsonl`; a malformed line is an error naming its number.
    pub fn open(root: &Path) -> Result<Self> {
        let path = root.join("metadata.jsonl");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
        let mut lines = Vec::new();
        for (i, l) in text.lines().enumerate() {
            if l.trim().is_empty() {
                continue;
            }
            let line: Line = serde_json::from_str(l).map_err(|e| Error::Input(format!("{} line {}: {e}", path.display(), i + 1)))?;
            if line.subjects.is_empty() || line.subjects.len() > 4 {
                return Err(Error::Input(format!("{} line {}: 1 to 4 subjects, found {}", path.display(), i + 1, line.subjects.len())));
            }
            if let Some(m) = &line.masks {
                if m.len() != line.subjects.len() {
                    return Err(Error::Input(format!("{} line {}: {} masks for {} subjects", path.display(), i + 1, m.len(), line.subjects.len())));
                }
            }
            lines.push(line);
        }
        Ok(Self { root: root.to_path_buf(), lines })
    }
}

/// Whitens outside `mask` (> 127 inside), crops to the mask's box and pads to a white square.
/// `None` when the mask is empty.
pub fn masked_crop(rgb: &Image8, mask: &Image8) -> Option<Image8> {
    let m = if mask.width == rgb.width && mask.height == rgb.height { mask.clone() } else { cv2_resize(mask, rgb.width, rgb.height) };
    let (mut y1, mut y2, mut x1, mut x2) = (usize::MAX, 0, usize::MAX, 0);
    let mut out = rgb.clone();
    for y in 0..rgb.height {
        for x in 0..rgb.width {
            if m.data[y * rgb.width + x] > 127 {
                y1 = y1.min(y);
                y2 = y2.max(y + 1);
                x1 = x1.min(x);
                x2 = x2.max(x + 1);
            } else {
                out.data[(y * rgb.width + x) * 3..][..3].copy_from_slice(&[255, 255, 255]);
            }
        }
    }
    (y1 < y2).then(|| pad_to_square(&crop(&out, y1 as i64, y2 as i64, x1 as i64, x2 as i64), 255))
}

impl DataSource for Folder {
    fn name(&self) -> &str {
        "folder"
    }

    fn len(&self) -> usize {
        self.lines.len()
    }

    fn get(&self, index: usize, r: usize, _rng: &mut Rng) -> Draw {
        let line = &self.lines[index];
        let read = |rel: &str, gray: bool| {
            let path = self.root.join(rel);
            (if gray { read_gray(&path) } else { read_rgb(&path) }).map_err(|reason| Draw::Unreadable { path, reason })
        };
        let target = match read(&line.target, false) {
            Ok(t) => cv2_resize(&t, r, r),
            Err(d) => return d,
        };
        let mut subjects = Vec::new();
        for (i, rel) in line.subjects.iter().enumerate() {
            let img = match read(rel, false) {
                Ok(t) => t,
                Err(d) => return d,
            };
            let mask = line.masks.as_ref().and_then(|m| m[i].as_deref());
            let square = match mask {
                Some(m) => match read(m, true) {
                    Ok(mask) => match masked_crop(&img, &mask) {
                        Some(s) => s,
                        None => return Draw::Filtered("empty subject mask"),
                    },
                    Err(d) => return d,
                },
                None => pad_to_square(&img, 255),
            };
            subjects.push(subject_resize(&square, r));
        }
        let prompt = format!("a photo of a {}.", line.category);
        Draw::Sample(RawSample { target, subject_prompts: vec![prompt; subjects.len()], subjects, caption: line.caption.clone() })
    }
}
