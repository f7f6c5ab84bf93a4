//! One-shot code runs: `POST /v1/runs` answers when the jail ends,
//! `POST /v1/runs/stream` streams its events as SSE, `POST /v1/runs/fork`
//! forks a running parent, `POST /v1/runs/{id}/cancel` cancels.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Json;
use paddock_api::runs::{CancelResponse, ForkRequest, ForkResponse, RunRequest};
use paddock_api::{Error, ExecResult};

use super::sse::{self, StreamQuery};
use super::TenantQuery;
use crate::app::SharedState;
use crate::routes::error::{ApiResult, ErrorBody};
use crate::routes::extract::{ApiJson, Caller};

/// The header that carries a run's ledger id.
pub const RUN_ID_HEADER: &str = "x-paddock-run-id";

/// `x-paddock-run-id: <id>`.
pub fn run_id_header(id: i64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(RUN_ID_HEADER, HeaderValue::from(id));
    headers
}

#[utoipa::path(post, path = "/v1/runs", operation_id = "createRun", summary = "Run code", tag = "runs", security(("bearer" = [])), params(TenantQuery), request_body = RunRequest, responses((status = 201, description = "The run's result", body = ExecResult, headers(("x-paddock-run-id" = i64, description = "The run's ledger id"))), (status = 400, description = "Unknown language, bad limits or bad tenant", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 413, description = "`code` is over 1 MiB", body = ErrorBody), (status = 422, description = "JSON of the wrong shape: a missing, mistyped or unknown field (serde's message)", body = ErrorBody), (status = 429, description = "The server is running its limit of concurrent jails; retry later", body = ErrorBody)))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<TenantQuery>,
    ApiJson(body): ApiJson<RunRequest>,
) -> ApiResult<(StatusCode, HeaderMap, Json<ExecResult>)> {
    let tenant = caller.owner(query.tenant.as_deref())?;
    let finished = state.runs.run(&tenant, &body).await?;
    Ok((
        StatusCode::CREATED,
        run_id_header(finished.id),
        Json(finished.to_wire()),
    ))
}

/// SSE: `started`, `stdout`, `stderr`, `stats` (every 500 ms), `egress`
/// (allowlist mode), then exactly one `completed` or `error`. A client
/// that goes away ends the jail.
#[utoipa::path(post, path = "/v1/runs/stream", operation_id = "streamRun", summary = "Run code, streaming its events (SSE)", description = "SSE: `started`, `stdout`, `stderr`, `stats` (every 500 ms), `egress` (allowlist mode), then exactly one `completed` or `error`. A client that goes away ends the jail.", tag = "runs", security(("bearer" = [])), params(StreamQuery), request_body = RunRequest, responses((status = 200, description = "SSE: started, stdout, stderr, stats, egress, then one completed or error", content_type = "text/event-stream", body = String, headers(("x-paddock-run-id" = i64, description = "The run's ledger id"))), (status = 400, description = "Unknown language, bad limits or bad tenant", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 413, description = "`code` is over 1 MiB", body = ErrorBody), (status = 422, description = "JSON of the wrong shape: a missing, mistyped or unknown field (serde's message)", body = ErrorBody), (status = 429, description = "The server is running its limit of concurrent jails; retry later", body = ErrorBody)))]
pub async fn stream(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<StreamQuery>,
    ApiJson(body): ApiJson<RunRequest>,
) -> ApiResult<Response> {
    let tenant = caller.owner(query.tenant.as_deref())?;
    let stream = state.runs.stream(&tenant, &body).await?;
    Ok(sse::respond(stream, query.output.unwrap_or_default()))
}

#[utoipa::path(post, path = "/v1/runs/fork", operation_id = "forkRun", summary = "Run code, then fork it into children", description = "The parent runs; after `fork_after_ms` it is frozen, its `/output` is copied once per child (reflink where the file system can), it is thawed, and the children run on the copies in parallel.", tag = "runs", security(("bearer" = [])), params(TenantQuery),
    request_body = ForkRequest,
    responses((status = 201, description = "The parent's and each child's result, and how each copy was made", body = ForkResponse), (status = 400, description = "Bad children, language, limits or tenant", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 413, description = "A `parent_code` or child `code` is over 1 MiB", body = ErrorBody), (status = 422, description = "JSON of the wrong shape: a missing, mistyped or unknown field (serde's message)", body = ErrorBody), (status = 429, description = "The server is running its limit of concurrent jails; retry later", body = ErrorBody)))]
pub async fn fork(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<TenantQuery>,
    ApiJson(body): ApiJson<ForkRequest>,
) -> ApiResult<(StatusCode, Json<ForkResponse>)> {
    let tenant = caller.owner(query.tenant.as_deref())?;
    Ok((StatusCode::CREATED, Json(state.runs.fork(&tenant, body).await?)))
}

/// Kills a running jail (a run, a stream, an exec or a workspace exec);
/// its ledger row closes as `cancelled` and its caller gets its result.
#[utoipa::path(post, path = "/v1/runs/{id}/cancel", operation_id = "cancelRun", summary = "Cancel a running jail", description = "Kills a running jail (a run, a stream, an exec or a workspace exec); its ledger row closes as `cancelled` and its caller gets its result.", tag = "runs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The run's ledger id (`x-paddock-run-id`)")),
    responses((status = 202, description = "Cancelling: the jail is being killed", body = CancelResponse), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such run", body = ErrorBody),
        (status = 409, description = "The run already ended", body = ErrorBody)))]
pub async fn cancel(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<CancelResponse>)> {
    let id: i64 = id.parse().map_err(|_| Error::not_found("run"))?;
    state.runs.cancel(&caller.scope(None), id).await?;
    Ok((StatusCode::ACCEPTED, Json(CancelResponse { id, cancelled: true })))
}
