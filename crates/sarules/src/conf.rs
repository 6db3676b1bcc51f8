//! Reading SpamAssassin configuration: `.pre`/`.cf` files in SpamAssassin's order, comments,
//! `if`/`ifplugin`/`else`/`endif`, `include`, and the directives that define, describe and
//! score rules. Everything else a `.cf` file may say (network tests' settings, Bayes, report
//! templates…) is counted and skipped: it does not define a rule.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::expr::{self, Expr};
use crate::perl_regex::{parse_literal, PerlRegex};

/// The SpamAssassin release whose rules and semantics this loader follows (`version` in
/// `if` conditions).
pub const SA_VERSION: f64 = 4.000001;

/// Which value a header rule reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeaderTarget {
    /// `Subject`, `ALL`, `ToCc`, `EnvelopeFrom`, `MESSAGEID`, `X-Spam-Relays-Untrusted`…
    pub name: String,
    pub raw: bool,
    pub addr: bool,
    pub display_name: bool,
    pub first: bool,
    pub last: bool,
    pub host: bool,
    pub domain: bool,
}

impl HeaderTarget {
    /// `Name[:modifier…]` as rules write it (`From:addr`, `ALL:raw`).
    pub fn parse(spec: &str) -> HeaderTarget {
        let mut parts = spec.split(':');
        let name = parts.next().unwrap_or_default().to_string();
        let mut target = HeaderTarget {
            name,
            raw: false,
            addr: false,
            display_name: false,
            first: false,
            last: false,
            host: false,
            domain: false,
        };
        for modifier in parts {
            match modifier {
                "raw" => target.raw = true,
                "addr" => target.addr = true,
                "name" => target.display_name = true,
                "first" => target.first = true,
                "last" => target.last = true,
                "host" => target.host = true,
                "domain" => {
                    target.host = true;
                    target.domain = true;
                }
                _ => {}
            }
        }
        target
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Header,
    Body,
    Rawbody,
    Uri,
    Full,
    Meta,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Header => "header",
            Kind::Body => "body",
            Kind::Rawbody => "rawbody",
            Kind::Uri => "uri",
            Kind::Full => "full",
            Kind::Meta => "meta",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// `header NAME Target =~ /re/` (or `!~`), with the value used when the header is absent.
    Header {
        target: HeaderTarget,
        regex: PerlRegex,
        negate: bool,
        if_unset: Option<String>,
    },
    /// `header NAME exists:Target`.
    Exists(String),
    /// `body`, `rawbody`, `uri`, `full` with a pattern.
    Pattern(PerlRegex),
    /// `meta NAME expression`.
    Meta(Expr),
    /// `… NAME eval:function(args)`.
    Eval { function: String, args: Vec<String> },
}

#[derive(Debug, Clone)]
pub struct RuleDef {
    pub name: String,
    pub kind: Kind,
    pub test: Test,
    pub file: PathBuf,
    pub line: usize,
}

/// A line that could not be read: the file, the line and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfProblem {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ConfProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Everything read from the configuration, before compiling.
#[derive(Debug, Default)]
pub struct Conf {
    /// In definition order; a later definition of a name replaces the earlier one.
    pub rules: Vec<RuleDef>,
    index: HashMap<String, usize>,
    /// Per rule: the four score sets (no net/no Bayes, net, Bayes, net + Bayes).
    pub scores: HashMap<String, [f64; 4]>,
    pub describes: HashMap<String, String>,
    pub tflags: HashMap<String, Vec<String>>,
    pub priorities: HashMap<String, i32>,
    pub required_score: Option<f64>,
    pub replace_tags: HashMap<String, String>,
    pub replace_rules: HashSet<String>,
    pub replace_start: String,
    pub replace_end: String,
    pub replace_inter: Option<String>,
    pub redirector_patterns: Vec<PerlRegex>,
    pub plugins: HashSet<String>,
    /// `freemail_domains`: free mail providers' domains (`*.example` for every subdomain).
    pub freemail_domains: HashSet<String>,
    /// Lines that are malformed, or directives of a rule kind this loader does not take.
    pub problems: Vec<ConfProblem>,
    /// Definitions of rule kinds this loader does not run (`askdns`, `mimeheader`…): where,
    /// and `kind NAME`.
    pub unsupported_kinds: Vec<ConfProblem>,
    /// Other directives (settings of features outside rules), by keyword, with their count.
    pub other_directives: HashMap<String, usize>,
    pub files_read: Vec<PathBuf>,
}

const MAX_INCLUDE_DEPTH: usize = 8;

impl Conf {
    pub fn new() -> Conf {
        Conf {
            replace_start: "<".into(),
            replace_end: ">".into(),
            ..Conf::default()
        }
    }

