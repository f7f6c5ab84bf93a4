//! The proxy itself: the listener, the checks in order, the swap of the
//! phantom token for the real key, and the streamed exchange.
//!
//! Checks run in this order, each with its own refusal: the path is
//! canonical (`bad_path`), the service exists (`unknown_service`), a token
//! is present (`no_token`) and valid (`unknown_token`: unknown, expired or
//! revoked), it is for this service (`wrong_service`), the path is inside
//! the session's scope (`scope_denied`), the tenant has a key
//! (`no_upstream_key`), the session's budget has a request left
//! (`budget_exhausted`). Only then is the upstream contacted.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};

use crate::listen::TimedBody;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, HOST};
use hyper::{Request, Response, StatusCode, Uri};
use tokio::net::TcpListener;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::path::normalize;
use crate::services::{AuthStyle, Service, Services};
use crate::token::{presented, Presented};
use crate::upstream::{self, UpstreamClient};
use crate::{Authority, Event, Grant, Reject};

/// Error type of response bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Body of every response the proxy gives.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// How the proxy is set up.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// The services it serves.
    pub services: Services,
    /// Longest wait for a TCP (and TLS) connection to an upstream.
    pub connect_timeout: Duration,
    /// Longest whole exchange, streamed body included (a token's expiry
    /// ends it earlier).
    pub total_timeout: Duration,
    /// Longest wait for a client's request head (each keep-alive one too).
    pub header_timeout: Duration,
    /// Longest wait for the next bytes of a client's request body
    /// ([`crate::listen::TimedBody`]).
    pub body_timeout: Duration,
    /// PEM files of extra CAs to trust for upstreams (internal services).
    pub extra_ca: Vec<PathBuf>,
    /// Client connections served at once; when full, the one that has
    /// waited longest for a request head is shed ([`crate::listen`]).
    pub max_connections: usize,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            services: Services::builtin(),
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(600),
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            extra_ca: Vec::new(),
            max_connections: 1024,
        }
    }
}

/// Why the proxy could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The TLS roots could not be loaded.
    #[error("phantom proxy TLS setup: {0}")]
    Tls(String),
}

/// Requests in flight per session, each with the token it presented, so
/// that closing a session, or ending the exec a token was made for, cuts
/// them.
type Inflight = Mutex<HashMap<String, HashMap<u64, InflightRequest>>>;

/// One request in flight: its phantom token and what cuts it.
struct InflightRequest {
    token: String,
    cancel: CancellationToken,
}

/// The phantom credential proxy.
pub struct PhantomProxy<A> {
    inner: Arc<Inner<A>>,
}

impl<A> Clone for PhantomProxy<A> {
    fn clone(&self) -> Self {
        PhantomProxy {
            inner: self.inner.clone(),
        }
    }
}

impl<A> std::fmt::Debug for PhantomProxy<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhantomProxy")
            .field("services", &self.inner.settings.services.names())
            .finish_non_exhaustive()
    }
}

struct Inner<A> {
    settings: ProxySettings,
    authority: A,
    client: UpstreamClient,
    inflight: Arc<Inflight>,
    next_request: AtomicU64,
    /// Sessions closed and tokens revoked lately, with when: a request
    /// that passed its check just before a revocation and registers just
    /// after it (the check awaits the database) is cut at registration.
    revoked: std::sync::Mutex<HashMap<String, Instant>>,
}

/// How long a revocation is remembered for requests still being checked
/// (a check takes milliseconds).
const REVOKED_MEMORY: Duration = Duration::from_secs(600);

/// Where a request stands while it is checked, for its audit event.
struct Context_ {
    method: String,
    path: String,
    service: Option<String>,
    tenant_id: Option<String>,
    session_id: Option<String>,
}

impl<A: Authority> PhantomProxy<A> {
    /// A proxy over `authority`.
    pub fn new(settings: ProxySettings, authority: A) -> Result<Self, ProxyError> {
        let client = upstream::client(settings.connect_timeout, &settings.extra_ca)?;
        Ok(PhantomProxy {
            inner: Arc::new(Inner {
                settings,
                authority,
                client,
                inflight: Arc::default(),
                next_request: AtomicU64::new(0),
                revoked: std::sync::Mutex::default(),
            }),
        })
    }

