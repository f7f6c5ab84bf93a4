//! Files of a workspace under its runtime base URL: sandbox-agent 0.4.2's
//! `/v1/fs/*` routes and shapes, plus `/v1/fs/archive` (a directory as a
//! tar). Paths are jail paths (`/workspace/…`, or relative to it); the work
//! is in [`crate::services::files`], done from the host beneath the tree.
//! Bodies stream both ways: file and tar uploads are not held to the
//! server's JSON body limit, and are never buffered whole.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use paddock_api::runtime::fs::{
    FsActionResponse, FsBytes, FsEntry, FsMoveRequest, FsMoveResponse, FsStat, FsUploadBatchResponse, FsWriteResponse,
};
use paddock_api::runtime::problem::ProblemDetails;
use paddock_api::{Error, ErrorCode};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ProblemResult, RuntimeCaller, RuntimeJson};
use crate::app::SharedState;
use crate::services::files;

/// The file routes.
pub(super) fn routes() -> OpenApiRouter<SharedState> {
    // Uploads stream bodies of any size to disk; the global limit is for
    // JSON bodies held in memory.
    let uploads = OpenApiRouter::new()
        .routes(routes!(read_file, write_file))
        .routes(routes!(upload_batch))
        .layer(DefaultBodyLimit::disable());
    OpenApiRouter::new()
        .routes(routes!(entries))
        .routes(routes!(delete_entry))
        .routes(routes!(mkdir))
        .routes(routes!(move_entry))
        .routes(routes!(stat))
        .routes(routes!(archive))
        .merge(uploads)
}

/// `?path=` (required).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PathQuery {
    /// A jail path: `/workspace/…`, or relative to `/workspace`; `~` is
    /// `/workspace`.
    path: String,
}

/// `?path=` (optional: `/workspace` when absent).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct OptionalPathQuery {
    /// A jail path (`/workspace` when absent).
    path: Option<String>,
}

