//! Scoped tokens (RUNTIME.md §7): short-lived bearer tokens a tenant mints
//! for one workspace and a set of capabilities, for tools and people that
//! should not hold its API key (MCP clients, a shared terminal, a preview).
//! Stored hashed, revocable, expiring; where each capability is accepted
//! is decided in one place, `routes::extract`.
//!
//! A token authenticated recently is remembered for a few seconds like an
//! API key, but its expiry is checked on every use, and a revoke through
//! this server forgets it at once.

use std::collections::BTreeSet;
use std::sync::Arc;

use paddock_api::tokens::{
    Capability, CreatedScopedToken, NewScopedToken, ScopedTokenList, ScopedTokenRecord, DEFAULT_TTL_SECS, MAX_TTL_SECS,
    MIN_TTL_SECS, TOKEN_PREFIX,
};
use paddock_api::{Error, ErrorCode};

use crate::config::Role;
use crate::crypto::{new_id, new_token, token_hash};
use crate::db::{now_ms, Db, ScopedTokenRow};
use crate::services::audit::AuditLog;
use crate::services::identity::Caller;
use crate::services::keys::KEY_MEMORY;
use crate::services::memo::Memo;
use crate::services::rfc3339;
use crate::services::workspaces::{check_label, Workspaces};

/// Most tokens remembered at once (the memory starts over when full).
const MAX_REMEMBERED: usize = 4096;

/// What a scoped token grants: one workspace, some capabilities, until
/// `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The token's id (`tok_…`).
    pub token_id: String,
    /// The one workspace it opens.
    pub workspace_id: String,
    /// What it may do there.
    pub capabilities: BTreeSet<Capability>,
    /// Unix milliseconds.
    pub expires_at: i64,
    /// The API key that minted it (its revocation ends the token too).
    pub minted_by: String,
}

/// Mints, lists, revokes and authenticates scoped tokens.
#[derive(Debug, Clone)]
pub struct ScopedTokens {
    db: Db,
    audit: AuditLog,
    workspaces: Workspaces,
    /// Callers of recently authenticated tokens, by token hash.
    remembered: Arc<Memo<String, Caller>>,
}

impl ScopedTokens {
    /// Scoped tokens in `db`, for the workspaces of `workspaces`.
    pub fn new(db: Db, audit: AuditLog, workspaces: Workspaces) -> ScopedTokens {
        ScopedTokens {
            db,
            audit,
            workspaces,
            remembered: Arc::new(Memo::new(KEY_MEMORY, MAX_REMEMBERED)),
        }
    }

    /// Whether `token` is a scoped token (by its prefix) rather than an
    /// API key.
    pub fn is_scoped(token: &str) -> bool {
        token.starts_with(TOKEN_PREFIX)
    }

    /// The caller a scoped token stands for: an operator of its tenant
    /// holding its grant (401 when unknown, revoked or expired).
    pub async fn authenticate(&self, token: &str) -> Result<Caller, Error> {
        let hash = token_hash(token);
        let load = async {
            let row = self
                .db
                .scoped_token_by_hash(&hash)
                .await?
                .filter(|row| row.revoked_at.is_none())
                .ok_or_else(|| Error::new(ErrorCode::Unauthorized, "unknown or revoked scoped token"))?;
            if !self.db.key_active(&row.created_by).await? {
                return Err(Error::new(
                    ErrorCode::Unauthorized,
                    "the API key that minted this scoped token was revoked",
                ));
            }
            Ok(Caller {
                key_id: row.id.clone(),
                tenant: row.tenant_id.clone(),
                role: Role::Operator,
                grant: Some(Arc::new(grant(&row)?)),
            })
        };
        let caller = self.remembered.get_or_load(hash.clone(), load).await?;
        let expires_at = caller.grant.as_ref().map_or(0, |g| g.expires_at);
        if expires_at <= now_ms() {
            return Err(Error::new(
                ErrorCode::Unauthorized,
                format!("the scoped token expired at {}", rfc3339(expires_at)),
            ));
        }
        Ok(caller)
    }

