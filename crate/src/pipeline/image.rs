//! Images at the pipeline's edges: decoding user files, RGBA → RGB on white, masks, the
//! resizes the official pipeline performs, and conversions between 8-bit images and tensors.

use burn::tensor::{DType, Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use crate::contract::{MASK_FOREGROUND_MIN, MAX_ASPECT_RATIO, MAX_IMAGE_SIDE};
use crate::imageops::{Filter, Image8};
use crate::{Error, Result};
/// Images with a side larger than this are first downscaled (bicubic, aspect kept) so that
/// their long side is this long; every pipeline input is then resized to at most 512 px on
/// its short side, so this only bounds memory and time (documented in the README).
pub const MAX_INPUT_SIDE: usize = 4096;

/// An RGBA image as the browser's `ImageData` holds it (crosses the wasm boundary with `data` as
/// a `Uint8Array`; [`RgbaImage::check`] is applied to every request).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RgbaImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width · height · 4` bytes.
    #[serde(with = "serde_bytes")]
    #[ts(type = "Uint8Array")]
    pub data: Vec<u8>,
}

/// A single-channel mask, one byte per pixel: a byte ≥ [`MASK_FOREGROUND_MIN`] is foreground.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Mask {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width · height` bytes.
    #[serde(with = "serde_bytes")]
    #[ts(type = "Uint8Array")]
    pub data: Vec<u8>,
}

/// Checks an image's or mask's size against its bytes and [`MAX_IMAGE_SIDE`].
fn check_size(what: &str, width: usize, height: usize, len: usize, channels: usize) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::Input(format!("the {what} is empty (0 pixels)")));
    }
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(Error::Input(format!("the {what} is {width}×{height}; at most {MAX_IMAGE_SIDE} px per side are supported")));
    }
    if len != width * height * channels {
        return Err(Error::Input(format!(
            "{what} data of {len} bytes does not match {width}×{height} (needs {})",
            width * height * channels
        )));
    }
    Ok(())
}

impl RgbaImage {
    /// Wraps RGBA bytes, checking the length.
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Result<Self> {
        let img = Self { width, height, data };
        img.check()?;
        Ok(img)
    }

    /// Checks the size against the bytes and [`MAX_IMAGE_SIDE`] (for images that arrived
    /// deserialised rather than through [`RgbaImage::new`]).
    pub fn check(&self) -> Result<()> {
        check_size("image", self.width, self.height, self.data.len(), 4)
    }

    /// Refuses a photo more elongated than [`MAX_ASPECT_RATIO`]; `what` names it in the message
    /// ("the source image", "subject image 2").
    pub fn check_aspect(&self, what: &str) -> Result<()> {
        check_aspect(what, self.width, self.height)
    }

    /// Decodes a PNG, JPEG or WebP file, turned upright by its EXIF orientation (as browsers
    /// show a photo). A JPEG that ends before its end-of-image marker (a truncated download or
    /// copy) is refused rather than decoded with a grey remainder. Each refusal is a clause that
    /// reads after the file's name ("notes.png: not a PNG, JPEG or WebP image…"), as the CLI
    /// and the page show it.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        decode_file(bytes, false)
    }

    /// [`RgbaImage::decode`] for a photo the user picked (a subject, the photo to edit, a mask
    /// drawn for it): also refuses, from the header and before decoding, an image more
    /// elongated than [`MAX_ASPECT_RATIO`]. The page decodes every image file through this
    /// (the wasm export `decodeImage`).
    pub fn decode_photo(bytes: &[u8]) -> Result<Self> {
        decode_file(bytes, true)
    }

    /// RGB with transparent pixels composited onto white (as EZIGen's training subjects are
    /// objects on white): `rgb·a + 255·(1 − a)`, rounded.
    pub fn to_rgb_on_white(&self) -> Image8 {
        let mut data = Vec::with_capacity(self.width * self.height * 3);
        for px in self.data.chunks_exact(4) {
            let a = px[3] as u32;
            for &c in &px[..3] {
                data.push(((c as u32 * a + 255 * (255 - a) + 127) / 255) as u8);
            }
        }
        Image8 { width: self.width, height: self.height, channels: 3, data }
    }

    /// The red channel as a mask (official editing masks are white on black).
    pub fn red_channel(&self) -> Mask {
        Mask { width: self.width, height: self.height, data: self.data.chunks_exact(4).map(|p| p[0]).collect() }
    }

    /// An RGBA image from RGB (alpha 255).
    pub fn from_rgb(img: &Image8) -> Self {
        let data = img.data.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
        Self { width: img.width, height: img.height, data }
    }
}

impl Mask {
    /// Wraps mask bytes, checking the length.
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Result<Self> {
        let m = Self { width, height, data };
        m.check()?;
        Ok(m)
    }

