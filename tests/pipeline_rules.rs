//! Pipeline behaviour beyond numerical parity: the auto-stop rule, cancellation (prompt, typed,
//! and the pipeline stays usable), determinism per seed, input validation with clear errors
//! (one behaviour per test). The command line is tested in `cli.rs`.

use std::ops::ControlFlow;

use burn::tensor::DType;
use ezigen::Error;
use ezigen::native::DiffusersFolders;
use ezigen::pipeline::{EditRequest, Event, GenerateRequest, Mask, NoProgress, Pipeline, ProgressSink, RgbaImage, SamplingOptions, SeededNoise};
use ezigen_tests::cpu;

fn tiny() -> Pipeline {
    DiffusersFolders::builtin_tiny().load(&cpu(), DType::F32).unwrap()
}

fn subject() -> RgbaImage {
    let (w, h) = (40, 30);
    let data = (0..w * h).flat_map(|i| {
        let (x, y) = (i % w, i / w);
        let inside = (x as i32 - 20).pow(2) + (y as i32 - 15).pow(2) < 100;
        [200, (x * 6) as u8, (y * 8) as u8, if inside { 255 } else { 0 }]
    });
    RgbaImage::new(w, h, data.collect()).unwrap()
}

fn quick(iterations: Option<usize>) -> SamplingOptions {
    SamplingOptions { steps: 5, iterations, ..Default::default() }
}

#[test]
fn auto_stop_rule_matches_loop_infer() {
    let auto = SamplingOptions::default();
    // Iterations 1–3 always run, whatever the similarity.
    for k in 1..=3 {
        assert!(auto.continue_loop(k, Some(0.999)));
    }
    // From the 4th on: run while the last similarity is below the threshold, at most 9.
    assert!(!auto.continue_loop(4, Some(0.99)));
    assert!(auto.continue_loop(4, Some(0.989)));
    assert!(auto.continue_loop(9, Some(0.5)));
    assert!(!auto.continue_loop(10, Some(0.5)));
    // A fixed count runs exactly that many.
    let fixed = SamplingOptions { iterations: Some(2), ..Default::default() };
    assert!(fixed.continue_loop(2, Some(1.0)) && !fixed.continue_loop(3, Some(0.0)));
    // The official step arithmetic for N = 50, r = 0.4.
    assert_eq!((auto.layout_steps(), auto.transfer_steps(), auto.renoise_timestep(1000)), (30, 20, 400));
    assert!(!auto.adapter_active(0.6, 29) && auto.adapter_active(0.6, 30));
}

#[test]
fn auto_stop_runs_between_three_and_nine_iterations() {
    let pipe = tiny();
    let mut req = GenerateRequest::new(subject(), "a dog in police outfit", "a dog");
    // The thresholds at the ends of LIMITS: 1 is not reached by images that differ, 0 by any pair
    // of similar images (checked below through the similarities themselves).
    req.options = SamplingOptions { steps: 5, sim_threshold: 1.0, ..Default::default() };
    let out = pollster::block_on(pipe.generate(&req, &mut SeededNoise::new(1), &mut NoProgress)).unwrap();
    assert_eq!(out.iterations, 9, "similarities {:?}", out.similarities);
    assert!(out.similarities.iter().all(|&s| (0.0..1.0).contains(&s)), "{:?}", out.similarities);
    req.options.sim_threshold = 0.0;
    let out = pollster::block_on(pipe.generate(&req, &mut SeededNoise::new(1), &mut NoProgress)).unwrap();
    assert_eq!(out.iterations, 3);
    assert_eq!(out.similarities.len(), 3);
}

struct CancelAfter {
    steps: usize,
    seen: usize,
    after_cancel: usize,
}

impl ProgressSink for CancelAfter {
    fn event(&mut self, e: Event<'_>) -> ControlFlow<()> {
        if self.seen >= self.steps {
            self.after_cancel += 1;
            return ControlFlow::Break(());
        }
        if let Event::Progress { step, .. } = e {
            if step > 0 {
                self.seen += 1;
            }
        }
        ControlFlow::Continue(())
    }
}

