//! The proxy one jail talks to: HTTP `CONNECT` tunnels and plain-HTTP
//! forwarding, each checked against the jail's policy, resolved once, and
//! connected to a checked address.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::address::non_public_reason;
use crate::io::{Activity, Counters, Tracked};
use crate::log::{EgressLog, EgressRecord, Outcome, Reason, Recorder};
use crate::policy::{EgressPolicy, Host};
use crate::resolve::Resolver;
use crate::settings::EgressSettings;

/// How long [`ProxySession::finish`] waits for connections to wind down.
const FINISH_GRACE: Duration = Duration::from_secs(1);

/// Relay buffer per direction of a tunnel (tokio's default 8 KiB costs a
/// wakeup per 8 KiB of a download).
const TUNNEL_BUFFER: usize = 128 << 10;

/// Response header naming the reason of a refusal.
const REASON_HEADER: &str = "x-paddock-egress";

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// The egress proxy of one engine: settings and resolver shared by every
/// jail's [`ProxySession`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EgressProxy {
    settings: Arc<EgressSettings>,
    resolver: Resolver,
}

impl EgressProxy {
    /// A proxy with these operator settings.
    pub fn new(settings: EgressSettings) -> Result<EgressProxy, String> {
        settings.validate()?;
        Ok(EgressProxy {
            resolver: Resolver::new(&settings),
            settings: Arc::new(settings),
        })
    }

    /// The settings in use.
    pub fn settings(&self) -> &EgressSettings {
        &self.settings
    }

    /// Serves the jail's connections accepted on `listener` (a listening
    /// socket created inside the jail's network namespace) under `policy`,
    /// until the session is finished or dropped. With `live`, each record
    /// is also sent to [`ProxySession::take_live`]'s receiver as it is made.
    /// Must be called within a tokio runtime.
    pub fn serve(
        &self,
        listener: std::net::TcpListener,
        policy: EgressPolicy,
        live: bool,
    ) -> std::io::Result<ProxySession> {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let (live_tx, live_rx) = if live {
            let (tx, rx) = mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let recorder = Recorder::new(self.settings.max_log_records, live_tx);
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let jail = Arc::new(JailProxy {
            settings: self.settings.clone(),
            resolver: self.resolver.clone(),
            policy,
            recorder: recorder.clone(),
            cancel: cancel.clone(),
            tracker: tracker.clone(),
            slots: Arc::new(Semaphore::new(self.settings.max_connections)),
        });
        tracker.spawn(jail.accept_loop(listener));
        Ok(ProxySession {
            cancel,
            tracker,
            recorder,
            live: live_rx,
        })
    }
}

/// One jail's running proxy. Dropping it stops the proxy and closes every
/// connection.
#[derive(Debug)]
pub struct ProxySession {
    cancel: CancellationToken,
    tracker: TaskTracker,
    recorder: Recorder,
    live: Option<mpsc::UnboundedReceiver<EgressRecord>>,
}

impl ProxySession {
    /// Records as they are made (once; only when served with `live`).
    pub fn take_live(&mut self) -> Option<mpsc::UnboundedReceiver<EgressRecord>> {
        self.live.take()
    }

    /// The records so far.
    pub fn log(&self) -> EgressLog {
        self.recorder.snapshot()
    }

    /// Stops accepting, closes open connections (recording them) and
    /// returns the complete log.
    pub async fn finish(self) -> EgressLog {
        self.cancel.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(FINISH_GRACE, self.tracker.wait()).await;
        self.recorder.snapshot()
    }
}

impl Drop for ProxySession {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// What a request asked to reach.
struct Target {
    method: String,
    /// Canonical host text for the log (the raw text when invalid).
    host_text: String,
    host: Result<Host, String>,
    port: u16,
}

/// A refusal or failure before any byte reached an upstream.
struct Refusal {
    outcome: Outcome,
    reason: Reason,
    detail: String,
    address: Option<IpAddr>,
}

impl Refusal {
    fn denied(reason: Reason, detail: String) -> Refusal {
        Refusal {
            outcome: Outcome::Denied,
            reason,
            detail,
            address: None,
        }
    }

    fn failed(reason: Reason, detail: String, address: Option<IpAddr>) -> Refusal {
        Refusal {
            outcome: Outcome::Failed,
            reason,
            detail,
            address,
        }
    }

