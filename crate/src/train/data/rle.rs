//! COCO-style masks (pycocotools `maskApi.c` semantics): run-length encodings in column-major
//! order (uncompressed count lists and the compressed 6-bit string form), polygon
//! rasterisation exactly as `rleFrPoly` does it (5× upsampled boundary, y-boundary points),
//! and the union `merge` of several parts. Decoded masks are row-major `h × w` bytes (0 / 1).

/// Run lengths over the column-major pixels of an `h × w` mask, starting with a zero run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rle {
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Alternating zero / one runs.
    pub counts: Vec<u32>,
}

impl Rle {
    /// Decodes the compressed string form (`rleFrString`: 6-bit chars from 48, LEB128-like,
    /// counts after the second stored as differences to the count two before). `None` when
    /// malformed.
    pub fn from_string(s: &str, h: usize, w: usize) -> Option<Self> {
        let bytes = s.as_bytes();
        let mut counts: Vec<u32> = Vec::new();
        let mut p = 0;
        while p < bytes.len() {
            let (mut x, mut k, mut more) = (0i64, 0u32, true);
            while more {
                let c = i64::from(*bytes.get(p)?) - 48;
                if !(0..64).contains(&c) || k > 12 {
                    return None;
                }
                x |= (c & 0x1f) << (5 * k);
                more = c & 0x20 != 0;
                p += 1;
                k += 1;
                if !more && (c & 0x10) != 0 {
                    x |= -1i64 << (5 * k);
                }
            }
            if counts.len() > 2 {
                x += i64::from(counts[counts.len() - 2]);
            }
            counts.push(u32::try_from(x).ok()?);
        }
        Some(Self { h, w, counts })
    }

    /// Rasterises a polygon `[x0, y0, x1, y1, …]` (`rleFrPoly`).
    pub fn from_polygon(xy: &[f64], h: usize, w: usize) -> Self {
        let k = xy.len() / 2;
        let scale = 5.0;
        if k == 0 {
            return Self { h, w, counts: vec![(h * w) as u32] };
        }
        // Upsampled integer vertices, closed.
        let mut x: Vec<i64> = (0..k).map(|j| (scale * xy[2 * j] + 0.5) as i64).collect();
        let mut y: Vec<i64> = (0..k).map(|j| (scale * xy[2 * j + 1] + 0.5) as i64).collect();
        x.push(x[0]);
        y.push(y[0]);
        // Dense boundary points along every edge.
        let (mut u, mut v) = (Vec::new(), Vec::new());
        for j in 0..k {
            let (mut xs, mut xe, mut ys, mut ye) = (x[j], x[j + 1], y[j], y[j + 1]);
            let dx = (xe - xs).abs();
            let dy = (ys - ye).abs();
            let flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
            if flip {
                std::mem::swap(&mut xs, &mut xe);
                std::mem::swap(&mut ys, &mut ye);
            }
            if dx >= dy {
                let s = if dx == 0 { 0.0 } else { (ye - ys) as f64 / dx as f64 };
                for d in 0..=dx {
                    let t = if flip { dx - d } else { d };
                    u.push(t + xs);
                    v.push((ys as f64 + s * t as f64 + 0.5) as i64);
                }
            } else {
                let s = (xe - xs) as f64 / dy as f64;
                for d in 0..=dy {
                    let t = if flip { dy - d } else { d };
                    v.push(t + ys);
                    u.push((xs as f64 + s * t as f64 + 0.5) as i64);
                }
            }
        }
        // Points where the boundary crosses a pixel column centre, downsampled.
        let mut starts: Vec<u64> = Vec::new();
        for j in 1..u.len() {
            if u[j] == u[j - 1] {
                continue;
            }
            let xd = if u[j] < u[j - 1] { u[j] } else { u[j] - 1 } as f64;
            let xd = (xd + 0.5) / scale - 0.5;
            if xd.floor() != xd || xd < 0.0 || xd > w as f64 - 1.0 {
                continue;
            }
            let yd = if v[j] < v[j - 1] { v[j] } else { v[j - 1] } as f64;
            let yd = ((yd + 0.5) / scale - 0.5).clamp(0.0, h as f64).ceil();
            starts.push(xd as u64 * h as u64 + yd as u64);
        }
        starts.push((h * w) as u64);
        starts.sort_unstable();
        let mut prev = 0u64;
        let diffs: Vec<u64> = starts
            .iter()
            .map(|&t| {
                let d = t - prev;
                prev = t;
                d
            })
            .collect();
        // Zero-length runs are folded into the run two before.
        let mut counts: Vec<u32> = vec![diffs[0] as u32];
        let mut j = 1;
        while j < diffs.len() {
            if diffs[j] > 0 {
                counts.push(diffs[j] as u32);
                j += 1;
            } else {
                j += 1;
                if j < diffs.len() {
                    *counts.last_mut().expect("non-empty") += diffs[j] as u32;
                    j += 1;
                }
            }
        }
        Self { h, w, counts }
    }