#[test]
fn cancellation_is_prompt_and_leaves_the_pipeline_usable() {
    let pipe = tiny();
    let mut req = GenerateRequest::new(subject(), "a dog in police outfit", "a dog");
    req.options = quick(Some(1));
    let mut sink = CancelAfter { steps: 4, seen: 0, after_cancel: 0 };
    let r = pollster::block_on(pipe.generate(&req, &mut SeededNoise::new(7), &mut sink));
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    assert_eq!(sink.after_cancel, 1, "no further event (hence no further step) after the cancel");
    // The same pipeline runs a full job afterwards, identical to a fresh run.
    let a = pollster::block_on(pipe.generate(&req, &mut SeededNoise::new(7), &mut NoProgress)).unwrap();
    let b = pollster::block_on(tiny().generate(&req, &mut SeededNoise::new(7), &mut NoProgress)).unwrap();
    assert_eq!(a.image, b.image);
}

#[test]
fn seeds_determine_the_output() {
    let pipe = tiny();
    let mut req = GenerateRequest::new(subject(), "a dog in police outfit", "a dog");
    req.options = quick(Some(1));
    let run = |seed| pollster::block_on(pipe.generate(&req, &mut SeededNoise::new(seed), &mut NoProgress)).unwrap().image;
    let (a, b, c) = (run(1), run(1), run(2));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

fn input_error(r: Result<ezigen::pipeline::Output, Error>) -> String {
    match r {
        Err(Error::Input(m)) => m,
        other => panic!("expected an input error, got {:?}", other.map(|o| o.iterations)),
    }
}

/// An edit of a 60×40 grey source with `mask`, one 5-step iteration.
fn edit_with(pipe: &Pipeline, mask: Mask) -> Result<ezigen::pipeline::Output, Error> {
    let source = RgbaImage::new(60, 40, vec![128; 60 * 40 * 4]).unwrap();
    let mut r = EditRequest::new(source, mask, subject(), "a dog on the beach", "a dog");
    r.options = quick(Some(1));
    pollster::block_on(pipe.edit(&r, &mut SeededNoise::new(1), &mut NoProgress))
}

#[test]
fn edit_refuses_a_mask_of_another_size_naming_both() {
    let msg = input_error(edit_with(&tiny(), Mask::new(50, 40, vec![255; 2000]).unwrap()));
    assert!(msg.contains("50×40") && msg.contains("60×40"), "{msg}");
}

#[test]
fn edit_refuses_an_empty_mask() {
    let msg = input_error(edit_with(&tiny(), Mask::new(60, 40, vec![0; 2400]).unwrap()));
    assert!(msg.contains("mask is empty"), "{msg}");
}

#[test]
fn edit_with_a_partial_mask_keeps_the_aspect_ratio() {
    let mask = Mask::new(60, 40, (0..60 * 40).map(|i| if i % 60 > 20 { 255 } else { 0 }).collect()).unwrap();
    let out = edit_with(&tiny(), mask).unwrap();
    // Short side = the tiny model's 128 px, aspect kept: 60×40 → 192×128; one iteration.
    assert_eq!((out.image.width, out.image.height, out.iterations), (192, 128, 1));
    assert_eq!(out.similarities.len(), 1);
}

fn generate_with(req_prompt: &str, subject_prompt: &str, split_ratio: f64) -> Result<ezigen::pipeline::Output, Error> {
    let mut req = GenerateRequest::new(subject(), req_prompt, subject_prompt);
    req.options = quick(Some(1));
    req.options.split_ratio = split_ratio;
    pollster::block_on(tiny().generate(&req, &mut SeededNoise::new(1), &mut NoProgress))
}

#[test]
fn generate_refuses_an_empty_prompt() {
    assert!(input_error(generate_with("   ", "a dog", 0.4)).contains("prompt is empty"));
}

#[test]
fn generate_accepts_an_empty_subject_class() {
    let out = generate_with("a photo", "", 0.4).unwrap();
    assert_eq!((out.image.width, out.image.height, out.iterations), (128, 128, 1));
    assert!(out.image.data.chunks_exact(4).any(|p| p[..3] != out.image.data[..3]), "not a flat image");
}

#[test]
fn generate_refuses_a_split_ratio_below_its_limit() {
    let msg = input_error(generate_with("a photo", "a dog", 0.0));
    assert!(msg.contains("split ratio must be between"), "{msg}");
}

#[test]
fn every_accepted_split_ratio_leaves_the_appearance_phase_a_step() {
    // Why the options have no rule of their own for it: ⌈r·N⌉ ≥ 1 for every accepted r and N.
    let l = ezigen::contract::LIMITS;
    for steps in 1..=l.steps.max as usize {
        for r in [l.split_ratio.min, 0.013, 0.5, 0.99, l.split_ratio.max] {
            let o = ezigen::pipeline::SamplingOptions { steps, split_ratio: r, ..Default::default() };
            assert!(o.validate().is_ok(), "steps {steps}, ratio {r}");
            assert!(o.transfer_steps() >= 1 && o.layout_steps() + o.transfer_steps() == steps, "steps {steps}, ratio {r}");
        }
    }
}

#[test]
fn a_text_file_renamed_to_png_is_refused() {
    let msg = RgbaImage::decode(b"hello, I am a text file renamed to .png").unwrap_err().to_string();
    assert!(msg.contains("not a PNG, JPEG or WebP"), "{msg}");
}

#[test]
fn a_webp_photo_decodes_as_the_page_decodes_it() {
    // A lossless WebP with a transparent pixel: the core reads WebP as the page does, and
    // keeps the pixels exactly (the alpha rule is applied where subjects are prepared).
    let (w, h) = (3u32, 2u32);
    let rgba: Vec<u8> = (0..w * h).flat_map(|i| [(i * 40) as u8, (200 - i * 30) as u8, 7, if i == 4 { 0 } else { 255 }]).collect();
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp).encode(&rgba, w, h, image::ExtendedColorType::Rgba8).unwrap();
    let img = RgbaImage::decode(&webp).unwrap();
    assert_eq!((img.width, img.height), (w as usize, h as usize));
    assert_eq!(img.data, rgba);
    // A WebP cut short is refused with a message, not a panic.
    let msg = RgbaImage::decode(&webp[..webp.len() / 2]).unwrap_err().to_string();
    assert!(msg.contains("WebP"), "{msg}");
}