    pub fn rule(&self, name: &str) -> Option<&RuleDef> {
        self.index.get(name).map(|&i| &self.rules[i])
    }

    /// Reads one path: a directory's `*.pre` then `*.cf` files in name order, or one file.
    pub fn read_path(&mut self, path: &Path) -> Result<(), ConfProblem> {
        if path.is_dir() {
            for ext in ["pre", "cf"] {
                for file in files_with_extension(path, ext)? {
                    self.read_file(&file, 0)?;
                }
            }
            Ok(())
        } else {
            self.read_file(path, 0)
        }
    }

    /// Reads only a directory's `*.pre` files (plugins), or only its `*.cf` files.
    pub fn read_dir_files(&mut self, dir: &Path, ext: &str) -> Result<(), ConfProblem> {
        for file in files_with_extension(dir, ext)? {
            self.read_file(&file, 0)?;
        }
        Ok(())
    }

    fn read_file(&mut self, path: &Path, depth: usize) -> Result<(), ConfProblem> {
        let bytes = std::fs::read(path).map_err(|e| ConfProblem {
            file: path.to_path_buf(),
            line: 0,
            message: format!("cannot read: {e}"),
        })?;
        self.files_read.push(path.to_path_buf());
        // Rule files are bytes (Latin-1 and UTF-8 both occur); patterns keep their bytes.
        let text = String::from_utf8(bytes)
            .unwrap_or_else(|e| e.into_bytes().iter().map(|&b| b as char).collect());
        self.read_text(&text, path, depth)
    }

    /// Reads configuration text as if it were the file `path`.
    pub fn read_text(&mut self, text: &str, path: &Path, depth: usize) -> Result<(), ConfProblem> {
        // Each level: (this branch is taken, some enclosing level is not).
        let mut conditions: Vec<(bool, bool)> = Vec::new();
        for (n, raw_line) in text.lines().enumerate() {
            let line_no = n + 1;
            let line = strip_comment(raw_line);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (keyword, rest) = match line.split_once(|c: char| c.is_whitespace()) {
                Some((k, r)) => (k, r.trim()),
                None => (line, ""),
            };
            let keyword = keyword.to_ascii_lowercase();
            let skipping = conditions.iter().any(|(taken, _)| !taken);
            match keyword.as_str() {
                "if" | "ifplugin" => {
                    let taken = if skipping {
                        false
                    } else if keyword == "ifplugin" {
                        self.plugins.contains(rest)
                    } else {
                        match expr::parse(rest) {
                            Ok(e) => self.condition(&e),
                            Err(why) => {
                                self.problem(path, line_no, format!("if: {why}"));
                                false
                            }
                        }
                    };
                    conditions.push((taken, skipping));
                    continue;
                }
                "else" => {
                    match conditions.last_mut() {
                        Some((taken, outer_skipping)) => {
                            *taken = !*taken && !*outer_skipping;
                        }
                        None => self.problem(path, line_no, "else without if".into()),
                    }
                    continue;
                }
                "endif" => {
                    if conditions.pop().is_none() {
                        self.problem(path, line_no, "endif without if".into());
                    }
                    continue;
                }
                _ if skipping => continue,
                _ => {}
            }
            let result = self.directive(&keyword, rest, path, line_no, depth);
            if let Err(message) = result {
                self.problem(path, line_no, message);
            }
        }
        if !conditions.is_empty() {
            self.problem(
                path,
                text.lines().count(),
                "an if or ifplugin is not closed by endif".into(),
            );
        }
        Ok(())
    }

    fn problem(&mut self, path: &Path, line: usize, message: String) {
        self.problems.push(ConfProblem {
            file: path.to_path_buf(),
            line,
            message,
        });
    }

    fn condition(&self, e: &Expr) -> bool {
        e.eval(&mut |e| match e {
            Expr::Name(n) if n == "version" => SA_VERSION,
            Expr::Name(n) if n == "perl_version" => 5.036,
            Expr::Call(f, arg) if f == "plugin" => f64::from(self.plugins.contains(arg)),
            Expr::Call(f, arg) if f == "can" || f == "has" => {
                // Conf features of the release exist; a plugin's methods exist when it is
                // loaded.
                let owner = arg.rsplit_once("::").map_or("", |(o, _)| o);
                f64::from(owner == "Mail::SpamAssassin::Conf" || self.plugins.contains(owner))
            }
            _ => 0.0,
        }) != 0.0
    }

