//! Coding agents of a running workspace (sandbox-agent 0.4.2's
//! `/v1/agents…` and `/v1/acp…` under the runtime base URL): the agents
//! and their installs, and ACP servers (JSON-RPC envelopes POSTed to an
//! agent, its messages as Server-Sent Events replayed from the database
//! after `Last-Event-ID`, and paddock's transcript of both directions).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use paddock_api::runtime::agents::{
    AcpEnvelope, AcpEventList, AcpEventsQuery, AcpPostQuery, AcpServerListResponse, AgentInfo, AgentInstallRequest,
    AgentInstallResponse, AgentListResponse, AgentQuery, McpConfigQuery, McpServerConfig, SkillsConfig,
    SkillsConfigQuery,
};
use paddock_api::runtime::problem::ProblemDetails;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ProblemResult, RuntimeCaller, RuntimeJson};
use crate::app::SharedState;
use crate::services::agents::config::ConfigKind;
use crate::services::agents::Agents;

/// Keep-alive comments on an ACP stream, this often.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Stored envelopes read per query while replaying.
const REPLAY_PAGE: i64 = 100;

pub(super) fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(list_agents))
        .routes(routes!(get_agent))
        .routes(routes!(install_agent))
        .routes(routes!(list_servers))
        .routes(routes!(post_envelope, stream_envelopes, delete_server))
        .routes(routes!(transcript))
        .routes(routes!(get_mcp_config, put_mcp_config, delete_mcp_config))
        .routes(routes!(get_skills_config, put_skills_config, delete_skills_config))
}

#[derive(Debug, Deserialize)]
struct AgentPath {
    id: String,
    agent: String,
}

#[derive(Debug, Deserialize)]
struct ServerPath {
    id: String,
    server: String,
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/agents", operation_id = "runtimeListAgents", summary = "List agents",
    description = "Every coding agent paddock knows, whether this host has it installed, whether the tenant has a credential for the model service it calls, and its capabilities. Amp and Cursor are listed with `configError` saying why they cannot be installed.",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), AgentQuery),
    responses((status = 200, description = "The agents", body = AgentListResponse),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json")))]
async fn list_agents(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    Query(query): Query<AgentQuery>,
) -> ProblemResult<Json<AgentListResponse>> {
    let config = query.config == Some(true);
    Ok(Json(state.agents.list(&caller, &id, config).await?))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/agents/{agent}", operation_id = "runtimeGetAgent", summary = "One agent",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("agent" = String, Path, description = "Agent id"), AgentQuery),
    responses((status = 200, description = "The agent", body = AgentInfo),
        (status = 400, description = "An agent paddock does not know (`unsupported_agent`)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json")))]
async fn get_agent(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(path): Path<AgentPath>,
    Query(query): Query<AgentQuery>,
) -> ProblemResult<Json<AgentInfo>> {
    let config = query.config == Some(true);
    Ok(Json(state.agents.get(&caller, &path.id, &path.agent, config).await?))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/agents/{agent}/install", operation_id = "runtimeInstallAgent", summary = "Install an agent",
    description = "Installs the agent's pinned npm packages on the server's host (every workspace sees them, read-only); an admin's key only, as it runs npm on the host for every tenant. Answers when the install is done; an installed agent answers `already_installed` unless `reinstall`.",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("agent" = String, Path, description = "Agent id")),
    request_body = AgentInstallRequest,
    responses((status = 200, description = "Installed", body = AgentInstallResponse),
        (status = 400, description = "An unknown agent, or a version other than the pinned one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin's key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace, or an agent not installable here (`agent_not_installed`, with the reason)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "npm failed (`install_failed`, with npm's message)", body = ProblemDetails, content_type = "application/problem+json")))]
async fn install_agent(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(path): Path<AgentPath>,
    RuntimeJson(body): RuntimeJson<AgentInstallRequest>,
) -> ProblemResult<Json<AgentInstallResponse>> {
    Ok(Json(state.agents.install(&caller, &path.id, &path.agent, &body).await?))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/acp", operation_id = "runtimeListAcpServers", summary = "List ACP servers",
    description = "The workspace's ACP servers, oldest first, with (ext) `status`: `running`, or `exited` once the agent process ended (after a paddock restart too); an exited server's transcript stays until it is deleted.",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The servers", body = AcpServerListResponse),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json")))]