#[test]
fn a_corrupt_png_is_refused() {
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    png.extend_from_slice(&[0; 40]);
    let msg = RgbaImage::decode(&png).unwrap_err().to_string();
    assert!(msg.contains("corrupt"), "{msg}");
}

#[test]
fn an_image_beyond_the_largest_side_is_refused() {
    let side = ezigen::contract::MAX_IMAGE_SIDE + 1;
    let msg = RgbaImage::new(side, 2, vec![0; side * 2 * 4]).unwrap_err().to_string();
    assert!(msg.contains(&format!("at most {}", side - 1)), "{msg}");
}

#[test]
fn a_file_whose_header_claims_a_huge_image_is_refused_before_decoding() {
    // A PNG header for 20000×20000 (1.6 GB of RGBA) with hardly any pixel data.
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        let mut h = crc32(kind);
        h = crc32_update(h, data);
        c.extend_from_slice(&(!h).to_be_bytes());
        c
    };
    let mut ihdr = 20000u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&20000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00]));
    png.extend(chunk(b"IEND", &[]));
    let msg = RgbaImage::decode(&png).unwrap_err().to_string();
    assert!(msg.contains("20000×20000") && msg.contains("scale it down"), "{msg}");
}

/// CRC-32 (PNG's) of `data`, before the final inversion.
fn crc32(data: &[u8]) -> u32 {
    crc32_update(0xffff_ffff, data)
}

