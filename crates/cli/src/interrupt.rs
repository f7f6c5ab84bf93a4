//! Ctrl-C during a client command.
//!
//! The process exits at once with status 130, which closes its connection:
//! the server treats a dropped connection as a cancel. When a response
//! named its run (the `x-paddock-run-id` header, sent with the headers of a
//! stream), paddock first asks the server to cancel that run, with a short
//! timeout so that an unresponsive server cannot keep it from exiting.
//!
//! SIGINT is blocked in the main thread before any other thread starts
//! (every thread inherits the mask, reqwest's runtime thread included) and
//! one thread waits for it with `sigwait`, so nothing has to happen inside
//! a signal handler.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::pipe::errln;

/// The exit status after Ctrl-C (128 + SIGINT).
pub const EXIT_INTERRUPTED: i32 = 128 + libc::SIGINT;
/// The response header naming the run a request started.
pub const RUN_ID_HEADER: &str = "x-paddock-run-id";
/// The longest the cancel request may take.
pub const CANCEL_TIMEOUT: Duration = Duration::from_secs(2);

/// The run to cancel on Ctrl-C, and how to reach its server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelTarget {
    pub base_url: String,
    pub api_key: Option<String>,
    pub run_id: String,
}

static TARGET: Mutex<Option<CancelTarget>> = Mutex::new(None);

fn target() -> std::sync::MutexGuard<'static, Option<CancelTarget>> {
    TARGET.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The run id a response names, if it is a plausible id (it becomes a
/// path segment, so nothing but letters, digits, `_` and `-`).
pub fn run_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(RUN_ID_HEADER)?.to_str().ok()?.trim();
    let plausible = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    plausible.then(|| value.to_owned())
}

/// Remembers the run a response names (if any) as the one to cancel.
pub fn watch(base_url: &str, api_key: Option<&str>, headers: &HeaderMap) {
    if let Some(run_id) = run_id(headers) {
        *target() = Some(CancelTarget {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.map(str::to_owned),
            run_id,
        });
    }
}

/// The run ended: nothing to cancel any more.
pub fn forget() {
    *target() = None;
}

/// The run Ctrl-C would cancel now.
#[cfg(test)]
pub fn pending() -> Option<CancelTarget> {
    target().clone()
}

/// `POST /v1/runs/{id}/cancel`; the HTTP status, or why it failed.
pub fn cancel_run(target: &CancelTarget, timeout: Duration) -> Result<u16, String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let mut request = client.post(format!("{}/v1/runs/{}/cancel", target.base_url, target.run_id));
    if let Some(key) = &target.api_key {
        request = request.bearer_auth(key);
    }
    request
        .send()
        .map(|response| response.status().as_u16())
        .map_err(|e| crate::client::describe_error(&target.base_url, &e))
}

/// Makes Ctrl-C exit with status 130 (after cancelling the watched run).
/// Call it before any thread starts.
pub fn install() {
    install_handler(interrupted);
}

/// Blocks SIGINT in this thread (and so in the threads it starts later)
/// and runs `on_interrupt` on a thread of its own for each one. Call it
/// before any thread starts.
pub fn install_handler(on_interrupt: fn() -> !) {
    // SAFETY: plain libc calls on a local signal set; the mask applies to
    // this thread and is inherited by the threads it starts later.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return;
        }
        set
    };
    let waiter = std::thread::Builder::new()
        .name("paddock-sigint".into())
        .spawn(move || loop {
            let mut signal = 0;
            // SAFETY: `set` is a valid signal set, `signal` a valid out
            // pointer.
            if unsafe { libc::sigwait(&set, &mut signal) } == 0 && signal == libc::SIGINT {
                on_interrupt();
            }
        });
    if waiter.is_err() {
        // No thread to wait for it: let SIGINT act as it did.
        // SAFETY: as above.
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    }
}

/// Set once Ctrl-C was pressed: a stream that ends meanwhile (because of
/// the cancel) exits as interrupted too.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether Ctrl-C was pressed.
pub fn was_interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

fn interrupted() -> ! {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(target) = target().take() {
        match cancel_run(&target, CANCEL_TIMEOUT) {
            Ok(status) if (200..300).contains(&status) => {
                errln!("paddock: interrupted; cancelled {}", target.run_id)
            }
            Ok(status) => errln!(
                "paddock: interrupted; cancelling {} answered HTTP {status}",
                target.run_id
            ),
            Err(why) => errln!("paddock: interrupted; could not cancel {}: {why}", target.run_id),
        }
    }
    std::process::exit(EXIT_INTERRUPTED)
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::time::Instant;

    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RUN_ID_HEADER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_run_id_comes_from_the_header_and_must_be_a_plain_id() {
        assert_eq!(run_id(&headers("run_0123abc")), Some("run_0123abc".into()));
        assert_eq!(run_id(&headers(" jail-9 ")), Some("jail-9".into()));
        assert_eq!(run_id(&HeaderMap::new()), None);
        for bad in ["", "../keys", "run/x", "run x", "run?x=1", "run%2f"] {
            assert_eq!(run_id(&headers(bad)), None, "{bad}");
        }
        assert_eq!(run_id(&headers(&"a".repeat(129))), None);
    }

    #[test]
    fn a_watched_response_is_the_one_cancelled_until_forgotten() {
        forget();
        watch("http://127.0.0.1:7000/", Some("key"), &HeaderMap::new());
        assert_eq!(pending(), None);
        watch("http://127.0.0.1:7000/", Some("key"), &headers("run_1"));
        assert_eq!(
            pending(),
            Some(CancelTarget {
                base_url: "http://127.0.0.1:7000".into(),
                api_key: Some("key".into()),
                run_id: "run_1".into(),
            })
        );
        forget();
        assert_eq!(pending(), None);
    }

    /// Accepts one connection, returns its request head, answers `answer`
    /// (or nothing, keeping the connection open, when `None`).
    fn one_request(answer: Option<&'static str>) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            match answer {
                Some(answer) => {
                    let _ = (&stream).write_all(answer.as_bytes());
                }
                None => std::thread::sleep(Duration::from_secs(5)),
            }
            head
        });
        (url, server)
    }

    #[test]
    fn cancel_posts_to_the_run_with_the_key() {
        let (url, server) = one_request(Some("HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"));
        let target = CancelTarget {
            base_url: url,
            api_key: Some("secret-key".into()),
            run_id: "run_42".into(),
        };
        assert_eq!(cancel_run(&target, CANCEL_TIMEOUT), Ok(202));
        let head = server.join().unwrap().to_ascii_lowercase();
        assert!(head.starts_with("post /v1/runs/run_42/cancel http/1.1\r\n"), "{head}");
        assert!(head.contains("authorization: bearer secret-key\r\n"), "{head}");
    }

    #[test]
    fn cancel_gives_up_after_its_timeout() {
        let (url, _server) = one_request(None);
        let target = CancelTarget {
            base_url: url,
            api_key: None,
            run_id: "run_1".into(),
        };
        let started = Instant::now();
        let err = cancel_run(&target, Duration::from_millis(300)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        assert!(err.contains("timed out"), "{err}");
    }

    #[test]
    fn cancel_against_nothing_says_why() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let target = CancelTarget {
            base_url: url.clone(),
            api_key: None,
            run_id: "run_1".into(),
        };
        let err = cancel_run(&target, CANCEL_TIMEOUT).unwrap_err();
        assert!(err.contains(&url) && err.contains("connection refused"), "{err}");
    }
}
