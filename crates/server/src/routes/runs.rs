//! One-shot code runs: `POST /v1/runs` answers when the jail ends,
//! `POST /v1/runs/stream` streams its events as SSE.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures_util::stream::Stream;
use paddock_jail::{JailEvent, JailResult};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::{ListQuery, TenantQuery};
use crate::app::{ApiJson, Caller, SharedState};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::exec::{self, ExecResult, JailOptions, LedgerEntry};

/// Largest `code`, bytes.
const MAX_CODE: usize = 1 << 20;
/// Stats events of a stream, this often.
const STATS_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RunRequest {
    code: String,
    #[serde(default = "default_language")]
    language: String,
    #[serde(flatten)]
    options: JailOptions,
}

fn default_language() -> String {
    "javascript".into()
}

/// The jail and ledger entry of a run request.
pub(super) fn prepare(body: &RunRequest) -> Result<(paddock_jail::JailConfig, serde_json::Value), ApiError> {
    if body.code.len() > MAX_CODE {
        return Err(ApiError::status(
            StatusCode::PAYLOAD_TOO_LARGE,
            "CODE_TOO_LARGE",
            format!("code is {} bytes; at most {MAX_CODE} are accepted", body.code.len()),
        ));
    }
    let mut config = exec::code_config(&body.language, &body.code)?;
    let effective = body.options.apply(&mut config)?;
    let ledger_config = serde_json::json!({
        "language": body.language,
        "code_bytes": body.code.len(),
        "code_blake3": blake3::hash(body.code.as_bytes()).to_hex().to_string(),
        "limits": effective,
    });
    Ok((config, ledger_config))
}

#[utoipa::path(post, path = "/v1/runs", tag = "runs", security(("bearer" = [])), params(TenantQuery), request_body = RunRequest, responses((status = 201, body = ExecResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
    ApiJson(body): ApiJson<RunRequest>,
) -> ApiResult<(StatusCode, Json<ExecResult>)> {
    let tenant = caller.owner(query.tenant.as_deref())?;
    let (config, ledger_config) = prepare(&body)?;
    let entry = LedgerEntry {
        tenant: &tenant,
        kind: "run",
        session_id: None,
        label: None,
        parent_id: None,
        config: ledger_config,
    };
    let result = exec::run_recorded(&state, entry, config).await?;
    Ok((StatusCode::CREATED, Json(ExecResult::from(&result))))
}

/// SSE: `started`, `stdout`, `stderr`, `stats` (every 500 ms), `egress`
/// (allowlist mode), then exactly one `completed` or `error`. The jail and
/// its ledger row finish even if the client goes away.
#[utoipa::path(post, path = "/v1/runs/stream", tag = "runs", security(("bearer" = [])), params(TenantQuery), request_body = RunRequest, responses((status = 200, description = "SSE: started, stdout, stderr, stats, egress, then one completed or error", content_type = "text/event-stream", body = String), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn stream(
    State(state): State<SharedState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
    ApiJson(body): ApiJson<RunRequest>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let tenant = caller.owner(query.tenant.as_deref())?;
    let (config, ledger_config) = prepare(&body)?;
    let slot = exec::take_slot(&state)?;
    let entry = LedgerEntry {
        tenant: &tenant,
        kind: "stream",
        session_id: None,
        label: None,
        parent_id: None,
        config: ledger_config,
    };
    let id = exec::open_ledger(&state, &entry).await?;
    let started = Instant::now();
    let mut events = state.engine.stream(config, STATS_EVERY).await;
    let (tx, rx) = mpsc::channel::<Event>(64);
    let state = state.clone();
    tokio::spawn(async move {
        let _slot = slot;
        let mut client = Some(tx);
        let mut outcome = None;
        while let Some(event) = events.recv().await {
            let sse = match event {
                JailEvent::Started { pid } => json_event("started", serde_json::json!({ "pid": pid })),
                JailEvent::Stdout(line) => line_event("stdout", &line),
                JailEvent::Stderr(line) => line_event("stderr", &line),
                JailEvent::Stats(stats) => json_event("stats", serde_json::json!(stats)),
                JailEvent::Egress(record) => json_event("egress", serde_json::json!(record)),
                JailEvent::Completed(result) => {
                    let event = json_event("completed", completed_json(&result));
                    outcome = Some(Ok(result));
                    event
                }
                JailEvent::Failed(err) => {
                    let event = json_event("error", serde_json::json!({ "message": err.to_string() }));
                    outcome = Some(Err(err));
                    event
                }
            };
            // A client that went away stops getting events; the jail
            // still runs to its end and its row is closed.
            if let Some(tx) = &client {
                if tx.send(sse).await.is_err() {
                    client = None;
                }
            }
        }
        let outcome = outcome.unwrap_or_else(|| Err(paddock_jail::JailError::Spawner("the stream ended early".into())));
        exec::close_ledger(&state, id, outcome.as_ref().map_err(|e| e.to_string()), started).await;
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (Ok::<_, Infallible>(event), rx))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn json_event(name: &str, data: serde_json::Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

/// An output line as agentjail sends it: the bare text as `data`. SSE
/// ends a line at a carriage return, so a line with `\r` in it (a
/// progress bar redrawing itself) is sent as a terminal shows it: what
/// follows the last `\r`.
fn line_event(name: &str, line: &str) -> Event {
    Event::default().event(name).data(terminal_view(line))
}

fn terminal_view(line: &str) -> &str {
    let line = line.trim_end_matches('\r');
    line.rsplit('\r').next().unwrap_or(line)
}

/// `{exit_code, duration_ms, timed_out, oom_killed, stdout_truncated,
/// stderr_truncated, ...stats}`.
fn completed_json(result: &JailResult) -> serde_json::Value {
    let mut json = serde_json::json!({
        "exit_code": result.exit_code(),
        "duration_ms": result.duration.as_secs_f64() * 1000.0,
        "timed_out": result.timed_out,
        "oom_killed": result.oom_killed,
        "stdout_truncated": result.stdout.truncated,
        "stderr_truncated": result.stderr.truncated,
    });
    if let (Some(stats), Some(map)) = (result.stats, json.as_object_mut()) {
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(stats) {
            map.extend(fields);
        }
    }
    json
}

#[cfg(test)]
mod tests {
    use super::terminal_view;

    #[test]
    fn carriage_returns_render_as_a_terminal_would() {
        assert_eq!(terminal_view("plain"), "plain");
        assert_eq!(terminal_view("10%\r50%\r100%"), "100%");
        assert_eq!(terminal_view("windows line\r"), "windows line");
        assert_eq!(terminal_view(""), "");
    }
}
