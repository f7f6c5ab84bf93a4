//! Previews (RUNTIME.md §5): the routes that create, list and revoke them,
//! and the relay that serves them.
//!
//! The relay runs in front of the API's routes ([`front`]): a request whose
//! `Host` is a preview host (`{port}--{workspace}.{preview-domain}`) is
//! relayed into the workspace and never reaches an API route, whatever its
//! path; a request under `/v1/workspaces/{id}/previews/{port}/proxy/` is
//! relayed with the tenant's API key. Everything else goes on to the API.
//!
//! Each relayed request gets one new TCP connection into the jail, made by
//! the jail's init inside its own network namespace (so `127.0.0.1` is the
//! jail's loopback, never the host's), spoken to with hyper's HTTP/1.1
//! client. Bodies stream both ways without buffering; an `Upgrade`
//! (WebSocket) is relayed and both upgraded connections are spliced.
//! Credentials meant for paddock (the API key, the preview cookie, the
//! secret in the query) never reach the jail.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hyper_util::rt::TokioIo;
use paddock_api::previews::{NewPreview, Preview, PreviewList};
use paddock_api::tokens::Capability;
use paddock_api::{Error, ErrorCode};

use crate::app::SharedState;
use crate::db::PreviewRow;
use crate::routes::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::extract::{audit_scoped_use, bearer_token, ApiJson, Caller, SeenCaller};
use crate::services::previews::{Origin, Previews, COOKIE, TOKEN_PARAM};
use crate::services::runtime::RunningJail;

#[utoipa::path(post, path = "/v1/workspaces/{id}/previews", operation_id = "createPreview", summary = "Expose a workspace's port",
    description = "Exposes a port served inside the workspace as `url` (host-based: `http://{port}--{workspace}.{preview-domain}`) and `path_url` (path-based, with the tenant's API key). Private previews (the default) need the tenant's API key as `Authorization: Bearer`, or their secret, answered once in `access_url` (`?paddock_token=`, exchanged for a cookie); public ones are open to anyone until they expire (default 3600 s, at most 7 days). An active preview of the same port is revoked. The workspace is not started: requests answer 502 until it runs and something listens.",
    tag = "previews", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")), request_body = NewPreview,
    responses((status = 201, description = "The new preview (with `access_url` when private)", body = Preview), (status = 400, description = "A port outside 1..=65535 or a bad ttl", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody), (status = 404, description = "No such workspace", body = ErrorBody),
        (status = 422, description = "JSON of the wrong shape: a missing, mistyped or unknown field (serde's message)", body = ErrorBody)))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewPreview>,
) -> ApiResult<(StatusCode, Json<Preview>)> {
    let preview = state.previews.create(&caller, &id, body, &origin(&headers)).await?;
    Ok((StatusCode::CREATED, Json(preview)))
}

#[utoipa::path(get, path = "/v1/workspaces/{id}/previews", operation_id = "listPreviews", summary = "List a workspace's previews",
    description = "Active, expired and revoked previews of the workspace, newest first (`state` says which). Secrets are never answered again.",
    tag = "previews", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The workspace's previews", body = PreviewList), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody)))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<PreviewList>> {
    Ok(Json(state.previews.list(&caller, &id, &origin(&headers)).await?))
}