    /// The services served.
    pub fn services(&self) -> &Services {
        &self.inner.settings.services
    }

    /// The authority the proxy asks.
    pub fn authority(&self) -> &A {
        &self.inner.authority
    }

    /// Cuts every request of `session_id` still in flight (its tokens were
    /// just revoked); returns how many.
    pub fn revoke_session(&self, session_id: &str) -> usize {
        self.remember_revoked([format!("session:{session_id}")]);
        let cut = lock(&self.inner.inflight).remove(session_id).unwrap_or_default();
        for request in cut.values() {
            request.cancel.cancel();
        }
        cut.len()
    }

    /// Cuts every request of `session_id` still in flight that presented
    /// one of `tokens` (they were just revoked: the exec they were made
    /// for ended); the session's other requests go on. Returns how many.
    pub fn revoke_tokens(&self, session_id: &str, tokens: &[String]) -> usize {
        self.remember_revoked(tokens.iter().map(|t| format!("token:{t}")));
        let mut map = lock(&self.inner.inflight);
        let Some(requests) = map.get_mut(session_id) else {
            return 0;
        };
        let before = requests.len();
        requests.retain(|_, request| {
            let revoked = tokens.iter().any(|t| t == &request.token);
            if revoked {
                request.cancel.cancel();
            }
            !revoked
        });
        let cut = before - requests.len();
        if requests.is_empty() {
            map.remove(session_id);
        }
        cut
    }

