//! The web console: static files from `web/`, carried inside the binary
//! and served at `/ui/`. The console is a client of the public API like
//! any other (it holds no power its API key does not have); this file
//! only serves its files, with the headers that keep a browser from
//! framing it, sniffing it or loading anything from elsewhere.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::RustEmbed;

use paddock_api::{Error, ErrorCode};

use crate::app::SharedState;
use crate::routes::error::ApiError;

/// The console's files (`web/`, without the vendoring script).
#[derive(RustEmbed)]
#[folder = "../../web"]
#[exclude = "vendor/update.sh"]
struct ConsoleFiles;

/// Everything the page loads comes from this origin. Scripts never run
/// inline; styles may (xterm.js and Preact set them from script). Images
/// may be `data:`/`blob:` (kernel plots, screenshots, downloads).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; form-action 'none'; \
     frame-ancestors 'none'; base-uri 'none'";

/// The console's routes: `/` and `/ui` lead to `/ui/`.
pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/ui/") }))
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route(
            "/ui/",
            get(|headers: HeaderMap| async move { file("index.html", &headers) }),
        )
        .route(
            "/ui/{*path}",
            get(|Path(path): Path<String>, headers: HeaderMap| async move { file(&path, &headers) }),
        )
        .layer(tower_http::compression::CompressionLayer::new())
}

/// One embedded file, revalidated by its content hash (`ETag`): the names
/// are stable, so browsers keep a copy and ask whether it changed.
fn file(path: &str, request: &HeaderMap) -> Response {
    let Some(found) = ConsoleFiles::get(path) else {
        let missing = Error::new(ErrorCode::NotFound, "no such console file");
        return secured(ApiError::from(missing).into_response());
    };
    // Weak: the same file is sent compressed or not, byte-different.
    let etag = format!("W/\"{}\"", hex::encode(&found.metadata.sha256_hash()[..16]));
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = found.data.into_owned().into_response();
        if let Ok(mime) = HeaderValue::from_str(found.metadata.mimetype()) {
            response.headers_mut().insert(header::CONTENT_TYPE, mime);
        }
        response
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secured(response)
}

/// Adds the browser protections every console answer carries.
fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}
