//! The HTTP routes of the control plane (API.md), one file per section.

mod agent_sessions;
mod code;
mod console;
mod credentials;
pub mod error;
pub mod extract;
mod identity;
mod ledger;
mod mcp;
pub mod previews;
mod public;
pub use public::serve_metrics;
mod runs;
pub mod runtime;
mod sessions;
pub(crate) mod snapshots;
pub mod sse;
mod tokens;
pub(crate) mod workspaces;

use paddock_api::Error;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::SharedState;
use crate::routes::error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "paddock control plane",
        description = "Sandboxes for AI agents: credentials, sessions with phantom tokens, runs, workspaces and snapshots, the jail ledger and the audit log. Wire-compatible with agentjail's control plane."
    ),
    servers((url = "http://127.0.0.1:7000", description = "`paddock serve` on its default address (`--listen`)")),
    tags(
        (name = "public", description = "Liveness, version and aggregate counters without authentication; Prometheus metrics with an admin key"),
        (name = "identity", description = "The caller, the host's flavors and settings, and API keys"),
        (name = "credentials", description = "Upstream credentials, stored encrypted and never returned"),
        (name = "sessions", description = "Sessions: phantom tokens for a set of services, and commands run with them"),
        (name = "runs", description = "One-shot code runs: plain, streamed (SSE) and forked"),
        (name = "ledger", description = "The jail ledger and the audit log"),
        (name = "workspaces", description = "Persistent trees at `/workspace`: exec, fork, snapshot"),
        (name = "snapshots", description = "Content-addressed snapshots of workspace trees"),
        (name = "code", description = "Code kernels: Jupyter kernels in a running workspace that keep their variables between calls, with rich results (Tangle's `runCode`)"),
        (name = "previews", description = "Ports served inside a running workspace, exposed as HTTP and WebSocket (host-based and path-based)"),
        (name = "agent-sessions", description = "Agent sessions: a coding agent's ACP session driven by paddock, with durable turns (streaming, completed, interrupted), turn-id idempotency and permission requests answered by policy or by a person"),
        (name = "desktop", description = "A workspace's desktop (sandbox-agent 0.4.2's `/v1/desktop/*` under its runtime base URL): Xvfb and openbox in the jail, driven over X11 by the server: screenshots, mouse, keyboard, windows, clipboard, launching programs, recordings (MP4)"),
        (name = "browser", description = "(ext) A workspace's browser: agent-browser's commands (open, snapshot with `@eN` refs, click, fill, get, screenshot, tabs, eval, diff, cookies, state) on Debian's Chromium in the workspace's jail, through its network (the egress proxy in allowlist mode)"),
        (name = "runtime", description = "A workspace's runtime (sandbox-agent 0.4.2's API under `/v1/workspaces/{id}/runtime`): processes, terminals and files; errors are Problem Details")
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// Declares the `bearer` security scheme the routes refer to.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document of every route (`/openapi.json`), without a server.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().into_openapi()
}

