//! Workspaces (API.md): long-lived trees at `/workspace`, created empty,
//! from git, or from a snapshot; exec (to its end or streamed), fork,
//! snapshot, rename, delete. The work is in [`crate::services::workspaces`].

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use paddock_api::workspaces::{
    FromSnapshot, NewSnapshot, NewWorkspace, SnapshotRecord, Workspace, WorkspaceExec, WorkspaceForkRequest,
    WorkspaceForkResponse, WorkspaceList, WorkspaceRunState, WorkspaceUpdate,
};
use paddock_api::{Error, ErrorCode, ExecResult};

use super::sse::{self, StreamQuery};
use super::{ListQuery, TenantQuery};
use crate::app::SharedState;
use crate::routes::error::{ApiResult, ErrorBody};
use crate::routes::extract::{ApiJson, Caller};

#[utoipa::path(post, path = "/v1/workspaces", operation_id = "createWorkspace", summary = "Create a workspace", description = "Empty, or cloned from git (`git`).", tag = "workspaces", security(("bearer" = [])), params(TenantQuery),
    request_body = NewWorkspace,
    responses((status = 201, description = "The new workspace", body = Workspace), (status = 400, description = "Bad settings, unknown flavor, a domain outside the preview domain, or the git clone failed (git's message)", body = ErrorBody), (status = 409, description = "Another workspace serves one of the domains", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 422, description = "JSON of the wrong shape: a missing, mistyped or unknown field (serde's message)", body = ErrorBody), (status = 429, description = "The server is running its limit of concurrent jails; retry later", body = ErrorBody)))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
    ApiJson(body): ApiJson<NewWorkspace>,
) -> ApiResult<(StatusCode, Json<Workspace>)> {
    let tenant = caller.owner(query.tenant.as_deref())?;
    let workspace = state.workspaces.create(&caller, &tenant, body).await?;
    // agentjail's domains become previews; a workspace whose domains
    // cannot be served is not kept.
    if let Err(err) = state.previews.claim_domains(&workspace).await {
        if let Err(cleanup) = state.workspaces.remove(&caller, &workspace.id).await {
            tracing::error!(%cleanup, workspace = %workspace.id, "removing a workspace whose domains were refused");
        }
        return Err(err.into());
    }
    Ok((StatusCode::CREATED, Json(workspace)))
}

#[utoipa::path(get, path = "/v1/workspaces", operation_id = "listWorkspaces", summary = "List workspaces", tag = "workspaces", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "A page of workspaces", body = WorkspaceList), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody)))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<WorkspaceList>> {
    let (limit, offset) = query.page(50, 1000);
    let scope = caller.scope(query.tenant.as_deref());
    Ok(Json(
        state
            .workspaces
            .list(&caller, &scope, query.q.as_deref(), limit, offset)
            .await?,
    ))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}", operation_id = "getWorkspace", summary = "Get a workspace", tag = "workspaces", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The workspace", body = Workspace), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such workspace", body = ErrorBody)))]