/// `?path=&recursive=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeleteQuery {
    /// A jail path.
    path: String,
    /// Delete a directory with its contents (`true` or `false`).
    recursive: Option<bool>,
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/fs/entries", operation_id = "runtimeFsListEntries", summary = "List a directory",
    description = "The entries of a directory of the workspace (`/workspace` when `path` is absent), sorted by name. Each entry is described as it is: a symlink is a `file` with the link's own size.",
    tag = "runtime", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id"), OptionalPathQuery),
    responses((status = 200, description = "The entries", body = Vec<FsEntry>),
        (status = 400, description = "A path outside /workspace, not a directory, or nothing there", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json")))]
async fn entries(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    Query(query): Query<OptionalPathQuery>,
) -> ProblemResult<Json<Vec<FsEntry>>> {
    let access = state.workspaces.tree_access(&caller, &id).await?;
    Ok(Json(files::list(access, query.path.as_deref()).await?))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/fs/file", operation_id = "runtimeFsReadFile", summary = "Read a file",
    description = "The bytes of a regular file, streamed. Directories, FIFOs, sockets and devices are refused.",
    tag = "runtime", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id"), PathQuery),
    responses((status = 200, description = "The file's bytes", body = FsBytes, content_type = "application/octet-stream"),
        (status = 400, description = "A path outside /workspace, not a regular file, or nothing there", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json")))]
async fn read_file(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    Query(query): Query<PathQuery>,
) -> ProblemResult<Response> {
    let access = state.workspaces.tree_access(&caller, &id).await?;
    let file = files::read(access, &query.path).await?;
    let mut response = Body::from_stream(file.stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.len));
    Ok(response)
}

#[utoipa::path(put, path = "/v1/workspaces/{id}/runtime/v1/fs/file", operation_id = "runtimeFsWriteFile", summary = "Write a file",
    description = "Streams the body into the file (any size; parent directories are made). The file is replaced whole when the body has been stored: readers never see half of it, and a failed upload leaves the old file. A new file is 0644; a replaced one keeps its permission bits, never setuid or setgid.",
    tag = "runtime", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id"), PathQuery),
    request_body(content = FsBytes, content_type = "application/octet-stream", description = "The file's bytes"),
    responses((status = 200, description = "Stored", body = FsWriteResponse),
        (status = 400, description = "A path outside /workspace, or a body that broke off", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 502, description = "A directory at the path, as sandbox-agent answers it (`stream_error`)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 507, description = "The state disk is full; nothing was stored", body = ProblemDetails, content_type = "application/problem+json")))]
async fn write_file(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    Query(query): Query<PathQuery>,
    body: Body,
) -> ProblemResult<Json<FsWriteResponse>> {
    let access = state.workspaces.tree_access(&caller, &id).await?;
    let written = files::write(access, &state.disk, &query.path, body.into_data_stream()).await?;
    Ok(Json(written))
}

#[utoipa::path(delete, path = "/v1/workspaces/{id}/runtime/v1/fs/entry", operation_id = "runtimeFsDeleteEntry", summary = "Delete a file or directory",
    description = "A symlink is deleted itself, never its target. A directory with contents needs `recursive=true`. `/workspace` itself cannot be deleted.",
    tag = "runtime", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id"), DeleteQuery),
    responses((status = 200, description = "Deleted", body = FsActionResponse),
        (status = 400, description = "A path outside /workspace, the root, or nothing there", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 502, description = "A non-empty directory without `recursive=true`, as sandbox-agent answers it (`stream_error`)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json")))]
async fn delete_entry(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    Query(query): Query<DeleteQuery>,
) -> ProblemResult<Json<FsActionResponse>> {
    let access = state.workspaces.tree_access(&caller, &id).await?;
    Ok(Json(
        files::remove(access, &query.path, query.recursive.unwrap_or(false)).await?,
    ))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/fs/mkdir", operation_id = "runtimeFsMkdir", summary = "Make a directory",
    description = "Makes the directory and its parents (0755); an existing directory is fine.",
    tag = "runtime", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id"), PathQuery),
    responses((status = 200, description = "The directory exists", body = FsActionResponse),
        (status = 400, description = "A path outside /workspace", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 502, description = "A file in the way, as sandbox-agent answers it (`stream_error`)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 507, description = "The state disk is full", body = ProblemDetails, content_type = "application/problem+json")))]
async fn mkdir(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    Query(query): Query<PathQuery>,
) -> ProblemResult<Json<FsActionResponse>> {
    let access = state.workspaces.tree_access(&caller, &id).await?;
    Ok(Json(files::mkdir(access, &state.disk, &query.path).await?))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/fs/move", operation_id = "runtimeFsMove", summary = "Move a file or directory",
    description = "Renames `from` to `to` (parents of `to` are made). An existing destination is refused unless `overwrite` is true; then it is replaced, a directory with its contents.",
    tag = "runtime", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id")),
    request_body = FsMoveRequest,
    responses((status = 200, description = "Moved", body = FsMoveResponse),
        (status = 400, description = "A path outside /workspace, nothing at `from`, or `to` exists", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 502, description = "A directory moved into itself, as sandbox-agent answers it (`stream_error`)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = ProblemDetails, content_type = "application/problem+json")))]
async fn move_entry(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    RuntimeJson(body): RuntimeJson<FsMoveRequest>,
) -> ProblemResult<Json<FsMoveResponse>> {
    let access = state.workspaces.tree_access(&caller, &id).await?;
    Ok(Json(
        files::rename(
            access,
            &state.disk,
            &body.from,
            &body.to,
            body.overwrite.unwrap_or(false),
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/fs/stat", operation_id = "runtimeFsStat", summary = "Describe a file or directory",
    description = "Follows symlinks that stay inside the workspace (a link to an absolute path names that path inside the workspace).",
    tag = "runtime", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id"), PathQuery),
    responses((status = 200, description = "The entry", body = FsStat),
        (status = 400, description = "A path outside /workspace, or nothing there", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json")))]
async fn stat(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    Query(query): Query<PathQuery>,
) -> ProblemResult<Json<FsStat>> {
    let access = state.workspaces.tree_access(&caller, &id).await?;
    Ok(Json(files::stat(access, &query.path).await?))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/fs/upload-batch", operation_id = "runtimeFsUploadBatch", summary = "Upload a tar",
    description = "Extracts a tar (streamed, any size) into the directory at `path` (`/workspace` when absent; made as needed). Files, directories and symlinks are accepted; absolute paths, `..`, hard links, devices and FIFOs are refused with 400 (entries before the refused one stay written). Permission bits are kept without setuid, setgid or sticky. `paths` lists at most 1024 entries; `truncated` says when there were more.",
    tag = "runtime", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id"), OptionalPathQuery),
    request_body(content = FsBytes, content_type = "application/x-tar", description = "A tar archive"),
    responses((status = 200, description = "Extracted", body = FsUploadBatchResponse),
        (status = 400, description = "Not `application/x-tar`, not a tar, a refused entry, or a path outside /workspace", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 507, description = "The state disk is full", body = ProblemDetails, content_type = "application/problem+json")))]
async fn upload_batch(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    Query(query): Query<OptionalPathQuery>,
    headers: HeaderMap,
    body: Body,
) -> ProblemResult<Json<FsUploadBatchResponse>> {
    let is_tar = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-tar"));
    if !is_tar {
        return Err(Error::new(ErrorCode::BadArchive, "content-type must be application/x-tar").into());
    }
    let access = state.workspaces.tree_access(&caller, &id).await?;
    Ok(Json(
        files::upload_tar(access, &state.disk, query.path.as_deref(), body.into_data_stream()).await?,
    ))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/fs/archive", operation_id = "runtimeFsArchive", summary = "Download a directory as a tar",
    description = "paddock's extension: the directory at `path` (`/workspace` when absent) as a tar, streamed: its entries relative to it, with directories, regular files and symlinks (FIFOs, sockets and devices are left out), permission bits, owner 0. Symlinks are stored, never followed.",
    tag = "runtime", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id"), OptionalPathQuery),
    responses((status = 200, description = "The tar", body = FsBytes, content_type = "application/x-tar"),
        (status = 400, description = "A path outside /workspace, not a directory, or nothing there", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json")))]
async fn archive(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    Query(query): Query<OptionalPathQuery>,
) -> ProblemResult<Response> {
    let access = state.workspaces.tree_access(&caller, &id).await?;
    let stream = files::archive(access, query.path.as_deref()).await?;
    let mut response = Body::from_stream(stream).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    Ok(response)
}
