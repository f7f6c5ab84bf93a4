//! The extractors every route uses: the authenticated caller (from its
//! API key) and JSON bodies whose rejections are API errors.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use paddock_api::{Error, ErrorCode};
use serde::de::DeserializeOwned;

use crate::app::SharedState;
use crate::config::Role;
pub use crate::services::identity::Caller;
use crate::crypto::token_hash;
use crate::routes::error::ApiError;

impl FromRequestParts<SharedState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Caller, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| Error::new(ErrorCode::Unauthorized, "missing Authorization header (Bearer <api key>)"))?;
        let text = header
            .to_str()
            .map_err(|_| Error::new(ErrorCode::Unauthorized, "malformed Authorization header"))?
            .trim();
        let token = match text.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            Some(_) => return Err(Error::new(ErrorCode::Unauthorized, "the Authorization scheme must be Bearer").into()),
            None => text,
        };
        if token.is_empty() {
            return Err(Error::new(ErrorCode::Unauthorized, "empty API key").into());
        }
        let key = state
            .db
            .key_by_hash(&token_hash(token))
            .await?
            .filter(|k| k.revoked_at.is_none())
            .ok_or_else(|| Error::new(ErrorCode::Unauthorized, "unknown or revoked API key"))?;
        let role = Role::parse(&key.role).ok_or_else(|| Error::internal("a stored key has an unknown role"))?;
        Ok(Caller {
            key_id: key.id,
            tenant: key.tenant_id,
            role,
        })
    }
}

/// A JSON body whose every rejection is an API error: 400 for malformed
/// or mistyped JSON (with serde's message), 413 over the body limit, 415
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
                    _ => ErrorCode::BadJson,
                };
                Err(Error::new(code, rejection.body_text()).into())
            }
        }
    }
}
