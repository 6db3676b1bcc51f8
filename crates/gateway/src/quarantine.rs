//! Quarantine: each held message is one file, `ID.held` (a JSON line with the envelope and the
//! full report, then the message as received), fsynced before the 250 reply like the spool.
//! Beside them, `index.sqlite` holds what people search by (sender, recipients, subject,
//! symbols, risk, time). The files are the truth: the index is written without waiting for the
//! disk and is brought back in line with the files whenever the quarantine is opened, so a
//! crash can lose neither a held message nor, for long, its place in the index.

use std::fs;
use std::io::{self, BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Value};

use crate::spool::{write_synced, QueueEntry, Spool};

const EXT: &str = "held";

pub struct Quarantine {
    dir: PathBuf,
    index: Mutex<Connection>,
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

fn index_error(e: rusqlite::Error) -> io::Error {
    io::Error::other(format!("quarantine index: {e}"))
}

impl Quarantine {
    /// Opens (or creates) the quarantine folder and its index, and reconciles the index with
    /// the files (a message stored just before a crash is indexed now).
    pub fn open(dir: &Path) -> io::Result<Quarantine> {
        fs::create_dir_all(dir)?;
        let conn = Connection::open(dir.join("index.sqlite")).map_err(index_error)?;
        // WAL lets the CLI read and release while the gateway writes; NORMAL skips the fsync
        // per insert (the files are the durable record, see the module comment).
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(index_error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(index_error)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(index_error)?;
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
                size INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS held_by_time ON held(received_at);",
        )
        .map_err(index_error)?;
        let q = Quarantine {
            dir: dir.to_path_buf(),
            index: Mutex::new(conn),
        };
        q.reconcile()?;
        Ok(q)
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.{EXT}"))
    }

    /// Holds a message: the file is written and fsynced (the caller then replies 250), then
    /// indexed. An index failure is logged, not returned: the next open indexes the file.
    pub fn store(&self, entry: &QueueEntry, message: &[u8], report: &Value) -> io::Result<()> {
        let meta = json!({ "entry": entry, "report": report });
        let mut bytes = serde_json::to_vec(&meta).map_err(io::Error::other)?;
        bytes.push(b'\n');
        bytes.extend_from_slice(message);
        let path = self.path(&entry.id);
        let tmp = path.with_extension(format!("{EXT}.tmp"));
        write_synced(&tmp, &bytes)?;
        fs::rename(&tmp, &path)?;
        fs::File::open(&self.dir)?.sync_all()?;
        if let Err(e) = self.index_one(&held_from(entry, report, message.len() as u64)) {
            eprintln!("quarantine id={}: {e} (indexed on next start)", entry.id);
        }
        Ok(())
    }

    fn index_one(&self, h: &Held) -> io::Result<()> {
        let conn = self.index.lock().unwrap_or_else(|e| e.into_inner());
        conn.execute(
            "INSERT OR REPLACE INTO held
             (id, received_at, mail_from, recipients, from_header, subject, action, risk, score, symbols, size)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                h.id,
                h.received_at,
                h.mail_from,
                h.recipients.join("\n"),
                h.from,
                h.subject,
                h.action,
                h.risk,
                h.score,
                h.symbols.join(" "),
                h.size as i64
            ],
        )
        .map_err(index_error)?;
        Ok(())
    }

    /// Indexes files the index lacks and forgets rows whose file is gone.
    fn reconcile(&self) -> io::Result<()> {
        let mut on_disk = std::collections::HashSet::new();
        for e in fs::read_dir(&self.dir)?.filter_map(|e| e.ok()) {
            let p = e.path();
            let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.ends_with(&format!(".{EXT}.tmp")) {
                // A store that never reached its rename was never acknowledged.
                let _ = fs::remove_file(&p);
            } else if let Some(id) = name.strip_suffix(&format!(".{EXT}")) {
                on_disk.insert(id.to_string());
            }
        }
        let indexed: std::collections::HashSet<String> = {
            let conn = self.index.lock().unwrap_or_else(|e| e.into_inner());
            let mut stmt = conn.prepare("SELECT id FROM held").map_err(index_error)?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(index_error)?;
            rows.filter_map(|r| r.ok()).collect()
        };
        for id in on_disk.difference(&indexed) {
            match self.read_meta(id) {
                Ok((entry, report, size)) => self.index_one(&held_from(&entry, &report, size))?,
                Err(e) => eprintln!("quarantine {id}: {e}"),
            }
        }
        let conn = self.index.lock().unwrap_or_else(|e| e.into_inner());
        for id in indexed.difference(&on_disk) {
            conn.execute("DELETE FROM held WHERE id = ?1", params![id])
                .map_err(index_error)?;
        }
        Ok(())
    }

