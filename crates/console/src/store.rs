//! The console's own database (`console.sqlite`): users, sessions, API tokens, per-user
//! exceptions and the audit log. Secrets are never stored: passwords as argon2id hashes,
//! session and API tokens as SHA-256 digests of random 256-bit values.
//!
//! With `[shared] postgres` the accounts (users, sessions, tokens, the audit log and digest
//! marks) are the site's, in PostgreSQL, so every node's console knows the same people; the
//! embedded database then keeps only audit entries written while PostgreSQL was unreachable.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use base64::Engine;
use mailmoat_shared::{PgError, SharedAccounts, SharedUser};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("console database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("console database: {0}")]
    Io(#[from] io::Error),
    #[error("console accounts: {0}")]
    Shared(#[from] PgError),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// The mail addresses this user receives (lower-cased): what they may see.
    pub addresses: Vec<String>,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
    /// Whether a message to these recipients is this user's to see.
    pub fn may_see(&self, recipients: &[String]) -> bool {
        self.is_admin()
            || recipients
                .iter()
                .any(|r| self.addresses.iter().any(|a| a.eq_ignore_ascii_case(r)))
    }
    /// The recipients among these that are this user's.
    pub fn own<'a>(&self, recipients: &'a [String]) -> Vec<&'a String> {
        recipients
            .iter()
            .filter(|r| self.addresses.iter().any(|a| a.eq_ignore_ascii_case(r)))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exception {
    pub id: i64,
    pub recipient: String,
    pub sender: String,
    pub created_at: i64,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub user: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub label: String,
    pub created_at: i64,
}

/// A new random secret (session or API token), URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The OS generator failing leaves no safe way to make secrets: stop loudly.
    getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn hash_password(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(format!("cannot hash the password: {e}")))
}

fn password_matches(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the user does not exist, so a wrong name costs as long as a
/// wrong password (no user enumeration by timing).
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a password").unwrap_or_default())
}

pub struct Store {
    conn: Mutex<Connection>,
    /// The site's accounts (`[shared] postgres`), used instead of the embedded tables.
    site: Option<Arc<SharedAccounts>>,
}

fn user_of(u: SharedUser) -> User {
    User {
        id: u.id,
        name: u.name,
        role: Role::parse(&u.role).unwrap_or(Role::User),
        addresses: u
            .addresses
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

impl Store {
    /// This node's own accounts.
    pub fn open(dir: &Path) -> Result<Store> {
        Store::open_with(dir, None)
    }

    /// The accounts of the site (`site`, in PostgreSQL) or, without one, this node's own.
    pub fn open_with(dir: &Path, site: Option<Arc<SharedAccounts>>) -> Result<Store> {
        fs::create_dir_all(dir)?;
        let conn = Connection::open(dir.join("console.sqlite"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS users (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL UNIQUE COLLATE NOCASE,
                password TEXT NOT NULL,
                role TEXT NOT NULL,
                addresses TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS sessions (
                token TEXT PRIMARY KEY,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                csrf TEXT NOT NULL,
                expires_at INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS tokens (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                token TEXT NOT NULL UNIQUE,
                user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                label TEXT NOT NULL,
                created_at INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS exceptions (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                recipient TEXT NOT NULL,
                sender TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                created_by TEXT NOT NULL,
                UNIQUE (recipient, sender));
            CREATE TABLE IF NOT EXISTS audit (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                at INTEGER NOT NULL,
                user TEXT NOT NULL,
                action TEXT NOT NULL,
                target TEXT NOT NULL,
                detail TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS digests (
                user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
                sent_day INTEGER NOT NULL);",
        )?;
        Ok(Store {
            conn: Mutex::new(conn),
            site,
        })
    }

    /// Whether the accounts are the site's (in PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.site.is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    // Users.

    pub fn user_count(&self) -> Result<u64> {
        if let Some(site) = &self.site {
            return Ok(site.user_count()? as u64);
        }
        Ok(self
            .lock()
            .query_row("SELECT COUNT(*) FROM users", [], |r| r.get::<_, i64>(0))? as u64)
    }

    pub fn create_user(
        &self,
        name: &str,
        password: &str,
        role: Role,
        addresses: &[String],
    ) -> Result<User> {
        let name = name.trim();
        if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_control()) {
            return Err(StoreError::Invalid(
                "a user name is 1 to 64 printable characters".into(),
            ));
        }
        if password.chars().count() < 10 {
            return Err(StoreError::Invalid(
                "a password has at least 10 characters".into(),
            ));
        }
        let addresses = normalize_addresses(addresses)?;
        let hash = hash_password(password)?;
        if let Some(site) = &self.site {
            let id = site
                .create_user(name, &hash, role.as_str(), &addresses.join("\n"))?
                .ok_or_else(|| {
                    StoreError::Invalid(format!("a user named {name} exists already"))
                })?;
            return Ok(User {
                id,
                name: name.to_string(),
                role,
                addresses,
            });
        }
        let conn = self.lock();
        conn.execute(
            "INSERT INTO users (name, password, role, addresses) VALUES (?1, ?2, ?3, ?4)",
            params![name, hash, role.as_str(), addresses.join("\n")],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                StoreError::Invalid(format!("a user named {name} exists already"))
            }
            e => e.into(),
        })?;
        Ok(User {
            id: conn.last_insert_rowid(),
            name: name.to_string(),
            role,
            addresses,
        })
    }

    pub fn set_password(&self, user_id: i64, password: &str) -> Result<()> {
        if password.chars().count() < 10 {
            return Err(StoreError::Invalid(
                "a password has at least 10 characters".into(),
            ));
        }
        let hash = hash_password(password)?;
        if let Some(site) = &self.site {
            return Ok(site.set_password(user_id, &hash)?);
        }
        let conn = self.lock();
        conn.execute(
            "UPDATE users SET password = ?1 WHERE id = ?2",
            params![hash, user_id],
        )?;
        // Every session of the user ends with the old password.
        conn.execute("DELETE FROM sessions WHERE user_id = ?1", params![user_id])?;
        Ok(())
    }

    pub fn delete_user(&self, user_id: i64) -> Result<bool> {
        if let Some(site) = &self.site {
            return Ok(site.delete_user(user_id)?);
        }
        Ok(self
            .lock()
            .execute("DELETE FROM users WHERE id = ?1", params![user_id])?
            > 0)
    }

    pub fn users(&self) -> Result<Vec<User>> {
        if let Some(site) = &self.site {
            return Ok(site.users()?.into_iter().map(user_of).collect());
        }
        let conn = self.lock();
        let mut stmt = conn.prepare("SELECT id, name, role, addresses FROM users ORDER BY name")?;
        let rows = stmt.query_map([], row_to_user)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub fn user(&self, id: i64) -> Result<Option<User>> {
        if let Some(site) = &self.site {
            return Ok(site.user(id)?.map(user_of));
        }
        Ok(self
            .lock()
            .query_row(
                "SELECT id, name, role, addresses FROM users WHERE id = ?1",
                params![id],
                row_to_user,
            )
            .optional()?)
    }

    pub fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        if let Some(site) = &self.site {
            return Ok(site.user_by_name(name.trim())?.map(user_of));
        }
        Ok(self
            .lock()
            .query_row(
                "SELECT id, name, role, addresses FROM users WHERE name = ?1",
                params![name.trim()],
                row_to_user,
            )
            .optional()?)
    }

    /// The user when the password is right (argon2 verification either way).
    pub fn check_password(&self, name: &str, password: &str) -> Result<Option<User>> {
        if let Some(site) = &self.site {
            return Ok(match site.password_of(name.trim())? {
                Some((user, hash)) if password_matches(password, &hash) => Some(user_of(user)),
                Some(_) => None,
                None => {
                    password_matches(password, dummy_hash());
                    None
                }
            });
        }
        let found: Option<(i64, String)> = self
            .lock()
            .query_row(
                "SELECT id, password FROM users WHERE name = ?1",
                params![name.trim()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match found {
            Some((id, hash)) if password_matches(password, &hash) => self.user(id),
            Some(_) => Ok(None),
            None => {
                password_matches(password, dummy_hash());
                Ok(None)
            }
        }
    }

    // Sessions.

    /// A new session: (cookie token, CSRF token).
    pub fn create_session(&self, user_id: i64, expires_at: i64) -> Result<(String, String)> {
        let token = random_token();
        let csrf = random_token();
        if let Some(site) = &self.site {
            site.create_session(&digest(&token), user_id, &csrf, expires_at, crate::now())?;
            return Ok((token, csrf));
        }
        let conn = self.lock();
        conn.execute(
            "DELETE FROM sessions WHERE expires_at < ?1",
            params![crate::now()],
        )?;
        conn.execute(
            "INSERT INTO sessions (token, user_id, csrf, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![digest(&token), user_id, csrf, expires_at],
        )?;
        Ok((token, csrf))
    }

    /// The session's user and CSRF token, while it lasts.
    pub fn session(&self, token: &str, now: i64) -> Result<Option<(User, String)>> {
        if let Some(site) = &self.site {
            return Ok(site
                .session(&digest(token), now)?
                .map(|(u, csrf)| (user_of(u), csrf)));
        }
        let found: Option<(i64, String)> = self
            .lock()
            .query_row(
                "SELECT user_id, csrf FROM sessions WHERE token = ?1 AND expires_at > ?2",
                params![digest(token), now],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match found {
            Some((id, csrf)) => Ok(self.user(id)?.map(|u| (u, csrf))),
            None => Ok(None),
        }
    }

    pub fn end_session(&self, token: &str) -> Result<()> {
        if let Some(site) = &self.site {
            return Ok(site.end_session(&digest(token))?);
        }
        self.lock().execute(
            "DELETE FROM sessions WHERE token = ?1",
            params![digest(token)],
        )?;
        Ok(())
    }

    // API tokens.

    /// A new API token for the user; the token itself is shown once and never stored.
    pub fn create_token(&self, user_id: i64, label: &str, now: i64) -> Result<String> {
        let token = format!("mm_{}", random_token());
        if let Some(site) = &self.site {
            site.create_token(&digest(&token), user_id, label.trim(), now)?;
            return Ok(token);
        }
        self.lock().execute(
            "INSERT INTO tokens (token, user_id, label, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![digest(&token), user_id, label.trim(), now],
        )?;
        Ok(token)
    }

    pub fn token_user(&self, token: &str) -> Result<Option<User>> {
        if let Some(site) = &self.site {
            return Ok(site.token_user(&digest(token))?.map(user_of));
        }
        let id: Option<i64> = self
            .lock()
            .query_row(
                "SELECT user_id FROM tokens WHERE token = ?1",
                params![digest(token)],
                |r| r.get(0),
            )
            .optional()?;
        match id {
            Some(id) => self.user(id),
            None => Ok(None),
        }
    }

    pub fn tokens(&self, user_id: i64) -> Result<Vec<TokenInfo>> {
        if let Some(site) = &self.site {
            return Ok(site
                .tokens(user_id)?
                .into_iter()
                .map(|t| TokenInfo {
                    id: t.id,
                    label: t.label,
                    created_at: t.created_at,
                })
                .collect());
        }
        let conn = self.lock();
        let mut stmt = conn
            .prepare("SELECT id, label, created_at FROM tokens WHERE user_id = ?1 ORDER BY id")?;
        let rows = stmt.query_map(params![user_id], |r| {
            Ok(TokenInfo {
                id: r.get(0)?,
                label: r.get(1)?,
                created_at: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub fn revoke_token(&self, user_id: i64, token_id: i64) -> Result<bool> {
        if let Some(site) = &self.site {
            return Ok(site.revoke_token(user_id, token_id)?);
        }
        Ok(self.lock().execute(
            "DELETE FROM tokens WHERE id = ?1 AND user_id = ?2",
            params![token_id, user_id],
        )? > 0)
    }

    // Exceptions.

    pub fn add_exception(
        &self,
        recipient: &str,
        sender: &str,
        by: &str,
        now: i64,
    ) -> Result<Exception> {
        let recipient = recipient.trim().to_ascii_lowercase();
        let conn = self.lock();
        conn.execute(
            "INSERT OR IGNORE INTO exceptions (recipient, sender, created_at, created_by)
             VALUES (?1, ?2, ?3, ?4)",
            params![recipient, sender, now, by],
        )?;
        Ok(conn.query_row(
            "SELECT id, recipient, sender, created_at, created_by FROM exceptions
             WHERE recipient = ?1 AND sender = ?2",
            params![recipient, sender],
            row_to_exception,
        )?)
    }

    pub fn exception(&self, id: i64) -> Result<Option<Exception>> {
        Ok(self
            .lock()
            .query_row(
                "SELECT id, recipient, sender, created_at, created_by FROM exceptions WHERE id = ?1",
                params![id],
                row_to_exception,
            )
            .optional()?)
    }

    pub fn remove_exception(&self, id: i64) -> Result<bool> {
        Ok(self
            .lock()
            .execute("DELETE FROM exceptions WHERE id = ?1", params![id])?
            > 0)
    }

    /// Every exception (`None`), or those of these recipients.
    pub fn exceptions(&self, recipients: Option<&[String]>) -> Result<Vec<Exception>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT id, recipient, sender, created_at, created_by FROM exceptions
             ORDER BY recipient, sender",
        )?;
        let rows = stmt.query_map([], row_to_exception)?;
        let all: Vec<Exception> = rows.collect::<std::result::Result<_, _>>()?;
        Ok(match recipients {
            None => all,
            Some(r) => all
                .into_iter()
                .filter(|e| r.iter().any(|a| a.eq_ignore_ascii_case(&e.recipient)))
                .collect(),
        })
    }

    // Audit log.

    pub fn audit(&self, at: i64, user: &str, action: &str, target: &str, detail: &str) {
        if let Some(site) = &self.site {
            match site.audit(at, user, action, target, detail) {
                Ok(()) => return,
                // Kept here instead, and listed beside the site's entries.
                Err(e) => {
                    tracing::warn!(%action, %target, %user, error = %e, "console: audit entry kept on this node (shared log unreachable)")
                }
            }
        }
        let r = self.lock().execute(
            "INSERT INTO audit (at, user, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![at, user, action, target, detail],
        );
        if let Err(e) = r {
            // The action itself happened; losing its record must at least be visible.
            tracing::error!(%action, %target, %user, error = %e, "console: audit log write failed");
        }
    }

    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        let mut entries = self.local_audit_log(limit)?;
        if let Some(site) = &self.site {
            // The site's entries, and this node's written while PostgreSQL was unreachable.
            entries.extend(site.audit_log(limit)?.into_iter().map(|a| {
                AuditEntry {
                    id: a.id,
                    at: a.at,
                    user: a.user,
                    action: a.action,
                    target: a.target,
                    detail: format!("{} (node {})", a.detail, a.node)
                        .trim_start()
                        .to_string(),
                }
            }));
            entries.sort_by_key(|e| std::cmp::Reverse(e.at));
            entries.truncate(limit);
        }
        Ok(entries)
    }

    fn local_audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT id, at, user, action, target, detail FROM audit ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit as i64], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                at: r.get(1)?,
                user: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                detail: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    // Digests.

    /// Marks today's digest for this user as sent; false when it was already.
    pub fn claim_digest(&self, user_id: i64, day: i64) -> Result<bool> {
        if let Some(site) = &self.site {
            return Ok(site.claim_digest(user_id, day)?);
        }
        let conn = self.lock();
        let last: Option<i64> = conn
            .query_row(
                "SELECT sent_day FROM digests WHERE user_id = ?1",
                params![user_id],
                |r| r.get(0),
            )
            .optional()?;
        if last.is_some_and(|d| d >= day) {
            return Ok(false);
        }
        conn.execute(
            "INSERT INTO digests (user_id, sent_day) VALUES (?1, ?2)
             ON CONFLICT (user_id) DO UPDATE SET sent_day = ?2",
            params![user_id, day],
        )?;
        Ok(true)
    }
}

fn normalize_addresses(addresses: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for a in addresses
        .iter()
        .flat_map(|a| a.split([',', ' ', '\n']))
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| !a.is_empty())
    {
        match a.split_once('@') {
            Some((l, d)) if !l.is_empty() && d.contains('.') => {
                if !out.contains(&a) {
                    out.push(a)
                }
            }
            _ => return Err(StoreError::Invalid(format!("{a} is not a mail address"))),
        }
    }
    Ok(out)
}

fn row_to_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(2)?;
    let addresses: String = r.get(3)?;
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::User),
        addresses: addresses
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

fn row_to_exception(r: &rusqlite::Row<'_>) -> rusqlite::Result<Exception> {
    Ok(Exception {
        id: r.get(0)?,
        recipient: r.get(1)?,
        sender: r.get(2)?,
        created_at: r.get(3)?,
        created_by: r.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("mm-console-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn passwords_sessions_and_tokens() {
        let dir = temp("auth");
        let store = Store::open(&dir).unwrap();
        let bob = store
            .create_user(
                "bob",
                "correct horse battery",
                Role::User,
                &["Bob@Corp.example".into()],
            )
            .unwrap();
        assert_eq!(bob.addresses, ["bob@corp.example"]);
        assert!(store
            .create_user("BOB", "another long one", Role::User, &[])
            .is_err());
        assert!(store.create_user("eve", "short", Role::User, &[]).is_err());
        assert!(store
            .create_user("eve", "long enough pw", Role::User, &["nope".into()])
            .is_err());
        assert_eq!(
            store
                .check_password("bob", "correct horse battery")
                .unwrap(),
            Some(bob.clone())
        );
        assert_eq!(store.check_password("bob", "wrong password").unwrap(), None);
        assert_eq!(
            store
                .check_password("nobody", "correct horse battery")
                .unwrap(),
            None
        );
        let (token, csrf) = store.create_session(bob.id, 1000).unwrap();
        assert_eq!(
            store.session(&token, 999).unwrap(),
            Some((bob.clone(), csrf))
        );
        assert_eq!(store.session(&token, 1000).unwrap(), None, "expired");
        assert_eq!(store.session("forged", 0).unwrap(), None);
        let (token, _) = store.create_session(bob.id, i64::MAX).unwrap();
        store.set_password(bob.id, "a new long password").unwrap();
        assert_eq!(
            store.session(&token, 0).unwrap(),
            None,
            "sessions end with the password"
        );
        let api = store.create_token(bob.id, "script", 5).unwrap();
        assert_eq!(store.token_user(&api).unwrap(), Some(bob.clone()));
        let id = store.tokens(bob.id).unwrap()[0].id;
        assert!(store.revoke_token(bob.id, id).unwrap());
        assert_eq!(store.token_user(&api).unwrap(), None);
        let raw: String = store
            .lock()
            .query_row("SELECT password FROM users WHERE id = ?1", [bob.id], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(raw.starts_with("$argon2id$"), "{raw}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn exceptions_audit_and_digests() {
        let dir = temp("exc");
        let store = Store::open(&dir).unwrap();
        let e = store
            .add_exception("Bob@corp.example", "news@shop.example", "bob", 7)
            .unwrap();
        assert_eq!(e.recipient, "bob@corp.example");
        assert_eq!(
            store
                .add_exception("bob@corp.example", "news@shop.example", "bob", 8)
                .unwrap()
                .id,
            e.id
        );
        assert_eq!(
            store
                .exceptions(Some(&["BOB@corp.example".into()]))
                .unwrap()
                .len(),
            1
        );
        assert!(store
            .exceptions(Some(&["alice@corp.example".into()]))
            .unwrap()
            .is_empty());
        assert!(store.remove_exception(e.id).unwrap());
        store.audit(1, "admin", "release", "M1", "");
        assert_eq!(store.audit_log(10).unwrap()[0].action, "release");
        let u = store
            .create_user("carol", "long enough pw", Role::User, &[])
            .unwrap();
        assert!(store.claim_digest(u.id, 10).unwrap());
        assert!(!store.claim_digest(u.id, 10).unwrap());
        assert!(store.claim_digest(u.id, 11).unwrap());
        let _ = fs::remove_dir_all(&dir);
    }
}