    /// Serves `listener` until `shutdown` resolves, then lets requests in
    /// flight finish for up to `grace`.
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future<Output = ()>, grace: Duration) {
        let limits = crate::listen::ListenLimits {
            header_timeout: self.inner.settings.header_timeout,
            max_connections: self.inner.settings.max_connections,
            body_timeout: self.inner.settings.body_timeout,
        };
        let proxy = self.clone();
        let handler = move |request: Request<TimedBody>, _peer: std::net::SocketAddr| {
            let proxy = proxy.clone();
            async move { proxy.handle(request).await }
        };
        let stop = CancellationToken::new();
        let served = crate::listen::serve(
            listener,
            limits,
            "phantom proxy",
            handler,
            stop.clone().cancelled_owned(),
        );
        tokio::pin!(served);
        tokio::select! {
            () = &mut served => return,
            () = shutdown => stop.cancel(),
        }
        tokio::select! {
            () = served => {}
            () = tokio::time::sleep(grace) => {
                tracing::warn!(?grace, "phantom proxy: requests still in flight at the end of the grace period");
            }
        }
    }

    /// Answers one request.
    pub async fn handle(&self, request: Request<TimedBody>) -> Response<ProxyBody> {
        if request.uri().path() == "/healthz" {
            return text_response(StatusCode::OK, "ok");
        }
        let mut ctx = Context_ {
            method: request.method().as_str().to_owned(),
            path: truncate(request.uri().path(), 512),
            service: None,
            tenant_id: None,
            session_id: None,
        };
        match self.check(&request, &mut ctx).await {
            Ok(Checked {
                service,
                grant,
                encoded_rest,
                token,
            }) => self.forward(request, ctx, service, grant, &encoded_rest, token).await,
            Err(refusal) => {
                self.refuse_timed(ctx, refusal.reject, &refusal.message, refusal.status, None)
                    .await
            }
        }
    }

    /// Every check before the upstream is contacted.
    async fn check(&self, request: &Request<TimedBody>, ctx: &mut Context_) -> Result<Checked, Refusal> {
        let canonical = normalize(request.uri().path()).map_err(|e| Refusal::new(Reject::BadPath, e.to_string()))?;
        let mut decoded = canonical.decoded.splitn(4, '/');
        let mut encoded = canonical.encoded.splitn(4, '/');
        let (Some(""), Some("v1"), Some(name)) = (decoded.next(), decoded.next(), decoded.next()) else {
            return Err(Refusal::new(Reject::BadPath, "proxy paths are /v1/<service>/<path>"));
        };
        let decoded_rest = format!("/{}", decoded.next().unwrap_or(""));
        let encoded_rest = format!("/{}", encoded.nth(3).unwrap_or(""));
        ctx.path = truncate(&encoded_rest, 2048);
        let service = self.inner.settings.services.get(name).cloned().ok_or_else(|| {
            Refusal::new(
                Reject::UnknownService,
                format!(
                    "unknown service {name:?} (known: {})",
                    self.inner.settings.services.names()
                ),
            )
        })?;
        ctx.service = Some(service.name.clone());
        let token = match presented(request.headers()) {
            Presented::Missing => {
                return Err(Refusal::new(
                    Reject::NoToken,
                    "no phantom token: send it as Authorization: Bearer phm_... or x-api-key",
                ))
            }
            Presented::Malformed => return Err(Refusal::new(Reject::UnknownToken, "not a phantom token")),
            Presented::Token(token) => token,
        };
        let grant = match self.inner.authority.grant(&token).await {
            Ok(Some(grant)) => grant,
            Ok(None) => return Err(Refusal::new(Reject::UnknownToken, "unknown phantom token")),
            Err(err) => {
                tracing::error!(%err, "phantom proxy: token lookup failed");
                return Err(Refusal::unavailable("the proxy cannot check tokens right now"));
            }
        };
        ctx.tenant_id = Some(grant.tenant_id.clone());
        ctx.session_id = Some(grant.session_id.clone());
        if grant.revoked {
            return Err(Refusal::new(
                Reject::UnknownToken,
                "the phantom token was revoked (its session was closed, or the exec it was made for ended)",
            ));
        }
        if grant.expires_at <= SystemTime::now() {
            return Err(Refusal::new(Reject::UnknownToken, "the phantom token has expired"));
        }
        if grant.service != service.name {
            return Err(Refusal::new(
                Reject::WrongService,
                format!("this phantom token is for {}, not {}", grant.service, service.name),
            ));
        }
        if let Some(globs) = &grant.scopes {
            if !crate::path::scope_allows(globs, &decoded_rest, service.case_insensitive_paths) {
                return Err(Refusal::new(
                    Reject::ScopeDenied,
                    format!("{decoded_rest} is outside this session's scope for {}", service.name),
                ));
            }
        }
        if grant.secret.is_none() {
            return Err(Refusal::new(
                Reject::NoUpstreamKey,
                format!("the tenant has no credential stored for {}", service.name),
            ));
        }
        if grant.budgeted {
            match self.inner.authority.spend(&grant.session_id).await {
                Ok(true) => {}
                Ok(false) => {
                    return Err(Refusal::new(
                        Reject::BudgetExhausted,
                        "this session's request budget is spent",
                    ))
                }
                Err(err) => {
                    tracing::error!(%err, "phantom proxy: spending a request budget failed");
                    return Err(Refusal::unavailable("the proxy cannot check budgets right now"));
                }
            }
        }
        Ok(Checked {
            service,
            grant,
            encoded_rest,
            token,
        })
    }

    async fn forward(
        &self,
        request: Request<TimedBody>,
        ctx: Context_,
        service: Service,
        grant: Grant,
        encoded_rest: &str,
        token: String,
    ) -> Response<ProxyBody> {
        let (parts, body) = request.into_parts();
        let query = parts.uri.query().map(|q| format!("?{q}")).unwrap_or_default();
        let target = format!("{}{}{}{query}", service.origin, service.base_path, encoded_rest);
        let Ok(uri) = target.parse::<Uri>() else {
            return self
                .refuse(ctx, Reject::BadPath, "the request cannot be forwarded as a URL")
                .await;
        };
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        for name in [
            "authorization",
            "x-api-key",
            "proxy-authorization",
            service.auth.header_name(),
        ] {
            headers.remove(name);
        }
        headers.remove(HOST);
        headers.remove(hyper::header::EXPECT);
        let secret = grant.secret.as_ref().map(|s| s.0.as_str()).unwrap_or_default();
        let Some((name, value)) = auth_header(&service.auth, secret) else {
            return self
                .refuse(
                    ctx,
                    Reject::NoUpstreamKey,
                    "the stored credential cannot be sent in a header",
                )
                .await;
        };
        headers.insert(name, value);
        for (name, value) in &service.default_headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                headers.entry(name).or_insert(value);
            }
        }
        let mut upstream_request = Request::new(body);
        *upstream_request.method_mut() = parts.method;
        *upstream_request.uri_mut() = uri;
        *upstream_request.headers_mut() = headers;

        let (cancel, registration) = self.register(&grant.session_id, token);
        let expires_in = grant
            .expires_at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let deadline = tokio::time::Instant::now() + self.inner.settings.total_timeout.min(expires_in);
        let sent = Instant::now();
        let outcome = tokio::select! {
            response = self.inner.client.request(upstream_request) => Ok(response),
            () = tokio::time::sleep_until(deadline) => Err("the upstream did not answer in time"),
            () = cancel.cancelled() => Err("the session was closed or its token revoked"),
        };
        let upstream_ms = sent.elapsed().as_secs_f64() * 1000.0;
        let response = match outcome {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => {
                tracing::warn!(service = %service.name, error = %err, "phantom proxy: upstream failed");
                let message = format!("the upstream {} failed: {}", service.origin, error_chain(&err));
                return self
                    .refuse_timed(ctx, Reject::UpstreamError, &message, 502, upstream_ms)
                    .await;
            }
            Err(why) => {
                let status = if why.contains("time") { 504 } else { 502 };
                return self
                    .refuse_timed(ctx, Reject::UpstreamError, why, status, upstream_ms)
                    .await;
            }
        };
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        let status = parts.status.as_u16();
        self.inner
            .authority
            .record(Event {
                tenant_id: ctx.tenant_id,
                session_id: ctx.session_id,
                service: ctx.service,
                method: ctx.method,
                path: ctx.path,
                status,
                reject: None,
                upstream_ms: Some(upstream_ms),
            })
            .await;
        let body = Guarded {
            inner: body,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            cancelled: Box::pin(cancel.cancelled_owned()),
            _registration: registration,
        };
        Response::from_parts(parts, body.boxed_unsync())
    }

    /// Remembers revocations for [`REVOKED_MEMORY`] (older ones go).
    fn remember_revoked(&self, keys: impl IntoIterator<Item = String>) {
        let now = Instant::now();
        let mut revoked = self.inner.revoked.lock().unwrap_or_else(|p| p.into_inner());
        revoked.retain(|_, at| now.duration_since(*at) < REVOKED_MEMORY);
        revoked.extend(keys.into_iter().map(|key| (key, now)));
    }

    fn register(&self, session_id: &str, token: String) -> (CancellationToken, Registration) {
        let cancel = CancellationToken::new();
        let id = self.inner.next_request.fetch_add(1, Ordering::Relaxed);
        let keys = [format!("session:{session_id}"), format!("token:{token}")];
        lock(&self.inner.inflight)
            .entry(session_id.to_owned())
            .or_default()
            .insert(
                id,
                InflightRequest {
                    token,
                    cancel: cancel.clone(),
                },
            );
        // Registered first, looked up second (a revocation remembers first
        // and cuts second): a revocation either cuts this request or is
        // seen here.
        let revoked = self.inner.revoked.lock().unwrap_or_else(|p| p.into_inner());
        if keys.iter().any(|key| revoked.contains_key(key)) {
            cancel.cancel();
        }
        drop(revoked);
        let registration = Registration {
            inflight: self.inner.inflight.clone(),
            session_id: session_id.to_owned(),
            id,
        };
        (cancel, registration)
    }

    async fn refuse(&self, ctx: Context_, reject: Reject, message: &str) -> Response<ProxyBody> {
        self.refuse_timed(ctx, reject, message, reject.status(), None).await
    }

    async fn refuse_timed(
        &self,
        ctx: Context_,
        reject: Reject,
        message: &str,
        status: u16,
        upstream_ms: impl Into<Option<f64>>,
    ) -> Response<ProxyBody> {
        self.inner
            .authority
            .record(Event {
                tenant_id: ctx.tenant_id,
                session_id: ctx.session_id,
                service: ctx.service,
                method: ctx.method,
                path: ctx.path,
                status,
                reject: Some(reject),
                upstream_ms: upstream_ms.into(),
            })
            .await;
        let body = serde_json::json!({
            "error": format!("paddock phantom proxy: {message}"),
            "code": reject.as_str().to_ascii_uppercase(),
            "reason": reject.as_str(),
        });
        let mut response = text_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            body.to_string(),
        );
        let headers = response.headers_mut();
        headers.insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert("x-paddock-phantom", HeaderValue::from_static(reject.as_str()));
        response
    }
}