#[utoipa::path(delete, path = "/v1/workspaces/{id}/previews/{preview_id}", operation_id = "revokePreview", summary = "Revoke a preview",
    description = "The preview stops working at once (its host and path answer 404).",
    tag = "previews", security(("bearer" = [])), params(("id" = String, Path, description = "Workspace id"), ("preview_id" = String, Path, description = "Preview id")),
    responses((status = 204, description = "Revoked"), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace, or no such active preview", body = ErrorBody)))]
pub async fn revoke(
    State(state): State<SharedState>,
    caller: Caller,
    Path((id, preview_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.previews.revoke(&caller, &id, &preview_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Documents the path-based relay; [`front`] serves it before routing, for
/// every method and every path under `/proxy/`.
#[utoipa::path(get, path = "/v1/workspaces/{id}/previews/{port}/proxy/{path}", operation_id = "proxyPreview", summary = "Relay a request to a previewed port",
    description = "Relays the request (any method, documented here as GET; any path after `/proxy`, WebSocket upgrades included) to the port inside the running workspace, for a port with an active preview. Needs the tenant's API key (`Authorization: Bearer` or `?access_token=`), which is removed before relaying. The answer is the jailed server's.",
    tag = "previews", security(("bearer" = [])),
    params(("id" = String, Path, description = "Workspace id"), ("port" = u16, Path, description = "The previewed port"), ("path" = String, Path, description = "The path relayed (any depth)")),
    responses((status = 200, description = "Whatever the jailed server answers"), (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such workspace, or no active preview of that port", body = ErrorBody),
        (status = 502, description = "The workspace is not running, or nothing listens on the port", body = ErrorBody)))]
pub async fn proxy(State(state): State<SharedState>, request: Request) -> Response {
    match proxy_target(request.uri().path()) {
        Some(target) => path_relay(&state, target, request).await,
        None => ApiError::from(Error::not_found("preview")).into_response(),
    }
}

/// In front of every API route: relays preview hosts and the path-based
/// relay, passes everything else on.
pub async fn front(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let host = host_of(&request);
    if let Some(target) = host.as_deref().and_then(|host| state.previews.target(host)) {
        return host_relay(&state, target.ok(), request).await;
    }
    if let Some(domain) = host.as_deref().and_then(|host| state.previews.domain_target(host)) {
        return domain_relay(&state, &domain, request).await;
    }
    if let Some(target) = proxy_target(request.uri().path()) {
        return path_relay(&state, target, request).await;
    }
    next.run(request).await
}

/// The `Host` of a request (its header, or the URI's authority).
fn host_of(request: &Request) -> Option<String> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()))
}

/// A plain-text answer of the host-based relay.
fn plain(status: StatusCode, message: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message).into_response()
}

/// Serves a request to a preview host.
async fn host_relay(
    state: &SharedState,
    target: Option<crate::services::previews::HostTarget>,
    request: Request,
) -> Response {
    const NOT_FOUND: &str = "no such preview\n";
    let Some(target) = target else {
        return plain(StatusCode::NOT_FOUND, NOT_FOUND);
    };
    let row = match state.previews.active(&target.workspace_id, target.port).await {
        Ok(Some(row)) => row,
        Ok(None) => return plain(StatusCode::NOT_FOUND, NOT_FOUND),
        Err(err) => return plain_error(&err),
    };
    serve_row(state, row, request).await
}

/// Serves a request to a workspace domain (agentjail's `domains`): a
/// public preview of its port while the workspace lives.
async fn domain_relay(state: &SharedState, domain: &str, request: Request) -> Response {
    match state.previews.domain_preview(domain).await {
        Ok(Some(row)) => serve_row(state, row, request).await,
        Ok(None) => plain(StatusCode::NOT_FOUND, "no such preview\n"),
        Err(err) => plain_error(&err),
    }
}

/// Serves a host-based request once its preview is known: access, then
/// the relay.
async fn serve_row(state: &SharedState, row: PreviewRow, mut request: Request) -> Response {
    const NOT_FOUND: &str = "no such preview\n";
    let https = forwarded_https(request.headers());
    let api_key = match api_key_of(state, request.headers()).await {
        Ok(key) => key,
        Err(err) => return plain_error(&err),
    };
    if row.public == 0 {
        if let Some(secret) = query_param(request.uri(), TOKEN_PARAM) {
            if !Previews::secret_matches(&row, &secret) {
                return plain(StatusCode::UNAUTHORIZED, "this preview link is not valid\n");
            }
            return exchange_for_cookie(request.uri(), &secret, https);
        }
        let allowed = match &api_key {
            Some(caller) if caller.tenant == row.tenant_id => {
                let permitted = caller.permit(&row.workspace_id, Capability::Previews);
                audit_scoped_use(state, caller, request.method(), request.uri().path(), permitted.is_ok());
                if let Err(err) = permitted {
                    return plain_error(&err);
                }
                true
            }
            // Another tenant's key: the preview does not exist for it.
            Some(_) => return plain(StatusCode::NOT_FOUND, NOT_FOUND),
            None => cookie_secret(request.headers()).is_some_and(|s| Previews::secret_matches(&row, &s)),
        };
        if !allowed {
            return plain(
                StatusCode::UNAUTHORIZED,
                "this preview is private: use its access link or the tenant's API key\n",
            );
        }
    }
    let scoped_token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| bearer_token(h).ok())
        .is_some_and(crate::services::tokens::ScopedTokens::is_scoped);
    // paddock's credentials never reach the jail, a dead scoped token
    // included.
    if api_key.is_some() || scoped_token {
        request.headers_mut().remove(header::AUTHORIZATION);
    }
    let Some(jail) = state.previews.jail(&row) else {
        return plain(StatusCode::BAD_GATEWAY, "the workspace is not running\n");
    };
    // Use of a preview counts as the workspace's activity.
    state.workspaces.note_activity(&row.workspace_id).await;
    match relay(jail, &row, request, Relay::Host).await {
        Ok(response) => response,
        Err(message) => plain(StatusCode::BAD_GATEWAY, message),
    }
}

