//! The message log and its statistics of every node in PostgreSQL. Each node logs a scanned
//! message in its own embedded log first (the SMTP reply never waits for PostgreSQL), then
//! copies it here; the roll-ups (messages per hour and type, symbols per hour, top senders and
//! recipients per day) are counted in the same transaction as the copy, once per message, so
//! any node's console shows the whole site's traffic.

use std::collections::HashMap;
use std::sync::Arc;

use crate::pg::{sql_values, Param, PgError, PgLink};

/// The listed columns of one logged message.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    pub id: String,
    pub received_at: i64,
    pub action: String,
    pub risk: String,
    pub score: f64,
    pub category: String,
    pub mail_from: String,
    pub from_header: String,
    pub subject: String,
    /// One address per line.
    pub recipients: String,
    /// Space-separated, strongest first.
    pub symbols: String,
}

/// One logged message as a node copies it in.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRow {
    pub event: LogEvent,
    /// The scan report (JSON).
    pub report: String,
    /// The message itself, for messages refused at the end of DATA.
    pub message: Option<Vec<u8>>,
    /// The per-day "top" keys this message counts for, as (kind, key): the node's own log
    /// decides them, so both logs count alike.
    pub top: Vec<(String, String)>,
}

/// A configuration change noted by a node.
#[derive(Debug, Clone, PartialEq)]
pub struct LogChange {
    pub id: i64,
    pub at: i64,
    pub node: String,
    pub what: String,
}

const COLUMNS: &str = "id, received_at, action, risk, score, category, mail_from, from_header, subject, recipients, symbols";

fn event_of(r: &postgres::Row) -> LogEvent {
    LogEvent {
        id: r.get(0),
        received_at: r.get(1),
        action: r.get(2),
        risk: r.get(3),
        score: r.get(4),
        category: r.get(5),
        mail_from: r.get(6),
        from_header: r.get(7),
        subject: r.get(8),
        recipients: r.get(9),
        symbols: r.get(10),
    }
}

fn change_of(r: &postgres::Row) -> LogChange {
    LogChange {
        id: r.get(0),
        at: r.get(1),
        node: r.get(2),
        what: r.get(3),
    }
}

/// The site's message log.
pub struct SharedLog {
    link: Arc<PgLink>,
    node: String,
}

impl SharedLog {
    pub fn new(link: Arc<PgLink>, node: &str) -> SharedLog {
        SharedLog {
            link,
            node: node.to_string(),
        }
    }

    pub fn is_up(&self) -> bool {
        self.link.is_up()
    }

