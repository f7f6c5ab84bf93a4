//! Snapshots (API.md): records of workspace trees in the content-addressed
//! pool; list, get, per-file manifest, delete (with garbage collection).
//! The work is in [`crate::services::workspaces`].

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use paddock_api::workspaces::{SnapshotList, SnapshotManifest, SnapshotRecord};
use serde::Deserialize;

use crate::app::SharedState;
use crate::routes::error::{ApiResult, ErrorBody};
use crate::routes::extract::Caller;

/// `?workspace_id=&limit=&offset=&q=&tenant=`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnapshotQuery {
    /// Only this workspace's snapshots.
    pub workspace_id: Option<String>,
    /// Rows per page.
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
    /// Search in id and name.
    pub q: Option<String>,
    /// Admins: one tenant's rows.
    pub tenant: Option<String>,
}

#[utoipa::path(get, path = "/v1/snapshots", operation_id = "listSnapshots", summary = "List snapshots", tag = "snapshots", security(("bearer" = [])), params(SnapshotQuery),
    responses((status = 200, description = "A page of snapshots", body = SnapshotList), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody)))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<SnapshotQuery>,
) -> ApiResult<Json<SnapshotList>> {
    let limit = query.limit.unwrap_or(50).clamp(1, 1000);
    let offset = query.offset.unwrap_or(0).max(0);
    let scope = caller.scope(query.tenant.as_deref());
    let page = state
        .workspaces
        .list_snapshots(
            &caller,
            &scope,
            query.workspace_id.as_deref(),
            query.q.as_deref(),
            limit,
            offset,
        )
        .await?;
    Ok(Json(page))
}

#[utoipa::path(get, path = "/v1/snapshots/{id}", operation_id = "getSnapshot", summary = "Get a snapshot", tag = "snapshots", security(("bearer" = [])),
    params(("id" = String, Path, description = "Snapshot id")),
    responses((status = 200, description = "The snapshot", body = SnapshotRecord), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such snapshot", body = ErrorBody)))]
pub async fn get(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SnapshotRecord>> {
    Ok(Json(state.workspaces.get_snapshot(&caller, &id).await?))
}

#[utoipa::path(get, path = "/v1/snapshots/{id}/manifest", operation_id = "getSnapshotManifest", summary = "List a snapshot's files", tag = "snapshots", security(("bearer" = [])),
    params(("id" = String, Path, description = "Snapshot id")),
    responses((status = 200, description = "Every file of the snapshot with its hash", body = SnapshotManifest), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such snapshot", body = ErrorBody)))]
pub async fn manifest(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SnapshotManifest>> {
    Ok(Json(state.workspaces.snapshot_manifest(&caller, &id).await?))
}

#[utoipa::path(delete, path = "/v1/snapshots/{id}", operation_id = "deleteSnapshot", summary = "Delete a snapshot", tag = "snapshots", security(("bearer" = [])),
    params(("id" = String, Path, description = "Snapshot id")),
    responses((status = 204, description = "Deleted; blobs nothing else refers to are collected"), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such snapshot", body = ErrorBody), (status = 409, description = "It holds a paused workspace's tree", body = ErrorBody)))]
pub async fn remove(State(state): State<SharedState>, caller: Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    state.workspaces.delete_snapshot(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
