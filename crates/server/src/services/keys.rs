//! API keys (admins): created with a token shown once, stored hashed,
//! revoked, never deleted; and the authentication of every request.
//!
//! Keys a request authenticated are remembered for a few seconds, so that
//! a busy client does not cost a database read per call (measured: the
//! read was most of a runtime call's floor). A revoke through this server
//! forgets the key at once; a revoke written to a shared database by
//! another server takes effect here within [`KEY_MEMORY`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paddock_api::identity::{CreatedKey, KeyRecord, KeyRole, NewKey};
use paddock_api::{Error, ErrorCode};

use crate::config::Role;
use crate::crypto::{new_id, new_token, token_hash};
use crate::db::{now_ms, Db, KeyRow};
use crate::services::audit::AuditLog;
use crate::services::identity::Caller;
use crate::services::rfc3339;

/// Longest key label, bytes.
const MAX_LABEL: usize = 200;
/// How long an authenticated key is remembered.
pub const KEY_MEMORY: Duration = Duration::from_secs(5);
/// Most keys remembered at once (the memory starts over when full).
const MAX_REMEMBERED: usize = 4096;

/// Manages API keys.
#[derive(Debug, Clone)]
pub struct Keys {
    db: Db,
    audit: AuditLog,
    remembered: Arc<Remembered>,
}

/// Callers of recently authenticated keys, by token hash.
#[derive(Debug, Default)]
struct Remembered {
    callers: Mutex<HashMap<String, (Caller, Instant)>>,
    /// Counts revokes: a lookup that raced one is not remembered.
    revokes: AtomicU64,
}

impl Keys {
    /// Keys in `db`.
    pub fn new(db: Db, audit: AuditLog) -> Keys {
        Keys {
            db,
            audit,
            remembered: Arc::default(),
        }
    }

    /// The caller an API key belongs to (401 when unknown or revoked).
    pub async fn authenticate(&self, token: &str) -> Result<Caller, Error> {
        let hash = token_hash(token);
        if let Some(caller) = self.remembered.get(&hash) {
            return Ok(caller);
        }
        let revokes = self.remembered.revokes.load(Ordering::SeqCst);
        let key = self
            .db
            .key_by_hash(&hash)
            .await?
            .filter(|k| k.revoked_at.is_none())
            .ok_or_else(|| Error::new(ErrorCode::Unauthorized, "unknown or revoked API key"))?;
        let role = Role::parse(&key.role).ok_or_else(|| Error::internal("a stored key has an unknown role"))?;
        let caller = Caller {
            key_id: key.id,
            tenant: key.tenant_id,
            role,
        };
        self.remembered.put(hash, &caller, revokes);
        Ok(caller)
    }

    /// Keys in the scope of `tenant` (admins only).
    pub async fn list(&self, caller: &Caller, tenant: Option<&str>) -> Result<Vec<KeyRecord>, Error> {
        caller.require_admin()?;
        Ok(self
            .db
            .list_keys(&caller.scope(tenant))
            .await?
            .iter()
            .map(record)
            .collect())
    }

    /// Creates a key (admins only); its token is in this answer only.
    pub async fn create(&self, caller: &Caller, body: NewKey) -> Result<CreatedKey, Error> {
        caller.require_admin()?;
        if !crate::config::valid_tenant(&body.tenant) {
            return Err(Error::new(
                ErrorCode::BadTenant,
                "tenant names are 1 to 64 letters, digits, '_', '-' or '.'",
            ));
        }
        let role = match body.role {
            KeyRole::Admin => Role::Admin,
            KeyRole::Operator => Role::Operator,
        };
        if body.label.as_ref().is_some_and(|l| l.len() > MAX_LABEL) {
            return Err(Error::new(ErrorCode::BadLabel, "the label is longer than 200 bytes"));
        }
        let token = new_token("pdk_");
        let key = KeyRow {
            id: new_id("key_"),
            tenant_id: body.tenant,
            role: role.as_str().to_owned(),
            token_hash: token_hash(&token),
            label: body.label,
            source: "api".into(),
            created_at: now_ms(),
            revoked_at: None,
        };
        self.db.insert_key(&key).await?;
        self.audit.record(caller, "key.create", &key.id).await;
        Ok(CreatedKey {
            key: record(&key),
            token,
        })
    }

    /// Revokes a key in the caller's scope (admins only).
    pub async fn revoke(&self, caller: &Caller, id: &str) -> Result<(), Error> {
        caller.require_admin()?;
        if !self.db.revoke_key(&caller.scope(None), id).await? {
            return Err(Error::not_found("key"));
        }
        self.remembered.forget(id);
        self.audit.record(caller, "key.revoke", id).await;
        Ok(())
    }
}

impl Remembered {
    fn get(&self, hash: &str) -> Option<Caller> {
        let callers = self.callers.lock().ok()?;
        let (caller, since) = callers.get(hash)?;
        (since.elapsed() < KEY_MEMORY).then(|| caller.clone())
    }

    /// Remembers `caller` unless a revoke happened since its lookup began
    /// (`revokes` was read then).
    fn put(&self, hash: String, caller: &Caller, revokes: u64) {
        let Ok(mut callers) = self.callers.lock() else {
            return;
        };
        if self.revokes.load(Ordering::SeqCst) != revokes {
            return;
        }
        if callers.len() >= MAX_REMEMBERED {
            callers.clear();
        }
        callers.insert(hash, (caller.clone(), Instant::now()));
    }

    /// Forgets a revoked key.
    fn forget(&self, key_id: &str) {
        self.revokes.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut callers) = self.callers.lock() {
            callers.retain(|_, (caller, _)| caller.key_id != key_id);
        }
    }
}

fn record(key: &KeyRow) -> KeyRecord {
    KeyRecord {
        id: key.id.clone(),
        tenant: key.tenant_id.clone(),
        role: key.role.clone(),
        label: key.label.clone(),
        source: key.source.clone(),
        created_at: rfc3339(key.created_at),
        revoked_at: key.revoked_at.map(rfc3339),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(key_id: &str) -> Caller {
        Caller {
            key_id: key_id.into(),
            tenant: "t".into(),
            role: Role::Operator,
        }
    }

    #[test]
    fn a_revoke_forgets_the_key_and_beats_a_racing_lookup() {
        let remembered = Remembered::default();
        remembered.put("h1".into(), &caller("key_1"), 0);
        remembered.put("h2".into(), &caller("key_2"), 0);
        assert_eq!(remembered.get("h1").map(|c| c.key_id), Some("key_1".into()));
        // A lookup that began before this revoke read the count then.
        let before = remembered.revokes.load(Ordering::SeqCst);
        remembered.forget("key_1");
        assert!(remembered.get("h1").is_none());
        assert!(remembered.get("h2").is_some(), "other keys stay");
        remembered.put("h1".into(), &caller("key_1"), before);
        assert!(
            remembered.get("h1").is_none(),
            "a lookup that raced the revoke is not kept"
        );
    }
}
