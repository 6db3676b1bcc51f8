//! The console's accounts of every node in PostgreSQL: users, sessions, API tokens, the audit
//! log and the daily digest's "sent" marks. A user made on one node's console signs in on any
//! other, a session cookie works on every node behind one name, and the digest goes out once.
//! Secrets arrive here already hashed or digested (the console does that), so this module only
//! stores and finds rows.

use std::sync::Arc;

use postgres::error::SqlState;

use crate::pg::{PgError, PgLink};

/// A console user as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedUser {
    pub id: i64,
    pub name: String,
    pub role: String,
    /// One address per line, lower-cased.
    pub addresses: String,
}

/// An API token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq)]
pub struct SharedToken {
    pub id: i64,
    pub label: String,
    pub created_at: i64,
}

/// One audit log entry, with the node whose console recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedAudit {
    pub id: i64,
    pub at: i64,
    pub node: String,
    pub user: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

const USER_COLUMNS: &str = "u.id, u.name, u.role, u.addresses";

fn user_of(r: &postgres::Row) -> SharedUser {
    SharedUser {
        id: r.get(0),
        name: r.get(1),
        role: r.get(2),
        addresses: r.get(3),
    }
}

/// The site's console accounts.
pub struct SharedAccounts {
    link: Arc<PgLink>,
    node: String,
}

impl SharedAccounts {
    /// `node`: this node's name, written beside each audit entry.
    pub fn new(link: Arc<PgLink>, node: &str) -> SharedAccounts {
        SharedAccounts {
            link,
            node: node.to_string(),
        }
    }

    pub fn is_up(&self) -> bool {
        self.link.is_up()
    }

    pub fn user_count(&self) -> Result<i64, PgError> {
        self.link.call(|c| {
            Ok(c.query_one("SELECT COUNT(*) FROM console_users", &[])?
                .get(0))
        })
    }

