//! The live preview: the clean latent x̂₀ a step predicts, mapped to RGB by a fixed linear map
//! of the four latent channels (no VAE, no weights), one pixel per latent cell.
//!
//! The coefficients are the ones Keturn fitted by least squares for Stable Diffusion 1.x
//! latents and published in "Decoding latents to RGB without upscaling"
//! (<https://discuss.huggingface.co/t/decoding-latents-to-rgb-without-upscaling/23204/2>); SD 2.x
//! keeps SD 1.x's VAE, so they hold for SD 2.1-base too. A1111 ("Approx cheap") and ComfyUI's SD
//! 1.5 latent format use the same table. They map the scaled latent (as the sampler holds it) to
//! RGB in about [−1, 1].

use super::RgbaImage;

/// RGB weight of each latent channel (rows: channels 0–3; columns: R, G, B).
pub const LATENT_RGB_FACTORS: [[f32; 3]; 4] = [
    [0.298, 0.207, 0.208],
    [0.187, 0.286, 0.173],
    [-0.158, 0.189, 0.264],
    [-0.184, -0.271, -0.473],
];

/// A planar `[1, 4, h, w]` latent (scaled, as the sampler holds it) as an RGBA image of
/// `w × h` pixels: RGB = Σ_c latent_c · factor_c in [−1, 1], mapped to 0–255.
pub fn latent_to_rgba(latent: &[f32], width: usize, height: usize) -> RgbaImage {
    let plane = width * height;
    assert_eq!(latent.len(), 4 * plane, "latent_to_rgba takes a [1, 4, h, w] latent");
    let mut data = vec![255u8; plane * 4];
    for (i, px) in data.chunks_exact_mut(4).enumerate() {
        let mut rgb = [0f32; 3];
        for (c, f) in LATENT_RGB_FACTORS.iter().enumerate() {
            let v = latent[c * plane + i];
            for (o, w) in rgb.iter_mut().zip(f) {
                *o += v * w;
            }
        }
        for (p, v) in px.iter_mut().zip(rgb) {
            *p = ((v + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8;
        }
    }
    RgbaImage { width, height, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_latent_is_mid_grey_and_channels_map_by_the_table() {
        let img = latent_to_rgba(&[0.0; 4 * 6], 3, 2);
        assert_eq!((img.width, img.height), (3, 2));
        assert!(img.data.chunks_exact(4).all(|p| p == [128, 128, 128, 255]));
        // Channel 3 = 1 everywhere else 0: RGB = 1 + (−0.184, −0.271, −0.473) scaled.
        let mut l = vec![0.0; 4];
        l[3] = 1.0;
        let img = latent_to_rgba(&l, 1, 1);
        let want = LATENT_RGB_FACTORS[3].map(|f| ((f + 1.0) * 127.5).round() as u8);
        assert_eq!(&img.data[..3], &want);
        // Saturation clamps instead of wrapping.
        let img = latent_to_rgba(&[10.0, 10.0, 0.0, -10.0], 1, 1);
        assert_eq!(&img.data[..3], &[255, 255, 255]);
    }
}
