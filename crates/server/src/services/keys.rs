//! API keys (admins): created with a token shown once, stored hashed,
//! revoked, never deleted; and the authentication of every request.
//!
//! Keys a request authenticated are remembered for a few seconds, so that
//! a busy client does not cost a database read per call (measured: the
//! read was most of a runtime call's floor). A revoke through this server
//! forgets the key at once; a revoke written to a shared database by
//! another server takes effect here within [`KEY_MEMORY`].

use std::sync::Arc;
use std::time::Duration;

use paddock_api::identity::{CreatedKey, KeyRecord, KeyRole, NewKey};
use paddock_api::{Error, ErrorCode};

use crate::config::Role;
use crate::crypto::{new_id, new_token, token_hash};
use crate::db::{now_ms, Db, KeyRow};
use crate::services::audit::AuditLog;
use crate::services::identity::Caller;
use crate::services::memo::Memo;
use crate::services::rfc3339;
use crate::services::tokens::ScopedTokens;

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
    /// Callers of recently authenticated keys, by token hash.
    remembered: Arc<Memo<String, Caller>>,
    /// Scoped tokens, which authenticate here too.
    scoped: ScopedTokens,
}

impl Keys {
    /// Keys in `db`; tokens with the scoped prefix are `scoped`'s.
    pub fn new(db: Db, audit: AuditLog, scoped: ScopedTokens) -> Keys {
        Keys {
            db,
            audit,
            remembered: Arc::new(Memo::new(KEY_MEMORY, MAX_REMEMBERED)),
            scoped,
        }
    }

    /// The caller an API key or a scoped token belongs to (401 when
    /// unknown, revoked or expired). A scoped token's caller holds its
    /// grant, which every route checks (`routes::extract`).
    pub async fn authenticate(&self, token: &str) -> Result<Caller, Error> {
        if ScopedTokens::is_scoped(token) {
            return self.scoped.authenticate(token).await;
        }
        let hash = token_hash(token);
        let load = async {
            let key = self
                .db
                .key_by_hash(&hash)
                .await?
                .filter(|k| k.revoked_at.is_none())
                .ok_or_else(|| Error::new(ErrorCode::Unauthorized, "unknown or revoked API key"))?;
            let role = Role::parse(&key.role).ok_or_else(|| Error::internal("a stored key has an unknown role"))?;
            Ok(Caller {
                key_id: key.id,
                tenant: key.tenant_id,
                role,
                grant: None,
            })
        };
        self.remembered.get_or_load(hash.clone(), load).await
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
        self.remembered.forget(|_, caller| caller.key_id == id);
        self.scoped.forget_minted_by(id);
        self.audit.record(caller, "key.revoke", id).await;
        Ok(())
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
