//! Quarantine: held messages in one embedded SQLite database (`quarantine.sqlite`): the message
//! as received, its envelope and full report, and the columns people search by (sender,
//! recipients, subject, symbols, risk, time). A store returns once its transaction is durable
//! (WAL, synchronous=FULL), which is before the 250 reply; stores arriving together share one
//! transaction and one fsync (group commit), and no file is created per message (creating
//! files was what a busy quarantine spent its time on).

use std::fs;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use mailmoat_pipeline::ScanReport;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use mailmoat_shared::{HeldIndex, HeldRow, PgError, PgLink, SharedQuarantine};

use crate::db::{self, Writer};
use crate::spool::{QueueEntry, Spool};

pub struct Quarantine {
    /// Reads, releases and deletes.
    conn: Mutex<Connection>,
    /// Stores go to the writer thread (group commit).
    writer: Writer,
    /// With `[shared] postgres`: the site's quarantine, and this node's name in it. Messages
    /// are held here first and copied in (`synced`); reads, releases and deletes go there.
    shared: Option<(Arc<SharedQuarantine>, String)>,
}

/// One held message as listed: what the index knows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Held {
    pub id: String,
    pub received_at: i64,
    pub mail_from: String,
    pub recipients: Vec<String>,
    /// The From header's address.
    pub from: String,
    pub subject: String,
    pub action: String,
    pub risk: String,
    pub score: f64,
    /// Strongest first.
    pub symbols: Vec<String>,
    pub size: u64,
}

/// What to look for; every field given must match (text fields: case-insensitive substring;
/// symbol: exact name; times: Unix seconds).
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub subject: Option<String>,
    pub symbol: Option<String>,
    pub risk: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// At most this many, newest first (0: no limit).
    pub limit: usize,
}

fn db_error(e: rusqlite::Error) -> io::Error {
    db::db_error("quarantine", e)
}

fn connect(path: &Path) -> io::Result<Connection> {
    db::connect(path, "quarantine")
}

impl Quarantine {
    /// Opens (or creates) the quarantine database in `dir` and starts its writer.
    pub fn open(dir: &Path) -> io::Result<Quarantine> {
        fs::create_dir_all(dir)?;
        let path = dir.join("quarantine.sqlite");
        let conn = connect(&path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS held (
                id TEXT PRIMARY KEY,
                received_at INTEGER NOT NULL,
                mail_from TEXT NOT NULL,
                recipients TEXT NOT NULL,
                from_header TEXT NOT NULL,
                subject TEXT NOT NULL,
                action TEXT NOT NULL,
                risk TEXT NOT NULL,
                score REAL NOT NULL,
                symbols TEXT NOT NULL,
                size INTEGER NOT NULL,
                meta TEXT NOT NULL,
                message BLOB NOT NULL
            );
            CREATE INDEX IF NOT EXISTS held_by_time ON held(received_at);",
        )
        .map_err(db_error)?;
        // Whether the shared quarantine has this version of the row (quarantines made before
        // nodes shared one lack the column).
        let has_synced: bool = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('held') WHERE name = 'synced'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(db_error)?
            > 0;
        if !has_synced {
            conn.execute_batch("ALTER TABLE held ADD COLUMN synced INTEGER NOT NULL DEFAULT 0")
                .map_err(db_error)?;
        }
        let writer = Writer::start(connect(&path)?, connect(&path)?, "quarantine")?;
        Ok(Quarantine {
            conn: Mutex::new(conn),
            writer,
            shared: None,
        })
    }

    /// Shares this quarantine with the site's other nodes through `site` (PostgreSQL), as
    /// node `node`.
    pub fn share(&mut self, site: Arc<SharedQuarantine>, node: String) {
        self.shared = Some((site, node));
    }

    fn site(&self) -> Option<&SharedQuarantine> {
        self.shared.as_ref().map(|(s, _)| s.as_ref())
    }

    /// The site's PostgreSQL, when this quarantine is shared: the other shared stores use the
    /// same connection.
    pub fn shared_postgres(&self) -> Option<Arc<PgLink>> {
        self.site().map(|s| s.link().clone())
    }