    fn directive(
        &mut self,
        keyword: &str,
        rest: &str,
        path: &Path,
        line: usize,
        depth: usize,
    ) -> Result<(), String> {
        let name_and = |rest: &str| -> Result<(String, String), String> {
            let (name, value) = rest
                .split_once(|c: char| c.is_whitespace())
                .map(|(n, v)| (n, v.trim()))
                .unwrap_or((rest, ""));
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            {
                return Err(format!("{keyword}: {name:?} is not a rule name"));
            }
            Ok((name.to_string(), value.to_string()))
        };
        match keyword {
            "loadplugin" | "tryplugin" => {
                let name = rest.split_whitespace().next().unwrap_or_default();
                self.plugins.insert(name.to_string());
            }
            "include" => {
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err("include nested too deeply".into());
                }
                let target = path.parent().unwrap_or(Path::new(".")).join(rest);
                self.read_file(&target, depth + 1)
                    .map_err(|p| format!("include {rest}: {}", p.message))?;
            }
            "header" | "body" | "rawbody" | "uri" | "full" | "meta" => {
                let (name, spec) = name_and(rest)?;
                let kind = match keyword {
                    "header" => Kind::Header,
                    "body" => Kind::Body,
                    "rawbody" => Kind::Rawbody,
                    "uri" => Kind::Uri,
                    "full" => Kind::Full,
                    _ => Kind::Meta,
                };
                let test = parse_test(kind, &spec)?;
                let def = RuleDef {
                    name: name.clone(),
                    kind,
                    test,
                    file: path.to_path_buf(),
                    line,
                };
                match self.index.get(&name) {
                    Some(&i) => self.rules[i] = def,
                    None => {
                        self.index.insert(name, self.rules.len());
                        self.rules.push(def);
                    }
                }
            }
            "describe" => {
                let (name, text) = name_and(rest)?;
                self.describes.insert(name, text);
            }
            "score" => {
                let (name, values) = name_and(rest)?;
                let numbers: Vec<f64> = values
                    .split_whitespace()
                    .map(|v| v.trim_matches(|c| c == '(' || c == ')').parse::<f64>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| format!("score {name}: {values:?} are not numbers"))?;
                let scores = match numbers.as_slice() {
                    [s] => [*s; 4],
                    [a, b, c, d] => [*a, *b, *c, *d],
                    _ => return Err(format!("score {name}: one or four numbers expected")),
                };
                self.scores.insert(name, scores);
            }
            "tflags" => {
                let (name, flags) = name_and(rest)?;
                self.tflags
                    .insert(name, flags.split_whitespace().map(str::to_string).collect());
            }
            "priority" => {
                let (name, value) = name_and(rest)?;
                let p = value
                    .parse()
                    .map_err(|_| format!("priority {name}: {value:?} is not a number"))?;
                self.priorities.insert(name, p);
            }
            "required_score" | "required_hits" => {
                self.required_score = Some(
                    rest.parse()
                        .map_err(|_| format!("{keyword}: {rest:?} is not a number"))?,
                );
            }
            "replace_tag" => {
                let (name, value) = name_and(rest)?;
                self.replace_tags.insert(name, value);
            }
            "replace_rules" => {
                self.replace_rules
                    .extend(rest.split_whitespace().map(str::to_string));
            }
            "replace_start" => self.replace_start = rest.to_string(),
            "replace_end" => self.replace_end = rest.to_string(),
            "replace_inter" => self.replace_inter = Some(rest.to_string()),
            "redirector_pattern" => {
                let (re, _) =
                    parse_literal(rest).map_err(|e| format!("redirector_pattern: {e}"))?;
                self.redirector_patterns.push(re);
            }
            "freemail_domains" => {
                self.freemail_domains
                    .extend(rest.split_whitespace().map(|d| d.to_ascii_lowercase()));
            }
            "lang" => {
                // Translations of descriptions and reports: English stays.
                *self.other_directives.entry("lang".into()).or_default() += 1;
            }
            "mimeheader" | "uri_detail" | "askdns" | "check_rbl" | "urirhsbl" | "urirhssub"
            | "uridnsbl" | "uridnssub" | "urinsrhsbl" | "urinsrhssub" | "urifullnsrhsbl"
            | "urifullnsrhssub" | "urirhsbl_domains" => {
                // Rules of kinds that need the network or a plugin's own parser: listed as
                // unsupported, not as malformed lines.
                let name = rest.split_whitespace().next().unwrap_or_default();
                self.unsupported_kinds.push(ConfProblem {
                    file: path.to_path_buf(),
                    line,
                    message: format!("{keyword} {name}"),
                });
            }
            other => {
                *self.other_directives.entry(other.to_string()).or_default() += 1;
            }
        }
        Ok(())
    }

