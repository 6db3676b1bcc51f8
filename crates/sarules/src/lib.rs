//! SpamAssassin's rule language: the stock rules of Debian's `spamassassin` package and an
//! administrator's own `.cf` files, loaded once and matched over the one `MessageView`.
//!
//! All patterns of a kind (each header target, body, rawbody, uri, full) are matched in one
//! pass: one Hyperscan database where the system has the library (see `hyperscan`), else one
//! literal-gated multi-pattern set (`mailmoat_rules::PatternSet` with Perl's byte semantics),
//! where a pattern's regex runs only where its required literals occur. Both engines give the
//! same hits; a message is scanned once per kind however many rules there are. Patterns the linear-time engine cannot express
//! (look-around, back-references) run on PCRE2. `meta` rules are evaluated over the hits,
//! native `eval:` tests from [`evals::SUPPORTED`]; network, Bayes and plugin-only tests are
//! listed as unsupported and count as not hit, as in SpamAssassin's local-only mode.

pub mod conf;
pub mod evals;
mod expr;
mod hyperscan;
mod perl_regex;
pub mod render;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use mailmoat_core::{Findings, Location};
use mailmoat_mime::MessageView;
use mailmoat_rules::{PatternScratch, PatternSet};

pub use conf::{Conf, ConfProblem, HeaderTarget, Kind, Test};
use expr::Expr;
use render::SaMessage;

/// Where Debian's `spamassassin` package and `sa-update` put the stock rules, newest first,
/// and the site configuration folder (`*.pre` plugins, `local.cf`).
pub const UPDATES_DIR: &str = "/var/lib/spamassassin/4.000001/updates_spamassassin_org";
pub const STOCK_DIR: &str = "/usr/share/spamassassin";
pub const SITE_DIR: &str = "/etc/spamassassin";

/// Hits of one `multiple` rule are counted up to this unless `maxhits` says otherwise.
const DEFAULT_MAX_HITS: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum SaError {
    #[error("{0}")]
    Read(ConfProblem),
    #[error("no SpamAssassin rules found: {0}")]
    NothingFound(String),
}

/// Why a rule does not run.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsupported {
    pub name: String,
    pub kind: Kind,
    pub file: PathBuf,
    pub line: usize,
    pub reason: String,
    /// The rule needs the network or a Bayes database: SpamAssassin's local-only mode does not
    /// run it either, so metas read it as not hit. Otherwise metas that read it are disabled
    /// too (SpamAssassin would run it).
    pub offline_zero: bool,
}

/// One rule that hit a message.
#[derive(Debug, Clone, PartialEq)]
pub struct SaHit {
    pub name: String,
    pub score: f64,
    pub description: String,
    /// How many times it hit (1 unless the rule is `tflags multiple`).
    pub count: u32,
    /// What matched, when a pattern matched (shortened).
    pub matched: Option<String>,
    pub kind: Kind,
}

struct Rule {
    name: String,
    kind: Kind,
    score: f64,
    description: String,
    multiple: Option<usize>,
    reported: bool,
    /// False for a meta that reads a rule this crate cannot run.
    enabled: bool,
    /// Reported, or read by a live meta. The others cannot change a report, so they never run
    /// (SpamAssassin runs no rule scored 0 unless a meta reads it).
    live: bool,
    test: Compiled,
}

enum Compiled {
    /// A pattern in the kind's set (by key) or on PCRE2.
    Pattern(PatternRef),
    Header {
        target: usize,
        pattern: PatternRef,
        negate: bool,
        if_unset: Option<String>,
        /// Whether the pattern matches the if-unset text (else the empty string), which is
        /// what it reads when the header is absent: the same for every message, so found once.
        matches_when_absent: bool,
    },
    Exists(HeaderTarget),
    Meta(Expr),
    /// A pattern of a rule that is not live: checked to be supported, never matched.
    Unused,
    Eval(String, Vec<String>),
}

#[derive(Clone, Copy)]
enum PatternRef {
    Linear(u32),
    Pcre(usize),
}

/// The patterns of one kind or one header target.
#[derive(Default)]
struct Group {
    set: Option<PatternSet>,
    /// PCRE2 patterns, each with the linear-set pattern that must match first (if any).
    pcre: Vec<(pcre2::bytes::Regex, Option<u32>)>,
    /// Each linear pattern as written (by id), and each PCRE2 pattern's, for Hyperscan.
    linear_perl: Vec<perl_regex::PerlRegex>,
    pcre_perl: Vec<perl_regex::PerlRegex>,
    /// By linear id: whether a rule tests the pattern itself, not only as a PCRE2 pattern's
    /// gate. Hyperscan needs no gates (it holds each PCRE2 pattern's own superset), and some
    /// gates are the dearest patterns to confirm.
    tested_by_rule: Vec<bool>,
}

/// A group's Hyperscan database: linear pattern `i` is expression `i`; PCRE2 pattern `j` is
/// expression `linear + j`, compiled as Hyperscan's superset of it (`PREFILTER`), so PCRE2
/// runs only on the values where that superset matched.
struct HyperscanGroup {
    db: Option<hyperscan::Database>,
    /// Supersets of linear patterns too large for `db` (expression id = linear id): where
    /// one matches a value, the built-in engine confirms the pattern on that value.
    supersets: Option<hyperscan::Database>,
    linear: u32,
    /// Linear patterns Hyperscan refused (group ids), in a built-in set of their own: gated
    /// by their literals as before; pattern `k` of `outside` is `linear_outside[k]`.
    linear_outside: Vec<u32>,
    outside: Option<PatternSet>,
    /// PCRE2 patterns whose superset Hyperscan refused: gated by their linear superset.
    pcre_outside: Vec<usize>,
}