    /// Copies logged messages in, in one transaction. A message copied before (a node that
    /// crashed before marking its copy) replaces its row and is not counted again. The rows go
    /// in as arrays in one statement, and the roll-ups are summed here first: a batch costs the
    /// server four statements, not one per message and symbol.
    pub fn copy_in(&self, rows: Vec<LogRow>) -> Result<(), PgError> {
        let node = self.node.clone();
        self.link.call(move |c| {
            let mut tx = c.transaction()?;
            let column = |f: &dyn Fn(&LogRow) -> String| rows.iter().map(f).collect::<Vec<_>>();
            let ids = column(&|r| r.event.id.clone());
            let received: Vec<i64> = rows.iter().map(|r| r.event.received_at).collect();
            let scores: Vec<f64> = rows.iter().map(|r| r.event.score).collect();
            let messages: Vec<Option<Vec<u8>>> = rows.iter().map(|r| r.message.clone()).collect();
            // xmax = 0 only on a row this statement inserted (not on one it updated).
            let inserted: std::collections::HashSet<String> = tx
                .query(
                    "INSERT INTO log_events (id, node, received_at, action, risk, score, category, mail_from, from_header, subject, recipients, symbols, report, message)
                     SELECT u.id, $1, u.received_at, u.action, u.risk, u.score, u.category, u.mail_from, u.from_header, u.subject, u.recipients, u.symbols, u.report, u.message
                     FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::text[], $6::float8[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bytea[])
                       AS u(id, received_at, action, risk, score, category, mail_from, from_header, subject, recipients, symbols, report, message)
                     ON CONFLICT (id) DO UPDATE SET action = EXCLUDED.action, risk = EXCLUDED.risk,
                         score = EXCLUDED.score, category = EXCLUDED.category,
                         recipients = EXCLUDED.recipients, symbols = EXCLUDED.symbols,
                         report = EXCLUDED.report, message = EXCLUDED.message
                     RETURNING id, (xmax = 0)",
                    &[
                        &node,
                        &ids,
                        &received,
                        &column(&|r| r.event.action.clone()),
                        &column(&|r| r.event.risk.clone()),
                        &scores,
                        &column(&|r| r.event.category.clone()),
                        &column(&|r| r.event.mail_from.clone()),
                        &column(&|r| r.event.from_header.clone()),
                        &column(&|r| r.event.subject.clone()),
                        &column(&|r| r.event.recipients.clone()),
                        &column(&|r| r.event.symbols.clone()),
                        &column(&|r| r.report.clone()),
                        &messages,
                    ],
                )?
                .iter()
                .filter(|r| r.get::<_, bool>(1))
                .map(|r| r.get(0))
                .collect();
            let mut hourly: HashMap<(i64, String), i64> = HashMap::new();
            let mut symbols: HashMap<(i64, String), i64> = HashMap::new();
            let mut top: HashMap<(i64, String, String), i64> = HashMap::new();
            for row in rows.iter().filter(|r| inserted.contains(&r.event.id)) {
                let e = &row.event;
                let hour = e.received_at - e.received_at.rem_euclid(3600);
                let day = e.received_at - e.received_at.rem_euclid(86400);
                *hourly.entry((hour, e.category.clone())).or_default() += 1;
                for s in e.symbols.split_whitespace() {
                    *symbols.entry((hour, s.to_string())).or_default() += 1;
                }
                for (kind, key) in &row.top {
                    *top.entry((day, kind.clone(), key.clone())).or_default() += 1;
                }
            }
            if !hourly.is_empty() {
                let (keys, n): (Vec<_>, Vec<i64>) = hourly.into_iter().unzip();
                let (hours, categories): (Vec<i64>, Vec<String>) = keys.into_iter().unzip();
                tx.execute(
                    "INSERT INTO log_hourly (hour, category, n)
                     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[])
                     ON CONFLICT (hour, category) DO UPDATE SET n = log_hourly.n + EXCLUDED.n",
                    &[&hours, &categories, &n],
                )?;
            }
            if !symbols.is_empty() {
                let (keys, n): (Vec<_>, Vec<i64>) = symbols.into_iter().unzip();
                let (hours, names): (Vec<i64>, Vec<String>) = keys.into_iter().unzip();
                tx.execute(
                    "INSERT INTO log_hourly_symbols (hour, symbol, n)
                     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[])
                     ON CONFLICT (symbol, hour) DO UPDATE SET n = log_hourly_symbols.n + EXCLUDED.n",
                    &[&hours, &names, &n],
                )?;
            }
            if !top.is_empty() {
                let mut days = Vec::with_capacity(top.len());
                let mut kinds = Vec::with_capacity(top.len());
                let mut keys = Vec::with_capacity(top.len());
                let mut n = Vec::with_capacity(top.len());
                for ((day, kind, key), count) in top {
                    days.push(day);
                    kinds.push(kind);
                    keys.push(key);
                    n.push(count);
                }
                tx.execute(
                    "INSERT INTO log_daily_top (day, kind, key, n)
                     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[])
                     ON CONFLICT (kind, day, key) DO UPDATE SET n = log_daily_top.n + EXCLUDED.n",
                    &[&days, &kinds, &keys, &n],
                )?;
            }
            tx.commit()
        })
    }

    /// Logged messages matching `condition` (SQL over the listed columns with `$1`… for
    /// `params`, built by the caller from fixed expressions, never from input), newest first.
    pub fn search(
        &self,
        condition: &str,
        params: Vec<Param>,
        limit: usize,
    ) -> Result<Vec<LogEvent>, PgError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM log_events WHERE 1=1{condition}
             ORDER BY received_at DESC, id DESC LIMIT {}",
            limit.max(1)
        );
        self.link.call(move |c| {
            let values = sql_values(params);
            let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                values.iter().map(|v| v.as_ref()).collect();
            Ok(c.query(&sql, &refs)?.iter().map(event_of).collect())
        })
    }

    pub fn get(&self, id: &str) -> Result<Option<LogEvent>, PgError> {
        let id = id.to_string();
        self.link.call(move |c| {
            let row = c.query_opt(
                &format!("SELECT {COLUMNS} FROM log_events WHERE id = $1"),
                &[&id],
            )?;
            Ok(row.as_ref().map(event_of))
        })
    }

    /// A logged message's report (JSON).
    pub fn report(&self, id: &str) -> Result<Option<String>, PgError> {
        let id = id.to_string();
        self.link.call(move |c| {
            let row = c.query_opt("SELECT report FROM log_events WHERE id = $1", &[&id])?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    /// A refused message as received, when its node kept it.
    pub fn message(&self, id: &str) -> Result<Option<Vec<u8>>, PgError> {
        let id = id.to_string();
        self.link.call(move |c| {
            let row = c.query_opt("SELECT message FROM log_events WHERE id = $1", &[&id])?;
            Ok(row.and_then(|r| r.get::<_, Option<Vec<u8>>>(0)))
        })
    }

    /// Messages per bucket of `bucket_secs` and type in [since, until), as (start, type, n).
    pub fn buckets(
        &self,
        since: i64,
        until: i64,
        bucket_secs: i64,
    ) -> Result<Vec<(i64, String, i64)>, PgError> {
        let bucket_secs = bucket_secs.max(1);
        self.link.call(move |c| {
            let rows = c.query(
                "SELECT (hour / $3) * $3 AS b, category, SUM(n)::BIGINT FROM log_hourly
                 WHERE hour >= $1 AND hour < $2 GROUP BY b, category ORDER BY b, category",
                &[&since, &until, &bucket_secs],
            )?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect())
        })
    }

    /// The most frequent keys of a kind among detected messages since `since`.
    pub fn top(&self, kind: &str, since: i64, limit: usize) -> Result<Vec<(String, i64)>, PgError> {
        let kind = kind.to_string();
        let day = since - since.rem_euclid(86400);
        let limit = limit as i64;
        self.link.call(move |c| {
            let rows = c.query(
                "SELECT key, SUM(n)::BIGINT AS total FROM log_daily_top WHERE kind = $1 AND day >= $2
                 GROUP BY key ORDER BY total DESC, key LIMIT $3",
                &[&kind, &day, &limit],
            )?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    /// How often a symbol fired (for "": how many messages were detected) per bucket.
    pub fn symbol_buckets(
        &self,
        symbol: &str,
        since: i64,
        until: i64,
        bucket_secs: i64,
    ) -> Result<Vec<(i64, i64)>, PgError> {
        let bucket_secs = bucket_secs.max(1);
        let (sql, key) = if symbol.is_empty() {
            (
                "SELECT (hour / $3) * $3 AS b, SUM(n)::BIGINT FROM log_hourly
                 WHERE hour >= $1 AND hour < $2 AND category <> $4 GROUP BY b ORDER BY b",
                "clean".to_string(),
            )
        } else {
            (
                "SELECT (hour / $3) * $3 AS b, SUM(n)::BIGINT FROM log_hourly_symbols
                 WHERE hour >= $1 AND hour < $2 AND symbol = $4 GROUP BY b ORDER BY b",
                symbol.to_string(),
            )
        };
        self.link.call(move |c| {
            let rows = c.query(sql, &[&since, &until, &bucket_secs, &key])?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    /// Messages logged in all, on every node.
    pub fn count(&self) -> Result<u64, PgError> {
        self.link.call(|c| {
            let n: i64 = c
                .query_one("SELECT COALESCE(SUM(n), 0)::BIGINT FROM log_hourly", &[])?
                .get(0);
            Ok(n as u64)
        })
    }

    /// Removes the reports of messages received before `before` (statistics stay).
    pub fn prune(&self, before: i64) -> Result<u64, PgError> {
        self.link
            .call(move |c| c.execute("DELETE FROM log_events WHERE received_at < $1", &[&before]))
    }

    /// Notes a configuration change made on this node.
    pub fn record_change(&self, at: i64, what: &str) -> Result<(), PgError> {
        let (node, what) = (self.node.clone(), what.to_string());
        self.link.call(move |c| {
            c.execute(
                "INSERT INTO log_changes (at, node, what) VALUES ($1, $2, $3)",
                &[&at, &node, &what],
            )
            .map(drop)
        })
    }

    /// Changes on every node, newest first.
    pub fn changes(&self, limit: usize) -> Result<Vec<LogChange>, PgError> {
        let limit = limit as i64;
        self.link.call(move |c| {
            let rows = c.query(
                "SELECT id, at, node, what FROM log_changes ORDER BY at DESC, id DESC LIMIT $1",
                &[&limit],
            )?;
            Ok(rows.iter().map(change_of).collect())
        })
    }

    pub fn change(&self, id: i64) -> Result<Option<LogChange>, PgError> {
        self.link.call(move |c| {
            let row = c.query_opt(
                "SELECT id, at, node, what FROM log_changes WHERE id = $1",
                &[&id],
            )?;
            Ok(row.as_ref().map(change_of))
        })
    }
}
