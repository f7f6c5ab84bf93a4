//! A workspace's MCP endpoint (RUNTIME.md §7): Streamable HTTP at
//! `/v1/workspaces/{id}/mcp`, served by the official `rmcp` crate, for
//! scoped tokens only; and `GET /v1/workspaces/{id}/mcp-config`, which
//! mints such a token and answers a paste-able `.mcp.json`.
//!
//! The endpoint is stateless (no MCP session is kept between requests):
//! every request is authenticated on its own, so a revoked or expired
//! token stops working at its next call. A tenant API key is refused here,
//! so that a key never ends up in an agent's configuration; each tool
//! needs its own capability besides `mcp` ([`tools`]).

mod tools;

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use paddock_api::tokens::{Capability, McpConfig, NewScopedToken, DEFAULT_MCP_SERVER_NAME};
use paddock_api::{Error, ErrorCode};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::app::SharedState;
use crate::routes::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::extract::{audit_scoped_use, bearer_token, Caller, SeenCaller};
use crate::routes::previews::origin;

/// The MCP endpoint of every workspace.
pub const ENDPOINT: &str = "/v1/workspaces/{id}/mcp";

/// Capabilities of an `mcp-config` token when none are asked for.
const DEFAULT_CAPABILITIES: [Capability; 5] = [
    Capability::Mcp,
    Capability::Processes,
    Capability::FilesRead,
    Capability::FilesWrite,
    Capability::Code,
];

/// The endpoint: `rmcp`'s Streamable HTTP service behind [`authorize`].
pub fn router(state: SharedState) -> Router<SharedState> {
    // The tool router (the tools' schemas) is built once; the stateless
    // service makes a handler per request from it.
    let tools = tools::WorkspaceTools::new(state.clone());
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        // The bearer token, not the `Host`, is what keeps other origins
        // out, and the server may be reached under any name.
        .disable_allowed_hosts()
        .with_max_request_body_bytes(state.config.body_limit);
    let service = StreamableHttpService::new(
        move || Ok(tools.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new()
        .route_service(ENDPOINT, service)
        .route_layer(axum::middleware::from_fn_with_state(state, authorize))
}

/// Lets a request through to the endpoint only with a scoped token for
/// this workspace that carries `mcp`; the caller goes along in the
/// request's extensions for the tools (rmcp hands them the request's
/// parts).
async fn authorize(
    State(state): State<SharedState>,
    Path(workspace_id): Path<String>,
    mut request: Request,
    next: Next,
) -> Response {
    let caller = match mcp_caller(&state, request.headers()).await {
        Ok(caller) => caller,
        Err(err) => return refuse(err),
    };
    if let Some(seen) = request.extensions().get::<SeenCaller>() {
        seen.record(&caller);
    }
    let permitted = caller.permit(&workspace_id, Capability::Mcp);
    audit_scoped_use(
        &state,
        &caller,
        request.method(),
        request.uri().path(),
        permitted.is_ok(),
    );
    if let Err(err) = permitted {
        return refuse(err);
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The scoped token of an MCP request (an API key is refused).
async fn mcp_caller(state: &SharedState, headers: &HeaderMap) -> Result<Caller, Error> {
    let header = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        Error::new(
            ErrorCode::Unauthorized,
            "missing Authorization header (Bearer <scoped token>); GET /v1/workspaces/{id}/mcp-config mints one",
        )
    })?;
    let caller = state.keys.authenticate(bearer_token(header)?).await?;
    if caller.grant.is_none() {
        return Err(Error::new(
            ErrorCode::Forbidden,
            "the MCP endpoint takes a scoped token, never a tenant API key; GET /v1/workspaces/{id}/mcp-config mints one",
        ));
    }
    Ok(caller)
}

/// An API error, with `WWW-Authenticate` on a 401 (MCP clients look for it).
fn refuse(err: Error) -> Response {
    let unauthorized = err.status() == 401;
    let mut response = ApiError::from(err).into_response();
    if unauthorized {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"paddock\""),
        );
    }
    response
}

