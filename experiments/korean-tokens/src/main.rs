//! Issue 24's measurement: which Korean text features generalise better in the classifier,
//! the syllable bigrams and words it uses now, or morphemes from a morphological analyser
//! (lindera with ko-dic) — and what the analyser costs in speed and binary size.
//!
//! Each message's features are the classifier's own (`mailmoat_classifier::tokens`) with the
//! tokens that carry Hangul swapped per variant:
//! - `syllable`: unchanged (Hangul words, their sparse pairs, syllable bigrams inside words);
//! - `syllable, particles cut`: the same on text with one particle or polite ending cut off
//!   each word (a dictionary-free stand-in for stems);
//! - `syllable + spaceless n-grams` and `spaceless n-grams`: syllable bigrams and trigrams of
//!   the text with the spaces between syllables taken out, with and without today's tokens;
//! - `morpheme`: lindera's ko-dic morphemes of the same folded text and their adjacent pairs;
//! - `both`: today's tokens and the morphemes.
//!
//! Three measures, all across sources (a model is trained on one set and tested on the other):
//! ranking and errors of the FTRL model `mailmoat train` uses; the same after the test text's
//! spacing is changed (spaces between Hangul words dropped, or long words split), as real
//! Korean spacing varies and spam varies it on purpose; and how many of a message's Hangul
//! features survive those spacing changes. Then the time to extract features per message.
//!
//! Usage: korean-tokens NAME=DIR NAME=DIR [--repeat N]
//! where each DIR holds spam/, phish/ (counted as spam) and ham/ folders of .eml files.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use mailmoat_classifier::{fold, token_index, tokens, Model};
use mailmoat_mime::MessageView;

const BITS: u32 = 22;
const EPOCHS: usize = 3;

fn is_hangul(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

fn has_hangul(s: &str) -> bool {
    s.chars().any(is_hangul)
}

/// One labelled message: its features other than Hangul ones, and its subject and text, from
/// which each variant derives the Hangul features.
struct Message {
    name: String,
    spam: bool,
    other: Vec<String>,
    subject: String,
    body: String,
}

fn load_set(dir: &Path) -> Vec<Message> {
    let mut out = Vec::new();
    for (folder, spam) in [("spam", true), ("phish", true), ("ham", false)] {
        let Ok(entries) = std::fs::read_dir(dir.join(folder)) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let raw = std::fs::read(&path).expect("readable message");
            let view = MessageView::from_raw(&raw);
            let other = tokens(&view)
                .into_iter()
                .filter(|t| !has_hangul(t))
                .collect();
            let body = view
                .texts
                .iter()
                .map(|t| t.text.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            out.push(Message {
                name: format!("{folder}/{}", path.file_name().unwrap().to_string_lossy()),
                spam,
                other,
                subject: view.subject.clone().unwrap_or_default(),
                body,
            });
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Syllable,
    Morpheme,
    Both,
    Spaceless,
    Stemmed,
    SyllableSpaceless,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Syllable => "syllable",
            Variant::Morpheme => "morpheme",
            Variant::Both => "both",
            Variant::Spaceless => "spaceless n-grams",
            Variant::Stemmed => "syllable, particles cut",
            Variant::SyllableSpaceless => "syllable + spaceless n-grams",
        }
    }
}

#[derive(Clone, Copy)]
enum Spacing {
    AsWritten,
    /// Spaces between two Hangul syllables dropped: "무직자 대출 당일 승인" → "무직자대출당일승인".
    Joined,
    /// Hangul words of four or more syllables split in the middle: "당일승인" → "당일 승인".
    Split,
}

impl Spacing {
    fn name(self) -> &'static str {
        match self {
            Spacing::AsWritten => "as written",
            Spacing::Joined => "spaces dropped",
            Spacing::Split => "long words split",
        }
    }

    fn apply(self, text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::with_capacity(text.len() + 16);
        match self {
            Spacing::AsWritten => out.push_str(text),
            Spacing::Joined => {
                for (i, &c) in chars.iter().enumerate() {
                    let between = c == ' '
                        && i > 0
                        && is_hangul(chars[i - 1])
                        && chars.get(i + 1).is_some_and(|&n| is_hangul(n));
                    if !between {
                        out.push(c);
                    }
                }
            }
            Spacing::Split => {
                let mut i = 0;
                while i < chars.len() {
                    if is_hangul(chars[i]) {
                        let end = chars[i..]
                            .iter()
                            .position(|&c| !is_hangul(c))
                            .map_or(chars.len(), |p| i + p);
                        let run = &chars[i..end];
                        if run.len() >= 4 {
                            let half = run.len() / 2;
                            out.extend(&run[..half]);
                            out.push(' ');
                            out.extend(&run[half..]);
                        } else {
                            out.extend(run);
                        }
                        i = end;
                    } else {
                        out.push(chars[i]);
                        i += 1;
                    }
                }
            }
        }
        out
    }
}

