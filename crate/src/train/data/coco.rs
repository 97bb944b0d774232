//! COCO 2014 (official `mydatasets/dataset_coco.py`): the target is the whole image squashed to
//! `R × R`, its caption the longest of the image's captions; the subjects are up to 4 crops of
//! the image's own instances, largest first.
//!
//! Per instance (sorted by area, largest first, stable): skipped when its area is below 1000 px,
//! or when the image has more than 4 instances and its area is not among the top half; its mask
//! is decoded as `mask.decode(mask.merge(mask.frPyObjects(seg, h, w)))` (a failure skips it:
//! that is the fate of every RLE segmentation, i.e. every crowd region, because `merge` raises
//! on the single dict `frPyObjects` returns for it); the image is whitened outside the mask,
//! squashed to `R × R`, cropped to the rescaled integer box and padded to a white square. An
//! image without a usable instance gets 4 black subjects with the prompt "a photo of a .".

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::rle::Rle;
use super::{DataSource, Draw, RawSample, cv2_resize, crop, pad_to_square, read_rgb, subject_resize};
use crate::imageops::Image8;
use crate::train::rng::Rng;
use crate::{Error, Result};

/// The official label list (`COCO_CLASSNAMES`, names without spaces and with its typos), by
/// category id; prompts are "a photo of a {name}.".
pub const COCO_CLASSNAMES: [&str; 91] = [
    "person", "bicycle", "car", "motorbike", "aeroplane", "bus", "train", "truck", "boat", "trafficlight",
    "firehydrant", "streetsign", "stopsign", "parkingmeter", "bench", "bird", "cat", "dog", "horse", "sheep",
    "cow", "elephant", "bear", "zebra", "giraffe", "hat", "backpack", "umbrella", "shoe", "eyeglasses",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sportsball", "kite", "baseballbat", "baseballglove",
    "skateboard", "surfboard", "tennisracket", "bottle", "plate", "wineglass", "cup", "fork", "knife", "spoon",
    "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hotdog", "pizza", "donut",
    "cake", "chair", "sofa", "pottedplant", "bed", "mirror", "diningtable", "window", "desk", "toilet",
    "door", "tvmonitor", "laptop", "mouse", "remote", "keyboard", "cellphone", "microwave", "oven", "toaster",
    "sink", "subrigerator", "blender", "book", "clock", "vase", "scissors", "teddybear", "hairdrier", "toothbrush",
    "hairbrush",
];

#[derive(Clone, Debug, Deserialize)]
struct ImageInfo {
    id: u64,
    file_name: String,
    width: usize,
    height: usize,
}

/// A segmentation as stored: polygons, or an RLE (uncompressed counts or the compressed string).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Segmentation {
    /// One or more polygons `[x0, y0, x1, y1, …]`.
    Polygons(Vec<Vec<f64>>),
    /// Run-length encoded.
    Rle {
        /// Counts, as a list or the compressed string.
        counts: Counts,
        /// `[h, w]`.
        size: [usize; 2],
    },
}

/// RLE counts as stored.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Counts {
    /// Uncompressed.
    List(Vec<u32>),
    /// Compressed (`rleToString`).
    Str(String),
}

impl Segmentation {
    /// The mask (row-major, 1 inside) of an `h × w` image as pycocotools decodes it; `None`
    /// where the decoding fails.
    pub fn decode(&self, h: usize, w: usize) -> Option<Vec<u8>> {
        self.rle(h, w).map(|r| r.decode())
    }