    /// The envelope, the report and the message size, from the file's first line.
    fn read_meta(&self, id: &str) -> io::Result<(QueueEntry, Value, u64)> {
        let path = self.path(id);
        let file = fs::File::open(&path).map_err(|e| not_held(id, e))?;
        let total = file.metadata()?.len();
        let mut reader = io::BufReader::new(file);
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line)?;
        let bad = |e: serde_json::Error| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        };
        let mut meta: Value = serde_json::from_slice(&line).map_err(bad)?;
        let entry: QueueEntry = serde_json::from_value(meta["entry"].take()).map_err(bad)?;
        Ok((entry, meta["report"].take(), total - line.len() as u64))
    }

    /// A held message's envelope and report.
    pub fn meta(&self, id: &str) -> io::Result<(QueueEntry, Value)> {
        check_id(id)?;
        self.read_meta(id).map(|(e, r, _)| (e, r))
    }

    /// The message as received.
    pub fn message(&self, id: &str) -> io::Result<Vec<u8>> {
        check_id(id)?;
        let file = fs::File::open(self.path(id)).map_err(|e| not_held(id, e))?;
        let mut reader = io::BufReader::new(file);
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line)?;
        let mut message = Vec::new();
        reader.read_to_end(&mut message)?;
        Ok(message)
    }

    /// Releases a held message: into the spool for delivery (fsynced there first), then out of
    /// the quarantine. A running gateway delivers it within seconds.
    pub fn release(&self, id: &str, spool: &Spool, now: i64) -> io::Result<()> {
        let (mut entry, _) = self.meta(id)?;
        let message = self.message(id)?;
        entry
            .prepend
            .push_str("X-Mailmoat-Released: from quarantine\r\n");
        entry.attempts = 0;
        entry.next_attempt_at = now;
        spool.store(&entry, &message)?;
        self.delete(id)
    }

    /// Deletes a held message for good.
    pub fn delete(&self, id: &str) -> io::Result<()> {
        check_id(id)?;
        fs::remove_file(self.path(id)).map_err(|e| not_held(id, e))?;
        let conn = self.index.lock().unwrap_or_else(|e| e.into_inner());
        conn.execute("DELETE FROM held WHERE id = ?1", params![id])
            .map_err(index_error)?;
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

    /// How many messages are held.
    pub fn count(&self) -> io::Result<u64> {
        let conn = self.index.lock().unwrap_or_else(|e| e.into_inner());
        conn.query_row("SELECT COUNT(*) FROM held", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(index_error)
    }

    /// One held message's index entry.
    pub fn get(&self, id: &str) -> io::Result<Option<Held>> {
        let conn = self.index.lock().unwrap_or_else(|e| e.into_inner());
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM held WHERE id = ?1"),
            params![id],
            row_to_held,
        )
        .optional()
        .map_err(index_error)
    }

    /// Held messages matching every given criterion, newest first.
    pub fn search(&self, s: &Search) -> io::Result<Vec<Held>> {
        let mut sql = format!("SELECT {COLUMNS} FROM held WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut like = |sql: &mut String, column: &str, value: &Option<String>| {
            if let Some(v) = value {
                args.push(format!("%{}%", escape_like(v)).into());
                sql.push_str(&format!(" AND {column} LIKE ?{} ESCAPE '\\'", args.len()));
            }
        };
        like(&mut sql, "mail_from || ' ' || from_header", &s.sender);
        like(&mut sql, "recipients", &s.recipient);
        like(&mut sql, "subject", &s.subject);
        let symbol = s.symbol.as_ref().map(|sym| format!(" {} ", sym.trim()));
        like(&mut sql, "(' ' || symbols || ' ')", &symbol);
        if let Some(risk) = &s.risk {
            args.push(risk.to_ascii_lowercase().into());
            sql.push_str(&format!(" AND lower(risk) = ?{}", args.len()));
        }
        if let Some(t) = s.since {
            args.push(t.into());
            sql.push_str(&format!(" AND received_at >= ?{}", args.len()));
        }
        if let Some(t) = s.until {
            args.push(t.into());
            sql.push_str(&format!(" AND received_at < ?{}", args.len()));
        }
        sql.push_str(" ORDER BY received_at DESC, id DESC");
        if s.limit > 0 {
            sql.push_str(&format!(" LIMIT {}", s.limit));
        }
        let conn = self.index.lock().unwrap_or_else(|e| e.into_inner());
        let mut stmt = conn.prepare(&sql).map_err(index_error)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), row_to_held)
            .map_err(index_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(index_error)
    }
}