struct Extractor {
    /// Leave out the features that are not Hangul (headers, Latin words), which differ between
    /// the two sets for reasons that have nothing to do with Korean.
    hangul_only: bool,
    #[cfg(feature = "lindera")]
    tokenizer: lindera_tokenizer::tokenizer::Tokenizer,
}

impl Extractor {
    fn new(hangul_only: bool) -> Extractor {
        Extractor {
            hangul_only,
            #[cfg(feature = "lindera")]
            tokenizer: {
                use lindera_core::mode::Mode;
                use lindera_dictionary::{DictionaryConfig, DictionaryKind};
                use lindera_tokenizer::tokenizer::{Tokenizer, TokenizerConfig};
                Tokenizer::from_config(TokenizerConfig {
                    dictionary: DictionaryConfig {
                        kind: Some(DictionaryKind::KoDic),
                        path: None,
                    },
                    user_dictionary: None,
                    mode: Mode::Normal,
                })
                .expect("ko-dic loads")
            },
        }
    }

    /// The classifier's Hangul tokens of a subject and body, exactly as it makes them.
    fn syllable_tokens(&self, subject: &str, body: &str) -> Vec<String> {
        let raw = format!(
            "Subject: {subject}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
        );
        tokens(&MessageView::from_raw(raw.as_bytes()))
            .into_iter()
            .filter(|t| has_hangul(t))
            .collect()
    }

    /// Morphemes of the folded, lower-cased text that carry Hangul, and their adjacent pairs.
    #[cfg(feature = "lindera")]
    fn morpheme_tokens(&self, subject: &str, body: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (prefix, text) in [("sm", subject), ("bm", body)] {
            let folded = fold(text).to_lowercase();
            let mut previous: Option<String> = None;
            for line in folded.lines() {
                let Ok(found) = self.tokenizer.tokenize(line) else {
                    continue;
                };
                for token in found {
                    let surface = token.text.trim();
                    if !has_hangul(surface) {
                        previous = None;
                        continue;
                    }
                    out.push(format!("{prefix}:{surface}"));
                    if let Some(p) = &previous {
                        out.push(format!("{prefix}p:{p} {surface}"));
                    }
                    previous = Some(surface.to_string());
                }
            }
        }
        out
    }

    #[cfg(not(feature = "lindera"))]
    fn morpheme_tokens(&self, _subject: &str, _body: &str) -> Vec<String> {
        let _ = fold;
        Vec::new()
    }

    fn hangul_tokens(&self, m: &Message, variant: Variant, spacing: Spacing) -> Vec<String> {
        let subject = spacing.apply(&m.subject);
        let body = spacing.apply(&m.body);
        match variant {
            Variant::Syllable => self.syllable_tokens(&subject, &body),
            Variant::Morpheme => self.morpheme_tokens(&subject, &body),
            Variant::Both => {
                let mut t = self.syllable_tokens(&subject, &body);
                t.extend(self.morpheme_tokens(&subject, &body));
                t
            }
            Variant::Spaceless => spaceless_ngrams(&subject, &body),
            Variant::SyllableSpaceless => {
                let mut t = self.syllable_tokens(&subject, &body);
                t.extend(spaceless_ngrams(&subject, &body));
                t
            }
            Variant::Stemmed => {
                self.syllable_tokens(&cut_particles(&subject), &cut_particles(&body))
            }
        }
    }