    fn status(&self) -> StatusCode {
        match self.reason {
            Reason::HostNotAllowed | Reason::IpLiteral | Reason::PortNotAllowed | Reason::NonPublicAddress => {
                StatusCode::FORBIDDEN
            }
            Reason::InvalidHost | Reason::BadRequest => StatusCode::BAD_REQUEST,
            Reason::TooLarge => StatusCode::URI_TOO_LONG,
            Reason::TooManyConnections => StatusCode::SERVICE_UNAVAILABLE,
            Reason::ConnectTimeout | Reason::HeaderTimeout | Reason::IdleTimeout => StatusCode::GATEWAY_TIMEOUT,
            Reason::ResolveFailed | Reason::ConnectFailed | Reason::JailEnded => StatusCode::BAD_GATEWAY,
        }
    }
}

/// Everything one jail's connections share.
struct JailProxy {
    settings: Arc<EgressSettings>,
    resolver: Resolver,
    policy: EgressPolicy,
    recorder: Recorder,
    cancel: CancellationToken,
    tracker: TaskTracker,
    /// One permit per open jail connection.
    slots: Arc<Semaphore>,
}

impl JailProxy {
    async fn accept_loop(self: Arc<Self>, listener: tokio::net::TcpListener) {
        loop {
            let accepted = tokio::select! {
                () = self.cancel.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    match self.slots.clone().try_acquire_owned() {
                        Ok(permit) => {
                            self.tracker
                                .spawn(self.clone().serve_connection(stream, Arc::new(permit)));
                        }
                        Err(_) => {
                            self.tracker.spawn(self.clone().refuse_busy(stream));
                        }
                    }
                }
                Err(err) => {
                    // Out of descriptors or similar: back off instead of spinning.
                    tracing::warn!(%err, "egress proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Answers a connection over the cap with 503 without reading it.
    async fn refuse_busy(self: Arc<Self>, mut stream: TcpStream) {
        use tokio::io::AsyncWriteExt;
        let detail = format!(
            "this jail already has {} proxy connections open",
            self.settings.max_connections
        );
        let response = format!(
            "HTTP/1.1 503 Service Unavailable\r\n{REASON_HEADER}: too_many_connections\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\npaddock egress: {detail}\n",
            detail.len() + 17
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(response.as_bytes())).await;
        self.record_connection_refusal(Reason::TooManyConnections, detail, Some(503), Duration::ZERO);
    }

    /// Records a connection refused before any request was read.
    fn record_connection_refusal(&self, reason: Reason, detail: String, status: Option<u16>, duration: Duration) {
        self.recorder.record(EgressRecord {
            method: String::new(),
            host: String::new(),
            port: 0,
            address: None,
            outcome: Outcome::Denied,
            reason: Some(reason),
            detail: Some(detail),
            status,
            bytes_up: 0,
            bytes_down: 0,
            duration,
        });
    }

    async fn serve_connection(self: Arc<Self>, stream: TcpStream, permit: Arc<OwnedSemaphorePermit>) {
        let activity = Activity::new();
        let io = TokioIo::new(Tracked::new(stream, activity.clone(), None));
        let requests = Arc::new(AtomicUsize::new(0));
        let service = {
            let jail = self.clone();
            let activity = activity.clone();
            let requests = requests.clone();
            hyper::service::service_fn(move |req| {
                requests.fetch_add(1, Ordering::Relaxed);
                let jail = jail.clone();
                let activity = activity.clone();
                let permit = permit.clone();
                async move { Ok::<_, Infallible>(jail.route(req, activity, permit).await) }
            })
        };
        let started = Instant::now();
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.settings.header_timeout)
            .max_header_size(self.settings.max_head_bytes)
            .max_headers(128)
            .serve_connection(io, service)
            .with_upgrades();
        let error = tokio::select! {
            result = connection => result.err(),
            () = activity.idle_for(self.settings.idle_timeout) => None,
            () = self.cancel.cancelled() => None,
        };
        // Refusals hyper answers itself (a head too large, or never
        // completed by a client that sent no request) are still attempts.
        let reason = match &error {
            Some(e) if e.is_parse_too_large() => Some((Reason::TooLarge, "the request head is too large")),
            Some(e) if e.is_timeout() && requests.load(Ordering::Relaxed) == 0 => Some((
                Reason::HeaderTimeout,
                "the client did not send a complete request head in time",
            )),
            _ => None,
        };
        if let Some((reason, detail)) = reason {
            self.record_connection_refusal(reason, detail.to_owned(), None, started.elapsed());
        }
    }

    async fn route(
        self: Arc<Self>,
        mut req: Request<Incoming>,
        activity: Arc<Activity>,
        permit: Arc<OwnedSemaphorePermit>,
    ) -> Response<ProxyBody> {
        let started = Instant::now();
        let target = match self.target(&req) {
            Ok(target) => target,
            Err((method, refusal)) => {
                let target = Target {
                    method,
                    host_text: String::new(),
                    host: Err(String::new()),
                    port: 0,
                };
                return self.refuse(&target, refusal, started);
            }
        };
        let addresses = match self.decide(&target).await {
            Ok(addresses) => addresses,
            Err(refusal) => return self.refuse(&target, refusal, started),
        };
        let (upstream, address) = match self.connect(&addresses, target.port).await {
            Ok(connected) => connected,
            Err(refusal) => return self.refuse(&target, refusal, started),
        };
        let counters = Arc::new(Counters::default());
        let upstream = Tracked::new(upstream, activity.clone(), Some(counters.clone()));
        let draft = Draft {
            jail: self.clone(),
            target,
            address,
            counters,
            started,
        };
        if req.method() == Method::CONNECT {
            let upgrade = hyper::upgrade::on(&mut req);
            let jail = self.clone();
            self.tracker.spawn(async move {
                let _permit = permit;
                jail.tunnel(upgrade, upstream, activity, draft).await;
            });
            return Response::new(empty());
        }
        self.forward(req, upstream, activity, draft).await
    }

    /// What the request asks to reach, or why it is not a proxy request.
    fn target(&self, req: &Request<Incoming>) -> Result<Target, (String, Refusal)> {
        let method = req.method().to_string();
        let bad = |reason, detail: String| Err((method.clone(), Refusal::denied(reason, detail)));
        let uri = req.uri();
        let uri_len = uri.to_string().len();
        if uri_len > self.settings.max_uri_bytes {
            return bad(
                Reason::TooLarge,
                format!(
                    "the URL is {uri_len} bytes; at most {} are accepted",
                    self.settings.max_uri_bytes
                ),
            );
        }
        let Some(authority) = uri.authority() else {
            return bad(
                Reason::BadRequest,
                "this is an HTTP proxy: send CONNECT host:port or an absolute URL (http://host/path)".into(),
            );
        };
        let port = if req.method() == Method::CONNECT {
            match authority.port_u16() {
                Some(port) => port,
                None => return bad(Reason::BadRequest, "CONNECT needs host:port".into()),
            }
        } else {
            match uri.scheme_str() {
                Some("http") => authority.port_u16().unwrap_or(80),
                Some("https") => {
                    return bad(
                        Reason::BadRequest,
                        "https:// URLs go through a CONNECT tunnel; set HTTPS_PROXY, not a plain request".into(),
                    )
                }
                _ => return bad(Reason::BadRequest, "only http:// URLs can be forwarded".into()),
            }
        };
        if port == 0 {
            return bad(Reason::BadRequest, "port 0 cannot be reached".into());
        }
        let raw = authority.host();
        let host = Host::parse(raw).map_err(|e| e.to_string());
        let host_text = match &host {
            Ok(host) => host.to_string(),
            Err(_) => raw.to_owned(),
        };
        Ok(Target {
            method,
            host_text,
            host,
            port,
        })
    }

    /// Checks the target against the policy and resolves it once: the
    /// addresses returned are the only ones that may be connected to.
    async fn decide(&self, target: &Target) -> Result<Vec<IpAddr>, Refusal> {
        let host = match &target.host {
            Ok(host) => host,
            Err(reason) => return Err(Refusal::denied(Reason::InvalidHost, reason.clone())),
        };
        let (candidates, resolved_name) = match host {
            Host::Ip(ip) => {
                if !self.policy.allows_host(host) {
                    return Err(Refusal::denied(
                        Reason::IpLiteral,
                        format!("IP address {ip} is not on this jail's allowlist; use an allowed host name"),
                    ));
                }
                (vec![*ip], None)
            }
            Host::Name(name) => {
                if !self.policy.allows_host(host) {
                    return Err(Refusal::denied(
                        Reason::HostNotAllowed,
                        format!("{name} is not on this jail's allowlist"),
                    ));
                }
                (Vec::new(), Some(name))
            }
        };
        if !self.policy.allows_port(target.port) {
            let allowed: Vec<String> = self.policy.ports().iter().map(u16::to_string).collect();
            return Err(Refusal::denied(
                Reason::PortNotAllowed,
                format!("port {} is not allowed (allowed: {})", target.port, allowed.join(", ")),
            ));
        }
        let candidates = match resolved_name {
            None => candidates,
            Some(name) => {
                // The operator's own addresses for a name are trusted as
                // given: this jail's own first (its tenant's), then those
                // of every jail.
                let trusted = self.policy.trusted().hosts.get(name);
                if let Some(addresses) = trusted.or_else(|| self.settings.trusted.hosts.get(name)) {
                    return Ok(addresses.clone());
                }
                let resolved = self.resolver.lookup(name).await.map_err(|e| {
                    Refusal::failed(Reason::ResolveFailed, format!("{name} did not resolve: {e}"), None)
                })?;
                if resolved.is_empty() {
                    return Err(Refusal::failed(
                        Reason::ResolveFailed,
                        format!("{name} has no addresses"),
                        None,
                    ));
                }
                resolved
            }
        };
        let mut first_refused = None;
        let checked: Vec<IpAddr> = candidates
            .into_iter()
            .filter(|&ip| match non_public_reason(ip) {
                Some(_) if self.settings.trusted.trusts(ip) || self.policy.trusted().trusts(ip) => true,
                Some(why) => {
                    first_refused.get_or_insert((ip, why));
                    false
                }
                None => true,
            })
            .collect();
        if checked.is_empty() {
            let (ip, why) = first_refused.unwrap_or((IpAddr::from([0, 0, 0, 0]), "no address"));
            let mut refusal = Refusal::denied(
                Reason::NonPublicAddress,
                format!(
                    "{} resolves only to non-public addresses ({ip} is {why})",
                    target.host_text
                ),
            );
            refusal.address = Some(ip);
            return Err(refusal);
        }
        Ok(checked)
    }

    /// Connects to the first checked address that answers, within the
    /// connect timeout for all of them together.
    async fn connect(&self, addresses: &[IpAddr], port: u16) -> Result<(TcpStream, IpAddr), Refusal> {
        let deadline = tokio::time::Instant::now() + self.settings.connect_timeout;
        let mut last_error = String::from("no address");
        for &ip in addresses {
            match tokio::time::timeout_at(deadline, TcpStream::connect(SocketAddr::new(ip, port))).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok((stream, ip));
                }
                Ok(Err(err)) => last_error = format!("{ip}:{port}: {err}"),
                Err(_) => {
                    return Err(Refusal::failed(
                        Reason::ConnectTimeout,
                        format!("no answer from {ip}:{port} within {:?}", self.settings.connect_timeout),
                        Some(ip),
                    ))
                }
            }
        }
        Err(Refusal::failed(
            Reason::ConnectFailed,
            format!("could not connect: {last_error}"),
            addresses.last().copied(),
        ))
    }

    /// Records a refusal and answers the client with its status and reason.
    fn refuse(&self, target: &Target, refusal: Refusal, started: Instant) -> Response<ProxyBody> {
        let status = refusal.status();
        self.recorder.record(EgressRecord {
            method: target.method.clone(),
            host: target.host_text.clone(),
            port: target.port,
            address: refusal.address,
            outcome: refusal.outcome,
            reason: Some(refusal.reason),
            detail: Some(refusal.detail.clone()),
            status: Some(status.as_u16()),
            bytes_up: 0,
            bytes_down: 0,
            duration: started.elapsed(),
        });
        let reason = refusal.reason.as_str();
        let mut response = Response::new(full(format!("paddock egress: {}\n", refusal.detail)));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        // A refused client starts over on a new connection.
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        if let Ok(value) = HeaderValue::from_str(reason) {
            headers.insert(HeaderName::from_static(REASON_HEADER), value);
        }
        response
    }

    /// Relays a CONNECT tunnel until either side closes, the connection
    /// idles out, or the jail ends.
    async fn tunnel(
        &self,
        upgrade: hyper::upgrade::OnUpgrade,
        mut upstream: Tracked<TcpStream>,
        activity: Arc<Activity>,
        draft: Draft,
    ) {
        let mut client = match upgrade.await {
            Ok(upgraded) => TokioIo::new(upgraded),
            Err(err) => {
                draft.finish(
                    None,
                    Some((Reason::BadRequest, format!("the tunnel was not established: {err}"))),
                );
                return;
            }
        };
        let ended = tokio::select! {
            _ = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut upstream, TUNNEL_BUFFER, TUNNEL_BUFFER) => None,
            () = activity.idle_for(self.settings.idle_timeout) => Some(self.idle_reason()),
            () = self.cancel.cancelled() => Some(jail_ended()),
        };
        draft.finish(None, ended);
    }