fn crc32_update(mut c: u32, data: &[u8]) -> u32 {
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    c
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, 99]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

#[test]
fn a_complete_jpeg_decodes_even_with_bytes_after_its_end() {
    let mut bytes = jpeg(40, 30);
    assert_eq!((RgbaImage::decode(&bytes).unwrap().width, RgbaImage::decode(&bytes).unwrap().height), (40, 30));
    bytes.extend_from_slice(b"trailer some cameras append");
    assert!(RgbaImage::decode(&bytes).is_ok());
}

/// `jpeg` with an EXIF APP1 segment (after SOI) carrying `orientation` (tag 0x0112).
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"II*\0\x08\0\0\0".to_vec(); // little-endian TIFF, first IFD at 8
    tiff.extend_from_slice(&1u16.to_le_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_le_bytes()); // count
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // value padding, no next IFD
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A phone photo stored sideways with EXIF orientation 6 (rotate 90° clockwise) or 8 comes
/// out upright, as the page's browser decode shows it; orientation 1 and no EXIF leave it.
#[test]
fn a_jpeg_is_turned_upright_by_its_exif_orientation() {
    let plain = jpeg(40, 30);
    let size = |b: &[u8]| {
        let img = RgbaImage::decode(b).unwrap();
        (img.width, img.height)
    };
    assert_eq!(size(&plain), (40, 30));
    assert_eq!(size(&with_exif_orientation(&plain, 1)), (40, 30));
    assert_eq!(size(&with_exif_orientation(&plain, 6)), (30, 40));
    assert_eq!(size(&with_exif_orientation(&plain, 8)), (30, 40));
    // Orientation 6: the stored image's top-left pixel ends up top-right.
    let stored = RgbaImage::decode(&plain).unwrap();
    let turned = RgbaImage::decode(&with_exif_orientation(&plain, 6)).unwrap();
    let px = |img: &RgbaImage, x: usize, y: usize| img.data[(y * img.width + x) * 4..][..3].to_vec();
    assert_eq!(px(&turned, 29, 0), px(&stored, 0, 0));
    assert_eq!(px(&turned, 0, 39), px(&stored, 39, 29));
}

#[test]
fn a_truncated_jpeg_is_refused_wherever_it_is_cut() {
    let bytes = jpeg(40, 30);
    for cut in [bytes.len() - 2, bytes.len() * 3 / 4, bytes.len() / 2, 200] {
        let msg = RgbaImage::decode(&bytes[..cut]).unwrap_err().to_string();
        assert!(msg.contains("incomplete"), "cut at {cut}: {msg}");
    }
}

