//! The HTTP routes of the control plane (API.md), one file per section.

mod credentials;
mod identity;
mod ledger;
mod public;
mod runs;
mod sessions;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;
use serde::Deserialize;

use crate::app::SharedState;
use crate::error::ApiError;

/// Every route, with the body limit applied.
pub fn router(state: SharedState) -> Router {
    let body_limit = state.config.body_limit;
    Router::new()
        .route("/healthz", get(public::healthz))
        .route("/v1/health", get(public::health))
        .route("/v1/stats", get(public::stats))
        .route("/metrics", get(public::metrics))
        .route("/v1/whoami", get(identity::whoami))
        .route("/v1/flavors", get(identity::flavors))
        .route("/v1/config", get(identity::config))
        .route("/v1/keys", get(identity::list_keys).post(identity::create_key))
        .route("/v1/keys/{id}", delete(identity::revoke_key))
        .route("/v1/credentials", get(credentials::list).post(credentials::put))
        .route("/v1/credentials/{service}", delete(credentials::remove))
        .route("/v1/sessions", get(sessions::list).post(sessions::create))
        .route("/v1/sessions/{id}", get(sessions::get).delete(sessions::close))
        .route("/v1/sessions/{id}/exec", post(sessions::exec))
        .route("/v1/runs", post(runs::create))
        .route("/v1/runs/stream", post(runs::stream))
        .route("/v1/jails", get(ledger::list_jails))
        .route("/v1/jails/{id}", get(ledger::get_jail))
        .route("/v1/audit", get(ledger::audit))
        .fallback(|| async { ApiError::not_found("route") })
        .layer(axum::middleware::from_fn(log_request))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// One structured log line per request: method, path (no query, no
/// headers, so no key or token is ever logged), status and duration.
async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        target: "paddock::http",
        %method,
        path,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// `?limit=&offset=&tenant=&q=` of list routes.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub tenant: Option<String>,
    pub q: Option<String>,
    pub status: Option<String>,
    pub kind: Option<String>,
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

/// An RFC 3339 UTC timestamp from Unix milliseconds.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
