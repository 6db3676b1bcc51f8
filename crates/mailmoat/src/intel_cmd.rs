//! `mailmoat intel`: the variant reference store. Add known-malicious files with their family
//! (or known-good ones), list it, ask what a file is near, draw a file's byte plot and its
//! place among its neighbours, and measure the whole on synthetic variant families.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use mailmoat_variants::{neighbour_map, profile, Reference, Store, Verdict};

/// The store the configuration names (relative to the config file).
fn store_path(
    config: Option<&Path>,
) -> anyhow::Result<(PathBuf, mailmoat_analyzers::VariantsConfig)> {
    let config = crate::load_config(config)?;
    let variants = config.analyzers.variants.clone();
    let path = variants
        .store
        .as_ref()
        .map(|p| config.base_dir.join(p))
        .context("[analyzers.variants] store is not set")?;
    Ok((path, variants))
}

/// Every file under the given paths (directories recursively), sorted.
pub fn files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        if p.is_dir() {
            for e in std::fs::read_dir(p)? {
                walk(&e?.path(), out)?;
            }
        } else if p.is_file() {
            out.push(p.to_path_buf());
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out).with_context(|| format!("reading {}", p.display()))?;
    }
    out.sort();
    Ok(out)
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn add(
    config: Option<&Path>,
    family: Option<&str>,
    benign: bool,
    paths: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        family.is_some() != benign,
        "give either --family NAME (known-malicious) or --benign"
    );
    let (path, _) = store_path(config)?;
    let mut refs = Vec::new();
    for file in files(paths)? {
        let data = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        let verdict = if benign {
            Verdict::Benign
        } else {
            Verdict::Malicious
        };
        refs.push(Reference::new(
            &profile(&data),
            family.unwrap_or(""),
            verdict,
            &name_of(&file),
        ));
    }
    let added = Store::append(&path, &refs)?;
    println!(
        "{added} of {} file(s) added to {} ({} already there)",
        refs.len(),
        path.display(),
        refs.len() - added
    );
    share(config, &path)?;
    Ok(ExitCode::SUCCESS)
}

/// With `[shared] postgres`, puts the file's references in the site's store now (a running
/// gateway would within seconds; this also covers a node whose gateway is stopped).
fn share(config: Option<&Path>, path: &Path) -> anyhow::Result<()> {
    let settings = crate::load_settings(config)?;
    let Some(link) = mailmoat_shared::open_postgres(&settings.serve.shared, settings.base_dir())?
    else {
        return Ok(());
    };
    let site =
        mailmoat_shared::SharedVariants::new(link, &mailmoat_gateway::node_name(&settings.serve));
    let refs = mailmoat_shared::variants::read_refs(path).map_err(anyhow::Error::msg)?;
    match site.add(refs, mailmoat_gateway::unix_now()) {
        Ok(new) => println!("{new} new to the site's shared reference store"),
        Err(e) => eprintln!(
            "not in the site's shared reference store yet ({e}); a running gateway adds them once PostgreSQL is reachable"
        ),
    }
    Ok(())
}

pub fn list(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (path, _) = store_path(config)?;
    let store = Store::load(&path)?;
    let mut families = std::collections::BTreeMap::<String, usize>::new();
    let mut benign = 0;
    for r in &store.refs {
        match r.verdict {
            Verdict::Malicious => *families.entry(r.family.clone()).or_default() += 1,
            Verdict::Benign => benign += 1,
        }
    }
    println!("{}: {} references", path.display(), store.len());
    for (family, n) in &families {
        println!("  {family:<32} {n:>6} malicious");
    }
    println!("  {:<32} {benign:>6} known-good", "(benign)");
    Ok(ExitCode::SUCCESS)
}

