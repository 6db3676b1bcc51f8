//! `mailmoat yara check RULES...` and `mailmoat yara scan --rules RULES FILE...`: the rule set
//! the gateway would load, checked, and files judged by it as the gateway judges attachments
//! (archives opened, documents and scripts read, macros decoded).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mailmoat_analyzers::{ClamavConfig, Engines, YaraConfig};

/// Compiles the rules; a broken file is printed as `file:line:column: what`, exit 1.
pub fn check(rules: &[PathBuf]) -> anyhow::Result<ExitCode> {
    match mailmoat_yara::RuleSet::compile(rules) {
        Ok(set) => {
            println!(
                "{} rules in {} files compile",
                set.rule_count(),
                set.files().len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// Each file through the attachment walk with only YARA on: one line per match,
/// `FILE > PATH TAB SYMBOL TAB rule and metadata`. Exit 1 when a rule matched, 2 when the rules
/// do not compile.
pub fn scan(
    rules: &[PathBuf],
    files: &[PathBuf],
    config: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let settings = crate::load_config(config)?;
    let yara = YaraConfig {
        rules: rules.to_vec(),
        ..settings.analyzers.yara.clone()
    };
    let engines = match Engines::build(&yara, &ClamavConfig::default(), Path::new(".")) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let analyser = settings
        .analyzers
        .attachments
        .build(&Default::default(), &settings.base_dir)?
        .with_engines(engines);
    let mut matched = false;
    let mut out = std::io::stdout().lock();
    for file in files {
        let data = std::fs::read(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        let name = file.display().to_string();
        let findings = analyser.analyze_file(&name, &data);
        for e in findings.iter().filter(|e| e.symbol.starts_with("YARA_")) {
            matched |= e.symbol != "YARA_SKIPPED";
            use std::io::Write;
            writeln!(
                out,
                "{}\t{}\t{}",
                e.location.segments().join(" > "),
                e.symbol,
                e.details
            )?;
        }
    }
    Ok(if matched {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
