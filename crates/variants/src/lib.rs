//! Variant detection. A hash changes with one byte; a variant keeps most of its bytes, their
//! distribution and texture. Every object becomes a byte-plot image (one byte, one grey
//! pixel), a fixed-length vector and a TLSH; a reference store of known-malicious objects
//! (with family names) and known-good ones is searched for the nearest neighbours.
//!
//! The vector (128 dimensions, L2-normalised, compared by cosine similarity):
//! - 32: byte-value histogram (values in eights), square-root scaled;
//! - 16: histogram of the entropy of 256-byte windows (the texture of the byte plot: code,
//!   text, padding, compressed data each have their own band);
//! - 64: hashed histogram of 4-byte sequences (what the bytes say: imports, strings, opcodes),
//!   ignoring runs of one repeated byte;
//! - 16: structure: size, printable/zero/high-byte shares, and the container type.
//!
//! The histograms are centred (evenly spread content says nothing), each block is normalised on
//! its own and weighted, so no block dominates by its size. All of it is a bag of features:
//! insertions, reordering and appended data move it little.

mod index;
mod map;
mod store;

use sha2::{Digest, Sha256};

pub use index::{Index, Neighbour};
pub use map::neighbour_map;
pub use store::{Match, Reference, Store, StoreError, Verdict};

pub const DIM: usize = 128;

/// An object's profile: what the store keeps and what a query compares.
#[derive(Debug, Clone)]
pub struct Profile {
    pub sha256: String,
    pub size: usize,
    pub tlsh: Option<String>,
    pub vector: Vec<f32>,
}

pub fn profile(data: &[u8]) -> Profile {
    Profile {
        sha256: Sha256::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        size: data.len(),
        tlsh: tlsh(data),
        vector: embed(data),
    }
}

/// TLSH (128 buckets, 1-byte checksum), as the reference implementation prints it; None for
/// inputs too small or too uniform to hash.
pub fn tlsh(data: &[u8]) -> Option<String> {
    let t = tlsh2::TlshDefaultBuilder::build_from(data)?;
    Some(String::from_utf8_lossy(&t.hash()).into_owned())
}

/// Subtracts the block's mean: content spread evenly over every bin (random or compressed
/// bytes) says nothing; the peaks are what tell one family from another.
fn centre(block: &mut [f32]) {
    let mean = block.iter().sum::<f32>() / block.len() as f32;
    for v in block.iter_mut() {
        *v -= mean;
    }
}

fn normalise(block: &mut [f32], weight: f32) {
    let norm = block.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        for v in block.iter_mut() {
            *v = *v / norm * weight;
        }
    }
}