const COLUMNS: &str =
    "id, received_at, mail_from, recipients, from_header, subject, action, risk, score, symbols, size";

fn row_to_held(r: &rusqlite::Row<'_>) -> rusqlite::Result<Held> {
    let recipients: String = r.get(3)?;
    let symbols: String = r.get(9)?;
    Ok(Held {
        id: r.get(0)?,
        received_at: r.get(1)?,
        mail_from: r.get(2)?,
        recipients: recipients
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        from: r.get(4)?,
        subject: r.get(5)?,
        action: r.get(6)?,
        risk: r.get(7)?,
        score: r.get(8)?,
        symbols: symbols.split_whitespace().map(str::to_string).collect(),
        size: r.get::<_, i64>(10)? as u64,
    })
}

fn escape_like(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Ids are ours (letters, digits, '-'); anything else never names a file here.
fn check_id(id: &str) -> io::Result<()> {
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{id:?} is not a message id"),
        ));
    }
    Ok(())
}

fn not_held(id: &str, e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::NotFound {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{id} is not in the quarantine"),
        )
    } else {
        e
    }
}

/// The index entry for a stored message, from its envelope and report.
fn held_from(entry: &QueueEntry, report: &Value, size: u64) -> Held {
    let mut symbols: Vec<(String, f64)> = report["symbols"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v["score"].as_f64().unwrap_or(0.0)))
                .collect()
        })
        .unwrap_or_default();
    symbols.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    Held {
        id: entry.id.clone(),
        received_at: entry.received_at,
        mail_from: entry.mail_from.clone(),
        recipients: entry.recipients.iter().map(|r| r.address.clone()).collect(),
        from: text(&report["message"]["from"][0]["address"]),
        subject: text(&report["message"]["subject"]),
        action: text(&report["action"]),
        risk: text(&report["risk"]),
        score: report["score"].as_f64().unwrap_or(0.0),
        symbols: symbols.into_iter().map(|s| s.0).collect(),
        size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::{Recipient, RecipientState};

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

    fn report(subject: &str, symbols: &[(&str, f64)], risk: &str) -> Value {
        let mut map = serde_json::Map::new();
        for (s, score) in symbols {
            map.insert(s.to_string(), json!({ "score": score }));
        }
        json!({
            "action": "quarantine",
            "risk": risk,
            "score": 13.5,
            "symbols": map,
            "message": { "subject": subject, "from": [{ "address": "ceo@corp.example" }] }
        })
    }

    fn temp(name: &str) -> PathBuf {
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
        q.delete("A1").unwrap();
        assert!(q.get("A1").unwrap().is_none());
        assert!(q.delete("A1").is_err());
        assert!(q.meta("../etc/passwd").is_err());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_index_follows_the_files_after_a_crash() {
        let dir = temp("reconcile");
        {
            let q = Quarantine::open(&dir).unwrap();
            q.store(
                &entry("C3", "a@b.example", 5),
                b"x",
                &report("s", &[("X", 1.0)], "low"),
            )
            .unwrap();
        }
        // Lost from the index (a crash before its write reached the disk), a half-written
        // store, and a row whose file was removed by hand.
        {
            let conn = Connection::open(dir.join("index.sqlite")).unwrap();
            conn.execute("DELETE FROM held", []).unwrap();
            conn.execute(
                "INSERT INTO held VALUES ('GONE', 1, '', '', '', '', '', '', 0, '', 0)",
                [],
            )
            .unwrap();
        }
        fs::write(dir.join("D4.held.tmp"), b"partial").unwrap();
        let q = Quarantine::open(&dir).unwrap();
        assert_eq!(q.ids().unwrap(), vec!["C3"]);
        assert!(!dir.join("D4.held.tmp").exists());
        assert_eq!(q.get("C3").unwrap().unwrap().mail_from, "a@b.example");
        let _ = fs::remove_dir_all(&dir);
    }
}