/// Working memory for one message's scans.
#[derive(Default)]
struct Scratch {
    builtin: PatternScratch,
    hyperscan: Option<hyperscan::Scratch>,
}

impl HyperscanGroup {
    /// `compiled` for a group whose linear patterns have these (built-in engine) sources.
    fn new(compiled: hyperscan::Compiled, linear_sources: &[String]) -> Self {
        let linear = linear_sources.len();
        let mut group = HyperscanGroup {
            db: compiled.db,
            supersets: compiled.supersets,
            linear: linear as u32,
            linear_outside: Vec::new(),
            outside: None,
            pcre_outside: Vec::new(),
        };
        for id in compiled.refused {
            match (id as usize).checked_sub(linear) {
                None => group.linear_outside.push(id),
                Some(j) => group.pcre_outside.push(j),
            }
        }
        if !group.linear_outside.is_empty() {
            let mut set = PatternSet::perl_bytes();
            // These compiled in the group's own set already.
            let added = group
                .linear_outside
                .iter()
                .all(|&id| set.add(&linear_sources[id as usize]).is_ok());
            if added && set.finish().is_ok() {
                group.outside = Some(set);
            }
        }
        group
    }
}

/// Every group's Hyperscan database (in [`SaRules::groups`] order) and scratch for them.
struct HyperscanRules {
    groups: Vec<HyperscanGroup>,
    scratch: hyperscan::ScratchPool,
}

/// Which engine decides which patterns match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// Hyperscan where the system has it (`libhs.so.5`), else the built-in engine. Compiled
    /// databases are kept in `cache` (none: compiled on every load). With `background`, the
    /// rules are ready at once on the built-in engine and switch to Hyperscan when it has
    /// compiled them (a gateway starting with rules it has not cached yet); without, loading
    /// waits for the compile.
    Hyperscan {
        cache: Option<PathBuf>,
        background: bool,
    },
    /// The built-in literal-gated engine only.
    Builtin,
}

impl Default for Engine {
    /// Hyperscan, cached in [`default_hyperscan_cache`], loading waiting for it.
    fn default() -> Self {
        Engine::Hyperscan {
            cache: hyperscan::default_cache_dir(),
            background: false,
        }
    }
}

/// Where compiled Hyperscan databases are cached when no folder is configured: systemd's
/// `CacheDirectory=`, else `$XDG_CACHE_HOME` or `~/.cache`, under `mailmoat/hyperscan`.
pub fn default_hyperscan_cache() -> Option<PathBuf> {
    hyperscan::default_cache_dir()
}

impl Group {
    fn add(&mut self, regex: &perl_regex::PerlRegex) -> Result<PatternRef, String> {
        let set = self.set.get_or_insert_with(PatternSet::perl_bytes);
        if let Some(source) = regex.to_linear() {
            if let Ok(id) = set.add(&source) {
                if id as usize == self.linear_perl.len() {
                    self.linear_perl.push(regex.clone());
                    self.tested_by_rule.push(false);
                }
                self.tested_by_rule[id as usize] = true;
                return Ok(PatternRef::Linear(id));
            }
        }
        let re = regex.to_pcre2()?;
        let gate = regex.superset_perl().and_then(|superset| {
            let id = set.add(&superset.to_linear()?).ok()?;
            if id as usize == self.linear_perl.len() {
                self.linear_perl.push(superset);
                self.tested_by_rule.push(false);
            }
            Some(id)
        });
        self.pcre.push((re, gate));
        self.pcre_perl.push(regex.clone());
        Ok(PatternRef::Pcre(self.pcre.len() - 1))
    }

    fn finish(&mut self) -> Result<(), String> {
        match &mut self.set {
            Some(set) => {
                set.finish()?;
                // Compile now: a pattern too big for the engine goes to PCRE2 at load, not
                // silently never matching.
                let failed = set.compile_all();
                if failed.is_empty() {
                    Ok(())
                } else {
                    Err(failed
                        .into_iter()
                        .map(|(id, why)| format!("{}: {why}", set.source(id)))
                        .collect::<Vec<_>>()
                        .join("; "))
                }
            }
            None => Ok(()),
        }
    }

    /// The group's patterns for Hyperscan: linear pattern `i` as expression `i` (gates only
    /// left out), PCRE2 pattern `j` as `linear + j` with `PREFILTER` (Hyperscan's superset of
    /// it).
    fn hyperscan_expressions(&self) -> Vec<hyperscan::Expression> {
        self.linear_perl
            .iter()
            .map(|re| (re, 0))
            .chain(self.pcre_perl.iter().map(|re| (re, hyperscan::PREFILTER)))
            .enumerate()
            .filter(|(id, _)| self.tested_by_rule.get(*id).copied().unwrap_or(true))
            .map(|(id, (re, extra))| {
                let (source, flags) = re.to_hyperscan();
                hyperscan::Expression {
                    source,
                    flags: flags | extra,
                    id: id as u32,
                }
            })
            .collect()
    }

