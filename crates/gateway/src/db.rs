//! The embedded stores (spool, quarantine) are SQLite databases written by one thread each,
//! with group commit: the writes waiting when a transaction starts go into it (each in its own
//! savepoint, so one failing write fails alone), and all of them are answered once it is
//! durable (WAL, synchronous=FULL). Fifty messages arriving together cost one fsync, and no
//! file is created or deleted per message.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use rusqlite::{Connection, OptionalExtension};

/// Writes committed in one transaction at most.
const MAX_BATCH: usize = 256;

type Write = Box<dyn FnOnce(&Connection) -> rusqlite::Result<()> + Send>;

/// Where a write's outcome is sent.
type Answer = mpsc::SyncSender<Result<(), String>>;

struct Job {
    write: Write,
    done: Answer,
}

pub(crate) fn db_error(what: &str, e: rusqlite::Error) -> io::Error {
    io::Error::other(format!("{what} database: {e}"))
}

/// Opens a store's database with the settings every connection needs.
pub(crate) fn connect(path: &Path, what: &str) -> io::Result<Connection> {
    let conn = Connection::open(path).map_err(|e| db_error(what, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(|e| db_error(what, e))?;
    // WAL: readers (the CLI, delivery) never wait for the writer. FULL: a commit is on disk
    // when it returns.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| db_error(what, e))?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| db_error(what, e))?;
    Ok(conn)
}

/// One column of the row with this id (`table` and `column` are ours, never input).
pub(crate) fn column_by_id<T: rusqlite::types::FromSql>(
    conn: &Mutex<Connection>,
    what: &str,
    table: &str,
    column: &str,
    id: &str,
) -> io::Result<Option<T>> {
    let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
    conn.query_row(
        &format!("SELECT {column} FROM {table} WHERE id = ?1"),
        [id],
        |r| r.get(0),
    )
    .optional()
    .map_err(|e| db_error(what, e))
}

/// The WHERE clause of a search, built from optional criteria; values always as parameters.
#[derive(Default)]
pub(crate) struct Criteria {
    pub sql: String,
    pub args: Vec<rusqlite::types::Value>,
}

impl Criteria {
    /// `expression` (ours, never input) contains `value`, case-insensitively, wildcards literal.
    pub fn contains(&mut self, expression: &str, value: Option<&str>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            let escaped = v
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            self.args.push(format!("%{escaped}%").into());
            self.sql.push_str(&format!(
                " AND {expression} LIKE ?{} ESCAPE '\\'",
                self.args.len()
            ));
        }
    }

    /// A space-separated list column holds this word.
    pub fn has_word(&mut self, column: &str, word: Option<&str>) {
        let word = word.map(str::trim).filter(|w| !w.is_empty());
        let padded = word.map(|w| format!(" {w} "));
        self.contains(&format!("(' ' || {column} || ' ')"), padded.as_deref());
    }

    /// `column` equals `value` ignoring case.
    pub fn equals(&mut self, column: &str, value: Option<&str>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.args.push(v.to_ascii_lowercase().into());
            self.sql
                .push_str(&format!(" AND lower({column}) = ?{}", self.args.len()));
        }
    }

    /// The same condition for PostgreSQL: `$N` placeholders, and ILIKE where SQLite's LIKE
    /// ignores case on its own.
    pub fn for_postgres(&self) -> (String, Vec<mailmoat_shared::Param>) {
        let sql = self.sql.replace(" LIKE ?", " ILIKE ?").replace('?', "$");
        let params = self
            .args
            .iter()
            .map(|v| match v {
                rusqlite::types::Value::Integer(i) => mailmoat_shared::Param::Int(*i),
                rusqlite::types::Value::Text(t) => mailmoat_shared::Param::Text(t.clone()),
                other => mailmoat_shared::Param::Text(format!("{other:?}")),
            })
            .collect();
        (sql, params)
    }

    /// `column` in [since, until).
    pub fn between(&mut self, column: &str, since: Option<i64>, until: Option<i64>) {
        if let Some(t) = since {
            self.args.push(t.into());
            self.sql
                .push_str(&format!(" AND {column} >= ?{}", self.args.len()));
        }
        if let Some(t) = until {
            self.args.push(t.into());
            self.sql
                .push_str(&format!(" AND {column} < ?{}", self.args.len()));
        }
    }
}

/// A search's rows from this node (not yet copied to the site) and from the site, as one list:
/// an id found in both once (this node's row), newest first, at most `limit` (0: all).
pub(crate) fn merge_newest_first<T>(
    mut here: Vec<T>,
    site: Vec<T>,
    key: impl Fn(&T) -> (i64, &str),
    limit: usize,
) -> Vec<T> {
    let ids: std::collections::HashSet<String> =
        here.iter().map(|r| key(r).1.to_string()).collect();
    here.extend(site.into_iter().filter(|r| !ids.contains(key(r).1)));
    here.sort_by(|a, b| key(b).cmp(&key(a)));
    if limit > 0 {
        here.truncate(limit);
    }
    here
}

