//! The loopback set (kits of each protected brand's login page and benign look-alikes) through
//! real headless Chromium: brand recall at least 90% and no benign page flagged; and the SSRF
//! guard: in production mode the same loopback pages are never fetched.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mailmoat_core::Findings;
use mailmoat_detectors::Detector;
use mailmoat_mime::MessageView;
use mailmoat_visual::kits::{pages, KitServer};
use mailmoat_visual::{browser, Config, VisualAnalyzer};

fn analyzer(allow_loopback: bool) -> Option<VisualAnalyzer> {
    analyzer_with(allow_loopback, None)
}

fn analyzer_with(allow_loopback: bool, screenshots: Option<&Path>) -> Option<VisualAnalyzer> {
    if browser::find_chromium(None).is_none() {
        // CI installs Chromium: there the test must run.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but Chromium is not installed"
        );
        eprintln!("skipping: Chromium not found on PATH (install the chromium package)");
        return None;
    }
    let brands = mailmoat_detectors::impersonation::Config::default().brand_list();
    let config = Config {
        enabled: true,
        allow_loopback_for_tests: allow_loopback,
        screenshots_dir: screenshots.map(Path::to_path_buf),
        ..Config::default()
    };
    Some(
        config
            .build(Path::new("."), &brands)
            .expect("builds")
            .expect("enabled"),
    )
}

#[test]
fn kits_are_matched_to_their_brand_and_benign_pages_are_not_flagged() {
    let Some(visual) = analyzer(true) else { return };
    let set = pages();
    let server = KitServer::start(&set).unwrap();
    let (mut kits, mut matched, mut benign, mut benign_flagged) = (0, 0, 0, 0);
    let mut times: Vec<Duration> = Vec::new();
    let mut wrong = Vec::new();
    for page in &set {
        let visit = visual.visit(&server.url(&page.path)).expect("captured");
        times.push(visit.elapsed);
        let flagged = visual.impersonated(&visit);
        let r = visit.resemblance.as_ref().unwrap();
        println!(
            "{:45} best {:10} {:.3} (logo {:.3}, page {:.3}) {} {:?}",
            page.path,
            r.brand,
            r.similarity,
            r.logo_similarity,
            r.page_similarity,
            if flagged.is_some() { "FLAGGED" } else { "-" },
            visit.elapsed
        );
        match &page.brand {
            Some(brand) => {
                kits += 1;
                if flagged.is_some_and(|f| &f.brand == brand) {
                    matched += 1;
                } else {
                    wrong.push(page.path.clone());
                }
            }
            None => {
                benign += 1;
                if flagged.is_some() {
                    benign_flagged += 1;
                    wrong.push(page.path.clone());
                }
            }
        }
    }
    times.sort();
    println!(
        "kits matched to the right brand: {matched}/{kits}; benign flagged: {benign_flagged}/{benign}; per URL median {:?}, max {:?}",
        times[times.len() / 2],
        times[times.len() - 1]
    );
    assert!(kits >= 40 && benign >= 20);
    assert!(
        matched * 10 >= kits * 9,
        "recall {matched}/{kits}; missed: {wrong:?}"
    );
    assert_eq!(benign_flagged, 0, "benign pages flagged: {wrong:?}");
}

#[test]
fn in_production_mode_loopback_links_are_refused_and_never_fetched() {
    let Some(visual) = analyzer(false) else {
        return;
    };
    let set = pages();
    let server = KitServer::start(&set).unwrap();
    let url = server.url("/kit/paypal/text.html");
    let raw = format!(
        "From: a@example.org\r\nTo: b@corp.example\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n<a href=\"{url}\">sign in</a>\r\n"
    );
    let view = MessageView::build(raw.into_bytes(), Default::default(), &Default::default());
    let mut findings = Findings::new();
    visual.analyze(&view, &mut findings);
    assert_eq!(
        server.requests.load(Ordering::Relaxed),
        0,
        "the loopback server was never reached"
    );
    assert!(
        findings.contains("URL_VISUAL_BLOCKED_DESTINATION"),
        "{findings:?}"
    );
    assert!(
        !findings.contains("URL_VISUAL_BRAND_IMPERSONATION"),
        "{findings:?}"
    );
}

#[test]
fn the_detector_reports_the_brand_the_place_and_keeps_the_screenshot() {
    let shots = std::env::temp_dir().join(format!("mm-visual-shots-{}", std::process::id()));
    let Some(visual) = analyzer_with(true, Some(&shots)) else {
        return;
    };
    let set = pages();
    let server = KitServer::start(&set).unwrap();
    // A port nothing listens on: the visit fails and says so; the message moves on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let raw = format!(
        "From: a@example.org\r\nTo: b@corp.example\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n\
         <a href=\"{}\">Review the document</a> <a href=\"http://{closed}/gone\">old link</a>\r\n",
        server.url("/kit/microsoft/combined.html")
    );
    let view = MessageView::build(raw.into_bytes(), Default::default(), &Default::default());
    let mut findings = Findings::new();
    visual.analyze(&view, &mut findings);
    let hit = findings
        .iter()
        .find(|e| e.symbol == "URL_VISUAL_BRAND_IMPERSONATION")
        .unwrap_or_else(|| panic!("{findings:?}"));
    assert!(hit.details.contains("Microsoft"), "{}", hit.details);
    assert!(hit.strength >= 0.8);
    assert_eq!(hit.location.to_string(), "body text/html");
    let hash = hit.details.rsplit("screenshot ").next().unwrap();
    let png = std::fs::read(shots.join(format!("{hash}.png"))).expect("screenshot kept");
    assert!(png.starts_with(b"\x89PNG"));
    let failed = findings
        .iter()
        .find(|e| e.symbol == "URL_VISUAL_FAILED")
        .unwrap_or_else(|| panic!("{findings:?}"));
    assert!(
        failed.details.contains("could not be reached"),
        "{}",
        failed.details
    );
    let _ = std::fs::remove_dir_all(&shots);
}