/// An error of the host-based relay as plain text.
fn plain_error(err: &Error) -> Response {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", err.message),
    )
        .into_response()
}

/// The caller whose paddock API key is in `Authorization`, if it is one
/// (any other value is the jailed application's own and stays).
async fn api_key_of(state: &SharedState, headers: &HeaderMap) -> Result<Option<Caller>, Error> {
    let Some(token) = headers.get(header::AUTHORIZATION).and_then(|h| bearer_token(h).ok()) else {
        return Ok(None);
    };
    match state.keys.authenticate(token).await {
        Ok(caller) => Ok(Some(caller)),
        Err(err) if err.code == ErrorCode::Unauthorized => Ok(None),
        Err(err) => Err(err),
    }
}

/// `303 See Other` to the same URL without the secret, which is kept in
/// an `HttpOnly` cookie for this host instead (so it leaves the address
/// bar and the jailed application never sees it).
fn exchange_for_cookie(uri: &Uri, secret: &str, https: bool) -> Response {
    let path = uri.path();
    let location = match without_params(uri.query(), &[TOKEN_PARAM]) {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let secure = if https { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={secret}; HttpOnly; SameSite=Lax; Path=/{secure}");
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let (Ok(location), Ok(cookie)) = (HeaderValue::from_str(&location), HeaderValue::from_str(&cookie)) {
        headers.insert(header::LOCATION, location);
        headers.insert(header::SET_COOKIE, cookie);
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The value of the preview cookie, if sent.
fn cookie_secret(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
}

/// Removes the preview cookie from the `Cookie` headers (others stay).
fn strip_cookie(headers: &mut HeaderMap) {
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty() && pair.split_once('=').map_or(*pair, |(n, _)| n) != COOKIE)
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&kept.join("; ")) {
            headers.insert(header::COOKIE, value);
        }
    }
}

/// One query parameter's (percent-decoded) value.
fn query_param(uri: &Uri, name: &str) -> Option<String> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The raw query without the parameters `names`, matched on the decoded
/// key as [`query_param`] reads it (`access%5Ftoken` is `access_token`);
/// other pairs untouched; `None` when nothing is left.
fn without_params(query: Option<&str>, names: &[&str]) -> Option<String> {
    let kept: Vec<&str> = query?
        .split('&')
        .filter(|pair| !pair.is_empty() && !names.iter().any(|name| decoded_key(pair) == *name))
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

/// The percent-decoded key of one raw `key=value` pair.
fn decoded_key(pair: &str) -> String {
    form_urlencoded::parse(pair.as_bytes())
        .next()
        .map(|(key, _)| key.into_owned())
        .unwrap_or_default()
}

/// The query parameters that carry paddock's credentials (the API key of
/// the path-based relay, a private preview's secret): never relayed, in
/// the request target or in a `Referer`.
const CREDENTIAL_PARAMS: [&str; 2] = ["access_token", TOKEN_PARAM];

/// Whether a `Referer` names one of [`CREDENTIAL_PARAMS`], plainly or
/// percent-encoded (a page opened with `?access_token=` sends its whole
/// URL as the `Referer` of its own requests).
fn referer_carries_credentials(value: &HeaderValue) -> bool {
    let raw = String::from_utf8_lossy(value.as_bytes()).to_ascii_lowercase();
    if CREDENTIAL_PARAMS.iter().any(|name| raw.contains(name)) {
        return true;
    }
    let query = raw.split_once('?').map_or("", |(_, q)| q);
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    query
        .split('&')
        .any(|pair| CREDENTIAL_PARAMS.contains(&decoded_key(pair).to_ascii_lowercase().as_str()))
}

/// Whether the client reached the server over HTTPS (per a proxy in front).
fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// Where the server is reached, from a request's headers.
pub(crate) fn origin(headers: &HeaderMap) -> Origin {
    let authority = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost")
        .to_owned();
    let port = authority
        .rsplit_once(':')
        .filter(|(host, _)| !host.ends_with(']') || host.starts_with('['))
        .and_then(|(_, port)| port.parse::<u16>().ok());
    Origin {
        scheme: if forwarded_https(headers) { "https" } else { "http" }.to_owned(),
        authority,
        port,
    }
}

/// A path-based relay request: the workspace, the port and the path after
/// `/proxy`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProxyTarget {
    workspace_id: String,
    port: u16,
    rest: String,
}

/// `/v1/workspaces/{id}/previews/{port}/proxy[/rest]`, if the path is one.
fn proxy_target(path: &str) -> Option<ProxyTarget> {
    let tail = path.strip_prefix("/v1/workspaces/")?;
    let (workspace_id, tail) = tail.split_once('/')?;
    let tail = tail.strip_prefix("previews/")?;
    let (port, tail) = tail.split_once('/')?;
    let rest = tail.strip_prefix("proxy")?;
    if !(rest.is_empty() || rest.starts_with('/')) || workspace_id.is_empty() {
        return None;
    }
    let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
    Some(ProxyTarget {
        workspace_id: workspace_id.to_owned(),
        port,
        rest: if rest.is_empty() {
            "/".to_owned()
        } else {
            rest.to_owned()
        },
    })
}

/// Serves a path-based relay request (errors are the API's JSON).
async fn path_relay(state: &SharedState, target: ProxyTarget, mut request: Request) -> Response {
    let caller = match path_caller(state, request.headers(), request.uri()).await {
        Ok(caller) => caller,
        Err(err) => return ApiError::from(err).into_response(),
    };
    let permitted = caller.permit(&target.workspace_id, Capability::Previews);
    audit_scoped_use(
        state,
        &caller,
        request.method(),
        request.uri().path(),
        permitted.is_ok(),
    );
    if let Err(err) = permitted {
        return ApiError::from(err).into_response();
    }
    if let Some(seen) = request.extensions().get::<SeenCaller>() {
        seen.record(&caller);
    }
    let row = match state
        .previews
        .active_for(&caller, &target.workspace_id, target.port)
        .await
    {
        Ok(row) => row,
        Err(err) => return ApiError::from(err).into_response(),
    };
    request.headers_mut().remove(header::AUTHORIZATION);
    let Some(jail) = state.previews.jail(&row) else {
        return ApiError::from(Error::new(
            ErrorCode::PreviewUnreachable,
            "the workspace is not running",
        ))
        .into_response();
    };
    // Use of a preview counts as the workspace's activity.
    state.workspaces.note_activity(&row.workspace_id).await;
    match relay(jail, &row, request, Relay::Path(target.rest)).await {
        Ok(response) => response,
        Err(message) => ApiError::from(Error::new(ErrorCode::PreviewUnreachable, message.trim())).into_response(),
    }
}

/// The caller of a path-based relay request (`Authorization: Bearer` or
/// `?access_token=`).
async fn path_caller(state: &SharedState, headers: &HeaderMap, uri: &Uri) -> Result<Caller, Error> {
    let token = match headers.get(header::AUTHORIZATION) {
        Some(value) => bearer_token(value)?.to_owned(),
        None => query_param(uri, "access_token").ok_or_else(|| {
            Error::new(
                ErrorCode::Unauthorized,
                "missing Authorization header (Bearer <api key>) or ?access_token=",
            )
        })?,
    };
    state.keys.authenticate(&token).await
}

/// Headers that belong to one connection, never relayed (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

/// Removes hop-by-hop headers (and those `Connection` names); `upgrade`
/// keeps `Connection: upgrade` and `Upgrade` for a protocol switch.
fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .filter(|name| *name != header::UPGRADE)
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// Whether a request asks for a protocol switch (WebSocket).
fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Which relay a request came through.
#[derive(Debug)]
enum Relay {
    /// A preview host (or a workspace domain): its own origin.
    Host,
    /// The path-based relay, with the path after `/proxy`: the jailed
    /// content is served on the API's origin.
    Path(String),
}

/// The `Content-Security-Policy` of every path-based answer: the page runs
/// in an opaque origin (scripts and forms work; the API origin's storage,
/// cookies and service workers are out of its reach).
const PATH_CSP: &str = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads";

/// Headers of a relayed answer that would act on the whole API origin when
/// a path-based answer carried them: cookies (every workspace's path-based
/// previews share that origin), its transport (`Strict-Transport-Security`,
/// `Alt-Svc`) and its data (`Clear-Site-Data`).
const PATH_DROPPED: [&str; 4] = ["set-cookie", "strict-transport-security", "alt-svc", "clear-site-data"];

/// Makes a relayed answer safe to hand to a browser: `Service-Worker-Allowed`
/// is dropped (no worker may claim more than its own path), every
/// `Set-Cookie` loses its `Domain` (host-only: a preview cannot set cookies
/// on other previews or the API) and one naming the preview cookie is
/// dropped. Path-based answers, served on the API's origin, are also
/// sandboxed, send no `Referer` and drop [`PATH_DROPPED`].
fn secure_response(headers: &mut HeaderMap, relay: &Relay, upgraded: bool) {
    headers.remove("service-worker-allowed");
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(host_only_cookie)
        .collect();
    headers.remove(header::SET_COOKIE);
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    if matches!(relay, Relay::Path(_)) {
        for name in PATH_DROPPED {
            headers.remove(name);
        }
        if !upgraded {
            headers.append(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PATH_CSP));
            headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        }
    }
}

