//! YouTube-VIS 2019 (official `mydatasets/datasets_anydoor/dataset_ytbvis.py` and `base.py`,
//! from AnyDoor), read from the public layout: `train.json` (videos, per-frame RLE
//! segmentations) and `JPEGImages/<video>/<frame>.jpg`.
//!
//! The sample index is ignored, as in the official reader: a random video, a random object of
//! it, an earlier subject frame and a later target frame (gap ≥ ⌊len/8⌋), a target prompt from
//! 30 templates and the subject prompt "a photo of a {category}.". Filters (a failure skips
//! the draw, which the loader counts and replaces by a fresh random one): mask connectivity
//! > 0.9 (the largest 8-connected component's share of the mask; the official code measures
//! contour polygon areas with OpenCV), mask area ratio in [0.01, 0.64] for both masks, the
//! subject box fails only if below 10 % of the frame in both height and width, the target box
//! (×1.1) only if above 80 % in both. Subject: whitened background, cropped to the mask box,
//! padded with white by a random ratio in {1.1 … 1.4}, squared with white, resized to `R`,
//! flipped horizontally with p = 0.5. Target: the object box expanded by a random factor in
//! {1.3 … 2.9}, squared within the frame, cropped, squared with black, resized to `R`.
//!
//! Deviation: the official `__getitem__` draws the video with `randint(0, len − 1)`, which never
//! picks the last video; every video is drawn here.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::rle::Rle;
use super::{DataSource, Draw, RawSample, crop, cv2_resize, pad, pad_to_square, read_rgb};
use crate::imageops::Image8;
use crate::train::rng::Rng;
use crate::{Error, Result};

/// The official target prompt templates.
pub const PROMPT_TEMPLATES: [&str; 30] = [
    "a fine image of {}.", "a {} center at the middle of the image.", "a picture of {}.", "a clear shot of {}.",
    "an image showing a {}.", "a simple depiction of {}.", "a plain view of {}.", "a basic image of {}.",
    "a straightforward representation of {}.", "an ordinary photo of {}.", "a visual of {}.", "an everyday look at {}.",
    "a usual sight of {}.", "a typical image of {}.", "a common depiction of {}.", "a straightforward photo of {}.",
    "a classic view of {}.", "a generic image of {}.", "a standard depiction of {}.", "a direct view of {}.",
    "an uncomplicated image of {}.", "a true representation of {}.", "an unembellished image of {}.", "a neat picture of {}.",
    "a regular view of {}.", "a plain photo of {}.", "a bare image of {}.", "an unadorned view of {}.",
    "a straightforward portrayal of {}.", "a direct depiction of {}.",
];

#[derive(Deserialize)]
struct Video {
    id: u64,
    file_names: Vec<String>,
}

#[derive(Deserialize)]
struct RleJson {
    counts: super::coco::Counts,
    size: [usize; 2],
}

#[derive(Deserialize)]
struct Annotation {
    video_id: u64,
    category_id: u64,
    segmentations: Vec<Option<RleJson>>,
}

#[derive(Deserialize)]
struct Category {
    id: u64,
    name: String,
}

#[derive(Deserialize)]
struct TrainJson {
    videos: Vec<Video>,
    annotations: Vec<Annotation>,
    categories: Vec<Category>,
}

struct Object {
    category: String,
    /// (frame file, mask) for every frame where the object is present.
    frames: Vec<(String, Rle)>,
}

struct VideoRecord {
    objects: Vec<Object>,
}

/// The YouTube-VIS 2019 reader.
pub struct YouTubeVis {
    root: PathBuf,
    videos: Vec<VideoRecord>,
    len: usize,
}