    /// `replace_rules`: `<tag>` in the listed rules' patterns becomes the tag's text.
    pub fn apply_replace_tags(&mut self) {
        if self.replace_rules.is_empty() {
            return;
        }
        let start = self.replace_start.clone();
        let end = self.replace_end.clone();
        let tags = self.replace_tags.clone();
        let inter = self.replace_inter.clone();
        let expand = |pattern: &str| -> String {
            let mut text = pattern.to_string();
            // Tags may name tags: a few passes settle it.
            for _ in 0..8 {
                let before = text.clone();
                if let Some(inter) = &inter {
                    text = text.replace(&format!("{start}inter{end}"), inter);
                }
                for (tag, value) in &tags {
                    text = text.replace(&format!("{start}{tag}{end}"), value);
                }
                if text == before {
                    break;
                }
            }
            text
        };
        for rule in &mut self.rules {
            if !self.replace_rules.contains(&rule.name) {
                continue;
            }
            match &mut rule.test {
                Test::Pattern(re) | Test::Header { regex: re, .. } => {
                    re.pattern = expand(&re.pattern);
                }
                _ => {}
            }
        }
    }
}

fn files_with_extension(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, ConfProblem> {
    let entries = std::fs::read_dir(dir).map_err(|e| ConfProblem {
        file: dir.to_path_buf(),
        line: 0,
        message: format!("cannot read the folder: {e}"),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == ext))
        .collect();
    files.sort();
    Ok(files)
}

/// SpamAssassin's comment rule: `#` starts a comment unless escaped as `\#`.
fn strip_comment(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'#') => {
                out.push('#');
                chars.next();
            }
            '#' => break,
            c => out.push(c),
        }
    }
    out
}

fn parse_eval(spec: &str) -> Result<Test, String> {
    let call = spec.trim();
    let open = call.find('(').ok_or("eval: expected function(arguments)")?;
    let close = call
        .rfind(')')
        .ok_or("eval: the argument list is not closed")?;
    let function = call[..open].trim().to_string();
    let inside = &call[open + 1..close];
    let args = split_args(inside);
    Ok(Test::Eval { function, args })
}

/// Eval arguments: comma-separated, quoted with ' or ", or bare.
fn split_args(text: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => current.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                any = true;
            }
            None if c == ',' => {
                args.push(std::mem::take(&mut current).trim().to_string());
                any = false;
            }
            None => {
                if !c.is_whitespace() || !current.is_empty() {
                    current.push(c);
                }
                any |= !c.is_whitespace();
            }
        }
    }
    if any || !current.is_empty() {
        args.push(current.trim().to_string());
    }
    args
}

fn parse_test(kind: Kind, spec: &str) -> Result<Test, String> {
    if let Some(call) = spec.strip_prefix("eval:") {
        if kind == Kind::Meta {
            return Err("meta rules take an expression, not eval:".into());
        }
        return parse_eval(call);
    }
    match kind {
        Kind::Meta => Ok(Test::Meta(expr::parse(spec)?)),
        Kind::Header => {
            if let Some(name) = spec.strip_prefix("exists:") {
                return Ok(Test::Exists(name.trim().to_string()));
            }
            if spec.starts_with("rbleval:") {
                return Err("rbleval: network tests are not supported".into());
            }
            let (target, rest) = spec
                .split_once(|c: char| c.is_whitespace())
                .ok_or("header: expected Header =~ /pattern/")?;
            let rest = rest.trim_start();
            let negate = if let Some(r) = rest.strip_prefix("=~") {
                let (regex, after) = parse_literal(r)?;
                return Ok(Test::Header {
                    target: HeaderTarget::parse(target),
                    regex,
                    negate: false,
                    if_unset: if_unset(after)?,
                });
            } else if rest.starts_with("!~") {
                true
            } else {
                return Err("header: expected =~ or !~ after the header name".into());
            };
            let (regex, after) = parse_literal(&rest[2..])?;
            Ok(Test::Header {
                target: HeaderTarget::parse(target),
                regex,
                negate,
                if_unset: if_unset(after)?,
            })
        }
        _ => {
            let (regex, after) = parse_literal(spec)?;
            if !after.trim().is_empty() {
                return Err(format!("text after the pattern: {:?}", after.trim()));
            }
            Ok(Test::Pattern(regex))
        }
    }
}

