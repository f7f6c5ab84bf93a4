//! Routes without authentication: liveness, readiness, version, counters,
//! metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;

use axum::http::StatusCode;
use paddock_api::identity::{Check, DatabaseCheck, DiskCheck, Health, PublicStats, Readiness, ReadinessChecks};
use paddock_api::ErrorCode;

use crate::app::SharedState;
use crate::routes::error::ApiResult;

#[utoipa::path(get, path = "/healthz", operation_id = "healthz", summary = "Liveness probe", tag = "public", security(()), responses((status = 200, description = "`ok`", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/readyz", operation_id = "readyz", summary = "Readiness probe", description = "Whether the server can take work: the database answers and accepts a write, the state disk is above its free-space reserve, and the jail engine runs. 503 names the failing check.", tag = "public", security(()), responses((status = 200, description = "Ready", body = Readiness), (status = 503, description = "Not ready; the failing checks carry an error", body = Readiness)))]
pub async fn readyz(State(state): State<SharedState>) -> Response {
    let started = std::time::Instant::now();
    let probe = tokio::time::timeout(state.config.db_timeout, state.db.probe()).await;
    let database = DatabaseCheck {
        ok: matches!(probe, Ok(Ok(()))),
        backend: state.db.backend_name().to_owned(),
        latency_ms: started.elapsed().as_millis() as u64,
        error: match probe {
            Ok(Ok(())) => None,
            Ok(Err(err)) => Some(err.to_string()),
            Err(_) => Some(format!("no answer within {:?}", state.config.db_timeout)),
        },
    };
    let state_disk = match state.disk.status() {
        Ok(disk) => DiskCheck {
            ok: disk.has_room(),
            free_bytes: disk.free_bytes,
            total_bytes: disk.total_bytes,
            min_free_bytes: disk.min_free_bytes,
            reserve_bytes: disk.reserve_bytes,
            reserve_held: disk.reserve_held,
            error: (!disk.has_room()).then(|| {
                format!(
                    "{} MiB free, below the reserve of {} MiB: new work answers 507",
                    disk.free_bytes >> 20,
                    disk.min_free_bytes >> 20
                )
            }),
        },
        Err(err) => DiskCheck {
            ok: false,
            free_bytes: 0,
            total_bytes: 0,
            min_free_bytes: state.config.min_free_space,
            reserve_bytes: state.config.reserve_space,
            reserve_held: state.disk.reserve_held(),
            error: Some(format!("cannot read the state disk's free space: {err}")),
        },
    };
    let engine_alive = state.runner.engine().is_alive();
    let jail_engine = Check {
        ok: engine_alive,
        error: (!engine_alive).then(|| "the jail engine's zygote is gone: no jail can start".to_owned()),
    };
    let ready = database.ok && state_disk.ok && jail_engine.ok;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        ready,
        checks: ReadinessChecks {
            database,
            state_disk,
            jail_engine,
        },
    };
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