    /// Checks the size against the bytes and [`MAX_IMAGE_SIDE`].
    pub fn check(&self) -> Result<()> {
        check_size("mask", self.width, self.height, self.data.len(), 1)
    }

    /// Whether a mask byte is foreground (the one mask rule, [`MASK_FOREGROUND_MIN`]).
    pub fn is_foreground(v: u8) -> bool {
        v >= MASK_FOREGROUND_MIN
    }

    /// Whether no pixel is foreground.
    pub fn is_empty(&self) -> bool {
        !self.data.iter().any(|&v| Self::is_foreground(v))
    }

    /// The mask as 0 / 255 (foreground → 255), the binary form the official preprocessing
    /// expects.
    pub fn binary(&self) -> Vec<u8> {
        self.data.iter().map(|&v| if Self::is_foreground(v) { 255 } else { 0 }).collect()
    }
}

/// Refuses a `width`×`height` image more elongated than [`MAX_ASPECT_RATIO`], naming it `what`.
fn check_aspect(what: &str, width: usize, height: usize) -> Result<()> {
    let (long, short) = (width.max(height), width.min(height));
    if long as f64 > MAX_ASPECT_RATIO * short as f64 {
        return Err(Error::Input(format!(
            "{what} is {width}×{height}, more elongated than {MAX_ASPECT_RATIO}:1; crop it to at most {MAX_ASPECT_RATIO}:1 around the part that matters"
        )));
    }
    Ok(())
}

/// [`RgbaImage::decode`], and with `photo` [`RgbaImage::decode_photo`].
fn decode_file(bytes: &[u8], photo: bool) -> Result<RgbaImage> {
    if bytes.is_empty() {
        return Err(Error::Input("the file is empty (0 bytes)".into()));
    }
    let format = image::guess_format(bytes).map_err(|_| {
        Error::Input("not a PNG, JPEG or WebP image (its first bytes are no image signature); choose a photo in one of these formats".into())
    })?;
    if !matches!(format, image::ImageFormat::Png | image::ImageFormat::Jpeg | image::ImageFormat::WebP) {
        return Err(Error::Input(format!("a {format:?} image, not a PNG, JPEG or WebP; save it in one of these formats")));
    }
    if format == image::ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(Error::Input(
            "the JPEG file is incomplete (it ends before its end-of-image marker): it was not fully downloaded or copied; use the complete file".into(),
        ));
    }
    // The size from the header first, so an oversized or elongated image is refused before
    // decoding.
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    reader.no_limits(); // only the header is read here
    if let Ok((w, h)) = reader.into_dimensions() {
        let (w, h) = (w as usize, h as usize);
        if w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE {
            return Err(Error::Input(format!(
                "the image is {w}×{h} pixels; the largest accepted side is {MAX_IMAGE_SIDE}: scale it down first"
            )));
        }
        if photo && w > 0 && h > 0 {
            check_aspect("the image", w, h)?;
        }
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE as u32);
    limits.max_image_height = Some(MAX_IMAGE_SIDE as u32);
    reader.limits(limits);
    let corrupt = |e: image::ImageError| Error::Input(format!("the {format:?} file is corrupt or incomplete and cannot be decoded ({e})"));
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    // A camera's EXIF orientation, applied as browsers do when they show a photo; an unreadable
    // EXIF block leaves the image as stored.
    let orientation = image::ImageDecoder::orientation(&mut decoder).unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    img.apply_orientation(orientation);
    let rgba = img.to_rgba8();
    let (w, h) = (rgba.width() as usize, rgba.height() as usize);
    let img = RgbaImage::new(w, h, rgba.into_raw())?;
    if photo {
        img.check_aspect("the image")?;
    }
    Ok(img)
}

/// Whether a JPEG's marker structure runs to an end-of-image marker: segments are walked by
/// their lengths up to each start-of-scan, entropy-coded data is skipped (a 0xFF there is
/// followed by 0x00 or a restart marker), and the file must reach EOI (0xFFD9) before it ends.
/// Bytes after EOI (some cameras append data) are allowed.
fn jpeg_is_complete(b: &[u8]) -> bool {
    let mut i = 2; // after SOI
    loop {
        // At a marker: skip fill bytes.
        while b.get(i) == Some(&0xff) && b.get(i + 1) == Some(&0xff) {
            i += 1;
        }
        let (Some(&0xff), Some(&m)) = (b.get(i), b.get(i + 1)) else { return false };
        i += 2;
        match m {
            0xd9 => return true,
            0x01 | 0xd0..=0xd7 => continue,
            _ => {}
        }
        let Some(len) = b.get(i..i + 2).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize) else { return false };
        i += len;
        if i > b.len() {
            return false;
        }
        if m == 0xda {
            // Entropy-coded data up to the next marker that is not a stuffed byte or a restart.
            loop {
                match (b.get(i), b.get(i + 1)) {
                    (Some(0xff), Some(0x00 | 0xd0..=0xd7)) => i += 2,
                    (Some(0xff), Some(_)) => break,
                    (Some(_), _) => i += 1,
                    (None, _) => return false,
                }
            }
        }
    }
}

