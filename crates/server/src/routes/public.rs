//! Routes without authentication: liveness, readiness, version and the
//! aggregate counters of `/v1/stats`; and `/metrics`, which needs an admin
//! key on the API listener (its counters span every tenant), unless the
//! operator serves it on a listener of its own (`--metrics-listen`).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;

use axum::http::StatusCode;
use paddock_api::identity::{Health, PublicStats, Readiness};
use paddock_api::ErrorCode;

use crate::app::SharedState;
use crate::routes::error::{ApiResult, ErrorBody};
use crate::routes::extract::Caller;

#[utoipa::path(get, path = "/healthz", operation_id = "healthz", summary = "Liveness probe", tag = "public", security(()), responses((status = 200, description = "`ok`", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/readyz", operation_id = "readyz", summary = "Readiness probe", description = "Whether the server can take work: the database answers and accepts a write, the state disk is above its free-space watermark, and the jail engine runs. 503 names the failing check.", tag = "public", security(()), responses((status = 200, description = "Ready", body = Readiness), (status = 503, description = "Not ready; the failing checks carry an error", body = Readiness)))]
pub async fn readyz(State(state): State<SharedState>) -> Response {
    let body =
        crate::services::health::readiness(&state.db, &state.disk, state.runner.engine(), state.config.db_timeout)
            .await;
    let status = if body.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let ready = body.ready;
    let mut response = (status, Json(body)).into_response();
    if !ready {
        // The body is the answer (not an error body to rewrite); the
        // request log records the code.
        response.extensions_mut().insert(ErrorCode::Unavailable);
    }
    response
}

#[utoipa::path(get, path = "/v1/health", operation_id = "getHealth", summary = "Liveness and version", tag = "public", security(()), responses((status = 200, description = "Up, with the server's version", body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

#[utoipa::path(get, path = "/v1/stats", operation_id = "getStats", summary = "Counters across all tenants", tag = "public", security(()), responses((status = 200, description = "Jails running and recorded, open sessions, stored credentials", body = PublicStats)))]
pub async fn stats(State(state): State<SharedState>) -> ApiResult<Json<PublicStats>> {
    Ok(Json(state.ledger.stats().await?))
}

/// Prometheus metrics: counters of every tenant's jails and proxied
/// requests, so only admins may read them here. A scraper without a key
/// uses the operator's `--metrics-listen` listener instead.
#[utoipa::path(get, path = "/metrics", operation_id = "getMetrics", summary = "Prometheus metrics (admins)", description = "Counters across every tenant, so an admin key is needed. `paddock serve --metrics-listen ADDR` serves the same text without authentication on a listener of its own (for a scraper on a private network).", tag = "public", security(("bearer" = [])), responses((status = 200, description = "Prometheus text format", body = String), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 403, description = "Admins only", body = ErrorBody)))]
pub async fn metrics(State(state): State<SharedState>, caller: Caller) -> ApiResult<Response> {
    caller.require_admin()?;
    Ok(metrics_text(&state))
}

fn metrics_text(state: &SharedState) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
        .into_response()
}

/// Serves `GET /metrics` without authentication on the operator's own
/// metrics listener (`--metrics-listen`) until `shutdown` resolves;
/// anything else there answers 404. The operator chose to expose the
/// cross-tenant counters on that address, so it is kept off the API
/// listener, whose clients are tenants.
pub async fn serve_metrics(
    state: SharedState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let limits = state.config.api_limits;
    let handler = move |request: axum::http::Request<paddock_phantom::listen::TimedBody>,
                        _peer: std::net::SocketAddr| {
        let state = state.clone();
        async move {
            let found = request.uri().path() == "/metrics";
            match (found, request.method()) {
                (true, &axum::http::Method::GET | &axum::http::Method::HEAD) => metrics_text(&state),
                (true, _) => (StatusCode::METHOD_NOT_ALLOWED, "only GET /metrics\n").into_response(),
                (false, _) => (StatusCode::NOT_FOUND, "this listener serves only GET /metrics\n").into_response(),
            }
        }
    };
    paddock_phantom::listen::serve(listener, limits, "metrics listener", handler, shutdown).await;
}
