//! `mailmoat bench`: throughput of the scan path on one core, and peak memory.
//!
//! Messages are loaded into memory first so disk speed does not count; each pass then parses,
//! builds the view, runs every detector and decides, on this thread only.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use mailmoat_mime::MessageView;
use mailmoat_pipeline::{sources, Scanner};

pub fn run(
    config: Option<&std::path::Path>,
    paths: &[String],
    repeat: usize,
) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let config = crate::load_config(config)?;
    let scanner = Scanner::new(&config)?;
    let loaded = start.elapsed();
    // Measured on the engine a running gateway settles on, not the one it starts with.
    if let Some(engine) = scanner.wait_for_spamassassin_engine(std::time::Duration::from_secs(3600))
    {
        println!("SpamAssassin rules matched by {engine}");
    }
    let (rules, patterns, entries, rates) = scanner.rules().counts();
    println!(
        "configuration loaded in {:.0} ms: {rules} rules ({patterns} distinct patterns), {entries} list entries, {rates} rate limits",
        loaded.as_secs_f64() * 1000.0
    );
    let scanner = &scanner;
    let items = sources::read_all(paths)?;
    anyhow::ensure!(!items.is_empty(), "no messages found");
    let bytes: usize = items.iter().map(|i| i.raw.len()).sum();
    let options = mailmoat_mime::ViewOptions::default();
    let repeat = repeat.max(1);

    // The classifier alone, from views built beforehand: what it adds to every scan.
    let classifier = config.classifier.build(&config.base_dir)?;
    let views: Vec<MessageView> = match &classifier {
        Some(_) => items
            .iter()
            .map(|i| MessageView::build(i.raw.clone(), i.envelope.clone(), &options))
            .collect(),
        None => Vec::new(),
    };
    let mut best_classify = Duration::MAX;

    let mut best_view = Duration::MAX;
    let mut best_full = Duration::MAX;
    let mut first_full = None;
    let mut not_delivered = 0;
    for _ in 0..repeat {
        let start = Instant::now();
        for item in &items {
            let view = MessageView::build(item.raw.clone(), item.envelope.clone(), &options);
            std::hint::black_box(&view);
        }
        best_view = best_view.min(start.elapsed());

        let start = Instant::now();
        not_delivered = 0;
        for item in &items {
            let report = scanner.scan(item.raw.clone(), item.envelope.clone());
            if report.verdict.action != mailmoat_core::Action::Deliver {
                not_delivered += 1;
            }
            std::hint::black_box(&report);
        }
        best_full = best_full.min(start.elapsed());
        first_full.get_or_insert(start.elapsed());

        if let Some(c) = &classifier {
            let weights = c.weights();
            let start = Instant::now();
            for view in &views {
                let f = mailmoat_classifier::features_with_repeats(view, weights.bits());
                std::hint::black_box(weights.predict_repeated(&f));
            }
            best_classify = best_classify.min(start.elapsed());
        }
    }
    let n = items.len() as f64;
    let mb = bytes as f64 / 1e6;
    println!(
        "messages: {} ({:.1} MB), passes: {repeat}, best pass reported, one thread",
        items.len(),
        mb
    );
    let mut lines = vec![
        ("parse + view", best_view),
        ("parse + view + detectors + verdict", best_full),
    ];
    if classifier.is_some() {
        lines.push(("classifier from a parsed view", best_classify));
    }
    for (what, d) in lines {
        let s = d.as_secs_f64();
        println!(
            "{what:<36} {:>9.0} messages/s {:>7.1} MB/s  ({:.1} µs/message)",
            n / s,
            mb / s,
            s / n * 1e6
        );
    }
    auth_stage(&config, &items)?;
    if let Some(first) = first_full {
        // Rule regexes compile on first use, so the first pass also pays for those compiles.
        println!(
            "first full pass (includes lazy regex compiles): {:.0} messages/s",
            n / first.as_secs_f64()
        );
    }
    println!(
        "not delivered untouched: {not_delivered} of {}",
        items.len()
    );
    if let Some(peak) = peak_rss_kib() {
        println!(
            "peak memory (VmHWM, corpus held in memory): {:.1} MiB",
            peak as f64 / 1024.0
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A DKIM-signed message (RSA-2048) with its DNS records, from the authentication cases.
const SIGNED_CASE: &str = include_str!("../../auth/cases/pass_all.case");

/// The authentication stage and the impersonation detector, with DNS answered from configured
/// records (no network): what they cost besides waiting for DNS. Over the messages given, and
/// over a signed message that exercises SPF, DKIM verification and DMARC.
fn auth_stage(config: &mailmoat_pipeline::Config, items: &[sources::Item]) -> anyhow::Result<()> {
    use mailmoat_auth::contacts::MemoryContacts;
    use mailmoat_auth::dns::ConfiguredResolver;
    use mailmoat_auth::AuthStage;
    use mailmoat_detectors::Detector;
    use std::sync::Arc;

    let (head, body) = SIGNED_CASE
        .split_once("\n\n")
        .expect("case file has directives");
    let mut auth = config.auth.clone();
    auth.dns.only_records = true;
    let mut signed_env = mailmoat_mime::Envelope::default();
    for line in head.lines() {
        match line.split_once(':') {
            Some(("dns", v)) => auth.dns.records.push(v.trim().to_string()),
            Some(("mail-from", v)) => signed_env.mail_from = Some(v.trim().to_string()),
            Some(("rcpt-to", v)) => signed_env.rcpt_to.push(v.trim().to_string()),
            Some(("client-ip", v)) => signed_env.client_ip = v.trim().parse().ok(),
            Some(("helo", v)) => signed_env.helo = Some(v.trim().to_string()),
            _ => {}
        }
    }
    let resolver = Arc::new(ConfiguredResolver::new(&auth.dns)?);
    let stage = AuthStage::with_parts(
        &auth,
        resolver,
        Some(Arc::new(MemoryContacts::new(100_000))),
        &config.site.hostname,
        &config.message.trusted_networks,
        &config.detectors.impersonation.protected_domains,
    )?;
    let impersonation = config.detectors.impersonation.build();
    let options = config.message.clone();
    // Mail as the gateway sees it: from an external client (the corpus' own first hop, else
    // a documentation address).
    let views: Vec<MessageView> = items
        .iter()
        .map(|i| {
            let mut env = i.envelope.clone();
            env.rcpt_to = vec!["user@corp.example".into()];
            let mut v = MessageView::build(i.raw.clone(), env, &options);
            if v.client_ip().is_none() {
                v.envelope.client_ip = Some("198.51.100.7".parse().expect("ip"));
            }
            v
        })
        .collect();
    let signed = MessageView::build(body.as_bytes().to_vec(), signed_env, &options);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut best_corpus = Duration::MAX;
    let mut best_signed = Duration::MAX;
    let signed_rounds = 2000;
    let mut checked = 0usize;
    for _ in 0..3 {
        let start = Instant::now();
        checked = 0;
        for view in &views {
            let out = rt.block_on(stage.check(view));
            checked += out.header.is_some() as usize;
            let mut findings = out.findings;
            impersonation.analyze(view, &mut findings);
            std::hint::black_box(findings);
        }
        best_corpus = best_corpus.min(start.elapsed());
        let start = Instant::now();
        for _ in 0..signed_rounds {
            let out = rt.block_on(stage.check(&signed));
            let mut findings = out.findings;
            impersonation.analyze(&signed, &mut findings);
            std::hint::black_box(findings);
        }
        best_signed = best_signed.min(start.elapsed());
    }
    println!(
        "authentication + impersonation, DNS from configured records ({checked} of {} messages from an external client):",
        views.len()
    );
    println!(
        "  over these messages                  {:>9.1} µs/message",
        best_corpus.as_secs_f64() / views.len().max(1) as f64 * 1e6
    );
    println!(
        "  DKIM-signed (RSA-2048) SPF+DKIM+DMARC {:>8.1} µs/message",
        best_signed.as_secs_f64() / signed_rounds as f64 * 1e6
    );
    Ok(())
}

/// Peak resident set size from /proc (Linux); None elsewhere.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