/// The 128-dimension vector of some bytes.
pub fn embed(data: &[u8]) -> Vec<f32> {
    let mut v = vec![0f32; DIM];
    if data.is_empty() {
        return v;
    }
    let (bytes, rest) = v.split_at_mut(32);
    let (entropy, rest) = rest.split_at_mut(16);
    let (grams, structure) = rest.split_at_mut(64);

    // One pass: per 256-byte window its byte counts (for its entropy, and summed into the
    // whole file's), and the hashed 4-byte sequences. Two count tables and four bin tables,
    // used in turn, let neighbouring increments proceed without waiting for each other.
    // -p·log2(p) for every count of a full window, in fixed point (2^22 per bit): integer
    // sums have no chain of dependent float additions (that chain was the slowest part of the
    // whole embedding) and their rounding (under 1e-4 bit per window) never matters for bins
    // half a bit wide.
    const FIXED: f64 = (1u32 << 22) as f64;
    static TERMS: std::sync::OnceLock<[u32; 257]> = std::sync::OnceLock::new();
    let terms = TERMS.get_or_init(|| {
        let mut t = [0u32; 257];
        for (c, v) in t.iter_mut().enumerate().skip(1) {
            let p = c as f64 / 256.0;
            *v = (-p * p.log2() * FIXED).round() as u32;
        }
        t
    });
    let mut counts = [0u32; 256];
    let mut bins = [[0u32; 64]; 4];
    let mut windows = 0f32;
    for window in data.chunks(256) {
        let mut c = [[0u16; 256]; 2];
        let mut pairs = window.chunks_exact(2);
        for pair in &mut pairs {
            c[0][pair[0] as usize] += 1;
            c[1][pair[1] as usize] += 1;
        }
        for &b in pairs.remainder() {
            c[0][b as usize] += 1;
        }
        let mut fixed = 0u32;
        for i in 0..256 {
            let x = c[0][i] + c[1][i];
            counts[i] += u32::from(x);
            fixed += terms[x as usize];
        }
        let mut h = (f64::from(fixed) / FIXED) as f32;
        if window.len() >= 64 {
            if window.len() < 256 {
                // A short last window: its own probabilities.
                let n = window.len() as f32;
                h = (0..256)
                    .map(|i| c[0][i] + c[1][i])
                    .filter(|&x| x > 0)
                    .map(|x| {
                        let p = f32::from(x) / n;
                        -p * p.log2()
                    })
                    .sum();
            }
            entropy[((h * 2.0) as usize).min(15)] += 1.0;
            windows += 1.0;
        }
    }
    // 4-byte sequences, hashed into 64 bins (FNV-style mixing of the 32-bit word): four at a
    // time out of one 8-byte read, each into its own table.
    fn add_gram(table: &mut [u32; 64], x: u32) {
        // One byte repeated is padding, not content.
        if x != (x & 0xff).wrapping_mul(0x0101_0101) {
            table[(x.wrapping_mul(0x9e37_79b1) >> 26) as usize] += 1;
        }
    }
    let mut start = 0;
    while start + 8 <= data.len() {
        let w = u64::from_le_bytes(data[start..start + 8].try_into().unwrap_or([0; 8]));
        for (k, table) in bins.iter_mut().enumerate() {
            add_gram(table, (w >> (8 * k)) as u32);
        }
        start += 4;
    }
    while start + 4 <= data.len() {
        let x = u32::from_le_bytes(data[start..start + 4].try_into().unwrap_or([0; 4]));
        add_gram(&mut bins[start & 3], x);
        start += 1;
    }
    for (i, c) in counts.iter().enumerate() {
        bytes[i / 8] += *c as f32;
    }
    for b in bytes.iter_mut() {
        *b = b.sqrt();
    }
    if windows > 0.0 {
        for e in entropy.iter_mut() {
            *e = (*e / windows).sqrt();
        }
    }
    for (i, g) in grams.iter_mut().enumerate() {
        *g = ((bins[0][i] + bins[1][i] + bins[2][i] + bins[3][i]) as f32).sqrt();
    }

    let n = data.len() as f32;
    let printable = (0u8..=255)
        .filter(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\n')
        .map(|b| counts[b as usize])
        .sum::<u32>() as f32;
    structure[0] = (n.ln() / 24.0).min(1.0);
    structure[1] = printable / n;
    structure[2] = counts[0] as f32 / n;
    structure[3] = counts[128..].iter().sum::<u32>() as f32 / n;
    let kind = match data {
        [b'M', b'Z', ..] => 4,
        [0x7f, b'E', b'L', b'F', ..] => 5,
        [b'P', b'K', 3, 4, ..] => 6,
        [0xd0, 0xcf, 0x11, 0xe0, ..] => 7,
        [b'%', b'P', b'D', b'F', ..] => 8,
        [b'{', b'\\', b'r', b't', ..] => 9,
        [b'L', 0, 0, 0, ..] => 10,
        _ if printable / n > 0.9 => 11,
        _ => 12,
    };
    structure[kind] = 1.0;

    centre(bytes);
    centre(grams);
    normalise(bytes, 0.8);
    normalise(entropy, 0.6);
    normalise(grams, 1.2);
    normalise(structure, 0.6);
    normalise(&mut v, 1.0);
    v
}

/// Cosine similarity of two normalised vectors.
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The byte-plot width for a file size, as in Nataraj et al. (2011), "Malware images".
pub fn byteplot_width(len: usize) -> usize {
    match len {
        0..=10_239 => 32,
        10_240..=30_719 => 64,
        30_720..=61_439 => 128,
        61_440..=102_399 => 256,
        102_400..=204_799 => 384,
        204_800..=511_999 => 512,
        512_000..=1_048_575 => 768,
        _ => 1024,
    }
}

/// The byte plot as a greyscale PNG (at most `max_bytes` of the object, so the image stays
/// small enough for a report).
pub fn byteplot_png(data: &[u8], max_bytes: usize) -> Vec<u8> {
    let data = &data[..data.len().min(max_bytes)];
    let width = byteplot_width(data.len());
    let height = data.len().div_ceil(width).max(1);
    let mut pixels = data.to_vec();
    pixels.resize(width * height, 0);
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width as u32, height as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        if let Ok(mut writer) = encoder.write_header() {
            let _ = writer.write_image_data(&pixels);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, mut seed: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            out.extend_from_slice(&seed.to_le_bytes());
        }
        out.truncate(n);
        out
    }

    #[test]
    fn variants_stay_close_and_strangers_do_not() {
        let text: Vec<u8> = (0..20_000u32)
            .flat_map(|i| {
                format!("line {i}: var x{i} = fetch('http://a.invalid/{i}');\n").into_bytes()
            })
            .take(40_000)
            .collect();
        let mut variant = text.clone();
        variant.splice(1000..1000, b"/* inserted junk */".iter().copied());
        variant.extend_from_slice(&noise(2000, 3));
        let a = embed(&text);
        let b = embed(&variant);
        let c = embed(&noise(40_000, 9));
        assert!(similarity(&a, &b) > 0.95, "{}", similarity(&a, &b));
        assert!(similarity(&a, &c) < 0.6, "{}", similarity(&a, &c));
        assert!((similarity(&a, &a) - 1.0).abs() < 1e-4);
    }

    #[test]
    fn byteplot_is_a_png_of_the_right_width() {
        let png = byteplot_png(&noise(50_000, 1), 1 << 20);
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
        assert_eq!(width, 128);
    }

    #[test]
    fn tlsh_needs_enough_bytes() {
        assert!(tlsh(b"tiny").is_none());
        assert!(tlsh(&noise(4096, 5)).is_some());
    }
}
