//! QR codes in images: decoded so the URLs they carry are analysed like every other URL
//! ("quishing" puts the phishing link in a picture, out of reach of text filters).

use image::ImageReader;
use std::io::Cursor;

/// Images above this many bytes are not searched: phones' photos, not codes (decoding one
/// costs tens of milliseconds; a code image is a few kilobytes).
const MAX_IMAGE_BYTES: usize = 2 << 20;
/// Largest canvas decoded, each side.
const MAX_SIDE: u32 = 4096;
/// Pixels rqrr looks at; larger images are scaled down first (codes stay readable).
const MAX_PIXELS: u32 = 2_000_000;

/// The texts of the QR codes in an image (PNG, JPEG, GIF, BMP, WebP); nothing when it is none
/// of these, damaged, or holds no code.
pub fn codes_in_image(data: &[u8]) -> Vec<String> {
    if data.len() > MAX_IMAGE_BYTES {
        return Vec::new();
    }
    let Ok(reader) = ImageReader::new(Cursor::new(data)).with_guessed_format() else {
        return Vec::new();
    };
    let mut reader = reader;
    let mut limits = image::Limits::default();
    // A small file can claim a huge canvas: refuse to allocate more than this.
    limits.max_alloc = Some(256 << 20);
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    reader.limits(limits);
    let Ok(decoded) = reader.decode() else {
        return Vec::new();
    };
    let mut grey = decoded.to_luma8();
    let pixels = grey.width() * grey.height();
    if pixels > MAX_PIXELS {
        let scale = (f64::from(MAX_PIXELS) / f64::from(pixels)).sqrt();
        let (w, h) = (
            ((f64::from(grey.width()) * scale) as u32).max(1),
            ((f64::from(grey.height()) * scale) as u32).max(1),
        );
        grey = image::imageops::thumbnail(&grey, w, h);
    }
    let (w, h) = (grey.width() as usize, grey.height() as usize);
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        grey.get_pixel(x as u32, y as u32)[0]
    });
    prepared
        .detect_grids()
        .into_iter()
        .filter_map(|grid| grid.decode().ok().map(|(_, text)| text))
        .take(16)
        .collect()
}

/// A code's text as a URL, when it is one (with or without a scheme).
pub fn as_url(text: &str) -> Option<String> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Some(t.to_string());
    }
    // URLTO: is how some generators mark a link.
    if let Some(rest) = lower.strip_prefix("urlto:") {
        return as_url(&t[t.len() - rest.len()..]);
    }
    crate::urls::find_in_text(t)
        .next()
        .filter(|u| u.len() + 2 >= t.len())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_from_code_texts() {
        assert_eq!(
            as_url(" https://evil.example/x ").as_deref(),
            Some("https://evil.example/x")
        );
        assert_eq!(
            as_url("URLTO:http://a.example/").as_deref(),
            Some("http://a.example/")
        );
        assert_eq!(
            as_url("www.b.example/login").as_deref(),
            Some("www.b.example/login")
        );
        assert_eq!(as_url("WIFI:S:guest;T:WPA;P:secret;;"), None);
        assert_eq!(as_url("just some text"), None);
    }

    #[test]
    fn damaged_or_huge_images_give_nothing() {
        assert!(codes_in_image(b"\x89PNG\r\n\x1a\nbroken").is_empty());
        assert!(codes_in_image(b"not an image").is_empty());
        // A PNG header claiming 100000 x 100000 pixels.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&100_000u32.to_be_bytes());
        png.extend_from_slice(&100_000u32.to_be_bytes());
        png.extend_from_slice(&[8, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(codes_in_image(&png).is_empty());
    }
}