    /// The union of several masks of the same size (`rleMerge` without intersect); `None` for
    /// no parts or parts of different sizes.
    pub fn merge(parts: &[Rle]) -> Option<Rle> {
        let first = parts.first()?;
        if parts.iter().any(|p| p.h != first.h || p.w != first.w) {
            return None;
        }
        let mut mask = first.decode_column_major();
        for p in &parts[1..] {
            for (m, b) in mask.iter_mut().zip(p.decode_column_major()) {
                *m |= b;
            }
        }
        Some(Self::encode_column_major(&mask, first.h, first.w))
    }

    fn decode_column_major(&self) -> Vec<u8> {
        let n = self.h * self.w;
        let mut out = Vec::with_capacity(n);
        let mut value = 0u8;
        for &c in &self.counts {
            let c = (c as usize).min(n - out.len());
            out.extend(std::iter::repeat_n(value, c));
            value ^= 1;
        }
        out.resize(n, 0);
        out
    }

    fn encode_column_major(mask: &[u8], h: usize, w: usize) -> Rle {
        let mut counts = Vec::new();
        let (mut p, mut c) = (0u8, 0u32);
        for &m in mask {
            if m != p {
                counts.push(c);
                c = 0;
                p = m;
            }
            c += 1;
        }
        counts.push(c);
        Rle { h, w, counts }
    }

    /// Whether the runs cover exactly `h · w` pixels.
    pub fn is_consistent(&self) -> bool {
        self.counts.iter().map(|&c| c as u64).sum::<u64>() == (self.h * self.w) as u64
    }

    /// The mask as row-major `h × w` bytes, 1 inside.
    pub fn decode(&self) -> Vec<u8> {
        let col = self.decode_column_major();
        let mut out = vec![0u8; self.h * self.w];
        for x in 0..self.w {
            for y in 0..self.h {
                out[y * self.w + x] = col[x * self.h + y];
            }
        }
        out
    }

    /// Number of pixels inside.
    pub fn area(&self) -> u64 {
        self.counts.iter().skip(1).step_by(2).map(|&c| c as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_form_round_trips_a_known_mask() {
        // A 3×3 mask with the centre column set, column-major runs [3, 3, 3].
        let rle = Rle { h: 3, w: 3, counts: vec![3, 3, 3] };
        assert_eq!(rle.decode(), vec![0, 1, 0, 0, 1, 0, 0, 1, 0]);
        assert_eq!(rle.area(), 3);
        // rleToString([3, 3, 3]) = "333"
        assert_eq!(Rle::from_string("333", 3, 3), Some(rle));
    }

    #[test]
    fn a_square_polygon_covers_its_pixels() {
        let rle = Rle::from_polygon(&[1.0, 1.0, 1.0, 3.0, 3.0, 3.0, 3.0, 1.0], 5, 5);
        assert!(rle.is_consistent());
        let m = rle.decode();
        assert_eq!(m[2 * 5 + 2], 1);
        assert_eq!(m[0], 0);
    }
}
