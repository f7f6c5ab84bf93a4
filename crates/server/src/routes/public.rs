//! Routes without authentication: liveness, readiness, version, counters,
//! metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;

use axum::http::StatusCode;
use paddock_api::identity::{Health, PublicStats, Readiness};
use paddock_api::ErrorCode;

use crate::app::SharedState;
use crate::routes::error::ApiResult;

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

#[utoipa::path(get, path = "/metrics", operation_id = "getMetrics", summary = "Prometheus metrics", tag = "public", security(()), responses((status = 200, description = "Prometheus text format", body = String)))]
pub async fn metrics(State(state): State<SharedState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}
