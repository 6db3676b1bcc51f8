use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use mailmoat_core::{Action, Category, Findings, Location, SymbolDef, SymbolTable};
use mailmoat_mime::MessageView;

use crate::error::{block_name_at, LineIndex, RuleError, RuleErrors};
use crate::lists::{parse_list_file, List};
use crate::patterns::{PatternSet, Scratch};
use crate::rate::{parse_window, RateStore};
use crate::syntax::{CondDef, FileDef, ListField, ListKind, Presence, RateKey, RateResult};
use crate::targets::{AddrField, Target};

/// Default priorities of forced actions: allow lists beat deny lists and content rules, so an
/// allow entry is the exception mechanism; stage-2 malware verdicts will use higher ones.
const ALLOW_PRIORITY: u32 = 100;
const DENY_PRIORITY: u32 = 90;
const RULE_PRIORITY: u32 = 50;
const RATE_PRIORITY: u32 = 80;

#[derive(Debug)]
enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    Pattern {
        target: usize,
        pattern: u32,
    },
    HeaderExists {
        name: String,
        exists: bool,
    },
    HeaderCount {
        name: String,
        min: Option<u32>,
        max: Option<u32>,
    },
    DisplayName {
        field: AddrField,
        header: String,
        present: bool,
    },
    ClientIp(Vec<IpNet>),
    Symbol(String),
}

/// The SMTP command at which envelope checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The client connected (its IP is known).
    Connect,
    /// MAIL FROM (the sender is known).
    Mail,
    /// RCPT TO (one recipient is known).
    Rcpt,
}

/// Where rules come from: a file (list files resolve beside it) or text built into the binary.
#[derive(Debug, Clone)]
pub enum RuleSource {
    File(PathBuf),
    Text { origin: String, text: String },
}

/// One message's evaluation state, shared by the explanation of every rule that fired.
struct Ctx<'a> {
    view: &'a MessageView,
    values: &'a [Vec<Cow<'a, str>>],
    matched: &'a [Vec<bool>],
    fired: &'a HashSet<&'a str>,
}

/// A rule's public facts (for backtests and listings).
#[derive(Debug, Clone)]
pub struct RuleInfo {
    pub name: String,
    pub description: String,
    pub group: String,
    pub file: String,
    pub line: usize,
}

struct Rule {
    info: RuleInfo,
    when: Node,
}

struct RateLimit {
    name: String,
    key: RateKey,
    limit: u32,
    window: u64,
}

/// Everything loaded from the rule files, compiled.
pub struct RuleSet {
    rules: Vec<Rule>,
    /// For each (target, pattern): the rules that cannot fire unless it matched.
    gated_by: HashMap<(usize, u32), Vec<usize>>,
    /// Rules that may fire with no pattern matching (e.g. `not`, header presence).
    ungated: Vec<usize>,
    targets: Vec<(Target, PatternSet)>,
    lists: Vec<List>,
    rates: Vec<RateLimit>,
    symbols: Vec<SymbolDef>,
    files: Vec<PathBuf>,
}

struct Loader<'a> {
    builtin: &'a SymbolTable,
    /// Line starts of the file being loaded.
    lines: LineIndex,
    errors: Vec<RuleError>,
    names: HashSet<String>,
    target_index: HashMap<Target, usize>,
    set: RuleSet,
}

impl RuleSet {
    /// An empty set (no rule files configured).
    pub fn empty() -> RuleSet {
        RuleSet {
            rules: Vec::new(),
            gated_by: HashMap::new(),
            ungated: Vec::new(),
            targets: Vec::new(),
            lists: Vec::new(),
            rates: Vec::new(),
            symbols: Vec::new(),
            files: Vec::new(),
        }
    }

    /// Loads rule files in order. Every problem in every file is reported, with file and line.
    pub fn load(paths: &[PathBuf], builtin: &SymbolTable) -> Result<RuleSet, RuleErrors> {
        let sources: Vec<RuleSource> = paths.iter().cloned().map(RuleSource::File).collect();
        RuleSet::build(&sources, builtin)
    }