/// A request that passed every check: what to forward, and the token
/// it presented (so that revoking the token cuts it).
struct Checked {
    service: Service,
    grant: Grant,
    encoded_rest: String,
    token: String,
}

/// Why a request is refused, and with which status.
struct Refusal {
    reject: Reject,
    status: u16,
    message: String,
}

impl Refusal {
    fn new(reject: Reject, message: impl Into<String>) -> Refusal {
        Refusal {
            reject,
            status: reject.status(),
            message: message.into(),
        }
    }

    /// The authority's storage failed: 503, so clients retry.
    fn unavailable(message: &str) -> Refusal {
        Refusal {
            status: 503,
            ..Refusal::new(Reject::UpstreamError, message)
        }
    }
}

/// The header that carries `secret` in `style`.
fn auth_header(style: &AuthStyle, secret: &str) -> Option<(HeaderName, HeaderValue)> {
    let (name, value) = match style {
        AuthStyle::Bearer => ("authorization".to_owned(), format!("Bearer {secret}")),
        AuthStyle::Basic => (
            "authorization".to_owned(),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{secret}:"))
            ),
        ),
        AuthStyle::XApiKey => ("x-api-key".to_owned(), secret.to_owned()),
        AuthStyle::Header(name) => (name.clone(), secret.to_owned()),
    };
    let mut value = HeaderValue::try_from(value).ok()?;
    value.set_sensitive(true);
    Some((HeaderName::try_from(name).ok()?, value))
}

