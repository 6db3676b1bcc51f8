//! The message log: the report of every scanned message (delivered, tagged, quarantined or
//! rejected) and the statistics the console draws, in one embedded SQLite database
//! (`events.sqlite`).
//!
//! Statistics are kept as they arrive in small roll-up tables (messages per hour and detection
//! type, symbols per hour, senders/domains/recipients per day), in the same transaction as the
//! report, so the dashboard reads a few thousand rows whatever the number of messages: counting
//! a million reports on every page view would take seconds.
//!
//! Writes do not wait for durability (the 250 reply never waits for the log): a crash can lose
//! the last moments of statistics, never a message.
//!
//! With `[shared] postgres` every entry is also copied to the site's log (`shared` column),
//! where the console of any node reads the whole site's messages and statistics; while
//! PostgreSQL is unreachable it reads this node's own log, and the copy catches up later.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use mailmoat_pipeline::ScanReport;
use mailmoat_shared::{LogEvent, LogRow, PgError, SharedLog};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::db::{self, Writer};

/// Detection types, as the dashboard shows them.
pub const CATEGORIES: [&str; 7] = [
    "clean",
    "spam",
    "phishing",
    "malware",
    "impersonation",
    "policy",
    "signature",
];

/// One scanned message as the log lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub id: String,
    pub received_at: i64,
    pub action: String,
    pub risk: String,
    pub score: f64,
    pub category: String,
    pub mail_from: String,
    /// The From header's address.
    pub from: String,
    pub subject: String,
    pub recipients: Vec<String>,
    /// Strongest first.
    pub symbols: Vec<String>,
}

impl Event {
    /// The log entry for a report and its envelope.
    pub fn from_report(
        id: &str,
        received_at: i64,
        mail_from: &str,
        recipients: &[String],
        report: &ScanReport,
    ) -> Event {
        Event {
            id: id.to_string(),
            received_at,
            action: report.action.to_string(),
            risk: report.risk.to_string(),
            score: report.score,
            category: report.detection_name().to_string(),
            mail_from: mail_from.to_string(),
            from: report.from_address().unwrap_or("").to_string(),
            subject: report.message.subject.clone().unwrap_or_default(),
            recipients: recipients.to_vec(),
            symbols: report
                .symbols_strongest_first()
                .into_iter()
                .map(|s| s.0.to_string())
                .collect(),
        }
    }
}

/// What to list; every field given must match (text: case-insensitive substring).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub subject: Option<String>,
    pub symbol: Option<String>,
    pub risk: Option<String>,
    pub action: Option<String>,
    pub category: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// At most this many, newest first (0: 100).
    pub limit: usize,
}

/// Messages per bucket (hour or day) and detection type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    /// Unix time of the bucket's start.
    pub start: i64,
    pub category: String,
    pub messages: u64,
}

/// A configuration change (rules or policy reloaded), for before/after comparisons.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub id: i64,
    pub at: i64,
    pub what: String,
}

pub struct Events {
    conn: Mutex<Connection>,
    writer: Writer,
    /// The site's log (`[shared] postgres`).
    shared: Option<Arc<SharedLog>>,
}

fn db_error(e: rusqlite::Error) -> io::Error {
    db::db_error("events", e)
}

/// The domain of an address, lower-cased ("" when it has none).
fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>').to_ascii_lowercase())
        .unwrap_or_default()
}