/// The writer thread of one database, and its checkpointer.
pub(crate) struct Writer {
    jobs: Mutex<mpsc::Sender<Job>>,
    what: &'static str,
    commits: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Writer {
    /// Starts the writer on `conn` and a checkpointer on `checkpoints` (both to one file).
    pub fn start(
        conn: Connection,
        checkpoints: Connection,
        what: &'static str,
    ) -> io::Result<Writer> {
        // Copying the log into the database (a checkpoint) is done beside the writer, never by
        // it: a checkpoint inside a commit would hold every waiting message for its fsyncs.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(|e| db_error(what, e))?;
        let (tx, rx) = mpsc::channel::<Job>();
        let commits = Arc::new(AtomicU64::new(0));
        let counter = commits.clone();
        std::thread::Builder::new()
            .name(format!("{what}-writer"))
            .spawn(move || run(conn, rx, counter))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name(format!("{what}-checkpoint"))
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(250));
                    // PASSIVE: copies what it can without blocking the writer or readers.
                    if let Err(e) =
                        checkpoints.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(database = what, error = %e, "checkpoint failed");
                    }
                }
            })?;
        Ok(Writer {
            jobs: Mutex::new(tx),
            what,
            commits,
            stop,
        })
    }

    /// Runs `write` in the next transaction; returns once that transaction is durable.
    pub fn write(
        &self,
        write: impl FnOnce(&Connection) -> rusqlite::Result<()> + Send + 'static,
    ) -> io::Result<()> {
        let result = self.send(Box::new(write))?;
        match result.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(io::Error::other(format!("{} database: {e}", self.what))),
            Err(_) => Err(self.stopped()),
        }
    }

    /// Runs `write` in the next transaction without waiting for it (for writes whose loss in
    /// a crash only repeats work, like removing a delivered message: it is delivered again).
    pub fn write_later(
        &self,
        write: impl FnOnce(&Connection) -> rusqlite::Result<()> + Send + 'static,
    ) -> io::Result<()> {
        self.send(Box::new(write)).map(drop)
    }

    /// Queues a write; the receiver gets its outcome once its transaction has committed.
    fn send(&self, write: Write) -> io::Result<mpsc::Receiver<Result<(), String>>> {
        let (done, result) = mpsc::sync_channel(1);
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(Job { write, done })
            .map_err(|_| self.stopped())?;
        Ok(result)
    }

    fn stopped(&self) -> io::Error {
        io::Error::other(format!("{} writer stopped", self.what))
    }

    /// Transactions committed so far.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}

fn run(mut conn: Connection, jobs: mpsc::Receiver<Job>, commits: Arc<AtomicU64>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut answers: Vec<(Answer, Result<(), String>)> = Vec::with_capacity(batch.len());
        let committed = (|| -> rusqlite::Result<()> {
            let mut tx = conn.transaction()?;
            for job in batch.drain(..) {
                let mut sp = tx.savepoint()?;
                let result = (job.write)(&sp);
                let result = match result {
                    Ok(()) => sp.commit().map_err(|e| e.to_string()),
                    Err(e) => {
                        let _ = sp.rollback();
                        Err(e.to_string())
                    }
                };
                answers.push((job.done, result));
            }
            tx.commit()
        })();
        if committed.is_ok() {
            commits.fetch_add(1, Ordering::Relaxed);
        }
        for (done, result) in answers {
            let result = match &committed {
                Ok(()) => result,
                Err(e) => Err(format!("commit failed: {e}")),
            };
            let _ = done.send(result);
        }
        // Jobs not reached because the transaction could not start are answered too.
        for job in batch {
            let _ = job.done.send(Err("transaction could not start".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Criteria;
    use mailmoat_shared::Param;

    #[test]
    fn rows_from_here_and_the_site_merge_newest_first_once_each() {
        let here = vec![(5, "b".to_string(), "here"), (1, "a".to_string(), "here")];
        let site = vec![(5, "b".to_string(), "site"), (3, "c".to_string(), "site")];
        let merged = super::merge_newest_first(here, site, |r| (r.0, r.1.as_str()), 2);
        assert_eq!(
            merged,
            [(5, "b".to_string(), "here"), (3, "c".to_string(), "site")]
        );
    }

    #[test]
    fn a_search_reads_the_same_in_postgresql_case_included() {
        // SQLite's LIKE ignores ASCII case and PostgreSQL's does not: the shared stores'
        // searches must find "Invoice" for "invoice" as the embedded ones do.
        let mut c = Criteria::default();
        c.contains("subject", Some("Invoice_2"));
        c.equals("risk", Some("High"));
        c.between("received_at", Some(10), Some(20));
        let (sql, params) = c.for_postgres();
        assert_eq!(
            sql,
            " AND subject ILIKE $1 ESCAPE '\\' AND lower(risk) = $2 AND received_at >= $3 AND received_at < $4"
        );
        assert_eq!(
            params,
            [
                Param::Text("%Invoice\\_2%".into()),
                Param::Text("high".into()),
                Param::Int(10),
                Param::Int(20)
            ]
        );
    }
}
