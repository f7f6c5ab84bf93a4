//! A real HTTP/1.1 upstream on 127.0.0.1 (hyper, its own runtime thread)
//! that records every request it receives: method, target, headers, and
//! the body's length and BLAKE3 hash. What it answers depends on the path:
//! - `.../big/<n>`: `n` bytes of a fixed pattern, streamed in 64 KiB chunks;
//! - `.../sse`: one SSE event, then a second only after [`Upstream::release`];
//! - anything else: `{"ok": true, "path": ...}` with status 200.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query as received.
    pub target: String,
    /// Header names in lower case, in order.
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
    pub body_hash: String,
}

impl Seen {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every header as one text, for "the token appears nowhere" checks.
    pub fn all_headers(&self) -> String {
        self.headers.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
    }
}

/// The running upstream.
pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    gate: Arc<Notify>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// The byte at `i` of a `/big/<n>` body.
pub fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

impl Upstream {
    pub fn start() -> Upstream {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind upstream");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Notify::new());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (log, release) = (seen.clone(), gate.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                tokio::pin!(rx);
                loop {
                    let stream = tokio::select! {
                        _ = &mut rx => break,
                        accepted = listener.accept() => match accepted { Ok((s, _)) => s, Err(_) => continue },
                    };
                    let (log, release) = (log.clone(), release.clone());
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| respond(req, log.clone(), release.clone()));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Upstream {
            addr,
            seen,
            gate,
            _shutdown: tx,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Lets a waiting `/sse` response send its second event.
    pub fn release(&self) {
        self.gate.notify_one();
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn respond(
    request: Request<Incoming>,
    log: Arc<Mutex<Vec<Seen>>>,
    gate: Arc<Notify>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = request.into_parts();
    let target = parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let mut hasher = blake3::Hasher::new();
    let mut body_len = 0;
    let mut body = body;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            hasher.update(&data);
            body_len += data.len();
        }
    }
    log.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        target: target.clone(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body_len,
        body_hash: hasher.finalize().to_hex().to_string(),
    });
    let path = parts.uri.path();
    if let Some(n) = path.rsplit_once("/big/").and_then(|(_, n)| n.parse::<usize>().ok()) {
        let chunks = (0..n.div_ceil(64 << 10)).map(move |c| {
            let start = c * (64 << 10);
            let end = (start + (64 << 10)).min(n);
            Ok::<_, Infallible>(Frame::data(Bytes::from((start..end).map(pattern).collect::<Vec<u8>>())))
        });
        let body = StreamBody::new(futures_util::stream::iter(chunks));
        return Ok(Response::builder()
            .header("content-type", "application/octet-stream")
            .body(BodyExt::boxed(body))
            .unwrap());
    }
    if path.ends_with("/sse") {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
        tokio::spawn(async move {
            let _ = tx.send(Ok(Frame::data(Bytes::from_static(b"data: first\n\n")))).await;
            gate.notified().await;
            let _ = tx.send(Ok(Frame::data(Bytes::from_static(b"data: second\n\n")))).await;
        });
        let body = StreamBody::new(tokio_stream_from(rx));
        return Ok(Response::builder()
            .header("content-type", "text/event-stream")
            .header("cache-control", "no-cache")
            .body(BodyExt::boxed(body))
            .unwrap());
    }
    let json = serde_json::json!({ "ok": true, "path": target }).to_string();
    Ok(Response::builder()
        .header("content-type", "application/json")
        .header("x-upstream", "recorded")
        .body(Full::new(Bytes::from(json)).boxed())
        .unwrap())
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + Sync + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