/// Every route, described in `/openapi.json` from the same declarations
/// that serve it, with the body limit and request logging applied.
pub fn router(state: SharedState) -> Router {
    let body_limit = state.config.body_limit;
    let (router, openapi) = api_routes().split_for_parts();
    let openapi = Arc::new(openapi);
    router
        .route(
            "/openapi.json",
            get(move || async move { Json(openapi.as_ref().clone()) }),
        )
        .merge(console::router())
        .merge(mcp::router(state.clone()))
        .fallback(|| async { ApiError::from(Error::not_found("route")) })
        .method_not_allowed_fallback(|| async {
            ApiError::from(Error::new(
                paddock_api::ErrorCode::MethodNotAllowed,
                "this route does not take that method",
            ))
        })
        .layer(axum::middleware::from_fn(json_errors))
        // Preview hosts and the path-based relay are served here, before
        // any API route and outside the JSON error rewriting.
        .layer(axum::middleware::from_fn_with_state(state.clone(), previews::front))
        .layer(axum::middleware::from_fn(log_request))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// The one declaration list of the API's routes and their descriptions.
fn api_routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(public::healthz))
        .routes(routes!(public::readyz))
        .routes(routes!(public::health))
        .routes(routes!(public::stats))
        .routes(routes!(public::metrics))
        .routes(routes!(identity::whoami))
        .routes(routes!(identity::flavors))
        .routes(routes!(identity::config))
        .routes(routes!(identity::list_keys, identity::create_key))
        .routes(routes!(identity::revoke_key))
        .routes(routes!(credentials::list, credentials::put))
        .routes(routes!(credentials::remove))
        .routes(routes!(sessions::list, sessions::create))
        .routes(routes!(sessions::get, sessions::close))
        .routes(routes!(sessions::exec))
        .routes(routes!(sessions::exec_stream))
        .routes(routes!(runs::create))
        .routes(routes!(runs::stream))
        .routes(routes!(runs::fork))
        .routes(routes!(runs::cancel))
        .routes(routes!(ledger::list_jails))
        .routes(routes!(ledger::get_jail))
        .routes(routes!(ledger::audit))
        .routes(routes!(ledger::audit_actions))
        .routes(routes!(workspaces::list, workspaces::create))
        .routes(routes!(workspaces::get, workspaces::update, workspaces::remove))
        .routes(routes!(workspaces::exec))
        .routes(routes!(workspaces::exec_stream))
        .routes(routes!(code::run))
        .routes(routes!(code::stream))
        .routes(routes!(code::run_once))
        .routes(routes!(code::stream_once))
        .routes(routes!(code::end_session))
        .routes(routes!(code::list))
        .routes(routes!(code::interrupt))
        .routes(routes!(code::restart))
        .routes(routes!(code::shutdown))
        .routes(routes!(workspaces::snapshot))
        .routes(routes!(workspaces::fork))
        .routes(routes!(workspaces::from_snapshot))
        .routes(routes!(workspaces::start))
        .routes(routes!(workspaces::stop))
        .routes(routes!(workspaces::run_state))
        .routes(routes!(workspaces::pause))
        .routes(routes!(workspaces::resume))
        .routes(routes!(previews::list, previews::create))
        .routes(routes!(previews::revoke))
        .routes(routes!(previews::proxy))
        .routes(routes!(snapshots::list))
        .routes(routes!(snapshots::get, snapshots::remove))
        .routes(routes!(snapshots::manifest))
        .routes(routes!(agent_sessions::list, agent_sessions::create))
        .routes(routes!(agent_sessions::get, agent_sessions::remove))
        .routes(routes!(agent_sessions::turns, agent_sessions::prompt))
        .routes(routes!(agent_sessions::turn))
        .routes(routes!(agent_sessions::cancel))
        .routes(routes!(agent_sessions::answer_permission))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(mcp::config))
        .merge(runtime::routes())
}

/// Longest message kept from a framework rejection (so a bad request is
/// never echoed back at length).
const MAX_REJECTION_MESSAGE: usize = 300;

/// Turns the framework's plain-text rejections (a bad query string or path
/// parameter, a body over the limit read by a non-JSON extractor) into the
/// documented JSON error, so every error answer has the same shape.
async fn json_errors(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use paddock_api::ErrorCode;
    let runtime = runtime::is_runtime_path(request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || response.extensions().get::<ErrorCode>().is_some() {
        return response;
    }
    let code = match status.as_u16() {
        400 => ErrorCode::BadQuery,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        413 => ErrorCode::BodyTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        422 => ErrorCode::BadBody,
        s if s >= 500 => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    };
    let body = axum::body::to_bytes(response.into_body(), 64 << 10)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let mut message: String = text.trim().chars().take(MAX_REJECTION_MESSAGE).collect();
    if message.is_empty() {
        message = status.canonical_reason().unwrap_or("error").to_owned();
    }
    let err = if code == ErrorCode::Internal {
        Error::internal(message)
    } else {
        Error::new(code, message)
    };
    if runtime {
        return runtime::Problem(err).into_response();
    }
    ApiError::from(err).into_response()
}

/// The header carrying a request's id (kept from the client when given).
pub const REQUEST_ID: &str = "x-request-id";

/// Gives every request an id (the client's `x-request-id` when it is a
/// sane token, else a new one), returns it in the response, and writes one
/// structured log line per request: id, method, path (no query, no
/// headers, so no key or token is ever logged), status, duration, and for
/// failures the error code, tenant and key id.
async fn log_request(mut request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| crate::crypto::new_id("req_"));
    let seen = extract::SeenCaller::default();
    request.extensions_mut().insert(seen.clone());
    let started = std::time::Instant::now();
    let mut response = next.run(request).await;
    if let Ok(value) = axum::http::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let status = response.status().as_u16();
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (tenant, key_id) = seen.get().unzip();
    match response.extensions().get::<paddock_api::ErrorCode>() {
        Some(code) => tracing::warn!(
            target: "paddock::http",
            request_id,
            %method,
            path,
            status,
            duration_ms,
            code = code.as_str(),
            tenant,
            key_id,
            "request failed"
        ),
        None => tracing::info!(
            target: "paddock::http",
            request_id,
            %method,
            path,
            status,
            duration_ms,
            tenant,
            key_id,
            "request"
        ),
    }
    response
}