    /// Adds a user with an already hashed password; `None` when the name (in any case) is
    /// taken.
    pub fn create_user(
        &self,
        name: &str,
        password_hash: &str,
        role: &str,
        addresses: &str,
    ) -> Result<Option<i64>, PgError> {
        let (name, hash, role, addresses) = (
            name.to_string(),
            password_hash.to_string(),
            role.to_string(),
            addresses.to_string(),
        );
        self.link.call(move |c| {
            match c.query_one(
                "INSERT INTO console_users (name, password, role, addresses)
                 VALUES ($1, $2, $3, $4) RETURNING id",
                &[&name, &hash, &role, &addresses],
            ) {
                Ok(row) => Ok(Some(row.get(0))),
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    /// Sets a new (hashed) password and ends every session of the user.
    pub fn set_password(&self, user_id: i64, password_hash: &str) -> Result<(), PgError> {
        let hash = password_hash.to_string();
        self.link.call(move |c| {
            let mut tx = c.transaction()?;
            tx.execute(
                "UPDATE console_users SET password = $1 WHERE id = $2",
                &[&hash, &user_id],
            )?;
            tx.execute(
                "DELETE FROM console_sessions WHERE user_id = $1",
                &[&user_id],
            )?;
            tx.commit()
        })
    }

    pub fn delete_user(&self, user_id: i64) -> Result<bool, PgError> {
        self.link.call(move |c| {
            Ok(c.execute("DELETE FROM console_users WHERE id = $1", &[&user_id])? > 0)
        })
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<SharedUser>, PgError> {
        self.link.call(|c| {
            let rows = c.query(
                &format!("SELECT {USER_COLUMNS} FROM console_users u ORDER BY lower(u.name)"),
                &[],
            )?;
            Ok(rows.iter().map(user_of).collect())
        })
    }

    pub fn user(&self, id: i64) -> Result<Option<SharedUser>, PgError> {
        self.link.call(move |c| {
            let row = c.query_opt(
                &format!("SELECT {USER_COLUMNS} FROM console_users u WHERE u.id = $1"),
                &[&id],
            )?;
            Ok(row.as_ref().map(user_of))
        })
    }

    pub fn user_by_name(&self, name: &str) -> Result<Option<SharedUser>, PgError> {
        let name = name.to_string();
        self.link.call(move |c| {
            let row = c.query_opt(
                &format!(
                    "SELECT {USER_COLUMNS} FROM console_users u WHERE lower(u.name) = lower($1)"
                ),
                &[&name],
            )?;
            Ok(row.as_ref().map(user_of))
        })
    }

    /// The user of this name and their password hash, to verify on the caller's thread (a
    /// hash check takes tens of milliseconds; the connection's worker serves everyone).
    pub fn password_of(&self, name: &str) -> Result<Option<(SharedUser, String)>, PgError> {
        let name = name.to_string();
        self.link.call(move |c| {
            let row = c.query_opt(
                &format!(
                    "SELECT {USER_COLUMNS}, u.password FROM console_users u
                     WHERE lower(u.name) = lower($1)"
                ),
                &[&name],
            )?;
            Ok(row.map(|r| (user_of(&r), r.get(4))))
        })
    }

    /// Stores a session (its token's digest) and drops the expired ones.
    pub fn create_session(
        &self,
        token_digest: &str,
        user_id: i64,
        csrf: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), PgError> {
        let (digest, csrf) = (token_digest.to_string(), csrf.to_string());
        self.link.call(move |c| {
            let mut tx = c.transaction()?;
            tx.execute(
                "DELETE FROM console_sessions WHERE expires_at < $1",
                &[&now],
            )?;
            tx.execute(
                "INSERT INTO console_sessions (token, user_id, csrf, expires_at)
                 VALUES ($1, $2, $3, $4)",
                &[&digest, &user_id, &csrf, &expires_at],
            )?;
            tx.commit()
        })
    }

    /// The user and CSRF token of a live session.
    pub fn session(
        &self,
        token_digest: &str,
        now: i64,
    ) -> Result<Option<(SharedUser, String)>, PgError> {
        let digest = token_digest.to_string();
        self.link.call(move |c| {
            let row = c.query_opt(
                &format!(
                    "SELECT {USER_COLUMNS}, s.csrf FROM console_sessions s
                     JOIN console_users u ON u.id = s.user_id
                     WHERE s.token = $1 AND s.expires_at > $2"
                ),
                &[&digest, &now],
            )?;
            Ok(row.map(|r| (user_of(&r), r.get(4))))
        })
    }

    pub fn end_session(&self, token_digest: &str) -> Result<(), PgError> {
        let digest = token_digest.to_string();
        self.link.call(move |c| {
            c.execute("DELETE FROM console_sessions WHERE token = $1", &[&digest])
                .map(drop)
        })
    }

    pub fn create_token(
        &self,
        token_digest: &str,
        user_id: i64,
        label: &str,
        now: i64,
    ) -> Result<(), PgError> {
        let (digest, label) = (token_digest.to_string(), label.to_string());
        self.link.call(move |c| {
            c.execute(
                "INSERT INTO console_tokens (token, user_id, label, created_at)
                 VALUES ($1, $2, $3, $4)",
                &[&digest, &user_id, &label, &now],
            )
            .map(drop)
        })
    }

    pub fn token_user(&self, token_digest: &str) -> Result<Option<SharedUser>, PgError> {
        let digest = token_digest.to_string();
        self.link.call(move |c| {
            let row = c.query_opt(
                &format!(
                    "SELECT {USER_COLUMNS} FROM console_tokens t
                     JOIN console_users u ON u.id = t.user_id WHERE t.token = $1"
                ),
                &[&digest],
            )?;
            Ok(row.as_ref().map(user_of))
        })
    }

    pub fn tokens(&self, user_id: i64) -> Result<Vec<SharedToken>, PgError> {
        self.link.call(move |c| {
            let rows = c.query(
                "SELECT id, label, created_at FROM console_tokens WHERE user_id = $1 ORDER BY id",
                &[&user_id],
            )?;
            Ok(rows
                .iter()
                .map(|r| SharedToken {
                    id: r.get(0),
                    label: r.get(1),
                    created_at: r.get(2),
                })
                .collect())
        })
    }

    pub fn revoke_token(&self, user_id: i64, token_id: i64) -> Result<bool, PgError> {
        self.link.call(move |c| {
            Ok(c.execute(
                "DELETE FROM console_tokens WHERE id = $1 AND user_id = $2",
                &[&token_id, &user_id],
            )? > 0)
        })
    }

    pub fn audit(
        &self,
        at: i64,
        user: &str,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<(), PgError> {
        let values = [
            self.node.clone(),
            user.to_string(),
            action.to_string(),
            target.to_string(),
            detail.to_string(),
        ];
        self.link.call(move |c| {
            let [node, user, action, target, detail] = &values;
            c.execute(
                "INSERT INTO console_audit (at, node, username, action, target, detail)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&at, node, user, action, target, detail],
            )
            .map(drop)
        })
    }

    /// The newest entries first.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<SharedAudit>, PgError> {
        let limit = limit as i64;
        self.link.call(move |c| {
            let rows = c.query(
                "SELECT id, at, node, username, action, target, detail FROM console_audit
                 ORDER BY at DESC, id DESC LIMIT $1",
                &[&limit],
            )?;
            Ok(rows
                .iter()
                .map(|r| SharedAudit {
                    id: r.get(0),
                    at: r.get(1),
                    node: r.get(2),
                    user: r.get(3),
                    action: r.get(4),
                    target: r.get(5),
                    detail: r.get(6),
                })
                .collect())
        })
    }

    /// Marks `day`'s digest for the user as sent; false when some node (this one or another)
    /// already did. One statement, so two nodes at the same minute send it once.
    pub fn claim_digest(&self, user_id: i64, day: i64) -> Result<bool, PgError> {
        self.link.call(move |c| {
            Ok(c.execute(
                "INSERT INTO console_digests (user_id, sent_day) VALUES ($1, $2)
                 ON CONFLICT (user_id) DO UPDATE SET sent_day = EXCLUDED.sent_day
                 WHERE console_digests.sent_day < EXCLUDED.sent_day",
                &[&user_id, &day],
            )? > 0)
        })
    }
}