    /// Copies messages held here and not yet in the shared quarantine into it; returns how
    /// many. While PostgreSQL is down they wait here (durable) and go when it is back.
    pub fn copy_to_shared(&self) -> io::Result<usize> {
        let Some((site, node)) = &self.shared else {
            return Ok(0);
        };
        let rows: Vec<(i64, HeldRow)> = {
            let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT rowid, meta, message, {COLUMNS} FROM held WHERE synced = 0 LIMIT 64"
                ))
                .map_err(db_error)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        HeldRow {
                            node: node.clone(),
                            meta: r.get(1)?,
                            message: r.get(2)?,
                            index: index_at(r, 3)?,
                        },
                    ))
                })
                .map_err(db_error)?;
            rows.collect::<Result<_, _>>().map_err(db_error)?
        };
        if rows.is_empty() {
            return Ok(0);
        }
        let versions: Vec<(String, i64)> = rows
            .iter()
            .map(|(rowid, r)| (r.index.id.clone(), *rowid))
            .collect();
        site.copy_in(rows.into_iter().map(|(_, r)| r).collect())
            .map_err(shared_error)?;
        let copied = versions.len();
        // One transaction through the writer (group commit): an fsync per row here held up the
        // stores that SMTP replies wait for. Only the version copied is marked: a partial
        // release that stored a newer one meanwhile is copied next time.
        self.writer.write(move |c| {
            let mut mark =
                c.prepare_cached("UPDATE held SET synced = 1 WHERE id = ?1 AND rowid = ?2")?;
            for (id, rowid) in &versions {
                mark.execute(params![id, rowid])?;
            }
            Ok(())
        })?;
        Ok(copied)
    }

    /// Forgets local copies of messages released or deleted on another node; returns how many.
    pub fn forget_gone_from_shared(&self) -> io::Result<usize> {
        let Some(site) = self.site() else {
            return Ok(0);
        };
        let ids: Vec<String> = {
            let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
            let mut stmt = conn
                .prepare_cached("SELECT id FROM held WHERE synced = 1")
                .map_err(db_error)?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(db_error)?;
            rows.collect::<Result<_, _>>().map_err(db_error)?
        };
        let mut forgotten = 0;
        for chunk in ids.chunks(500) {
            let held = site.still_held(chunk.to_vec()).map_err(shared_error)?;
            let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
            for id in chunk.iter().filter(|id| !held.contains(*id)) {
                forgotten += conn
                    .execute("DELETE FROM held WHERE id = ?1 AND synced = 1", params![id])
                    .map_err(db_error)?;
            }
        }
        Ok(forgotten)
    }

    /// Messages held here and not yet copied to the shared quarantine.
    pub fn waiting_to_share(&self) -> io::Result<u64> {
        if self.shared.is_none() {
            return Ok(0);
        }
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        conn.query_row("SELECT COUNT(*) FROM held WHERE synced = 0", [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|n| n as u64)
        .map_err(db_error)
    }

    /// Whether the shared quarantine answered last time (`None`: not shared).
    pub fn shared_is_up(&self) -> Option<bool> {
        self.site().map(|s| s.link().is_up())
    }

    /// Whether this node holds `id` and has not copied it to the shared quarantine yet.
    fn held_here_only(&self, id: &str) -> io::Result<bool> {
        let synced: Option<i64> = self.one(id, "synced")?;
        Ok(synced == Some(0))
    }

    /// Holds a message; returns once it is durable (the caller then replies 250).
    pub fn store(&self, entry: &QueueEntry, message: &[u8], report: &ScanReport) -> io::Result<()> {
        let meta = serde_json::to_vec(&StoredMeta { entry, report }).map_err(io::Error::other)?;
        let held = held_from(entry, report, message.len() as u64);
        let meta = String::from_utf8_lossy(&meta).into_owned();
        let message = message.to_vec();
        self.writer.write(move |c| {
            c.prepare_cached(
                "INSERT OR REPLACE INTO held
                 (id, received_at, mail_from, recipients, from_header, subject, action, risk, score, symbols, size, meta, message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                held.id,
                held.received_at,
                held.mail_from,
                held.recipients.join("\n"),
                held.from,
                held.subject,
                held.action,
                held.risk,
                held.score,
                held.symbols.join(" "),
                held.size as i64,
                meta,
                message
            ])
            .map(|_| ())
        })
    }

    /// A held message's envelope and report.
    pub fn meta(&self, id: &str) -> io::Result<(QueueEntry, ScanReport)> {
        let meta = match self.shared_content(id)? {
            Some((meta, _)) => meta,
            None => self.one(id, "meta")?.ok_or_else(|| not_held(id))?,
        };
        parse_meta(id, &meta)
    }

    /// The message as received.
    pub fn message(&self, id: &str) -> io::Result<Vec<u8>> {
        match self.shared_content(id)? {
            Some((_, message)) => Ok(message),
            None => self.one(id, "message")?.ok_or_else(|| not_held(id)),
        }
    }

    /// From the shared quarantine when there is one: `Some` when held there; `None` when the
    /// local copy is the one to read (not copied in yet, or PostgreSQL is down); not held
    /// when it was released or deleted elsewhere.
    fn shared_content(&self, id: &str) -> io::Result<Option<(String, Vec<u8>)>> {
        let Some(site) = self.site() else {
            return Ok(None);
        };
        match site.content(id) {
            Ok(Some(found)) => Ok(Some(found)),
            Ok(None) if self.held_here_only(id)? => Ok(None),
            Ok(None) => Err(not_held(id)),
            Err(PgError::Down(_)) => Ok(None),
            Err(e) => Err(shared_error(e)),
        }
    }

    fn one<T: rusqlite::types::FromSql>(&self, id: &str, column: &str) -> io::Result<Option<T>> {
        db::column_by_id(&self.conn, "quarantine", "held", column, id)
    }

    /// Releases a held message: into the spool for delivery (durable there first), then out of
    /// the quarantine. A running gateway delivers it within seconds.
    pub fn release(&self, id: &str, spool: &Spool, now: i64) -> io::Result<()> {
        if let Some(site) = self.site() {
            if !self.held_here_only(id)? {
                return self.release_shared(site, id, spool, now);
            }
        }
        let (entry, _) = self.meta(id)?;
        let message = self.message(id)?;
        spool.store(&released(entry, now), &message)?;
        self.delete(id)
    }

    /// Claims the message in the shared quarantine (so no other node releases it too), spools
    /// it here, and forgets any local copy. Refused while PostgreSQL is down: the node holding
    /// it cannot tell whether another released it meanwhile.
    fn release_shared(
        &self,
        site: &SharedQuarantine,
        id: &str,
        spool: &Spool,
        now: i64,
    ) -> io::Result<()> {
        let Some((meta, message)) = site.claim(id, now).map_err(shared_error)? else {
            self.forget_local(id)?;
            return Err(not_held(id));
        };
        let (entry, report) = parse_meta(id, &meta)?;
        if let Err(e) = spool.store(&released(entry.clone(), now), &message) {
            // Not lost: back into the shared quarantine, or held here until it can go back.
            let row = HeldRow {
                index: index_from(&held_from(&entry, &report, message.len() as u64)),
                node: self
                    .shared
                    .as_ref()
                    .map(|(_, n)| n.clone())
                    .unwrap_or_default(),
                meta,
                message: message.clone(),
            };
            if site.put_back(row).is_err() {
                self.store(&entry, &message, &report)?;
            }
            return Err(e);
        }
        self.forget_local(id)
    }

    /// Drops this node's copy of a message, if it has one.
    fn forget_local(&self, id: &str) -> io::Result<()> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        conn.execute("DELETE FROM held WHERE id = ?1", params![id])
            .map_err(db_error)?;
        Ok(())
    }

    /// Releases a held message to some of its recipients only (a user releasing their own
    /// copy): they get it through the spool under a new id; the others' copy stays held.
    /// Returns the id the released copy is queued under.
    pub fn release_to(
        &self,
        id: &str,
        recipients: &[String],
        spool: &Spool,
        now: i64,
    ) -> io::Result<String> {
        let (mut entry, report) = self.meta(id)?;
        let (mine, others): (Vec<_>, Vec<_>) = entry.recipients.iter().cloned().partition(|r| {
            recipients
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&r.address))
        });
        if mine.is_empty() {
            return Err(not_held(id));
        }
        if others.is_empty() {
            self.release(id, spool, now)?;
            return Ok(id.to_string());
        }
        let message = self.message(id)?;
        let mut copy = entry.clone();
        copy.id = crate::spool::new_id();
        copy.recipients = mine;
        let copy = released(copy, now);
        spool.store(&copy, &message)?;
        entry.recipients = others;
        self.store(&entry, &message, &report)?;
        Ok(copy.id)
    }

    /// Deletes a held message for good.
    pub fn delete(&self, id: &str) -> io::Result<()> {
        if let Some(site) = self.site() {
            if !self.held_here_only(id)? {
                let found = site.delete(id, crate::unix_now()).map_err(shared_error)?;
                self.forget_local(id)?;
                return if found { Ok(()) } else { Err(not_held(id)) };
            }
        }
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let n = conn
            .execute("DELETE FROM held WHERE id = ?1", params![id])
            .map_err(db_error)?;
        drop(conn);
        if n == 0 {
            return Err(not_held(id));
        }
        // Held here only, but the copy thread may have read it just before and be copying it
        // in: the tombstone this leaves keeps it out. (With PostgreSQL down no copy succeeds.)
        if let Some(site) = self.site() {
            let _ = site.delete(id, crate::unix_now());
        }
        Ok(())
    }

    /// Held message ids, oldest first.
    pub fn ids(&self) -> io::Result<Vec<String>> {
        Ok(self
            .search(&Search::default())?
            .into_iter()
            .rev()
            .map(|h| h.id)
            .collect())
    }

    /// How many messages are held (on every node, when shared and reachable).
    pub fn count(&self) -> io::Result<u64> {
        let here = |only_unsynced: bool| -> io::Result<u64> {
            let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
            let sql = if only_unsynced {
                "SELECT COUNT(*) FROM held WHERE synced = 0"
            } else {
                "SELECT COUNT(*) FROM held"
            };
            conn.query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(db_error)
        };
        match self.site().map(|s| s.count()) {
            Some(Ok(n)) => Ok(n + here(true)?),
            _ => here(false),
        }
    }

    /// One held message's index entry.
    pub fn get(&self, id: &str) -> io::Result<Option<Held>> {
        if let Some(site) = self.site() {
            match site.get(id) {
                Ok(Some(index)) => return Ok(Some(held_of(index))),
                Ok(None) if !self.held_here_only(id)? => return Ok(None),
                Ok(None) | Err(PgError::Down(_)) => {}
                Err(e) => return Err(shared_error(e)),
            }
        }
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM held WHERE id = ?1"),
            params![id],
            row_to_held,
        )
        .optional()
        .map_err(db_error)
    }

    /// Held messages matching every given criterion, newest first.
    pub fn search(&self, s: &Search) -> io::Result<Vec<Held>> {
        let mut c = db::Criteria::default();
        c.contains("mail_from || ' ' || from_header", s.sender.as_deref());
        c.contains("recipients", s.recipient.as_deref());
        c.contains("subject", s.subject.as_deref());
        c.has_word("symbols", s.symbol.as_deref());
        c.equals("risk", s.risk.as_deref());
        c.between("received_at", s.since, s.until);
        let shared = match self.site() {
            None => None,
            Some(site) => {
                let (condition, params) = c.for_postgres();
                match site.search(&condition, params, s.limit) {
                    Ok(found) => Some(found),
                    Err(PgError::Down(_)) => None,
                    Err(e) => return Err(shared_error(e)),
                }
            }
        };
        // Reachable: the site's, and what this node holds and has not copied in yet.
        let local_filter = if shared.is_some() {
            " AND synced = 0"
        } else {
            ""
        };
        let (mut sql, args) = (
            format!(
                "SELECT {COLUMNS} FROM held WHERE 1=1{}{local_filter}",
                c.sql
            ),
            c.args,
        );
        sql.push_str(" ORDER BY received_at DESC, id DESC");
        if s.limit > 0 {
            sql.push_str(&format!(" LIMIT {}", s.limit));
        }
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut stmt = conn.prepare(&sql).map_err(db_error)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), row_to_held)
            .map_err(db_error)?;
        let found = rows.collect::<Result<Vec<_>, _>>().map_err(db_error)?;
        Ok(match shared {
            Some(site_rows) => db::merge_newest_first(
                found,
                site_rows.into_iter().map(held_of).collect(),
                |h| (h.received_at, h.id.as_str()),
                s.limit,
            ),
            None => found,
        })
    }
}