    /// The mask as an RLE (see [`Segmentation::decode`]).
    pub fn rle(&self, h: usize, w: usize) -> Option<Rle> {
        match self {
            Segmentation::Polygons(parts) if !parts.is_empty() => {
                let rles: Vec<Rle> = if parts[0].len() == 4 {
                    // frPyObjects reads a first part of 4 numbers as bounding boxes [x, y, w, h]
                    parts
                        .iter()
                        .map(|b| {
                            let (xs, ys) = (b[0], b[1]);
                            let (xe, ye) = (xs + b.get(2).copied().unwrap_or(0.0), ys + b.get(3).copied().unwrap_or(0.0));
                            Rle::from_polygon(&[xs, ys, xs, ye, xe, ye, xe, ys], h, w)
                        })
                        .collect()
                } else {
                    parts.iter().map(|p| Rle::from_polygon(p, h, w)).collect()
                };
                Rle::merge(&rles)
            }
            Segmentation::Rle { counts: Counts::List(c), size } => {
                let r = Rle { h: size[0], w: size[1], counts: c.clone() };
                r.is_consistent().then_some(r)
            }
            Segmentation::Rle { counts: Counts::Str(s), size } => Rle::from_string(s, size[0], size[1]).filter(Rle::is_consistent),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
struct Instance {
    image_id: u64,
    category_id: usize,
    segmentation: Segmentation,
    area: f64,
    bbox: [f64; 4],
}

#[derive(Clone, Debug, Deserialize)]
struct Caption {
    image_id: u64,
    caption: String,
}

#[derive(Deserialize)]
struct InstancesFile {
    annotations: Vec<Instance>,
}

#[derive(Deserialize)]
struct CaptionsFile {
    images: Vec<ImageInfo>,
    annotations: Vec<Caption>,
}

/// One image with what the reader needs of its annotations.
#[derive(Clone, Debug)]
struct Item {
    path: PathBuf,
    h: usize,
    w: usize,
    caption: String,
    instances: Vec<Instance>,
}

/// The COCO 2014 reader over `train2014` then `val2014` (the splits whose annotation files
/// exist), capped at the first N images like the official `subset_size`.
pub struct Coco {
    items: Vec<Item>,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let file = std::fs::File::open(path).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    serde_json::from_reader(std::io::BufReader::new(file)).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}

impl Coco {
    /// Indexes `root/annotations/{captions,instances}_{train,val}2014.json`.
    pub fn open(root: &Path, cap: Option<usize>) -> Result<Self> {
        let mut items = Vec::new();
        let mut found = false;
        for split in ["train2014", "val2014"] {
            let captions = root.join(format!("annotations/captions_{split}.json"));
            let instances = root.join(format!("annotations/instances_{split}.json"));
            if !captions.is_file() && !instances.is_file() {
                continue;
            }
            found = true;
            for p in [&captions, &instances] {
                if !p.is_file() {
                    return Err(Error::Input(format!("COCO: {} is missing", p.display())));
                }
            }
            let captions: CaptionsFile = read_json(&captions)?;
            let instances: InstancesFile = read_json(&instances)?;
            let mut by_image: HashMap<u64, Vec<Instance>> = HashMap::new();
            for a in instances.annotations {
                by_image.entry(a.image_id).or_default().push(a);
            }
            let mut longest: HashMap<u64, String> = HashMap::new();
            for c in captions.annotations {
                let e = longest.entry(c.image_id).or_default();
                if c.caption.len() > e.len() {
                    *e = c.caption;
                }
            }
            for img in captions.images {
                items.push(Item {
                    path: root.join(split).join(&img.file_name),
                    h: img.height,
                    w: img.width,
                    caption: longest.remove(&img.id).unwrap_or_default(),
                    instances: by_image.remove(&img.id).unwrap_or_default(),
                });
            }
        }
        if !found {
            return Err(Error::Input(format!(
                "COCO: no annotations/captions_train2014.json or annotations/captions_val2014.json under {}",
                root.display()
            )));
        }
        if let Some(n) = cap {
            items.truncate(n);
        }
        Ok(Self { items })
    }
}

/// The official instance filter: `(n > 4 and area not in the top half) or area < 1000`.
fn keep_instance(area: f64, areas: &[f64], max_len: usize) -> bool {
    let mut sorted = areas.to_vec();
    sorted.sort_by(f64::total_cmp);
    let half = areas.len() / 2;
    let top = &sorted[sorted.len() - half..];
    !((areas.len() > max_len && !top.contains(&area)) || area < 1000.0)
}

impl DataSource for Coco {
    fn name(&self) -> &str {
        "coco2014"
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    fn get(&self, index: usize, r: usize, _rng: &mut Rng) -> Draw {
        const MAX_LEN: usize = 4;
        let item = &self.items[index];
        let image = match read_rgb(&item.path) {
            Ok(i) => i,
            Err(reason) => return Draw::Unreadable { path: item.path.clone(), reason },
        };
        let (h, w) = (item.h, item.w);
        if image.width != w || image.height != h {
            return Draw::Unreadable { path: item.path.clone(), reason: format!("{}×{} on disk, {}×{} in the annotations", image.width, image.height, w, h) };
        }
        let mut order: Vec<&Instance> = item.instances.iter().collect();
        order.sort_by(|a, b| b.area.total_cmp(&a.area));
        let areas: Vec<f64> = order.iter().map(|i| i.area).collect();
        let mut subjects = Vec::new();
        let mut prompts = Vec::new();
        for inst in &order {
            if !keep_instance(inst.area, &areas, MAX_LEN) {
                continue;
            }
            if matches!(inst.segmentation, Segmentation::Rle { .. }) {
                // pycocotools' merge raises on the dict frPyObjects returns (checked with
                // pycocotools 2.0): the official `try: … except: continue` skips the instance.
                continue;
            }
            let Some(mask) = inst.segmentation.decode(h, w) else { continue };
            if mask.len() != h * w {
                continue;
            }
            let mut white = image.clone();
            for (px, &m) in white.data.chunks_exact_mut(3).zip(&mask) {
                if m == 0 {
                    px.copy_from_slice(&[255, 255, 255]);
                }
            }
            let white = cv2_resize(&white, r, r);
            let [bx, by, bw, bh] = inst.bbox;
            let (sx, sy) = (r as f64 / w as f64, r as f64 / h as f64);
            let (x, y, cw, ch) = ((bx * sx) as i64, (by * sy) as i64, (bw * sx) as i64, (bh * sy) as i64);
            let sub = crop(&white, y, y + ch, x, x + cw);
            if sub.width == 0 || sub.height == 0 {
                continue; // the official code would fail on the empty crop later
            }
            let sub = pad_to_square(&sub, 255);
            if sub.data.iter().all(|&v| v == 0) {
                continue;
            }
            subjects.push(sub);
            let name = COCO_CLASSNAMES.get(inst.category_id.wrapping_sub(1)).copied().unwrap_or("object");
            prompts.push(format!("a photo of a {name}."));
        }
        subjects.truncate(MAX_LEN);
        prompts.truncate(MAX_LEN);
        if subjects.is_empty() {
            let black = Image8 { width: 100, height: 100, channels: 3, data: vec![0; 100 * 100 * 3] };
            subjects = vec![black; MAX_LEN];
            prompts = vec!["a photo of a .".to_string(); MAX_LEN];
        }
        let subjects = subjects.iter().map(|s| subject_resize(s, r)).collect();
        Draw::Sample(RawSample { target: cv2_resize(&image, r, r), subjects, caption: item.caption.clone(), subject_prompts: prompts })
    }
}
