//! Pixel-exact image resampling as the reference pipeline performs it: Pillow's `resize`
//! (separable convolution with antialiasing, 22-bit fixed-point coefficients, an 8-bit
//! intermediate between the horizontal and vertical passes; `libImaging/Resample.c`), and
//! the torchvision transforms built on it (CLIP's `Resize(224)` + `CenterCrop(224)`).

/// An 8-bit image with `channels` interleaved channels (3 = RGB), row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image8 {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Channels per pixel.
    pub channels: usize,
    /// `height · width · channels` bytes.
    pub data: Vec<u8>,
}

/// Pillow's resampling filters used by the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// `Image.BILINEAR` (triangle, support 1).
    Bilinear,
    /// `Image.BICUBIC` (Keys cubic, a = −0.5, support 2).
    Bicubic,
}

impl Filter {
    fn support(self) -> f64 {
        match self {
            Self::Bilinear => 1.0,
            Self::Bicubic => 2.0,
        }
    }

    fn eval(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Self::Bilinear => {
                if x < 1.0 { 1.0 - x } else { 0.0 }
            }
            Self::Bicubic => {
                const A: f64 = -0.5;
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
        }
    }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per output pixel: first input index, and fixed-point weights.
struct Coeffs {
    bounds: Vec<(usize, usize)>,
    weights: Vec<Vec<i32>>,
}

fn precompute(in_size: usize, out_size: usize, filter: Filter) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ss = 1.0 / filterscale;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = Vec::with_capacity(out_size);
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin);
        let mut k: Vec<f64> = (0..n).map(|x| filter.eval((x as f64 + xmin as f64 - center + 0.5) * ss)).collect();
        let ww: f64 = k.iter().sum();
        if ww != 0.0 {
            k.iter_mut().for_each(|v| *v /= ww);
        }
        let fixed = k
            .iter()
            .map(|&v| {
                let scaled = v * (1u32 << PRECISION_BITS) as f64;
                if v < 0.0 { (-0.5 + scaled) as i32 } else { (0.5 + scaled) as i32 }
            })
            .collect();
        bounds.push((xmin, n));
        weights.push(fixed);
    }
    Coeffs { bounds, weights }
}

fn clip8(v: i64) -> u8 {
    if v >= (1i64 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

impl Image8 {
    /// Wraps pixel data; `None` when the length does not match.
    pub fn new(width: usize, height: usize, channels: usize, data: Vec<u8>) -> Option<Self> {
        (data.len() == width * height * channels).then_some(Self { width, height, channels, data })
    }

    /// Pillow `Image.resize((width, height), filter)` on the whole image.
    pub fn resize(&self, width: usize, height: usize, filter: Filter) -> Image8 {
        let c = self.channels;
        let mut img = self.clone();
        if width != self.width {
            let co = precompute(self.width, width, filter);
            let mut out = vec![0u8; width * img.height * c];
            for y in 0..img.height {
                let row = &img.data[y * img.width * c..(y + 1) * img.width * c];
                for (xx, ((xmin, n), k)) in co.bounds.iter().zip(&co.weights).enumerate() {
                    for ch in 0..c {
                        let mut ss: i64 = 1 << (PRECISION_BITS - 1);
                        for x in 0..*n {
                            ss += row[(xmin + x) * c + ch] as i64 * k[x] as i64;
                        }
                        out[(y * width + xx) * c + ch] = clip8(ss);
                    }
                }
            }
            img = Image8 { width, height: img.height, channels: c, data: out };
        }
        if height != self.height {
            let co = precompute(self.height, height, filter);
            let w = img.width;
            let mut out = vec![0u8; w * height * c];
            for (yy, ((ymin, n), k)) in co.bounds.iter().zip(&co.weights).enumerate() {
                for xc in 0..w * c {
                    let mut ss: i64 = 1 << (PRECISION_BITS - 1);
                    for y in 0..*n {
                        ss += img.data[(ymin + y) * w * c + xc] as i64 * k[y] as i64;
                    }
                    out[yy * w * c + xc] = clip8(ss);
                }
            }
            img = Image8 { width: w, height, channels: c, data: out };
        }
        img
    }

    /// torchvision `Resize(size)` with an int size: the short side becomes `size`, the long
    /// side `int(size · long / short)`.
    pub fn resize_short_side(&self, size: usize, filter: Filter) -> Image8 {
        let (w, h) = (self.width, self.height);
        let (nw, nh) = if w <= h {
            (size, (size as f64 * h as f64 / w as f64) as usize)
        } else {
            ((size as f64 * w as f64 / h as f64) as usize, size)
        };
        self.resize(nw, nh, filter)
    }

    /// torchvision `CenterCrop(size)` (offsets rounded half to even, as Python's `round`).
    /// The image must be at least `size` in both directions.
    pub fn center_crop(&self, size: usize) -> Image8 {
        let top = ((self.height - size) as f64 / 2.0).round_ties_even() as usize;
        let left = ((self.width - size) as f64 / 2.0).round_ties_even() as usize;
        let c = self.channels;
        let mut data = Vec::with_capacity(size * size * c);
        for y in top..top + size {
            data.extend_from_slice(&self.data[(y * self.width + left) * c..(y * self.width + left + size) * c]);
        }
        Image8 { width: size, height: size, channels: c, data }
    }

    /// Planar `[channels, height, width]` floats `(v/255 − mean[c]) / std[c]` (ToTensor +
    /// Normalize).
    pub fn to_planar(&self, mean: &[f32], std: &[f32]) -> Vec<f32> {
        let (w, h, c) = (self.width, self.height, self.channels);
        let mut out = vec![0f32; c * h * w];
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    let v = self.data[(y * w + x) * c + ch] as f32 / 255.0;
                    out[ch * h * w + y * w + x] = (v - mean[ch]) / std[ch];
                }
            }
        }
        out
    }
}