    /// Which patterns match any of `values`.
    fn scan(
        &self,
        values: &[&str],
        scratch: &mut Scratch,
        hyperscan: Option<&HyperscanGroup>,
    ) -> (Vec<bool>, Vec<bool>) {
        let mut linear = vec![false; self.set.as_ref().map_or(0, PatternSet::len)];
        let mut pcre = vec![false; self.pcre.len()];
        let pcre_match = |i: usize, v: &str| self.pcre[i].0.is_match(v.as_bytes()).unwrap_or(false);
        if let (Some(hs), Some(hs_scratch), Some(set)) =
            (hyperscan, &mut scratch.hyperscan, &self.set)
        {
            let mut candidates = Vec::new();
            let mut linear_candidates = Vec::new();
            for value in values {
                if let Some(db) = &hs.db {
                    db.scan(value.as_bytes(), hs_scratch, |id| {
                        match id.checked_sub(hs.linear) {
                            None => linear[id as usize] = true,
                            Some(j) => candidates.push(j as usize),
                        }
                    });
                }
                if let Some(supersets) = &hs.supersets {
                    supersets.scan(value.as_bytes(), hs_scratch, |id| {
                        linear_candidates.push(id)
                    });
                }
                for j in candidates.drain(..) {
                    pcre[j] = pcre[j] || pcre_match(j, value);
                }
                for id in linear_candidates.drain(..) {
                    let i = id as usize;
                    linear[i] = linear[i] || set.is_match(id, value);
                }
            }
            match &hs.outside {
                Some(outside) => {
                    let mut matched = vec![false; outside.len()];
                    for value in values {
                        outside.scan(value, &mut matched, &mut scratch.builtin);
                    }
                    for (k, &id) in hs.linear_outside.iter().enumerate() {
                        linear[id as usize] = matched[k];
                    }
                }
                None => {
                    for &id in &hs.linear_outside {
                        linear[id as usize] = values.iter().any(|v| set.is_match(id, v));
                    }
                }
            }
            for &j in &hs.pcre_outside {
                // A gate only gates, so Hyperscan did not scan for it: the built-in engine does.
                let gate_open = |g: u32| {
                    if self.tested_by_rule[g as usize] {
                        linear[g as usize]
                    } else {
                        values.iter().any(|v| set.is_match(g, v))
                    }
                };
                if self.pcre[j].1.is_none_or(gate_open) {
                    pcre[j] = values.iter().any(|v| pcre_match(j, v));
                }
            }
            return (linear, pcre);
        }
        if let Some(set) = &self.set {
            for value in values {
                set.scan(value, &mut linear, &mut scratch.builtin);
            }
        }
        for (i, (_, gate)) in self.pcre.iter().enumerate() {
            // Where the gate matched nowhere, the pattern cannot match.
            if gate.is_some_and(|g| !linear[g as usize]) {
                continue;
            }
            pcre[i] = values.iter().any(|v| pcre_match(i, v));
        }
        (linear, pcre)
    }

    fn count(&self, pattern: PatternRef, values: &[&str], max: usize) -> usize {
        let mut total = 0;
        for value in values {
            if total >= max {
                break;
            }
            total += match pattern {
                PatternRef::Linear(id) => self
                    .set
                    .as_ref()
                    .map_or(0, |s| s.count(id, value, max - total)),
                PatternRef::Pcre(i) => self.pcre[i]
                    .0
                    .find_iter(value.as_bytes())
                    .take(max - total)
                    .filter(Result::is_ok)
                    .count(),
            };
        }
        total.min(max)
    }

    fn find(&self, pattern: PatternRef, values: &[&str]) -> Option<String> {
        values.iter().find_map(|value| match pattern {
            PatternRef::Linear(id) => self.set.as_ref()?.find(id, value).map(str::to_string),
            PatternRef::Pcre(i) => self.pcre[i]
                .0
                .find(value.as_bytes())
                .ok()
                .flatten()
                .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned()),
        })
    }
}

/// The loaded rules, compiled once; shared read-only between scans.
pub struct SaRules {
    rules: Vec<Rule>,
    by_name: HashMap<String, usize>,
    headers: Vec<(HeaderTarget, Group)>,
    body: Group,
    rawbody: Group,
    uri: Group,
    full: Group,
    /// Metas in an order where every meta comes after the metas it reads.
    meta_order: Vec<usize>,
    unsupported: Vec<Unsupported>,
    conf_problems: Vec<ConfProblem>,
    definitions: usize,
    files: Vec<PathBuf>,
    score_set: usize,
    eval_context: evals::EvalContext,
    /// `redirector_pattern`s: a link through a redirector also counts as its target.
    redirectors: Vec<pcre2::bytes::Regex>,
    /// The groups' Hyperscan databases, once compiled (or read from the cache); until then,
    /// and without Hyperscan, the built-in engine matches.
    hyperscan: Arc<OnceLock<HyperscanRules>>,
    /// True while a compile thread works on `hyperscan`.
    hyperscan_compiling: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for SaRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaRules")
            .field("rules", &self.rules.len())
            .field("unsupported", &self.unsupported.len())
            .finish()
    }
}

/// The stock rules and site configuration of this machine, in SpamAssassin's order: site
/// `*.pre` (plugins), the rules (sa-update's when present, else the package's), site `*.cf`.
pub fn system_sources() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let rules = [UPDATES_DIR, STOCK_DIR]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.join("50_scores.cf").is_file() || p.join("72_active.cf").is_file());
    if let Some(rules) = rules {
        out.push(rules);
    }
    out
}

