//! Service errors as HTTP responses: the status of their code and the body
//! `{"error": "<human message>", "code": "<CODE>"}`; a 429 or 503 also
//! carries `Retry-After`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use paddock_api::Error;

pub use paddock_api::ErrorBody;

/// Seconds a client told 429 or 503 should wait before retrying.
pub const RETRY_AFTER_SECS: u64 = 1;

/// Longest message answered, in characters: a message quoting a client's
/// value (an unknown mode, a bad name) never sends megabytes back.
pub const MAX_MESSAGE_CHARS: usize = 1024;

/// An error answered to the client.
#[derive(Debug)]
pub struct ApiError(pub Error);

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        ApiError(err)
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(err: crate::db::DbError) -> Self {
        ApiError(err.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = self.0.body();
        if let Some((cut, _)) = body.error.char_indices().nth(MAX_MESSAGE_CHARS) {
            body.error.truncate(cut);
            body.error.push_str("… (message cut)");
        }
        let mut response = (status, Json(body)).into_response();
        if self.0.is_retryable() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        // Read by the request log, which records each failure's code.
        response.extensions_mut().insert(self.0.code);
        response
    }
}
