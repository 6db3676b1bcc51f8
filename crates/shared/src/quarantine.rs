//! The quarantine of every node in one PostgreSQL table: the index people search and the held
//! message itself. A node holds a message in its own embedded quarantine first (that is what
//! its 250 waits for), then copies it here; any node's console or CLI lists, reads, releases
//! and deletes from here. A release claims the row (deletes it, leaving a tombstone) in one
//! transaction, so two consoles releasing at once deliver the message once.

use std::collections::HashSet;
use std::sync::Arc;

use crate::pg::{sql_values, Param, PgError, PgLink};

/// One held message as stored: what a node copies in.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldRow {
    pub index: HeldIndex,
    /// The node that held it.
    pub node: String,
    /// Envelope and report, as the node's own quarantine keeps them (JSON).
    pub meta: String,
    pub message: Vec<u8>,
}

/// The searchable columns of a held message.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldIndex {
    pub id: String,
    pub received_at: i64,
    pub mail_from: String,
    /// One address per line.
    pub recipients: String,
    pub from_header: String,
    pub subject: String,
    pub action: String,
    pub risk: String,
    pub score: f64,
    /// Space-separated, strongest first.
    pub symbols: String,
    pub size: i64,
}

const COLUMNS: &str =
    "id, received_at, mail_from, recipients, from_header, subject, action, risk, score, symbols, size";

fn index_of(r: &postgres::Row) -> HeldIndex {
    HeldIndex {
        id: r.get(0),
        received_at: r.get(1),
        mail_from: r.get(2),
        recipients: r.get(3),
        from_header: r.get(4),
        subject: r.get(5),
        action: r.get(6),
        risk: r.get(7),
        score: r.get(8),
        symbols: r.get(9),
        size: r.get(10),
    }
}

/// The shared quarantine table.
pub struct SharedQuarantine {
    link: Arc<PgLink>,
}

impl SharedQuarantine {
    pub fn new(link: Arc<PgLink>) -> SharedQuarantine {
        SharedQuarantine { link }
    }

    pub fn link(&self) -> &Arc<PgLink> {
        &self.link
    }

    /// Copies held messages in (a newer copy of the same id replaces the older: a partial
    /// release keeps the rest held with fewer recipients). A message released or deleted
    /// anywhere is not brought back. Returns the ids that are now in the table or gone.
    pub fn copy_in(&self, rows: Vec<HeldRow>) -> Result<Vec<String>, PgError> {
        self.link.call(move |c| {
            let mut tx = c.transaction()?;
            let upsert = tx.prepare(
                "INSERT INTO held (id, node, received_at, mail_from, recipients, from_header, subject, action, risk, score, symbols, size, meta, message)
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14
                 WHERE NOT EXISTS (SELECT 1 FROM held_gone WHERE id = $1)
                 ON CONFLICT (id) DO UPDATE SET node = EXCLUDED.node, recipients = EXCLUDED.recipients,
                     meta = EXCLUDED.meta, size = EXCLUDED.size, message = EXCLUDED.message",
            )?;
            let mut done = Vec::with_capacity(rows.len());
            for row in &rows {
                let i = &row.index;
                tx.execute(
                    &upsert,
                    &[
                        &i.id,
                        &row.node,
                        &i.received_at,
                        &i.mail_from,
                        &i.recipients,
                        &i.from_header,
                        &i.subject,
                        &i.action,
                        &i.risk,
                        &i.score,
                        &i.symbols,
                        &i.size,
                        &row.meta,
                        &row.message,
                    ],
                )?;
                done.push(i.id.clone());
            }
            tx.commit()?;
            Ok(done)
        })
    }

    /// Takes a held message out for delivery: its envelope and report (JSON) and the message,
    /// or `None` when it is not held (released or deleted elsewhere, or never copied in).
    /// Either way the id is tombstoned, so no later copy brings it back.
    pub fn claim(&self, id: &str, now: i64) -> Result<Option<(String, Vec<u8>)>, PgError> {
        let id = id.to_string();
        self.link.call(move |c| {
            let mut tx = c.transaction()?;
            let row = tx.query_opt(
                "DELETE FROM held WHERE id = $1 RETURNING meta, message",
                &[&id],
            )?;
            // Whether or not it was here: a copy still on its way must not bring it back.
            tx.execute(
                "INSERT INTO held_gone (id, at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                &[&id, &now],
            )?;
            tx.commit()?;
            Ok(row.map(|r| (r.get(0), r.get(1))))
        })
    }

    /// Puts back a message claimed for a release that then failed (the spool refused it).
    pub fn put_back(&self, row: HeldRow) -> Result<(), PgError> {
        let id = row.index.id.clone();
        self.link.call(move |c| {
            c.execute("DELETE FROM held_gone WHERE id = $1", &[&id])?;
            Ok(())
        })?;
        self.copy_in(vec![row]).map(drop)
    }

    /// Deletes a held message for good; whether it was held.
    pub fn delete(&self, id: &str, now: i64) -> Result<bool, PgError> {
        self.claim(id, now).map(|r| r.is_some())
    }

    /// One held message's index entry.
    pub fn get(&self, id: &str) -> Result<Option<HeldIndex>, PgError> {
        let id = id.to_string();
        self.link.call(move |c| {
            let row = c.query_opt(&format!("SELECT {COLUMNS} FROM held WHERE id = $1"), &[&id])?;
            Ok(row.as_ref().map(index_of))
        })
    }

    /// A held message's envelope and report (JSON) and the message.
    pub fn content(&self, id: &str) -> Result<Option<(String, Vec<u8>)>, PgError> {
        let id = id.to_string();
        self.link.call(move |c| {
            let row = c.query_opt("SELECT meta, message FROM held WHERE id = $1", &[&id])?;
            Ok(row.map(|r| (r.get(0), r.get(1))))
        })
    }

    /// Held messages matching `condition` (SQL over the index columns with `$1`… for
    /// `params`; built by the caller from fixed expressions, never from input), newest first.
    pub fn search(
        &self,
        condition: &str,
        params: Vec<Param>,
        limit: usize,
    ) -> Result<Vec<HeldIndex>, PgError> {
        let mut sql = format!(
            "SELECT {COLUMNS} FROM held WHERE 1=1{condition} ORDER BY received_at DESC, id DESC"
        );
        if limit > 0 {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        self.link.call(move |c| {
            let values = sql_values(params);
            let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                values.iter().map(|v| v.as_ref()).collect();
            let rows = c.query(&sql, &refs)?;
            Ok(rows.iter().map(index_of).collect())
        })
    }

    /// How many messages are held, on every node.
    pub fn count(&self) -> Result<u64, PgError> {
        self.link.call(|c| {
            let n: i64 = c.query_one("SELECT COUNT(*) FROM held", &[])?.get(0);
            Ok(n as u64)
        })
    }

    /// Which of `ids` are still held (the others were released or deleted elsewhere).
    pub fn still_held(&self, ids: Vec<String>) -> Result<HashSet<String>, PgError> {
        self.link.call(move |c| {
            let rows = c.query("SELECT id FROM held WHERE id = ANY($1)", &[&ids])?;
            Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
        })
    }

    /// Forgets tombstones older than `before` (a node away longer might bring a released
    /// message back; the default keeps them 30 days).
    pub fn prune_tombstones(&self, before: i64) -> Result<u64, PgError> {
        self.link
            .call(move |c| c.execute("DELETE FROM held_gone WHERE at < $1", &[&before]))
    }
}