/// A PNG whose header says `w`×`h`, with a single row of pixel data (enough for the header checks).
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut png = Vec::new();
    image::RgbaImage::from_pixel(1, 1, image::Rgba([1, 2, 3, 255])).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    // IHDR's width and height sit at bytes 16..24; its CRC (over type and data, 12..29) follows.
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = !crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// The page's decode (`decodeImage` → `RgbaImage::decode_photo`) refuses what the browser
/// used to refuse before decoding, with a clause that reads after the file's name.
#[test]
fn the_pages_decode_refuses_empty_elongated_and_oversized_files_before_decoding() {
    let msg = RgbaImage::decode_photo(&[]).unwrap_err().to_string();
    assert!(msg.contains("the file is empty"), "{msg}");
    let msg = RgbaImage::decode_photo(&png_header_only(8000, 40)).unwrap_err().to_string();
    assert!(msg.contains("8000×40, more elongated than 4:1") && msg.contains("crop"), "{msg}");
    let msg = RgbaImage::decode_photo(&png_header_only(40, 161)).unwrap_err().to_string();
    assert!(msg.contains("40×161, more elongated"), "{msg}");
    let msg = RgbaImage::decode_photo(&png_header_only(9000, 1)).unwrap_err().to_string();
    assert!(msg.contains("9000×1 pixels") && msg.contains(&ezigen::contract::MAX_IMAGE_SIDE.to_string()), "{msg}");
    let msg = RgbaImage::decode_photo(b"GIF89a\x01\0\x01\0\0\0\0;").unwrap_err().to_string();
    assert!(msg.contains("Gif image, not a PNG, JPEG or WebP"), "{msg}");
    // At the limit (4:1) both decodes read the photo; the CLI's decode has no aspect rule of its
    // own (the pipeline names which image is too elongated).
    let mut png = Vec::new();
    image::RgbaImage::from_pixel(8, 2, image::Rgba([9, 8, 7, 128])).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    assert_eq!(RgbaImage::decode_photo(&png).unwrap(), RgbaImage::decode(&png).unwrap());
    let mut png = Vec::new();
    image::RgbaImage::from_pixel(9, 2, image::Rgba([9, 8, 7, 128])).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    assert!(RgbaImage::decode(&png).is_ok() && RgbaImage::decode_photo(&png).is_err());
}

/// The header checks read JPEG and WebP sizes too (the page's own header parsing, gone with the
/// move to the core, read all three formats): a baseline JPEG's start-of-frame and a lossless
/// WebP's 14-bit sizes patched to 9000 wide are refused by size, 6000×1000 by aspect.
#[test]
fn jpeg_and_webp_headers_are_checked_before_decoding() {
    let mut j = jpeg(40, 30);
    let sof = j.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a baseline start-of-frame");
    j[sof + 5..sof + 7].copy_from_slice(&30u16.to_be_bytes());
    j[sof + 7..sof + 9].copy_from_slice(&9000u16.to_be_bytes());
    let msg = RgbaImage::decode_photo(&j).unwrap_err().to_string();
    assert!(msg.contains("9000×30 pixels"), "{msg}");
    j[sof + 7..sof + 9].copy_from_slice(&6000u16.to_be_bytes());
    j[sof + 5..sof + 7].copy_from_slice(&1000u16.to_be_bytes());
    let msg = RgbaImage::decode_photo(&j).unwrap_err().to_string();
    assert!(msg.contains("6000×1000, more elongated"), "{msg}");

    let rgba = vec![200u8; 4 * 4 * 4];
    let mut w = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut w).encode(&rgba, 4, 4, image::ExtendedColorType::Rgba8).unwrap();
    assert_eq!(&w[12..16], b"VP8L", "a simple lossless WebP starts with its VP8L chunk");
    // After the 0x2f signature at 20: width − 1 in bits 0–13, height − 1 in bits 14–27.
    let bits = u32::from_le_bytes(w[21..25].try_into().unwrap());
    let patched = (bits & !0x0fff_ffff) | (9000 - 1) | ((100 - 1) << 14);
    w[21..25].copy_from_slice(&patched.to_le_bytes());
    let msg = RgbaImage::decode_photo(&w).unwrap_err().to_string();
    assert!(msg.contains("9000×100 pixels"), "{msg}");
}

#[test]
fn the_aspect_limit_is_inclusive_and_names_the_image() {
    let img = |w: usize, h: usize| RgbaImage::new(w, h, vec![255; w * h * 4]).unwrap();
    assert!(img(400, 100).check_aspect("the source image").is_ok());
    assert!(img(100, 400).check_aspect("the source image").is_ok());
    let msg = img(401, 100).check_aspect("the source image").unwrap_err().to_string();
    assert!(msg.contains("the source image is 401×100") && msg.contains("crop"), "{msg}");
    let mut req = GenerateRequest::new(img(30, 121), "a photo", "a dog");
    req.options = quick(Some(1));
    assert!(req.validate().unwrap_err().to_string().contains("the subject image is 30×121"));
}
