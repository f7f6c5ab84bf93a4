//! How paddock's HTTP listeners (the control plane and the phantom proxy)
//! accept connections without letting anonymous clients starve them.
//!
//! - Every request head must arrive within the header timeout, counted
//!   from the moment the connection waits for one: the first request's and
//!   each keep-alive one's, so an idle keep-alive connection closes after
//!   the same time. Responses being streamed (SSE, log follow, downloads)
//!   and upgraded connections (WebSockets) are not timed.
//! - Each listener serves at most `max_connections` at once. When full, it
//!   keeps accepting and sheds the connection that has waited longest for
//!   a request head (unfinished heads and idle keep-alive connections);
//!   connections with a request in flight, or upgraded, are never shed.
//!   Only when every connection has a request in flight is the new one
//!   answered 503 and closed. Connections that stall before completing a
//!   head thus cannot hold slots that a client sending a request needs,
//!   and the listener never stops accepting (a full backlog would refuse
//!   everyone alike).
//! - A request body must keep arriving: every request's body is a
//!   [`TimedBody`], which fails when its reader has waited longer than the
//!   body timeout for the next bytes. A client that sends a head with a
//!   large `Content-Length` and then stalls (or trickles slower than that)
//!   is answered 408 and the connection closed, and the handler reading
//!   the body gets an error instead of waiting forever. A body that keeps
//!   flowing is never cut however long it takes, and the time a handler
//!   spends not reading (an upstream being slow to take a relayed body) is
//!   not counted. A handler that answers without reading the body (a
//!   refused request) does not wait for it at all: hyper then closes the
//!   connection.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Error type of response bodies.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Limits of one listener.
#[derive(Debug, Clone, Copy)]
pub struct ListenLimits {
    /// Longest wait for a request head (the first one and each keep-alive
    /// one).
    pub header_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Longest wait for the next bytes of a request body being read.
    pub body_timeout: Duration,
}

