//! Training data (spec §6.3): readers for COCO 2014 and YouTube-VIS 2019 from their public
//! on-disk formats with the official filters and crops, a plain folder format for a user's
//! own pairs, and the mixture the official run samples from. Every reader yields
//! preprocessed 8-bit images at the training resolution; samples that fail a filter are
//! counted, unreadable files are reported by path, and neither stops the run.

pub mod coco;
pub mod folder;
pub mod rle;
pub mod ytvis;

use std::path::{Path, PathBuf};

use crate::imageops::{Filter, Image8, cv2_resize_linear};

use super::rng::Rng;

/// One preprocessed sample: what the official datasets return before collation.
#[derive(Clone, Debug)]
pub struct RawSample {
    /// Target image, `R × R` RGB.
    pub target: Image8,
    /// 1–4 subject images, `R × R` RGB each.
    pub subjects: Vec<Image8>,
    /// Target caption.
    pub caption: String,
    /// One prompt per subject ("a photo of a {category}.").
    pub subject_prompts: Vec<String>,
}

/// What a reader gives for one index.
#[derive(Clone, Debug)]
pub enum Draw {
    /// A usable sample.
    Sample(RawSample),
    /// The sample fails one of the official filters (counted under this reason).
    Filtered(&'static str),
    /// A file could not be read or decoded.
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A dataset of training samples.
pub trait DataSource: Send {
    /// Short name for logs ("coco2014", "youtubevis", "folder").
    fn name(&self) -> &str;
    /// Number of samples.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Sample `index` at resolution `r`; `rng` is the step's stream (random crops, choices).
    fn get(&self, index: usize, r: usize, rng: &mut Rng) -> Draw;
}

/// A `--data` specification: `coco:DIR[:N]`, `ytvis:DIR[:N]` or `folder:DIR`.
#[derive(Clone, Debug, PartialEq)]
pub enum DataSpec {
    /// COCO 2014 root (`annotations/`, `train2014/`, `val2014/`), capped at N images.
    Coco(PathBuf, Option<usize>),
    /// YouTube-VIS 2019 `train/` folder (`train.json`, `JPEGImages/`), N samples per epoch.
    YouTubeVis(PathBuf, Option<usize>),
    /// A folder with `metadata.jsonl`.
    Folder(PathBuf),
}

impl DataSpec {
    /// Parses `kind:path[:N]`.
    pub fn parse(spec: &str) -> crate::Result<Self> {
        let bad = || crate::Error::Input(format!("--data {spec}: expected coco:DIR[:N], ytvis:DIR[:N] or folder:DIR"));
        let (kind, rest) = spec.split_once(':').ok_or_else(bad)?;
        let (path, cap) = match rest.rsplit_once(':') {
            Some((p, n)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => (p, Some(n.parse().map_err(|_| bad())?)),
            _ => (rest, None),
        };
        if path.is_empty() {
            return Err(bad());
        }
        let path = PathBuf::from(path);
        match kind {
            "coco" => Ok(Self::Coco(path, cap)),
            "ytvis" | "youtubevis" => Ok(Self::YouTubeVis(path, cap)),
            "folder" if cap.is_none() => Ok(Self::Folder(path)),
            _ => Err(bad()),
        }
    }

    /// Opens the dataset (reads and indexes its annotations).
    pub fn open(&self) -> crate::Result<Box<dyn DataSource>> {
        Ok(match self {
            Self::Coco(p, cap) => Box::new(coco::Coco::open(p, *cap)?),
            Self::YouTubeVis(p, cap) => Box::new(ytvis::YouTubeVis::open(p, *cap)?),
            Self::Folder(p) => Box::new(folder::Folder::open(p)?),
        })
    }
}

/// Counts of what the loader met.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataStats {
    /// Samples used.
    pub used: u64,
    /// Samples skipped by a filter, by reason.
    pub filtered: std::collections::BTreeMap<String, u64>,
    /// Unreadable files met.
    pub unreadable: u64,
}

/// Several datasets concatenated (the official `ConcatDataset`), visited in a fresh random
/// order every epoch; a filtered or unreadable sample is skipped for the next index.
pub struct Mixture {
    sources: Vec<Box<dyn DataSource>>,
    offsets: Vec<usize>,
    total: usize,
    seed: u64,
}

/// Where the loader is: the position in the epoch-ordered index stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    /// Indices consumed so far (over all epochs).
    pub consumed: u64,
}

impl Mixture {
    /// The concatenation of `sources`; an error when it is empty.
    pub fn new(sources: Vec<Box<dyn DataSource>>, seed: u64) -> crate::Result<Self> {
        let mut offsets = Vec::new();
        let mut total = 0;
        for s in &sources {
            offsets.push(total);
            total += s.len();
        }
        if total == 0 {
            let names: Vec<&str> = sources.iter().map(|s| s.name()).collect();
            return Err(crate::Error::Input(format!("the training data is empty ({})", if names.is_empty() { "no --data given".into() } else { names.join(", ") })));
        }
        Ok(Self { sources, offsets, total, seed })
    }

    /// Samples per epoch.
    pub fn len(&self) -> usize {
        self.total
    }