    /// Loads rules from text (tests, tools); `origin` names it in errors.
    pub fn parse(text: &str, origin: &str, builtin: &SymbolTable) -> Result<RuleSet, RuleErrors> {
        RuleSet::build(
            &[RuleSource::Text {
                origin: origin.to_string(),
                text: text.to_string(),
            }],
            builtin,
        )
    }

    /// Loads every source in order into one set (names are unique across all of them).
    pub fn build(sources: &[RuleSource], builtin: &SymbolTable) -> Result<RuleSet, RuleErrors> {
        let mut loader = Loader::new(builtin);
        for source in sources {
            match source {
                RuleSource::File(path) => {
                    match std::fs::read_to_string(path) {
                        Ok(text) => loader.file(&text, &path.display().to_string(), path.parent()),
                        Err(e) => loader.errors.push(RuleError {
                            file: path.display().to_string(),
                            line: 0,
                            rule: None,
                            message: format!("cannot read: {e}"),
                        }),
                    }
                    loader.set.files.push(path.clone());
                }
                RuleSource::Text { origin, text } => loader.file(text, origin, None),
            }
        }
        loader.finish()
    }

    /// The symbols this set declares (rules, lists, rate limits), for the policy table.
    pub fn symbols(&self) -> &[SymbolDef] {
        &self.symbols
    }

    pub fn rules(&self) -> impl Iterator<Item = &RuleInfo> {
        self.rules.iter().map(|r| &r.info)
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Counts for reports: rules, distinct patterns, list entries, rate limits.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let patterns = self.targets.iter().map(|(_, s)| s.len()).sum();
        let entries = self.lists.iter().map(|l| l.len()).sum();
        (self.rules.len(), patterns, entries, self.rates.len())
    }

    /// Compiles every regex now (they otherwise compile on first use) and reports failures,
    /// e.g. a pattern too large for the size limit.
    pub fn compile_all(&self) -> Vec<RuleError> {
        let mut errors = Vec::new();
        for (target, set) in &self.targets {
            for (_, why) in set.compile_all() {
                errors.push(RuleError {
                    file: "(compiled)".into(),
                    line: 0,
                    rule: None,
                    message: format!("a pattern on {} does not compile: {why}", target.describe()),
                });
            }
        }
        errors
    }

    /// Evidence from what the SMTP envelope alone shows at `phase`: the lists keyed on the field
    /// that phase reveals (client IP at connect, sender at MAIL, recipient at RCPT) and the rate
    /// limits on that field already at their limit (peeked, not counted: a message is counted
    /// once, when its content has arrived).
    pub fn envelope_findings(
        &self,
        view: &MessageView,
        phase: Phase,
        rates: &dyn RateStore,
        now: i64,
    ) -> Findings {
        let fields: &[ListField] = match phase {
            Phase::Connect => &[ListField::ClientIp],
            Phase::Mail => &[ListField::SenderAddress, ListField::SenderDomain],
            Phase::Rcpt => &[ListField::Recipient],
        };
        let keys: &[RateKey] = match phase {
            Phase::Connect => &[RateKey::ClientIp],
            Phase::Mail => &[RateKey::SenderAddress, RateKey::SenderDomain],
            Phase::Rcpt => &[RateKey::Recipient],
        };
        let mut findings = Findings::new();
        for list in self.lists.iter().filter(|l| fields.contains(&l.field)) {
            if let Some(why) = list.lookup(view) {
                findings.add(Cow::Owned(list.name.clone()), why, Location::message());
            }
        }
        for rate in self.rates.iter().filter(|r| keys.contains(&r.key)) {
            for key in rate_keys(rate.key, view) {
                let count = rates.peek(&format!("{}\u{0}{key}", rate.name), now, rate.window);
                if count >= rate.limit {
                    findings.add(
                        Cow::Owned(rate.name.clone()),
                        format!(
                            "{count} messages in {}s from {key} already (limit {})",
                            rate.window, rate.limit
                        ),
                        Location::message(),
                    );
                }
            }
        }
        findings
    }

