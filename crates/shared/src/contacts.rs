//! First-contact memory across nodes: a pair delivered through any node is known to all. The
//! node's own store (file or memory) is written too and asked first, so a pair it has seen
//! stays known while Redis is unreachable, and pairs learnt from Redis are copied into it.

use std::sync::Arc;

use mailmoat_auth::contacts::{pair_key, ContactStore};

use crate::link::RedisLink;

/// Sender–recipient pairs in Redis, one key per pair that expires `retention_s` after its last
/// delivery, in front of the node's own store.
pub struct SharedContacts {
    link: Arc<RedisLink>,
    local: Arc<dyn ContactStore>,
    prefix: String,
    retention_s: u64,
}

impl SharedContacts {
    pub fn new(
        link: Arc<RedisLink>,
        local: Arc<dyn ContactStore>,
        prefix: &str,
        retention_s: u64,
    ) -> SharedContacts {
        SharedContacts {
            link,
            local,
            prefix: format!("{prefix}contact:"),
            retention_s: retention_s.max(1),
        }
    }

    fn key(&self, sender: &str, recipient: &str) -> String {
        format!("{}{:016x}", self.prefix, pair_key(sender, recipient))
    }
}

impl ContactStore for SharedContacts {
    fn known(&self, sender: &str, recipient: &str) -> bool {
        if self.local.known(sender, recipient) {
            return true;
        }
        let key = self.key(sender, recipient);
        let since = self.link.with("contact known", |c| {
            redis::cmd("GET").arg(&key).query::<Option<i64>>(c)
        });
        match since.flatten() {
            Some(at) => {
                self.local.record(sender, recipient, at);
                true
            }
            None => false,
        }
    }

    fn record(&self, sender: &str, recipient: &str, now: i64) {
        self.local.record(sender, recipient, now);
        let key = self.key(sender, recipient);
        // Lost while Redis is down: the other nodes then see one more first contact.
        self.link.with("contact record", |c| {
            redis::cmd("SET")
                .arg(&key)
                .arg(now)
                .arg("EX")
                .arg(self.retention_s)
                .query::<()>(c)
        });
    }
}