/// A rule's score in the score set; unscored rules weigh 1, test rules (`T_`) 0.01, as in
/// SpamAssassin.
fn rule_score(conf: &Conf, name: &str, score_set: usize) -> f64 {
    let default_score = if name.starts_with("T_") { 0.01 } else { 1.0 };
    conf.scores
        .get(name)
        .map_or(default_score, |s| s[score_set])
}

/// Sub-rules (`__`) only feed metas; score 0 disables a rule's own report (it can still feed
/// metas).
fn is_reported(name: &str, score: f64) -> bool {
    !name.starts_with("__") && score != 0.0
}

/// The rules that can change a report: the reported ones and, through metas, every rule they
/// read. A rule read by several definitions of one name counts for all of them.
fn live_rules(conf: &Conf, score_set: usize) -> HashSet<&str> {
    let defined: HashSet<&str> = conf.rules.iter().map(|d| d.name.as_str()).collect();
    let mut reads: HashMap<&str, Vec<String>> = HashMap::new();
    for def in &conf.rules {
        if let Test::Meta(e) = &def.test {
            e.names(reads.entry(def.name.as_str()).or_default());
        }
    }
    let mut live: HashSet<&str> = HashSet::new();
    let mut todo: Vec<&str> = conf
        .rules
        .iter()
        .map(|d| d.name.as_str())
        .filter(|n| is_reported(n, rule_score(conf, n, score_set)))
        .collect();
    while let Some(name) = todo.pop() {
        if !live.insert(name) {
            continue;
        }
        for read in reads.get(name).into_iter().flatten() {
            if let Some(&name) = defined.get(read.as_str()) {
                todo.push(name);
            }
        }
    }
    live
}

impl SaRules {
    /// Loads rules from files and folders. With `sources` empty, the system's stock rules and
    /// site configuration (see [`system_sources`]); otherwise exactly the given paths, a
    /// folder's `*.pre` before its `*.cf`. `score_set` 0–3 picks SpamAssassin's score set
    /// (0: no network tests, no Bayes).
    pub fn load(sources: &[PathBuf], score_set: usize) -> Result<SaRules, SaError> {
        Self::load_with(sources, score_set, Engine::default())
    }

    /// [`SaRules::load`] with the matching engine chosen.
    pub fn load_with(
        sources: &[PathBuf],
        score_set: usize,
        engine: Engine,
    ) -> Result<SaRules, SaError> {
        let mut conf = Conf::new();
        if sources.is_empty() {
            let site = Path::new(SITE_DIR);
            if site.is_dir() {
                conf.read_dir_files(site, "pre").map_err(SaError::Read)?;
            }
            let stock = system_sources();
            if stock.is_empty() {
                return Err(SaError::NothingFound(format!(
                    "neither {UPDATES_DIR} nor {STOCK_DIR} holds rules (Debian package spamassassin)"
                )));
            }
            for dir in &stock {
                conf.read_dir_files(dir, "pre").map_err(SaError::Read)?;
                conf.read_dir_files(dir, "cf").map_err(SaError::Read)?;
            }
            if site.is_dir() {
                conf.read_dir_files(site, "cf").map_err(SaError::Read)?;
            }
        } else {
            for source in sources {
                conf.read_path(source).map_err(SaError::Read)?;
            }
        }
        Ok(SaRules::compile_with(conf, score_set, engine))
    }

    /// Compiles read configuration.
    pub fn compile(conf: Conf, score_set: usize) -> SaRules {
        Self::compile_with(conf, score_set, Engine::default())
    }