    /// Adds evidence for every list entry, rate limit and rule the message trips. `findings`
    /// already holds the detectors' evidence (rules may test it with `symbol = "…"`).
    pub fn evaluate(
        &self,
        view: &MessageView,
        findings: &mut Findings,
        rates: &dyn RateStore,
        now: i64,
    ) {
        for list in &self.lists {
            if let Some(why) = list.lookup(view) {
                findings.add(Cow::Owned(list.name.clone()), why, Location::message());
            }
        }
        for rate in &self.rates {
            for key in rate_keys(rate.key, view) {
                let count = rates.hit(
                    &format!("{}\u{0}{key}", rate.name),
                    now,
                    rate.window,
                    rate.limit + 1,
                );
                if count > rate.limit {
                    findings.add(
                        Cow::Owned(rate.name.clone()),
                        format!(
                            "more than {} messages in {}s from {key}",
                            rate.limit, rate.window
                        ),
                        Location::message(),
                    );
                }
            }
        }
        if self.rules.is_empty() {
            return;
        }
        let values: Vec<Vec<Cow<'_, str>>> =
            self.targets.iter().map(|(t, _)| t.values(view)).collect();
        let matched = self.scan_targets(&values);
        // Only rules that could be true: those gated by a pattern that matched, and the
        // ungated ones; in file order, so a rule can test the rules before it.
        let mut candidates: Vec<usize> = self.ungated.clone();
        for (target, hits) in matched.iter().enumerate() {
            for (pattern, _) in hits.iter().enumerate().filter(|(_, hit)| **hit) {
                if let Some(rules) = self.gated_by.get(&(target, pattern as u32)) {
                    candidates.extend_from_slice(rules);
                }
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let explained: Vec<(String, String)> = {
            let mut fired: HashSet<&str> = findings.iter().map(|e| e.symbol.as_ref()).collect();
            let mut hits = Vec::new();
            for &i in &candidates {
                let rule = &self.rules[i];
                if self.eval(&rule.when, view, &matched, &fired) {
                    hits.push(rule);
                    fired.insert(rule.info.name.as_str());
                }
            }
            let ctx = Ctx {
                view,
                values: &values,
                matched: &matched,
                fired: &fired,
            };
            hits.into_iter()
                .map(|rule| {
                    let mut why = Vec::new();
                    self.explain(&rule.when, &ctx, &mut why);
                    (rule.info.name.clone(), why.join("; "))
                })
                .collect()
        };
        for (name, why) in explained {
            findings.add(Cow::Owned(name), why, Location::message());
        }
    }

    /// Scans each target's values once with its pattern set.
    fn scan_targets(&self, values: &[Vec<Cow<'_, str>>]) -> Vec<Vec<bool>> {
        thread_local! {
            // Working memory reused across messages on this thread.
            static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
        }
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            self.targets
                .iter()
                .zip(values)
                .map(|((_, set), values)| {
                    let mut matched = vec![false; set.len()];
                    for value in values {
                        set.scan(value, &mut matched, &mut scratch);
                    }
                    matched
                })
                .collect()
        })
    }

    fn eval(
        &self,
        node: &Node,
        view: &MessageView,
        matched: &[Vec<bool>],
        fired: &HashSet<&str>,
    ) -> bool {
        match node {
            Node::All(children) => children.iter().all(|c| self.eval(c, view, matched, fired)),
            Node::Any(children) => children.iter().any(|c| self.eval(c, view, matched, fired)),
            Node::Not(child) => !self.eval(child, view, matched, fired),
            Node::Pattern { target, pattern } => matched[*target][*pattern as usize],
            Node::HeaderExists { name, exists } => view.header(name).is_some() == *exists,
            Node::HeaderCount { name, min, max } => {
                let n = view.headers_named(name).count() as u32;
                min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m)
            }
            Node::DisplayName { field, present, .. } => {
                let boxes = field.mailboxes(view);
                if boxes.is_empty() {
                    return false;
                }
                if *present {
                    boxes.iter().any(|m| m.has_display_name())
                } else {
                    boxes.iter().all(|m| !m.has_display_name())
                }
            }
            Node::ClientIp(nets) => view
                .client_ip()
                .is_some_and(|ip| nets.iter().any(|n| n.contains(&ip))),
            Node::Symbol(s) => fired.contains(s.as_str()),
        }
    }

