//! The jail ledger and the audit log.

use axum::extract::{Path, Query, State};
use axum::Json;

use super::{page_json, rfc3339, ListQuery};
use crate::app::{Caller, SharedState};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::store::{AuditRow, JailFilter, JailRow};

fn jail_json(row: &JailRow) -> serde_json::Value {
    let mut json = serde_json::to_value(row).unwrap_or_default();
    json["started_at"] = rfc3339(row.started_at).into();
    json["ended_at"] = row.ended_at.map(rfc3339).into();
    json["config"] = serde_json::from_str(&row.config).unwrap_or_default();
    json
}

#[utoipa::path(get, path = "/v1/jails", tag = "ledger", security(("bearer" = [])), params(ListQuery), responses((status = 200, description = "`{rows, total, limit, offset}` of JailRecord", body = Object), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_jails(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    if let Some(status) = &query.status {
        if !["running", "completed", "error"].contains(&status.as_str()) {
            return Err(ApiError::bad_request(
                "BAD_STATUS",
                format!("unknown status {status:?} (running, completed or error)"),
            ));
        }
    }
    if let Some(kind) = &query.kind {
        if !["run", "exec", "fork", "stream", "workspace"].contains(&kind.as_str()) {
            return Err(ApiError::bad_request(
                "BAD_KIND",
                format!("unknown kind {kind:?} (run, exec, fork, stream or workspace)"),
            ));
        }
    }
    let (limit, offset) = query.page(50, 1000);
    let filter = JailFilter {
        status: query.status.clone(),
        kind: query.kind.clone(),
        q: query.q.clone().filter(|q| !q.is_empty()),
    };
    let (rows, total) = state
        .store
        .list_jails(&caller.scope(query.tenant.as_deref()), &filter, limit, offset)
        .await?;
    Ok(Json(page_json(
        rows.iter().map(jail_json).collect(),
        total,
        limit,
        offset,
    )))
}

#[utoipa::path(get, path = "/v1/jails/{id}", tag = "ledger", security(("bearer" = [])), params(("id" = i64, Path, description = "Ledger id")), responses((status = 200, description = "JailRecord", body = Object), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_jail(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let id: i64 = id.parse().map_err(|_| ApiError::not_found("jail"))?;
    let row = state
        .store
        .jail(&caller.scope(None), id)
        .await?
        .ok_or_else(|| ApiError::not_found("jail"))?;
    Ok(Json(jail_json(&row)))
}

fn audit_json(row: &AuditRow) -> serde_json::Value {
    let mut json = serde_json::to_value(row).unwrap_or_default();
    json["at"] = rfc3339(row.at_ms).into();
    json
}

#[utoipa::path(get, path = "/v1/audit", tag = "ledger", security(("bearer" = [])), params(ListQuery), responses((status = 200, description = "`{rows, total}`", body = Object), (status = 401, body = ErrorBody)))]
pub async fn audit(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let (limit, offset) = query.page(100, 1000);
    let (rows, total) = state
        .store
        .list_audit(&caller.scope(query.tenant.as_deref()), limit, offset)
        .await?;
    let rows: Vec<serde_json::Value> = rows.iter().map(audit_json).collect();
    Ok(Json(serde_json::json!({ "rows": rows, "total": total })))
}
