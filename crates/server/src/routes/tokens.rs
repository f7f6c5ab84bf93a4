//! Scoped tokens (ext): minted for one workspace and a set of
//! capabilities, listed and revoked with an API key
//! (`services::tokens` does the work; where they are accepted is
//! `routes::extract::check_scoped`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use paddock_api::tokens::{CreatedScopedToken, NewScopedToken, ScopedTokenList};

use crate::app::SharedState;
use crate::routes::error::{ApiResult, ErrorBody};
use crate::routes::extract::{ApiJson, Caller};

#[utoipa::path(post, path = "/v1/workspaces/{id}/tokens", operation_id = "createScopedToken", summary = "Mint a scoped token",
    description = "(ext) A bearer token (`pdt_…`) for this workspace only, with the capabilities asked for: `processes`, `files:read`, `files:write`, `code`, `agents`, `previews`, `desktop`, `mcp`. It is accepted on the workspace's runtime, exec, code, kernel, preview, agent-session, desktop and MCP routes that one of its capabilities opens, and refused everywhere else (403 `SCOPED_TOKEN_REFUSED`; another workspace answers 404). It expires after `ttl_secs` (1..=86400, default 900) and can be revoked; every use is in the audit log. The token is in this answer only; only an API key can mint.",
    tag = "workspaces", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = NewScopedToken,
    responses((status = 201, description = "The token, with its secret (shown once)", body = CreatedScopedToken),
        (status = 400, description = "No capability, a ttl out of range or a bad label", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "A scoped token cannot mint tokens", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody),
        (status = 422, description = "JSON of the wrong shape: a missing, mistyped or unknown field, or an unknown capability (serde's message)", body = ErrorBody)))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewScopedToken>,
) -> ApiResult<(StatusCode, Json<CreatedScopedToken>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.scoped_tokens.mint(&caller, &id, body).await?),
    ))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/tokens", operation_id = "listScopedTokens", summary = "List a workspace's scoped tokens",
    description = "(ext) Active, expired and revoked tokens of the workspace, newest first (at most 200), never their secrets.",
    tag = "workspaces", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The workspace's tokens", body = ScopedTokenList),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "A scoped token cannot list tokens", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody)))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ScopedTokenList>> {
    Ok(Json(state.scoped_tokens.list(&caller, &id).await?))
}

#[utoipa::path(delete, path = "/v1/workspaces/{id}/tokens/{token_id}", operation_id = "revokeScopedToken", summary = "Revoke a scoped token",
    description = "(ext) The token stops working at once (within 5 s on other servers sharing the database).",
    tag = "workspaces", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("token_id" = String, Path, description = "Token id (`tok_…`)")),
    responses((status = 204, description = "Revoked"),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "A scoped token cannot revoke tokens", body = ErrorBody),
        (status = 404, description = "No such workspace, or no such token not yet revoked", body = ErrorBody)))]
pub async fn revoke(
    State(state): State<SharedState>,
    caller: Caller,
    Path((id, token_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.scoped_tokens.revoke(&caller, &id, &token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