    /// Describes the conditions that made a true node true.
    fn explain(&self, node: &Node, ctx: &Ctx<'_>, out: &mut Vec<String>) {
        match node {
            Node::All(children) => {
                for c in children {
                    self.explain(c, ctx, out);
                }
            }
            Node::Any(children) => {
                if let Some(c) = children
                    .iter()
                    .find(|c| self.eval(c, ctx.view, ctx.matched, ctx.fired))
                {
                    self.explain(c, ctx, out);
                }
            }
            Node::Not(child) => out.push(format!("not ({})", self.describe(child))),
            Node::Pattern { target, pattern } => {
                let (t, set) = &self.targets[*target];
                let text = ctx.values[*target].iter().find_map(|v| {
                    set.find(*pattern, v)
                        .map(|m| m.chars().take(80).collect::<String>())
                });
                out.push(format!(
                    "{} matched /{}/ on {:?}",
                    t.describe(),
                    set.source(*pattern),
                    text.unwrap_or_default()
                ));
            }
            other => out.push(self.describe(other)),
        }
    }

    fn describe(&self, node: &Node) -> String {
        match node {
            Node::All(c) => c
                .iter()
                .map(|n| self.describe(n))
                .collect::<Vec<_>>()
                .join(" and "),
            Node::Any(c) => c
                .iter()
                .map(|n| self.describe(n))
                .collect::<Vec<_>>()
                .join(" or "),
            Node::Not(c) => format!("not ({})", self.describe(c)),
            Node::Pattern { target, pattern } => {
                let (t, set) = &self.targets[*target];
                format!("{} matches /{}/", t.describe(), set.source(*pattern))
            }
            Node::HeaderExists { name, exists: true } => format!("header {name} is present"),
            Node::HeaderExists {
                name,
                exists: false,
            } => format!("header {name} is missing"),
            Node::HeaderCount { name, min, max } => format!(
                "header {name} appears {}..{} times",
                min.unwrap_or(0),
                max.map(|m| m.to_string()).unwrap_or_default()
            ),
            Node::DisplayName {
                header,
                present: true,
                ..
            } => format!("{header} has a display name"),
            Node::DisplayName {
                header,
                present: false,
                ..
            } => format!("{header} has no display name"),
            Node::ClientIp(nets) => format!(
                "client IP in {}",
                nets.iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Node::Symbol(s) => format!("{s} fired"),
        }
    }
}

/// Patterns at least one of which must match for the node to be true; `None` when it can be
/// true without any (a `not`, a header-presence test, a symbol, an IP).
fn gate(node: &Node) -> Option<Vec<(usize, u32)>> {
    match node {
        Node::Pattern { target, pattern } => Some(vec![(*target, *pattern)]),
        Node::All(children) => children.iter().filter_map(gate).min_by_key(Vec::len),
        Node::Any(children) => {
            let mut all = Vec::new();
            for c in children {
                all.extend(gate(c)?);
            }
            Some(all)
        }
        _ => None,
    }
}

fn rate_keys(key: RateKey, view: &MessageView) -> Vec<String> {
    let sender = || {
        view.envelope
            .mail_from
            .clone()
            .or_else(|| view.from.first().and_then(|m| m.address.clone()))
    };
    match key {
        RateKey::ClientIp => view
            .client_ip()
            .map(|ip| ip.to_string())
            .into_iter()
            .collect(),
        RateKey::SenderAddress => sender().map(|s| s.to_lowercase()).into_iter().collect(),
        RateKey::SenderDomain => sender()
            .and_then(|s| s.rsplit_once('@').map(|(_, d)| d.to_lowercase()))
            .into_iter()
            .collect(),
        RateKey::Recipient => view
            .envelope
            .rcpt_to
            .iter()
            .map(|r| r.to_lowercase())
            .collect(),
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

impl<'a> Loader<'a> {
    fn new(builtin: &'a SymbolTable) -> Self {
        Loader {
            builtin,
            lines: LineIndex::new(""),
            errors: Vec::new(),
            names: HashSet::new(),
            target_index: HashMap::new(),
            set: RuleSet::empty(),
        }
    }

    fn finish(mut self) -> Result<RuleSet, RuleErrors> {
        for (i, rule) in self.set.rules.iter().enumerate() {
            match gate(&rule.when) {
                Some(patterns) => {
                    for p in patterns {
                        self.set.gated_by.entry(p).or_default().push(i);
                    }
                }
                None => self.set.ungated.push(i),
            }
        }
        for (target, set) in &mut self.set.targets {
            if let Err(e) = set.finish() {
                self.errors.push(RuleError {
                    file: "(compiled)".into(),
                    line: 0,
                    rule: None,
                    message: format!(
                        "the pattern set for {} does not build: {e}",
                        target.describe()
                    ),
                });
            }
        }
        if self.errors.is_empty() {
            Ok(self.set)
        } else {
            Err(RuleErrors(self.errors))
        }
    }

    fn error(&mut self, file: &str, offset: usize, rule: Option<&str>, message: impl Into<String>) {
        self.errors.push(RuleError {
            file: file.to_string(),
            line: self.lines.line(offset),
            rule: rule.map(str::to_string),
            message: message.into(),
        });
    }

    /// Checks a name is well-formed and unused; records an error otherwise.
    fn claim_name(&mut self, name: &str, file: &str, offset: usize) -> bool {
        if !valid_name(name) {
            self.error(
                file,
                offset,
                Some(name),
                "names are UPPER_SNAKE_CASE (A-Z, 0-9, _), starting with a letter",
            );
            return false;
        }
        if self.builtin.get(name).is_some() {
            self.error(
                file,
                offset,
                Some(name),
                "this name is a built-in symbol; pick another",
            );
            return false;
        }
        if !self.names.insert(name.to_string()) {
            self.error(file, offset, Some(name), "defined twice");
            return false;
        }
        true
    }

    fn file(&mut self, text: &str, file: &str, dir: Option<&Path>) {
        self.lines = LineIndex::new(text);
        let parsed: FileDef = match toml::from_str(text) {
            Ok(p) => p,
            Err(e) => {
                let offset = e.span().map(|s| s.start).unwrap_or(0);
                let rule = block_name_at(text, offset);
                self.error(
                    file,
                    offset,
                    rule.as_deref(),
                    e.message().trim().to_string(),
                );
                return;
            }
        };
        for list in parsed.list {
            let start = list.span().start;
            let def = list.into_inner();
            let name = def.name.get_ref().clone();
            if !self.claim_name(&name, file, def.name.span().start) {
                continue;
            }
            let mut entries = List::new(name.clone(), def.field);
            for entry in &def.entries {
                if let Err(e) = entries.add(entry, "inline".into()) {
                    self.error(file, start, Some(&name), e);
                }
            }
            if let Some(list_file) = &def.file {
                let path = dir
                    .map(|d| d.join(list_file))
                    .unwrap_or_else(|| PathBuf::from(list_file));
                match std::fs::read_to_string(&path) {
                    Ok(list_text) => {
                        for (line, entry) in parse_list_file(&list_text) {
                            if let Err(e) = entries.add(entry, format!("{}:{line}", path.display()))
                            {
                                self.errors.push(RuleError {
                                    file: path.display().to_string(),
                                    line,
                                    rule: Some(name.clone()),
                                    message: e,
                                });
                            }
                        }
                    }
                    Err(e) => self.error(
                        file,
                        start,
                        Some(&name),
                        format!("cannot read list file {}: {e}", path.display()),
                    ),
                }
            }
            let (action, priority) = match def.kind {
                ListKind::Allow => (
                    def.action.unwrap_or(Action::Deliver),
                    def.priority.unwrap_or(ALLOW_PRIORITY),
                ),
                ListKind::Deny => (
                    def.action.unwrap_or(Action::Reject),
                    def.priority.unwrap_or(DENY_PRIORITY),
                ),
            };
            let description = if def.description.is_empty() {
                format!("{:?} list by {:?}", def.kind, def.field)
                    .to_lowercase()
                    .replace('_', " ")
            } else {
                def.description
            };
            self.set.symbols.push(SymbolDef {
                name: Cow::Owned(name),
                group: Cow::Borrowed("lists"),
                category: Category::Policy,
                description: Cow::Owned(description),
                score: def.score.unwrap_or(0.0),
                force: Some((action, priority)),
                floor: None,
            });
            self.set.lists.push(entries);
        }
        for rate in parsed.rate_limit {
            let def = rate.into_inner();
            let name = def.name.get_ref().clone();
            if !self.claim_name(&name, file, def.name.span().start) {
                continue;
            }
            let window = match parse_window(def.window.get_ref()) {
                Ok(w) => w,
                Err(e) => {
                    self.error(file, def.window.span().start, Some(&name), e);
                    continue;
                }
            };
            if def.result == RateResult::Score && def.score.is_none() {
                self.error(
                    file,
                    def.name.span().start,
                    Some(&name),
                    "result = \"score\" needs a score",
                );
                continue;
            }
            let force = match def.result {
                RateResult::Tempfail => {
                    Some((Action::Tempfail, def.priority.unwrap_or(RATE_PRIORITY)))
                }
                RateResult::Quarantine => {
                    Some((Action::Quarantine, def.priority.unwrap_or(RATE_PRIORITY)))
                }
                RateResult::Reject => Some((Action::Reject, def.priority.unwrap_or(RATE_PRIORITY))),
                RateResult::Score => None,
            };
            let description = if def.description.is_empty() {
                format!(
                    "more than {} messages per {} by {:?}",
                    def.limit,
                    def.window.get_ref(),
                    def.key
                )
            } else {
                def.description
            };
            self.set.symbols.push(SymbolDef {
                name: Cow::Owned(name.clone()),
                group: Cow::Borrowed("rate"),
                category: Category::Policy,
                description: Cow::Owned(description),
                score: def.score.unwrap_or(0.0),
                force,
                floor: None,
            });
            self.set.rates.push(RateLimit {
                name,
                key: def.key,
                limit: def.limit,
                window,
            });
        }
        for rule in parsed.rule {
            let def = rule.into_inner();
            let name = def.name.get_ref().clone();
            if !self.claim_name(&name, file, def.name.span().start) {
                continue;
            }
            if def.score.is_none() && def.action.is_none() {
                self.error(
                    file,
                    def.name.span().start,
                    Some(&name),
                    "a rule needs a score, an action, or both",
                );
                continue;
            }
            let errors_before = self.errors.len();
            let when_span = def.when.span().start;
            let node = self.condition(def.when.into_inner(), when_span, file, &name);
            if self.errors.len() > errors_before || !def.enabled {
                continue;
            }
            let Some(node) = node else { continue };
            let group = def.group.unwrap_or_else(|| "rules".to_string());
            self.set.symbols.push(SymbolDef {
                name: Cow::Owned(name.clone()),
                group: Cow::Owned(group.clone()),
                category: def.category.unwrap_or(Category::Policy),
                description: Cow::Owned(def.description.clone()),
                score: def.score.unwrap_or(0.0),
                force: def
                    .action
                    .map(|a| (a, def.priority.unwrap_or(RULE_PRIORITY))),
                floor: None,
            });
            self.set.rules.push(Rule {
                info: RuleInfo {
                    name,
                    description: def.description,
                    group,
                    file: file.to_string(),
                    line: self.lines.line(def.name.span().start),
                },
                when: node,
            });
        }
    }

    fn pattern(&mut self, target: Target, source: &str) -> Result<Node, String> {
        let index = match self.target_index.get(&target) {
            Some(&i) => i,
            None => {
                self.set
                    .targets
                    .push((target.clone(), PatternSet::default()));
                self.target_index.insert(target, self.set.targets.len() - 1);
                self.set.targets.len() - 1
            }
        };
        let pattern = self.set.targets[index]
            .1
            .add(source)
            .map_err(|e| format!("bad regex /{source}/: {e}"))?;
        Ok(Node::Pattern {
            target: index,
            pattern,
        })
    }

    /// Turns one condition into a node; errors are recorded against the rule.
    fn condition(&mut self, c: CondDef, offset: usize, file: &str, rule: &str) -> Option<Node> {
        let fail = |me: &mut Self, msg: String| {
            me.error(file, offset, Some(rule), msg);
            None
        };
        let kinds: Vec<&str> = [
            ("all", c.all.is_some()),
            ("any", c.any.is_some()),
            ("not", c.not.is_some()),
            ("header", c.header.is_some()),
            ("subject", c.subject.is_some()),
            ("body", c.body.is_some()),
            ("raw_body", c.raw_body.is_some()),
            ("url", c.url.is_some()),
            ("url_host", c.url_host.is_some()),
            ("url_path", c.url_path.is_some()),
            ("attachment_name", c.attachment_name.is_some()),
            ("attachment_type", c.attachment_type.is_some()),
            ("mail_from", c.mail_from.is_some()),
            ("rcpt_to", c.rcpt_to.is_some()),
            ("helo", c.helo.is_some()),
            ("client_ip", c.client_ip.is_some()),
            ("symbol", c.symbol.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| *k)
        .collect();
        let operators: Vec<&str> = [
            ("matches", c.matches.is_some()),
            ("raw", c.raw.is_some()),
            ("exists", c.exists.is_some()),
            ("min_count", c.min_count.is_some()),
            ("max_count", c.max_count.is_some()),
            ("display_name", c.display_name.is_some()),
            ("name_matches", c.name_matches.is_some()),
            ("local_part", c.local_part.is_some()),
            ("domain", c.domain.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| *k)
        .collect();
        match kinds.as_slice() {
            [] => return fail(self, "empty condition: give one of all, any, not, header, subject, body, raw_body, url, url_host, url_path, attachment_name, attachment_type, mail_from, rcpt_to, helo, client_ip, symbol".into()),
            [_] => {}
            many => return fail(self, format!("one condition has several targets ({}); combine them with all/any", many.join(", "))),
        }
        let kind = kinds[0];
        if kind != "header" && !operators.is_empty() {
            return fail(
                self,
                format!("{} only apply to header conditions", operators.join(", ")),
            );
        }
        let sub = |me: &mut Self, list: Vec<toml::Spanned<CondDef>>| -> Vec<Node> {
            list.into_iter()
                .filter_map(|s| {
                    let at = s.span().start;
                    me.condition(s.into_inner(), at, file, rule)
                })
                .collect()
        };
        let regex = |me: &mut Self, target: Target, source: &str| match me.pattern(target, source) {
            Ok(n) => Some(n),
            Err(e) => {
                me.error(file, offset, Some(rule), e);
                None
            }
        };
        match kind {
            "all" | "any" => {
                let list = c.all.or(c.any).unwrap_or_default();
                if list.is_empty() {
                    return fail(self, format!("{kind} needs at least one condition"));
                }
                let nodes = sub(self, list);
                Some(if kind == "all" {
                    Node::All(nodes)
                } else {
                    Node::Any(nodes)
                })
            }
            "not" => {
                let inner = c.not?;
                let at = inner.span().start;
                let node = self.condition(inner.into_inner(), at, file, rule)?;
                Some(Node::Not(Box::new(node)))
            }
            "subject" => regex(self, Target::Subject, &c.subject?),
            "body" => regex(self, Target::Body, &c.body?),
            "raw_body" => regex(self, Target::RawBody, &c.raw_body?),
            "url" => regex(self, Target::Url, &c.url?),
            "url_host" => regex(self, Target::UrlHost, &c.url_host?),
            "url_path" => regex(self, Target::UrlPath, &c.url_path?),
            "attachment_name" => regex(self, Target::AttachmentName, &c.attachment_name?),
            "attachment_type" => regex(self, Target::AttachmentType, &c.attachment_type?),
            "mail_from" => regex(self, Target::MailFrom, &c.mail_from?),
            "rcpt_to" => regex(self, Target::RcptTo, &c.rcpt_to?),
            "helo" => regex(self, Target::Helo, &c.helo?),
            "symbol" => {
                let s = c.symbol?;
                if self.builtin.get(&s).is_none()
                    && !self.set.symbols.iter().any(|d| d.name == s.as_str())
                {
                    return fail(self, format!("symbol {s:?} is not declared (built-in symbols, lists, rate limits and earlier rules can be tested)"));
                }
                Some(Node::Symbol(s))
            }
            "client_ip" => {
                let mut nets = Vec::new();
                for entry in c.client_ip?.into_vec() {
                    match entry
                        .parse::<IpNet>()
                        .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                    {
                        Ok(n) => nets.push(n.trunc()),
                        Err(_) => {
                            return fail(
                                self,
                                format!("{entry:?} is not an IP address or CIDR network"),
                            )
                        }
                    }
                }
                Some(Node::ClientIp(nets))
            }
            "header" => {
                let header = c.header?;
                if header.is_empty() || header.contains(|ch: char| ch == ':' || ch.is_whitespace())
                {
                    return fail(self, format!("{header:?} is not a header name"));
                }
                match operators.as_slice() {
                    ["matches"] | ["matches", "raw"] | ["raw", "matches"] => {
                        let target = if c.raw == Some(true) { Target::HeaderRaw(header) } else { Target::Header(header) };
                        regex(self, target, &c.matches?)
                    }
                    ["exists"] => Some(Node::HeaderExists { name: header, exists: c.exists? }),
                    ["min_count"] | ["max_count"] | ["min_count", "max_count"] => Some(Node::HeaderCount {
                        name: header,
                        min: c.min_count,
                        max: c.max_count,
                    }),
                    ["display_name"] | ["name_matches"] | ["local_part"] | ["domain"] => {
                        let Some(field) = AddrField::from_header(&header) else {
                            return fail(self, format!("{} needs an address header (From, Sender, To, Cc, Reply-To, Return-Path), not {header}", operators[0]));
                        };
                        if let Some(p) = c.display_name {
                            if field == AddrField::ReturnPath {
                                return fail(self, "Return-Path has no display name".into());
                            }
                            return Some(Node::DisplayName { field, header, present: p == Presence::Present });
                        }
                        if let Some(re) = c.name_matches {
                            return regex(self, Target::AddrName(field), &re);
                        }
                        if let Some(re) = c.local_part {
                            return regex(self, Target::AddrLocal(field), &re);
                        }
                        regex(self, Target::AddrDomain(field), &c.domain?)
                    }
                    [] => fail(self, format!("header {header:?} needs an operator: matches, exists, min_count/max_count, display_name, name_matches, local_part or domain")),
                    ops => fail(self, format!("header condition has conflicting operators: {}", ops.join(", "))),
                }
            }
            other => fail(self, format!("unknown condition {other}")),
        }
    }
}

#[cfg(test)]
mod tests;
