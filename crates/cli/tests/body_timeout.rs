//! Request bodies without a deadline (issue 14; threat-model row 35): a
//! client sends a request head with a large `Content-Length`, a few bytes
//! of body, and stalls, holding a connection, a task and a handler waiting
//! for the rest. Against the real `paddock serve` with `--body-timeout 2s`,
//! such a request to an authenticated API route and through the phantom
//! proxy (relaying the body upstream) is answered 408 and closed within
//! the timeout and some slack; a body that keeps trickling (a byte every
//! 500 ms for 5 s, longer than the timeout in all) is never cut.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

mod support;

use support::upstream::Upstream;
use support::*;

const BODY_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound on the answer to a stalled body: the timeout plus generous slack
/// for a loaded two-core machine.
const BOUND: Duration = Duration::from_secs(10);

fn server_for(upstream: &Upstream, state_dir: &Path) -> Server {
    let service = format!("openai={}", upstream.url());
    let timeout = format!("{}s", BODY_TIMEOUT.as_secs());
    Server::start(
        state_dir,
        &[("PADDOCK_API_KEYS", &keys())],
        &["--service", &service, "--body-timeout", &timeout],
    )
}

/// Opens a connection to `addr` and sends the head of a `POST target`
/// with `authorization` (if any) and `content_length`, then `first`.
fn open(addr: &str, target: &str, authorization: Option<&str>, content_length: usize, first: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: paddock\r\n{auth}Content-Type: application/json\r\nContent-Length: {content_length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(first).expect("first bytes");
    stream
}

/// Reads until the server closes `stream` or `limit` passes; returns what
/// it answered and whether it closed.
fn read_answer(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let deadline = Instant::now() + limit;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (String::from_utf8_lossy(&answer).into_owned(), false);
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&answer).into_owned(), true),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            // Reset: closed too.
            Err(_) => return (String::from_utf8_lossy(&answer).into_owned(), true),
        }
    }
}

/// Sends 10 bytes of a 1 000 000-byte body and stalls; asserts the server
/// answers `want` (a status line prefix) and closes within [`BOUND`].
fn stall(what: &str, addr: &str, target: &str, authorization: Option<&str>, want: &str) {
    let started = Instant::now();
    let mut stream = open(addr, target, authorization, 1_000_000, b"{\"code\": \"");
    let (answer, closed) = read_answer(&mut stream, BOUND);
    let waited = started.elapsed();
    eprintln!("FIGURE body_stall_{what}_ms={}", waited.as_millis());
    assert!(
        closed,
        "{what}: a stalled body held the connection for {waited:?} (body timeout {BODY_TIMEOUT:?}); answered so far: {answer:?}"
    );
    assert!(answer.starts_with(want), "{what}: answered {answer:?}, wanted {want}");
}

/// Sends `head_part` at once, then `trickled` a byte every 500 ms; returns
/// the answer (the server must not close before it is complete).
fn trickle(addr: &str, target: &str, authorization: &str, head_part: &[u8], trickled: &[u8]) -> String {
    let started = Instant::now();
    let mut stream = open(
        addr,
        target,
        Some(authorization),
        head_part.len() + trickled.len(),
        head_part,
    );
    for byte in trickled {
        std::thread::sleep(Duration::from_millis(500));
        stream
            .write_all(std::slice::from_ref(byte))
            .unwrap_or_else(|e| panic!("{target}: cut after {:?} while the body flowed: {e}", started.elapsed()));
    }
    assert!(
        started.elapsed() > 2 * BODY_TIMEOUT,
        "the trickle must outlast the timeout"
    );
    // Answered whole, then kept alive: read up to the end of the JSON body.
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    loop {
        let n = stream.read(&mut buf).expect("answer");
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|n| n.trim().parse::<usize>().ok());
            if len.is_some_and(|len| body.len() >= len) {
                break;
            }
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn stalled_request_bodies_are_answered_408_and_closed_and_flowing_ones_are_not_cut() {
    let upstream = Upstream::start();
    let dir = tempdir();
    let server = server_for(&upstream, dir.path());
    let api = server.url.trim_start_matches("http://").to_owned();
    let session = session_for(&server, "openai", "sk-1");
    let phantom = format!("Bearer {}", session["env"]["OPENAI_API_KEY"].as_str().unwrap());
    let operator = format!("Bearer {OP1_TOKEN}");

    // A handler reading the body (the run's JSON), and the proxy relaying
    // one upstream: both cut at the body timeout with a 408.
    stall("api", &api, "/v1/runs", Some(&operator), "HTTP/1.1 408");
    stall(
        "proxy",
        &server.proxy,
        "/v1/openai/v1/files",
        Some(&phantom),
        "HTTP/1.1 408",
    );
    // Refused before the body is read: answered at once, and closed.
    stall("unauthenticated", &api, "/v1/runs", None, "HTTP/1.1 401");
    // (The proxy streams a body upstream as it arrives: the upstream saw
    // the stalled request begin, and its body cut short.)

    // Bodies that keep flowing, slower than a byte per timeout in all,
    // arrive whole.
    let answer = trickle(
        &api,
        "/v1/runs",
        &operator,
        b"{\"language\": \"bash\", \"code\": \"echo ",
        b"trickled\"}",
    );
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let json: Value = serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(json["stdout"], "trickled\n", "{json}");

    let answer = trickle(&server.proxy, "/v1/openai/v1/files", &phantom, b"", b"0123456789");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = upstream.seen().pop().expect("the trickled body reached the upstream");
    assert_eq!(seen.body_len, 10);
    assert_eq!(seen.body_hash, blake3::hash(b"0123456789").to_hex().to_string());

    // The server is still fine.
    let (status, _) = call(&server, "GET", "/v1/jails", Some(OP1_TOKEN), None);
    assert_eq!(status, 200);
}
