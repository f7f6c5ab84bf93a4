//! Persistence: SQLite in the state directory by default, PostgreSQL when
//! a `postgres://` URL is given. One schema, versioned migrations per
//! backend (`migrations/`), queries written once (sqlx `Any`, `$N`
//! placeholders, integers for times and flags).

mod acp;
mod agent_sessions;
mod audit;
mod code;
mod credentials;
mod jails;
mod keys;
mod previews;
mod retry;
mod sessions;
mod tokens;
mod workspaces;

pub use acp::{AcpEventRow, AcpServerRow};
pub use agent_sessions::{AgentSessionRow, AgentTurnRow};
pub use audit::AuditRow;
pub use code::CodeKey;
pub use credentials::CredentialRow;
pub use jails::{JailEnd, JailFilter, JailRow};
pub use keys::KeyRow;
pub use previews::PreviewRow;
pub use retry::{retry_after_failure, RetryPolicy};
pub use sessions::{GrantRow, SessionRow, TokenRow};
pub use tokens::ScopedTokenRow;
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

/// What a store error means for the request that met it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFault {
    /// The database cannot be reached or written now (down, a timeout, an
    /// I/O error, a lock, read-only or deleted files): retry later.
    Unavailable,
    /// The database's disk is full.
    Full,
    /// A failure that retrying does not cure (a bug, a constraint).
    Other,
}

impl DbError {
    /// Whether the error is a unique constraint's (on either backend).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, DbError::Database(err) if err.as_database_error().is_some_and(|e| e.is_unique_violation()))
    }

    /// Whether the connection was lost while a statement may have been on
    /// its way: the database may have committed a write whose answer never
    /// came back (PostgreSQL cut by a crash, a shutdown or the network).
    /// A lost connection cannot tell a statement from a handshake, so this
    /// errs towards "unknown"; a refused connection, a pool timeout or a
    /// refused statement is not: nothing was sent, or the database said no.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            DbError::Database(sqlx::Error::Io(err)) => !matches!(
                err.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::AddrNotAvailable
            ),
            DbError::Database(sqlx::Error::Tls(_)) => true,
            DbError::Database(sqlx::Error::Database(db)) => {
                let code = db.code().unwrap_or_default();
                // admin_shutdown, crash_shutdown; connection failure.
                matches!(code.as_ref(), "57P01" | "57P02" | "08006")
            }
            _ => false,
        }
    }

    /// Classifies the error: SQLite's primary result codes and
    /// PostgreSQL's SQLSTATE classes, pool timeouts and I/O errors.
    pub fn fault(&self) -> DbFault {
        let DbError::Database(err) = self else {
            return DbFault::Other;
        };
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                DbFault::Unavailable
            }
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                match code.parse::<i64>() {
                    // SQLite: the primary code is the low byte of the
                    // extended one. BUSY, LOCKED, READONLY, IOERR,
                    // CANTOPEN, PROTOCOL; FULL.
                    Ok(n) => match n & 0xff {
                        5 | 6 | 8 | 10 | 14 | 15 => DbFault::Unavailable,
                        13 => DbFault::Full,
                        _ => DbFault::Other,
                    },
                    // PostgreSQL: disk full; connection exceptions,
                    // insufficient resources, operator intervention
                    // (shutdown, a cancelled or timed-out statement),
                    // system errors (I/O), serialization failures,
                    // read-only transactions on a standby.
                    Err(_) => match code.as_ref() {
                        "53100" => DbFault::Full,
                        c if c.starts_with("08")
                            || c.starts_with("53")
                            || c.starts_with("57P")
                            || c.starts_with("58")
                            || c.starts_with("40")
                            || c == "57014"
                            || c == "25006" =>
                        {
                            DbFault::Unavailable
                        }
                        _ => DbFault::Other,
                    },
                }
            }
            _ => DbFault::Other,
        }
    }
}

/// How long a request waits for a database connection unless configured
/// otherwise (`--db-timeout`): a database that is down fails fast.
pub const DEFAULT_ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

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

/// The identity of the SQLite file the server opened: a connection is
/// refused once the path names another file or none (deleted or replaced
/// while the server ran), instead of writing into an unlinked inode whose
/// rows vanish at the next start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    dev: u64,
    ino: u64,
}

impl FileIdentity {
    fn of(path: &Path) -> std::io::Result<FileIdentity> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)?;
        Ok(FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// `Ok` while `path` is still the file opened at start.
    fn check(self, path: &Path) -> Result<(), sqlx::Error> {
        match FileIdentity::of(path) {
            Ok(now) if now == self => Ok(()),
            Ok(_) => Err(lost_file(path, "was replaced by another file")),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(lost_file(path, "was deleted")),
            Err(err) => Err(sqlx::Error::Io(err)),
        }
    }
}