impl YouTubeVis {
    /// Reads `root/train.json` (or `root` itself when it is the file); `cap` sets the samples
    /// per epoch (the official `ytbvis_subset_size`, 100 000 in the release's config), by
    /// default one per video.
    pub fn open(root: &Path, cap: Option<usize>) -> Result<Self> {
        let (json, root) = if root.is_file() {
            (root.to_path_buf(), root.parent().unwrap_or(Path::new(".")).to_path_buf())
        } else {
            (root.join("train.json"), root.to_path_buf())
        };
        let file = std::fs::File::open(&json).map_err(|e| Error::Input(format!("YouTube-VIS: {}: {e}", json.display())))?;
        let data: TrainJson = serde_json::from_reader(std::io::BufReader::new(file)).map_err(|e| Error::Input(format!("YouTube-VIS: {}: {e}", json.display())))?;
        let names: std::collections::HashMap<u64, String> = data.categories.into_iter().map(|c| (c.id, c.name)).collect();
        let mut videos: Vec<VideoRecord> = Vec::new();
        let index: std::collections::HashMap<u64, usize> = data.videos.iter().enumerate().map(|(i, v)| (v.id, i)).collect();
        let mut objects: Vec<Vec<Object>> = (0..data.videos.len()).map(|_| Vec::new()).collect();
        for a in data.annotations {
            let Some(&vi) = index.get(&a.video_id) else { continue };
            let files = &data.videos[vi].file_names;
            let frames: Vec<(String, Rle)> = a
                .segmentations
                .into_iter()
                .enumerate()
                .filter_map(|(f, s)| {
                    let s = s?;
                    let rle = match s.counts {
                        super::coco::Counts::List(c) => Rle { h: s.size[0], w: s.size[1], counts: c },
                        super::coco::Counts::Str(t) => Rle::from_string(&t, s.size[0], s.size[1])?,
                    };
                    Some((files.get(f)?.clone(), rle))
                })
                .filter(|(_, r)| r.is_consistent())
                .collect();
            if !frames.is_empty() {
                objects[vi].push(Object { category: names.get(&a.category_id).cloned().unwrap_or_else(|| "object".into()), frames });
            }
        }
        for o in objects {
            if !o.is_empty() {
                videos.push(VideoRecord { objects: o });
            }
        }
        let image_root = if root.join("JPEGImages").is_dir() { root.join("JPEGImages") } else { root.clone() };
        let len = if videos.is_empty() { 0 } else { cap.unwrap_or(videos.len()) };
        Ok(Self { root: image_root, videos, len })
    }
}

/// `get_bbox_from_mask`: `(y1, y2, x1, x2)` with inclusive last indices; the whole frame when
/// the mask has fewer than 10 pixels.
fn bbox(mask: &[u8], h: usize, w: usize) -> (i64, i64, i64, i64) {
    if mask.iter().map(|&m| m as usize).sum::<usize>() < 10 {
        return (0, h as i64, 0, w as i64);
    }
    let (mut y1, mut y2, mut x1, mut x2) = (usize::MAX, 0, usize::MAX, 0);
    for y in 0..h {
        for x in 0..w {
            if mask[y * w + x] != 0 {
                y1 = y1.min(y);
                y2 = y2.max(y);
                x1 = x1.min(x);
                x2 = x2.max(x);
            }
        }
    }
    (y1 as i64, y2 as i64, x1 as i64, x2 as i64)
}

/// The largest 8-connected component's share of the mask (0 under 10 pixels).
fn connectivity(mask: &[u8], h: usize, w: usize) -> f64 {
    let total: usize = mask.iter().map(|&m| m as usize).sum();
    if total < 10 {
        return 0.0;
    }
    let mut seen = vec![false; h * w];
    let mut best = 0;
    let mut stack = Vec::new();
    for start in 0..h * w {
        if mask[start] == 0 || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut n = 0;
        while let Some(p) = stack.pop() {
            n += 1;
            let (y, x) = ((p / w) as i64, (p % w) as i64);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let (ny, nx) = (y + dy, x + dx);
                    if ny < 0 || nx < 0 || ny >= h as i64 || nx >= w as i64 {
                        continue;
                    }
                    let q = ny as usize * w + nx as usize;
                    if mask[q] != 0 && !seen[q] {
                        seen[q] = true;
                        stack.push(q);
                    }
                }
            }
        }
        best = best.max(n);
    }
    best as f64 / total as f64
}

