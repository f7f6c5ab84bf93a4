//! The jail ledger: one row per jail, opened while it starts and closed
//! when it ends.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{now_ms, Db, DbResult, Scope};

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
    /// JSON of its egress log (allowlist mode), if it had one.
    pub egress: Option<String>,
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
    /// JSON of the egress log, if the jail had one.
    pub egress: Option<String>,
}

/// Filters of the ledger list (`q`: a case-insensitive substring of the
/// label, session id, error or config).
#[derive(Debug, Clone, Default)]
pub struct JailFilter {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub q: Option<String>,
}

const JAIL_COLUMNS: &str = "id, tenant_id, kind, started_at, ended_at, status, session_id, label, exit_code, \
     duration_ms, timed_out, oom_killed, memory_peak_bytes, memory_current_bytes, cpu_usage_usec, io_read_bytes, \
     io_write_bytes, pids_current, stdout, stderr, error, parent_id, config, egress";

impl Db {
    /// Opens a ledger row (`running`) and returns its id.
    pub async fn insert_jail(
        &self,
        tenant: &str,
        kind: &str,
        session_id: Option<&str>,
        label: Option<&str>,
        parent_id: Option<i64>,
        config: &str,
    ) -> DbResult<i64> {
        let rows = sqlx::query(
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
        // Every row, not the first: SQLite commits when the statement
        // finishes, and a failed commit is reported only to a reader that
        // steps it to the end (the first row alone can come back from an
        // insert that was then rolled back).
        .fetch_all(&self.pool)
        .await?;
        let row = rows.first().ok_or(sqlx::Error::RowNotFound)?;
        Ok(row.try_get("id")?)
    }

    /// Closes a ledger row.
    pub async fn finish_jail(&self, id: i64, end: &JailEnd) -> DbResult<()> {
        sqlx::query(
            "UPDATE jails SET ended_at = $1, status = $2, exit_code = $3, duration_ms = $4, timed_out = $5, \
             oom_killed = $6, memory_peak_bytes = $7, memory_current_bytes = $8, cpu_usage_usec = $9, \
             io_read_bytes = $10, io_write_bytes = $11, pids_current = $12, stdout = $13, stderr = $14, error = $15, \
             egress = $16 WHERE id = $17",
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
        .bind(&end.egress)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Closes every `running` row as `error` (after a crash or a kill at
    /// shutdown); returns how many.
    pub async fn close_running_jails(&self, reason: &str) -> DbResult<u64> {
        let done = sqlx::query("UPDATE jails SET status = 'error', ended_at = $1, error = $2 WHERE status = 'running'")
            .bind(now_ms())
            .bind(reason)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Deletes up to `limit` ledger rows of jails that ended before
    /// `before` (Unix ms), oldest first; rows of running jails are kept.
    /// Returns how many were deleted (fewer than `limit`: none are left).
    pub async fn prune_jails(&self, before: i64, limit: i64) -> DbResult<u64> {
        // By id through a subquery: both backends, and a bounded batch so
        // a first pruning of a large table never holds the write lock long.
        // Rows are inserted in time order and there is no index on time:
        // the scan stops at the first recent row (`id <` it), so a round
        // with nothing to prune reads a few rows, not the table.
        let done = sqlx::query(
            "DELETE FROM jails WHERE id IN (SELECT id FROM jails WHERE \
             id < COALESCE((SELECT id FROM jails WHERE started_at >= $1 ORDER BY id LIMIT 1), 9223372036854775807) \
             AND status <> 'running' AND COALESCE(ended_at, started_at) < $1 ORDER BY id LIMIT $2)",
        )
        .bind(before)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// A ledger row in scope.
    pub async fn jail(&self, scope: &Scope, id: i64) -> DbResult<Option<JailRow>> {
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
    ) -> DbResult<(Vec<JailRow>, i64)> {
        let (cond, tenant) = scope.condition(1);
        // Case-insensitive on both backends (PostgreSQL's LIKE is not).
        let q = filter
            .q
            .as_ref()
            .map(|q| format!("%{}%", q.replace(['%', '_'], "").to_lowercase()));
        let filters = format!(
            "{cond} AND ($2 = '' OR status = $2) AND ($3 = '' OR kind = $3) AND ($4 = '' OR LOWER(label) LIKE $4 \
             OR LOWER(session_id) LIKE $4 OR LOWER(error) LIKE $4 OR LOWER(config) LIKE $4)"
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
        Ok((rows.iter().map(jail_row).collect::<DbResult<_>>()?, total))
    }
}

fn jail_row(r: &AnyRow) -> DbResult<JailRow> {
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
        egress: r.try_get("egress")?,
    })
}