    /// [`SaRules::compile`] with the matching engine chosen.
    pub fn compile_with(mut conf: Conf, score_set: usize, engine: Engine) -> SaRules {
        conf.apply_replace_tags();
        let score_set = score_set.min(3);
        let mut out = SaRules {
            rules: Vec::new(),
            by_name: HashMap::new(),
            headers: Vec::new(),
            body: Group::default(),
            rawbody: Group::default(),
            uri: Group::default(),
            full: Group::default(),
            meta_order: Vec::new(),
            unsupported: Vec::new(),
            conf_problems: std::mem::take(&mut conf.problems),
            definitions: conf.rules.len(),
            files: std::mem::take(&mut conf.files_read),
            score_set,
            eval_context: evals::EvalContext::new(std::mem::take(&mut conf.freemail_domains)),
            hyperscan: Arc::default(),
            hyperscan_compiling: Arc::default(),
            redirectors: Vec::new(),
        };
        for re in std::mem::take(&mut conf.redirector_patterns) {
            match re.to_pcre2() {
                Ok(compiled) => out.redirectors.push(compiled),
                Err(why) => out.conf_problems.push(ConfProblem {
                    file: PathBuf::from("redirector_pattern"),
                    line: 0,
                    message: format!("{}: {why}", re.pattern),
                }),
            }
        }
        for u in std::mem::take(&mut conf.unsupported_kinds) {
            let (kind, name) = u.message.split_once(' ').unwrap_or((&u.message, ""));
            out.definitions += 1;
            out.unsupported.push(Unsupported {
                name: name.to_string(),
                kind: Kind::Header,
                file: u.file.clone(),
                line: u.line,
                reason: format!(
                    "{kind} rules are not supported (DNS queries or MIME part headers)"
                ),
                // askdns and the URI blocklists are DNS queries; mimeheader reads MIME parts.
                offline_zero: kind != "mimeheader",
            });
        }
        let live = live_rules(&conf, score_set);
        let mut header_index: HashMap<HeaderTarget, usize> = HashMap::new();
        for def in &conf.rules {
            let is_live = live.contains(def.name.as_str());
            let offline_zero = match &def.test {
                Test::Eval { function, .. } => evals::needs_network_or_bayes(function),
                _ => false,
            };
            let unsupported = |reason: String| Unsupported {
                name: def.name.clone(),
                kind: def.kind,
                file: def.file.clone(),
                line: def.line,
                reason,
                offline_zero,
            };
            let template = match &def.test {
                Test::Pattern(re) | Test::Header { regex: re, .. } => captured_tag(&re.pattern),
                _ => None,
            };
            if let Some(tag) = template {
                out.unsupported.push(unsupported(format!(
                    "reads the captured tag %{{{tag}}} (SpamAssassin 4 capture rules: the pattern changes per message)"
                )));
                continue;
            }
            let compiled = match &def.test {
                // Left out of the matching sets, which then scan fewer patterns.
                Test::Pattern(re) | Test::Header { regex: re, .. } if !is_live => {
                    if re.to_linear().is_some() {
                        Ok(Compiled::Unused)
                    } else {
                        re.to_pcre2().map(|_| Compiled::Unused)
                    }
                }
                Test::Pattern(re) => {
                    let group = match def.kind {
                        Kind::Body => &mut out.body,
                        Kind::Rawbody => &mut out.rawbody,
                        Kind::Uri => &mut out.uri,
                        _ => &mut out.full,
                    };
                    group.add(re).map(Compiled::Pattern)
                }
                Test::Header {
                    target,
                    regex,
                    negate,
                    if_unset,
                } => {
                    let index = *header_index.entry(target.clone()).or_insert_with(|| {
                        out.headers.push((target.clone(), Group::default()));
                        out.headers.len() - 1
                    });
                    out.headers[index]
                        .1
                        .add(regex)
                        .map(|pattern| Compiled::Header {
                            target: index,
                            pattern,
                            negate: *negate,
                            if_unset: if_unset.clone(),
                            matches_when_absent: false,
                        })
                }
                Test::Exists(name) => Ok(Compiled::Exists(HeaderTarget::parse(name))),
                Test::Meta(e) => Ok(Compiled::Meta(e.clone())),
                Test::Eval { function, args } => {
                    if !evals::is_supported(function) {
                        Err(format!("eval:{function} is not implemented (network, Bayes or a plugin's own test)"))
                    } else if !evals::arguments_supported(function, args) {
                        Err(format!(
                            "eval:{function} is not implemented with arguments {args:?}"
                        ))
                    } else {
                        Ok(Compiled::Eval(function.clone(), args.clone()))
                    }
                }
            };
            let compiled = match compiled {
                Ok(c) => c,
                Err(reason) => {
                    out.unsupported.push(unsupported(reason));
                    continue;
                }
            };
            let flags = conf.tflags.get(&def.name);
            let has_flag = |f: &str| flags.is_some_and(|fl| fl.iter().any(|x| x == f));
            let multiple = has_flag("multiple").then(|| {
                flags
                    .and_then(|fl| {
                        fl.iter()
                            .find_map(|x| x.strip_prefix("maxhits=")?.parse::<usize>().ok())
                    })
                    .unwrap_or(DEFAULT_MAX_HITS)
            });
            let score = rule_score(&conf, &def.name, score_set);
            let reported = is_reported(&def.name, score);
            out.by_name.insert(def.name.clone(), out.rules.len());
            out.rules.push(Rule {
                name: def.name.clone(),
                kind: def.kind,
                score,
                description: conf.describes.get(&def.name).cloned().unwrap_or_default(),
                multiple,
                reported,
                enabled: true,
                live: is_live,
                test: compiled,
            });
        }
        for (kind, group) in [
            ("body", &mut out.body),
            ("rawbody", &mut out.rawbody),
            ("uri", &mut out.uri),
            ("full", &mut out.full),
        ] {
            if let Err(why) = group.finish() {
                out.conf_problems.push(ConfProblem {
                    file: PathBuf::from(kind),
                    line: 0,
                    message: why,
                });
            }
        }
        for (target, group) in &mut out.headers {
            if let Err(why) = group.finish() {
                out.conf_problems.push(ConfProblem {
                    file: PathBuf::from(format!("header {}", target.name)),
                    line: 0,
                    message: why,
                });
            }
        }
        if let Engine::Hyperscan { cache, background } = engine {
            out.start_hyperscan(cache, background);
        }
        let headers = &out.headers;
        for rule in &mut out.rules {
            if let Compiled::Header {
                target,
                pattern,
                if_unset,
                matches_when_absent,
                ..
            } = &mut rule.test
            {
                // Absent: the if-unset text, else the empty string.
                let value = if_unset.as_deref().unwrap_or("");
                *matches_when_absent = headers[*target].1.find(*pattern, &[value]).is_some();
            }
        }
        out.order_metas();
        out.disable_metas_reading_missing_rules();
        let by_name = &out.by_name;
        for rule in &mut out.rules {
            if let Compiled::Meta(e) = &mut rule.test {
                e.resolve_names(&|name| by_name.get(name).copied());
            }
        }
        out
    }