async fn list_servers(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
) -> ProblemResult<Json<AcpServerListResponse>> {
    Ok(Json(state.agents.servers(&caller, &id).await?))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/acp/{server}", operation_id = "runtimePostAcp", summary = "Send an ACP envelope",
    description = "Sends a JSON-RPC 2.0 envelope to the server's agent, starting it (and the workspace) on the first POST, which names the agent in `?agent=`. A request is answered with the agent's response (200); a notification or an answer to the agent's own request with 202 once the agent has it. Every envelope is stored before it is passed on.",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("server" = String, Path, description = "Client-chosen ACP server id"), AcpPostQuery),
    request_body = AcpEnvelope,
    responses((status = 200, description = "The agent's response", body = AcpEnvelope),
        (status = 202, description = "Delivered"),
        (status = 400, description = "Not JSON, no `agent` on the first POST, or an unknown agent (`unsupported_agent`)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace, or an agent not installed (`agent_not_installed`, with the command that installs it)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The server id is bound to another agent, or a request with the same id is waiting", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not `application/json`", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "The workspace runs 8 agents already", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "The agent process exited (`agent_process_exited`, with its stderr's end)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 502, description = "The agent process could not be started (`stream_error`)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 504, description = "The agent did not answer in 30 minutes, or did not read its input for 30 s", body = ProblemDetails, content_type = "application/problem+json")))]
async fn post_envelope(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(path): Path<ServerPath>,
    Query(query): Query<AcpPostQuery>,
    RuntimeJson(envelope): RuntimeJson<Value>,
) -> ProblemResult<Response> {
    let answer = state
        .agents
        .post(&caller, &path.id, &path.server, query.agent.as_deref(), envelope)
        .await?;
    Ok(match answer {
        Some(answer) => Json(answer).into_response(),
        None => StatusCode::ACCEPTED.into_response(),
    })
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/acp/{server}", operation_id = "runtimeStreamAcp", summary = "Follow an ACP server",
    description = "Server-Sent Events: every message of the agent (`event: message`, `id:` its transcript index, `data:` the envelope), from the stored ones after `Last-Event-ID` (or `?since=`; from the start without either) to live ones. Open with keep-alive comments while the agent runs; ends once an ended agent's messages are sent (after a paddock restart too).",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("server" = String, Path, description = "ACP server id"), AcpEventsQuery),
    responses((status = 200, description = "SSE stream of ACP envelopes", content_type = "text/event-stream"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace or server (`session_not_found`)", body = ProblemDetails, content_type = "application/problem+json")))]
async fn stream_envelopes(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(path): Path<ServerPath>,
    Query(query): Query<AcpEventsQuery>,
    headers: HeaderMap,
) -> ProblemResult<Response> {
    let since = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or(query.since)
        .unwrap_or(0)
        .max(0);
    let transcript = state.agents.follow(&caller, &path.id, &path.server).await?;
    // Subscribed before the stored ones are read: nothing falls between.
    let live = transcript.subscribe();
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(relay(
        state.agents.clone(),
        path,
        since,
        live,
        tx,
        state.shutdown.clone(),
    ));
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (Ok::<_, Infallible>(event), rx))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// Sends the agent's stored envelopes after `after`, then live ones, until
/// the client goes, the agent has ended (a stream of an ended server ends
/// after its replay) or the server shuts down (the client resumes after
/// its `Last-Event-ID`).
async fn relay(
    agents: Agents,
    path: ServerPath,
    mut after: i64,
    mut live: broadcast::Receiver<std::sync::Arc<crate::db::AcpEventRow>>,
    tx: mpsc::Sender<Event>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let event = |row: &crate::db::AcpEventRow| {
        Event::default()
            .event("message")
            .id(row.index.to_string())
            .data(row.envelope.clone())
    };
    loop {
        // Stored ones first (again after falling behind the live buffer).
        loop {
            let rows = match agents.stored(&path.id, &path.server, after, REPLAY_PAGE, true).await {
                Ok(rows) => rows,
                Err(err) => {
                    tracing::warn!(message = %err.message, "replaying an ACP transcript");
                    return;
                }
            };
            let full = rows.len() as i64 == REPLAY_PAGE;
            for row in &rows {
                after = row.index;
                if tx.send(event(row)).await.is_err() {
                    return;
                }
            }
            if !full {
                break;
            }
        }
        loop {
            let received = tokio::select! {
                received = live.recv() => received,
                () = tx.closed() => return,
                () = shutdown.cancelled() => return,
            };
            match received {
                Ok(row) if row.index <= after => {}
                Ok(row) => {
                    after = row.index;
                    if !row.outbound && tx.send(event(&row)).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => break,
                // The agent has ended and everything it said was sent.
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

#[utoipa::path(delete, path = "/v1/workspaces/{id}/runtime/v1/acp/{server}", operation_id = "runtimeDeleteAcp", summary = "Delete an ACP server",
    description = "Ends the agent process (SIGTERM, SIGKILL after 2 s), revokes its phantom tokens and takes the server off the list (its stream then answers 404). The transcript stays readable at `…/events` until a POST uses the id again. An unknown server id answers 204 too, as sandbox-agent does.",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("server" = String, Path, description = "ACP server id")),
    responses((status = 204, description = "Gone"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json")))]
async fn delete_server(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(path): Path<ServerPath>,
) -> ProblemResult<StatusCode> {
    state.agents.delete(&caller, &path.id, &path.server).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/acp/{server}/events", operation_id = "runtimeAcpTranscript", summary = "An ACP server's transcript",
    description = "(ext) Every stored envelope in both directions (`outbound`: client to agent; `inbound`: agent to client) after `since`, at most `limit` (default 1000, at most 10000). Readable after the agent exited and after a paddock restart.",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("server" = String, Path, description = "ACP server id"), AcpEventsQuery),
    responses((status = 200, description = "The envelopes", body = AcpEventList),
        (status = 400, description = "`limit` out of range", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace or server", body = ProblemDetails, content_type = "application/problem+json")))]
async fn transcript(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(path): Path<ServerPath>,
    Query(query): Query<AcpEventsQuery>,
) -> ProblemResult<Json<AcpEventList>> {
    Ok(Json(
        state
            .agents
            .events(&caller, &path.id, &path.server, query.since, query.limit)
            .await?,
    ))
}

#[derive(Debug, Deserialize)]
struct WorkspacePath {
    id: String,
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/config/mcp", operation_id = "runtimeGetMcpConfig", summary = "An MCP server of a directory's agents",
    description = "The entry `mcpName` of `{directory}/.sandbox-agent/config/mcp.json` in the workspace (`directory` relative to `/workspace`, or beneath it).",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), McpConfigQuery),
    responses((status = 200, description = "The entry", body = McpServerConfig),
        (status = 400, description = "A missing query parameter, a directory outside the workspace", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace or entry", body = ProblemDetails, content_type = "application/problem+json")))]
async fn get_mcp_config(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(path): Path<WorkspacePath>,
    Query(query): Query<McpConfigQuery>,
) -> ProblemResult<Json<McpServerConfig>> {
    let entry = state
        .agents
        .config_entry(&caller, &path.id, ConfigKind::Mcp, &query.directory, &query.mcp_name)
        .await?;
    Ok(Json(entry))
}

#[utoipa::path(put, path = "/v1/workspaces/{id}/runtime/v1/config/mcp", operation_id = "runtimePutMcpConfig", summary = "Set an MCP server of a directory's agents",
    description = "Stores the entry (`local`/`stdio`: a command; `remote`/`http`: a URL). An agent that opens a session with the directory as `cwd` (`session/new`, `session/load`) gets it in `mcpServers`; entries with `enabled: false` are left out. Headers from `bearerTokenEnvVar`, `envHeaders` and `oauth` are kept as given, not resolved (the agent's environment holds phantom tokens only); `cwd` and `timeoutMs` have no ACP field.",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), McpConfigQuery), request_body = McpServerConfig,
    responses((status = 204, description = "Stored"),
        (status = 400, description = "A missing query parameter, a directory outside the workspace", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A body that is not an MCP server entry", body = ProblemDetails, content_type = "application/problem+json")))]
async fn put_mcp_config(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(path): Path<WorkspacePath>,
    Query(query): Query<McpConfigQuery>,
    RuntimeJson(body): RuntimeJson<McpServerConfig>,
) -> ProblemResult<StatusCode> {
    state
        .agents
        .set_config_entry(
            &caller,
            &path.id,
            ConfigKind::Mcp,
            &query.directory,
            &query.mcp_name,
            &body,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/v1/workspaces/{id}/runtime/v1/config/mcp", operation_id = "runtimeDeleteMcpConfig", summary = "Remove an MCP server of a directory's agents",
    description = "An entry that does not exist answers 204 too, as sandbox-agent does.",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), McpConfigQuery),
    responses((status = 204, description = "Gone"),
        (status = 400, description = "A missing query parameter, a directory outside the workspace", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json")))]
async fn delete_mcp_config(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(path): Path<WorkspacePath>,
    Query(query): Query<McpConfigQuery>,
) -> ProblemResult<StatusCode> {
    state
        .agents
        .delete_config_entry(&caller, &path.id, ConfigKind::Mcp, &query.directory, &query.mcp_name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/config/skills", operation_id = "runtimeGetSkillsConfig", summary = "Skills of a directory's agents",
    description = "The entry `skillName` of `{directory}/.sandbox-agent/config/skills.json` in the workspace.",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), SkillsConfigQuery),
    responses((status = 200, description = "The entry", body = SkillsConfig),
        (status = 400, description = "A missing query parameter, a directory outside the workspace", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace or entry", body = ProblemDetails, content_type = "application/problem+json")))]
async fn get_skills_config(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(path): Path<WorkspacePath>,
    Query(query): Query<SkillsConfigQuery>,
) -> ProblemResult<Json<SkillsConfig>> {
    let entry = state
        .agents
        .config_entry(
            &caller,
            &path.id,
            ConfigKind::Skills,
            &query.directory,
            &query.skill_name,
        )
        .await?;
    Ok(Json(entry))
}

#[utoipa::path(put, path = "/v1/workspaces/{id}/runtime/v1/config/skills", operation_id = "runtimePutSkillsConfig", summary = "Set skills of a directory's agents",
    description = "Stores the entry: `sources` of skills (`local`: a directory in the workspace; `git`: a repository URL; `github`: `owner/repo`), each a directory of skill directories with their `SKILL.md`, narrowed by `subpath` and `skills`. When an agent opens a session with the directory as `cwd`, the skills are copied where the agent reads a project's skills (`.claude/skills`, `.agents/skills` for Codex, `.opencode/skills`, `.pi/skills`); git sources are cloned inside the workspace, under its network policy.",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), SkillsConfigQuery), request_body = SkillsConfig,
    responses((status = 204, description = "Stored"),
        (status = 400, description = "A missing query parameter, a directory outside the workspace", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A body that is not a skills entry", body = ProblemDetails, content_type = "application/problem+json")))]
async fn put_skills_config(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(path): Path<WorkspacePath>,
    Query(query): Query<SkillsConfigQuery>,
    RuntimeJson(body): RuntimeJson<SkillsConfig>,
) -> ProblemResult<StatusCode> {
    state
        .agents
        .set_config_entry(
            &caller,
            &path.id,
            ConfigKind::Skills,
            &query.directory,
            &query.skill_name,
            &body,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/v1/workspaces/{id}/runtime/v1/config/skills", operation_id = "runtimeDeleteSkillsConfig", summary = "Remove skills of a directory's agents",
    description = "An entry that does not exist answers 204 too, as sandbox-agent does. Skills already copied for a session stay where they were copied.",
    tag = "runtime", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), SkillsConfigQuery),
    responses((status = 204, description = "Gone"),
        (status = 400, description = "A missing query parameter, a directory outside the workspace", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json")))]
async fn delete_skills_config(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(path): Path<WorkspacePath>,
    Query(query): Query<SkillsConfigQuery>,
) -> ProblemResult<StatusCode> {
    state
        .agents
        .delete_config_entry(
            &caller,
            &path.id,
            ConfigKind::Skills,
            &query.directory,
            &query.skill_name,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
