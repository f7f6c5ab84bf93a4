//! Workspaces (API.md): long-lived trees at `/workspace`, created empty,
//! from git, or from a snapshot; exec, fork, snapshot, rename, delete.

use paddock_api::{Error, ErrorCode};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{rfc3339, ListQuery, TenantQuery};
use crate::app::SharedState;
use crate::routes::extract::{ApiJson, Caller};
use crate::config::Role;
use crate::crypto::new_id;
use crate::routes::error::{ApiError, ApiResult, ErrorBody};
use paddock_api::{ExecResult, JailOptions};
use crate::routes::snapshots::{snapshot_json, SnapshotRecord};
use crate::db::{now_ms, Scope, WorkspaceRow};
use crate::services::workspaces::git::{self, GitSeed};
use crate::services::workspaces::{self, ExecSpec, SnapshotKind, WorkspaceSpec, MAX_FORKS};

/// Longest label.
const MAX_LABEL: usize = 200;
/// Longest idle timeout (a week).
const MAX_IDLE_SECS: u64 = 7 * 24 * 3600;
/// Most extra environment variables of an exec.
const MAX_ENV: usize = 128;

/// An inbound hostname forward (agentjail's gateway). paddock has no
/// gateway, so workspaces never have any; the shape is kept for clients.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkspaceDomain {
    /// Hostname matched against `Host`.
    pub domain: String,
    /// Where matched requests would go.
    pub backend_url: Option<String>,
    /// Port inside the workspace's jail.
    pub vm_port: Option<u16>,
}

/// A workspace as the API returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Workspace {
    pub id: String,
    /// (ext) The owning tenant.
    pub tenant_id: String,
    pub created_at: String,
    pub deleted_at: Option<String>,
    /// Host path of the tree (blank for operators).
    pub source_dir: String,
    /// Host path of the tree (blank for operators).
    pub output_dir: String,
    pub config: WorkspaceSpec,
    pub git_repo: Option<String>,
    pub git_ref: Option<String>,
    pub label: Option<String>,
    /// Always empty: this server has no inbound gateway.
    pub domains: Vec<WorkspaceDomain>,
    pub last_exec_at: Option<String>,
    /// Set while the workspace is paused (its tree is in `auto_snapshot`).
    pub paused_at: Option<String>,
    pub auto_snapshot: Option<String>,
}

/// `{rows, total, limit, offset}` of workspaces.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkspaceList {
    pub rows: Vec<Workspace>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// The answer of a fork.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkspaceForkResponse {
    pub parent: Workspace,
    pub forks: Vec<Workspace>,
    /// The snapshot of the parent the forks were made from.
    pub snapshot_id: String,
}

pub(crate) fn workspace_json(state: &SharedState, caller: &Caller, row: &WorkspaceRow) -> Result<Workspace, ApiError> {
    let tree = if caller.role == Role::Admin {
        state.workspaces.tree(&row.id).display().to_string()
    } else {
        String::new()
    };
    Ok(Workspace {
        id: row.id.clone(),
        tenant_id: row.tenant_id.clone(),
        created_at: rfc3339(row.created_at),
        deleted_at: row.deleted_at.map(rfc3339),
        source_dir: tree.clone(),
        output_dir: tree,
        config: workspaces::spec_of(row)?,
        git_repo: row.git_repo.clone(),
        git_ref: row.git_ref.clone(),
        label: row.label.clone(),
        domains: Vec::new(),
        last_exec_at: row.last_exec_at.map(rfc3339),
        paused_at: row.paused_at.map(rfc3339),
        auto_snapshot: row.auto_snapshot.clone(),
    })
}

