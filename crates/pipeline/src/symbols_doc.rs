//! `docs/symbols.md`, generated from the declared symbols.

use std::fmt::Write;

use mailmoat_core::SymbolTable;

/// The symbol reference as Markdown, grouped, in declaration order.
pub fn markdown(table: &SymbolTable) -> String {
    let mut out = String::from(
        "# Symbols\n\nGenerated from the declarations in the code by `mailmoat symbols --markdown`; do not edit by hand \
         (a test fails when this file is stale).\n\nEach symbol is evidence a detector (or a rule of the built-in pack, rules/default.toml) reports. Its score is the default \
         weight; the verdict adds weight × strength (0–1) per symbol, caps each group if configured, and compares the \
         total with the thresholds. Override any of it under `[policy.symbols.NAME]` and `[policy.groups.NAME]`.\n",
    );
    out.push_str(
        "\n## Threat floors\n\nStrong threat evidence sets the verdict's floor directly: when one of these fires, the \
         message gets at least this action and risk, whatever the score or the spam model says. An operator's forced \
         action (an allow or deny list, a rule with an action) still decides the action; the risk stands. \
         `[policy.symbols.NAME] floor = false` lifts one.\n\n| Symbol | Category | At least | Risk |\n|---|---|---|---|\n",
    );
    for def in table.iter() {
        if let Some((action, risk)) = def.floor {
            let _ = writeln!(
                out,
                "| `{}` | {} | {action} | {risk} |",
                def.name, def.category
            );
        }
    }
    let mut groups: Vec<&str> = Vec::new();
    for def in table.iter() {
        if !groups.contains(&def.group.as_ref()) {
            groups.push(def.group.as_ref());
        }
    }
    for group in groups {
        let _ = write!(out, "\n## {group}\n\n| Symbol | Category | Score | Forced action | Description |\n|---|---|---:|---|---|\n");
        for def in table.iter().filter(|d| d.group == group) {
            let forced = def
                .force
                .map(|(a, p)| format!("{a} (priority {p})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                def.name,
                def.category,
                def.score,
                forced,
                def.description.replace('|', "\\|")
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when docs/symbols.md does not match the declarations; `UPDATE_SYMBOLS_DOC=1`
    /// rewrites it.
    #[test]
    fn docs_symbols_md_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/symbols.md");
        let defaults = crate::Scanner::new(&crate::Config::defaults()).expect("defaults build");
        let expected = markdown(defaults.symbols());
        if std::env::var_os("UPDATE_SYMBOLS_DOC").is_some() {
            std::fs::write(&path, &expected).expect("write docs/symbols.md");
        }
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            actual == expected,
            "docs/symbols.md is stale: run `cargo run -p mailmoat -- symbols --markdown > docs/symbols.md` \
             (or UPDATE_SYMBOLS_DOC=1 cargo test -p mailmoat-pipeline)"
        );
    }
}