/// Bounds an input's size: images with a side above [`MAX_INPUT_SIDE`] are downscaled
/// (bicubic, aspect kept).
pub fn bound_size(img: Image8) -> Image8 {
    let long = img.width.max(img.height);
    if long <= MAX_INPUT_SIDE {
        return img;
    }
    let scale = MAX_INPUT_SIDE as f64 / long as f64;
    let w = ((img.width as f64 * scale).round() as usize).max(1);
    let h = ((img.height as f64 * scale).round() as usize).max(1);
    img.resize(w, h, Filter::Bicubic)
}

/// Whitens every pixel outside the subject mask (mask resized to the image when sizes differ).
pub fn whiten_outside(rgb: &Image8, mask: &Mask) -> Image8 {
    let m = if mask.width == rgb.width && mask.height == rgb.height {
        mask.data.clone()
    } else {
        Image8 { width: mask.width, height: mask.height, channels: 1, data: mask.data.clone() }
            .resize(rgb.width, rgb.height, Filter::Bilinear)
            .data
    };
    let mut out = rgb.clone();
    for (px, &mv) in out.data.chunks_exact_mut(3).zip(&m) {
        if !Mask::is_foreground(mv) {
            px.copy_from_slice(&[255, 255, 255]);
        }
    }
    out
}

/// torchvision `ToTensor` + `Normalize(0.5, 0.5)`: `[1, 3, H, W]` in [-1, 1].
pub fn to_tensor(rgb: &Image8, device: &Device, dtype: DType) -> Tensor<4> {
    let planar = rgb.to_planar(&[0.5; 3], &[0.5; 3]);
    Tensor::from_data(TensorData::new(planar, [1, 3, rgb.height, rgb.width]), (device, dtype))
}

/// The inversion's normalisation: `np.array(img)/255` in f64, mapped to [-1, 1], then cast to
/// f32 (spec §11.2).
pub fn to_tensor_f64(rgb: &Image8, device: &Device, dtype: DType) -> Tensor<4> {
    let (w, h) = (rgb.width, rgb.height);
    let mut planar = vec![0f32; 3 * h * w];
    for (i, px) in rgb.data.chunks_exact(3).enumerate() {
        for c in 0..3 {
            planar[c * h * w + i] = ((px[c] as f64 / 255.0) * 2.0 - 1.0) as f32;
        }
    }
    Tensor::from_data(TensorData::new(planar, [1, 3, h, w]), (device, dtype))
}

/// diffusers' postprocess of planar `[3, H, W]` f32 values: `(x/2 + 0.5)` clamped to [0, 1],
/// `×255`, rounded half to even (numpy), to an 8-bit RGB image.
pub fn from_planar(values: &[f32], width: usize, height: usize) -> Image8 {
    let n = width * height;
    let mut data = Vec::with_capacity(n * 3);
    for i in 0..n {
        for c in 0..3 {
            let v = (values[c * n + i] / 2.0 + 0.5).clamp(0.0, 1.0) * 255.0;
            data.push(v.round_ties_even() as u8);
        }
    }
    Image8 { width, height, channels: 3, data }
}

/// PyTorch `F.interpolate(mode="bilinear", align_corners=False, antialias=False)` of a
/// single-channel float image, computed on the host.
pub fn torch_bilinear(src: &[f32], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<f32> {
    let axis = |src_len: usize, dst_len: usize| -> Vec<(usize, usize, f32)> {
        let scale = src_len as f32 / dst_len as f32;
        (0..dst_len)
            .map(|d| {
                let s = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (s.floor() as usize).min(src_len - 1);
                let i1 = (i0 + 1).min(src_len - 1);
                (i0, i1, s - i0 as f32)
            })
            .collect()
    };
    let ax = axis(sw, dw);
    let ay = axis(sh, dh);
    let mut out = Vec::with_capacity(dw * dh);
    for &(y0, y1, fy) in &ay {
        for &(x0, x1, fx) in &ax {
            let top = src[y0 * sw + x0] * (1.0 - fx) + src[y0 * sw + x1] * fx;
            let bot = src[y1 * sw + x0] * (1.0 - fx) + src[y1 * sw + x1] * fx;
            out.push(top * (1.0 - fy) + bot * fy);
        }
    }
    out
}
