//! Code kernels (issue 16): `POST /v1/workspaces/{id}/code` (Tangle's
//! `runCode`, and `/stream` as SSE), the workspace-less `POST /v1/code`
//! (and `/stream`), and a workspace's kernels (list, interrupt, restart,
//! shut down). The work is in [`crate::services::kernels`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use paddock_api::code::{CodeExecutionResult, CodeRequest, KernelInfo, KernelList};
use serde::Deserialize;
use serde_json::json;

use crate::app::SharedState;
use crate::routes::error::{ApiResult, ErrorBody};
use crate::routes::extract::{ApiJson, Caller};
use crate::routes::sse::{events_response, json_event};
use crate::services::kernels::CodeEvent;

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

#[utoipa::path(post, path = "/v1/workspaces/{id}/code/stream", operation_id = "streamCode", summary = "Run code on a kernel, streaming its output (SSE)",
    description = "`runCode` with its output as it comes. SSE events: `started` (the kernel: `{id, executionCount, started, restartReason}`, once it is ready), `stdout` and `stderr` (`{\"text\": ...}`, as the kernel sends them), `result` (each rich result part as it comes; the error part comes with `completed`), then exactly one `completed` (the whole `CodeExecutionResult`, as `runCode` answers) or `error` (`{\"code\": ..., \"message\": ...}`: the kernel did not start, the workspace could not). The call runs to its end when the client goes away; idempotency as for `runCode` (a kept result is one `completed`).",
    tag = "code", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = CodeRequest,
    responses((status = 200, description = "SSE: started, stdout, stderr, result, then one completed or error", content_type = "text/event-stream", body = String), (status = 400, description = "Bad session id, key, environment, cwd or timeout", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody), (status = 413, description = "Code over 1 MiB", body = ErrorBody), (status = 422, description = "JSON of the wrong shape", body = ErrorBody)))]
pub async fn stream(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CodeRequest>,
) -> ApiResult<Response> {
    let events = state.kernels.execute_streamed(&caller, &id, body).await?;
    Ok(code_events(events))
}

#[utoipa::path(post, path = "/v1/code", operation_id = "runCodeOnce", summary = "Run code without a workspace",
    description = "`runCode` without a workspace: the call runs in one of the tenant's warm workspaces (started, a Python kernel waiting; `paddock serve --code-pool`, 2 by default), which is deleted after the call, so nothing of it is seen by the next. With `sessionId`, the session keeps its workspace and variables for its later calls until it has been idle 15 minutes. `workspaceId` says where the call ran. Idempotency keys are per tenant and session.",
    tag = "code", security(("bearer" = [])), request_body = CodeRequest,
    responses((status = 200, description = "The call's result (a raised error is a result too: exit code 1)", body = CodeExecutionResult), (status = 400, description = "Bad session id, key, environment, cwd or timeout", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 413, description = "Code over 1 MiB", body = ErrorBody), (status = 422, description = "JSON of the wrong shape", body = ErrorBody), (status = 429, description = "The server (or the tenant) runs its limit of jails", body = ErrorBody),
        (status = 502, description = "The kernel did not start (KERNEL_FAILED: the server's host lacks the flavor with it)", body = ErrorBody), (status = 507, description = "The tenant's storage budget or the state disk is full", body = ErrorBody)))]
pub async fn run_once(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(body): ApiJson<CodeRequest>,
) -> ApiResult<Json<CodeExecutionResult>> {
    Ok(Json(state.code_pool.execute(&caller, body).await?))
}

#[utoipa::path(post, path = "/v1/code/stream", operation_id = "streamCodeOnce", summary = "Run code without a workspace, streaming its output (SSE)",
    description = "`POST /v1/code` with the events of `POST /v1/workspaces/{id}/code/stream`.",
    tag = "code", security(("bearer" = [])), request_body = CodeRequest,
    responses((status = 200, description = "SSE: started, stdout, stderr, result, then one completed or error", content_type = "text/event-stream", body = String), (status = 400, description = "Bad session id, key, environment, cwd or timeout", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 413, description = "Code over 1 MiB", body = ErrorBody), (status = 422, description = "JSON of the wrong shape", body = ErrorBody)))]
pub async fn stream_once(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(body): ApiJson<CodeRequest>,
) -> ApiResult<Response> {
    let events = state.code_pool.execute_streamed(&caller, body)?;
    Ok(code_events(events))
}

#[utoipa::path(delete, path = "/v1/code/sessions/{session}", operation_id = "endCodeSession", summary = "End a session of POST /v1/code",
    description = "Deletes the session's workspace (its variables go with it) after a call of it still running. Sessions also end after 15 minutes without a call.",
    tag = "code", security(("bearer" = [])), params(("session" = String, Path, description = "The session id")),
    responses((status = 204, description = "Ended"), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "The tenant has no such session", body = ErrorBody)))]
pub async fn end_session(
    State(state): State<SharedState>,
    caller: Caller,
    Path(session): Path<String>,
) -> ApiResult<StatusCode> {
    state.code_pool.end_session(&caller, &session).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A call's events as SSE, until its last.
fn code_events(events: tokio::sync::mpsc::UnboundedReceiver<CodeEvent>) -> Response {
    events_response(futures_util::stream::unfold(events, |mut events| async move {
        let event = match events.recv().await? {
            CodeEvent::Started(kernel) => json_event("started", json!(kernel)),
            CodeEvent::Stdout(text) => json_event("stdout", json!({ "text": text })),
            CodeEvent::Stderr(text) => json_event("stderr", json!({ "text": text })),
            CodeEvent::Result(part) => json_event("result", json!(part)),
            CodeEvent::Completed(result) => json_event("completed", json!(result)),
            CodeEvent::Failed(err) => json_event("error", json!({ "code": err.code.as_str(), "message": err.message })),
        };
        Some((event, events))
    }))
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
