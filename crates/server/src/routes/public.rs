//! Routes without authentication: liveness, version, counters, metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;

use crate::app::SharedState;
use crate::error::ApiResult;
use crate::store::Scope;

#[utoipa::path(get, path = "/healthz", tag = "public", responses((status = 200, description = "`ok`", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/v1/health", tag = "public", responses((status = 200, description = "`{status, version}`", body = Object)))]
pub async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

#[utoipa::path(get, path = "/v1/stats", tag = "public", responses((status = 200, description = "`{active_execs, total_execs, sessions, credentials}`", body = Object)))]
pub async fn stats(State(state): State<SharedState>) -> ApiResult<Json<serde_json::Value>> {
    let (total, sessions, credentials) = state.store.counters(&Scope::All).await?;
    Ok(Json(serde_json::json!({
        "active_execs": state.metrics.active(),
        "total_execs": total,
        "sessions": sessions,
        "credentials": credentials,
    })))
}

#[utoipa::path(get, path = "/metrics", tag = "public", responses((status = 200, description = "Prometheus text format", body = String)))]
pub async fn metrics(State(state): State<SharedState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}
