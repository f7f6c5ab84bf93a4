//! Agent sessions (issue 17; RUNTIME.md §8): `/v1/workspaces/{id}/agent-sessions`,
//! paddock's own layer over a coding agent's ACP session with durable,
//! idempotent turns. The work is in [`crate::services::agents::sessions`].

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use paddock_api::agent_sessions::{
    AgentSession, AgentSessionList, AgentTurn, AgentTurnList, CreateAgentSession, CreateTurn, PermissionAnswer,
    TurnQuery,
};

use crate::app::SharedState;
use crate::routes::error::{ApiResult, ErrorBody};
use crate::routes::extract::{ApiJson, Caller};

#[utoipa::path(post, path = "/v1/workspaces/{id}/agent-sessions", operation_id = "createAgentSession", summary = "Start an agent session",
    description = "Starts the agent in the workspace (started when needed) as an ACP server named after the session, with a phantom session's tokens for its model, and opens an ACP session on it (`initialize`, `session/new`, the mode). `permissions` says how the agent's permission requests are answered: `ask` keeps them for `POST …/permissions/{request}` (listed in `pendingPermissions`), `allow` and `reject` answer each one.",
    tag = "agent-sessions", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = CreateAgentSession,
    responses((status = 201, description = "The session", body = AgentSession), (status = 400, description = "An unknown agent (UNSUPPORTED_AGENT), a bad id, cwd or mode", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such workspace, or the agent is not installed (AGENT_NOT_INSTALLED)", body = ErrorBody),
        (status = 409, description = "The id is taken (AGENT_SESSION_EXISTS)", body = ErrorBody), (status = 422, description = "JSON of the wrong shape", body = ErrorBody),
        (status = 500, description = "The agent process exited while starting (AGENT_PROCESS_EXITED, with its stderr's end)", body = ErrorBody)))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateAgentSession>,
) -> ApiResult<(StatusCode, Json<AgentSession>)> {
    let session = state.agent_sessions.create(&caller, &id, body).await?;
    Ok((StatusCode::CREATED, Json(session)))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/agent-sessions", operation_id = "listAgentSessions", summary = "List a workspace's agent sessions",
    description = "Oldest first, each with its status (`idle`, `streaming`, `exited`: the next turn starts the agent again) and the permission requests waiting.",
    tag = "agent-sessions", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The sessions", body = AgentSessionList), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody)))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<AgentSessionList>> {
    Ok(Json(state.agent_sessions.list(&caller, &id).await?))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/agent-sessions/{session}", operation_id = "getAgentSession", summary = "One agent session",
    tag = "agent-sessions", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("session" = String, Path, description = "Agent session id")),
    responses((status = 200, description = "The session", body = AgentSession), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace or session", body = ErrorBody)))]
pub async fn get(
    State(state): State<SharedState>,
    caller: Caller,
    Path((id, session)): Path<(String, String)>,
) -> ApiResult<Json<AgentSession>> {
    Ok(Json(state.agent_sessions.get(&caller, &id, &session).await?))
}

#[utoipa::path(delete, path = "/v1/workspaces/{id}/agent-sessions/{session}", operation_id = "deleteAgentSession", summary = "End an agent session",
    description = "Ends the session's agent (a streaming turn ends interrupted) and removes the session and its turns. Its ACP transcripts stay readable under `…/runtime/v1/acp/{server}/events` until the server ids are used again.",
    tag = "agent-sessions", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("session" = String, Path, description = "Agent session id")),
    responses((status = 204, description = "Ended"), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace or session", body = ErrorBody)))]
pub async fn remove(
    State(state): State<SharedState>,
    caller: Caller,
    Path((id, session)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.agent_sessions.delete(&caller, &id, &session).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/agent-sessions/{session}/turns", operation_id = "createAgentTurn", summary = "Prompt the agent (a turn)",
    description = "Sends the prompt (`session/prompt`) and answers with the turn once it has ended (`completed` with the agent's `stopReason`, or `interrupted` with the reason), its text, tool calls and usage. With `detach`, answers 202 at once with the turn `streaming`; read it later with `GET …/turns/{turn}` (`waitMs` to wait). A `turnId` the session has seen is never run again: the answer is the stored turn with `replayed: true` (waiting for it if it still streams); the same id with another prompt is 409 TURN_CONFLICT. One turn streams at a time (409 AGENT_SESSION_BUSY). An agent whose process ended (a restart of paddock, of the workspace) is started again first, its session loaded where the agent can. The turn runs to its end whatever the client does.",
    tag = "agent-sessions", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("session" = String, Path, description = "Agent session id")), request_body = CreateTurn,
    responses((status = 200, description = "The ended turn, or the stored turn of a turn id seen before", body = AgentTurn), (status = 202, description = "Detached: the turn, streaming", body = AgentTurn),
        (status = 400, description = "An empty or malformed prompt, a bad turn id", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace or session", body = ErrorBody), (status = 409, description = "Another turn streams (AGENT_SESSION_BUSY), or the turn id names another prompt (TURN_CONFLICT)", body = ErrorBody),
        (status = 413, description = "A prompt over 1 MiB", body = ErrorBody), (status = 422, description = "JSON of the wrong shape", body = ErrorBody)))]
pub async fn prompt(
    State(state): State<SharedState>,
    caller: Caller,
    Path((id, session)): Path<(String, String)>,
    ApiJson(body): ApiJson<CreateTurn>,
) -> ApiResult<(StatusCode, Json<AgentTurn>)> {
    let turn = state.agent_sessions.prompt(&caller, &id, &session, body).await?;
    let status = if turn.status == "streaming" {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(turn)))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/agent-sessions/{session}/turns", operation_id = "listAgentTurns", summary = "A session's turns",
    description = "Oldest first, each with its marker: `streaming`, `completed` or `interrupted` (with `interruptReason`).",
    tag = "agent-sessions", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("session" = String, Path, description = "Agent session id")),
    responses((status = 200, description = "The turns", body = AgentTurnList), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace or session", body = ErrorBody)))]
pub async fn turns(
    State(state): State<SharedState>,
    caller: Caller,
    Path((id, session)): Path<(String, String)>,
) -> ApiResult<Json<AgentTurnList>> {
    Ok(Json(state.agent_sessions.turns(&caller, &id, &session).await?))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/agent-sessions/{session}/turns/{turn}", operation_id = "getAgentTurn", summary = "One turn",
    description = "The turn as stored (Tangle's `findCompletedTurn`); with `waitMs`, once it has ended or after that long.",
    tag = "agent-sessions", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("session" = String, Path, description = "Agent session id"), ("turn" = String, Path, description = "Turn id"), TurnQuery),
    responses((status = 200, description = "The turn", body = AgentTurn), (status = 400, description = "waitMs over 600000", body = ErrorBody), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace, session or turn", body = ErrorBody)))]
pub async fn turn(
    State(state): State<SharedState>,
    caller: Caller,
    Path((id, session, turn)): Path<(String, String, String)>,
    Query(query): Query<TurnQuery>,
) -> ApiResult<Json<AgentTurn>> {
    let wait = query.wait_ms.map(std::time::Duration::from_millis);
    Ok(Json(
        state.agent_sessions.turn(&caller, &id, &session, &turn, wait).await?,
    ))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/agent-sessions/{session}/turns/{turn}/cancel", operation_id = "cancelAgentTurn", summary = "Cancel a streaming turn",
    description = "Sends ACP's `session/cancel` (permission requests waiting are answered `cancelled`) and answers with the turn once the agent has ended it (`interrupted`, reason `cancelled`), or as it is after 15 s. A turn that has ended is answered as it is.",
    tag = "agent-sessions", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("session" = String, Path, description = "Agent session id"), ("turn" = String, Path, description = "Turn id")),
    responses((status = 200, description = "The turn", body = AgentTurn), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace, session or turn", body = ErrorBody)))]
pub async fn cancel(
    State(state): State<SharedState>,
    caller: Caller,
    Path((id, session, turn)): Path<(String, String, String)>,
) -> ApiResult<Json<AgentTurn>> {
    Ok(Json(state.agent_sessions.cancel(&caller, &id, &session, &turn).await?))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/agent-sessions/{session}/permissions/{request}", operation_id = "answerAgentPermission", summary = "Answer a permission request",
    description = "Answers one of the agent's waiting permission requests (`pendingPermissions` of the session): `once` and `always` allow (the agent's matching option; `always` falls back to once), `reject` refuses.",
    tag = "agent-sessions", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("session" = String, Path, description = "Agent session id"), ("request" = String, Path, description = "The request's id (`pendingPermissions[].id`)")), request_body = PermissionAnswer,
    responses((status = 204, description = "Answered"), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace or session, or no such request waits (PERMISSION_NOT_FOUND)", body = ErrorBody), (status = 422, description = "JSON of the wrong shape (`reply` is once, always or reject)", body = ErrorBody)))]
pub async fn answer_permission(
    State(state): State<SharedState>,
    caller: Caller,
    Path((id, session, request)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<PermissionAnswer>,
) -> ApiResult<StatusCode> {
    state
        .agent_sessions
        .answer_permission(&caller, &id, &session, &request, body.reply)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