    /// Forwards one plain-HTTP request on a fresh upstream connection and
    /// streams the response back.
    async fn forward(
        &self,
        mut req: Request<Incoming>,
        upstream: Tracked<TcpStream>,
        activity: Arc<Activity>,
        draft: Draft,
    ) -> Response<ProxyBody> {
        let authority = req.uri().authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
        let host_header = authority.rsplit('@').next().unwrap_or_default().to_owned();
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        *req.uri_mut() = match path.parse::<Uri>() {
            Ok(uri) => uri,
            Err(err) => {
                draft.finish(None, Some((Reason::BadRequest, format!("bad path: {err}"))));
                return bad_gateway(StatusCode::BAD_REQUEST, "bad request path");
            }
        };
        strip_hop_by_hop(req.headers_mut());
        let headers = req.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&host_header) {
            headers.insert(header::HOST, value);
        }
        // One request per upstream connection: the record covers exactly it.
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));

        let handshake = hyper::client::conn::http1::Builder::new()
            .max_buf_size(self.settings.max_head_bytes.max(64 << 10))
            .handshake::<_, Incoming>(TokioIo::new(upstream))
            .await;
        let (mut sender, connection) = match handshake {
            Ok(parts) => parts,
            Err(err) => {
                let detail = format!("upstream handshake failed: {err}");
                draft.finish(None, Some((Reason::ConnectFailed, detail.clone())));
                return bad_gateway(StatusCode::BAD_GATEWAY, &detail);
            }
        };
        let (status_tx, status_rx) = oneshot::channel::<Result<u16, String>>();
        let idle = self.settings.idle_timeout;
        let cancel = self.cancel.clone();
        let idle_reason = self.idle_reason();
        self.tracker.spawn(async move {
            let ended = tokio::select! {
                _ = connection => None,
                () = activity.idle_for(idle) => Some(idle_reason),
                () = cancel.cancelled() => Some(jail_ended()),
            };
            match status_rx.await {
                Ok(Ok(status)) => draft.finish(Some(status), ended),
                Ok(Err(detail)) => draft.finish(None, Some((Reason::ConnectFailed, detail))),
                Err(_) => draft.finish(None, ended),
            }
        });
        match sender.send_request(req).await {
            Ok(mut response) => {
                let _ = status_tx.send(Ok(response.status().as_u16()));
                strip_hop_by_hop(response.headers_mut());
                response.map(|body| body.boxed())
            }
            Err(err) => {
                let detail = format!("the upstream did not answer: {err}");
                let _ = status_tx.send(Err(detail.clone()));
                bad_gateway(StatusCode::BAD_GATEWAY, &detail)
            }
        }
    }

    fn idle_reason(&self) -> (Reason, String) {
        (
            Reason::IdleTimeout,
            format!("no traffic for {:?}", self.settings.idle_timeout),
        )
    }
}