const COLUMNS: &str =
    "id, received_at, mail_from, recipients, from_header, subject, action, risk, score, symbols, size";

fn row_to_held(r: &rusqlite::Row<'_>) -> rusqlite::Result<Held> {
    index_at(r, 0).map(held_of)
}

/// The index columns (`COLUMNS`, in order) starting at column `first`.
fn index_at(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<HeldIndex> {
    Ok(HeldIndex {
        id: r.get(first)?,
        received_at: r.get(first + 1)?,
        mail_from: r.get(first + 2)?,
        recipients: r.get(first + 3)?,
        from_header: r.get(first + 4)?,
        subject: r.get(first + 5)?,
        action: r.get(first + 6)?,
        risk: r.get(first + 7)?,
        score: r.get(first + 8)?,
        symbols: r.get(first + 9)?,
        size: r.get(first + 10)?,
    })
}

/// A held message made ready for delivery again.
fn released(mut entry: QueueEntry, now: i64) -> QueueEntry {
    entry
        .prepend
        .push_str("X-Mailmoat-Released: from quarantine\r\n");
    entry.attempts = 0;
    entry.next_attempt_at = now;
    entry
}

fn parse_meta(id: &str, meta: &str) -> io::Result<(QueueEntry, ScanReport)> {
    let meta: ReadMeta = serde_json::from_str(meta)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{id}: {e}")))?;
    Ok((meta.entry, meta.report))
}

pub(crate) fn shared_error(e: PgError) -> io::Error {
    io::Error::other(e.to_string())
}

fn held_of(i: HeldIndex) -> Held {
    Held {
        id: i.id,
        received_at: i.received_at,
        mail_from: i.mail_from,
        recipients: i
            .recipients
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        from: i.from_header,
        subject: i.subject,
        action: i.action,
        risk: i.risk,
        score: i.score,
        symbols: i.symbols.split_whitespace().map(str::to_string).collect(),
        size: i.size as u64,
    }
}

fn index_from(h: &Held) -> HeldIndex {
    HeldIndex {
        id: h.id.clone(),
        received_at: h.received_at,
        mail_from: h.mail_from.clone(),
        recipients: h.recipients.join("\n"),
        from_header: h.from.clone(),
        subject: h.subject.clone(),
        action: h.action.clone(),
        risk: h.risk.clone(),
        score: h.score,
        symbols: h.symbols.join(" "),
        size: h.size as i64,
    }
}

fn not_held(id: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{id} is not in the quarantine"),
    )
}