impl Default for ListenLimits {
    fn default() -> Self {
        ListenLimits {
            header_timeout: Duration::from_secs(30),
            max_connections: 1024,
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// The body of every request the listeners hand to their handlers: the
/// connection's body, failing with [`BodyStalled`] once its reader has
/// waited `body_timeout` for the next frame.
///
/// The clock runs only while the reader waits (a poll answered
/// `Pending`), from the first such poll after a frame: a slow reader is
/// not the client's fault, and TCP keeps a client from sending what the
/// server does not read.
pub struct TimedBody {
    inner: Incoming,
    timeout: Duration,
    /// Armed while waiting for the next frame.
    wait: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Set when the body stalled, for the service to answer 408.
    stalled: Arc<std::sync::atomic::AtomicBool>,
}

/// A request body's next bytes did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled: no bytes for {0:?}")]
pub struct BodyStalled(pub Duration);

impl TimedBody {
    fn new(inner: Incoming, timeout: Duration) -> (TimedBody, Arc<std::sync::atomic::AtomicBool>) {
        let stalled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let body = TimedBody {
            inner,
            timeout,
            wait: None,
            stalled: stalled.clone(),
        };
        (body, stalled)
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.stalled.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(BodyStalled(this.timeout).into())));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.wait = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let wait = this.wait.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match wait.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.stalled.store(true, Ordering::Relaxed);
                        Poll::Ready(Some(Err(BodyStalled(timeout).into())))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The 408 that replaces a handler's answer when the request body stalled;
/// the connection is closed after it.
fn stalled_response(timeout: Duration) -> Response<http_body_util::Full<Bytes>> {
    let detail = format!("the request body stalled: no bytes for {timeout:?}\n");
    let mut response = Response::new(http_body_util::Full::new(Bytes::from(detail)));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    headers.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    response
}

/// The connections of one listener.
#[derive(Debug)]
pub struct Slots {
    cap: usize,
    inner: Mutex<SlotsInner>,
    shed: AtomicU64,
    refused: AtomicU64,
}

#[derive(Debug, Default)]
struct SlotsInner {
    next: u64,
    live: HashMap<u64, Entry>,
    /// Connections waiting for a request head, by when they began to
    /// wait (oldest first) → their id.
    waiting: BTreeMap<u64, u64>,
}

#[derive(Debug)]
struct Entry {
    /// Requests in flight (responses not yet fully sent).
    busy: usize,
    /// Upgraded: never shed, counted until its stream closes.
    pinned: bool,
    /// Its key in `waiting` while it waits for a head.
    waiting_since: Option<u64>,
    close: CancellationToken,
}

impl Slots {
    /// Room for `cap` connections (at least one).
    pub fn new(cap: usize) -> Arc<Slots> {
        Arc::new(Slots {
            cap: cap.max(1),
            inner: Mutex::default(),
            shed: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotsInner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot for a new connection, shedding the one that has waited
    /// longest for a request head when full; `None` when every connection
    /// has a request in flight.
    pub fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut inner = self.lock();
        if inner.live.len() >= self.cap {
            let oldest = inner.waiting.pop_first();
            let Some((_, victim)) = oldest else {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            if let Some(entry) = inner.live.remove(&victim) {
                entry.close.cancel();
            }
            self.shed.fetch_add(1, Ordering::Relaxed);
        }
        let id = inner.next;
        inner.next += 1;
        let close = CancellationToken::new();
        inner.live.insert(
            id,
            Entry {
                busy: 0,
                pinned: false,
                waiting_since: Some(id),
                close: close.clone(),
            },
        );
        inner.waiting.insert(id, id);
        Some(Slot(Arc::new(SlotShared {
            slots: self.clone(),
            id,
            close,
        })))
    }

    /// Connections counted now.
    pub fn live(&self) -> usize {
        self.lock().live.len()
    }

    /// Connections shed so far to make room.
    pub fn shed_count(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// Connections refused so far (every slot had a request in flight).
    pub fn refused_count(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn request_started(&self, id: u64) {
        let mut inner = self.lock();
        let Some(entry) = inner.live.get_mut(&id) else { return };
        entry.busy += 1;
        if let Some(key) = entry.waiting_since.take() {
            inner.waiting.remove(&key);
        }
    }

    fn request_ended(&self, id: u64) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let key = inner.next;
        let Some(entry) = inner.live.get_mut(&id) else { return };
        entry.busy = entry.busy.saturating_sub(1);
        if entry.busy == 0 && !entry.pinned && entry.waiting_since.is_none() {
            entry.waiting_since = Some(key);
            inner.waiting.insert(key, id);
            inner.next += 1;
        }
    }

    fn pin(&self, id: u64) {
        let mut inner = self.lock();
        let Some(entry) = inner.live.get_mut(&id) else { return };
        entry.pinned = true;
        if let Some(key) = entry.waiting_since.take() {
            inner.waiting.remove(&key);
        }
    }

    fn release(&self, id: u64) {
        let mut inner = self.lock();
        if let Some(entry) = inner.live.remove(&id) {
            if let Some(key) = entry.waiting_since {
                inner.waiting.remove(&key);
            }
        }
    }
}

/// One admitted connection's place; the place is given back when the last
/// clone is dropped (with the connection's socket, upgraded ones included).
#[derive(Debug, Clone)]
pub struct Slot(Arc<SlotShared>);

#[derive(Debug)]
struct SlotShared {
    slots: Arc<Slots>,
    id: u64,
    close: CancellationToken,
}

impl Drop for SlotShared {
    fn drop(&mut self) {
        self.slots.release(self.id);
    }
}

impl Slot {
    /// Resolves when the connection was shed to make room.
    pub fn shed(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.0.close.cancelled()
    }

    /// Marks a request in flight until the returned guard is dropped.
    fn request(&self) -> InFlight {
        self.0.slots.request_started(self.0.id);
        InFlight(self.clone())
    }
}

/// A request in flight; dropped with its response body.
struct InFlight(Slot);

impl InFlight {
    /// The connection is upgraded: it is never shed.
    fn pin(&self) {
        self.0 .0.slots.pin(self.0 .0.id);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0 .0.slots.request_ended(self.0 .0.id);
    }
}

/// A socket holding its slot: the slot is given back when the socket is
/// closed, also when an upgrade took it away from hyper.
struct Held {
    stream: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Held {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Held {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Answers a connection over the cap with 503 (without waiting for the
/// client) and closes it.
fn refuse(stream: &TcpStream, what: &str) {
    let detail = format!("{what} has too many connections with requests in flight; retry later");
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nretry-after: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{detail}\n",
        detail.len() + 1
    );
    let _ = stream.try_write(response.as_bytes());
}

/// Serves HTTP/1.1 on `listener` with `handler` under `limits` until
/// `shutdown` resolves; then stops accepting, closes idle connections,
/// and returns once every connection has finished its request (the
/// caller bounds that wait). `what` names the listener in logs.
pub async fn serve<H, Fut, B>(
    listener: TcpListener,
    limits: ListenLimits,
    what: &'static str,
    handler: H,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<TimedBody>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let slots = Slots::new(limits.max_connections);
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    tokio::pin!(shutdown);
    let mut last_warning: Option<std::time::Instant> = None;
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors, usually: back off instead of spinning.
                    tracing::warn!(%err, "{what}: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = slots.admit() else {
            refuse(&stream, what);
            drop(stream);
            if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                last_warning = Some(std::time::Instant::now());
                tracing::warn!(
                    max_connections = limits.max_connections,
                    refused = slots.refused_count(),
                    "{what}: every connection has a request in flight; refusing new ones with 503"
                );
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Held {
            stream,
            _slot: slot.clone(),
        });
        let handler = handler.clone();
        let request_slot = slot.clone();
        let body_timeout = limits.body_timeout;
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let in_flight = request_slot.request();
            let mut stalled = None;
            let request = request.map(|body| {
                let (body, flag) = TimedBody::new(body, body_timeout);
                stalled = Some(flag);
                body
            });
            let response = handler(request, peer);
            async move {
                let response = response.await;
                if stalled.is_some_and(|s| s.load(Ordering::Relaxed)) {
                    // Whatever the handler made of the failed read, the
                    // client is told why, and the connection closes.
                    tracing::debug!(?body_timeout, "{what}: request body stalled; answering 408");
                    let response = stalled_response(body_timeout).map(move |body| {
                        http_body_util::Either::Right(body.map_frame(move |frame| {
                            let _ = &in_flight;
                            frame
                        }))
                    });
                    return Ok::<_, std::convert::Infallible>(response);
                }
                if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                    in_flight.pin();
                }
                // The request stays in flight until its body is sent.
                let response = response.map(move |body| {
                    http_body_util::Either::Left(body.map_frame(move |frame| {
                        let _ = &in_flight;
                        frame
                    }))
                });
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(io, service)
            .with_upgrades();
        let stop = stop.clone();
        tracker.spawn(async move {
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                () = slot.shed() => return,
                () = stop.cancelled() => {}
            }
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                _ = connection => {}
                () = slot.shed() => {}
            }
        });
    }
    drop(listener);
    stop.cancel();
    tracker.close();
    tracker.wait().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_listener_sheds_the_longest_waiting_connection_never_a_busy_one() {
        let slots = Slots::new(2);
        let a = slots.admit().unwrap();
        let b = slots.admit().unwrap();
        let busy = a.request();
        // Full: b waits for a head, a has a request in flight.
        let c = slots.admit().unwrap();
        assert!(b.0.close.is_cancelled());
        assert!(!a.0.close.is_cancelled());
        assert_eq!(slots.live(), 2);
        let busy_c = c.request();
        // Every slot busy: refused.
        assert!(slots.admit().is_none());
        assert_eq!(slots.refused_count(), 1);
        // a's response ends: it waits for its next head, and is shed next.
        drop(busy);
        let d = slots.admit().unwrap();
        assert!(a.0.close.is_cancelled());
        assert!(!c.0.close.is_cancelled());
        drop(busy_c);
        // An upgraded connection is never shed.
        let pinned = d.request();
        pinned.pin();
        drop(pinned);
        let e = slots.admit().unwrap();
        assert!(c.0.close.is_cancelled());
        assert!(!d.0.close.is_cancelled());
        drop((b, c, e));
        assert_eq!(slots.live(), 1);
        drop(d);
        drop(a);
        assert_eq!(slots.live(), 0);
    }
}
