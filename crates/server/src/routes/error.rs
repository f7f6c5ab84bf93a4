//! Service errors as HTTP responses: the status of their code and the body
//! `{"error": "<human message>", "code": "<CODE>"}`; a 429 or 503 also
//! carries `Retry-After`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use paddock_api::Error;

pub use paddock_api::ErrorBody;

/// Seconds a client told 429 or 503 should wait before retrying.
const RETRY_AFTER_SECS: u64 = 1;

/// Longest message answered, in characters: a message quoting a client's
/// value (an unknown mode, a bad name) never sends megabytes back.
const MAX_MESSAGE_CHARS: usize = 1024;

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
        let mut body = self.0.body();
        cut_message(&mut body.error);
        error_response(&self.0, body)
    }
}

/// Cuts a message quoting a client's value at `MAX_MESSAGE_CHARS`.
pub fn cut_message(message: &mut String) {
    if let Some((cut, _)) = message.char_indices().nth(MAX_MESSAGE_CHARS) {
        message.truncate(cut);
        message.push_str("… (message cut)");
    }
}

/// The answer of an error with `body` (the API's JSON error or the
/// runtime's Problem Details): the status of its code, `Retry-After` on
/// 429 and 503, and the code for the request log.
pub fn error_response(err: &Error, body: impl serde::Serialize) -> Response {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Json(body)).into_response();
    if err.is_retryable() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
    // Read by the request log, which records each failure's code.
    response.extensions_mut().insert(err.code);
    response
}