/// A held message's envelope and report, as one JSON document in the `meta` column.
#[derive(Serialize)]
struct StoredMeta<'a> {
    entry: &'a QueueEntry,
    report: &'a ScanReport,
}

#[derive(Deserialize)]
struct ReadMeta {
    entry: QueueEntry,
    #[serde(default)]
    report: ScanReport,
}

/// The index entry for a stored message, from its envelope and report.
fn held_from(entry: &QueueEntry, report: &ScanReport, size: u64) -> Held {
    Held {
        id: entry.id.clone(),
        received_at: entry.received_at,
        mail_from: entry.mail_from.clone(),
        recipients: entry.recipients.iter().map(|r| r.address.clone()).collect(),
        from: report.from_address().unwrap_or("").to_string(),
        subject: report.message.subject.clone().unwrap_or_default(),
        action: report.action.to_string(),
        risk: report.risk.to_string(),
        score: report.score,
        symbols: report
            .symbols_strongest_first()
            .into_iter()
            .map(|s| s.0.to_string())
            .collect(),
        size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::{Recipient, RecipientState};
    use serde_json::json;

    fn entry(id: &str, from: &str, at: i64) -> QueueEntry {
        QueueEntry {
            id: id.to_string(),
            received_at: at,
            mail_from: from.to_string(),
            client_ip: None,
            helo: None,
            recipients: vec![Recipient {
                address: "bob@corp.example".into(),
                state: RecipientState::Pending,
                last_reply: String::new(),
            }],
            prepend: String::new(),
            tag_subject: false,
            attempts: 0,
            next_attempt_at: at,
            is_bounce: false,
        }
    }

    fn report(subject: &str, symbols: &[(&str, f64)], risk: &str) -> ScanReport {
        let mut map = serde_json::Map::new();
        for (s, score) in symbols {
            map.insert(s.to_string(), json!({ "score": score }));
        }
        serde_json::from_value(json!({
            "action": "quarantine",
            "risk": risk,
            "score": 13.5,
            "symbols": map,
            "message": { "subject": subject, "from": [{ "address": "ceo@corp.example" }] }
        }))
        .unwrap()
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("mm-q-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn stores_searches_and_deletes() {
        let dir = temp("search");
        let q = Quarantine::open(&dir).unwrap();
        q.store(
            &entry("A1", "x@phish.example", 100),
            b"Subject: Verify\r\n\r\nbody",
            &report(
                "Verify your account",
                &[("URL_X", 2.0), ("AUTH_PROTECTED_DOMAIN_SPOOFED", 12.0)],
                "medium",
            ),
        )
        .unwrap();
        q.store(
            &entry("B2", "news@shop.example", 200),
            b"Subject: Sale\r\n\r\nbody",
            &report("Big sale 50%_off", &[("CLASSIFIER_SPAM", 12.0)], "low"),
        )
        .unwrap();
        assert_eq!(q.count().unwrap(), 2);
        assert_eq!(q.ids().unwrap(), vec!["A1", "B2"], "oldest first");
        let by_symbol = q
            .search(&Search {
                symbol: Some("AUTH_PROTECTED_DOMAIN_SPOOFED".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(by_symbol.len(), 1);
        assert_eq!(by_symbol[0].symbols[0], "AUTH_PROTECTED_DOMAIN_SPOOFED");
        assert_eq!(by_symbol[0].from, "ceo@corp.example");
        let by_sender = q
            .search(&Search {
                sender: Some("PHISH.example".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(by_sender[0].id, "A1");
        // LIKE wildcards in a search are literal.
        let literal = q
            .search(&Search {
                subject: Some("50%_off".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(literal.len(), 1);
        assert!(q
            .search(&Search {
                subject: Some("5%off".into()),
                ..Default::default()
            })
            .unwrap()
            .is_empty());
        let recent = q
            .search(&Search {
                since: Some(150),
                risk: Some("LOW".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(recent.len(), 1);
        assert_eq!(q.message("B2").unwrap(), b"Subject: Sale\r\n\r\nbody");
        // Releasing one recipient's copy keeps the others' held.
        let spool = Spool::open(&dir.join("spool")).unwrap();
        let mut two = entry("C3", "x@y.example", 300);
        two.recipients.push(Recipient {
            address: "alice@corp.example".into(),
            state: RecipientState::Pending,
            last_reply: String::new(),
        });
        q.store(
            &two,
            b"Subject: two\r\n\r\nx",
            &report("two", &[("X", 1.0)], "low"),
        )
        .unwrap();
        let copy = q
            .release_to("C3", &["BOB@corp.example".to_string()], &spool, 301)
            .unwrap();
        assert_ne!(copy, "C3");
        assert_eq!(
            spool.entry(&copy).unwrap().recipients[0].address,
            "bob@corp.example"
        );
        assert_eq!(
            q.get("C3").unwrap().unwrap().recipients,
            ["alice@corp.example"]
        );
        assert!(q
            .release_to("C3", &["bob@corp.example".to_string()], &spool, 302)
            .is_err());
        assert_eq!(
            q.release_to("C3", &["alice@corp.example".to_string()], &spool, 303)
                .unwrap(),
            "C3"
        );
        assert!(q.get("C3").unwrap().is_none());
        q.delete("A1").unwrap();
        assert!(q.get("A1").unwrap().is_none());
        assert!(q.delete("A1").is_err());
        assert!(q.meta("nope").is_err());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn concurrent_stores_share_transactions_and_survive_reopening() {
        let dir = temp("batch");
        {
            let q = std::sync::Arc::new(Quarantine::open(&dir).unwrap());
            let threads: Vec<_> = (0..8)
                .map(|t| {
                    let q = q.clone();
                    std::thread::spawn(move || {
                        for i in 0..10 {
                            let id = format!("T{t}N{i}");
                            q.store(
                                &entry(&id, "a@b.example", i),
                                id.as_bytes(),
                                &report("s", &[("X", 1.0)], "low"),
                            )
                            .unwrap();
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
        }
        let q = Quarantine::open(&dir).unwrap();
        assert_eq!(q.count().unwrap(), 80);
        assert_eq!(q.message("T3N7").unwrap(), b"T3N7");
        let (entry, report) = q.meta("T3N7").unwrap();
        assert_eq!(entry.mail_from, "a@b.example");
        assert_eq!(report.risk, mailmoat_core::Risk::Low);
        let _ = fs::remove_dir_all(&dir);
    }
}