    /// A meta that reads a rule SpamAssassin would run but this crate cannot (a missing eval,
    /// a mimeheader rule), directly or through another meta, would decide on a wrong input:
    /// it is disabled and listed instead.
    fn disable_metas_reading_missing_rules(&mut self) {
        let mut missing: HashMap<String, String> = self
            .unsupported
            .iter()
            .filter(|u| !u.offline_zero)
            .map(|u| (u.name.clone(), u.name.clone()))
            .collect();
        for k in 0..self.meta_order.len() {
            let i = self.meta_order[k];
            let Compiled::Meta(e) = &self.rules[i].test else {
                continue;
            };
            let mut names = Vec::new();
            e.names(&mut names);
            let Some(cause) = names.iter().find_map(|n| missing.get(n).cloned()) else {
                continue;
            };
            let rule = &mut self.rules[i];
            rule.enabled = false;
            rule.reported = false;
            missing.insert(rule.name.clone(), cause.clone());
            self.unsupported.push(Unsupported {
                name: rule.name.clone(),
                kind: Kind::Meta,
                file: PathBuf::new(),
                line: 0,
                reason: format!("reads {cause}, which is not supported"),
                offline_zero: false,
            });
        }
    }

    /// Metas after the metas they read (depth-first); a cycle is broken and reported.
    fn order_metas(&mut self) {
        let mut state = vec![0u8; self.rules.len()]; // 0 new, 1 visiting, 2 done
        let mut order = Vec::new();
        let mut cycles = Vec::new();
        fn visit(
            i: usize,
            rules: &[Rule],
            by_name: &HashMap<String, usize>,
            state: &mut [u8],
            order: &mut Vec<usize>,
            cycles: &mut Vec<usize>,
        ) {
            if state[i] == 2 {
                return;
            }
            if state[i] == 1 {
                cycles.push(i);
                return;
            }
            state[i] = 1;
            if let Compiled::Meta(e) = &rules[i].test {
                let mut names = Vec::new();
                e.names(&mut names);
                for n in names {
                    if let Some(&j) = by_name.get(&n) {
                        if matches!(rules[j].test, Compiled::Meta(_)) {
                            visit(j, rules, by_name, state, order, cycles);
                        }
                    }
                }
                order.push(i);
            }
            state[i] = 2;
        }
        for i in 0..self.rules.len() {
            visit(
                i,
                &self.rules,
                &self.by_name,
                &mut state,
                &mut order,
                &mut cycles,
            );
        }
        for i in cycles {
            let r = &self.rules[i];
            self.unsupported.push(Unsupported {
                name: r.name.clone(),
                kind: Kind::Meta,
                file: PathBuf::new(),
                line: 0,
                reason: "the meta rule depends on itself".into(),
                offline_zero: false,
            });
        }
        self.meta_order = order;
    }

    /// Rule definitions read (after later definitions replaced earlier ones).
    /// Compiles (or reads from the cache) every group's Hyperscan database, now or on a
    /// thread of its own; the built-in engine matches until they are in place.
    fn start_hyperscan(&self, cache: Option<PathBuf>, background: bool) {
        if hyperscan::available().is_none() {
            return;
        }
        let expressions: Vec<Vec<hyperscan::Expression>> =
            self.groups().map(Group::hyperscan_expressions).collect();
        // The thread needs the groups' linear sources only, not the rules.
        let linear: Vec<Vec<String>> = self
            .groups()
            .map(|g| {
                let set = g.set.as_ref();
                (0..g.linear_perl.len() as u32)
                    .map(|id| set.map(|s| s.source(id).to_string()).unwrap_or_default())
                    .collect()
            })
            .collect();
        let target = Arc::clone(&self.hyperscan);
        let compiling = Arc::clone(&self.hyperscan_compiling);
        compiling.store(true, std::sync::atomic::Ordering::SeqCst);
        let build = move || {
            // Cleared however the compile ends.
            struct Done(Arc<std::sync::atomic::AtomicBool>);
            impl Drop for Done {
                fn drop(&mut self) {
                    self.0.store(false, std::sync::atomic::Ordering::SeqCst);
                }
            }
            let _done = Done(compiling);
            let Some(compiled) = hyperscan::compile_groups(expressions, cache.as_deref()) else {
                return;
            };
            let groups: Vec<HyperscanGroup> = compiled
                .into_iter()
                .zip(linear)
                .map(|(c, sources)| HyperscanGroup::new(c, &sources))
                .collect();
            let mut databases = groups
                .iter()
                .flat_map(|g| [g.db.as_ref(), g.supersets.as_ref()])
                .flatten()
                .peekable();
            if databases.peek().is_none() {
                // No patterns (only metas and evals): nothing to scan.
                return;
            }
            match hyperscan::ScratchPool::for_databases(databases) {
                Some(scratch) => {
                    let _ = target.set(HyperscanRules { groups, scratch });
                }
                None => tracing::warn!("no Hyperscan scratch space; the built-in engine matches"),
            }
        };
        if background {
            let spawned = std::thread::Builder::new()
                .name("hyperscan-compile".into())
                .spawn(build);
            if let Err(e) = spawned {
                self.hyperscan_compiling
                    .store(false, std::sync::atomic::Ordering::SeqCst);
                tracing::warn!(
                    "Hyperscan compile thread not started ({e}); the built-in engine matches"
                );
            }
        } else {
            build();
        }
    }

    /// Waits until a background Hyperscan compile has finished (or there is none to wait for);
    /// true when Hyperscan now matches.
    pub fn wait_for_hyperscan(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while self.hyperscan.get().is_none()
            && self
                .hyperscan_compiling
                .load(std::sync::atomic::Ordering::SeqCst)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        self.hyperscan.get().is_some()
    }