impl Events {
    pub fn open(dir: &Path) -> io::Result<Events> {
        fs::create_dir_all(dir)?;
        let path = dir.join("events.sqlite");
        let conn = db::connect(&path, "events")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS events (
                id TEXT PRIMARY KEY,
                received_at INTEGER NOT NULL,
                action TEXT NOT NULL,
                risk TEXT NOT NULL,
                score REAL NOT NULL,
                category TEXT NOT NULL,
                mail_from TEXT NOT NULL,
                from_header TEXT NOT NULL,
                subject TEXT NOT NULL,
                recipients TEXT NOT NULL,
                symbols TEXT NOT NULL
            );
            -- Reports apart from the searched columns: a search scans narrow rows, not
            -- kilobytes of JSON per message.
            CREATE TABLE IF NOT EXISTS reports (
                id TEXT PRIMARY KEY,
                report TEXT NOT NULL,
                message BLOB
            );
            CREATE INDEX IF NOT EXISTS events_by_time ON events(received_at);
            CREATE TABLE IF NOT EXISTS hourly (
                hour INTEGER NOT NULL, category TEXT NOT NULL, n INTEGER NOT NULL,
                PRIMARY KEY (hour, category)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS hourly_symbols (
                hour INTEGER NOT NULL, symbol TEXT NOT NULL, n INTEGER NOT NULL,
                PRIMARY KEY (symbol, hour)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS daily_top (
                day INTEGER NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, n INTEGER NOT NULL,
                PRIMARY KEY (kind, day, key)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS changes (
                id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, what TEXT NOT NULL);",
        )
        .map_err(db_error)?;
        // Whether the site's log has the entry (logs made before nodes shared one lack it).
        let has_shared: bool = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('events') WHERE name = 'shared'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(db_error)?
            > 0;
        if !has_shared {
            // Entries logged before sharing began count as copied: the site's statistics
            // start when the node joins it.
            conn.execute_batch(
                "ALTER TABLE events ADD COLUMN shared INTEGER NOT NULL DEFAULT 1;
                 CREATE INDEX IF NOT EXISTS events_not_shared ON events(received_at) WHERE shared = 0;",
            )
            .map_err(db_error)?;
        }
        // The log is not where mail is kept (spool and quarantine are): a commit need not wait
        // for the disk. WAL with NORMAL survives a crash of the process; a power cut may lose
        // the last moments of the log, never a message.
        let writes = db::connect(&path, "events")?;
        writes
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_error)?;
        let writer = Writer::start(writes, db::connect(&path, "events")?, "events")?;
        Ok(Events {
            conn: Mutex::new(conn),
            writer,
            shared: None,
        })
    }

    /// Copies every entry logged from now on to the site's log as well.
    pub fn share(&mut self, site: Arc<SharedLog>) {
        self.shared = Some(site);
    }

    /// What the site's log answers; `None` when there is none or it is unreachable, and the
    /// caller reads this node's own log.
    fn ask_site<T>(
        &self,
        ask: impl FnOnce(&SharedLog) -> Result<T, PgError>,
    ) -> io::Result<Option<T>> {
        let Some(site) = self.shared.as_deref().filter(|s| s.is_up()) else {
            return Ok(None);
        };
        match ask(site) {
            Ok(answer) => Ok(Some(answer)),
            Err(PgError::Down(_)) => Ok(None),
            Err(e) => Err(crate::quarantine::shared_error(e)),
        }
    }

    /// Copies up to `batch` entries not yet in the site's log into it; returns how many. While
    /// PostgreSQL is down they wait here and go when it is back.
    pub fn copy_to_shared(&self, batch: usize) -> io::Result<usize> {
        let Some(site) = &self.shared else {
            return Ok(0);
        };
        let rows: Vec<LogRow> = {
            let conn = self.lock();
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS}, r.report, r.message FROM events e LEFT JOIN reports r USING (id)
                     WHERE e.shared = 0 ORDER BY e.received_at LIMIT ?1"
                ))
                .map_err(db_error)?;
            let rows = stmt
                .query_map(params![batch as i64], |r| {
                    let event = row_to_event(r)?;
                    Ok(LogRow {
                        top: top_keys(&event),
                        event: log_event_of(&event),
                        report: r.get::<_, Option<String>>(11)?.unwrap_or_default(),
                        message: r.get(12)?,
                    })
                })
                .map_err(db_error)?;
            rows.collect::<Result<_, _>>().map_err(db_error)?
        };
        if rows.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = rows.iter().map(|r| r.event.id.clone()).collect();
        site.copy_in(rows)
            .map_err(crate::quarantine::shared_error)?;
        let copied = ids.len();
        self.writer.write(move |c| {
            let mut mark = c.prepare_cached("UPDATE events SET shared = 1 WHERE id = ?1")?;
            for id in &ids {
                mark.execute(params![id])?;
            }
            Ok(())
        })?;
        Ok(copied)
    }

    /// Entries logged here and not yet in the site's log.
    pub fn waiting_to_share(&self) -> io::Result<u64> {
        if self.shared.is_none() {
            return Ok(0);
        }
        self.lock()
            .query_row("SELECT COUNT(*) FROM events WHERE shared = 0", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(db_error)
    }

    /// Logs a scanned message and counts it, without waiting for the write. `message`: the
    /// message itself, kept for messages refused at the end of DATA (so the report can show
    /// what was in them; held messages are in the quarantine, delivered ones downstream). The
    /// report is serialised on the writer's thread, which may run at a lower priority: no
    /// sender waits for the log.
    pub fn record(
        &self,
        event: Event,
        report: ScanReport,
        message: Option<Vec<u8>>,
    ) -> io::Result<()> {
        let to_share = self.shared.is_some();
        self.writer.write_later(move |c| {
            let report = serde_json::to_string(&report)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            insert(c, &event, &report, message.as_deref(), to_share)
        })
    }

    /// Runs the writer's thread `nice` steps lower: the log is written with the CPU that
    /// receiving and scanning leave over.
    pub fn lower_writer_priority(&self, nice: i32) {
        let _ = self.writer.write_later(move |_| {
            crate::lower_thread_priority(nice);
            Ok(())
        });
    }

    /// A refused message as received, when it was kept.
    pub fn message(&self, id: &str) -> io::Result<Option<Vec<u8>>> {
        if let Some(Some(m)) = self.ask_site(|s| s.message(id))? {
            return Ok(Some(m));
        }
        let conn = self.lock();
        conn.query_row(
            "SELECT message FROM reports WHERE id = ?1",
            params![id],
            |r| r.get::<_, Option<Vec<u8>>>(0),
        )
        .optional()
        .map(Option::flatten)
        .map_err(db_error)
    }

    /// Logs many messages in one transaction and waits for it (imports and benchmarks).
    pub fn record_all(&self, events: Vec<(Event, String)>) -> io::Result<()> {
        let to_share = self.shared.is_some();
        self.writer.write(move |c| {
            for (event, report) in &events {
                insert(c, event, report, None, to_share)?;
            }
            Ok(())
        })
    }

    /// Waits until every write queued before this call is committed.
    pub fn flush(&self) -> io::Result<()> {
        self.writer.write(|_| Ok(()))
    }

    /// Notes a configuration change (rules or policy reloaded, a list edited) at `at`.
    pub fn record_change(&self, at: i64, what: &str) -> io::Result<()> {
        if let Some(site) = &self.shared {
            // The site's list is what consoles show; this node's own keeps it too, for the
            // times PostgreSQL is unreachable.
            if let Err(e) = site.record_change(at, what) {
                tracing::warn!(error = %e, %what, "configuration change not noted in the shared log");
            }
        }
        let what = what.to_string();
        self.writer.write(move |c| {
            c.execute(
                "INSERT INTO changes (at, what) VALUES (?1, ?2)",
                params![at, what],
            )
            .map(drop)
        })
    }

    /// Changes, newest first.
    pub fn changes(&self, limit: usize) -> io::Result<Vec<Change>> {
        if let Some(found) = self.ask_site(|s| s.changes(limit))? {
            return Ok(found.into_iter().map(change_of).collect());
        }
        let conn = self.lock();
        let mut stmt = conn
            .prepare("SELECT id, at, what FROM changes ORDER BY at DESC, id DESC LIMIT ?1")
            .map_err(db_error)?;
        let rows = stmt
            .query_map(params![limit as i64], |r| {
                Ok(Change {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    what: r.get(2)?,
                })
            })
            .map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)
    }

    pub fn change(&self, id: i64) -> io::Result<Option<Change>> {
        if let Some(found) = self.ask_site(|s| s.change(id))? {
            return Ok(found.map(change_of));
        }
        let conn = self.lock();
        conn.query_row(
            "SELECT id, at, what FROM changes WHERE id = ?1",
            params![id],
            |r| {
                Ok(Change {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    what: r.get(2)?,
                })
            },
        )
        .optional()
        .map_err(db_error)
    }

    /// A logged message's full report.
    pub fn report(&self, id: &str) -> io::Result<Option<ScanReport>> {
        let mut text = self.ask_site(|s| s.report(id))?.flatten();
        if text.is_none() {
            text = db::column_by_id(&self.conn, "events", "reports", "report", id)?;
        }
        text.map(|t| {
            serde_json::from_str(&t)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{id}: {e}")))
        })
        .transpose()
    }

    /// One logged message's entry.
    pub fn get(&self, id: &str) -> io::Result<Option<Event>> {
        if let Some(Some(e)) = self.ask_site(|s| s.get(id))? {
            return Ok(Some(event_of(e)));
        }
        let conn = self.lock();
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM events WHERE id = ?1"),
            params![id],
            row_to_event,
        )
        .optional()
        .map_err(db_error)
    }

    /// Logged messages matching every criterion, newest first.
    pub fn search(&self, f: &EventFilter) -> io::Result<Vec<Event>> {
        let mut c = db::Criteria::default();
        c.contains("mail_from || ' ' || from_header", f.sender.as_deref());
        c.contains("recipients", f.recipient.as_deref());
        c.contains("subject", f.subject.as_deref());
        c.has_word("symbols", f.symbol.as_deref());
        c.equals("risk", f.risk.as_deref());
        c.equals("action", f.action.as_deref());
        c.equals("category", f.category.as_deref());
        c.between("received_at", f.since, f.until);
        let limit = if f.limit == 0 { 100 } else { f.limit };
        let (condition, params) = c.for_postgres();
        let shared = self.ask_site(|s| s.search(&condition, params, limit))?;
        // With the site's log: it, and what this node logged and has not copied in yet.
        let local_filter = if shared.is_some() {
            " AND shared = 0"
        } else {
            ""
        };
        let (mut sql, args) = (
            format!(
                "SELECT {COLUMNS} FROM events WHERE 1=1{}{local_filter}",
                c.sql
            ),
            c.args,
        );
        sql.push_str(&format!(
            " ORDER BY received_at DESC, id DESC LIMIT {limit}"
        ));
        let conn = self.lock();
        let mut stmt = conn.prepare(&sql).map_err(db_error)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), row_to_event)
            .map_err(db_error)?;
        let found: Vec<Event> = rows.collect::<Result<_, _>>().map_err(db_error)?;
        Ok(match shared {
            Some(site_rows) => db::merge_newest_first(
                found,
                site_rows.into_iter().map(event_of).collect(),
                |e| (e.received_at, e.id.as_str()),
                limit,
            ),
            None => found,
        })
    }

    /// Messages per bucket of `bucket_secs` (3600 or 86400) and type, in [since, until).
    pub fn buckets(&self, since: i64, until: i64, bucket_secs: i64) -> io::Result<Vec<Bucket>> {
        if let Some(found) = self.ask_site(|s| s.buckets(since, until, bucket_secs))? {
            return Ok(found
                .into_iter()
                .map(|(start, category, n)| Bucket {
                    start,
                    category,
                    messages: n as u64,
                })
                .collect());
        }
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT (hour / ?3) * ?3 AS b, category, SUM(n) FROM hourly
                 WHERE hour >= ?1 AND hour < ?2 GROUP BY b, category ORDER BY b",
            )
            .map_err(db_error)?;
        let rows = stmt
            .query_map(params![since, until, bucket_secs], |r| {
                Ok(Bucket {
                    start: r.get(0)?,
                    category: r.get(1)?,
                    messages: r.get::<_, i64>(2)? as u64,
                })
            })
            .map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)
    }

    /// The most frequent keys of a kind ("sender", "sender_domain", "recipient") among
    /// detected messages (those not delivered untouched) since `since`.
    pub fn top(&self, kind: &str, since: i64, limit: usize) -> io::Result<Vec<(String, u64)>> {
        if let Some(found) = self.ask_site(|s| s.top(kind, since, limit))? {
            return Ok(found.into_iter().map(|(k, n)| (k, n as u64)).collect());
        }
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT key, SUM(n) AS total FROM daily_top WHERE kind = ?1 AND day >= ?2
                 GROUP BY key ORDER BY total DESC, key LIMIT ?3",
            )
            .map_err(db_error)?;
        let rows = stmt
            .query_map(
                params![kind, since - since.rem_euclid(86400), limit as i64],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)
    }

    /// How often a symbol fired (or, for "", how many messages were detected) per bucket in
    /// [since, until).
    pub fn symbol_buckets(
        &self,
        symbol: &str,
        since: i64,
        until: i64,
        bucket_secs: i64,
    ) -> io::Result<Vec<(i64, u64)>> {
        if let Some(found) =
            self.ask_site(|s| s.symbol_buckets(symbol, since, until, bucket_secs))?
        {
            return Ok(found.into_iter().map(|(b, n)| (b, n as u64)).collect());
        }
        let conn = self.lock();
        let (sql, key) = if symbol.is_empty() {
            (
                "SELECT (hour / ?3) * ?3 AS b, SUM(n) FROM hourly
                 WHERE hour >= ?1 AND hour < ?2 AND category <> ?4 GROUP BY b ORDER BY b",
                "clean",
            )
        } else {
            (
                "SELECT (hour / ?3) * ?3 AS b, SUM(n) FROM hourly_symbols
                 WHERE hour >= ?1 AND hour < ?2 AND symbol = ?4 GROUP BY b ORDER BY b",
                symbol,
            )
        };
        let mut stmt = conn.prepare_cached(sql).map_err(db_error)?;
        let rows = stmt
            .query_map(params![since, until, bucket_secs, key], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)
    }

    /// Messages logged in all.
    pub fn count(&self) -> io::Result<u64> {
        if let Some(n) = self.ask_site(|s| s.count())? {
            return Ok(n);
        }
        let conn = self.lock();
        conn.query_row("SELECT COALESCE(SUM(n), 0) FROM hourly", [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|n| n as u64)
        .map_err(db_error)
    }

    /// Removes reports received before `before` (the statistics stay); returns how many.
    pub fn prune(&self, before: i64) -> io::Result<usize> {
        // Every node prunes the site's log by the same rule: whichever runs first does it.
        if let Err(e) = self.ask_site(|s| s.prune(before)) {
            tracing::warn!(error = %e, "the shared message log was not pruned this time");
        }
        let conn = self.lock();
        conn.execute(
            "DELETE FROM reports WHERE id IN (SELECT id FROM events WHERE received_at < ?1)",
            params![before],
        )
        .map_err(db_error)?;
        conn.execute("DELETE FROM events WHERE received_at < ?1", params![before])
            .map_err(db_error)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn insert(
    c: &Connection,
    e: &Event,
    report: &str,
    message: Option<&[u8]>,
    to_share: bool,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT OR REPLACE INTO events
         (id, received_at, action, risk, score, category, mail_from, from_header, subject, recipients, symbols, shared)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        e.id,
        e.received_at,
        e.action,
        e.risk,
        e.score,
        e.category,
        e.mail_from,
        e.from,
        e.subject,
        e.recipients.join("\n"),
        e.symbols.join(" "),
        // 0: still to copy to the site's log; 1: copied, or not shared.
        i64::from(!to_share),
    ])?;
    c.prepare_cached("INSERT OR REPLACE INTO reports (id, report, message) VALUES (?1, ?2, ?3)")?
        .execute(params![e.id, report, message])?;
    let hour = e.received_at - e.received_at.rem_euclid(3600);
    let day = e.received_at - e.received_at.rem_euclid(86400);
    c.prepare_cached(
        "INSERT INTO hourly (hour, category, n) VALUES (?1, ?2, 1)
         ON CONFLICT (hour, category) DO UPDATE SET n = n + 1",
    )?
    .execute(params![hour, e.category])?;
    let mut symbol = c.prepare_cached(
        "INSERT INTO hourly_symbols (hour, symbol, n) VALUES (?1, ?2, 1)
         ON CONFLICT (symbol, hour) DO UPDATE SET n = n + 1",
    )?;
    for s in &e.symbols {
        symbol.execute(params![hour, s])?;
    }
    let top = top_keys(e);
    if !top.is_empty() {
        let mut count = c.prepare_cached(
            "INSERT INTO daily_top (day, kind, key, n) VALUES (?1, ?2, ?3, 1)
             ON CONFLICT (kind, day, key) DO UPDATE SET n = n + 1",
        )?;
        for (kind, key) in &top {
            count.execute(params![day, kind, key])?;
        }
    }
    Ok(())
}