fn check_label(label: &Option<String>) -> Result<(), ApiError> {
    match label {
        Some(l) if l.len() > MAX_LABEL || l.chars().any(char::is_control) => Err(Error::new(ErrorCode::BadLabel,
            format!("a label is at most {MAX_LABEL} bytes without control characters"),
        ).into()),
        _ => Ok(()),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewWorkspace {
    git: Option<GitSeed>,
    label: Option<String>,
    /// Pause after this many seconds without an exec (0 or absent: never).
    idle_timeout_secs: Option<u64>,
    /// Flavors (directories under `$state_dir/flavors/`).
    #[serde(default)]
    flavors: Vec<String>,
    /// Inbound gateway forwards: not supported here (must be empty).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    domains: Vec<serde_json::Value>,
    #[serde(flatten)]
    options: JailOptions,
}

/// The spec a create request describes (limits clamped as for runs).
pub(super) fn spec_from(body: &NewWorkspace) -> Result<WorkspaceSpec, ApiError> {
    check_label(&body.label)?;
    if !body.domains.is_empty() {
        return Err(Error::new(ErrorCode::DomainsUnsupported,
            "inbound domain forwards are not supported by this server (use network allowlists for egress)",
        ).into());
    }
    let effective = crate::services::limits::resolve(&body.options)?;
    Ok(WorkspaceSpec {
        memory_mb: effective.memory_mb,
        timeout_secs: effective.timeout_secs,
        cpu_percent: (effective.cpu_percent > 0).then_some(effective.cpu_percent),
        max_pids: effective.max_pids,
        network_mode: effective.network.mode,
        network_domains: effective.network.domains,
        seccomp: effective.seccomp.to_owned(),
        idle_timeout_secs: body.idle_timeout_secs.unwrap_or(0).min(MAX_IDLE_SECS),
        flavors: body.flavors.clone(),
    })
}

#[utoipa::path(post, path = "/v1/workspaces", operation_id = "createWorkspace", summary = "Create a workspace", description = "Empty, or cloned from git (`git`).", tag = "workspaces", security(("bearer" = [])), params(TenantQuery),
    request_body = NewWorkspace,
    responses((status = 201, description = "The new workspace", body = Workspace), (status = 400, description = "Bad settings, unknown flavor, or the git clone failed (git's message)", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 429, description = "The server is running its limit of concurrent jails; retry later", body = ErrorBody)))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
    ApiJson(body): ApiJson<NewWorkspace>,
) -> ApiResult<(StatusCode, Json<Workspace>)> {
    let tenant = caller.owner(query.tenant.as_deref())?;
    let spec = spec_from(&body)?;
    state.workspaces.check_flavors(&spec.flavors)?;
    let clones = match &body.git {
        Some(seed) => git::validate(seed, state.config.git_allow_http)?,
        None => Vec::new(),
    };
    let id = new_id("wrk_");
    let created = state.workspaces.create_dir(&id, true)?;
    git::clone_all(&state, &tenant, &created.tree(), &clones).await?;
    let (git_repo, git_ref) = match clones.as_slice() {
        [one] if one.dir.is_empty() => (Some(one.url.clone()), one.git_ref.clone()),
        [] => (None, None),
        many => (
            Some(many.iter().map(|c| c.url.as_str()).collect::<Vec<_>>().join(" ")),
            None,
        ),
    };
    let row = WorkspaceRow {
        id,
        tenant_id: tenant,
        created_at: now_ms(),
        deleted_at: None,
        label: body.label,
        spec: serde_json::to_string(&spec).map_err(Error::internal)?,
        git_repo,
        git_ref,
        last_exec_at: None,
        paused_at: None,
        auto_snapshot: None,
    };
    state.db.insert_workspace(&row).await?;
    created.keep();
    state.audit(&caller, "workspace.create", &row.id).await;
    Ok((StatusCode::CREATED, Json(workspace_json(&state, &caller, &row)?)))
}

#[utoipa::path(get, path = "/v1/workspaces", operation_id = "listWorkspaces", summary = "List workspaces", tag = "workspaces", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "A page of workspaces", body = WorkspaceList), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody)))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<WorkspaceList>> {
    let (limit, offset) = query.page(50, 1000);
    let (rows, total) = state
        .db
        .list_workspaces(
            &caller.scope(query.tenant.as_deref()),
            query.q.as_deref(),
            limit,
            offset,
        )
        .await?;
    let rows = rows
        .iter()
        .map(|r| workspace_json(&state, &caller, r))
        .collect::<Result<_, _>>()?;
    Ok(Json(WorkspaceList {
        rows,
        total,
        limit,
        offset,
    }))
}

async fn find(state: &SharedState, caller: &Caller, id: &str) -> Result<WorkspaceRow, Error> {
    state
        .db
        .workspace(&caller.scope(None), id)
        .await?
        .ok_or_else(|| Error::not_found("workspace"))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}", operation_id = "getWorkspace", summary = "Get a workspace", tag = "workspaces", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The workspace", body = Workspace), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such workspace", body = ErrorBody)))]
