//! What a screenshot looks like, in numbers: perceptual hashes of the whole page (near copies),
//! a layout embedding (where the edges are; colours left out, since kits recolour), and the
//! page's logo-sized marks, each reduced to a small normalised patch that can be compared with
//! a brand's logo whatever its size, position or the colours around it.

use image::{imageops, GrayImage, Luma, RgbImage};

/// Side of the square patch a mark is compared at.
const PATCH: u32 = 32;
/// Layout grid (columns × rows) of the embedding.
const GRID_W: usize = 16;
const GRID_H: usize = 10;

#[derive(Debug, Clone)]
pub struct PageFeatures {
    pub dhash: u64,
    pub phash: u64,
    /// Edge density per cell of a 16 × 10 grid, L2-normalised.
    pub layout: Vec<f32>,
    pub marks: Vec<Mark>,
}

/// One candidate logo on a page.
#[derive(Debug, Clone)]
pub struct Mark {
    /// x, y, width, height in screenshot pixels.
    pub bounds: (u32, u32, u32, u32),
    pub aspect: f32,
    /// Zero-mean, unit-norm grey patch.
    pub patch: Vec<f32>,
    /// The same for the gradient magnitude (shape without shading).
    pub edges: Vec<f32>,
}

pub fn grey(img: &RgbImage) -> GrayImage {
    imageops::grayscale(img)
}

pub fn page_features(img: &RgbImage) -> PageFeatures {
    let g = grey(img);
    PageFeatures {
        dhash: dhash(&g),
        phash: phash(&g),
        layout: layout(&g),
        marks: marks(img, &g),
    }
}

/// The marks of a logo rendered alone (a brand reference): one mark covering everything drawn.
pub fn logo_mark(img: &RgbImage) -> Option<Mark> {
    let g = grey(img);
    let ink = ink_mask(img);
    let (w, h) = ink.dimensions();
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for (x, y, p) in ink.enumerate_pixels() {
        if p[0] > 0 {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    (x1 > x0 && y1 > y0).then(|| mark_at(&g, (x0, y0, x1 - x0 + 1, y1 - y0 + 1)))
}

fn mean_box(g: &GrayImage, w: u32, h: u32) -> Vec<f32> {
    // Area averages; image's resize would do, this is exact and cheap.
    let (gw, gh) = g.dimensions();
    let mut out = vec![0f32; (w * h) as usize];
    let mut n = vec![0u32; (w * h) as usize];
    for (x, y, p) in g.enumerate_pixels() {
        let cx = (x as u64 * w as u64 / gw as u64) as u32;
        let cy = (y as u64 * h as u64 / gh as u64) as u32;
        let i = (cy * w + cx) as usize;
        out[i] += p[0] as f32;
        n[i] += 1;
    }
    for (o, c) in out.iter_mut().zip(n) {
        *o /= c.max(1) as f32;
    }
    out
}

/// Difference hash: is each of 8×8 cells darker than its right neighbour (9×8 grid)?
pub fn dhash(g: &GrayImage) -> u64 {
    let cells = mean_box(g, 9, 8);
    let mut h = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            h = (h << 1) | (cells[y * 9 + x] < cells[y * 9 + x + 1]) as u64;
        }
    }
    h
}

/// DCT hash: the low 8×8 frequencies of a 32×32 reduction, against their median.
pub fn phash(g: &GrayImage) -> u64 {
    let n = 32usize;
    let px = mean_box(g, n as u32, n as u32);
    let cos: Vec<f32> = (0..8 * n)
        .map(|i| {
            let (u, x) = (i / n, i % n);
            (std::f32::consts::PI * (2 * x + 1) as f32 * u as f32 / (2 * n) as f32).cos()
        })
        .collect();
    let mut coeffs = [0f32; 64];
    for v in 0..8 {
        for u in 0..8 {
            let mut sum = 0f32;
            for y in 0..n {
                let cy = cos[v * n + y];
                for x in 0..n {
                    sum += px[y * n + x] * cos[u * n + x] * cy;
                }
            }
            coeffs[v * 8 + u] = sum;
        }
    }
    // The DC term says only how bright the page is.
    let mut sorted: Vec<f32> = coeffs[1..].to_vec();
    sorted.sort_by(f32::total_cmp);
    let median = sorted[sorted.len() / 2];
    coeffs
        .iter()
        .fold(0u64, |h, c| (h << 1) | (*c > median) as u64)
}

pub fn hash_similarity(a: u64, b: u64) -> f32 {
    1.0 - (a ^ b).count_ones() as f32 / 64.0
}

fn gradient(g: &GrayImage) -> GrayImage {
    let (w, h) = g.dimensions();
    let mut out = GrayImage::new(w, h);
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let dx = g.get_pixel(x + 1, y)[0] as i32 - g.get_pixel(x - 1, y)[0] as i32;
            let dy = g.get_pixel(x, y + 1)[0] as i32 - g.get_pixel(x, y - 1)[0] as i32;
            out.put_pixel(x, y, Luma([((dx.abs() + dy.abs()) / 2).min(255) as u8]));
        }
    }
    out
}