    fn features(&self, m: &Message, variant: Variant, spacing: Spacing) -> Vec<u32> {
        let other: &[String] = if self.hangul_only { &[] } else { &m.other };
        other
            .iter()
            .cloned()
            .chain(self.hangul_tokens(m, variant, spacing))
            .map(|t| token_index(&t, BITS))
            .collect()
    }
}

/// Common particles and polite endings, longest first: what a morphological analyser takes
/// off a Korean word before its stem becomes a feature.
const PARTICLES: &[&str] = &[
    "에서는",
    "으로는",
    "에게서",
    "이라는",
    "입니다",
    "합니다",
    "하세요",
    "드립니다",
    "됩니다",
    "에서",
    "에게",
    "으로",
    "까지",
    "부터",
    "보다",
    "처럼",
    "하고",
    "이나",
    "이고",
    "이며",
    "라는",
    "해요",
    "세요",
    "니다",
    "은",
    "는",
    "이",
    "가",
    "을",
    "를",
    "에",
    "의",
    "와",
    "과",
    "도",
    "만",
    "로",
    "요",
];

/// The text with one particle or ending cut off each Hangul word whose stem keeps at least two
/// syllables (a dictionary-free stand-in for morphemes).
fn cut_particles(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let stem = PARTICLES
            .iter()
            .find_map(|p| {
                word.strip_suffix(p)
                    .filter(|stem| stem.chars().count() >= 2 && stem.chars().all(is_hangul))
            })
            .unwrap_or(word);
        out.push_str(stem);
        word.clear();
    };
    for c in text.chars() {
        if is_hangul(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Syllable bigrams and trigrams of the folded text with the spaces between Hangul syllables
/// taken out first, so that no spacing (written, dropped or added) changes them; other
/// separators still end a run.
fn spaceless_ngrams(subject: &str, body: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (prefix, text) in [("sg", subject), ("bg", body)] {
        let joined = Spacing::Joined.apply(&fold(text));
        let chars: Vec<char> = joined.chars().collect();
        let mut run: Vec<char> = Vec::new();
        for c in chars.into_iter().chain([' ']) {
            if is_hangul(c) {
                run.push(c);
                continue;
            }
            for n in [2, 3] {
                for w in run.windows(n) {
                    out.push(format!("{prefix}{n}:{}", w.iter().collect::<String>()));
                }
            }
            if run.len() == 1 {
                out.push(format!("{prefix}1:{}", run[0]));
            }
            run.clear();
        }
    }
    out
}

/// Trains as `mailmoat train` does (same FTRL parameters, epochs and shuffle).
fn train(examples: &[(Vec<u32>, bool)]) -> Model {
    let mut model = Model::with_params(BITS, 0.3, 1.0, 1.0, 1.0);
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut seed: u64 = 0x5eed;
    for _ in 0..EPOCHS {
        for i in (1..order.len()).rev() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            order.swap(i, (seed >> 33) as usize % (i + 1));
        }
        for &i in &order {
            model.learn(&examples[i].0, examples[i].1);
        }
    }
    model
}

/// ROC AUC of spam scores above ham scores (ties count half).
fn auc(scored: &[(f64, bool)]) -> f64 {
    let spam: Vec<f64> = scored.iter().filter(|s| s.1).map(|s| s.0).collect();
    let ham: Vec<f64> = scored.iter().filter(|s| !s.1).map(|s| s.0).collect();
    let mut wins = 0.0;
    for s in &spam {
        for h in &ham {
            wins += if s > h {
                1.0
            } else if s == h {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (spam.len() * ham.len()).max(1) as f64
}

fn jaccard(a: &[String], b: &[String]) -> f64 {
    let a: HashSet<&String> = a.iter().collect();
    let b: HashSet<&String> = b.iter().collect();
    let union = a.union(&b).count();
    if union == 0 {
        return 1.0;
    }
    a.intersection(&b).count() as f64 / union as f64
}

const VARIANTS: [Variant; 6] = [
    Variant::Syllable,
    Variant::Stemmed,
    Variant::SyllableSpaceless,
    Variant::Spaceless,
    Variant::Morpheme,
    Variant::Both,
];
const SPACINGS: [Spacing; 3] = [Spacing::AsWritten, Spacing::Joined, Spacing::Split];

struct Outcome {
    auc: f64,
    caught: usize,
    spam: usize,
    flagged: usize,
    ham: usize,
}

fn evaluate(
    extractor: &Extractor,
    train_set: &[&Message],
    test_set: &[&Message],
    variant: Variant,
    spacings: &[Spacing],
) -> Vec<Outcome> {
    let examples: Vec<(Vec<u32>, bool)> = train_set
        .iter()
        .map(|m| (extractor.features(m, variant, Spacing::AsWritten), m.spam))
        .collect();
    let model = train(&examples);
    spacings
        .iter()
        .map(|&spacing| {
            let scored: Vec<(f64, bool)> = test_set
                .iter()
                .map(|m| {
                    let p = model
                        .predict(&extractor.features(m, variant, spacing))
                        .spam_probability;
                    (p, m.spam)
                })
                .collect();
            if std::env::var_os("KOREAN_TOKENS_VERBOSE").is_some() {
                for (m, (p, _)) in test_set.iter().zip(&scored) {
                    println!(
                        "    {} {} {:.3} {}",
                        variant.name(),
                        spacing.name(),
                        p,
                        m.name
                    );
                }
            }
            let spam = scored.iter().filter(|s| s.1).count();
            Outcome {
                auc: auc(&scored),
                caught: scored.iter().filter(|s| s.1 && s.0 >= 0.5).count(),
                spam,
                flagged: scored.iter().filter(|s| !s.1 && s.0 >= 0.5).count(),
                ham: scored.len() - spam,
            }
        })
        .collect()
}

fn main() {
    let mut sets: Vec<(String, Vec<Message>)> = Vec::new();
    let mut repeat = 20;
    let mut hangul_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--repeat" {
            repeat = args
                .next()
                .and_then(|n| n.parse().ok())
                .expect("--repeat N");
        } else if a == "--hangul-only" {
            hangul_only = true;
        } else if let Some((name, dir)) = a.split_once('=') {
            sets.push((name.to_string(), load_set(Path::new(dir))));
        } else {
            eprintln!("usage: korean-tokens NAME=DIR NAME=DIR [--hangul-only] [--repeat N]");
            std::process::exit(2);
        }
    }
    assert!(sets.len() == 2, "two sets: one to train on, one to test");

    let start = Instant::now();
    let extractor = Extractor::new(hangul_only);
    println!(
        "analyser loaded in {:.1} ms (lindera: {}); features: {}",
        start.elapsed().as_secs_f64() * 1e3,
        cfg!(feature = "lindera"),
        if hangul_only {
            "Hangul only"
        } else {
            "the classifier's, with the Hangul ones per variant"
        }
    );
    for (name, set) in &sets {
        println!(
            "set {name}: {} spam, {} ham",
            set.iter().filter(|m| m.spam).count(),
            set.iter().filter(|m| !m.spam).count()
        );
    }

    println!("\n## Across sources: trained on one set as written, tested on the other");
    println!("| train → test | variant | ROC AUC as written | spaces dropped | long words split | spam at p ≥ 0.5 | ham at p ≥ 0.5 |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (train_i, test_i) in [(0, 1), (1, 0)] {
        let (train_name, train_set) = &sets[train_i];
        let (test_name, test_set) = &sets[test_i];
        let train_set: Vec<&Message> = train_set.iter().collect();
        let test_set: Vec<&Message> = test_set.iter().collect();
        for variant in VARIANTS {
            let o = evaluate(&extractor, &train_set, &test_set, variant, &SPACINGS);
            println!(
                "| {train_name} → {test_name} | {} | {:.3} | {:.3} | {:.3} | {} of {} | {} of {} |",
                variant.name(),
                o[0].auc,
                o[1].auc,
                o[2].auc,
                o[0].caught,
                o[0].spam,
                o[0].flagged,
                o[0].ham
            );
        }
    }

    // Pooled: five folds over both sets, ten different shuffles, so that no single split
    // decides; the same folds for every variant.
    println!("\n## Both sets pooled: 5-fold cross-validation, 10 shuffles (mean ROC AUC)");
    println!("| variant | as written | spaces dropped | long words split |");
    println!("|---|---:|---:|---:|");
    let pooled: Vec<&Message> = sets.iter().flat_map(|(_, s)| s).collect();
    for variant in VARIANTS {
        let mut sums = [0.0; 3];
        let mut runs = 0;
        let mut seed: u64 = 0xfeed;
        for _ in 0..10 {
            let mut order: Vec<usize> = (0..pooled.len()).collect();
            for i in (1..order.len()).rev() {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                order.swap(i, (seed >> 33) as usize % (i + 1));
            }
            for fold_i in 0..5 {
                // Positions in this shuffle, not message numbers: each shuffle's folds differ.
                let (test, train): (Vec<usize>, Vec<usize>) =
                    (0..order.len()).partition(|p| p % 5 == fold_i);
                let train: Vec<&Message> = train.iter().map(|&i| pooled[order[i]]).collect();
                let test: Vec<&Message> = test.iter().map(|&i| pooled[order[i]]).collect();
                let o = evaluate(&extractor, &train, &test, variant, &SPACINGS);
                for (sum, o) in sums.iter_mut().zip(&o) {
                    *sum += o.auc;
                }
                runs += 1;
            }
        }
        println!(
            "| {} | {:.3} | {:.3} | {:.3} |",
            variant.name(),
            sums[0] / runs as f64,
            sums[1] / runs as f64,
            sums[2] / runs as f64
        );
    }

    println!("\n## Hangul features that survive a change of spacing (mean Jaccard, both sets)");
    println!("| variant | spaces dropped | long words split |");
    println!("|---|---:|---:|");
    for variant in VARIANTS {
        let all: Vec<&Message> = sets.iter().flat_map(|(_, s)| s).collect();
        let mut sums = [0.0; 2];
        for m in &all {
            let original = extractor.hangul_tokens(m, variant, Spacing::AsWritten);
            sums[0] += jaccard(
                &original,
                &extractor.hangul_tokens(m, variant, Spacing::Joined),
            );
            sums[1] += jaccard(
                &original,
                &extractor.hangul_tokens(m, variant, Spacing::Split),
            );
        }
        let n = all.len() as f64;
        println!(
            "| {} | {:.3} | {:.3} |",
            variant.name(),
            sums[0] / n,
            sums[1] / n
        );
    }

    println!("\n## Feature extraction time per message (both sets, {repeat} passes, best pass)");
    println!("| what | µs per message |");
    println!("|---|---:|");
    let all: Vec<&Message> = sets.iter().flat_map(|(_, s)| s).collect();
    let views: Vec<MessageView> = all
        .iter()
        .map(|m| {
            let raw = format!(
                "Subject: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Transfer-Encoding: 8bit\r\n\r\n{}\r\n",
                m.subject, m.body
            );
            MessageView::from_raw(raw.as_bytes())
        })
        .collect();
    let best_of = |f: &dyn Fn() -> usize| {
        let mut best = f64::MAX;
        for _ in 0..repeat {
            let t = Instant::now();
            std::hint::black_box(f());
            best = best.min(t.elapsed().as_secs_f64());
        }
        best * 1e6 / all.len() as f64
    };
    let classifier = best_of(&|| views.iter().map(|v| tokens(v).len()).sum());
    println!("| the classifier's features today (words, pairs, syllable bigrams, header facts) | {classifier:.1} |");
    let morphemes = best_of(&|| {
        all.iter()
            .map(|m| extractor.morpheme_tokens(&m.subject, &m.body).len())
            .sum()
    });
    println!("| lindera ko-dic morphemes and pairs of the same text | {morphemes:.1} |");
    let chars: usize = all
        .iter()
        .map(|m| m.subject.chars().count() + m.body.chars().count())
        .sum();
    println!(
        "\n{} messages, {:.0} characters of subject and text each on average",
        all.len(),
        chars as f64 / all.len() as f64
    );
}
