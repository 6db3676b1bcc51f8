//! `mailmoat bench-urls`: the static URL analysis alone, per URL, over the links of real mail.

use std::process::ExitCode;
use std::time::Instant;

use mailmoat_core::Findings;
use mailmoat_detectors::Detector;
use mailmoat_mime::MessageView;
use mailmoat_pipeline::sources;

pub fn run(
    config: Option<&std::path::Path>,
    paths: &[String],
    repeat: usize,
) -> anyhow::Result<ExitCode> {
    let config = crate::load_config(config)?;
    let analysis = config
        .detectors
        .url_analysis
        .build(&config.detectors.impersonation);
    let items = sources::read_all(paths)?;
    let views: Vec<MessageView> = items
        .into_iter()
        .map(|i| MessageView::build(i.raw, i.envelope, &config.message))
        .filter(|v| !v.urls.is_empty())
        .collect();
    let urls: usize = views.iter().map(|v| v.urls.len()).sum();
    anyhow::ensure!(urls > 0, "no URLs in these messages");
    let host_model = config.url_model.build(&config.base_dir)?;
    let mut detectors: Vec<(&str, Vec<&dyn Detector>)> = vec![("static checks", vec![&analysis])];
    if let Some(m) = &host_model {
        detectors.push(("lexical host model", vec![m]));
        detectors.push(("both", vec![&analysis, m]));
    }
    for (what, run) in detectors {
        let mut best = f64::MAX;
        let mut found = 0;
        for _ in 0..repeat.max(1) {
            let start = Instant::now();
            found = 0;
            for view in &views {
                let mut findings = Findings::new();
                for d in &run {
                    d.analyze(view, &mut findings);
                }
                found += findings.len();
            }
            best = best.min(start.elapsed().as_secs_f64());
        }
        println!(
            "{what}: {urls} URLs in {} messages: {:.2} µs per URL (best of {}; views built beforehand), {found} findings",
            views.len(),
            best * 1e6 / urls as f64,
            repeat.max(1)
        );
    }
    Ok(ExitCode::SUCCESS)
}
