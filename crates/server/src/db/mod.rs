//! Persistence: SQLite in the state directory by default, PostgreSQL when
//! a `postgres://` URL is given. One schema, versioned migrations per
//! backend (`migrations/`), queries written once (sqlx `Any`, `$N`
//! placeholders, integers for times and flags).

mod audit;
mod credentials;
mod jails;
mod keys;
mod sessions;
mod workspaces;

pub use audit::AuditRow;
pub use credentials::CredentialRow;
pub use jails::{JailEnd, JailFilter, JailRow};
pub use keys::KeyRow;
pub use sessions::{GrantRow, SessionRow, TokenRow};
pub use workspaces::{SnapshotRow, WorkspaceRow};

use std::path::Path;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
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
pub type DbResult<T> = Result<T, DbError>;

/// Which rows a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One tenant's rows.
    Tenant(String),
    /// Every tenant's rows (admins).
    All,
}

impl Scope {
    /// Whether a row of `tenant` is in scope.
    pub fn includes(&self, tenant: &str) -> bool {
        match self {
            Scope::Tenant(t) => t == tenant,
            Scope::All => true,
        }
    }

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
pub struct Db {
    pool: AnyPool,
    backend: Backend,
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

impl Db {
    /// Opens (creating and migrating) the database: `url` when given
    /// (`postgres://...` or `sqlite://...`), else `paddock.db` in
    /// `state_dir`.
    pub async fn open(url: Option<&str>, state_dir: &Path) -> DbResult<Db> {
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
            return Err(DbError::UnsupportedUrl(redact_url(&url)));
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
        Ok(Db { pool, backend })
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

    // --- counters ------------------------------------------------------------

    /// `(total jails, open sessions, credentials)` in scope.
    pub async fn counters(&self, scope: &Scope) -> DbResult<(i64, i64, i64)> {
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

    async fn count(&self, sql: &str, tenant: String) -> DbResult<i64> {
        let row = sqlx::query(sql).bind(tenant).fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
    }
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
