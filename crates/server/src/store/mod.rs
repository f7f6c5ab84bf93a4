//! Persistence: SQLite in the state directory by default, PostgreSQL when
//! a `postgres://` URL is given. One schema, versioned migrations per
//! backend (`migrations/`), queries written once (sqlx `Any`, `$N`
//! placeholders, integers for times and flags).

mod workspaces;

pub use workspaces::{SnapshotRow, WorkspaceRow};

use std::path::Path;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, FromRow, Row};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database answered with an error.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The URL names a database paddock does not support.
    #[error("unsupported database URL {0:?} (sqlite:// or postgres://)")]
    UnsupportedUrl(String),
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// Which rows a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One tenant's rows.
    Tenant(String),
    /// Every tenant's rows (admins).
    All,
}

impl Scope {
    /// `(sql, tenant)`: a condition on `tenant_id` using placeholder `$n`,
    /// and the value to bind (`All` binds an empty string it ignores).
    fn condition(&self, n: usize) -> (String, String) {
        match self {
            Scope::Tenant(t) => (format!("tenant_id = ${n}"), t.clone()),
            Scope::All => (format!("(${n} = '' OR TRUE)"), String::new()),
        }
    }
}

/// The database backend in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// The control plane's database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// An API key row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyRow {
    pub id: String,
    pub tenant_id: String,
    pub role: String,
    pub token_hash: String,
    pub label: Option<String>,
    pub source: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A stored (encrypted) upstream credential.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CredentialRow {
    pub tenant_id: String,
    pub service: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub fingerprint: String,
    pub added_at: i64,
    pub updated_at: i64,
}

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
/// (see [`Store::phantom_grant`]).
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

/// A jail ledger row.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct JailRow {
    pub id: i64,
    #[serde(skip)]
    pub tenant_id: String,
    pub kind: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub status: String,
    pub session_id: Option<String>,
    pub label: Option<String>,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<f64>,
    pub timed_out: bool,
    pub oom_killed: bool,
    pub memory_peak_bytes: Option<i64>,
    pub memory_current_bytes: Option<i64>,
    pub cpu_usage_usec: Option<i64>,
    pub io_read_bytes: Option<i64>,
    pub io_write_bytes: Option<i64>,
    pub pids_current: Option<i64>,
    pub stdout: String,
    pub stderr: String,
    pub error: Option<String>,
    pub parent_id: Option<i64>,
    /// JSON of the request's settings.
    pub config: String,
}

/// How a jail ended, for its ledger row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JailEnd {
    pub status: &'static str,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<f64>,
    pub timed_out: bool,
    pub oom_killed: bool,
    pub memory_peak_bytes: Option<i64>,
    pub memory_current_bytes: Option<i64>,
    pub cpu_usage_usec: Option<i64>,
    pub io_read_bytes: Option<i64>,
    pub io_write_bytes: Option<i64>,
    pub pids_current: Option<i64>,
    pub stdout: String,
    pub stderr: String,
    pub error: Option<String>,
}

/// Filters of the ledger list.
#[derive(Debug, Clone, Default)]
pub struct JailFilter {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub q: Option<String>,
}