    /// Mints a token for a workspace in the caller's scope; its secret is
    /// in this answer only. Scoped tokens cannot mint tokens.
    pub async fn mint(
        &self,
        caller: &Caller,
        workspace_id: &str,
        body: NewScopedToken,
    ) -> Result<CreatedScopedToken, Error> {
        refuse_scoped(caller)?;
        let capabilities: BTreeSet<Capability> = body.capabilities.iter().copied().collect();
        if capabilities.is_empty() {
            return Err(Error::new(
                ErrorCode::BadCapabilities,
                format!(
                    "a scoped token needs at least one capability (of {})",
                    Capability::ALL.map(Capability::as_str).join(", ")
                ),
            ));
        }
        let ttl = body.ttl_secs.unwrap_or(DEFAULT_TTL_SECS);
        if !(MIN_TTL_SECS..=MAX_TTL_SECS).contains(&ttl) {
            return Err(Error::new(
                ErrorCode::BadTtl,
                format!("ttl_secs must be {MIN_TTL_SECS}..={MAX_TTL_SECS}, not {ttl}"),
            ));
        }
        check_label(&body.label)?;
        let workspace = self.workspaces.get(caller, workspace_id).await?;
        let token = new_token(TOKEN_PREFIX);
        let now = now_ms();
        let row = ScopedTokenRow {
            id: new_id("tok_"),
            tenant_id: workspace.tenant_id.clone(),
            workspace_id: workspace.id.clone(),
            capabilities: capabilities.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(","),
            token_hash: token_hash(&token),
            label: body.label,
            created_by: caller.key_id.clone(),
            created_at: now,
            // `ttl` is at most a day, far from overflowing.
            expires_at: now + (ttl as i64) * 1000,
            revoked_at: None,
        };
        self.db.insert_scoped_token(&row).await?;
        self.audit
            .record(caller, "token.create", &format!("{} {}", row.id, row.workspace_id))
            .await;
        Ok(CreatedScopedToken {
            record: record(&row, now),
            token,
        })
    }

    /// A workspace's tokens, newest first (never their secrets).
    pub async fn list(&self, caller: &Caller, workspace_id: &str) -> Result<ScopedTokenList, Error> {
        refuse_scoped(caller)?;
        self.workspaces.get(caller, workspace_id).await?;
        let now = now_ms();
        let rows = self.db.list_scoped_tokens(&caller.scope(None), workspace_id).await?;
        Ok(ScopedTokenList {
            tokens: rows.iter().map(|row| record(row, now)).collect(),
        })
    }

    /// Revokes a workspace's token: it stops working at once on this
    /// server (within a few seconds on others sharing the database).
    pub async fn revoke(&self, caller: &Caller, workspace_id: &str, token_id: &str) -> Result<(), Error> {
        refuse_scoped(caller)?;
        self.workspaces.get(caller, workspace_id).await?;
        if !self
            .db
            .revoke_scoped_token(&caller.scope(None), workspace_id, token_id)
            .await?
        {
            return Err(Error::not_found("scoped token"));
        }
        self.remembered.forget(|_, remembered| remembered.key_id == token_id);
        self.audit.record(caller, "token.revoke", token_id).await;
        Ok(())
    }
}

impl ScopedTokens {
    /// Forgets the remembered tokens minted by API key `key_id` (revoked:
    /// its tokens stop at their next call).
    pub fn forget_minted_by(&self, key_id: &str) {
        self.remembered
            .forget(|_, caller| caller.grant.as_ref().is_some_and(|g| g.minted_by == key_id));
    }
}

/// Refuses a scoped token: only an API key mints, lists or revokes.
fn refuse_scoped(caller: &Caller) -> Result<(), Error> {
    match caller.grant {
        Some(_) => Err(Error::new(
            ErrorCode::ScopedTokenRefused,
            "scoped tokens cannot mint, list or revoke tokens; use an API key",
        )),
        None => Ok(()),
    }
}

/// The grant of a stored token.
fn grant(row: &ScopedTokenRow) -> Result<Grant, Error> {
    let capabilities = capabilities(row)?.into_iter().collect();
    Ok(Grant {
        token_id: row.id.clone(),
        workspace_id: row.workspace_id.clone(),
        capabilities,
        expires_at: row.expires_at,
        minted_by: row.created_by.clone(),
    })
}

/// A stored token's capabilities, in their stored (sorted) order.
fn capabilities(row: &ScopedTokenRow) -> Result<Vec<Capability>, Error> {
    row.capabilities
        .split(',')
        .map(|name| Capability::parse(name).ok_or_else(|| Error::internal("a stored token has an unknown capability")))
        .collect()
}

fn record(row: &ScopedTokenRow, now: i64) -> ScopedTokenRecord {
    let state = match (row.revoked_at, row.expires_at <= now) {
        (Some(_), _) => "revoked",
        (None, true) => "expired",
        (None, false) => "active",
    };
    ScopedTokenRecord {
        id: row.id.clone(),
        workspace_id: row.workspace_id.clone(),
        tenant: row.tenant_id.clone(),
        capabilities: capabilities(row).unwrap_or_default(),
        label: row.label.clone(),
        created_by: row.created_by.clone(),
        created_at: rfc3339(row.created_at),
        expires_at: rfc3339(row.expires_at),
        revoked_at: row.revoked_at.map(rfc3339),
        state: state.to_owned(),
    }
}
