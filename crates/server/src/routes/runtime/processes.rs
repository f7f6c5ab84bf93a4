//! Processes of a running workspace (sandbox-agent 0.4.2's
//! `/v1/processes…` under the runtime base URL): runs, managed processes,
//! logs (SSE when following), input, and terminals (resize and the
//! WebSocket). Every call starts the workspace if it is not running.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::Stream;
use paddock_api::runtime::problem::ProblemDetails;
use paddock_api::runtime::processes::{
    ProcessConfig, ProcessCreateRequest, ProcessInfo, ProcessInputRequest, ProcessInputResponse, ProcessListResponse,
    ProcessLogsResponse, ProcessLogsStream, ProcessOwner, ProcessRunRequest, ProcessRunResponse, ProcessState,
    ProcessTerminalSize,
};
use paddock_api::{Error, ErrorCode};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ProblemResult, RuntimeCaller, RuntimeJson};
use crate::app::SharedState;
use crate::services::runtime::{decode_input, Managed};

/// Keep-alive comments on a followed log, this often.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(super) fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(run))
        .routes(routes!(list, create))
        .routes(routes!(get_config, set_config))
        .routes(routes!(get, delete))
        .routes(routes!(stop))
        .routes(routes!(kill))
        .routes(routes!(logs))
        .routes(routes!(input))
        .routes(routes!(resize))
        .routes(routes!(terminal))
}

/// `{id}` and `{process}` of a process route.
#[derive(Debug, Deserialize)]
struct ProcessPath {
    id: String,
    process: String,
}

/// `?owner=` of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only processes of this owner.
    owner: Option<ProcessOwner>,
}

/// `?waitMs=` of stop and kill.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct SignalQuery {
    /// Wait up to this long for the process to end before answering.
    wait_ms: Option<u64>,
}

/// `?stream=&tail=&since=&follow=` of the logs.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LogsQuery {
    /// `stdout`, `stderr`, `combined` (default) or `pty` (default for
    /// terminal processes).
    stream: Option<ProcessLogsStream>,
    /// Only the last this many entries.
    tail: Option<usize>,
    /// Only entries with a sequence above this.
    since: Option<u64>,
    /// Stream entries as Server-Sent Events (`event: log`) until the
    /// process ends.
    follow: Option<bool>,
}