/// The per-day "top" keys a logged message counts for: detected messages only, by sender
/// (the From address, else the envelope's), its domain, and each recipient.
fn top_keys(e: &Event) -> Vec<(String, String)> {
    let mut keys = Vec::new();
    if e.category == "clean" {
        return keys;
    }
    let sender = if e.from.is_empty() {
        e.mail_from.to_ascii_lowercase()
    } else {
        e.from.to_ascii_lowercase()
    };
    if !sender.is_empty() {
        keys.push(("sender_domain".to_string(), domain_of(&sender)));
        keys.push(("sender".to_string(), sender));
    }
    for r in &e.recipients {
        keys.push(("recipient".to_string(), r.to_ascii_lowercase()));
    }
    keys
}

fn log_event_of(e: &Event) -> LogEvent {
    LogEvent {
        id: e.id.clone(),
        received_at: e.received_at,
        action: e.action.clone(),
        risk: e.risk.clone(),
        score: e.score,
        category: e.category.clone(),
        mail_from: e.mail_from.clone(),
        from_header: e.from.clone(),
        subject: e.subject.clone(),
        recipients: e.recipients.join("\n"),
        symbols: e.symbols.join(" "),
    }
}

fn event_of(e: LogEvent) -> Event {
    Event {
        id: e.id,
        received_at: e.received_at,
        action: e.action,
        risk: e.risk,
        score: e.score,
        category: e.category,
        mail_from: e.mail_from,
        from: e.from_header,
        subject: e.subject,
        recipients: e
            .recipients
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        symbols: e.symbols.split_whitespace().map(str::to_string).collect(),
    }
}

