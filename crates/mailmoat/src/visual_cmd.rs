//! `mailmoat brands capture` (reference looks from local brand pages) and `mailmoat
//! bench-visual` (the loopback kit set: brand recall, benign flags, seconds per URL).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use mailmoat_visual::kits::{pages, KitServer};
use mailmoat_visual::{brands, browser, Config};

fn chromium(configured: Option<&Path>) -> anyhow::Result<std::path::PathBuf> {
    browser::find_chromium(configured).ok_or_else(|| {
        anyhow::anyhow!("no Chromium found (install the chromium package or pass --chromium PATH)")
    })
}

pub fn capture(dir: &Path, configured: Option<&Path>) -> anyhow::Result<ExitCode> {
    let chromium = chromium(configured)?;
    let done = brands::capture_references(&chromium, dir).map_err(|e| anyhow::anyhow!(e))?;
    for folder in &done {
        println!("{folder}: reference.png, logo.png");
    }
    println!(
        "{} brand(s) captured; the built-in set ({}) is compiled in: rebuild to ship new captures of crates/visual/brands, or point [url_visual] references at {}",
        done.len(),
        brands::built_in_slugs().join(", "),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn bench(configured: Option<&Path>, repeat: usize) -> anyhow::Result<ExitCode> {
    let brands = mailmoat_detectors::impersonation::Config::default().brand_list();
    let config = Config {
        enabled: true,
        chromium: Some(chromium(configured)?),
        // The kit pages are on loopback: the only place this switch is meant for.
        allow_loopback_for_tests: true,
        ..Config::default()
    };
    let visual = config
        .build(Path::new("."), &brands)?
        .ok_or_else(|| anyhow::anyhow!("visual analysis disabled"))?;
    let set = pages();
    let server = KitServer::start(&set)?;
    let (mut kits, mut matched, mut benign, mut flagged) = (0, 0, 0, 0);
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..repeat.max(1) {
        for page in &set {
            let visit = visual.visit(&server.url(&page.path))?;
            times.push(visit.elapsed);
            let hit = visual.impersonated(&visit);
            match &page.brand {
                Some(b) => {
                    kits += 1;
                    matched += hit.is_some_and(|h| &h.brand == b) as usize;
                }
                None => {
                    benign += 1;
                    flagged += hit.is_some() as usize;
                }
            }
        }
    }
    times.sort();
    let pct = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "kits matched to the right brand: {matched}/{kits} = {:.1}%; benign look-alikes flagged: {flagged}/{benign}",
        100.0 * matched as f64 / kits.max(1) as f64
    );
    println!(
        "seconds per URL (browser start, load, screenshot, comparison with {} brands): median {:.2}, p90 {:.2}, max {:.2}",
        visual.references().len(),
        pct(0.5).as_secs_f64(),
        pct(0.9).as_secs_f64(),
        pct(1.0).as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