fn area_ok(mask: &[u8], h: usize, w: usize) -> bool {
    let ratio = mask.iter().map(|&m| m as f64).sum::<f64>() / (h * w) as f64;
    !(ratio > 0.8 * 0.8 || ratio < 0.1 * 0.1)
}

/// `expand_bbox(mask, yyxx, ratio)` with the ratio already drawn.
fn expand_bbox(b: (i64, i64, i64, i64), ratio: f64, h: usize, w: usize) -> (i64, i64, i64, i64) {
    let (y1, y2, x1, x2) = b;
    let (xc, yc) = (0.5 * (x1 + x2) as f64, 0.5 * (y1 + y2) as f64);
    let bh = ratio * (y2 - y1 + 1) as f64;
    let bw = ratio * (x2 - x1 + 1) as f64;
    let (nx1, nx2) = ((xc - bw * 0.5) as i64, (xc + bw * 0.5) as i64);
    let (ny1, ny2) = ((yc - bh * 0.5) as i64, (yc + bh * 0.5) as i64);
    (ny1.max(0), ny2.min(h as i64), nx1.max(0), nx2.min(w as i64))
}

/// `box2squre`.
fn box_to_square(b: (i64, i64, i64, i64), h: usize, w: usize) -> (i64, i64, i64, i64) {
    let (mut y1, mut y2, mut x1, mut x2) = b;
    let (cx, cy) = ((x1 + x2).div_euclid(2), (y1 + y2).div_euclid(2));
    let (bh, bw) = (y2 - y1, x2 - x1);
    if bh >= bw {
        x1 = cx - bh.div_euclid(2);
        x2 = cx + bh.div_euclid(2);
    } else {
        y1 = cy - bw.div_euclid(2);
        y2 = cy + bw.div_euclid(2);
    }
    (y1.max(0), y2.min(h as i64), x1.max(0), x2.min(w as i64))
}

fn flip_horizontal(img: &Image8) -> Image8 {
    let c = img.channels;
    let mut out = img.clone();
    for y in 0..img.height {
        for x in 0..img.width {
            let (s, d) = ((y * img.width + x) * c, (y * img.width + img.width - 1 - x) * c);
            out.data[d..d + c].copy_from_slice(&img.data[s..s + c]);
        }
    }
    out
}

