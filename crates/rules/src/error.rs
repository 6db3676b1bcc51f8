use std::fmt;

/// One problem in a rule file: where, which rule, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub file: String,
    pub line: usize,
    /// The rule, list or rate limit the problem is in, when known.
    pub rule: Option<String>,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(rule) = &self.rule {
            write!(f, "{rule}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found while loading; loading reports them all, not just the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct RuleErrors(pub Vec<RuleError>);

/// Byte offsets of line starts, so a line number is a binary search, not a rescan.
pub(crate) struct LineIndex(Vec<usize>);

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex(starts)
    }

    /// 1-based line of a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

/// The name of the `[[rule]]`/`[[list]]`/`[[rate_limit]]` block around a byte offset, found in
/// the text (used when the TOML parser, not our checks, reports the problem).
pub(crate) fn block_name_at(text: &str, offset: usize) -> Option<String> {
    let before = &text[..offset.min(text.len())];
    let start = ["[[rule]]", "[[list]]", "[[rate_limit]]"]
        .iter()
        .filter_map(|h| before.rfind(h))
        .max()?;
    let block = &text[start..];
    let end = block[2..]
        .find("\n[[")
        .map(|i| i + 2)
        .unwrap_or(block.len());
    block[..end].lines().find_map(|l| {
        let l = l.trim();
        let rest = l
            .strip_prefix("name")?
            .trim_start()
            .strip_prefix('=')?
            .trim();
        Some(rest.trim_matches(['"', '\'']).to_string())
    })
}