fn change_of(c: mailmoat_shared::LogChange) -> Change {
    Change {
        id: c.id,
        at: c.at,
        what: format!("{} (node {})", c.what, c.node),
    }
}

const COLUMNS: &str = "id, received_at, action, risk, score, category, mail_from, from_header, subject, recipients, symbols";

fn row_to_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    let recipients: String = r.get(9)?;
    let symbols: String = r.get(10)?;
    Ok(Event {
        id: r.get(0)?,
        received_at: r.get(1)?,
        action: r.get(2)?,
        risk: r.get(3)?,
        score: r.get(4)?,
        category: r.get(5)?,
        mail_from: r.get(6)?,
        from: r.get(7)?,
        subject: r.get(8)?,
        recipients: recipients
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        symbols: symbols.split_whitespace().map(str::to_string).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(action: &str, symbols: &[(&str, &str, f64)]) -> ScanReport {
        let mut map = serde_json::Map::new();
        for (s, group, score) in symbols {
            map.insert(s.to_string(), json!({ "score": score, "group": group }));
        }
        serde_json::from_value(json!({
            "action": action, "risk": "medium", "score": 9.0, "symbols": map,
            "message": { "subject": "Hello", "from": [{ "address": "A@Phish.example" }] }
        }))
        .unwrap()
    }

    #[test]
    fn regression_a_symbol_of_an_unknown_group_is_not_taken_for_spam() {
        // Before categories were declared with symbols, a group the table did not know counted
        // as spam, so a sender exception could deliver, say, a local antivirus rule's hit.
        let symbol = |v| serde_json::from_value::<mailmoat_pipeline::SymbolReport>(v).unwrap();
        assert_eq!(
            symbol(json!({"score": 6.0, "group": "av"})).evidence_category(),
            None
        );
        assert_eq!(
            symbol(json!({"score": 6.0, "group": "av", "category": "malware"})).evidence_category(),
            Some(mailmoat_core::Category::Malware)
        );
        assert_eq!(
            symbol(json!({"score": 6.0, "group": "documents"})).evidence_category(),
            Some(mailmoat_core::Category::Malware),
            "reports stored before keep their meaning"
        );
    }

    #[test]
    fn categories_follow_the_strongest_group_or_the_forcing_symbol() {
        let category = |r: &ScanReport| r.detection_name();
        assert_eq!(
            category(&report("deliver", &[("X", "headers", 1.0)])),
            "clean"
        );
        assert_eq!(
            category(&report(
                "quarantine",
                &[
                    ("CLASSIFIER_SPAM", "classifier", 5.0),
                    ("PE_PACKED", "malware", 6.0)
                ]
            )),
            "malware"
        );
        let mut forced = report(
            "reject",
            &[
                ("CLASSIFIER_SPAM", "classifier", 9.0),
                ("DENY_SENDER", "lists", 1.0),
            ],
        );
        forced.forced_by = Some("DENY_SENDER".into());
        assert_eq!(category(&forced), "policy");
        assert_eq!(category(&report("tag", &[])), "spam");
    }

    #[test]
    fn logs_counts_and_searches() {
        let dir = std::env::temp_dir().join(format!("mm-events-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let events = Events::open(&dir).unwrap();
        let r1 = report("quarantine", &[("PHISH_FORM", "phishing", 8.0)]);
        let r2 = report("deliver", &[]);
        let rcpt = vec!["bob@corp.example".to_string()];
        events
            .record(
                Event::from_report("M1", 7200 + 5, "x@phish.example", &rcpt, &r1),
                r1.clone(),
                Some(b"raw".to_vec()),
            )
            .unwrap();
        events
            .record(
                Event::from_report("M2", 7200 + 70, "y@ok.example", &rcpt, &r2),
                r2.clone(),
                None,
            )
            .unwrap();
        events
            .record(
                Event::from_report("M3", 86400 + 1, "x@phish.example", &rcpt, &r1),
                r1.clone(),
                None,
            )
            .unwrap();
        events.flush().unwrap();
        assert_eq!(events.count().unwrap(), 3);
        let hours = events.buckets(0, 2 * 86400, 3600).unwrap();
        assert!(hours.contains(&Bucket {
            start: 7200,
            category: "phishing".into(),
            messages: 1
        }));
        assert!(hours.contains(&Bucket {
            start: 7200,
            category: "clean".into(),
            messages: 1
        }));
        let days = events.buckets(0, 2 * 86400, 86400).unwrap();
        assert!(days.contains(&Bucket {
            start: 86400,
            category: "phishing".into(),
            messages: 1
        }));
        assert_eq!(
            events.top("sender_domain", 0, 5).unwrap(),
            vec![("phish.example".to_string(), 2)],
            "only detected mail counts, by the From address"
        );
        assert_eq!(
            events
                .symbol_buckets("PHISH_FORM", 0, 2 * 86400, 86400)
                .unwrap(),
            vec![(0, 1), (86400, 1)]
        );
        assert_eq!(
            events.symbol_buckets("", 0, 2 * 86400, 86400).unwrap(),
            vec![(0, 1), (86400, 1)]
        );
        let found = events
            .search(&EventFilter {
                category: Some("Phishing".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            found.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["M3", "M1"]
        );
        assert_eq!(
            events.report("M2").unwrap().unwrap().action,
            mailmoat_core::Action::Deliver
        );
        assert!(events.report("nope").unwrap().is_none());
        assert_eq!(events.message("M1").unwrap().as_deref(), Some(&b"raw"[..]));
        assert_eq!(events.message("M2").unwrap(), None);
        events.record_change(7300, "rules reloaded").unwrap();
        assert_eq!(events.changes(10).unwrap()[0].what, "rules reloaded");
        assert_eq!(events.prune(86400).unwrap(), 2);
        assert_eq!(events.count().unwrap(), 3, "statistics outlive reports");
        let _ = fs::remove_dir_all(&dir);
    }
}
