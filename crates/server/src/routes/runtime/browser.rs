//! A workspace's browser under its runtime base URL: one route that runs
//! an agent-browser command (the work is [`crate::services::browser`]).

use axum::extract::{Path, State};
use axum::Json;
use paddock_api::runtime::browser::{BrowserCommandRequest, BrowserCommandResponse};
use paddock_api::runtime::problem::ProblemDetails;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ProblemResult, RuntimeCaller, RuntimeJson};
use crate::app::SharedState;

/// The browser route.
pub(super) fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new().routes(routes!(command))
}

#[utoipa::path(post, path = "/v1/workspaces/{id}/runtime/v1/browser", operation_id = "runtimeBrowserCommand", summary = "Run a browser command (agent-browser)",
    description = "Runs one agent-browser command (`open`, `snapshot -i`, `click @e1`, `fill @e2 text`, `get text`, `screenshot`, `tab`, `eval`, `diff snapshot`, `cookies`, `state save|load`, …) on the workspace's Chromium, in its jail, starting the workspace and the browser if needed. A URL the workspace's network cannot reach is refused (403 `BROWSER_URL_REFUSED`) with the reason; a command that fails answers 422 `BROWSER_COMMAND_FAILED` with agent-browser's error.",
    tag = "browser", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = BrowserCommandRequest,
    responses((status = 200, description = "The command's result (a screenshot's bytes in `image`)", body = BrowserCommandResponse), (status = 400, description = "A command paddock does not run, or bad arguments", body = ProblemDetails, content_type = "application/problem+json"), (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"), (status = 403, description = "A scoped token without `browser`, or a URL the workspace's network cannot reach", body = ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "The workspace has no browser (the `browser` flavor)", body = ProblemDetails, content_type = "application/problem+json"), (status = 422, description = "The command failed (agent-browser's error) or timed out", body = ProblemDetails, content_type = "application/problem+json")))]
async fn command(
    State(state): State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    Path(id): Path<String>,
    RuntimeJson(body): RuntimeJson<BrowserCommandRequest>,
) -> ProblemResult<Json<BrowserCommandResponse>> {
    Ok(Json(state.browsers.run(&caller, &id, body).await?))
}
