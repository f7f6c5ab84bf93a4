//! The extractors every route uses: the authenticated caller (from its
//! API key) and JSON bodies whose rejections are API errors.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
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
        Ok(caller)
    }
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
