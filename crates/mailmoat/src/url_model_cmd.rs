//! `mailmoat url-model train`: the lexical host model from labelled lists of hosts, measured on
//! hosts it did not learn from.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mailmoat_classifier::url_model::{host_features, BITS};
use mailmoat_classifier::Model;

fn read_hosts(files: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        out.extend(
            text.lines()
                .map(|l| l.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|l| !l.is_empty() && !l.starts_with('#') && l.contains('.')),
        );
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Deterministic shuffle (splitmix64), so a run can be repeated.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

pub fn train(
    phish: &[PathBuf],
    benign: &[PathBuf],
    test_phish: &[PathBuf],
    test_benign: &[PathBuf],
    out: &Path,
    epochs: usize,
) -> anyhow::Result<ExitCode> {
    let phish = read_hosts(phish)?;
    let benign = read_hosts(benign)?;
    let benign_list = benign.clone();
    let benign_set: std::collections::HashSet<&String> = benign_list.iter().collect();
    // A host on both lists teaches nothing.
    let phish: Vec<String> = phish
        .into_iter()
        .filter(|h| !benign_set.contains(h))
        .collect();
    let mut all: Vec<(String, bool)> = phish
        .into_iter()
        .map(|h| (h, true))
        .chain(benign.into_iter().map(|h| (h, false)))
        .collect();
    shuffle(&mut all, 7);
    let held = all.len() / 5;
    let (test, learn) = all.split_at(held);
    let mut model = Model::new(BITS);
    let features: Vec<(Vec<u32>, bool)> =
        learn.iter().map(|(h, y)| (host_features(h), *y)).collect();
    let (np, nb) = (
        features.iter().filter(|f| f.1).count(),
        features.iter().filter(|f| !f.1).count(),
    );
    for _ in 0..epochs.max(1) {
        for (f, y) in &features {
            model.learn(f, *y);
            // The benign side is the smaller list: learn it again, so both weigh alike.
            if !*y {
                for _ in 0..(np / nb.max(1)).clamp(1, 10) - 1 {
                    model.learn(f, *y);
                }
            }
        }
    }
    let score = |hosts: &[(String, bool)]| -> Vec<(f64, bool)> {
        hosts
            .iter()
            .map(|(h, y)| (model.predict(&host_features(h)).spam_probability, *y))
            .collect()
    };
    let held_out = score(test);
    let (auc, at1, threshold) = measure(&held_out);
    println!(
        "learned from {} hosts ({np} phishing, {nb} benign), {epochs} passes; held out {} ({} phishing, {} benign)",
        learn.len(),
        test.len(),
        test.iter().filter(|t| t.1).count(),
        test.iter().filter(|t| !t.1).count()
    );
    println!("held out: ROC AUC {auc:.4}; phishing recall at 1% benign flagged: {:.1}% (threshold {threshold:.3})", at1 * 100.0);
    for t in [0.9, 0.95, 0.99] {
        let tp = held_out.iter().filter(|(p, y)| *y && *p >= t).count();
        let fp = held_out.iter().filter(|(p, y)| !*y && *p >= t).count();
        let (n_p, n_b) = (
            held_out.iter().filter(|x| x.1).count(),
            held_out.iter().filter(|x| !x.1).count(),
        );
        println!(
            "  at {t}: phishing {tp}/{n_p} = {:.1}%, benign flagged {fp}/{n_b} = {:.2}%",
            100.0 * tp as f64 / n_p.max(1) as f64,
            100.0 * fp as f64 / n_b.max(1) as f64
        );
    }
    // Other sets, never learned from (e.g. hosts of real phishing mail and of real ham).
    let extra_b = read_hosts(test_benign)?;
    let extra_p = phishing_sites_only(
        read_hosts(test_phish)?,
        benign_set
            .iter()
            .map(|h| h.as_str())
            .chain(extra_b.iter().map(String::as_str)),
    );
    if !extra_p.is_empty() && !extra_b.is_empty() {
        let scored: Vec<(f64, bool)> = extra_p
            .iter()
            .map(|h| (h, true))
            .chain(extra_b.iter().map(|h| (h, false)))
            .map(|(h, y)| (model.predict(&host_features(h)).spam_probability, y))
            .collect();
        let (auc, at1, threshold) = measure(&scored);
        println!(
            "other sets ({} phishing sites, {} benign hosts): ROC AUC {auc:.4}; phishing recall at 1% benign flagged: {:.1}% (threshold {threshold:.3})",
            extra_p.len(),
            extra_b.len(),
            at1 * 100.0
        );
        for t in [0.9, 0.95, 0.99] {
            let tp = extra_p
                .iter()
                .filter(|h| model.predict(&host_features(h)).spam_probability >= t)
                .count();
            let fp = extra_b
                .iter()
                .filter(|h| model.predict(&host_features(h)).spam_probability >= t)
                .count();
            println!(
                "  other sets at {t}: phishing hosts {tp}/{} = {:.1}%, benign hosts flagged {fp}/{} = {:.2}%",
                extra_p.len(),
                100.0 * tp as f64 / extra_p.len().max(1) as f64,
                extra_b.len(),
                100.0 * fp as f64 / extra_b.len().max(1) as f64
            );
        }
    }
    model.prune();
    model.save(out)?;
    println!("model written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// Phishing mail links to the real brand too (its logo on paypal.com, a privacy page on
/// ebay.com) and text like "i.e.change" reads as a host: keep only hosts under a real public
/// suffix whose site is neither a known brand's nor on a benign list, so what is measured is
/// the phishing sites.
fn phishing_sites_only<'a>(
    hosts: Vec<String>,
    benign: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let site = |h: &str| psl::domain_str(h).map(str::to_string);
    let mut known: std::collections::HashSet<String> = benign.filter_map(site).collect();
    let brands = mailmoat_detectors::impersonation::Config::default().brand_list();
    known.extend(
        brands
            .into_iter()
            .flat_map(|(_, domains)| domains)
            .filter_map(|d| site(&d)),
    );
    hosts
        .into_iter()
        .filter(|h| {
            psl::suffix(h.as_bytes()).is_some_and(|s| s.is_known())
                && site(h).is_some_and(|s| !known.contains(&s))
        })
        .collect()
}

/// ROC AUC, recall at 1% false positives, and the threshold that gives it.
fn measure(scored: &[(f64, bool)]) -> (f64, f64, f64) {
    let mut s = scored.to_vec();
    s.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (np, nb) = (
        s.iter().filter(|x| x.1).count() as f64,
        s.iter().filter(|x| !x.1).count() as f64,
    );
    let mut rank_sum = 0.0;
    for (i, (_, y)) in s.iter().enumerate() {
        if *y {
            rank_sum += (i + 1) as f64;
        }
    }
    let auc = (rank_sum - np * (np + 1.0) / 2.0) / (np * nb).max(1.0);
    let mut benign: Vec<f64> = s.iter().filter(|x| !x.1).map(|x| x.0).collect();
    benign.sort_by(|a, b| b.total_cmp(a));
    let threshold = benign.get((nb * 0.01) as usize).copied().unwrap_or(1.0);
    let recall = s.iter().filter(|(p, y)| *y && *p > threshold).count() as f64 / np.max(1.0);
    (auc, recall, threshold)
}