pub async fn get(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Workspace>> {
    let row = find(&state, &caller, &id).await?;
    Ok(Json(workspace_json(&state, &caller, &row)?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceUpdate {
    /// The new label (`null` clears it).
    label: Option<String>,
}

#[utoipa::path(patch, path = "/v1/workspaces/{id}", operation_id = "updateWorkspace", summary = "Rename a workspace", tag = "workspaces", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id")), request_body = WorkspaceUpdate,
    responses((status = 200, description = "The updated workspace", body = Workspace), (status = 400, description = "Bad label", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such workspace", body = ErrorBody)))]
pub async fn update(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WorkspaceUpdate>,
) -> ApiResult<Json<Workspace>> {
    check_label(&body.label)?;
    if !state
        .db
        .set_workspace_label(&caller.scope(None), &id, body.label.as_deref())
        .await?
    {
        return Err(Error::not_found("workspace").into());
    }
    state.audit(&caller, "workspace.rename", &id).await;
    let row = find(&state, &caller, &id).await?;
    Ok(Json(workspace_json(&state, &caller, &row)?))
}

#[utoipa::path(delete, path = "/v1/workspaces/{id}", operation_id = "deleteWorkspace", summary = "Delete a workspace", tag = "workspaces", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id")),
    responses((status = 204, description = "Deleted: the tree is removed, the record kept; its snapshots survive"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such workspace", body = ErrorBody), (status = 409, description = "An exec is running", body = ErrorBody)))]
pub async fn remove(State(state): State<SharedState>, caller: Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    workspaces::delete(&state, &caller.scope(None), &id).await?;
    state.audit(&caller, "workspace.delete", &id).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WorkspaceExec {
    cmd: String,
    #[serde(default)]
    args: Vec<String>,
    /// Deadline, 1..=3600 s (default: the workspace's).
    timeout_secs: Option<u64>,
    /// Memory, 16..=8192 MiB (default: the workspace's).
    memory_mb: Option<u64>,
    /// Extra environment, `[[name, value], ...]`.
    #[serde(default)]
    #[schema(value_type = Vec<Vec<String>>)]
    env: Vec<(String, String)>,
}

fn check_env(env: &[(String, String)]) -> Result<(), ApiError> {
    if env.len() > MAX_ENV {
        return Err(Error::new(ErrorCode::BadEnv, format!("at most {MAX_ENV} variables")).into());
    }
    for (name, value) in env {
        let valid = !name.is_empty()
            && name.len() <= 128
            && !name.as_bytes()[0].is_ascii_digit()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid || value.contains('\0') || value.len() > 32 << 10 {
            return Err(Error::new(ErrorCode::BadEnv,
                format!("bad variable {name:?}: names are letters, digits and '_'; values at most 32 KiB without NUL"),
            ).into());
        }
    }
    Ok(())
}

/// Runs a command in the workspace. One at a time (409); a paused
/// workspace resumes first.
#[utoipa::path(post, path = "/v1/workspaces/{id}/exec", operation_id = "execWorkspace", summary = "Run a command in a workspace", description = "Runs a command in the workspace. One at a time (409); a paused workspace resumes first.", tag = "workspaces", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id")), request_body = WorkspaceExec,
    responses((status = 200, description = "The command's result", body = ExecResult), (status = 400, description = "Empty command, bad environment or limits", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody), (status = 409, description = "Another exec is running", body = ErrorBody), (status = 429, description = "The server is running its limit of concurrent jails; retry later", body = ErrorBody)))]
pub async fn exec(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WorkspaceExec>,
) -> ApiResult<Json<ExecResult>> {
    if body.cmd.is_empty() {
        return Err(Error::new(ErrorCode::BadCmd, "cmd is empty").into());
    }
    check_env(&body.env)?;
    find(&state, &caller, &id).await?;
    let spec = ExecSpec {
        cmd: body.cmd,
        args: body.args,
        timeout_secs: body.timeout_secs,
        memory_mb: body.memory_mb,
        env: body.env,
    };
    let result = workspaces::exec(&state, &caller.scope(None), &id, spec).await?;
    Ok(Json(result.to_wire()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSnapshot {
    name: Option<String>,
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
    check_label(&name)?;
    let row = find(&state, &caller, &id).await?;
    let snap = workspaces::snapshot(&state, &row, name, SnapshotKind::Requested).await?;
    state.audit(&caller, "snapshot.create", &snap.id).await;
    Ok((StatusCode::CREATED, Json(snapshot_json(&state, &caller, &snap))))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceForkRequest {
    /// Forks to make, 1..=16.
    count: u32,
    /// Label of each fork (default: the parent's, with `#n`).
    label: Option<String>,
}

/// Snapshots the workspace once and makes `count` independent workspaces
/// from it.
#[utoipa::path(post, path = "/v1/workspaces/{id}/fork", operation_id = "forkWorkspace", summary = "Fork a workspace", description = "Snapshots the workspace once and makes `count` independent workspaces from it.", tag = "workspaces", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id")), request_body = WorkspaceForkRequest,
    responses((status = 201, description = "The parent and its forks", body = WorkspaceForkResponse), (status = 400, description = "Bad count or label", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such workspace", body = ErrorBody)))]
pub async fn fork(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WorkspaceForkRequest>,
) -> ApiResult<(StatusCode, Json<WorkspaceForkResponse>)> {
    if body.count == 0 || body.count as usize > MAX_FORKS {
        return Err(Error::new(ErrorCode::BadCount,
            format!("count must be 1 to {MAX_FORKS}"),
        ).into());
    }
    check_label(&body.label)?;
    let parent = find(&state, &caller, &id).await?;
    let spec = workspaces::spec_of(&parent)?;
    let snap = workspaces::snapshot(&state, &parent, Some("fork".into()), SnapshotKind::Requested).await?;
    let mut forks = Vec::new();
    for n in 1..=body.count {
        let label = body
            .label
            .clone()
            .or_else(|| parent.label.as_ref().map(|l| format!("{l} #{n}")));
        let row = workspaces::create_from_snapshot(&state, &parent.tenant_id, &snap.id, &spec, &parent, label).await?;
        forks.push(workspace_json(&state, &caller, &row)?);
    }
    state.audit(&caller, "workspace.fork", &id).await;
    let parent = find(&state, &caller, &id).await?;
    Ok((
        StatusCode::CREATED,
        Json(WorkspaceForkResponse {
            parent: workspace_json(&state, &caller, &parent)?,
            forks,
            snapshot_id: snap.id,
        }),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FromSnapshot {
    snapshot_id: String,
    /// The workspace the snapshot was taken of: proof of ownership.
    parent_workspace_id: String,
    label: Option<String>,
}

/// A new workspace from a snapshot; the parent workspace id must be the
/// snapshot's own (threat-model row 28).
#[utoipa::path(post, path = "/v1/workspaces/from-snapshot", operation_id = "createWorkspaceFromSnapshot", summary = "Create a workspace from a snapshot", description = "A new workspace from a snapshot; the parent workspace id must be the snapshot's own (threat-model row 28).", tag = "workspaces", security(("bearer" = [])),
    request_body = FromSnapshot,
    responses((status = 201, description = "The new workspace", body = Workspace), (status = 400, description = "Bad label or an unknown flavor", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such snapshot of that workspace", body = ErrorBody)))]
pub async fn from_snapshot(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(body): ApiJson<FromSnapshot>,
) -> ApiResult<(StatusCode, Json<Workspace>)> {
    check_label(&body.label)?;
    let scope = caller.scope(None);
    // Without the right parent id the snapshot might as well not exist.
    let snap = state
        .db
        .snapshot(&scope, &body.snapshot_id)
        .await?
        .filter(|s| s.workspace_id.as_deref() == Some(body.parent_workspace_id.as_str()))
        .ok_or_else(|| Error::not_found("snapshot of that parent workspace"))?;
    let parent = state
        .db
        .workspace_any(&Scope::Tenant(snap.tenant_id.clone()), &body.parent_workspace_id)
        .await?
        .ok_or_else(|| Error::not_found("snapshot of that parent workspace"))?;
    let spec = workspaces::spec_of(&parent)?;
    state.workspaces.check_flavors(&spec.flavors)?;
    let row = workspaces::create_from_snapshot(&state, &snap.tenant_id, &snap.id, &spec, &parent, body.label).await?;
    state.audit(&caller, "workspace.from_snapshot", &row.id).await;
    Ok((StatusCode::CREATED, Json(workspace_json(&state, &caller, &row)?)))
}