fn layout(g: &GrayImage) -> Vec<f32> {
    let cells = mean_box(&gradient(g), GRID_W as u32, GRID_H as u32);
    normalise(cells)
}

fn normalise(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Pixels that differ from the colour around them. The background is the commonest colour of
/// the 120×120 pixels around each 40×40 tile, so coloured bands and cards count as background
/// and a large solid logo does not.
fn ink_mask(img: &RgbImage) -> GrayImage {
    type Counts = std::collections::HashMap<[u8; 3], u32>;
    let (w, h) = img.dimensions();
    let tile = 40u32;
    let (tw, th) = (w.div_ceil(tile), h.div_ceil(tile));
    let quant = |p: &image::Rgb<u8>| [p.0[0] >> 3, p.0[1] >> 3, p.0[2] >> 3];
    let mut tiles: Vec<Counts> = vec![Counts::new(); (tw * th) as usize];
    for (x, y, p) in img.enumerate_pixels() {
        *tiles[((y / tile) * tw + x / tile) as usize]
            .entry(quant(p))
            .or_default() += 1;
    }
    let mut mask = GrayImage::new(w, h);
    for ty in 0..th {
        for tx in 0..tw {
            let mut around = Counts::new();
            for ny in ty.saturating_sub(1)..(ty + 2).min(th) {
                for nx in tx.saturating_sub(1)..(tx + 2).min(tw) {
                    for (c, n) in &tiles[(ny * tw + nx) as usize] {
                        *around.entry(*c).or_default() += n;
                    }
                }
            }
            let bg = around
                .into_iter()
                .max_by_key(|(c, n)| (*n, *c))
                .map(|(c, _)| c)
                .unwrap_or([31, 31, 31]);
            for y in ty * tile..((ty + 1) * tile).min(h) {
                for x in tx * tile..((tx + 1) * tile).min(w) {
                    let p = quant(img.get_pixel(x, y));
                    let d: i32 = (0..3).map(|i| (p[i] as i32 - bg[i] as i32).abs()).sum();
                    if d > 3 {
                        mask.put_pixel(x, y, Luma([255]));
                    }
                }
            }
        }
    }
    mask
}

/// Connected groups of ink, after joining what lies within `gap` pixels (letters into words,
/// an icon into its wordmark).
fn blobs(ink: &GrayImage, gap: u32) -> Vec<(u32, u32, u32, u32)> {
    let (w, h) = ink.dimensions();
    // Dilate on a grid of gap-sized cells: a cell is set when it holds ink, then neighbours
    // join; cheap and gap-wide.
    let cell = gap.max(1);
    let (cw, ch) = (w.div_ceil(cell), h.div_ceil(cell));
    let mut on = vec![false; (cw * ch) as usize];
    for (x, y, p) in ink.enumerate_pixels() {
        if p[0] > 0 {
            on[((y / cell) * cw + x / cell) as usize] = true;
        }
    }
    let mut label = vec![u32::MAX; on.len()];
    let mut out = Vec::new();
    for start in 0..on.len() {
        if !on[start] || label[start] != u32::MAX {
            continue;
        }
        let id = out.len() as u32;
        let mut stack = vec![start];
        label[start] = id;
        let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
        while let Some(i) = stack.pop() {
            let (cx, cy) = (i as u32 % cw, i as u32 / cw);
            x0 = x0.min(cx);
            y0 = y0.min(cy);
            x1 = x1.max(cx);
            y1 = y1.max(cy);
            for (dx, dy) in [
                (-1i32, 0i32),
                (1, 0),
                (0, -1),
                (0, 1),
                (-1, -1),
                (1, 1),
                (-1, 1),
                (1, -1),
            ] {
                let (nx, ny) = (cx as i32 + dx, cy as i32 + dy);
                if nx < 0 || ny < 0 || nx >= cw as i32 || ny >= ch as i32 {
                    continue;
                }
                let j = (ny as u32 * cw + nx as u32) as usize;
                if on[j] && label[j] == u32::MAX {
                    label[j] = id;
                    stack.push(j);
                }
            }
        }
        out.push((
            x0 * cell,
            y0 * cell,
            ((x1 + 1) * cell).min(w) - x0 * cell,
            ((y1 + 1) * cell).min(h) - y0 * cell,
        ));
    }
    out
}

/// Tightens a cell-aligned box to the ink inside it.
fn tighten(ink: &GrayImage, (x, y, w, h): (u32, u32, u32, u32)) -> Option<(u32, u32, u32, u32)> {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for yy in y..y + h {
        for xx in x..x + w {
            if ink.get_pixel(xx, yy)[0] > 0 {
                x0 = x0.min(xx);
                y0 = y0.min(yy);
                x1 = x1.max(xx);
                y1 = y1.max(yy);
            }
        }
    }
    (x0 != u32::MAX).then(|| (x0, y0, x1 - x0 + 1, y1 - y0 + 1))
}

fn marks(img: &RgbImage, g: &GrayImage) -> Vec<Mark> {
    let ink = ink_mask(img);
    let (w, h) = img.dimensions();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    // Three joining distances: tight (an icon apart from the wordmark beside it), medium (a
    // logo beside other text) and loose (an icon and its wordmark set apart).
    for gap in [3, 6, 14] {
        for b in blobs(&ink, gap) {
            let Some(b) = tighten(&ink, b) else { continue };
            let (_, _, bw, bh) = b;
            // Logo-sized only: not a speck, not a whole panel.
            if bw < 16 || bh < 12 || bw > w / 2 || bh > h / 3 || bw * bh < 400 {
                continue;
            }
            if seen.insert(b) {
                out.push(mark_at(g, b));
            }
        }
    }
    out
}

fn mark_at(g: &GrayImage, bounds: (u32, u32, u32, u32)) -> Mark {
    let (x, y, w, h) = bounds;
    let crop = imageops::crop_imm(g, x, y, w, h).to_image();
    let small = imageops::resize(&crop, PATCH, PATCH, imageops::FilterType::Triangle);
    let patch = zero_mean_unit(small.pixels().map(|p| p[0] as f32).collect());
    let edges = zero_mean_unit(gradient(&small).pixels().map(|p| p[0] as f32).collect());
    Mark {
        bounds,
        aspect: w as f32 / h as f32,
        patch,
        edges,
    }
}

fn zero_mean_unit(v: Vec<f32>) -> Vec<f32> {
    let mean = v.iter().sum::<f32>() / v.len().max(1) as f32;
    normalise(v.into_iter().map(|x| x - mean).collect())
}

/// How alike two marks are, 0..1: shape (normalised grey and edge patches, so colours and
/// brightness matter little) when their proportions agree; 0 when they do not.
pub fn mark_similarity(a: &Mark, b: &Mark) -> f32 {
    let ratio = a.aspect / b.aspect;
    if !(0.8..=1.25).contains(&ratio) {
        return 0.0;
    }
    // Polarity-free: a dark logo on light and a light one on dark are the same logo.
    let grey = cosine(&a.patch, &b.patch).abs();
    let edges = cosine(&a.edges, &b.edges);
    (0.5 * grey + 0.5 * edges).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn page(bg: [u8; 3], logo_at: (u32, u32), logo_scale: u32) -> RgbImage {
        let mut img = RgbImage::from_pixel(400, 300, Rgb(bg));
        // A made-up logo: a ring beside three bars of different lengths.
        let s = logo_scale;
        for y in 0..12 * s {
            for x in 0..12 * s {
                let (dx, dy) = (x as i32 - 6 * s as i32, y as i32 - 6 * s as i32);
                let r2 = dx * dx + dy * dy;
                if r2 <= (6 * s * 6 * s) as i32 && r2 >= (3 * s * 3 * s) as i32 {
                    img.put_pixel(logo_at.0 + x, logo_at.1 + y, Rgb([200, 30, 30]));
                }
            }
        }
        for (i, len) in [20u32, 14, 24].iter().enumerate() {
            for y in 0..2 * s {
                for x in 0..len * s {
                    img.put_pixel(
                        logo_at.0 + 14 * s + x,
                        logo_at.1 + (i as u32 * 4 + 1) * s + y,
                        Rgb([20, 20, 90]),
                    );
                }
            }
        }
        img
    }

    #[test]
    fn a_logo_is_found_again_moved_scaled_and_on_another_background() {
        let reference = logo_mark(&page([255, 255, 255], (10, 10), 2)).expect("logo");
        let moved = page_features(&page([230, 240, 255], (180, 120), 3));
        let best = moved
            .marks
            .iter()
            .map(|m| mark_similarity(&reference, m))
            .fold(0.0, f32::max);
        assert!(best > 0.9, "best {best}");
        let blank = page_features(&RgbImage::from_pixel(400, 300, Rgb([255, 255, 255])));
        assert!(blank.marks.is_empty());
    }

    #[test]
    fn hashes_are_stable_and_tell_pages_apart() {
        let a = page([255, 255, 255], (10, 10), 2);
        let b = page([255, 255, 255], (200, 150), 4);
        let (ga, gb) = (grey(&a), grey(&b));
        assert_eq!(dhash(&ga), dhash(&ga.clone()));
        assert_eq!(hash_similarity(phash(&ga), phash(&ga)), 1.0);
        assert!(hash_similarity(phash(&ga), phash(&gb)) < 0.9);
        assert!(cosine(&layout(&ga), &layout(&ga)) > 0.999);
    }
}
