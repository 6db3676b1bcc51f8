//! A multi-pattern set for one target. Every pattern's required literals (prefixes, extracted
//! by regex-syntax) go into one Aho-Corasick automaton, so a value is scanned once however many
//! rules look at it; only patterns whose literal occurs (plus the few with no usable literal)
//! are confirmed with their own regex. Regexes compile on first use: syntax is checked at load,
//! and the regex crate guarantees linear-time matching (no backtracking blow-ups).

use std::collections::HashMap;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::Regex;
use regex_syntax::hir::literal::{ExtractKind, Extractor};

/// Literals shorter than this select too much to be worth prefiltering.
const MIN_LITERAL: usize = 3;

struct Pattern {
    source: String,
    regex: OnceLock<Result<Regex, String>>,
}

impl Pattern {
    fn regex(&self) -> Option<&Regex> {
        self.regex
            .get_or_init(|| {
                regex::RegexBuilder::new(&self.source)
                    .size_limit(32 << 20)
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .ok()
    }
}

#[derive(Default)]
pub(crate) struct PatternSet {
    patterns: Vec<Pattern>,
    by_source: HashMap<String, u32>,
    literals: Vec<Vec<u8>>,
    literal_owner: Vec<u32>,
    /// Patterns with no usable literal: checked on every value.
    always: Vec<u32>,
    automaton: Option<AhoCorasick>,
}

impl PatternSet {
    /// Adds a pattern (identical sources share one id). Errors are regex syntax errors.
    pub fn add(&mut self, source: &str) -> Result<u32, String> {
        if let Some(&id) = self.by_source.get(source) {
            return Ok(id);
        }
        let hir = regex_syntax::ParserBuilder::new()
            .build()
            .parse(source)
            .map_err(|e| one_line(&e.to_string()))?;
        let id = self.patterns.len() as u32;
        let mut extractor = Extractor::new();
        extractor
            .kind(ExtractKind::Prefix)
            .limit_literal_len(8)
            .limit_total(64);
        let mut seq = extractor.extract(&hir);
        seq.optimize_for_prefix_by_preference();
        match seq.literals() {
            Some(lits) if !lits.is_empty() && lits.iter().all(|l| l.len() >= MIN_LITERAL) => {
                // The automaton ignores ASCII case, so case variants collapse into one literal.
                let mut lowered: Vec<Vec<u8>> = lits
                    .iter()
                    .map(|l| l.as_bytes().to_ascii_lowercase())
                    .collect();
                lowered.sort();
                lowered.dedup();
                for lit in lowered {
                    self.literals.push(lit);
                    self.literal_owner.push(id);
                }
            }
            _ => self.always.push(id),
        }
        self.patterns.push(Pattern {
            source: source.to_string(),
            regex: OnceLock::new(),
        });
        self.by_source.insert(source.to_string(), id);
        Ok(id)
    }

    /// Builds the automaton; call once after the last `add`.
    pub fn finish(&mut self) -> Result<(), String> {
        if self.literals.is_empty() {
            return Ok(());
        }
        let automaton = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&self.literals)
            .or_else(|_| {
                // A DFA over a huge literal set can exceed limits; the NFA always builds.
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&self.literals)
            })
            .map_err(|e| e.to_string())?;
        self.automaton = Some(automaton);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Marks in `matched` (indexed by pattern id) every pattern that matches `value`.
    pub fn scan(&self, value: &str, matched: &mut [bool], candidates: &mut Vec<u32>) {
        candidates.clear();
        if let Some(ac) = &self.automaton {
            for m in ac.find_overlapping_iter(value) {
                candidates.push(self.literal_owner[m.pattern().as_usize()]);
            }
        }
        candidates.extend_from_slice(&self.always);
        candidates.sort_unstable();
        candidates.dedup();
        for &id in candidates.iter() {
            let id = id as usize;
            if matched[id] {
                continue;
            }
            if let Some(re) = self.patterns[id].regex() {
                if re.is_match(value) {
                    matched[id] = true;
                }
            }
        }
    }

    /// The text pattern `id` matches in `value` (for explanations).
    pub fn find<'v>(&self, id: u32, value: &'v str) -> Option<&'v str> {
        self.patterns
            .get(id as usize)?
            .regex()?
            .find(value)
            .map(|m| m.as_str())
    }

    pub fn source(&self, id: u32) -> &str {
        &self.patterns[id as usize].source
    }

    /// Compiles every regex now; returns the sources that fail (e.g. too big).
    pub fn compile_all(&self) -> Vec<(u32, String)> {
        let mut errors = Vec::new();
        for (id, p) in self.patterns.iter().enumerate() {
            if p.regex().is_none() {
                let why = p
                    .regex
                    .get()
                    .and_then(|r| r.as_ref().err().cloned())
                    .unwrap_or_default();
                errors.push((id as u32, one_line(&why)));
            }
        }
        errors
    }
}

/// regex errors draw a caret diagram over several lines; keep the sentence.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match lines.iter().rposition(|l| l.starts_with("error:")) {
        Some(i) => lines[i..].join(" "),
        None => lines.join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(set: &PatternSet, value: &str) -> Vec<bool> {
        let mut matched = vec![false; set.len()];
        set.scan(value, &mut matched, &mut Vec::new());
        matched
    }

    #[test]
    fn prefiltered_and_unfiltered_patterns_both_match() {
        let mut set = PatternSet::default();
        let a = set.add(r"(?i)\bcheap\s+pills\b").unwrap();
        let b = set.add(r"^\d{5}$").unwrap();
        let c = set.add(r"(?i)ＦＲＥＥ|free").unwrap();
        let d = set.add("광고").unwrap();
        assert_eq!(
            set.add(r"(?i)\bcheap\s+pills\b").unwrap(),
            a,
            "same source, same id"
        );
        set.finish().unwrap();
        let m = scan(&set, "Buy CHEAP   pills now, 광고 inside");
        assert!(m[a as usize] && !m[b as usize] && !m[c as usize] && m[d as usize]);
        let m = scan(&set, "12345");
        assert!(m[b as usize]);
        let m = scan(&set, "totally FrEe");
        assert!(m[c as usize]);
        assert_eq!(set.find(a, "x cheap pills y"), Some("cheap pills"));
    }

    #[test]
    fn unicode_case_folding_is_not_lost_by_the_prefilter() {
        let mut set = PatternSet::default();
        // U+212A KELVIN SIGN folds to k.
        let k = set.add(r"(?i)kilo").unwrap();
        set.finish().unwrap();
        assert!(scan(&set, "\u{212a}ILO")[k as usize]);
    }

    #[test]
    fn syntax_errors_are_one_line() {
        let mut set = PatternSet::default();
        let err = set.add(r"(unclosed").unwrap_err();
        assert!(!err.contains('\n') && err.contains("unclosed"), "{err}");
    }

    #[test]
    fn pathological_patterns_stay_linear() {
        let mut set = PatternSet::default();
        let p = set.add(r"(a+)+$").unwrap();
        set.finish().unwrap();
        let value = "a".repeat(100_000) + "b";
        let start = std::time::Instant::now();
        assert!(!scan(&set, &value)[p as usize]);
        // Catastrophic backtracking would take astronomically long; linear time takes ms.
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}
