//! The `mailmoat` command. Glue only: argument parsing, output, exit codes.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mailmoat_classifier::Model;
use mailmoat_core::Action;
use mailmoat_pipeline::{sources, Config, Report, Scanner};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod bench_attachments;
mod bench_urls;
mod classify_cmd;
mod console_cmd;
mod fusion_cmd;
mod intel_cmd;
mod loadtest;
mod replay;
mod rules_cmd;
mod sa_rules_cmd;
mod serve_cmd;
mod site_cmd;
mod url_model_cmd;
mod visual_cmd;
mod watch;
mod yara_cmd;

#[derive(Parser)]
#[command(
    name = "mailmoat",
    version,
    about = "Email threat-blocking gateway: scan mail, explain verdicts."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan .eml files, mbox files, Maildir or plain folders, or `-` (stdin).
    ///
    /// Exit status: 0 when every message would be delivered untouched, 1 when any would not,
    /// 2 on usage or I/O errors.
    Scan {
        /// Files, folders or `-`.
        #[arg(required = true)]
        paths: Vec<String>,
        /// One JSON object per message with everything found.
        #[arg(long, conflicts_with = "explain")]
        json: bool,
        /// Every symbol with its score, details and location.
        #[arg(long)]
        explain: bool,
        /// Also run the authentication stage (SPF, DKIM, DMARC, ARC, blocklists) with the
        /// configured DNS; the client is the first external Received hop.
        #[arg(long)]
        auth: bool,
        /// Configuration file (the same one the gateway reads).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// List the declared symbols (`--markdown` writes docs/symbols.md's content).
    Symbols {
        #[arg(long)]
        markdown: bool,
    },
    /// SpamAssassin rule files: what loads, and which rules hit a message.
    SaRules {
        #[command(subcommand)]
        command: SaRulesCommand,
    },
    /// YARA rules: check that they compile, scan files with them as attachments are scanned.
    Yara {
        #[command(subcommand)]
        command: YaraCommand,
    },
    /// Rule file tools: check, backtest, explain.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Scan each message file that appears in a folder, until stopped (SIGHUP reloads rules).
    Watch {
        dir: PathBuf,
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// How often to look for new files, in milliseconds.
        #[arg(long, default_value_t = 200)]
        interval_ms: u64,
    },
    /// Train the statistical classifier on ham and spam (.eml, mbox, Maildir, folders).
    Train {
        #[arg(long, required = true, num_args = 1..)]
        ham: Vec<String>,
        #[arg(long, required = true, num_args = 1..)]
        spam: Vec<String>,
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, default_value_t = 3)]
        epochs: usize,
        /// The model holds 2^bits weights.
        #[arg(long, default_value_t = 22)]
        bits: u32,
        /// FTRL learning rate.
        #[arg(long, default_value_t = 0.3)]
        alpha: f32,
        /// FTRL L1 regularisation (sparsity).
        #[arg(long, default_value_t = 1.0)]
        l1: f32,
        /// Keep only the learning state of features with a non-zero weight: a file of
        /// kilobytes instead of megabytes that classifies the same (how the built-in model is made).
        #[arg(long)]
        prune: bool,
        /// Also learn a compression model (PPM-D over each message's visible text) and its
        /// stacking with the token model, and write it here, for `[classifier] compression`.
        /// With --fusion, the fusion is fitted over the stacked log-odds.
        #[arg(long)]
        compression: Option<PathBuf>,
        /// Also fit the learned evidence fusion (every symbol of the configured scan and the
        /// classifier's held-out log-odds) and write it here, for `[fusion] model`.
        #[arg(long)]
        fusion: Option<PathBuf>,
        /// The configuration whose detectors, rules and policy the fusion learns over.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Folds for the classifier's held-out log-odds the fusion learns from.
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// How firmly the fusion holds the hand weights, in messages' worth of evidence.
        #[arg(long, default_value_t = 2.0)]
        fusion_l2: f64,
        /// False-positive rate the fusion's tag threshold is set for, on the training ham.
        #[arg(long, default_value_t = 0.001)]
        tag_fpr: f64,
        /// False-positive rate the fusion's quarantine threshold is set for.
        #[arg(long, default_value_t = 0.0001)]
        quarantine_fpr: f64,
    },
    /// Teach a model from corrections: these messages are spam (or ham). A model file that does
    /// not exist yet starts as a copy of the built-in model.
    Learn {
        #[arg(long)]
        model: PathBuf,
        /// The compression model stacked with it (from `train --compression`): taught too, with
        /// the stacking. Created empty when the file does not exist.
        #[arg(long)]
        compression: Option<PathBuf>,
        #[arg(long, conflicts_with = "ham", required_unless_present = "ham")]
        spam: bool,
        #[arg(long)]
        ham: bool,
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// The TREC spam-track protocol: each message of INDEX (`spam|ham PATH` per line) in order,
    /// classified, then learned with its gold label. Prints ROC AUC, (1-ROCA)%, recall at 0.1%
    /// and 0.01% FPR and messages per second. The classifier starts empty unless --model says
    /// otherwise (`built-in`, or a model file). --compression stacks the token model with a
    /// compression model (PPM-D over each message's visible text), all learning as they go.
    Replay(replay::ReplayArgs),
    /// Measure a model (or the whole pipeline): recall at fixed false-positive rates, ROC AUC,
    /// errors by file.
    Eval {
        #[arg(long, required = true, num_args = 1..)]
        ham: Vec<String>,
        #[arg(long, required = true, num_args = 1..)]
        spam: Vec<String>,
        /// The model to measure; by default the configured one (the built-in model unless
        /// `[classifier] model` names a file).
        #[arg(long)]
        model: Option<PathBuf>,
        /// The fusion model to measure with --pipeline (default: the configured one).
        #[arg(long)]
        fusion: Option<PathBuf>,
        /// A compression model (from `train --compression`) stacked with the token model
        /// (default: the configured `[classifier] compression`).
        #[arg(long)]
        compression: Option<PathBuf>,
        /// Spam probability at or above which a message counts as spam (default: the
        /// configured `spam_threshold`).
        #[arg(long)]
        threshold: Option<f64>,
        /// Measure the full verdict instead of the classifier alone: the score ranks messages,
        /// and a message counts as spam when its action is not "deliver".
        #[arg(long)]
        pipeline: bool,
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Also write every message's score here, one line each: class, score, counted as
        /// spam (1/0), file.
        #[arg(long)]
        scores: Option<PathBuf>,
    },
    /// Which features carry the classifier's rating: per message (up to 20), or summed over
    /// many messages by feature and feature family.
    Explain {
        #[arg(required = true)]
        paths: Vec<String>,
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Features listed.
        #[arg(long, default_value_t = 15)]
        top: usize,
    },
    /// Run the gateway: inbound SMTP for the protected domains, scanning, spool, delivery,
    /// quarantine. Without --config: 127.0.0.1:2525, mail for example.com, delivered into
    /// var/delivered/ (a Maildir per recipient).
    Serve {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// SMTP load on a gateway (ours or a reference MTA) with a sink for what it relays:
    /// messages/s accepted and end to end, and end-of-DATA latency (p50, p99).
    Loadtest(loadtest::Options),
    /// A message's report (from the quarantine or the message log): what was found and where,
    /// why it matters, what to do, the sender's traces and the indicators.
    Report {
        id: String,
        /// The report as JSON (what the console's API returns).
        #[arg(long)]
        json: bool,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Console accounts: add, list, change a password (read from standard input).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// The console dashboard's speed: fills a fresh message log with generated events, starts
    /// the gateway and console on it, signs in and times GET /dashboard.
    BenchConsole {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        #[arg(long, default_value_t = 90)]
        days: i64,
        /// Working folder (emptied first).
        #[arg(long, default_value = "target/bench-console")]
        dir: PathBuf,
    },
    /// Held messages: list, release for delivery, delete.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
    /// The delivery queue: list, retry now, drop.
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// Configuration file tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Measure parse + view + detectors + verdict throughput on one core.
    Bench {
        #[arg(required = true)]
        paths: Vec<String>,
        /// Passes over the messages; the best is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// The variant reference store: known-malicious objects by family, and known-good ones.
    Intel {
        #[command(subcommand)]
        command: IntelCommand,
    },
    /// Variant detection's speed: embedding 1 MiB, and queries against a large generated store.
    BenchVariants {
        /// Vectors in the generated store.
        #[arg(long, default_value_t = 1_000_000)]
        count: usize,
        #[arg(long, default_value_t = 1000)]
        queries: usize,
    },
    /// The lexical host model of the URL analysis: train it from labelled host lists.
    UrlModel {
        #[command(subcommand)]
        command: UrlModelCommand,
    },
    /// Reference looks of protected brands for the visual link analysis.
    Brands {
        #[command(subcommand)]
        command: BrandsCommand,
    },
    /// The visual link analysis on the loopback kit set: brand recall, benign pages flagged,
    /// seconds per URL (needs Chromium).
    BenchVisual {
        #[arg(long)]
        chromium: Option<PathBuf>,
        /// Passes over the set.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
    },
    /// The static URL analysis alone: microseconds per URL over the links of the given mail.
    BenchUrls {
        paths: Vec<String>,
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Time and peak memory of the attachment analyser on synthetic archives built in memory:
    /// a typical 5 MB archive and decompression bombs (1 GiB zip, 1 GiB gzip, nested zips).
    BenchAttachments {
        /// One case only, in this process (typical-5mb, zip-bomb-1gib, gzip-bomb-1gib,
        /// nested-zip-4gib); by default each runs in its own process.
        #[arg(long)]
        only: Option<String>,
        /// Analyses per case; the best is reported.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
}

#[derive(Subcommand)]
enum IntelCommand {
    /// Add files (folders recursively) to the store: --family NAME for known-malicious ones,
    /// --benign for known-good ones.
    Add {
        #[arg(long)]
        family: Option<String>,
        #[arg(long)]
        benign: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// What the store holds, by family.
    List {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// The nearest references of each file, and the verdict (exit 1 if any matches).
    Query {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Draw a file's byte plot (PNG) and its place among its nearest references (SVG).
    Plot {
        file: PathBuf,
        #[arg(long, default_value = ".")]
        out: PathBuf,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Measure on synthetic variant families grown from seed files (half the variants as
    /// references, the other half unseen) and benign files (half as references).
    Eval {
        #[arg(long, required = true)]
        seeds: Vec<PathBuf>,
        #[arg(long, required = true)]
        benign: Vec<PathBuf>,
        /// Benign files used only as tests (never references): false positives on files the
        /// threshold was not chosen on (e.g. wine's PE files from Debian's libwine).
        #[arg(long)]
        held_out_benign: Vec<PathBuf>,
        /// Variants per family.
        #[arg(long, default_value_t = 20)]
        variants: usize,
        /// Similarity threshold to try (default: the configuration's default).
        #[arg(long)]
        threshold: Option<f32>,
    },
    /// A new Ed25519 signing key for intelligence folders: the private key goes to --out, the
    /// public key (for [intel] trusted_keys) is printed.
    Keygen {
        #[arg(long, required = true)]
        out: PathBuf,
    },
    /// Write the manifest of an intelligence folder (yara/, clamav/, hashes/*.txt,
    /// variants.jsonl): every file's SHA-256, and the signature with --key.
    Pack {
        folder: PathBuf,
        #[arg(long, required = true)]
        version: String,
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Verify an intelligence folder, a .tar.gz of one, or an http(s) URL of such an archive,
    /// and make it current in [intel] dir (the one before is kept for a rollback). A running
    /// gateway picks it up within a minute.
    Update {
        source: String,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Make the previous intelligence version current again.
    Rollback {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// The installed versions and which is current.
    Status {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SaRulesCommand {
    /// Load rule files or folders (the system's stock rules when none is given); print what is
    /// not supported and why, and `N of M definitions supported` (exit 2 on malformed lines).
    Check {
        paths: Vec<PathBuf>,
        /// SpamAssassin's score set: 0 no network tests and no Bayes, 1 network, 2 Bayes, 3 both.
        #[arg(long, default_value_t = 0)]
        score_set: usize,
        /// Every file read and every unsupported rule.
        #[arg(long, short)]
        verbose: bool,
        /// Print only the rules that run and can be reported, `NAME SCORE` per line.
        #[arg(long)]
        list: bool,
        /// Match with the built-in engine even where Hyperscan is installed.
        #[arg(long)]
        builtin_engine: bool,
    },
    /// Which rules hit each message: `label TAB score TAB RULE,RULE…`.
    Hits {
        #[arg(required = true)]
        paths: Vec<String>,
        /// Rule files or folders (default: the system's stock rules).
        #[arg(long)]
        rules: Vec<PathBuf>,
        #[arg(long, default_value_t = 0)]
        score_set: usize,
        /// Match with the built-in engine even where Hyperscan is installed.
        #[arg(long)]
        builtin_engine: bool,
    },
}

#[derive(Subcommand)]
enum YaraCommand {
    /// Compile rule files and folders (`*.yar`, `*.yara`); a broken one is printed as
    /// file:line:column and the exit status is 1.
    Check {
        #[arg(required = true)]
        rules: Vec<PathBuf>,
    },
    /// Scan files as the gateway scans attachments (archives opened, documents read), with
    /// these rules: one line per match, exit 1 when any rule matched.
    Scan {
        /// Rule files or folders.
        #[arg(long, required = true)]
        rules: Vec<PathBuf>,
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Configuration whose [analyzers] budgets and passwords apply.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Load rule files (after the built-in pack) and report every problem (exit 2 if any).
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Backtest a rule file on ham and spam before enabling it.
    Test {
        #[arg(long)]
        rules: PathBuf,
        #[arg(long, required = true, num_args = 1..)]
        ham: Vec<String>,
        #[arg(long, required = true, num_args = 1..)]
        spam: Vec<String>,
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Ham examples listed per rule that hits ham.
        #[arg(long, default_value_t = 3)]
        show: usize,
    },
    /// Which rules fired on each message, and on what text.
    Why {
        #[arg(required = true)]
        paths: Vec<String>,
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Extra rule files to try on top of the configuration.
        #[arg(long)]
        rules: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum BrandsCommand {
    /// Screenshot each brand folder's login.html and logo.html (DIR/<brand>/) into its
    /// reference.png and logo.png.
    Capture {
        #[arg(default_value = "crates/visual/brands")]
        dir: PathBuf,
        #[arg(long)]
        chromium: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum UrlModelCommand {
    /// Learn from host lists (one host per line); a fifth is held out and measured.
    Train {
        #[arg(long, required = true, num_args = 1..)]
        phish: Vec<PathBuf>,
        #[arg(long, required = true, num_args = 1..)]
        benign: Vec<PathBuf>,
        /// More hosts to measure on, never learned from.
        #[arg(long, num_args = 1..)]
        test_phish: Vec<PathBuf>,
        #[arg(long, num_args = 1..)]
        test_benign: Vec<PathBuf>,
        #[arg(long, short)]
        out: PathBuf,
        #[arg(long, default_value_t = 3)]
        epochs: usize,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Add a user; the password is read from standard input.
    Add {
        name: String,
        /// admin (sees everything) or user (sees mail to their addresses).
        #[arg(long, default_value = "user")]
        role: String,
        /// A mail address the user receives (repeat for several).
        #[arg(long)]
        address: Vec<String>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    List {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Set a user's password (from standard input); their sessions end.
    Passwd {
        name: String,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum QuarantineCommand {
    /// Held messages, newest first: sender, recipients, subject, score, risk, strongest
    /// symbols. Filters combine; text filters are case-insensitive substrings.
    List {
        /// Envelope sender or From address containing this.
        #[arg(long)]
        from: Option<String>,
        /// A recipient containing this.
        #[arg(long)]
        rcpt: Option<String>,
        #[arg(long)]
        subject: Option<String>,
        /// Held messages with this symbol.
        #[arg(long)]
        symbol: Option<String>,
        /// high, medium, low or grey.
        #[arg(long)]
        risk: Option<String>,
        /// Held within the last N days.
        #[arg(long)]
        days: Option<u32>,
        /// At most this many (0: all).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// One JSON object per message.
        #[arg(long)]
        json: bool,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Deliver held messages after all (the running gateway sends them within seconds).
    Release {
        #[arg(required = true)]
        ids: Vec<String>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Delete held messages for good.
    Delete {
        #[arg(required = true)]
        ids: Vec<String>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum QueueCommand {
    /// Every queued message with its recipients' states.
    List {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Make messages due now (the running gateway picks them up within a second).
    Retry {
        #[arg(required = true)]
        ids: Vec<String>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Remove messages from the queue without delivering them.
    Drop {
        #[arg(required = true)]
        ids: Vec<String>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load a configuration file and report every problem (exit 2 if any).
    Check { file: PathBuf },
    /// Share rule and configuration files (under the configuration's folder) with the site's
    /// nodes through `[shared] postgres`; nodes with `[shared] follow_files` write them and
    /// reload. The configuration must load here first.
    Push {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// The site's shared files: path, size, the node that pushed it, when.
    Files {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

/// `mailmoat … | head`: once the reader has gone, printing fails with a broken pipe. Every
/// command then ends at once with status 0, as Unix tools do, instead of panicking (the reader
/// got what it wanted). Not for `serve`, whose log going away must not stop the mail.
fn end_quietly_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// Log events go to standard error, as text: `MAILMOAT_LOG` chooses which (tracing's filter
/// syntax, e.g. `debug` or `mailmoat_gateway=debug`); by default our crates' `info` and
/// everyone else's warnings. Colours only on a terminal.
fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("MAILMOAT_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "warn,mailmoat=info,mailmoat_gateway=info,mailmoat_console=info,mailmoat_auth=info,mailmoat_pipeline=info,mailmoat_sarules=info",
        )
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging();
    if !matches!(cli.command, Command::Serve { .. }) {
        end_quietly_on_broken_pipe();
    }
    let result = match cli.command {
        Command::Scan {
            paths,
            json,
            explain,
            auth,
            config,
        } => scan(&paths, json, explain, auth, config),
        Command::Symbols { markdown } => symbols(markdown),
        Command::SaRules { command } => match command {
            SaRulesCommand::Check {
                paths,
                score_set,
                verbose,
                list,
                builtin_engine,
            } => sa_rules_cmd::check(&paths, score_set, verbose, list, builtin_engine),
            SaRulesCommand::Hits {
                paths,
                rules,
                score_set,
                builtin_engine,
            } => sa_rules_cmd::hits(&paths, &rules, score_set, builtin_engine),
        },
        Command::Yara { command } => match command {
            YaraCommand::Check { rules } => yara_cmd::check(&rules),
            YaraCommand::Scan {
                rules,
                files,
                config,
            } => yara_cmd::scan(&rules, &files, config.as_deref()),
        },
        Command::Rules { command } => match command {
            RulesCommand::Check { files, config } => rules_cmd::check(&files, config.as_deref()),
            RulesCommand::Test {
                rules,
                ham,
                spam,
                config,
                show,
            } => rules_cmd::test(&rules, &ham, &spam, config.as_deref(), show),
            RulesCommand::Why {
                paths,
                config,
                rules,
            } => rules_cmd::why(&paths, config.as_deref(), &rules),
        },
        Command::Train {
            ham,
            spam,
            output,
            epochs,
            bits,
            alpha,
            l1,
            prune,
            compression,
            fusion,
            config,
            folds,
            fusion_l2,
            tag_fpr,
            quarantine_fpr,
        } => {
            let template = Model::with_params(bits, alpha, 1.0, l1, 1.0);
            match fusion {
                Some(output_fusion) => fusion_cmd::train(
                    &ham,
                    &spam,
                    &output,
                    epochs,
                    template,
                    prune,
                    &fusion_cmd::FusionOptions {
                        output: output_fusion,
                        config,
                        folds,
                        l2: fusion_l2,
                        tag_fpr,
                        quarantine_fpr,
                        compression,
                    },
                ),
                None => classify_cmd::train(
                    &ham,
                    &spam,
                    &output,
                    epochs,
                    template,
                    prune,
                    compression.as_deref(),
                ),
            }
        }
        Command::Learn {
            model,
            compression,
            spam,
            ham: _,
            paths,
        } => classify_cmd::learn(&model, compression.as_deref(), spam, &paths),
        Command::Replay(args) => replay::run_cli(args),
        Command::Eval {
            ham,
            spam,
            model,
            fusion,
            compression,
            threshold,
            pipeline,
            config,
            json,
            scores,
        } => classify_cmd::eval(
            &ham,
            &spam,
            classify_cmd::EvalOptions {
                model,
                compression,
                fusion,
                threshold,
                pipeline,
                config,
                json,
                scores,
            },
        ),
        Command::Serve { config } => serve_cmd::serve(config),
        Command::Loadtest(options) => loadtest::run(options),
        Command::Report { id, json, config } => console_cmd::report(config.as_deref(), &id, json),
        Command::Users { command } => match command {
            UsersCommand::Add {
                name,
                role,
                address,
                config,
            } => console_cmd::users_add(config.as_deref(), &name, &role, &address),
            UsersCommand::List { config } => console_cmd::users_list(config.as_deref()),
            UsersCommand::Passwd { name, config } => {
                console_cmd::users_passwd(config.as_deref(), &name)
            }
        },
        Command::BenchConsole { events, days, dir } => console_cmd::bench(events, days, &dir),
        Command::Quarantine { command } => match command {
            QuarantineCommand::List {
                from,
                rcpt,
                subject,
                symbol,
                risk,
                days,
                limit,
                json,
                config,
            } => serve_cmd::quarantine_list(
                config.as_deref(),
                &mailmoat_gateway::quarantine::Search {
                    sender: from,
                    recipient: rcpt,
                    subject,
                    symbol,
                    risk,
                    since: days.map(|d| mailmoat_gateway::unix_now() - i64::from(d) * 86_400),
                    until: None,
                    limit,
                },
                json,
            ),
            QuarantineCommand::Release { ids, config } => {
                serve_cmd::quarantine_release(config.as_deref(), &ids)
            }
            QuarantineCommand::Delete { ids, config } => {
                serve_cmd::quarantine_delete(config.as_deref(), &ids)
            }
        },
        Command::Queue { command } => match command {
            QueueCommand::List { config } => serve_cmd::list(config.as_deref()),
            QueueCommand::Retry { ids, config } => serve_cmd::retry(config.as_deref(), &ids),
            QueueCommand::Drop { ids, config } => serve_cmd::drop_messages(config.as_deref(), &ids),
        },
        Command::Explain {
            paths,
            model,
            config,
            top,
        } => classify_cmd::explain(&paths, model, config.as_deref(), top),
        Command::Watch {
            dir,
            config,
            json,
            interval_ms,
        } => watch::run(
            &dir,
            config,
            json,
            std::time::Duration::from_millis(interval_ms),
        ),
        Command::Config {
            command: ConfigCommand::Check { file },
        } => load_scanner(Some(file.clone())).map(|_| {
            println!("{}: ok", file.display());
            ExitCode::SUCCESS
        }),
        Command::Config {
            command: ConfigCommand::Push { files, config },
        } => site_cmd::push(config.as_deref(), &files),
        Command::Config {
            command: ConfigCommand::Files { config },
        } => site_cmd::list(config.as_deref()),
        Command::Bench {
            paths,
            repeat,
            config,
        } => bench::run(config.as_deref(), &paths, repeat),
        Command::Intel { command } => match command {
            IntelCommand::Add {
                family,
                benign,
                files,
                config,
            } => intel_cmd::add(config.as_deref(), family.as_deref(), benign, &files),
            IntelCommand::List { config } => intel_cmd::list(config.as_deref()),
            IntelCommand::Query { files, config } => intel_cmd::query(config.as_deref(), &files),
            IntelCommand::Plot { file, out, config } => {
                intel_cmd::plot(config.as_deref(), &file, &out)
            }
            IntelCommand::Eval {
                seeds,
                benign,
                held_out_benign,
                variants,
                threshold,
            } => intel_cmd::eval(&seeds, &benign, &held_out_benign, variants, threshold),
            IntelCommand::Keygen { out } => intel_cmd::keygen(&out),
            IntelCommand::Pack {
                folder,
                version,
                key,
            } => intel_cmd::pack(&folder, &version, key.as_deref()),
            IntelCommand::Update { source, config } => {
                intel_cmd::update(&source, config.as_deref())
            }
            IntelCommand::Rollback { config } => intel_cmd::rollback(config.as_deref()),
            IntelCommand::Status { config } => intel_cmd::status(config.as_deref()),
        },
        Command::BenchVariants { count, queries } => intel_cmd::bench(count, queries),
        Command::UrlModel { command } => match command {
            UrlModelCommand::Train {
                phish,
                benign,
                test_phish,
                test_benign,
                out,
                epochs,
            } => url_model_cmd::train(&phish, &benign, &test_phish, &test_benign, &out, epochs),
        },
        Command::Brands { command } => match command {
            BrandsCommand::Capture { dir, chromium } => {
                visual_cmd::capture(&dir, chromium.as_deref())
            }
        },
        Command::BenchVisual { chromium, repeat } => visual_cmd::bench(chromium.as_deref(), repeat),
        Command::BenchUrls {
            paths,
            repeat,
            config,
        } => bench_urls::run(config.as_deref(), &paths, repeat),
        Command::BenchAttachments { only, repeat } => {
            bench_attachments::run(only.as_deref(), repeat)
        }
    };
    match result {
        Ok(code) => code,
        // Output written with `?` ends the same way as println!'s (see above).
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailmoat: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The whole configuration file (every section checked), or the built-in defaults.
pub(crate) fn load_settings(path: Option<&Path>) -> anyhow::Result<mailmoat_console::Settings> {
    Ok(mailmoat_console::Settings::load_or_defaults(path)?)
}

/// The scan's part of the configuration file (the whole file is read and checked).
pub(crate) fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    Ok(load_settings(path)?.serve.scan)
}

/// Reads the scan's part of the configuration file again, for a live scanner's reloads.
pub(crate) fn scan_config_loader(path: Option<PathBuf>) -> mailmoat_pipeline::ConfigLoader {
    std::sync::Arc::new(move || {
        Ok(
            mailmoat_console::Settings::load_or_defaults(path.as_deref())?
                .serve
                .scan,
        )
    })
}

pub(crate) fn load_scanner(path: Option<PathBuf>) -> anyhow::Result<Scanner> {
    Ok(Scanner::new(&load_config(path.as_deref())?)?)
}

fn symbols(markdown: bool) -> anyhow::Result<ExitCode> {
    // The built-in symbols and those of the default rule pack, as a fresh install has them.
    let scanner = Scanner::new(&Config::defaults())?;
    let table = scanner.symbols();
    let mut out = std::io::stdout().lock();
    if markdown {
        out.write_all(mailmoat_pipeline::symbols_doc::markdown(table).as_bytes())?;
    } else {
        for d in table.iter() {
            writeln!(
                out,
                "{:<32} {:<12} {:>5}  {}",
                d.name, d.group, d.score, d.description
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn scan(
    paths: &[String],
    json: bool,
    explain: bool,
    auth: bool,
    config: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let scanner = std::sync::Arc::new(load_scanner(config)?);
    let runtime = if auth {
        anyhow::ensure!(
            scanner.auth().is_some(),
            "--auth: the configuration disables [auth]"
        );
        Some(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        )
    } else {
        None
    };
    let (inputs, errors) = sources::expand(paths);
    let mut io_error = false;
    for (path, e) in &errors {
        eprintln!("mailmoat: {path}: {e}");
        io_error = true;
    }
    let has_folder = paths.iter().any(|p| std::path::Path::new(p).is_dir());
    let progress = if has_folder && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(inputs.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} files {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut any_not_delivered = false;
    for input in &inputs {
        if let Some(bar) = &progress {
            bar.inc(1);
        }
        let items = match sources::read(input) {
            Ok(items) => items,
            Err(e) => {
                let msg = format!("mailmoat: {}: {e}", input.label());
                match &progress {
                    Some(bar) => bar.println(msg),
                    None => eprintln!("{msg}"),
                }
                io_error = true;
                continue;
            }
        };
        for item in items {
            let report = match &runtime {
                Some(rt) => rt.block_on(scanner.scan_authenticated(item.raw, item.envelope)),
                None => scanner.scan(item.raw, item.envelope),
            };
            if report.verdict.action != Action::Deliver {
                any_not_delivered = true;
            }
            let written = if json {
                serde_json::to_writer(&mut out, &report.to_json(&item.label))
                    .map_err(std::io::Error::from)
                    .and_then(|_| writeln!(out))
            } else {
                write_line(&mut out, &item.label, &report, explain)
            };
            if let Err(e) = written {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(ExitCode::from(2));
                }
                return Err(e).context("writing results");
            }
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    out.flush().ok();
    Ok(if io_error {
        ExitCode::from(2)
    } else if any_not_delivered {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn write_line(
    out: &mut impl Write,
    label: &str,
    report: &Report,
    explain: bool,
) -> std::io::Result<()> {
    let v = &report.verdict;
    let top: Vec<String> = v
        .reasons
        .iter()
        .filter(|r| r.score != 0.0 || r.forced.is_some())
        .take(5)
        .map(|r| format!("{}({:.1})", r.symbol, r.score))
        .collect();
    writeln!(
        out,
        "{label}\t{}\t{}\t{:.2}\t{}",
        v.action,
        v.risk,
        v.score,
        top.join(" ")
    )?;
    if explain {
        if let Some(forced) = &v.forced_by {
            writeln!(out, "    forced by {forced}")?;
        }
        for r in &v.reasons {
            let forced = r.forced.map(|a| format!(" forces {a}")).unwrap_or_default();
            writeln!(
                out,
                "    {:<32} {:>6.2}  [{}]{forced}",
                r.symbol, r.score, r.group
            )?;
            for hit in &r.hits {
                let strength = if hit.strength < 1.0 {
                    format!(" (strength {:.2})", hit.strength)
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "        at {}: {}{strength}",
                    hit.location, hit.details
                )?;
            }
        }
        if !v.capped_groups.is_empty() {
            writeln!(out, "    capped groups: {}", v.capped_groups.join(", "))?;
        }
    }
    Ok(())
}
