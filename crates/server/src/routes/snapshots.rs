//! Snapshots (API.md): records of workspace trees in the content-addressed
//! pool; list, get, per-file manifest, delete (with garbage collection).

use paddock_api::Error;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::rfc3339;
use crate::app::SharedState;
use crate::routes::extract::Caller;
use crate::config::Role;
use crate::routes::error::{ApiResult, ErrorBody};
use crate::db::SnapshotRow;
use crate::services::workspaces;

/// A snapshot as the API returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SnapshotRecord {
    pub id: String,
    pub workspace_id: Option<String>,
    pub name: Option<String>,
    pub created_at: String,
    /// Host path of the blob pool holding it (blank for operators).
    pub path: String,
    /// Bytes of its regular files.
    pub size_bytes: i64,
    /// (ext) Regular files.
    pub file_count: i64,
    /// (ext) A running exec was frozen for the copy.
    pub frozen: bool,
    /// (ext) Taken by an idle pause.
    pub auto: bool,
}

/// `{rows, total, limit, offset}` of snapshots.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SnapshotList {
    pub rows: Vec<SnapshotRecord>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// One file of a snapshot.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SnapshotManifestEntry {
    pub path: String,
    /// Permission bits as snapshotted.
    pub mode: u32,
    /// BLAKE3-256 of the contents, hex.
    pub hash: String,
    pub size: u64,
}

/// The per-file hash list of a snapshot.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SnapshotManifest {
    /// Always `incremental` (pool-backed).
    pub kind: String,
    pub entries: Vec<SnapshotManifestEntry>,
}

pub(crate) fn snapshot_json(state: &SharedState, caller: &Caller, row: &SnapshotRow) -> SnapshotRecord {
    SnapshotRecord {
        id: row.id.clone(),
        workspace_id: row.workspace_id.clone(),
        name: row.name.clone(),
        created_at: rfc3339(row.created_at),
        path: if caller.role == Role::Admin {
            state.workspaces.pool().root().display().to_string()
        } else {
            String::new()
        },
        size_bytes: row.size_bytes,
        file_count: row.file_count,
        frozen: row.frozen != 0,
        auto: row.auto != 0,
    }
}

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
    let (rows, total) = state
        .db
        .list_snapshots(
            &caller.scope(query.tenant.as_deref()),
            query.workspace_id.as_deref().filter(|w| !w.is_empty()),
            query.q.as_deref(),
            limit,
            offset,
        )
        .await?;
    Ok(Json(SnapshotList {
        rows: rows.iter().map(|r| snapshot_json(&state, &caller, r)).collect(),
        total,
        limit,
        offset,
    }))
}

async fn find(state: &SharedState, caller: &Caller, id: &str) -> Result<SnapshotRow, Error> {
    state
        .db
        .snapshot(&caller.scope(None), id)
        .await?
        .ok_or_else(|| Error::not_found("snapshot"))
}

#[utoipa::path(get, path = "/v1/snapshots/{id}", operation_id = "getSnapshot", summary = "Get a snapshot", tag = "snapshots", security(("bearer" = [])),
    params(("id" = String, Path, description = "Snapshot id")),
    responses((status = 200, description = "The snapshot", body = SnapshotRecord), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such snapshot", body = ErrorBody)))]
pub async fn get(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SnapshotRecord>> {
    let row = find(&state, &caller, &id).await?;
    Ok(Json(snapshot_json(&state, &caller, &row)))
}

#[utoipa::path(get, path = "/v1/snapshots/{id}/manifest", operation_id = "getSnapshotManifest", summary = "List a snapshot's files", tag = "snapshots", security(("bearer" = [])),
    params(("id" = String, Path, description = "Snapshot id")),
    responses((status = 200, description = "Every file of the snapshot with its hash", body = SnapshotManifest), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such snapshot", body = ErrorBody)))]
pub async fn manifest(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SnapshotManifest>> {
    let row = find(&state, &caller, &id).await?;
    let manifest = workspaces::load_manifest(&state, &row.id).await?;
    let entries = manifest
        .files()
        .map(|e| SnapshotManifestEntry {
            path: e.path.clone(),
            mode: e.mode,
            hash: e.hash.map(|h| h.to_hex()).unwrap_or_default(),
            size: e.size,
        })
        .collect();
    Ok(Json(SnapshotManifest {
        kind: "incremental".into(),
        entries,
    }))
}

#[utoipa::path(delete, path = "/v1/snapshots/{id}", operation_id = "deleteSnapshot", summary = "Delete a snapshot", tag = "snapshots", security(("bearer" = [])),
    params(("id" = String, Path, description = "Snapshot id")),
    responses((status = 204, description = "Deleted; blobs nothing else refers to are collected"), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such snapshot", body = ErrorBody), (status = 409, description = "It holds a paused workspace's tree", body = ErrorBody)))]
pub async fn remove(State(state): State<SharedState>, caller: Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    workspaces::delete_snapshot(&state, &caller.scope(None), &id).await?;
    state.audit(&caller, "snapshot.delete", &id).await;
    Ok(StatusCode::NO_CONTENT)
}