pub async fn get(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Workspace>> {
    Ok(Json(state.workspaces.get(&caller, &id).await?))
}

#[utoipa::path(patch, path = "/v1/workspaces/{id}", operation_id = "updateWorkspace", summary = "Rename a workspace", tag = "workspaces", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id")), request_body = WorkspaceUpdate,
    responses((status = 200, description = "The updated workspace", body = Workspace), (status = 400, description = "Bad label", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such workspace", body = ErrorBody), (status = 422, description = "JSON of the wrong shape: a missing, mistyped or unknown field (serde's message)", body = ErrorBody)))]
pub async fn update(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WorkspaceUpdate>,
) -> ApiResult<Json<Workspace>> {
    Ok(Json(state.workspaces.update(&caller, &id, body).await?))
}

#[utoipa::path(delete, path = "/v1/workspaces/{id}", operation_id = "deleteWorkspace", summary = "Delete a workspace", tag = "workspaces", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id")),
    responses((status = 204, description = "Deleted: the tree is removed, the record kept; its snapshots survive"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such workspace", body = ErrorBody), (status = 409, description = "An exec is running", body = ErrorBody)))]
pub async fn remove(State(state): State<SharedState>, caller: Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    state.workspaces.remove(&caller, &id).await?;
    state.kernels.forget(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// Runs a command in the workspace. One at a time (409); a paused
/// workspace resumes first.
#[utoipa::path(post, path = "/v1/workspaces/{id}/exec", operation_id = "execWorkspace", summary = "Run a command in a workspace", description = "Runs a command in the workspace. One at a time (409); a paused workspace resumes first.", tag = "workspaces", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id")), request_body = WorkspaceExec,
    responses((status = 200, description = "The command's result", body = ExecResult), (status = 400, description = "Empty command, bad environment or limits", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody), (status = 409, description = "Another exec is running", body = ErrorBody), (status = 422, description = "JSON of the wrong shape: a missing, mistyped or unknown field (serde's message)", body = ErrorBody), (status = 429, description = "The server is running its limit of concurrent jails; retry later", body = ErrorBody)))]
pub async fn exec(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WorkspaceExec>,
) -> ApiResult<Json<ExecResult>> {
    Ok(Json(state.workspaces.exec(&caller, &id, body).await?))
}

/// Runs a command in the workspace and streams its events as SSE, the
/// same as `POST /v1/runs/stream`. One at a time (409); a paused workspace
/// resumes first; a client that goes away ends the jail.
#[utoipa::path(post, path = "/v1/workspaces/{id}/exec/stream", operation_id = "streamWorkspaceExec", summary = "Run a command in a workspace, streaming its events (SSE)", description = "SSE: `started`, `stdout`, `stderr`, `stats` (every 500 ms), `egress` (allowlist mode), then exactly one `completed` or `error`, as `POST /v1/runs/stream`. One exec at a time (409); a paused workspace resumes first; a client that goes away ends the jail.", tag = "workspaces", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id"), StreamQuery), request_body = WorkspaceExec,
    responses((status = 200, description = "SSE: started, stdout, stderr, stats, egress, then one completed or error", content_type = "text/event-stream", body = String, headers(("x-paddock-run-id" = i64, description = "The exec's ledger id"))), (status = 400, description = "Empty command, bad environment or limits", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody), (status = 409, description = "Another exec is running", body = ErrorBody), (status = 422, description = "JSON of the wrong shape: a missing, mistyped or unknown field (serde's message)", body = ErrorBody), (status = 429, description = "The server is running its limit of concurrent jails; retry later", body = ErrorBody)))]
pub async fn exec_stream(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<StreamQuery>,
    ApiJson(body): ApiJson<WorkspaceExec>,
) -> ApiResult<Response> {
    let stream = state.workspaces.exec_stream(&caller, &id, body).await?;
    Ok(sse::respond(stream, query.output.unwrap_or_default()))
}

/// Snapshots the tree; a running exec is frozen for the copy.
#[utoipa::path(post, path = "/v1/workspaces/{id}/snapshot", operation_id = "snapshotWorkspace", summary = "Snapshot a workspace", description = "Snapshots the tree; a running exec is frozen for the copy.", tag = "workspaces", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id")), request_body(content = Option<NewSnapshot>, description = "Optional: `{}`, `{\"name\": ...}` or no body at all"),
    responses((status = 201, description = "The new snapshot", body = SnapshotRecord), (status = 400, description = "Bad body or name", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such workspace", body = ErrorBody)))]
pub async fn snapshot(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<SnapshotRecord>)> {
    // The body is optional: `{}`, `{"name": ...}` or nothing at all.
    let name = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<NewSnapshot>(&body)
            .map_err(|e| Error::new(ErrorCode::BadJson, format!("bad snapshot request: {e}")))?
            .name
    };
    let snap = state.workspaces.snapshot(&caller, &id, name).await?;
    Ok((StatusCode::CREATED, Json(snap)))
}

/// Snapshots the workspace once and makes `count` independent workspaces
/// from it.
#[utoipa::path(post, path = "/v1/workspaces/{id}/fork", operation_id = "forkWorkspace", summary = "Fork a workspace", description = "Snapshots the workspace once and makes `count` independent workspaces from it.", tag = "workspaces", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id")), request_body = WorkspaceForkRequest,
    responses((status = 201, description = "The parent and its forks", body = WorkspaceForkResponse), (status = 400, description = "Bad count or label", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such workspace", body = ErrorBody), (status = 422, description = "JSON of the wrong shape: a missing, mistyped or unknown field (serde's message)", body = ErrorBody)))]
pub async fn fork(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WorkspaceForkRequest>,
) -> ApiResult<(StatusCode, Json<WorkspaceForkResponse>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.workspaces.fork(&caller, &id, body).await?),
    ))
}

/// A new workspace from a snapshot; the parent workspace id must be the
/// snapshot's own (threat-model row 28).
#[utoipa::path(post, path = "/v1/workspaces/from-snapshot", operation_id = "createWorkspaceFromSnapshot", summary = "Create a workspace from a snapshot", description = "A new workspace from a snapshot; the parent workspace id must be the snapshot's own (threat-model row 28).", tag = "workspaces", security(("bearer" = [])),
    request_body = FromSnapshot,
    responses((status = 201, description = "The new workspace", body = Workspace), (status = 400, description = "Bad label or an unknown flavor", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such snapshot of that workspace", body = ErrorBody), (status = 422, description = "JSON of the wrong shape: a missing, mistyped or unknown field (serde's message)", body = ErrorBody)))]
pub async fn from_snapshot(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(body): ApiJson<FromSnapshot>,
) -> ApiResult<(StatusCode, Json<Workspace>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.workspaces.from_snapshot(&caller, body).await?),
    ))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/start", operation_id = "startWorkspace", summary = "Start a workspace",
    description = "Starts the workspace's runtime jail (a paused tree is brought back first); runtime calls start it on demand too. Idempotent.",
    tag = "workspaces", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The workspace runs", body = WorkspaceRunState), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody), (status = 429, description = "The server is running its limit of concurrent jails; retry later", body = ErrorBody),
        (status = 507, description = "The state disk is below its free-space watermark", body = ErrorBody)))]
pub async fn start(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<WorkspaceRunState>> {
    Ok(Json(state.workspaces.start(&caller, &id).await?))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/stop", operation_id = "stopWorkspace", summary = "Stop a workspace",
    description = "Ends the workspace's runtime jail and every process in it; the tree stays. Idempotent.",
    tag = "workspaces", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The workspace is stopped", body = WorkspaceRunState), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody)))]
pub async fn stop(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<WorkspaceRunState>> {
    Ok(Json(state.workspaces.stop(&caller, &id).await?))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/state", operation_id = "getWorkspaceState", summary = "Whether a workspace runs",
    tag = "workspaces", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "Running or stopped", body = WorkspaceRunState), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody)))]
pub async fn run_state(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<WorkspaceRunState>> {
    Ok(Json(state.workspaces.run_state(&caller, &id).await?))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/pause", operation_id = "pauseWorkspace", summary = "Pause a running workspace",
    description = "Freezes the workspace's runtime jail: its processes keep their memory and get no CPU until `resume` or the next runtime call. Snapshots of a paused workspace leave it paused.",
    tag = "workspaces", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The workspace is paused", body = WorkspaceRunState), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody), (status = 409, description = "The workspace is not running", body = ErrorBody),
        (status = 501, description = "This host gives the server no cgroup freezer", body = ErrorBody)))]
pub async fn pause(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<WorkspaceRunState>> {
    Ok(Json(state.workspaces.pause(&caller, &id).await?))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/resume", operation_id = "resumeWorkspace", summary = "Resume a paused workspace",
    tag = "workspaces", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The workspace runs", body = WorkspaceRunState), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody), (status = 409, description = "The workspace is not running", body = ErrorBody)))]
pub async fn resume(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<WorkspaceRunState>> {
    Ok(Json(state.workspaces.resume_running(&caller, &id).await?))
}
