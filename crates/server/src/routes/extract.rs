//! The extractors every route uses: the authenticated caller (from its
//! API key or scoped token) and JSON bodies whose rejections are API
//! errors; and where scoped tokens are accepted ([`check_scoped`]).

use axum::extract::{FromRequest, FromRequestParts, MatchedPath, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use paddock_api::tokens::Capability;
use paddock_api::{Error, ErrorCode};
use serde::de::DeserializeOwned;

use crate::app::SharedState;
use crate::routes::error::ApiError;
pub use crate::services::identity::Caller;

impl FromRequestParts<SharedState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Caller, ApiError> {
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            Error::new(
                ErrorCode::Unauthorized,
                "missing Authorization header (Bearer <api key>)",
            )
        })?;
        let token = bearer_token(header)?;
        let caller = state.keys.authenticate(token).await?;
        if let Some(seen) = parts.extensions.get::<SeenCaller>() {
            seen.record(&caller);
        }
        check_scoped(state, parts, &caller).await?;
        Ok(caller)
    }
}

/// What a scoped token needs to call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opens {
    /// Any capability (reading its workspace's record and state).
    Any,
    /// This capability.
    With(Capability),
}

/// The one table of where scoped tokens are accepted: the routes of a
/// token's workspace, each behind a capability, by the route's template
/// (`MatchedPath`) and method. Every other route (tenant routes, minting
/// tokens, starting, stopping or deleting the workspace) refuses them.
fn scoped_access(method: &Method, route: &str) -> Option<Opens> {
    use Capability::*;
    let rest = route.strip_prefix("/v1/workspaces/{id}")?;
    let read = matches!(*method, Method::GET | Method::HEAD);
    let segment = |prefix: &str| rest == prefix || rest.starts_with(&format!("{prefix}/"));
    Some(match rest {
        "" | "/state" if read => Opens::Any,
        "/runtime/v1/health" => Opens::Any,
        "/exec" | "/exec/stream" => Opens::With(Processes),
        "/code" | "/code/stream" => Opens::With(Code),
        _ if segment("/kernels") => Opens::With(Code),
        _ if segment("/previews") => Opens::With(Previews),
        _ if segment("/agent-sessions") => Opens::With(Agents),
        _ if segment("/runtime/v1/processes") => Opens::With(Processes),
        _ if segment("/runtime/v1/desktop") => Opens::With(Desktop),
        _ if segment("/runtime/v1/browser") => Opens::With(Browser),
        _ if segment("/runtime/v1/fs") && read => Opens::With(FilesRead),
        _ if segment("/runtime/v1/fs") => Opens::With(FilesWrite),
        _ if segment("/runtime/v1/agents") || segment("/runtime/v1/acp") || segment("/runtime/v1/config") => {
            Opens::With(Agents)
        }
        _ => return None,
    })
}

/// Lets a scoped token through to the route it called, or refuses it
/// (403 on a route no capability opens or without the capability, 404
/// for another workspace); every use and refusal is audited. API keys
/// pass untouched.
pub async fn check_scoped(state: &SharedState, parts: &mut Parts, caller: &Caller) -> Result<(), Error> {
    if caller.grant.is_none() {
        return Ok(());
    }
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let workspace = match RawPathParams::from_request_parts(parts, state).await {
        Ok(params) => params
            .iter()
            .find_map(|(name, value)| (name == "id").then(|| value.to_owned())),
        Err(_) => None,
    };
    let verdict = match (scoped_access(&parts.method, &route), workspace) {
        (Some(opens), Some(workspace)) => match opens {
            Opens::Any => caller.permit_workspace(&workspace),
            Opens::With(capability) => caller.permit(&workspace, capability),
        },
        _ => Err(Error::new(
            ErrorCode::ScopedTokenRefused,
            "scoped tokens are accepted only on their workspace's routes that a capability opens; use an API key",
        )),
    };
    audit_scoped_use(state, caller, &parts.method, parts.uri.path(), verdict.is_ok());
    verdict
}

/// Writes a scoped token's use (or refused use) to the audit log, off the
/// request's path; nothing for an API key.
pub fn audit_scoped_use(state: &SharedState, caller: &Caller, method: &Method, path: &str, allowed: bool) {
    if caller.grant.is_none() {
        return;
    }
    let audit = state.audit_log.clone();
    let caller = caller.clone();
    let target = format!("{method} {path}");
    let action = if allowed { "token.use" } else { "token.refused" };
    tokio::spawn(async move { audit.record(&caller, action, &target).await });
}

/// The token of an `Authorization: Bearer <token>` header (a bare token is
/// accepted too).
pub fn bearer_token(header: &axum::http::HeaderValue) -> Result<&str, Error> {
    let text = header
        .to_str()
        .map_err(|_| Error::new(ErrorCode::Unauthorized, "malformed Authorization header"))?
        .trim();
    let token = match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        Some(_) => {
            return Err(Error::new(
                ErrorCode::Unauthorized,
                "the Authorization scheme must be Bearer",
            ))
        }
        None => text,
    };
    if token.is_empty() {
        return Err(Error::new(ErrorCode::Unauthorized, "empty API key"));
    }
    Ok(token)
}

/// Where the request log learns who made a request: the middleware puts
/// one in the request, the `Caller` extractor fills it.
#[derive(Debug, Clone, Default)]
pub struct SeenCaller(std::sync::Arc<std::sync::Mutex<Option<(String, String)>>>);

impl SeenCaller {
    /// Records the authenticated caller of this request.
    pub fn record(&self, caller: &Caller) {
        if let Ok(mut seen) = self.0.lock() {
            *seen = Some((caller.tenant.clone(), caller.key_id.clone()));
        }
    }

    /// `(tenant, key id)` of the authenticated caller, if any.
    pub fn get(&self) -> Option<(String, String)> {
        self.0.lock().ok().and_then(|seen| seen.clone())
    }
}

/// A JSON body whose every rejection is an API error, with agentjail's
/// statuses: 400 for malformed JSON or an empty body, 422 for a missing or
/// mistyped field (with serde's message), 413 over the body limit, 415
/// without a JSON content type.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => {
                let code = match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::BodyTooLarge,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
                    // Well-formed JSON of the wrong shape, as agentjail answers it.
                    StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::BadBody,
                    _ => ErrorCode::BadJson,
                };
                Err(Error::new(code, rejection.body_text()).into())
            }
        }
    }
}