fn lost_file(path: &Path, what: &str) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!(
            "the database file {what} while the server ran; nothing more is written to it until {} is put back",
            path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
        ),
    ))
}

/// SQLite's settings on every connection, in this order:
/// - `locking_mode = EXCLUSIVE` before WAL is entered: the WAL index then
///   lives in the process's memory, not in a shared `-shm` map, so a
///   state file that becomes unwritable is an I/O error, never a SIGBUS;
///   the one connection this allows is all SQLite's single writer needs;
/// - WAL with `synchronous = FULL`: every commit is fsynced in the WAL
///   before it returns, so an acknowledged write survives power loss of
///   the host (NORMAL would keep the file consistent but could lose the
///   last commits);
/// - `busy_timeout` for the moments a checkpoint holds the file.
const SQLITE_PRAGMAS: &str = "PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON";

impl Db {
    /// Opens (creating and migrating) the database with the default
    /// connection timeout; see [`Db::open_with`].
    pub async fn open(url: Option<&str>, state_dir: &Path) -> DbResult<Db> {
        Db::open_with(url, state_dir, DEFAULT_ACQUIRE_TIMEOUT).await
    }

    /// Opens (creating and migrating) the database: `url` when given
    /// (`postgres://...` or `sqlite://...`), else `paddock.db` in
    /// `state_dir`. A request waits at most `acquire_timeout` for a
    /// connection, so a database that is down fails fast.
    pub async fn open_with(url: Option<&str>, state_dir: &Path, acquire_timeout: std::time::Duration) -> DbResult<Db> {
        sqlx::any::install_default_drivers();
        let url = match url {
            Some(url) => url.to_owned(),
            None => format!("sqlite://{}", state_dir.join("paddock.db").display()),
        };
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(DbError::UnsupportedUrl(redact_url(&url)));
        };
        let options = AnyPoolOptions::new()
            .acquire_timeout(acquire_timeout)
            .max_connections(match backend {
                // Exclusive locking: one connection (see SQLITE_PRAGMAS).
                Backend::Sqlite => 1,
                Backend::Postgres => 16,
            });
        let pool = match backend {
            Backend::Sqlite => {
                let options = options.after_release(|conn, _| {
                    Box::pin(async move {
                        // A transaction whose COMMIT failed was rolled back
                        // by SQLite itself; sqlx's ROLLBACK then fails and
                        // its count of open transactions stays at one, so
                        // the next `begin` would issue a SAVEPOINT that
                        // opens a transaction nothing ever commits: every
                        // later write would be acknowledged and lost. A
                        // connection still counted in a transaction once
                        // pending rollbacks are flushed (the ping) is
                        // closed instead of reused.
                        use sqlx::Connection;
                        conn.ping().await?;
                        Ok(!conn.is_in_transaction())
                    })
                });
                let path = sqlite_path(&url);
                // Created here, once: connections open it `mode=rw`, so a
                // file deleted later is an error, not a new empty database.
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(sqlx::Error::Io)?;
                let identity = FileIdentity::of(&path).map_err(sqlx::Error::Io)?;
                let (p1, p2) = (path.clone(), path.clone());
                options
                    .after_connect(move |conn, _| {
                        let path = p1.clone();
                        Box::pin(async move {
                            identity.check(&path)?;
                            use sqlx::Executor;
                            conn.execute(SQLITE_PRAGMAS).await?;
                            Ok(())
                        })
                    })
                    .before_acquire(move |_, _| {
                        let path = p2.clone();
                        Box::pin(async move { identity.check(&path).map(|()| true) })
                    })
                    .connect(&with_sqlite_mode(&url))
                    .await?
            }
            Backend::Postgres => options.connect(&url).await?,
        };
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Db { pool, backend })
    }

    /// Readiness: the database answers and accepts a write (a one-row
    /// probe table), within the pool's timeout.
    pub async fn probe(&self) -> DbResult<()> {
        sqlx::query("UPDATE readiness_probe SET checked_at = $1 WHERE id = 1")
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
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

/// The file of a `sqlite://PATH?options` URL.
fn sqlite_path(url: &str) -> std::path::PathBuf {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    std::path::PathBuf::from(rest.split('?').next().unwrap_or(rest))
}

/// `url` opening the file read-write without creating it.
fn with_sqlite_mode(url: &str) -> String {
    if url.contains("mode=") {
        return url.to_owned();
    }
    format!("{url}{}mode=rw", if url.contains('?') { '&' } else { '?' })
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