/// CLIP's image mean (OpenAI).
pub const CLIP_MEAN: [f32; 3] = [0.48145466, 0.4578275, 0.40821073];
/// CLIP's image standard deviation (OpenAI).
pub const CLIP_STD: [f32; 3] = [0.26862954, 0.26130258, 0.27577711];

/// OpenAI CLIP preprocessing of an RGB image: bicubic short side → `size`, centre crop,
/// normalised planar floats `[3, size, size]`.
pub fn clip_preprocess(rgb: &Image8, size: usize) -> Vec<f32> {
    rgb.resize_short_side(size, Filter::Bicubic).center_crop(size).to_planar(&CLIP_MEAN, &CLIP_STD)
}

/// OpenCV `resize(INTER_LINEAR)` of an 8-bit single-channel image (half-pixel centres, 11-bit
/// fixed-point weights, no antialiasing), as the official editing mask preprocessing uses.
pub fn cv2_resize_linear(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
    const BITS: i32 = 11;
    const SCALE: i32 = 1 << BITS;
    let coeffs = |src_len: usize, dst_len: usize| -> Vec<(usize, usize, i32, i32)> {
        let scale = src_len as f64 / dst_len as f64;
        (0..dst_len)
            .map(|d| {
                let fx = ((d as f64 + 0.5) * scale - 0.5) as f32;
                let mut sx = fx.floor() as i64;
                let mut f = fx - sx as f32;
                if sx < 0 {
                    sx = 0;
                    f = 0.0;
                }
                if sx >= src_len as i64 - 1 {
                    sx = src_len as i64 - 1;
                    f = 0.0;
                }
                let a0 = ((1.0 - f) * SCALE as f32).round() as i32;
                let x0 = sx as usize;
                let x1 = (x0 + 1).min(src_len - 1);
                (x0, x1, a0, SCALE - a0)
            })
            .collect()
    };
    let cx = coeffs(sw, dw);
    let cy = coeffs(sh, dh);
    let rows: Vec<Vec<i32>> = (0..sh)
        .map(|y| cx.iter().map(|&(x0, x1, a0, a1)| src[y * sw + x0] as i32 * a0 + src[y * sw + x1] as i32 * a1).collect())
        .collect();
    let mut out = Vec::with_capacity(dw * dh);
    for &(y0, y1, b0, b1) in &cy {
        for x in 0..dw {
            let v = (rows[y0][x] as i64 * b0 as i64 + rows[y1][x] as i64 * b1 as i64 + (1i64 << (2 * BITS - 1))) >> (2 * BITS);
            out.push(v.clamp(0, 255) as u8);
        }
    }
    out
}
