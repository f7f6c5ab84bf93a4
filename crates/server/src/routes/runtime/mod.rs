//! The runtime API of each workspace, under
//! `/v1/workspaces/{id}/runtime`: sandbox-agent 0.4.2's routes and shapes
//! (RUNTIME.md §3), errors as Problem Details. Authentication is the
//! tenant's API key or a scoped token for the workspace with the route's
//! capability (`routes::extract::check_scoped`), as `Authorization:
//! Bearer` or, for clients that
//! cannot set headers (WebSockets, browsers), `?access_token=` or a
//! WebSocket subprotocol `paddock.bearer.<base64url key>` (which keeps the
//! key out of URLs: the web console's terminal uses it).
//!
//! - [`processes`]: processes, logs, input, terminals;
//! - [`fs`]: files beneath the workspace's root;
//! - [`agents`]: coding agents and their ACP servers;
//! - [`desktop`]: the desktop (X11);
//! - [`browser`]: agent-browser's commands.

mod agents;
mod browser;
mod desktop;
mod fs;
mod processes;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use paddock_api::runtime::problem::ProblemDetails;
use paddock_api::runtime::RuntimeHealth;
use paddock_api::{Error, ErrorCode};
use serde::de::DeserializeOwned;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::SharedState;
use crate::routes::extract::{bearer_token, check_scoped, SeenCaller};
use crate::services::identity::Caller;

/// Where every runtime route starts (the workspace id is `{id}`).
pub const BASE: &str = "/v1/workspaces/{id}/runtime";

/// Whether a request path is under a workspace's runtime base URL (its
/// errors are then Problem Details).
pub fn is_runtime_path(path: &str) -> bool {
    path.strip_prefix("/v1/workspaces/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(_, rest)| rest == "runtime" || rest.starts_with("runtime/"))
}

/// The runtime routes.
pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .merge(processes::routes())
        .merge(fs::routes())
        .merge(agents::routes())
        .merge(desktop::routes())
        .merge(browser::routes())
}

/// A runtime error: `application/problem+json` with the status of its
/// code, `Retry-After` on 429 and 503.
#[derive(Debug)]
pub struct Problem(pub Error);

/// Result of a runtime handler.
pub type ProblemResult<T> = Result<T, Problem>;

impl From<Error> for Problem {
    fn from(err: Error) -> Self {
        Problem(err)
    }
}

impl From<crate::db::DbError> for Problem {
    fn from(err: crate::db::DbError) -> Self {
        Problem(err.into())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut problem = ProblemDetails::from_error(&self.0);
        if let Some(detail) = &mut problem.detail {
            super::error::cut_message(detail);
        }
        let mut response = super::error::error_response(&self.0, problem);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// The authenticated caller of a runtime route: the API key from
/// `Authorization: Bearer`, else from a `paddock.bearer.` WebSocket
/// subprotocol, else from `?access_token=`.
#[derive(Debug, Clone)]
pub struct RuntimeCaller(pub Caller);

impl FromRequestParts<SharedState> for RuntimeCaller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<RuntimeCaller, Problem> {
        let offered;
        let token = match parts.headers.get(header::AUTHORIZATION) {
            Some(value) => bearer_token(value)?,
            None => {
                offered = subprotocol_token(&parts.headers)?
                    .or_else(|| access_token(parts.uri.query().unwrap_or("")))
                    .ok_or_else(|| {
                        Error::new(
                            ErrorCode::Unauthorized,
                            "missing Authorization header (Bearer <api key>) or access_token",
                        )
                    })?;
                offered.as_str()
            }
        };
        let caller = state.keys.authenticate(token).await?;
        if let Some(seen) = parts.extensions.get::<SeenCaller>() {
            seen.record(&caller);
        }
        check_scoped(state, parts, &caller).await?;
        Ok(RuntimeCaller(caller))
    }
}

/// Prefix of the WebSocket subprotocol that carries an API key.
const BEARER_SUBPROTOCOL: &str = "paddock.bearer.";

/// The API key offered as a `paddock.bearer.<base64url>` WebSocket
/// subprotocol (browsers cannot set `Authorization` on a WebSocket); only
/// on a WebSocket upgrade, where nothing else can carry it.
fn subprotocol_token(headers: &axum::http::HeaderMap) -> Result<Option<String>, Error> {
    use base64::Engine;
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgrade {
        return Ok(None);
    }
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix(BEARER_SUBPROTOCOL));
    let Some(encoded) = offered else {
        return Ok(None);
    };
    let bad = || {
        Error::new(
            ErrorCode::Unauthorized,
            "the paddock.bearer subprotocol is not base64url of a key",
        )
    };
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .map_err(|_| bad())?;
    String::from_utf8(key).map(Some).map_err(|_| bad())
}

/// The `access_token` query parameter, decoded.
fn access_token(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find_map(|(key, value)| (key == "access_token" && !value.is_empty()).then(|| value.into_owned()))
}

/// A JSON body whose rejections are Problem Details (400 for malformed
/// JSON, 422 for the wrong shape, 413 over the limit, 415 without a JSON
/// content type).
#[derive(Debug)]
pub struct RuntimeJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for RuntimeJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        match crate::routes::extract::ApiJson::<T>::from_request(req, state).await {
            Ok(crate::routes::extract::ApiJson(value)) => Ok(RuntimeJson(value)),
            Err(rejection) => Err(Problem(rejection.0)),
        }
    }
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/runtime/v1/health", operation_id = "runtimeHealth", summary = "Runtime health",
    description = "sandbox-agent's health route under a workspace's runtime base URL. Answers without starting the workspace.",
    tag = "runtime", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The runtime answers", body = RuntimeHealth),
        (status = 401, description = "Missing, unknown or revoked API key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workspace", body = ProblemDetails, content_type = "application/problem+json")))]
async fn health(
    axum::extract::State(state): axum::extract::State<SharedState>,
    RuntimeCaller(caller): RuntimeCaller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ProblemResult<Json<RuntimeHealth>> {
    state.workspaces.get(&caller, &id).await?;
    Ok(Json(RuntimeHealth { status: "ok".into() }))
}
