//! Code kernels (issue 16): `POST /v1/workspaces/{id}/code` (Tangle's
//! `runCode`) and the workspace's kernels (list, interrupt, restart, shut
//! down). The work is in [`crate::services::kernels`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use paddock_api::code::{CodeExecutionResult, CodeRequest, KernelInfo, KernelList};
use serde::Deserialize;

use crate::app::SharedState;
use crate::routes::error::{ApiResult, ErrorBody};
use crate::routes::extract::{ApiJson, Caller};

/// `{id}` and `{kernel}` of a kernel route.
#[derive(Debug, Deserialize)]
pub struct KernelPath {
    id: String,
    kernel: String,
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/code", operation_id = "runCode", summary = "Run code on a kernel",
    description = "Runs `code` on the workspace's Jupyter kernel of `language` for `sessionId` (one kernel per session and language, keeping its variables; started with the workspace when needed). Output streams, rich results (images, HTML, JSON, pandas frames as `dataframe`) and the error, if any. A call past `timeoutMs` (default 60000; 0 disables) is interrupted and the kernel lives on (exit code 124); a kernel that dies is replaced by the next call, which says so in `kernel`. The same `idempotencyKey` (per workspace and session) within 15 minutes returns the first successful result without running again.",
    tag = "code", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = CodeRequest,
    responses((status = 200, description = "The call's result (a raised error is a result too: exit code 1)", body = CodeExecutionResult), (status = 400, description = "Bad session id, key, environment, cwd or timeout", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody), (status = 413, description = "Code over 1 MiB", body = ErrorBody), (status = 422, description = "JSON of the wrong shape", body = ErrorBody), (status = 429, description = "The workspace had to start and the server (or the tenant) runs its limit of jails", body = ErrorBody),
        (status = 502, description = "The kernel did not start (KERNEL_FAILED: its package is missing from the workspace, or it exited; the message ends with its stderr)", body = ErrorBody)))]
pub async fn run(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CodeRequest>,
) -> ApiResult<Json<CodeExecutionResult>> {
    Ok(Json(state.kernels.execute(&caller, &id, body).await?))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/kernels", operation_id = "listKernels", summary = "List a workspace's kernels",
    description = "The kernels of the workspace's runtime (none when it is not running).",
    tag = "code", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The kernels", body = KernelList), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such workspace", body = ErrorBody)))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<KernelList>> {
    Ok(Json(state.kernels.list(&caller, &id).await?))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/kernels/{kernel}/interrupt", operation_id = "interruptKernel", summary = "Interrupt a kernel",
    description = "Interrupts what the kernel runs (SIGINT); the call running on it ends with the interrupt's error, the kernel and its variables live on.",
    tag = "code", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("kernel" = String, Path, description = "Kernel id")),
    responses((status = 204, description = "Interrupted"), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such workspace or kernel", body = ErrorBody)))]
pub async fn interrupt(
    State(state): State<SharedState>,
    caller: Caller,
    Path(path): Path<KernelPath>,
) -> ApiResult<StatusCode> {
    state.kernels.interrupt(&caller, &path.id, &path.kernel).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/kernels/{kernel}/restart", operation_id = "restartKernel", summary = "Restart a kernel",
    description = "Replaces the kernel with a new one of the same session and language (its variables are gone).",
    tag = "code", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("kernel" = String, Path, description = "Kernel id")),
    responses((status = 200, description = "The new kernel", body = KernelInfo), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such workspace or kernel", body = ErrorBody), (status = 502, description = "The new kernel did not start", body = ErrorBody)))]
pub async fn restart(
    State(state): State<SharedState>,
    caller: Caller,
    Path(path): Path<KernelPath>,
) -> ApiResult<Json<KernelInfo>> {
    Ok(Json(state.kernels.restart(&caller, &path.id, &path.kernel).await?))
}

#[utoipa::path(delete, path = "/v1/workspaces/{id}/kernels/{kernel}", operation_id = "shutdownKernel", summary = "Shut a kernel down",
    description = "Ends the kernel; the next call of its session and language starts a new one.",
    tag = "code", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("kernel" = String, Path, description = "Kernel id")),
    responses((status = 204, description = "Ended"), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such workspace or kernel", body = ErrorBody)))]
pub async fn shutdown(
    State(state): State<SharedState>,
    caller: Caller,
    Path(path): Path<KernelPath>,
) -> ApiResult<StatusCode> {
    state.kernels.shutdown(&caller, &path.id, &path.kernel).await?;
    Ok(StatusCode::NO_CONTENT)
}
