//! Routes without authentication: liveness, version, counters, metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;

use crate::app::SharedState;
use crate::error::ApiResult;
use crate::store::Scope;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

pub async fn stats(State(state): State<SharedState>) -> ApiResult<Json<serde_json::Value>> {
    let (total, sessions, credentials) = state.store.counters(&Scope::All).await?;
    Ok(Json(serde_json::json!({
        "active_execs": state.metrics.active(),
        "total_execs": total,
        "sessions": sessions,
        "credentials": credentials,
    })))
}

pub async fn metrics(State(state): State<SharedState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}