/// `GET …/mcp-config` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct McpConfigQuery {
    /// Comma-separated capabilities of the token (`mcp` is always added);
    /// default `mcp,processes,files:read,files:write,code`, with `desktop`
    /// and `browser` for a workspace with those flavors.
    capabilities: Option<String>,
    /// The token's lifetime in seconds, 1..=86400 (default 900).
    ttl_secs: Option<u64>,
    /// The key under `mcpServers` (default `paddock`): letters, digits,
    /// `_` and `-`, at most 64.
    server_name: Option<String>,
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/mcp-config", operation_id = "getMcpConfig", summary = "MCP client configuration with a fresh scoped token",
    description = "(ext) Mints a scoped token for the workspace (with `mcp` and the capabilities asked for) and answers a paste-able `.mcp.json` for the workspace's MCP endpoint, `/v1/workspaces/{id}/mcp` (Streamable HTTP, stateless). Its tools are `exec` (`processes`), `run_code` (`code`), `read_file` and `list_files` (`files:read`), `write_file` (`files:write`), and `screenshot`, `computer` (Anthropic's computer-use actions) and `computer_call` (OpenAI's) (`desktop`), and `browser` (agent-browser's commands, `browser`); a token lists and calls only the tools its capabilities open. The endpoint refuses tenant API keys. Each call mints a new token: call again before `expires_at`.",
    tag = "workspaces", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), McpConfigQuery),
    responses((status = 200, description = "The configuration and its token (shown once)", body = McpConfig),
        (status = 400, description = "An unknown capability, a ttl out of range or a bad server name", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "A scoped token cannot mint tokens", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody)))]
pub async fn config(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<McpConfigQuery>,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, Json<McpConfig>)> {
    let server_name = query.server_name.as_deref().unwrap_or(DEFAULT_MCP_SERVER_NAME);
    if server_name.is_empty()
        || server_name.len() > 64
        || !server_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    {
        return Err(Error::new(
            ErrorCode::BadRequest,
            "server_name is 1 to 64 letters, digits, '_' or '-'",
        )
        .into());
    }
    let mut capabilities = match query.capabilities.as_deref() {
        None => {
            let mut defaults = DEFAULT_CAPABILITIES.to_vec();
            let workspace = state.workspaces.get(&caller, &id).await?;
            // The workspace's desktop and browser, when it was made with them.
            for (flavor, capability) in [
                (crate::services::desktop::FLAVOR, Capability::Desktop),
                (crate::services::browser::FLAVOR, Capability::Browser),
            ] {
                if workspace.config.flavors.iter().any(|f| f == flavor) {
                    defaults.push(capability);
                }
            }
            defaults
        }
        Some(list) => parse_capabilities(list)?,
    };
    capabilities.push(Capability::Mcp);
    let minted = state
        .scoped_tokens
        .mint(
            &caller,
            &id,
            NewScopedToken {
                capabilities,
                ttl_secs: query.ttl_secs,
                label: Some(format!("mcp-config {server_name}")),
            },
        )
        .await?;
    let origin = origin(&headers);
    let url = format!(
        "{}://{}{}",
        origin.scheme,
        origin.authority,
        ENDPOINT.replace("{id}", &minted.record.workspace_id)
    );
    let config = serde_json::json!({
        "mcpServers": {
            server_name: {
                "type": "http",
                "url": url,
                "headers": { "Authorization": format!("Bearer {}", minted.token) },
            }
        }
    });
    Ok((
        StatusCode::OK,
        Json(McpConfig {
            config,
            server_name: server_name.to_owned(),
            url,
            token: minted.token,
            token_id: minted.record.id,
            expires_at: minted.record.expires_at,
            capabilities: minted.record.capabilities,
        }),
    ))
}

/// Capabilities named in a comma-separated list.
fn parse_capabilities(list: &str) -> Result<Vec<Capability>, Error> {
    list.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            Capability::parse(name).ok_or_else(|| {
                Error::new(
                    ErrorCode::BadCapabilities,
                    format!(
                        "unknown capability {name:?} (known: {})",
                        Capability::ALL.map(Capability::as_str).join(", ")
                    ),
                )
            })
        })
        .collect()
}