    fn groups(&self) -> impl Iterator<Item = &Group> {
        [&self.body, &self.rawbody, &self.uri, &self.full]
            .into_iter()
            .chain(self.headers.iter().map(|(_, g)| g))
    }

    /// What decides which patterns match: "Hyperscan VERSION" or "built-in".
    pub fn engine(&self) -> String {
        match (self.hyperscan.get(), hyperscan::available()) {
            (Some(_), Some(version)) => format!("Hyperscan {version}"),
            _ => "built-in".to_string(),
        }
    }

    /// Patterns left to the built-in engine or PCRE2 because Hyperscan refused them (0 without
    /// Hyperscan).
    pub fn outside_hyperscan(&self) -> usize {
        self.hyperscan.get().map_or(0, |h| {
            h.groups
                .iter()
                .map(|g| g.linear_outside.len() + g.pcre_outside.len())
                .sum()
        })
    }

    pub fn definitions(&self) -> usize {
        self.definitions
    }

    /// Supported rules that never run: not reported (`__` or score 0) and read by no metas of
    /// reported rules, so their result could not change a report.
    pub fn not_run(&self) -> usize {
        self.rules.iter().filter(|r| r.enabled && !r.live).count()
    }

    /// Rules that run.
    pub fn supported(&self) -> usize {
        self.rules.iter().filter(|r| r.enabled).count()
    }

    pub fn unsupported(&self) -> &[Unsupported] {
        &self.unsupported
    }

    /// Lines of the configuration that could not be read.
    pub fn problems(&self) -> &[ConfProblem] {
        &self.conf_problems
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    pub fn score_set(&self) -> usize {
        self.score_set
    }

    /// How many patterns need PCRE2 (the rest run on the linear-time engine).
    pub fn pcre_patterns(&self) -> usize {
        self.headers
            .iter()
            .map(|(_, g)| g.pcre.len())
            .sum::<usize>()
            + [&self.body, &self.rawbody, &self.uri, &self.full]
                .iter()
                .map(|g| g.pcre.len())
                .sum::<usize>()
    }

    /// Every rule that may be reported, with its score and description (for the symbol table).
    pub fn reported_rules(&self) -> impl Iterator<Item = (&str, f64, &str)> {
        self.rules
            .iter()
            .filter(|r| r.reported)
            .map(|r| (r.name.as_str(), r.score, r.description.as_str()))
    }

    /// Runs every rule over one message; returns the reported hits, highest score first.
    pub fn check(&self, view: &MessageView) -> Vec<SaHit> {
        let mut message = SaMessage::new(view);
        message.uris = with_redirect_targets(std::mem::take(&mut message.uris), &self.redirectors);
        let mut counts = vec![0u32; self.rules.len()];
        let hs = self.hyperscan.get();
        let mut scratch = Scratch {
            builtin: PatternScratch::default(),
            hyperscan: hs.and_then(|h| h.scratch.take()),
        };
        // Groups are numbered as in `groups()`: body, rawbody, uri, full, then the headers.
        let hs_group = |i: usize| hs.map(|h| &h.groups[i]);
        let body = as_strs(&message.body);
        let rawbody = as_strs(&message.rawbody);
        let uris = as_strs(&message.uris);
        let full = [message.full.as_str()];
        let scanned: Vec<(Vec<bool>, Vec<bool>)> = [
            (&self.body, &body[..]),
            (&self.rawbody, &rawbody[..]),
            (&self.uri, &uris[..]),
            (&self.full, &full[..]),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, (g, values))| g.scan(values, &mut scratch, hs_group(i)))
        .collect();
        let header_values: Vec<Option<String>> = self
            .headers
            .iter()
            .map(|(target, _)| message.header(target))
            .collect();
        let header_scans: Vec<Option<(Vec<bool>, Vec<bool>)>> = self
            .headers
            .iter()
            .zip(&header_values)
            .enumerate()
            .map(|(i, ((_, g), v))| {
                v.as_deref()
                    .map(|v| g.scan(&[v], &mut scratch, hs_group(4 + i)))
            })
            .collect();
        if let (Some(h), Some(used)) = (hs, scratch.hyperscan.take()) {
            h.scratch.put(used);
        }
        let hit_of = |(linear, pcre): &(Vec<bool>, Vec<bool>), p: PatternRef| match p {
            PatternRef::Linear(id) => linear[id as usize],
            PatternRef::Pcre(i) => pcre[i],
        };
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.live {
                continue;
            }
            counts[i] = match &rule.test {
                Compiled::Pattern(p) => {
                    let (slot, group, values) = match rule.kind {
                        Kind::Body => (0, &self.body, &body[..]),
                        Kind::Rawbody => (1, &self.rawbody, &rawbody[..]),
                        Kind::Uri => (2, &self.uri, &uris[..]),
                        _ => (3, &self.full, &full[..]),
                    };
                    if !hit_of(&scanned[slot], *p) {
                        0
                    } else if let Some(max) = rule.multiple {
                        group.count(*p, values, max) as u32
                    } else {
                        1
                    }
                }
                Compiled::Header {
                    target,
                    pattern,
                    negate,
                    matches_when_absent,
                    ..
                } => {
                    let matched = match &header_scans[*target] {
                        Some(scan) => hit_of(scan, *pattern),
                        None => *matches_when_absent,
                    };
                    u32::from(matched != *negate)
                }
                // Pseudo-headers too (`exists:ToCc`).
                Compiled::Exists(target) => u32::from(message.has_header(target)),
                Compiled::Eval(f, args) => {
                    u32::from(evals::run(f, args, &message, &self.eval_context) == Some(true))
                }
                Compiled::Meta(_) | Compiled::Unused => 0,
            };
        }
        for &i in &self.meta_order {
            if !self.rules[i].enabled || !self.rules[i].live {
                continue;
            }
            if let Compiled::Meta(e) = &self.rules[i].test {
                let value = e.eval(&mut |e| match e {
                    Expr::Rule(j) => counts[*j] as f64,
                    _ => 0.0,
                });
                counts[i] = u32::from(value != 0.0);
            }
        }
        let mut hits: Vec<SaHit> = self
            .rules
            .iter()
            .enumerate()
            .filter(|(i, r)| r.reported && counts[*i] > 0)
            .map(|(i, r)| SaHit {
                name: r.name.clone(),
                score: r.score * f64::from(counts[i]),
                description: r.description.clone(),
                count: counts[i],
                matched: self.matched_text(
                    r,
                    &message,
                    &body,
                    &rawbody,
                    &uris,
                    &full,
                    &header_values,
                ),
                kind: r.kind,
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.name.cmp(&b.name)));
        hits
    }

    #[allow(clippy::too_many_arguments)]
    fn matched_text(
        &self,
        rule: &Rule,
        _message: &SaMessage<'_>,
        body: &[&str],
        rawbody: &[&str],
        uris: &[&str],
        full: &[&str],
        header_values: &[Option<String>],
    ) -> Option<String> {
        let found = match &rule.test {
            Compiled::Pattern(p) => {
                let (group, values) = match rule.kind {
                    Kind::Body => (&self.body, body),
                    Kind::Rawbody => (&self.rawbody, rawbody),
                    Kind::Uri => (&self.uri, uris),
                    _ => (&self.full, full),
                };
                group.find(*p, values)
            }
            Compiled::Header {
                target,
                pattern,
                negate: false,
                ..
            } => {
                let value = header_values[*target].as_deref()?;
                self.headers[*target].1.find(*pattern, &[value])
            }
            _ => None,
        }?;
        let found = found.trim();
        Some(if found.chars().count() > 80 {
            format!("{}…", found.chars().take(80).collect::<String>())
        } else {
            found.to_string()
        })
    }

    /// Adds one piece of evidence per hit: the rule's name as the symbol (its score is the
    /// symbol's weight, declared from [`SaRules::reported_rules`]), what matched as details.
    pub fn evaluate(
        &self,
        view: &MessageView,
        findings: &mut Findings,
        symbol: impl Fn(&str) -> String,
    ) {
        for hit in self.check(view) {
            let mut details = if hit.description.is_empty() {
                format!("SpamAssassin {} rule", hit.kind.as_str())
            } else {
                hit.description.clone()
            };
            if let Some(m) = &hit.matched {
                details.push_str(&format!(": {m:?}"));
            }
            if hit.count > 1 {
                details.push_str(&format!(" ({} times)", hit.count));
            }
            findings.add(symbol(&hit.name), details, Location::message());
        }
    }
}