/// `?limit=&offset=&tenant=&q=` of list routes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Rows per page.
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
    /// Admins: one tenant's rows.
    pub tenant: Option<String>,
    /// Search text.
    pub q: Option<String>,
    /// Ledger: `running`, `completed` or `error`.
    pub status: Option<String>,
    /// Ledger: `run`, `exec`, `fork`, `stream` or `workspace`.
    pub kind: Option<String>,
}

/// `?tenant=` of routes where admins act for a tenant.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    /// Admins: the tenant to act for (operators always act for their own).
    pub tenant: Option<String>,
}

impl ListQuery {
    /// `(limit, offset)`: limit in 1..=max (default `default`), offset ≥ 0.
    pub fn page(&self, default: i64, max: i64) -> (i64, i64) {
        (
            self.limit.unwrap_or(default).clamp(1, max),
            self.offset.unwrap_or(0).max(0),
        )
    }
}

/// `{rows, total, limit, offset}`.
pub fn page_json<T: serde::Serialize>(rows: Vec<T>, total: i64, limit: i64, offset: i64) -> serde_json::Value {
    serde_json::json!({ "rows": rows, "total": total, "limit": limit, "offset": offset })
}

/// Decodes `value` as every request body and runs the validation each
/// handler does before touching the store or the engine (property tests).
#[cfg(test)]
pub(crate) fn decode_every_body(value: &serde_json::Value) {
    use serde_json::from_value;
    if let Ok(run) = from_value::<paddock_api::runs::RunRequest>(value.clone()) {
        let _ = crate::services::runs::prepare("t", "run", &run);
    }
    if let Ok(session) = from_value::<paddock_api::sessions::NewSession>(value.clone()) {
        let _ = crate::services::sessions::validate(&session, &paddock_phantom::Services::builtin());
    }
    let _ = from_value::<paddock_api::sessions::ExecRequest>(value.clone());
    let _ = from_value::<paddock_api::credentials::PutCredential>(value.clone());
    let _ = from_value::<paddock_api::identity::NewKey>(value.clone());
    if let Ok(fork) = from_value::<paddock_api::runs::ForkRequest>(value.clone()) {
        let _ = crate::services::runs::fork_children(&fork);
    }
    if let Ok(workspace) = from_value::<paddock_api::workspaces::NewWorkspace>(value.clone()) {
        let _ = crate::services::workspaces::spec_from(&workspace);
    }
    if let Ok(seed) = from_value::<paddock_api::workspaces::GitSeed>(value.clone()) {
        let _ = crate::services::workspaces::git::validate(&seed, false);
    }
    let _ = from_value::<paddock_api::workspaces::WorkspaceExec>(value.clone());
    let _ = from_value::<paddock_api::workspaces::WorkspaceForkRequest>(value.clone());
    let _ = from_value::<paddock_api::workspaces::FromSnapshot>(value.clone());
}

/// An RFC 3339 UTC timestamp from Unix milliseconds.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