/// Longest wait of a stop or kill.
const MAX_WAIT_MS: u64 = 300_000;
/// How long a stop without `waitMs` waits (as sandbox-agent does).
const DEFAULT_STOP_WAIT_MS: u64 = 2_000;

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/processes/run", operation_id = "runtimeRunProcess", summary = "Run a process to its end",
    description = "Runs a command in the running workspace (started on demand) and answers its output and exit code. The deadline is `timeoutMs` (default and maximum from the process config); output past `maxOutputBytes` is cut and flagged.",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    request_body = ProcessRunRequest,
    responses((status = 200, description = "The outcome", body = ProcessRunResponse),
        (status = 400, description = "Bad command, environment, cwd or timeout; or the command cannot be executed", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The workspace runs its process limit", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "The server runs its limit of concurrent jails", body = ProblemDetails, content_type = "application/problem+json")))]
async fn run(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    RuntimeJson(body): RuntimeJson<ProcessRunRequest>,
) -> ProblemResult<Json<ProcessRunResponse>> {
    let running = state.workspaces.running(&caller, &id).await?;
    Ok(Json(running.run(body).await?))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/processes", operation_id = "runtimeListProcesses", summary = "List processes",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ListQuery),
    responses((status = 200, description = "Every process record, oldest first", body = ProcessListResponse),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json")))]
async fn list(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> ProblemResult<Json<ProcessListResponse>> {
    let running = state.workspaces.running(&caller, &id).await?;
    Ok(Json(ProcessListResponse {
        processes: running.list(query.owner),
    }))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/processes", operation_id = "runtimeCreateProcess", summary = "Start a process",
    description = "Starts a managed process that outlives the request: on pipes (with `interactive`, its input stays open) or on a terminal (`tty`) of the jail's own devpts.",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    request_body = ProcessCreateRequest,
    responses((status = 200, description = "The running process", body = ProcessInfo),
        (status = 400, description = "Bad command, environment or cwd; or the command cannot be executed", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The workspace runs its process limit", body = ProblemDetails, content_type = "application/problem+json")))]
async fn create(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    RuntimeJson(body): RuntimeJson<ProcessCreateRequest>,
) -> ProblemResult<Json<ProcessInfo>> {
    let running = state.workspaces.running(&caller, &id).await?;
    Ok(Json(running.create(body).await?))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/processes/config", operation_id = "runtimeGetProcessConfig", summary = "Process limits",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The limits", body = ProcessConfig),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json")))]
async fn get_config(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
) -> ProblemResult<Json<ProcessConfig>> {
    let running = state.workspaces.running(&caller, &id).await?;
    Ok(Json(running.config()))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/processes/config", operation_id = "runtimeSetProcessConfig", summary = "Set process limits",
    description = "Replaces the limits of this running workspace (they return to the defaults when it stops).",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    request_body = ProcessConfig,
    responses((status = 200, description = "The limits now", body = ProcessConfig),
        (status = 400, description = "A limit of 0, or a default timeout above the maximum", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json")))]
async fn set_config(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    RuntimeJson(body): RuntimeJson<ProcessConfig>,
) -> ProblemResult<Json<ProcessConfig>> {
    let running = state.workspaces.running(&caller, &id).await?;
    Ok(Json(running.set_config(body)?))
}

/// The process of a route (404 when unknown).
async fn find(
    state: &SharedState,
    caller: &RuntimeCaller,
    path: &ProcessPath,
) -> Result<std::sync::Arc<Managed>, Error> {
    let running = state.workspaces.running(&caller.0, &path.id).await?;
    running.get(&path.process)
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/processes/{process}", operation_id = "runtimeGetProcess", summary = "Get a process",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("process" = String, Path, description = "Process id (`proc_N`)")),
    responses((status = 200, description = "The process", body = ProcessInfo),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace or process", body = ProblemDetails, content_type = "application/problem+json")))]
async fn get(
    State(state): State<SharedState>,
    caller: RuntimeCaller,
    Path(path): Path<ProcessPath>,
) -> ProblemResult<Json<ProcessInfo>> {
    Ok(Json(find(&state, &caller, &path).await?.info()))
}

#[utoipa::path(delete, path = "/v1/workspaces/{id}/runtime/v1/processes/{process}", operation_id = "runtimeDeleteProcess", summary = "Forget an exited process",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("process" = String, Path, description = "Process id (`proc_N`)")),
    responses((status = 204, description = "Forgotten"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace or process", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The process still runs", body = ProblemDetails, content_type = "application/problem+json")))]
async fn delete(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(path): Path<ProcessPath>,
) -> ProblemResult<axum::http::StatusCode> {
    let running = state.workspaces.running(&caller, &path.id).await?;
    running.delete(&path.process)?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

async fn signal(
    state: &SharedState,
    caller: &RuntimeCaller,
    path: &ProcessPath,
    signal: i32,
    query: SignalQuery,
) -> ProblemResult<Json<ProcessInfo>> {
    let wait = query.wait_ms.map(|ms| Duration::from_millis(ms.min(MAX_WAIT_MS)));
    let running = state.workspaces.running(&caller.0, &path.id).await?;
    Ok(Json(running.signal(&path.process, signal, wait).await?))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/processes/{process}/stop", operation_id = "runtimeStopProcess", summary = "Stop a process (SIGTERM)",
    description = "Sends SIGTERM to the process's group and answers once it ended or `waitMs` (default 2000) passed.",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("process" = String, Path, description = "Process id (`proc_N`)"), SignalQuery),
    responses((status = 200, description = "The process", body = ProcessInfo),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace or process", body = ProblemDetails, content_type = "application/problem+json")))]
async fn stop(
    State(state): State<SharedState>,
    caller: RuntimeCaller,
    Path(path): Path<ProcessPath>,
    Query(query): Query<SignalQuery>,
) -> ProblemResult<Json<ProcessInfo>> {
    let query = SignalQuery {
        wait_ms: Some(query.wait_ms.unwrap_or(DEFAULT_STOP_WAIT_MS)),
    };
    signal(&state, &caller, &path, libc::SIGTERM, query).await
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/processes/{process}/kill", operation_id = "runtimeKillProcess", summary = "Kill a process (SIGKILL)",
    description = "Sends SIGKILL to the process's group; with `waitMs`, answers once it ended or that time passed.",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("process" = String, Path, description = "Process id (`proc_N`)"), SignalQuery),
    responses((status = 200, description = "The process", body = ProcessInfo),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace or process", body = ProblemDetails, content_type = "application/problem+json")))]
async fn kill(
    State(state): State<SharedState>,
    caller: RuntimeCaller,
    Path(path): Path<ProcessPath>,
    Query(query): Query<SignalQuery>,
) -> ProblemResult<Json<ProcessInfo>> {
    signal(&state, &caller, &path, libc::SIGKILL, query).await
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/processes/{process}/logs", operation_id = "runtimeProcessLogs", summary = "A process's output",
    description = "The retained output (base64 chunks with sequence numbers). With `follow=true`, a Server-Sent Events stream: `event: log` with one entry each, from the retained ones on, until the process ends.",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("process" = String, Path, description = "Process id (`proc_N`)"), LogsQuery),
    responses((status = 200, description = "The entries (or an SSE stream when following)", body = ProcessLogsResponse),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace or process", body = ProblemDetails, content_type = "application/problem+json")))]
async fn logs(
    State(state): State<SharedState>,
    caller: RuntimeCaller,
    Path(path): Path<ProcessPath>,
    Query(query): Query<LogsQuery>,
) -> ProblemResult<Response> {
    let process = find(&state, &caller, &path).await?;
    let stream = query.stream.unwrap_or(if process.is_tty() {
        ProcessLogsStream::Pty
    } else {
        ProcessLogsStream::Combined
    });
    if query.follow == Some(true) {
        return Ok(Sse::new(follow(process, stream, query.since, query.tail))
            .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
            .into_response());
    }
    let entries = process
        .read_log(stream, query.since, query.tail)
        .iter()
        .map(|c| c.entry())
        .collect();
    Ok(Json(ProcessLogsResponse {
        process_id: path.process,
        stream,
        entries,
    })
    .into_response())
}

/// The entries of a followed log: the retained ones, then each new one,
/// until the process's output ended.
fn follow(
    process: std::sync::Arc<Managed>,
    stream: ProcessLogsStream,
    since: Option<u64>,
    tail: Option<usize>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let changes = process.log_subscription();
    let state = (
        process,
        changes,
        since.unwrap_or(0),
        tail,
        Vec::new().into_iter(),
        false,
    );
    futures_util::stream::unfold(
        state,
        move |(process, mut changes, mut after, mut tail, mut pending, mut done)| async move {
            loop {
                if let Some(chunk) = pending.next() {
                    let chunk: crate::services::runtime::log::Chunk = chunk;
                    after = chunk.sequence;
                    let event = Event::default()
                        .event("log")
                        .id(chunk.sequence.to_string())
                        .json_data(chunk.entry())
                        .unwrap_or_else(|_| Event::default().comment("unencodable entry"));
                    return Some((Ok(event), (process, changes, after, tail, pending, done)));
                }
                if done {
                    return None;
                }
                // Read before waiting, so nothing written meanwhile is missed.
                let ended = changes.borrow_and_update().1;
                let fresh = process.read_log(stream, Some(after), tail.take());
                if fresh.is_empty() {
                    if ended {
                        done = true;
                        continue;
                    }
                    if changes.changed().await.is_err() {
                        done = true;
                    }
                    continue;
                }
                pending = fresh.into_iter();
            }
        },
    )
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/processes/{process}/input", operation_id = "runtimeProcessInput", summary = "Write to a process's input",
    description = "Delivers bytes to a process's standard input, or types them on its terminal. `encoding` is `base64` (default), `utf8` or `text`.",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("process" = String, Path, description = "Process id (`proc_N`)")),
    request_body = ProcessInputRequest,
    responses((status = 200, description = "Written", body = ProcessInputResponse),
        (status = 400, description = "Bad encoding", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace or process", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The process has exited, or no longer reads its input", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Over maxInputBytesPerRequest", body = ProblemDetails, content_type = "application/problem+json")))]
async fn input(
    State(state): State<SharedState>,
    caller: RuntimeCaller,
    Path(path): Path<ProcessPath>,
    RuntimeJson(body): RuntimeJson<ProcessInputRequest>,
) -> ProblemResult<Json<ProcessInputResponse>> {
    let running = state.workspaces.running(&caller.0, &path.id).await?;
    let process = running.get(&path.process)?;
    let data = decode_input(&body, "base64", running.config().max_input_bytes_per_request)?;
    let bytes_written = process.write_input(&data, body.eof == Some(true)).await?;
    Ok(Json(ProcessInputResponse { bytes_written }))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/processes/{process}/terminal/resize", operation_id = "runtimeResizeTerminal", summary = "Resize a process's terminal",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("process" = String, Path, description = "Process id (`proc_N`)")),
    request_body = ProcessTerminalSize,
    responses((status = 200, description = "The new size", body = ProcessTerminalSize),
        (status = 400, description = "A size of 0", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace or process", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The process has no terminal", body = ProblemDetails, content_type = "application/problem+json")))]
async fn resize(
    State(state): State<SharedState>,
    caller: RuntimeCaller,
    Path(path): Path<ProcessPath>,
    RuntimeJson(body): RuntimeJson<ProcessTerminalSize>,
) -> ProblemResult<Json<ProcessTerminalSize>> {
    find(&state, &caller, &path).await?.resize(body)?;
    Ok(Json(body))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/processes/{process}/terminal/ws", operation_id = "runtimeTerminalWebSocket", summary = "A process's terminal over a WebSocket",
    description = "Upgrades to a WebSocket. Server text frames are JSON (`{type:\"ready\",processId}`, `{type:\"exit\",exitCode}`, `{type:\"error\",message}`); server binary frames are the terminal's output from the connection on. Client text frames: `{type:\"input\",data,encoding}` (`utf8` by default), `{type:\"resize\",cols,rows}`, `{type:\"close\"}`. Browsers authenticate with `?access_token=` or, keeping the key out of the URL, by offering the subprotocols `paddock.terminal` and `paddock.bearer.<base64url of the key>` (the answer selects `paddock.terminal`).",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("process" = String, Path, description = "Process id (`proc_N`)"), ("access_token" = Option<String>, Query, description = "The API key, for clients that cannot set headers")),
    responses((status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket upgrade", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The process has no terminal", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace or process", body = ProblemDetails, content_type = "application/problem+json")))]
async fn terminal(
    State(state): State<SharedState>,
    caller: RuntimeCaller,
    Path(path): Path<ProcessPath>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ProblemResult<Response> {
    let process = find(&state, &caller, &path).await?;
    if !process.is_tty() {
        return Err(Error::new(
            ErrorCode::ProcessConflict,
            "this process has no terminal (create it with tty)",
        )
        .into());
    }
    let upgrade = upgrade
        .map_err(|e| Error::new(ErrorCode::BadRequest, e.body_text()))?
        .protocols(["paddock.terminal"]);
    let activity = (state.workspaces.clone(), path.id);
    Ok(upgrade.on_upgrade(move |socket| serve_terminal(socket, process, path.process, activity)))
}

/// A client frame of the terminal WebSocket.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ClientFrame {
    Input { data: String, encoding: Option<String> },
    Resize { cols: u16, rows: u16 },
    Close,
}

/// Relays a terminal; typing counts as the workspace's activity.
async fn serve_terminal(
    mut socket: WebSocket,
    process: std::sync::Arc<Managed>,
    id: String,
    (workspaces, workspace): (crate::services::workspaces::Workspaces, String),
) {
    let ready = serde_json::json!({ "type": "ready", "processId": id }).to_string();
    if socket.send(Message::Text(ready.into())).await.is_err() {
        return;
    }
    let mut changes = process.log_subscription();
    // Output from now on, as sandbox-agent sends it (no replay).
    let mut after = changes.borrow_and_update().0;
    loop {
        let ended = changes.borrow_and_update().1;
        for chunk in process.read_log(ProcessLogsStream::Pty, Some(after), None) {
            after = chunk.sequence;
            if socket.send(Message::Binary(chunk.bytes.into())).await.is_err() {
                return;
            }
        }
        if ended {
            let exit = serde_json::json!({ "type": "exit", "exitCode": process.info().exit_code });
            let _ = socket.send(Message::Text(exit.to_string().into())).await;
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            frame = socket.recv() => {
                let Some(Ok(frame)) = frame else { return };
                let text = match frame {
                    Message::Text(text) => text.to_string(),
                    Message::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    Message::Close(_) => return,
                    _ => continue,
                };
                let outcome = match serde_json::from_str::<ClientFrame>(&text) {
                    Ok(ClientFrame::Input { data, encoding }) => {
                        workspaces.note_activity(&workspace).await;
                        let request = ProcessInputRequest { data, encoding, eof: None };
                        // UTF-8 by default here, as sandbox-agent reads it.
                        match decode_input(&request, "utf8", usize::MAX) {
                            Ok(bytes) => process.write_input(&bytes, false).await.map(drop),
                            Err(err) => Err(err),
                        }
                    }
                    Ok(ClientFrame::Resize { cols, rows }) => process.resize(ProcessTerminalSize { cols, rows }),
                    Ok(ClientFrame::Close) => {
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                    Err(err) => Err(Error::new(ErrorCode::BadRequest, format!("bad terminal frame: {err}"))),
                };
                if let Err(err) = outcome {
                    if process.info().status == ProcessState::Exited {
                        continue;
                    }
                    let frame = serde_json::json!({ "type": "error", "message": err.message });
                    if socket.send(Message::Text(frame.to_string().into())).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}