/// An audit row: a proxied request or a control-plane action.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    #[serde(skip)]
    #[sqlx(rename = "at")]
    pub at_ms: i64,
    #[serde(skip)]
    pub tenant_id: String,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub session_id: Option<String>,
    pub service: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<i64>,
    pub reject_reason: Option<String>,
    pub upstream_ms: Option<f64>,
}

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens (creating and migrating) the database: `url` when given
    /// (`postgres://...` or `sqlite://...`), else `paddock.db` in
    /// `state_dir`.
    pub async fn open(url: Option<&str>, state_dir: &Path) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let url = match url {
            Some(url) => url.to_owned(),
            None => format!("sqlite://{}?mode=rwc", state_dir.join("paddock.db").display()),
        };
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(&url)));
        };
        let options = AnyPoolOptions::new().max_connections(match backend {
            // One writer at a time anyway; a small pool avoids lock churn.
            Backend::Sqlite => 4,
            Backend::Postgres => 16,
        });
        let pool = options
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        use sqlx::Executor;
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Store { pool, backend })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    // --- API keys ----------------------------------------------------------

    /// Stores a key.
    pub async fn insert_key(&self, key: &KeyRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, role, token_hash, label, source, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&key.id)
        .bind(&key.tenant_id)
        .bind(&key.role)
        .bind(&key.token_hash)
        .bind(&key.label)
        .bind(&key.source)
        .bind(key.created_at)
        .bind(key.revoked_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The key with this token hash, whether revoked or not.
    pub async fn key_by_hash(&self, token_hash: &str) -> StoreResult<Option<KeyRow>> {
        let row = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| KeyRow::from_row(&r)).transpose().map_err(Into::into)
    }

    /// Keys in scope, newest first.
    pub async fn list_keys(&self, scope: &Scope) -> StoreResult<Vec<KeyRow>> {
        let (cond, tenant) = scope.condition(1);
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE {cond} ORDER BY created_at DESC, id"
        ))
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| KeyRow::from_row(r).map_err(Into::into)).collect()
    }

    /// Revokes a key in scope; `false` if there is none (or it was revoked).
    pub async fn revoke_key(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
        let (cond, tenant) = scope.condition(3);
        let done = sqlx::query(&format!(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL AND {cond}"
        ))
        .bind(now_ms())
        .bind(id)
        .bind(tenant)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Number of keys not revoked.
    pub async fn active_key_count(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    // --- credentials -------------------------------------------------------

    /// Inserts or replaces a tenant's credential for a service; returns the
    /// stored row (with the original `added_at` on replacement).
    pub async fn put_credential(&self, row: &CredentialRow) -> StoreResult<CredentialRow> {
        sqlx::query(
            "INSERT INTO credentials (tenant_id, service, nonce, ciphertext, fingerprint, added_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id, service) DO UPDATE SET nonce = excluded.nonce, \
             ciphertext = excluded.ciphertext, fingerprint = excluded.fingerprint, updated_at = excluded.updated_at",
        )
        .bind(&row.tenant_id)
        .bind(&row.service)
        .bind(&row.nonce)
        .bind(&row.ciphertext)
        .bind(&row.fingerprint)
        .bind(row.added_at)
        .bind(row.updated_at)
        .execute(&self.pool)
        .await?;
        let stored = self.credential(&row.tenant_id, &row.service).await?;
        Ok(stored.unwrap_or_else(|| row.clone()))
    }

    /// One tenant's credential for a service.
    pub async fn credential(&self, tenant: &str, service: &str) -> StoreResult<Option<CredentialRow>> {
        let row = sqlx::query(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE tenant_id = $1 AND service = $2"
        ))
        .bind(tenant)
        .bind(service)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| CredentialRow::from_row(&r)).transpose().map_err(Into::into)
    }

    /// Credentials in scope.
    pub async fn list_credentials(&self, scope: &Scope) -> StoreResult<Vec<CredentialRow>> {
        let (cond, tenant) = scope.condition(1);
        let rows = sqlx::query(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE {cond} ORDER BY tenant_id, service"
        ))
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| CredentialRow::from_row(r).map_err(Into::into))
            .collect()
    }

    /// Deletes a tenant's credential; `false` if there was none.
    pub async fn delete_credential(&self, tenant: &str, service: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM credentials WHERE tenant_id = $1 AND service = $2")
            .bind(tenant)
            .bind(service)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    // --- sessions and phantom tokens ---------------------------------------

    /// Stores more tokens of an existing session (each exec gets its own).
    pub async fn insert_tokens(&self, tokens: &[TokenRow]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for token in tokens {
            insert_token(&mut tx, token).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stores a session and its tokens in one transaction.
    pub async fn insert_session(&self, session: &SessionRow, tokens: &[TokenRow]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO sessions (id, tenant_id, created_at, expires_at, closed_at, services, scopes, max_requests, \
             requests_used) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
        .execute(&mut *tx)
        .await?;
        for token in tokens {
            insert_token(&mut tx, token).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A session in scope.
    pub async fn session(&self, scope: &Scope, id: &str) -> StoreResult<Option<SessionRow>> {
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

    /// Sessions in scope, newest first, and how many there are in all.
    pub async fn list_sessions(&self, scope: &Scope, limit: i64, offset: i64) -> StoreResult<(Vec<SessionRow>, i64)> {
        let (cond, tenant) = scope.condition(1);
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
    pub async fn close_session(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
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

    /// The phantom token with this hash.
    pub async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<TokenRow>> {
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
    pub async fn phantom_grant(&self, token_hash: &str) -> StoreResult<Option<GrantRow>> {
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
    pub async fn spend_request(&self, session_id: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET requests_used = requests_used + 1 \
             WHERE id = $1 AND (max_requests IS NULL OR requests_used < max_requests)",
        )
        .bind(session_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    // --- jail ledger ---------------------------------------------------------

    /// Opens a ledger row (`running`) and returns its id.
    pub async fn insert_jail(
        &self,
        tenant: &str,
        kind: &str,
        session_id: Option<&str>,
        label: Option<&str>,
        parent_id: Option<i64>,
        config: &str,
    ) -> StoreResult<i64> {
        let row = sqlx::query(
            "INSERT INTO jails (tenant_id, kind, started_at, status, session_id, label, parent_id, config) \
             VALUES ($1, $2, $3, 'running', $4, $5, $6, $7) RETURNING id",
        )
        .bind(tenant)
        .bind(kind)
        .bind(now_ms())
        .bind(session_id)
        .bind(label)
        .bind(parent_id)
        .bind(config)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("id")?)
    }

    /// Closes a ledger row.
    pub async fn finish_jail(&self, id: i64, end: &JailEnd) -> StoreResult<()> {
        sqlx::query(
            "UPDATE jails SET ended_at = $1, status = $2, exit_code = $3, duration_ms = $4, timed_out = $5, \
             oom_killed = $6, memory_peak_bytes = $7, memory_current_bytes = $8, cpu_usage_usec = $9, \
             io_read_bytes = $10, io_write_bytes = $11, pids_current = $12, stdout = $13, stderr = $14, error = $15 \
             WHERE id = $16",
        )
        .bind(now_ms())
        .bind(end.status)
        .bind(end.exit_code)
        .bind(end.duration_ms)
        .bind(end.timed_out as i64)
        .bind(end.oom_killed as i64)
        .bind(end.memory_peak_bytes)
        .bind(end.memory_current_bytes)
        .bind(end.cpu_usage_usec)
        .bind(end.io_read_bytes)
        .bind(end.io_write_bytes)
        .bind(end.pids_current)
        .bind(&end.stdout)
        .bind(&end.stderr)
        .bind(&end.error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Closes every `running` row as `error` (after a crash or a kill at
    /// shutdown); returns how many.
    pub async fn close_running_jails(&self, reason: &str) -> StoreResult<u64> {
        let done = sqlx::query("UPDATE jails SET status = 'error', ended_at = $1, error = $2 WHERE status = 'running'")
            .bind(now_ms())
            .bind(reason)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// A ledger row in scope.
    pub async fn jail(&self, scope: &Scope, id: i64) -> StoreResult<Option<JailRow>> {
        let (cond, tenant) = scope.condition(2);
        let row = sqlx::query(&format!("SELECT {JAIL_COLUMNS} FROM jails WHERE id = $1 AND {cond}"))
            .bind(id)
            .bind(tenant)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| jail_row(&r)).transpose()
    }

    /// Ledger rows in scope, newest first, and how many match in all.
    pub async fn list_jails(
        &self,
        scope: &Scope,
        filter: &JailFilter,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<JailRow>, i64)> {
        let (cond, tenant) = scope.condition(1);
        let q = filter.q.as_ref().map(|q| format!("%{}%", q.replace(['%', '_'], "")));
        let filters = format!(
            "{cond} AND ($2 = '' OR status = $2) AND ($3 = '' OR kind = $3) AND ($4 = '' OR label LIKE $4 OR session_id LIKE $4 OR config LIKE $4)"
        );
        let args = [
            tenant,
            filter.status.clone().unwrap_or_default(),
            filter.kind.clone().unwrap_or_default(),
            q.unwrap_or_default(),
        ];
        let select = format!("SELECT {JAIL_COLUMNS} FROM jails WHERE {filters} ORDER BY id DESC LIMIT $5 OFFSET $6");
        let mut query = sqlx::query(&select);
        for arg in &args {
            query = query.bind(arg.clone());
        }
        let rows = query.bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let count_sql = format!("SELECT COUNT(*) AS n FROM jails WHERE {filters}");
        let mut count = sqlx::query(&count_sql);
        for arg in &args {
            count = count.bind(arg.clone());
        }
        let total: i64 = count.fetch_one(&self.pool).await?.try_get("n")?;
        Ok((rows.iter().map(jail_row).collect::<StoreResult<_>>()?, total))
    }

    // --- audit ---------------------------------------------------------------

    /// Appends an audit row.
    pub async fn insert_audit(&self, row: &AuditRow) -> StoreResult<()> {
        self.insert_audit_batch(std::slice::from_ref(row)).await
    }

    /// Appends audit rows in one transaction.
    pub async fn insert_audit_batch(&self, rows: &[AuditRow]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for row in rows {
            insert_audit_row(&mut tx, row).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Audit rows in scope, newest first, and how many there are in all.
    pub async fn list_audit(&self, scope: &Scope, limit: i64, offset: i64) -> StoreResult<(Vec<AuditRow>, i64)> {
        let (cond, tenant) = scope.condition(1);
        let rows = sqlx::query(&format!(
            "SELECT id, at, tenant_id, actor, action, target, session_id, service, method, path, status, \
             reject_reason, upstream_ms FROM audit WHERE {cond} ORDER BY id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(tenant.clone())
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total = self
            .count(&format!("SELECT COUNT(*) AS n FROM audit WHERE {cond}"), tenant)
            .await?;
        let rows = rows.iter().map(AuditRow::from_row).collect::<Result<_, _>>()?;
        Ok((rows, total))
    }

    // --- counters ------------------------------------------------------------

    /// `(total jails, open sessions, credentials)` in scope.
    pub async fn counters(&self, scope: &Scope) -> StoreResult<(i64, i64, i64)> {
        let (cond, tenant) = scope.condition(1);
        let jails = self
            .count(&format!("SELECT COUNT(*) AS n FROM jails WHERE {cond}"), tenant.clone())
            .await?;
        let sessions = self
            .count(
                &format!("SELECT COUNT(*) AS n FROM sessions WHERE closed_at IS NULL AND {cond}"),
                tenant.clone(),
            )
            .await?;
        let credentials = self
            .count(&format!("SELECT COUNT(*) AS n FROM credentials WHERE {cond}"), tenant)
            .await?;
        Ok((jails, sessions, credentials))
    }

    async fn count(&self, sql: &str, tenant: String) -> StoreResult<i64> {
        let row = sqlx::query(sql).bind(tenant).fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
    }
}

async fn insert_audit_row(tx: &mut sqlx::Transaction<'_, sqlx::Any>, row: &AuditRow) -> StoreResult<()> {
    // Not a cached prepared statement: sqlx's Any driver (0.8) binds a NULL
    // `Option<f64>` as a 4-byte float, so a statement prepared for a row
    // without `upstream_ms` would refuse the next row's 8-byte value on
    // PostgreSQL.
    sqlx::query(
        "INSERT INTO audit (at, tenant_id, actor, action, target, session_id, service, method, path, status, \
             reject_reason, upstream_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(if row.at_ms == 0 { now_ms() } else { row.at_ms })
    .bind(&row.tenant_id)
    .bind(&row.actor)
    .bind(&row.action)
    .bind(&row.target)
    .bind(&row.session_id)
    .bind(&row.service)
    .bind(&row.method)
    .bind(&row.path)
    .bind(row.status)
    .bind(&row.reject_reason)
    .bind(row.upstream_ms)
    .persistent(false)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_token(tx: &mut sqlx::Transaction<'_, sqlx::Any>, token: &TokenRow) -> StoreResult<()> {
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

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

const KEY_COLUMNS: &str = "id, tenant_id, role, token_hash, label, source, created_at, revoked_at";
const CREDENTIAL_COLUMNS: &str = "tenant_id, service, nonce, ciphertext, fingerprint, added_at, updated_at";
const SESSION_COLUMNS: &str =
    "id, tenant_id, created_at, expires_at, closed_at, services, scopes, max_requests, requests_used";
const JAIL_COLUMNS: &str = "id, tenant_id, kind, started_at, ended_at, status, session_id, label, exit_code, \
     duration_ms, timed_out, oom_killed, memory_peak_bytes, memory_current_bytes, cpu_usage_usec, io_read_bytes, \
     io_write_bytes, pids_current, stdout, stderr, error, parent_id, config";

fn jail_row(r: &AnyRow) -> StoreResult<JailRow> {
    Ok(JailRow {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        kind: r.try_get("kind")?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
        status: r.try_get("status")?,
        session_id: r.try_get("session_id")?,
        label: r.try_get("label")?,
        exit_code: r.try_get("exit_code")?,
        duration_ms: r.try_get("duration_ms")?,
        timed_out: r.try_get::<i64, _>("timed_out")? != 0,
        oom_killed: r.try_get::<i64, _>("oom_killed")? != 0,
        memory_peak_bytes: r.try_get("memory_peak_bytes")?,
        memory_current_bytes: r.try_get("memory_current_bytes")?,
        cpu_usage_usec: r.try_get("cpu_usage_usec")?,
        io_read_bytes: r.try_get("io_read_bytes")?,
        io_write_bytes: r.try_get("io_write_bytes")?,
        pids_current: r.try_get("pids_current")?,
        stdout: r.try_get("stdout")?,
        stderr: r.try_get("stderr")?,
        error: r.try_get("error")?,
        parent_id: r.try_get("parent_id")?,
        config: r.try_get("config")?,
    })
}