    /// Whether empty (never: [`Mixture::new`] refuses).
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    fn index(&self, consumed: u64) -> (usize, usize) {
        let epoch = consumed / self.total as u64;
        let order = Rng::keyed(self.seed, "epoch", epoch).permutation(self.total);
        let global = order[(consumed % self.total as u64) as usize];
        let s = self.offsets.partition_point(|&o| o <= global) - 1;
        (s, global - self.offsets[s])
    }

    /// The next usable sample from `cursor` on (advancing it), with `rng` for the reader's
    /// random choices. Unreadable files are reported through `report`. After `max_skips`
    /// consecutive unusable samples it gives up with an error naming the last reason.
    pub fn next(&self, cursor: &mut Cursor, r: usize, rng: &mut Rng, stats: &mut DataStats, report: &mut dyn FnMut(&Path, &str), max_skips: usize) -> crate::Result<RawSample> {
        let mut last = String::new();
        for _ in 0..max_skips.max(1) {
            let (s, i) = self.index(cursor.consumed);
            cursor.consumed += 1;
            match self.sources[s].get(i, r, rng) {
                Draw::Sample(sample) => {
                    stats.used += 1;
                    return Ok(sample);
                }
                Draw::Filtered(reason) => {
                    *stats.filtered.entry(format!("{}: {reason}", self.sources[s].name())).or_default() += 1;
                    last = reason.to_string();
                }
                Draw::Unreadable { path, reason } => {
                    stats.unreadable += 1;
                    report(&path, &reason);
                    last = format!("{}: {reason}", path.display());
                }
            }
        }
        Err(crate::Error::Input(format!("{max_skips} samples in a row were unusable (last: {last})")))
    }
}

/// Reads and decodes an image file as RGB.
pub fn read_rgb(path: &Path) -> Result<Image8, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let img = image::load_from_memory(&bytes).map_err(|e| e.to_string())?.to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    Image8::new(w, h, 3, img.into_raw()).ok_or_else(|| "bad image buffer".to_string())
}

/// Reads an image file as one 8-bit channel (masks; colour is converted to luma).
pub fn read_gray(path: &Path) -> Result<Image8, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let img = image::load_from_memory(&bytes).map_err(|e| e.to_string())?.to_luma8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    Image8::new(w, h, 1, img.into_raw()).ok_or_else(|| "bad image buffer".to_string())
}

/// OpenCV `resize(INTER_LINEAR)` of an image with any number of channels.
pub fn cv2_resize(img: &Image8, w: usize, h: usize) -> Image8 {
    if img.width == w && img.height == h {
        return img.clone();
    }
    let c = img.channels;
    let planes: Vec<Vec<u8>> = (0..c)
        .map(|k| {
            let plane: Vec<u8> = img.data.iter().skip(k).step_by(c).copied().collect();
            cv2_resize_linear(&plane, img.width, img.height, w, h)
        })
        .collect();
    let mut data = vec![0u8; w * h * c];
    for (k, p) in planes.iter().enumerate() {
        for (i, &v) in p.iter().enumerate() {
            data[i * c + k] = v;
        }
    }
    Image8 { width: w, height: h, channels: c, data }
}

/// `img[y1:y2, x1:x2]` with numpy's clipping of the bounds.
pub fn crop(img: &Image8, y1: i64, y2: i64, x1: i64, x2: i64) -> Image8 {
    let clip = |v: i64, n: usize| v.clamp(0, n as i64) as usize;
    let (y1, y2) = (clip(y1, img.height), clip(y2, img.height));
    let (x1, x2) = (clip(x1, img.width), clip(x2, img.width));
    let (w, h) = (x2.saturating_sub(x1), y2.saturating_sub(y1));
    let c = img.channels;
    let mut data = Vec::with_capacity(w * h * c);
    for y in y1..y1 + h {
        data.extend_from_slice(&img.data[(y * img.width + x1) * c..(y * img.width + x1 + w) * c]);
    }
    Image8 { width: w, height: h, channels: c, data }
}

/// Pads with `value` by `(top, bottom, left, right)` pixels (`np.pad` constant).
pub fn pad(img: &Image8, top: usize, bottom: usize, left: usize, right: usize, value: u8) -> Image8 {
    let (w, h, c) = (img.width + left + right, img.height + top + bottom, img.channels);
    let mut data = vec![value; w * h * c];
    for y in 0..img.height {
        let dst = ((y + top) * w + left) * c;
        data[dst..dst + img.width * c].copy_from_slice(&img.data[y * img.width * c..(y + 1) * img.width * c]);
    }
    Image8 { width: w, height: h, channels: c, data }
}

/// Centred padding to a square with `value` (both official `pad_to_square`s: the COCO one
/// puts `(S − W) // 2` before, the AnyDoor one `int(padd / 2)`; the same for non-negative sizes).
pub fn pad_to_square(img: &Image8, value: u8) -> Image8 {
    let s = img.width.max(img.height);
    let (dx, dy) = (s - img.width, s - img.height);
    pad(img, dy / 2, dy - dy / 2, dx / 2, dx - dx / 2, value)
}

/// The subject transform (`Resize((R, R))` on a PIL image, bilinear with antialiasing).
pub fn subject_resize(img: &Image8, r: usize) -> Image8 {
    if img.width == r && img.height == r { img.clone() } else { img.resize(r, r, Filter::Bilinear) }
}