pub fn query(config: Option<&Path>, paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let (path, settings) = store_path(config)?;
    let store = Store::load(&path)?;
    let mut any = false;
    for file in files(paths)? {
        let data = std::fs::read(&file)?;
        let p = profile(&data);
        println!(
            "{} ({} bytes, sha256 {}, tlsh {})",
            file.display(),
            p.size,
            p.sha256,
            p.tlsh.as_deref().unwrap_or("-")
        );
        for (r, s) in store.nearest(&p.vector, 5) {
            let label = match r.verdict {
                Verdict::Malicious => format!("malicious {}", r.family),
                Verdict::Benign => "known-good".to_string(),
            };
            println!("  {s:.3}  {label:<28} {}", r.name);
        }
        match store.judge(&p, settings.threshold, settings.margin) {
            Some(m) => {
                any = true;
                println!(
                    "  => SIMILAR_KNOWN_MALWARE {} ({:.3})",
                    m.family, m.similarity
                );
            }
            None => println!("  => no match"),
        }
    }
    Ok(if any {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The byte plot of a file (PNG) and an SVG map placing it among its nearest references: the
/// first two principal components of the neighbourhood, coloured by family and verdict.
pub fn plot(config: Option<&Path>, file: &Path, out: &Path) -> anyhow::Result<ExitCode> {
    let (path, _) = store_path(config)?;
    let store = Store::load(&path)?;
    let data = std::fs::read(file)?;
    std::fs::create_dir_all(out)?;
    let name = name_of(file);
    let png = out.join(format!("{name}.byteplot.png"));
    std::fs::write(&png, mailmoat_variants::byteplot_png(&data, 4 << 20))?;
    let p = profile(&data);
    let near = store.nearest(&p.vector, 30);
    let svg = out.join(format!("{name}.neighbours.svg"));
    std::fs::write(&svg, neighbour_map(&name, &p.vector, &near))?;
    println!("{}\n{}", png.display(), svg.display());
    Ok(ExitCode::SUCCESS)
}

/// A deterministic generator for the evaluation's mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One variant of a seed: the edits malware authors make between campaigns.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = seed.to_vec();
    let edits = 1 + rng.below(4);
    for _ in 0..edits {
        match rng.below(5) {
            // Insertions: junk bytes somewhere past the header.
            0 => {
                let at = 64.min(v.len()) + rng.below(v.len().saturating_sub(64).max(1));
                let junk: Vec<u8> = (0..16 + rng.below(240)).map(|_| rng.next() as u8).collect();
                v.splice(at.min(v.len())..at.min(v.len()), junk);
            }
            // Section reordering: two blocks past the header swapped.
            1 if v.len() > 2048 => {
                let block = (v.len() / 8).clamp(64, 4096);
                let a = 512 + rng.below(v.len() - 512 - block);
                let b = 512 + rng.below(v.len() - 512 - block);
                if a + block <= b || b + block <= a {
                    for i in 0..block {
                        v.swap(a + i, b + i);
                    }
                }
            }
            // Appended data (an overlay, a padding).
            2 => {
                let extra: Vec<u8> = (0..64 + rng.below(v.len() / 10 + 64))
                    .map(|_| rng.next() as u8)
                    .collect();
                v.extend(extra);
            }
            // Changed strings: letters in printable runs replaced.
            3 => {
                let start = rng.below(v.len());
                let mut changed = 0;
                for b in v.iter_mut().skip(start) {
                    if b.is_ascii_lowercase() {
                        *b = b'a' + (rng.next() % 26) as u8;
                        changed += 1;
                        if changed > 24 {
                            break;
                        }
                    }
                }
            }
            // Repacking: a block of bytes XOR-ed with a new key (a re-encrypted payload).
            _ => {
                let len = (v.len() / 16).max(16).min(v.len());
                let at = rng.below(v.len() - len + 1);
                let key = (rng.next() as u8) | 1;
                for b in &mut v[at..at + len] {
                    *b ^= key;
                }
            }
        }
    }
    v
}

/// Seeds at least this similar are one family (as alike as a sample and its variant).
const MERGE_SEEDS_FROM: f32 = 0.92;

pub fn eval(
    seeds: &[PathBuf],
    benign: &[PathBuf],
    held_out: &[PathBuf],
    per_family: usize,
    threshold: Option<f32>,
) -> anyhow::Result<ExitCode> {
    let seed_files = files(seeds)?;
    let benign_files: Vec<PathBuf> = files(benign)?;
    anyhow::ensure!(!seed_files.is_empty(), "no seed files");
    let mut settings = mailmoat_analyzers::VariantsConfig::default();
    if let Some(t) = threshold {
        settings.threshold = t;
    }
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let train = per_family / 2;
    let mut refs = Vec::new();
    let mut tests: Vec<(String, Vec<u8>)> = Vec::new();
    // Seeds as similar as two variants (the same sample with a byte changed, or three HWP
    // files built from one template) are one family: named after the first of them.
    let mut kept: Vec<(String, Vec<f32>)> = Vec::new();
    let mut merged = 0;
    let mut families = 0;
    for seed in &seed_files {
        let data = std::fs::read(seed)?;
        if data.len() < settings.min_bytes {
            continue;
        }
        let vector = mailmoat_variants::embed(&data);
        let family = match kept
            .iter()
            .find(|(_, v)| mailmoat_variants::similarity(v, &vector) >= MERGE_SEEDS_FROM)
        {
            Some((name, _)) => {
                merged += 1;
                name.clone()
            }
            None => {
                families += 1;
                kept.push((name_of(seed), vector));
                name_of(seed)
            }
        };
        for i in 0..per_family {
            let variant = mutate(&data, &mut rng);
            if i < train {
                refs.push(Reference::new(
                    &profile(&variant),
                    &family,
                    Verdict::Malicious,
                    &format!("{family}#{i}"),
                ));
            } else {
                tests.push((family.clone(), variant));
            }
        }
    }
    // Half the benign files are references, the other half must match nothing.
    let mut benign_tests = Vec::new();
    for (i, f) in benign_files.iter().enumerate() {
        let data = std::fs::read(f)?;
        if data.len() < settings.min_bytes {
            continue;
        }
        if i % 2 == 0 {
            refs.push(Reference::new(
                &profile(&data),
                "",
                Verdict::Benign,
                &name_of(f),
            ));
        } else {
            benign_tests.push((name_of(f), data));
        }
    }
    // Benign files never seen when the threshold was chosen: tests only, counted apart.
    let mut held_out_tests = Vec::new();
    for f in files(held_out)? {
        let data = std::fs::read(&f)?;
        if data.len() >= settings.min_bytes {
            held_out_tests.push((name_of(&f), data));
        }
    }
    let store = Store::from_refs(refs);
    let mut right = 0;
    let mut wrong_family = Vec::new();
    let mut missed = Vec::new();
    let mut query_time = Duration::ZERO;
    for (family, variant) in &tests {
        let p = profile(variant);
        let start = Instant::now();
        let m = store.judge(&p, settings.threshold, settings.margin);
        query_time += start.elapsed();
        match m {
            Some(m) if &m.family == family => right += 1,
            Some(m) => wrong_family.push(format!("{family} taken for {}", m.family)),
            None => {
                let near = store.nearest(&p.vector, 8);
                let best = near
                    .iter()
                    .filter(|(r, _)| r.verdict == Verdict::Malicious)
                    .map(|(r, s)| format!("{} {s:.3}", r.family))
                    .next()
                    .unwrap_or_default();
                let benign = near
                    .iter()
                    .filter(|(r, _)| r.verdict == Verdict::Benign)
                    .map(|(_, s)| format!("{s:.3}"))
                    .next()
                    .unwrap_or_else(|| "-".into());
                missed.push(format!(
                    "{family} (nearest malicious: {best}; nearest benign: {benign})"
                ));
            }
        }
    }
    let mut false_positives = Vec::new();
    let mut benign_closest = 0f32;
    for (name, data) in &benign_tests {
        let p = profile(data);
        if let Some((_, s)) = store
            .nearest(&p.vector, 8)
            .into_iter()
            .find(|(r, _)| r.verdict == Verdict::Malicious)
        {
            benign_closest = benign_closest.max(s);
        }
        let start = Instant::now();
        if let Some(m) = store.judge(&p, settings.threshold, settings.margin) {
            false_positives.push(format!("{name} ({} {:.3})", m.family, m.similarity));
        }
        query_time += start.elapsed();
    }
    let mut held_out_fp = Vec::new();
    let mut held_out_closest = 0f32;
    for (name, data) in &held_out_tests {
        let p = profile(data);
        if let Some((_, s)) = store
            .nearest(&p.vector, 8)
            .into_iter()
            .find(|(r, _)| r.verdict == Verdict::Malicious)
        {
            held_out_closest = held_out_closest.max(s);
        }
        let start = Instant::now();
        if let Some(m) = store.judge(&p, settings.threshold, settings.margin) {
            held_out_fp.push(format!("{name} ({} {:.3})", m.family, m.similarity));
        }
        query_time += start.elapsed();
    }
    let queries = tests.len() + benign_tests.len() + held_out_tests.len();
    println!(
        "{families} families from {} seeds ({merged} merged into a family as alike as its variants), {per_family} variants each ({train} as references, {} unseen); {} benign references, {} benign files tested",
        seed_files.len(),
        tests.len(),
        store.refs.iter().filter(|r| r.verdict == Verdict::Benign).count(),
        benign_tests.len()
    );
    println!(
        "family recall: {right}/{} = {:.1}%  (wrong family: {}, missed: {})",
        tests.len(),
        100.0 * right as f64 / tests.len().max(1) as f64,
        wrong_family.len(),
        missed.len()
    );
    println!(
        "benign false positives: {}/{} (the closest any benign file came to a malicious reference: {benign_closest:.3})",
        false_positives.len(),
        benign_tests.len()
    );
    if !held_out_tests.is_empty() {
        println!(
            "held-out benign false positives: {}/{} (files never used as references nor to choose the threshold; closest to a malicious reference: {held_out_closest:.3})",
            held_out_fp.len(),
            held_out_tests.len()
        );
    }
    println!(
        "query (store search and judgement, profile excluded): {:.1} µs on average",
        query_time.as_secs_f64() * 1e6 / queries.max(1) as f64
    );
    for line in wrong_family
        .iter()
        .chain(&false_positives)
        .chain(&held_out_fp)
        .take(20)
    {
        println!("  {line}");
    }
    for f in missed.iter().step_by((missed.len() / 25).max(1)) {
        println!("  missed a variant of {f}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Embedding speed and a query against a large generated store.
pub fn bench(count: usize, queries: usize) -> anyhow::Result<ExitCode> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mb: Vec<u8> = (0..1 << 20)
        .map(|i| {
            if i % 3 == 0 {
                rng.next() as u8
            } else {
                (i % 251) as u8
            }
        })
        .collect();
    let mut best = Duration::MAX;
    for _ in 0..10 {
        let start = Instant::now();
        std::hint::black_box(mailmoat_variants::embed(&mb));
        best = best.min(start.elapsed());
    }
    println!(
        "embedding 1 MiB: {:.2} ms (best of 10)",
        best.as_secs_f64() * 1000.0
    );
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        std::hint::black_box(mailmoat_variants::tlsh(&mb));
        best = best.min(start.elapsed());
    }
    println!(
        "TLSH of 1 MiB: {:.2} ms (best of 5)",
        best.as_secs_f64() * 1000.0
    );

    // Generated vectors: 1,000 cluster centres, each vector a centre plus noise.
    let dim = mailmoat_variants::DIM;
    let unit = |v: &mut Vec<f32>| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
        v.iter_mut().for_each(|x| *x /= n);
    };
    let mut gauss = || (rng.next() % 20_000) as f32 / 10_000.0 - 1.0;
    let centres: Vec<Vec<f32>> = (0..1000)
        .map(|_| {
            let mut v: Vec<f32> = (0..dim).map(|_| gauss()).collect();
            unit(&mut v);
            v
        })
        .collect();
    let start = Instant::now();
    let mut flat = Vec::with_capacity(count * dim);
    for i in 0..count {
        let c = &centres[i % centres.len()];
        let mut v: Vec<f32> = c
            .iter()
            .map(|x| x + 0.35 * gauss() / (dim as f32).sqrt() * 4.0)
            .collect();
        unit(&mut v);
        flat.extend(v);
    }
    let generated = start.elapsed();
    let start = Instant::now();
    let index = mailmoat_variants::Index::build(&flat);
    let built = start.elapsed();
    println!(
        "{count} generated vectors ({:.1} s), index built in {:.1} s (both cores)",
        generated.as_secs_f64(),
        built.as_secs_f64()
    );
    let mut times = Vec::with_capacity(queries);
    let mut self_found = 0;
    for q in 0..queries {
        let i = (q * 7919) % count;
        let query = &flat[i * dim..(i + 1) * dim];
        let start = Instant::now();
        let hits = index.search(query, 5);
        times.push(start.elapsed());
        if hits.first().map(|h| h.id as usize) == Some(i) {
            self_found += 1;
        }
    }
    times.sort();
    let pct = |p: f64| {
        times[((times.len() as f64 * p) as usize).min(times.len() - 1)].as_secs_f64() * 1000.0
    };
    println!(
        "query, top 5 of {count}, one thread: median {:.3} ms, p99 {:.3} ms, max {:.3} ms; the vector itself found first in {self_found}/{queries}",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    Ok(ExitCode::SUCCESS)
}

/// `mailmoat intel keygen --out KEY`.
pub fn keygen(out: &Path) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        !out.exists(),
        "{} exists; a signing key is never overwritten",
        out.display()
    );
    let (private, public) = mailmoat_pipeline::intel::keygen().map_err(anyhow::Error::msg)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    options
        .open(out)
        .and_then(|mut f| f.write_all(&private))
        .with_context(|| format!("writing {}", out.display()))?;
    println!("{public}");
    eprintln!(
        "private key in {}; put the public key above in [intel] trusted_keys",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `mailmoat intel pack FOLDER --version V [--key KEY]`.
pub fn pack(folder: &Path, version: &str, key: Option<&Path>) -> anyhow::Result<ExitCode> {
    let key = key
        .map(|k| std::fs::read(k).with_context(|| format!("reading {}", k.display())))
        .transpose()?;
    let manifest = mailmoat_pipeline::intel::pack(folder, version, key.as_deref())?;
    println!(
        "{}: version {}, {} files{}",
        folder.display(),
        manifest.version,
        manifest.files.len(),
        if key.is_some() { ", signed" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
}

fn intel_settings(config: Option<&Path>) -> anyhow::Result<(PathBuf, mailmoat_pipeline::Config)> {
    let settings = crate::load_config(config)?;
    let dir = settings
        .intel
        .dir
        .as_ref()
        .map(|d| settings.base_dir.join(d))
        .context("[intel] dir is not set in the configuration")?;
    Ok((dir, settings))
}

/// An archive's bytes unpacked into `dest`: plain files and folders only.
fn unpack(archive: &[u8], dest: &Path) -> anyhow::Result<()> {
    let gz = archive.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn std::io::Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(archive))
    } else {
        Box::new(archive)
    };
    let mut tar = tar::Archive::new(reader);
    for entry in tar.entries().context("reading the archive")? {
        let mut entry = entry.context("reading the archive")?;
        let kind = entry.header().entry_type();
        anyhow::ensure!(
            kind.is_file() || kind.is_dir(),
            "{}: only files and folders may be in an intelligence archive",
            entry
                .path()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
        // unpack_in refuses paths that leave `dest` (`..`, absolute).
        anyhow::ensure!(
            entry.unpack_in(dest).context("unpacking")?,
            "a path leaves the archive's folder"
        );
    }
    Ok(())
}

/// Where an update comes from, as a local folder: a folder itself, or a .tar(.gz) file or
/// http(s) URL unpacked into a temporary folder (removed when the guard drops).
fn fetch(source: &str) -> anyhow::Result<(PathBuf, Option<TempFolder>)> {
    const MAX_ARCHIVE: u64 = 512 << 20;
    let bytes = if source.starts_with("http://") || source.starts_with("https://") {
        let mut response = ureq::get(source)
            .call()
            .with_context(|| format!("fetching {source}"))?;
        response
            .body_mut()
            .with_config()
            .limit(MAX_ARCHIVE)
            .read_to_vec()
            .with_context(|| format!("reading {source}"))?
    } else {
        let path = Path::new(source);
        if path.is_dir() {
            return Ok((path.to_path_buf(), None));
        }
        std::fs::read(path).with_context(|| format!("reading {source}"))?
    };
    let temp = TempFolder::new()?;
    unpack(&bytes, &temp.0)?;
    // An archive of one folder: the manifest is inside it.
    let root = if temp.0.join("manifest.toml").exists() {
        temp.0.clone()
    } else {
        let inner: Vec<PathBuf> = std::fs::read_dir(&temp.0)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        match inner.as_slice() {
            [one] if one.join("manifest.toml").exists() => one.clone(),
            _ => anyhow::bail!("{source}: no manifest.toml at the top of the archive"),
        }
    };
    Ok((root, Some(temp)))
}

struct TempFolder(PathBuf);

impl TempFolder {
    fn new() -> anyhow::Result<TempFolder> {
        let path = std::env::temp_dir().join(format!(
            "mailmoat-intel-update-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        std::fs::create_dir_all(&path)?;
        Ok(TempFolder(path))
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `mailmoat intel update FOLDER|ARCHIVE|URL`.
pub fn update(source: &str, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (dir, settings) = intel_settings(config)?;
    let (folder, _temp) = fetch(source)?;
    let version = mailmoat_pipeline::intel::install(&dir, &folder, &settings.intel.trusted_keys)?;
    // What the gateway will load must load: compile it now, so a broken rule is said here.
    if let Err(e) = mailmoat_pipeline::Scanner::new(&settings) {
        let back = mailmoat_pipeline::intel::rollback(&dir);
        anyhow::bail!(
            "version {version} verified but does not load ({e}); {}",
            match back {
                Ok(v) => format!("rolled back to {v}"),
                Err(e) => format!("and the rollback failed: {e}"),
            }
        );
    }
    println!("{version} is current in {}", dir.display());
    sync_clamav(&settings, &dir)?;
    Ok(ExitCode::SUCCESS)
}

/// Copies the current version's ClamAV signatures into clamd's database folder and asks
/// clamd to reload, when [intel] clamav_database_dir is set.
fn sync_clamav(settings: &mailmoat_pipeline::Config, dir: &Path) -> anyhow::Result<()> {
    let Some(db) = &settings.intel.clamav_database_dir else {
        return Ok(());
    };
    let Some(installed) = mailmoat_pipeline::intel::current(dir, &settings.intel.trusted_keys)?
    else {
        return Ok(());
    };
    let n = mailmoat_pipeline::intel::sync_clamav(&installed, &settings.base_dir.join(db))?;
    println!("{n} ClamAV signature files in {}", db.display());
    if settings.analyzers.clamav.enabled {
        let clamd = mailmoat_analyzers::Clamd::new(&settings.analyzers.clamav)
            .map_err(anyhow::Error::msg)?;
        clamd
            .reload()
            .context("the signatures are in place, but clamd did not reload")?;
        println!("clamd is reloading its databases");
    }
    Ok(())
}

/// `mailmoat intel rollback`.
pub fn rollback(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (dir, settings) = intel_settings(config)?;
    let version = mailmoat_pipeline::intel::rollback(&dir)?;
    println!("{version} is current in {}", dir.display());
    sync_clamav(&settings, &dir)?;
    Ok(ExitCode::SUCCESS)
}

/// `mailmoat intel status`.
pub fn status(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (dir, settings) = intel_settings(config)?;
    let current = mailmoat_pipeline::intel::current_version(&dir);
    let previous = std::fs::read_link(dir.join("previous"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let mut versions: Vec<String> = std::fs::read_dir(dir.join("versions"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    for v in &versions {
        let mark = if current.as_ref() == Some(v) {
            "current"
        } else if previous.as_ref() == Some(v) {
            "previous"
        } else {
            ""
        };
        println!("{v}\t{mark}");
    }
    match mailmoat_pipeline::intel::current(&dir, &settings.intel.trusted_keys) {
        Ok(Some(v)) => println!("current version {} verifies", v.version),
        Ok(None) => println!("no version installed"),
        Err(e) => {
            println!("the current version does not verify: {e}");
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}
