//! Sessions and their phantom tokens, and the single lookup the phantom
//! proxy makes per request.

use sqlx::FromRow;

use super::{now_ms, Db, DbResult, Scope};

/// A session row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub tenant_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub closed_at: Option<i64>,
    /// JSON array of service names.
    pub services: String,
    /// JSON object service → globs.
    pub scopes: String,
    /// Requests the phantom proxy may forward for the session (`None`: no budget).
    pub max_requests: Option<i64>,
    /// Requests it has forwarded.
    pub requests_used: i64,
    /// Nonce of `env_sealed`.
    pub env_nonce: Option<Vec<u8>>,
    /// The session's environment (phantom tokens and base URLs) as JSON,
    /// sealed with the master key; `None` for sessions made before it was
    /// kept.
    pub env_sealed: Option<Vec<u8>>,
}

/// A phantom token of a session (stored hashed).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRow {
    pub token_hash: String,
    pub session_id: String,
    pub tenant_id: String,
    pub service: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// A token with its session's state and its tenant's sealed credential
/// (see [`Db::phantom_grant`]).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GrantRow {
    pub token_hash: String,
    pub session_id: String,
    pub tenant_id: String,
    pub service: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// JSON object service → globs.
    pub scopes: String,
    pub max_requests: Option<i64>,
    pub nonce: Option<Vec<u8>>,
    pub ciphertext: Option<Vec<u8>>,
}

const SESSION_COLUMNS: &str =
    "id, tenant_id, created_at, expires_at, closed_at, services, scopes, max_requests, requests_used, env_nonce, env_sealed";

impl Db {
    /// Stores more tokens of an existing session (each exec gets its own).
    pub async fn insert_tokens(&self, tokens: &[TokenRow]) -> DbResult<()> {
        let mut tx = self.pool.begin().await?;
        for token in tokens {
            insert_token(&mut tx, token).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stores a session and its tokens in one transaction.
    pub async fn insert_session(&self, session: &SessionRow, tokens: &[TokenRow]) -> DbResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO sessions (id, tenant_id, created_at, expires_at, closed_at, services, scopes, max_requests, \
             requests_used, env_nonce, env_sealed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&session.id)
        .bind(&session.tenant_id)
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(session.closed_at)
        .bind(&session.services)
        .bind(&session.scopes)
        .bind(session.max_requests)
        .bind(session.requests_used)
        .bind(&session.env_nonce)
        .bind(&session.env_sealed)
        .execute(&mut *tx)
        .await?;
        for token in tokens {
            insert_token(&mut tx, token).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A session in scope.
    pub async fn session(&self, scope: &Scope, id: &str) -> DbResult<Option<SessionRow>> {
        let (cond, tenant) = scope.condition(2);
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1 AND {cond}"
        ))
        .bind(id)
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| SessionRow::from_row(&r)).transpose().map_err(Into::into)
    }

    /// Sessions in scope (closed ones only with `include_closed`), newest
    /// first, and how many there are in all.
    pub async fn list_sessions(
        &self,
        scope: &Scope,
        include_closed: bool,
        limit: i64,
        offset: i64,
    ) -> DbResult<(Vec<SessionRow>, i64)> {
        let (cond, tenant) = scope.condition(1);
        let cond = if include_closed {
            cond
        } else {
            format!("{cond} AND closed_at IS NULL")
        };
        let rows = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE {cond} ORDER BY created_at DESC, id LIMIT $2 OFFSET $3"
        ))
        .bind(tenant.clone())
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total = self
            .count(&format!("SELECT COUNT(*) AS n FROM sessions WHERE {cond}"), tenant)
            .await?;
        Ok((rows.iter().map(SessionRow::from_row).collect::<Result<_, _>>()?, total))
    }

    /// Closes a session in scope and revokes its tokens at once; `false`
    /// if there is no such open session.
    pub async fn close_session(&self, scope: &Scope, id: &str) -> DbResult<bool> {
        let now = now_ms();
        let (cond, tenant) = scope.condition(3);
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(&format!(
            "UPDATE sessions SET closed_at = $1 WHERE id = $2 AND closed_at IS NULL AND {cond}"
        ))
        .bind(now)
        .bind(id)
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("UPDATE phantom_tokens SET revoked_at = $1 WHERE session_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Revokes the tokens of `session_id` with these hashes at once (the
    /// exec they were made for ended); returns how many were still valid.
    pub async fn revoke_tokens(&self, session_id: &str, token_hashes: &[String]) -> DbResult<u64> {
        let now = now_ms();
        let mut revoked = 0;
        let mut tx = self.pool.begin().await?;
        for hash in token_hashes {
            let done = sqlx::query(
                "UPDATE phantom_tokens SET revoked_at = $1 WHERE token_hash = $2 AND session_id = $3 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(hash)
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
            revoked += done.rows_affected();
        }
        tx.commit().await?;
        Ok(revoked)
    }

    /// The phantom token with this hash.
    pub async fn token_by_hash(&self, token_hash: &str) -> DbResult<Option<TokenRow>> {
        let row = sqlx::query(
            "SELECT token_hash, session_id, tenant_id, service, expires_at, revoked_at FROM phantom_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| TokenRow::from_row(&r)).transpose().map_err(Into::into)
    }

    /// Everything the phantom proxy needs about a token, in one query: the
    /// token, its session's state and scopes, and the sealed credential of
    /// its tenant for its service (if any).
    pub async fn phantom_grant(&self, token_hash: &str) -> DbResult<Option<GrantRow>> {
        let row = sqlx::query(
            "SELECT t.token_hash, t.session_id, t.tenant_id, t.service, t.expires_at, t.revoked_at, s.closed_at, \
             s.scopes, s.max_requests, c.nonce, c.ciphertext FROM phantom_tokens t \
             JOIN sessions s ON s.id = t.session_id \
             LEFT JOIN credentials c ON c.tenant_id = t.tenant_id AND c.service = t.service \
             WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| GrantRow::from_row(&r)).transpose().map_err(Into::into)
    }

    /// Counts one forwarded request against a session's budget; `false`
    /// when the budget is spent. Atomic, so concurrent requests cannot
    /// overspend.
    pub async fn spend_request(&self, session_id: &str) -> DbResult<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET requests_used = requests_used + 1 \
             WHERE id = $1 AND (max_requests IS NULL OR requests_used < max_requests)",
        )
        .bind(session_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

async fn insert_token(tx: &mut sqlx::Transaction<'_, sqlx::Any>, token: &TokenRow) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO phantom_tokens (token_hash, session_id, tenant_id, service, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&token.token_hash)
    .bind(&token.session_id)
    .bind(&token.tenant_id)
    .bind(&token.service)
    .bind(token.expires_at)
    .bind(token.revoked_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