fn jail_ended() -> (Reason, String) {
    (Reason::JailEnded, "the jail ended".into())
}

/// The record of an allowed connection, completed when it ends.
struct Draft {
    jail: Arc<JailProxy>,
    target: Target,
    address: IpAddr,
    counters: Arc<Counters>,
    started: Instant,
}

impl Draft {
    fn finish(self, status: Option<u16>, ended: Option<(Reason, String)>) {
        let (reason, detail) = match ended {
            Some((reason, detail)) => (Some(reason), Some(detail)),
            None => (None, None),
        };
        let outcome = match reason {
            Some(Reason::ConnectFailed | Reason::BadRequest) => Outcome::Failed,
            _ => Outcome::Allowed,
        };
        self.jail.recorder.record(EgressRecord {
            method: self.target.method,
            host: self.target.host_text,
            port: self.target.port,
            address: Some(self.address),
            outcome,
            reason,
            detail,
            status,
            bytes_up: self.counters.up.load(Ordering::Relaxed),
            bytes_down: self.counters.down.load(Ordering::Relaxed),
            duration: self.started.elapsed(),
        });
    }
}

/// Removes headers that describe one hop (RFC 9110, section 7.6.1),
/// including those the `Connection` header lists.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
    headers.remove("proxy-connection");
    headers.remove("keep-alive");
}

fn empty() -> ProxyBody {
    Full::new(Bytes::new()).map_err(|never| match never {}).boxed()
}

fn full(text: String) -> ProxyBody {
    Full::new(Bytes::from(text)).map_err(|never| match never {}).boxed()
}

fn bad_gateway(status: StatusCode, detail: &str) -> Response<ProxyBody> {
    let mut response = Response::new(full(format!("paddock egress: {detail}\n")));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