fn if_unset(after: &str) -> Result<Option<String>, String> {
    let after = after.trim();
    if after.is_empty() {
        return Ok(None);
    }
    after
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .and_then(|a| a.trim().strip_prefix("if-unset:"))
        .map(|v| Some(v.trim().to_string()))
        .ok_or_else(|| format!("text after the pattern: {after:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Conf {
        let mut conf = Conf::new();
        conf.read_text(text, Path::new("local.cf"), 0).unwrap();
        conf
    }

    #[test]
    fn rules_scores_and_conditions() {
        let conf = read(
            r#"
loadplugin Mail::SpamAssassin::Plugin::BodyEval
# a comment
header   SUBJ_FREE  Subject =~ /\bfree\b/i  # trailing comment
describe SUBJ_FREE  Subject says free
score    SUBJ_FREE  1.5 1.6 1.7 1.8
ifplugin Mail::SpamAssassin::Plugin::BodyEval
body     LONG_BODY  eval:check_body_length('500')
else
body     NOT_THIS   /x/
endif
ifplugin Mail::SpamAssassin::Plugin::Nothing
body     NOR_THIS   /x/
endif
if (version >= 3.004000)
  header FROM_NONE  From:addr !~ /@/ [if-unset: none]
endif
if !plugin(Mail::SpamAssassin::Plugin::BodyEval)
  body   NOR_THAT   /x/
endif
meta     BOTH       SUBJ_FREE && !FROM_NONE
tflags   BOTH       nice multiple maxhits=3
header   HAS_XM     exists:X-Mailer
body     HASH       /\#1 deal/
"#,
        );
        let names: Vec<&str> = conf.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "SUBJ_FREE",
                "LONG_BODY",
                "FROM_NONE",
                "BOTH",
                "HAS_XM",
                "HASH"
            ]
        );
        assert_eq!(conf.scores["SUBJ_FREE"], [1.5, 1.6, 1.7, 1.8]);
        assert_eq!(conf.describes["SUBJ_FREE"], "Subject says free");
        assert_eq!(conf.tflags["BOTH"], ["nice", "multiple", "maxhits=3"]);
        match &conf.rule("FROM_NONE").unwrap().test {
            Test::Header {
                target,
                negate,
                if_unset,
                ..
            } => {
                assert!(target.addr && *negate);
                assert_eq!(if_unset.as_deref(), Some("none"));
            }
            other => panic!("{other:?}"),
        }
        match &conf.rule("LONG_BODY").unwrap().test {
            Test::Eval { function, args } => {
                assert_eq!(function, "check_body_length");
                assert_eq!(args, &["500"]);
            }
            other => panic!("{other:?}"),
        }
        match &conf.rule("HASH").unwrap().test {
            Test::Pattern(re) => assert_eq!(re.pattern, "#1 deal"),
            other => panic!("{other:?}"),
        }
        assert!(conf.problems.is_empty(), "{:?}", conf.problems);
    }

    #[test]
    fn problems_name_the_line() {
        let conf = read("body OK /a/\nbody BAD /unclosed\nheader X-Y Subject =~ /a/\nendif\n");
        let lines: Vec<usize> = conf.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [2, 3, 4]);
        assert!(conf.problems[0].to_string().starts_with("local.cf:2: "));
    }

    #[test]
    fn replace_tags_expand_in_listed_rules() {
        let mut conf = read(
            "replace_tag A [a@]\nreplace_tag AB <A>b\nbody R1 /<AB>/\nbody R2 /<AB>/\nreplace_rules R1\n",
        );
        conf.apply_replace_tags();
        let pattern = |n: &str| match &conf.rule(n).unwrap().test {
            Test::Pattern(re) => re.pattern.clone(),
            _ => unreachable!(),
        };
        assert_eq!(pattern("R1"), "[a@]b");
        assert_eq!(pattern("R2"), "<AB>");
    }

    #[test]
    fn eval_arguments_keep_their_quoting_out() {
        assert_eq!(split_args(r#"'Received', "1", 3"#), ["Received", "1", "3"]);
        assert!(split_args("").is_empty());
    }
}