/// Removes headers that describe one connection, not the message
/// (RFC 9110 §7.6.1), including any the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
}

fn text_response(status: StatusCode, text: impl Into<Bytes>) -> Response<ProxyBody> {
    let body = Full::new(text.into()).map_err(|never| match never {}).boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// An error and its causes on one line (hyper's errors nest the useful part).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn lock(inflight: &Inflight) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<u64, InflightRequest>>> {
    inflight.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes a request from the in-flight table when its response ends.
struct Registration {
    inflight: Arc<Inflight>,
    session_id: String,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut map = lock(&self.inflight);
        if let Some(requests) = map.get_mut(&self.session_id) {
            requests.remove(&self.id);
            if requests.is_empty() {
                map.remove(&self.session_id);
            }
        }
    }
}

/// The upstream's body, streamed as it arrives, cut at the deadline or
/// when the session is closed.
struct Guarded {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    _registration: Registration,
}

impl Body for Guarded {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.cancelled.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err("the session was closed".into())));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err("the exchange passed its time limit".into())));
        }
        Pin::new(&mut this.inner).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_are_removed() {
        let mut headers = HeaderMap::new();
        for (k, v) in [
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("content-type", "application/json"),
        ] {
            headers.insert(k, v.parse().unwrap());
        }
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("content-type"));
    }

    #[test]
    fn keys_go_into_the_style_of_each_upstream() {
        let (name, value) = auth_header(&AuthStyle::Bearer, "sk-1").unwrap();
        assert_eq!(
            (name.as_str(), value.to_str().unwrap()),
            ("authorization", "Bearer sk-1")
        );
        let (name, value) = auth_header(&AuthStyle::XApiKey, "sk-ant").unwrap();
        assert_eq!((name.as_str(), value.to_str().unwrap()), ("x-api-key", "sk-ant"));
        let (_, value) = auth_header(&AuthStyle::Basic, "sk_live").unwrap();
        assert_eq!(value.to_str().unwrap(), "Basic c2tfbGl2ZTo=");
        let (name, _) = auth_header(&AuthStyle::Header("x-token".into()), "t").unwrap();
        assert_eq!(name.as_str(), "x-token");
        assert!(value.is_sensitive());
        assert!(auth_header(&AuthStyle::Bearer, "bad\nvalue").is_none());
    }
}
