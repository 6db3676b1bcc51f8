//! Per-user sender exceptions ("always accept mail from this sender") of every node in one
//! PostgreSQL table: added or removed on any node's console, honoured by every node's gateway,
//! which reloads the set whenever its version changes.

use std::sync::Arc;

use crate::pg::{PgError, PgLink};

/// One exception as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedException {
    pub id: i64,
    pub recipient: String,
    pub sender: String,
    pub created_at: i64,
    pub created_by: String,
}

const COLUMNS: &str = "id, recipient, sender, created_at, created_by";

fn exception_of(r: &postgres::Row) -> SharedException {
    SharedException {
        id: r.get(0),
        recipient: r.get(1),
        sender: r.get(2),
        created_at: r.get(3),
        created_by: r.get(4),
    }
}

/// The site's exceptions table.
pub struct SharedExceptions {
    link: Arc<PgLink>,
}

impl SharedExceptions {
    pub fn new(link: Arc<PgLink>) -> SharedExceptions {
        SharedExceptions { link }
    }

    /// Adds (or finds) the exception of `recipient` (lower-cased) for `sender`.
    pub fn add(
        &self,
        recipient: &str,
        sender: &str,
        by: &str,
        now: i64,
    ) -> Result<SharedException, PgError> {
        let (recipient, sender, by) = (
            recipient.trim().to_ascii_lowercase(),
            sender.to_string(),
            by.to_string(),
        );
        self.link.call(move |c| {
            let mut tx = c.transaction()?;
            let added = tx.execute(
                "INSERT INTO exceptions (recipient, sender, created_at, created_by)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (recipient, sender) DO NOTHING",
                &[&recipient, &sender, &now, &by],
            )?;
            if added > 0 {
                tx.execute("UPDATE exceptions_version SET version = version + 1", &[])?;
            }
            let row = tx.query_one(
                &format!("SELECT {COLUMNS} FROM exceptions WHERE recipient = $1 AND sender = $2"),
                &[&recipient, &sender],
            )?;
            tx.commit()?;
            Ok(exception_of(&row))
        })
    }

    pub fn get(&self, id: i64) -> Result<Option<SharedException>, PgError> {
        self.link.call(move |c| {
            let row = c.query_opt(
                &format!("SELECT {COLUMNS} FROM exceptions WHERE id = $1"),
                &[&id],
            )?;
            Ok(row.as_ref().map(exception_of))
        })
    }

    /// Removes an exception; whether it existed.
    pub fn remove(&self, id: i64) -> Result<bool, PgError> {
        self.link.call(move |c| {
            let mut tx = c.transaction()?;
            let removed = tx.execute("DELETE FROM exceptions WHERE id = $1", &[&id])?;
            if removed > 0 {
                tx.execute("UPDATE exceptions_version SET version = version + 1", &[])?;
            }
            tx.commit()?;
            Ok(removed > 0)
        })
    }

    /// Every exception, by recipient and sender.
    pub fn all(&self) -> Result<Vec<SharedException>, PgError> {
        self.link.call(|c| {
            let rows = c.query(
                &format!("SELECT {COLUMNS} FROM exceptions ORDER BY recipient, sender"),
                &[],
            )?;
            Ok(rows.iter().map(exception_of).collect())
        })
    }

    /// Changes so far: a node reloads the set when this moved.
    pub fn version(&self) -> Result<i64, PgError> {
        self.link.call(|c| {
            Ok(c.query_one("SELECT version FROM exceptions_version", &[])?
                .get(0))
        })
    }
}
