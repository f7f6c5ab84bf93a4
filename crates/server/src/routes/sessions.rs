//! Sessions: a set of services whose phantom tokens a jail may use, with
//! a lifetime and optional path scopes (`services::sessions` does the
//! work). The session's `env` comes back on create, get and list; a
//! closed session is gone (404).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::Response;
use axum::Json;
use paddock_api::sessions::{ExecRequest, NewSession, Session};
use paddock_api::ExecResult;
use serde::Deserialize;
use utoipa::IntoParams;

use super::runs::run_id_header;
use super::sse::{self, StreamQuery};
use super::TenantQuery;
use crate::app::SharedState;
use crate::routes::error::{ApiResult, ErrorBody};
use crate::routes::extract::{ApiJson, Caller};

/// `?limit=&offset=&tenant=&include_closed=` of the session list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionQuery {
    /// Sessions per page (default and most 1000).
    pub limit: Option<i64>,
    /// Sessions to skip.
    pub offset: Option<i64>,
    /// Admins: one tenant's sessions.
    pub tenant: Option<String>,
    /// (ext) List closed sessions too (they are left out, as agentjail removes them).
    #[serde(default)]
    pub include_closed: bool,
}

#[utoipa::path(post, path = "/v1/sessions", operation_id = "createSession", summary = "Create a session", tag = "sessions", security(("bearer" = [])), params(TenantQuery), request_body = NewSession, responses((status = 201, description = "The session with its env (tokens shown once)", body = Session), (status = 400, description = "Bad services, scopes, TTL or budget, or a service without a stored credential", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 422, description = "JSON of the wrong shape: a missing, mistyped or unknown field (serde's message)", body = ErrorBody)))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<TenantQuery>,
    ApiJson(body): ApiJson<NewSession>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    let tenant = caller.owner(query.tenant.as_deref())?;
    let session = state.sessions.create(&caller, &tenant, &body).await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// Runs a command with the session's environment. Each exec gets its own
/// phantom tokens (revoked with the session), and the phantom proxy is
/// reachable on the jail's own `127.0.0.1` whatever the network mode.
#[utoipa::path(post, path = "/v1/sessions/{id}/exec", operation_id = "execSession", summary = "Run a command in a session", description = "Runs a command with the session's environment. Each exec gets its own phantom tokens (revoked with the session), and the phantom proxy is reachable on the jail's own `127.0.0.1` whatever the network mode.", tag = "sessions", security(("bearer" = [])), params(("id" = String, Path, description = "Session id")), request_body = ExecRequest, responses((status = 200, description = "The command's result", body = ExecResult, headers(("x-paddock-run-id" = i64, description = "The exec's ledger id"))), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such session, or it is closed", body = ErrorBody), (status = 400, description = "Empty command, bad limits, or an expired session", body = ErrorBody), (status = 422, description = "JSON of the wrong shape: a missing, mistyped or unknown field (serde's message)", body = ErrorBody), (status = 429, description = "The server is running its limit of concurrent jails; retry later", body = ErrorBody)))]
pub async fn exec(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ExecRequest>,
) -> ApiResult<(HeaderMap, Json<ExecResult>)> {
    let finished = state.sessions.exec(&caller.scope(None), &id, &body).await?;
    Ok((run_id_header(finished.id), Json(finished.to_wire())))
}

/// [`exec`], streamed as SSE: the same events as `/v1/runs/stream`.
#[utoipa::path(post, path = "/v1/sessions/{id}/exec/stream", operation_id = "streamSessionExec", summary = "Run a command in a session, streaming its events (SSE)", description = "The same events as `/v1/runs/stream`: `started`, `stdout`, `stderr`, `stats` (every 500 ms), `egress` (allowlist mode), then exactly one `completed` or `error`. A client that goes away ends the jail.", tag = "sessions", security(("bearer" = [])), params(("id" = String, Path, description = "Session id"), StreamQuery), request_body = ExecRequest, responses((status = 200, description = "SSE: started, stdout, stderr, stats, egress, then one completed or error", content_type = "text/event-stream", body = String, headers(("x-paddock-run-id" = i64, description = "The exec's ledger id"))), (status = 400, description = "Empty command, bad limits, or an expired session", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such session, or it is closed", body = ErrorBody), (status = 422, description = "JSON of the wrong shape: a missing, mistyped or unknown field (serde's message)", body = ErrorBody), (status = 429, description = "The server is running its limit of concurrent jails; retry later", body = ErrorBody)))]
pub async fn exec_stream(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<StreamQuery>,
    ApiJson(body): ApiJson<ExecRequest>,
) -> ApiResult<Response> {
    let stream = state.sessions.exec_stream(&caller.scope(None), &id, &body).await?;
    Ok(sse::respond(stream, query.output.unwrap_or_default()))
}

/// The sessions, newest first, as a JSON array (agentjail's shape; its
/// clients expect an array). `?limit=&offset=` page through them; the
/// total is in `x-total-count`.
#[utoipa::path(get, path = "/v1/sessions", operation_id = "listSessions", summary = "List sessions", description = "The sessions, newest first, as a JSON array (agentjail's shape; its clients expect an array). `?limit=&offset=` page through them; the total is in `x-total-count`.", tag = "sessions", security(("bearer" = [])), params(SessionQuery), responses((status = 200, description = "Sessions with their env (closed ones only with `include_closed`); `x-total-count` has the total", body = [Session], headers(("x-total-count" = i64, description = "Sessions in scope"))), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody)))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<SessionQuery>,
) -> ApiResult<([(HeaderName, String); 1], Json<Vec<Session>>)> {
    let limit = query.limit.unwrap_or(1000).clamp(1, 1000);
    let offset = query.offset.unwrap_or(0).max(0);
    let scope = caller.scope(query.tenant.as_deref());
    let (sessions, total) = state.sessions.list(&scope, query.include_closed, limit, offset).await?;
    Ok((
        [(HeaderName::from_static("x-total-count"), total.to_string())],
        Json(sessions),
    ))
}

#[utoipa::path(get, path = "/v1/sessions/{id}", operation_id = "getSession", summary = "Get a session", tag = "sessions", security(("bearer" = [])), params(("id" = String, Path, description = "Session id")), responses((status = 200, description = "The session with its env", body = Session), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such session, or it is closed", body = ErrorBody)))]
pub async fn get(State(state): State<SharedState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Session>> {
    Ok(Json(state.sessions.get(&caller.scope(None), &id).await?))
}

#[utoipa::path(delete, path = "/v1/sessions/{id}", operation_id = "closeSession", summary = "Close a session", tag = "sessions", security(("bearer" = [])), params(("id" = String, Path, description = "Session id")), responses((status = 204, description = "Closed; its tokens are revoked"), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such session, or it is already closed", body = ErrorBody)))]
pub async fn close(State(state): State<SharedState>, caller: Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    state.sessions.close(&caller, &caller.scope(None), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