impl DataSource for YouTubeVis {
    fn name(&self) -> &str {
        "youtubevis"
    }

    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, _index: usize, r: usize, rng: &mut Rng) -> Draw {
        let video = &self.videos[rng.below(self.videos.len() as u64) as usize];
        let object = &video.objects[rng.below(video.objects.len() as u64) as usize];
        let template = PROMPT_TEMPLATES[rng.below(PROMPT_TEMPLATES.len() as u64) as usize];
        let n = object.frames.len() as i64;
        let min_interval = n / 8;
        let Some(start) = rng.randint(0, n - min_interval) else { return Draw::Filtered("too few frames") };
        let Some(gap) = rng.randint(min_interval, n - start) else { return Draw::Filtered("too few frames") };
        let end = (start + gap).min(n - 1);
        let (sub_file, sub_rle) = &object.frames[start as usize];
        let (tar_file, tar_rle) = &object.frames[end as usize];
        let read = |f: &str| {
            let path = self.root.join(f);
            read_rgb(&path).map_err(|reason| Draw::Unreadable { path, reason })
        };
        let sub_image = match read(sub_file) {
            Ok(i) => i,
            Err(d) => return d,
        };
        let tar_image = match read(tar_file) {
            Ok(i) => i,
            Err(d) => return d,
        };
        if (sub_rle.h, sub_rle.w) != (sub_image.height, sub_image.width) || (tar_rle.h, tar_rle.w) != (tar_image.height, tar_image.width) {
            return Draw::Unreadable { path: self.root.join(sub_file), reason: "mask size differs from the frame".into() };
        }
        let (sh, sw) = (sub_image.height, sub_image.width);
        let (th, tw) = (tar_image.height, tar_image.width);
        let sub_mask = sub_rle.decode();
        let tar_mask = tar_rle.decode();
        if connectivity(&sub_mask, sh, sw) <= 0.9 {
            return Draw::Filtered("subject mask not connected");
        }
        if !area_ok(&sub_mask, sh, sw) || !area_ok(&tar_mask, th, tw) {
            return Draw::Filtered("mask area ratio outside [0.01, 0.64]");
        }
        // Subject.
        let (y1, y2, x1, x2) = bbox(&sub_mask, sh, sw);
        if ((y2 - y1) as f64) < sh as f64 * 0.1 && ((x2 - x1) as f64) < sw as f64 * 0.1 {
            return Draw::Filtered("subject box below 10 % of the frame");
        }
        let mut masked = sub_image.clone();
        for (px, &m) in masked.data.chunks_exact_mut(3).zip(&sub_mask) {
            if m == 0 {
                px.copy_from_slice(&[255, 255, 255]);
            }
        }
        let masked = crop(&masked, y1, y2, x1, x2);
        let ratio = rng.randint(11, 15).expect("non-empty range") as f64 / 10.0;
        let (h, w) = (masked.height, masked.width);
        let (eh, ew) = ((h as f64 * ratio) as usize, (w as f64 * ratio) as usize);
        let (h1, w1) = ((eh - h) / 2, (ew - w) / 2);
        let masked = pad(&masked, h1, eh - h - h1, w1, ew - w - w1, 255);
        let mut subject = cv2_resize(&pad_to_square(&masked, 255), r, r);
        if rng.uniform() < 0.5 {
            subject = flip_horizontal(&subject);
        }
        // Target.
        let ratio = rng.randint(11, 12).expect("non-empty range") as f64 / 10.0;
        let tar_box = expand_bbox(bbox(&tar_mask, th, tw), ratio, th, tw);
        let (y1, y2, x1, x2) = tar_box;
        if (y2 - y1) as f64 > th as f64 * 0.8 && (x2 - x1) as f64 > tw as f64 * 0.8 {
            return Draw::Filtered("target box above 80 % of the frame");
        }
        let ratio = rng.randint(13, 30).expect("non-empty range") as f64 / 10.0;
        let (y1, y2, x1, x2) = box_to_square(expand_bbox(tar_box, ratio, th, tw), th, tw);
        let target = crop(&tar_image, y1, y2, x1, x2);
        if target.width == 0 || target.height == 0 {
            return Draw::Filtered("empty target crop");
        }
        let target = cv2_resize(&pad_to_square(&target, 0), r, r);
        Draw::Sample(RawSample {
            target,
            subjects: vec![subject],
            caption: template.replace("{}", &object.category),
            subject_prompts: vec![format!("a photo of a {}.", object.category)],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_follow_the_official_helpers() {
        // a 4×4 box at rows 10..=13, cols 20..=23 in a 100×100 frame, ×1.5
        assert_eq!(expand_bbox((10, 13, 20, 23), 1.5, 100, 100), (8, 14, 18, 24));
        assert_eq!(box_to_square((10, 30, 40, 50), 100, 100), (10, 30, 35, 55));
        let mut m = vec![0u8; 100];
        for y in 2..6 {
            for x in 3..7 {
                m[y * 10 + x] = 1;
            }
        }
        assert_eq!(bbox(&m, 10, 10), (2, 5, 3, 6));
        assert!((connectivity(&m, 10, 10) - 1.0).abs() < 1e-12);
        m[99] = 1;
        m[98] = 1;
        assert!(connectivity(&m, 10, 10) < 0.9);
    }
}