/// The first `%{NAME}` in a pattern: a tag another rule captures (`(?<NAME>...)`), filled in
/// per message by SpamAssassin 4. Such patterns are not run here, rather than run with the
/// template's text taken literally.
fn captured_tag(pattern: &str) -> Option<&str> {
    pattern.match_indices("%{").find_map(|(at, _)| {
        let rest = &pattern[at + 2..];
        let end = rest.find('}')?;
        let name = &rest[..end];
        (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            .then_some(name)
    })
}

/// SpamAssassin's `uri_list_canonicalize` step for redirectors: each link also yields the
/// target one `redirector_pattern` captures, else a generic `http(s)://…` inside the link's
/// path or query (`clickurl=http://…`), and so on for the targets in turn.
fn with_redirect_targets(
    mut uris: Vec<String>,
    redirectors: &[pcre2::bytes::Regex],
) -> Vec<String> {
    static GENERIC: OnceLock<pcre2::bytes::Regex> = OnceLock::new();
    let generic = GENERIC.get_or_init(|| {
        evals::jit(r"(?i)(https?:/{0,2}[^&#]+)").expect("a fixed pattern compiles")
    });
    // Bounded: a hostile chain of redirects adds at most this many links.
    const MAX_URIS: usize = 1000;
    let mut i = 0;
    while i < uris.len() && uris.len() < MAX_URIS {
        let uri = uris[i].clone();
        i += 1;
        let target = redirectors
            .iter()
            .find_map(|re| captured(re, &uri))
            .or_else(|| {
                // The part after the scheme and host.
                let after_scheme = uri.find("://").map_or(0, |at| at + 3);
                let rest_at = uri[after_scheme..]
                    .find(['/', '?', '#'])
                    .map(|at| after_scheme + at)?;
                captured(generic, &uri[rest_at..])
            });
        if let Some(target) = target {
            if !uris.contains(&target) {
                uris.push(target);
            }
        }
    }
    uris
}

/// What a redirector pattern captures (group 1), when it looks like a host (has a dot).
fn captured(re: &pcre2::bytes::Regex, text: &str) -> Option<String> {
    let caps = re.captures(text.as_bytes()).ok()??;
    let target = String::from_utf8_lossy(caps.get(1)?.as_bytes()).into_owned();
    target.contains('.').then_some(target)
}

fn as_strs(values: &[String]) -> Vec<&str> {
    values.iter().map(String::as_str).collect()
}

#[cfg(test)]
mod tests;
