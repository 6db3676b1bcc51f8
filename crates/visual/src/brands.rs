//! Reference looks of protected brands: a screenshot of the brand's login page and of its logo
//! alone, made by `mailmoat brands capture` from local copies of the pages (brands/<slug>/:
//! brand.toml, login.html, logo.html) and kept beside them. The built-in set is compiled in;
//! `[url_visual] references` adds or replaces brands from a folder of the same shape.

use std::path::{Path, PathBuf};

use image::RgbImage;
use serde::Deserialize;

use crate::browser::{capture, CaptureError, Limits};
use crate::features::{logo_mark, page_features, Mark, PageFeatures};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandFile {
    /// As in the brand list (impersonation), whose domains are the brand's own.
    pub name: String,
    /// More domains of the brand's own, beside the brand list's.
    #[serde(default)]
    pub domains: Vec<String>,
}

/// One brand's reference look.
pub struct Reference {
    pub name: String,
    pub domains: Vec<String>,
    pub page: PageFeatures,
    pub logo: Mark,
}

macro_rules! built_in {
    ($($slug:literal),* $(,)?) => {
        &[$((
            $slug,
            include_str!(concat!("../brands/", $slug, "/brand.toml")),
            include_bytes!(concat!("../brands/", $slug, "/reference.png")) as &[u8],
            include_bytes!(concat!("../brands/", $slug, "/logo.png")) as &[u8],
        )),*]
    };
}

/// slug, brand.toml, reference.png, logo.png
const BUILT_IN: &[(&str, &str, &[u8], &[u8])] = built_in!(
    "paypal",
    "microsoft",
    "google",
    "apple",
    "dhl",
    "netflix",
    "naver",
    "kakao",
);

pub fn built_in_slugs() -> Vec<&'static str> {
    BUILT_IN.iter().map(|b| b.0).collect()
}

fn decode(png: &[u8], what: &str) -> Result<RgbImage, String> {
    image::load_from_memory(png)
        .map(|i| i.to_rgb8())
        .map_err(|e| format!("{what}: not a readable image: {e}"))
}

fn reference(
    brand: &str,
    page_png: &[u8],
    logo_png: &[u8],
    origin: &str,
) -> Result<Reference, String> {
    let file: BrandFile = toml::from_str(brand).map_err(|e| format!("{origin}/brand.toml: {e}"))?;
    let page = page_features(&decode(page_png, &format!("{origin}/reference.png"))?);
    let logo = logo_mark(&decode(logo_png, &format!("{origin}/logo.png"))?)
        .ok_or_else(|| format!("{origin}/logo.png: no logo drawn"))?;
    Ok(Reference {
        name: file.name,
        domains: file.domains,
        page,
        logo,
    })
}

/// The compiled-in references, then those of `extra` (a brand there replaces a built-in one of
/// the same name).
pub fn load(extra: Option<&Path>) -> Result<Vec<Reference>, String> {
    let mut out = Vec::new();
    for (slug, brand, page, logo) in BUILT_IN {
        out.push(reference(
            brand,
            page,
            logo,
            &format!("built-in brands/{slug}"),
        )?);
    }
    if let Some(dir) = extra {
        for folder in brand_folders(dir)? {
            let read = |name: &str| {
                std::fs::read(folder.join(name))
                    .map_err(|e| format!("{}: {e}", folder.join(name).display()))
            };
            let brand = String::from_utf8(read("brand.toml")?)
                .map_err(|e| format!("{}: {e}", folder.display()))?;
            let r = reference(
                &brand,
                &read("reference.png")?,
                &read("logo.png")?,
                &folder.display().to_string(),
            )?;
            out.retain(|b| b.name != r.name);
            out.push(r);
        }
    }
    Ok(out)
}

fn brand_folders(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("brand.toml").is_file())
        .collect();
    folders.sort();
    Ok(folders)
}

/// `mailmoat brands capture`: screenshots each brand folder's login.html and logo.html into its
/// reference.png and logo.png. Returns the brand folders done.
pub fn capture_references(chromium: &Path, dir: &Path) -> Result<Vec<String>, String> {
    let limits = Limits::default();
    let mut done = Vec::new();
    for folder in brand_folders(dir)? {
        for (page, out) in [("login.html", "reference.png"), ("logo.html", "logo.png")] {
            let source = folder.join(page);
            let source = source
                .canonicalize()
                .map_err(|e| format!("{}: {e}", source.display()))?;
            let url = format!("file://{}", source.display());
            let shot = capture(chromium, &url, &limits)
                .map_err(|e: CaptureError| format!("{url}: {e}"))?;
            std::fs::write(folder.join(out), &shot.png)
                .map_err(|e| format!("{}: {e}", folder.join(out).display()))?;
        }
        done.push(folder.display().to_string());
    }
    Ok(done)
}