/// A relayed `Set-Cookie` without its `Domain` attribute, or `None` for
/// the preview cookie (also as a nameless `=paddock_preview=…`, which
/// browsers send back as `paddock_preview=…`).
fn host_only_cookie(value: &HeaderValue) -> Option<HeaderValue> {
    let mut parts = value.as_bytes().split(|b| *b == b';');
    let pair = parts.next()?;
    let start = pair
        .iter()
        .position(|b| *b != b'=' && !b.is_ascii_whitespace())
        .unwrap_or(pair.len());
    let name = pair[start..]
        .split(|b| *b == b'=')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if name.eq_ignore_ascii_case(COOKIE.as_bytes()) {
        return None;
    }
    let mut kept = pair.to_vec();
    for attribute in parts {
        let attr_name = attribute.split(|b| *b == b'=').next().unwrap_or_default().trim_ascii();
        if attr_name.eq_ignore_ascii_case(b"domain") {
            continue;
        }
        kept.push(b';');
        kept.extend_from_slice(attribute);
    }
    HeaderValue::from_bytes(&kept).ok()
}

/// Relays `request` to the preview's port inside `jail` over a new
/// connection made by the jail's init (to the path after `/proxy` for the
/// path-based relay), without paddock's credentials. The answer streams
/// back as it comes, made safe by [`secure_response`]; an accepted upgrade
/// splices both connections until either side closes. `Err` is a short
/// message for a 502.
async fn relay(
    jail: Arc<RunningJail>,
    row: &PreviewRow,
    mut request: Request,
    kind: Relay,
) -> Result<Response, &'static str> {
    let port = u16::try_from(row.port).map_err(|_| "bad preview port\n")?;
    let upgrade = wants_upgrade(request.headers());
    let original_host = request.headers().get(header::HOST).cloned();
    let https = forwarded_https(request.headers());
    {
        let headers = request.headers_mut();
        strip_hop_by_hop(headers, upgrade);
        match &kind {
            // Cookies of the API's origin belong to no workspace.
            Relay::Path(_) => {
                headers.remove(header::COOKIE);
            }
            Relay::Host => strip_cookie(headers),
        }
        if headers.get_all(header::REFERER).iter().any(referer_carries_credentials) {
            headers.remove(header::REFERER);
        }
        if let Some(host) = original_host {
            headers.insert("x-forwarded-host", host);
        }
        headers.insert(
            "x-forwarded-proto",
            HeaderValue::from_static(if https { "https" } else { "http" }),
        );
    }
    if let Some(peer) = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
    {
        let value = match request.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(before) => format!("{before}, {peer}"),
            None => peer,
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            request.headers_mut().insert("x-forwarded-for", value);
        }
    }
    // Origin form: the jailed server sees a path, as from a browser.
    let path = match &kind {
        Relay::Path(rest) => rest.clone(),
        Relay::Host if request.uri().path().is_empty() => "/".to_owned(),
        Relay::Host => request.uri().path().to_owned(),
    };
    let target = match without_params(request.uri().query(), &CREDENTIAL_PARAMS) {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    *request.uri_mut() = target
        .parse()
        .map_err(|_| "a request target the relay cannot forward\n")?;
    *request.version_mut() = axum::http::Version::HTTP_11;

    let stream = jail
        .executor()
        .connect(port)
        .await
        .map_err(|_| "nothing is listening on this port in the workspace\n")?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| "the connection into the workspace failed\n")?;
    tokio::spawn(async move {
        if let Err(err) = connection.with_upgrades().await {
            tracing::debug!(%err, "a preview connection ended with an error");
        }
    });
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
    let mut response = sender
        .send_request(request)
        .await
        .map_err(|_| "the workspace's server did not answer\n")?;
    let upgraded = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    secure_response(response.headers_mut(), &kind, upgraded);
    if upgraded {
        if let Some(client) = client_upgrade {
            let upstream = hyper::upgrade::on(&mut response);
            tokio::spawn(async move {
                let (Ok(client), Ok(upstream)) = tokio::join!(client, upstream) else {
                    return;
                };
                let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    } else {
        strip_hop_by_hop(response.headers_mut(), false);
    }
    Ok(response.map(Body::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_paths_are_parsed() {
        let t = proxy_target("/v1/workspaces/ws_1/previews/8000/proxy/a/b").expect("target");
        assert_eq!(
            (t.workspace_id.as_str(), t.port, t.rest.as_str()),
            ("ws_1", 8000, "/a/b")
        );
        let t = proxy_target("/v1/workspaces/ws_1/previews/8000/proxy").expect("target");
        assert_eq!(t.rest, "/");
        assert!(proxy_target("/v1/workspaces/ws_1/previews/8000/proxyx").is_none());
        assert!(proxy_target("/v1/workspaces/ws_1/previews/0/proxy/").is_none());
        assert!(proxy_target("/v1/workspaces/ws_1/previews").is_none());
        assert!(proxy_target("/v1/workspaces/ws_1/previews/prv_1").is_none());
    }

    #[test]
    fn credentials_are_stripped() {
        assert_eq!(
            without_params(Some("a=1&paddock_token=x&b=2"), &[TOKEN_PARAM]).as_deref(),
            Some("a=1&b=2")
        );
        assert_eq!(without_params(Some("paddock_token=x"), &[TOKEN_PARAM]), None);
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; paddock_preview=s; b=2"));
        assert_eq!(cookie_secret(&headers).as_deref(), Some("s"));
        strip_cookie(&mut headers);
        assert_eq!(
            headers.get(header::COOKIE).and_then(|v| v.to_str().ok()),
            Some("a=1; b=2")
        );
        headers.insert(header::COOKIE, HeaderValue::from_static("paddock_preview=s"));
        strip_cookie(&mut headers);
        assert!(headers.get(header::COOKIE).is_none());
        assert_eq!(
            without_params(Some("a=1&access%5Ftoken=k&paddock_token=s&b"), &CREDENTIAL_PARAMS).as_deref(),
            Some("a=1&b")
        );
        for referer in [
            "http://h/p?access_token=k",
            "http://h/p?x=1&PADDOCK_TOKEN=s",
            "http://h/p?access%5Ftoken=k",
            "http://h/p?%61ccess_token=k#f",
        ] {
            assert!(
                referer_carries_credentials(&HeaderValue::from_static(referer)),
                "{referer}"
            );
        }
        assert!(!referer_carries_credentials(&HeaderValue::from_static(
            "http://h/p?a=1"
        )));
    }

    #[test]
    fn relayed_cookies_are_host_only() {
        let cookie = |v: &'static str| {
            host_only_cookie(&HeaderValue::from_static(v)).map(|v| v.to_str().expect("text").to_owned())
        };
        assert_eq!(cookie("x=1; Domain=localhost; Path=/").as_deref(), Some("x=1; Path=/"));
        assert_eq!(
            cookie("y=2;path=/; DOMAIN =.localhost;HttpOnly").as_deref(),
            Some("y=2;path=/;HttpOnly")
        );
        assert_eq!(cookie("z=3").as_deref(), Some("z=3"));
        assert_eq!(cookie("paddock_preview=fake; Path=/"), None);
        assert_eq!(cookie(" Paddock_Preview = fake"), None);
        assert_eq!(cookie("=paddock_preview=fake"), None);
        let mut headers = HeaderMap::new();
        headers.insert("service-worker-allowed", HeaderValue::from_static("/"));
        headers.insert(header::SET_COOKIE, HeaderValue::from_static("s=1; Path=/"));
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=9"));
        headers.insert(header::ALT_SVC, HeaderValue::from_static("h3=\":443\""));
        secure_response(&mut headers, &Relay::Path("/".to_owned()), false);
        for gone in [
            "service-worker-allowed",
            "set-cookie",
            "strict-transport-security",
            "alt-svc",
        ] {
            assert!(headers.get(gone).is_none(), "{gone}");
        }
        assert_eq!(headers[header::CONTENT_SECURITY_POLICY], PATH_CSP);
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        let mut headers = HeaderMap::new();
        secure_response(&mut headers, &Relay::Host, false);
        assert!(headers.is_empty());
    }
}
