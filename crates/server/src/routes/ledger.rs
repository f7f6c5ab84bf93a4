//! The jail ledger and the audit log.

use paddock_api::{Error, ErrorCode};
use axum::extract::{Path, Query, State};
use axum::Json;

use serde::Serialize;

use super::{rfc3339, ListQuery};
use crate::app::SharedState;
use crate::routes::extract::Caller;
use crate::routes::error::{ApiResult, ErrorBody};
use crate::db::{AuditRow, JailFilter, JailRow};

/// One jail of the ledger.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JailRecord {
    pub id: i64,
    /// `run`, `exec`, `fork`, `stream` or `workspace`.
    pub kind: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// `running`, `completed` or `error`.
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
    /// The first 16 KiB.
    pub stdout: String,
    /// The first 16 KiB.
    pub stderr: String,
    /// Why it failed to run, for `error` rows.
    pub error: Option<String>,
    /// The fork parent's row.
    pub parent_id: Option<i64>,
    /// What it ran with (depends on the kind).
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
}

/// `{rows, total, limit, offset}` of the ledger.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JailsList {
    pub rows: Vec<JailRecord>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

fn jail_json(row: &JailRow) -> JailRecord {
    let row = row.clone();
    JailRecord {
        id: row.id,
        kind: row.kind,
        started_at: rfc3339(row.started_at),
        ended_at: row.ended_at.map(rfc3339),
        status: row.status,
        session_id: row.session_id,
        label: row.label,
        exit_code: row.exit_code,
        duration_ms: row.duration_ms,
        timed_out: row.timed_out,
        oom_killed: row.oom_killed,
        memory_peak_bytes: row.memory_peak_bytes,
        memory_current_bytes: row.memory_current_bytes,
        cpu_usage_usec: row.cpu_usage_usec,
        io_read_bytes: row.io_read_bytes,
        io_write_bytes: row.io_write_bytes,
        pids_current: row.pids_current,
        stdout: row.stdout,
        stderr: row.stderr,
        error: row.error,
        parent_id: row.parent_id,
        config: serde_json::from_str(&row.config).unwrap_or_default(),
    }
}

#[utoipa::path(get, path = "/v1/jails", operation_id = "listJails", summary = "List the jail ledger", tag = "ledger", security(("bearer" = [])), params(ListQuery), responses((status = 200, description = "A page of the ledger", body = JailsList), (status = 400, description = "Unknown `status` or `kind`", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody)))]
pub async fn list_jails(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<JailsList>> {
    if let Some(status) = &query.status {
        if !["running", "completed", "error"].contains(&status.as_str()) {
            return Err(Error::new(ErrorCode::BadStatus,
                format!("unknown status {status:?} (running, completed or error)"),
            ).into());
        }
    }
    if let Some(kind) = &query.kind {
        if !["run", "exec", "fork", "stream", "workspace"].contains(&kind.as_str()) {
            return Err(Error::new(ErrorCode::BadKind,
                format!("unknown kind {kind:?} (run, exec, fork, stream or workspace)"),
            ).into());
        }
    }
    let (limit, offset) = query.page(50, 1000);
    let filter = JailFilter {
        status: query.status.clone(),
        kind: query.kind.clone(),
        q: query.q.clone().filter(|q| !q.is_empty()),
    };
    let (rows, total) = state
        .db
        .list_jails(&caller.scope(query.tenant.as_deref()), &filter, limit, offset)
        .await?;
    Ok(Json(JailsList {
        rows: rows.iter().map(jail_json).collect(),
        total,
        limit,
        offset,
    }))
}

#[utoipa::path(get, path = "/v1/jails/{id}", operation_id = "getJail", summary = "Get a ledger row", tag = "ledger", security(("bearer" = [])), params(("id" = i64, Path, description = "Ledger id")), responses((status = 200, description = "The ledger row", body = JailRecord), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such jail", body = ErrorBody)))]
pub async fn get_jail(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<JailRecord>> {
    let id: i64 = id.parse().map_err(|_| Error::not_found("jail"))?;
    let row = state
        .db
        .jail(&caller.scope(None), id)
        .await?
        .ok_or_else(|| Error::not_found("jail"))?;
    Ok(Json(jail_json(&row)))
}

/// One audit row: a proxied request, or (ext) a control-plane action.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AuditRow)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    /// (ext) The key that acted (control-plane rows).
    pub actor: Option<String>,
    /// (ext) What it did (`session.create`, `credential.put`, ...).
    pub action: Option<String>,
    /// (ext) What it acted on.
    pub target: Option<String>,
    pub session_id: Option<String>,
    pub service: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<i64>,
    pub reject_reason: Option<String>,
    pub upstream_ms: Option<f64>,
}

/// `{rows, total}` of the audit log, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditList {
    pub rows: Vec<AuditEntry>,
    pub total: i64,
}

fn audit_json(row: &AuditRow) -> AuditEntry {
    let row = row.clone();
    AuditEntry {
        id: row.id,
        at: rfc3339(row.at_ms),
        actor: row.actor,
        action: row.action,
        target: row.target,
        session_id: row.session_id,
        service: row.service,
        method: row.method,
        path: row.path,
        status: row.status,
        reject_reason: row.reject_reason,
        upstream_ms: row.upstream_ms,
    }
}

#[utoipa::path(get, path = "/v1/audit", operation_id = "listAudit", summary = "Read the audit log", tag = "ledger", security(("bearer" = [])), params(ListQuery), responses((status = 200, description = "A page of the audit log, newest first", body = AuditList), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody)))]
pub async fn audit(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<AuditList>> {
    let (limit, offset) = query.page(100, 1000);
    let (rows, total) = state
        .db
        .list_audit(&caller.scope(query.tenant.as_deref()), limit, offset)
        .await?;
    Ok(Json(AuditList {
        rows: rows.iter().map(audit_json).collect(),
        total,
    }))
}
