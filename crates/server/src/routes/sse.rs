//! A streamed jail as Server-Sent Events: `started`, `stdout`, `stderr`,
//! `stats` (every 500 ms), `egress` (allowlist mode), then exactly one
//! `completed` or `error`. The same events serve runs, session execs and
//! workspace execs.
//!
//! Output has two framings:
//! - **lines** (default, agentjail's): one event per line, `data` the bare
//!   line without its `\n` (and a `\r` before it). A blank line is an
//!   event with empty data. A `\r` inside a line (a progress bar redrawing
//!   itself) splits the data into several data lines, which clients join
//!   with `\n`, so no text is lost (SSE cannot carry a bare `\r`). Invalid
//!   UTF-8 is replaced with U+FFFD.
//! - **chunks** (`?output=chunks`): one event per chunk as the jail wrote
//!   it, `data` a JSON object `{"text": ...}` holding the exact bytes, or
//!   `{"base64": ...}` for bytes that are not UTF-8. Byte-exact.
//!
//! A client that goes away ends the jail (its ledger row closes as
//! `cancelled`).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use base64::Engine as _;
use paddock_jail::{JailEvent, JailResult};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::services::jails::{exec_result, shutdown_error, JailStream};

/// Largest line event; longer lines are sent in pieces.
const MAX_LINE: usize = 64 << 10;

/// `?output=lines|chunks` of streaming routes.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutputFraming {
    /// One event per line (agentjail's framing).
    #[default]
    Lines,
    /// One event per chunk, byte-exact, as JSON.
    Chunks,
}

/// `?output=` of streaming routes.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// `lines` (default) or `chunks` (byte-exact JSON events).
    #[param(inline)]
    pub output: Option<OutputFraming>,
    /// Admins: the tenant to act for.
    pub tenant: Option<String>,
}

/// A comment line sent while nothing else is, so proxies keep the
/// connection open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One encoded SSE event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event(Bytes);

impl Event {
    /// `event: NAME` and one `data:` line per line of `data` (SSE joins
    /// them back with `\n`). Unlike a generic SSE writer, an empty `data`
    /// still gets its `data:` line, as agentjail sends a blank output line.
    fn new(name: &str, data: &str) -> Event {
        let mut out = String::with_capacity(name.len() + data.len() + 16);
        out.push_str("event: ");
        out.push_str(name);
        out.push('\n');
        for line in data.split('\n') {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        Event(Bytes::from(out))
    }
}

/// The SSE response of a streamed jail, with its id in `x-paddock-run-id`.
pub fn respond(stream: JailStream, framing: OutputFraming) -> Response {
    let id = stream.id;
    let (tx, rx) = mpsc::channel::<Event>(64);
    tokio::spawn(forward(stream, framing, tx));
    let events = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) });
    let mut response = events_response(events);
    response.headers_mut().insert("x-paddock-run-id", HeaderValue::from(id));
    response
}

/// An SSE response sending `events` until their sender goes, with a
/// keep-alive comment while nothing else is sent.
pub fn events_response<S>(events: S) -> Response
where
    S: futures_util::Stream<Item = Event> + Send + 'static,
{
    use futures_util::StreamExt as _;
    let body = futures_util::stream::unfold(Box::pin(events), |mut events| async move {
        let bytes = tokio::select! {
            event = events.next() => event?.0,
            () = tokio::time::sleep(KEEP_ALIVE) => Bytes::from_static(b":\n\n"),
        };
        Some((Ok::<_, Infallible>(bytes), events))
    });
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Turns the jail's events into SSE events until the jail ends; a client
/// that goes away cancels the jail.
async fn forward(stream: JailStream, framing: OutputFraming, tx: mpsc::Sender<Event>) {
    let JailStream {
        id,
        mut events,
        slot,
        ledger,
    } = stream;
    let _slot = slot;
    let mut stdout = Framer::new("stdout", framing);
    let mut stderr = Framer::new("stderr", framing);
    let mut outcome: Option<Result<JailResult, String>> = None;
    let mut killed_at_shutdown = false;
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            () = tx.closed() => {
                // The client is gone: kill the jail; its row says why.
                ledger.cancel_token().cancel();
                // Drain to the end so the row gets the real result.
                while let Some(event) = events.recv().await {
                    match event {
                        JailEvent::Completed(result) => outcome = Some(Ok(result)),
                        JailEvent::Failed(err) => outcome = Some(Err(err.to_string())),
                        _ => {}
                    }
                }
                break;
            }
        };
        let Some(event) = event else { break };
        let out = match event {
            JailEvent::Started { pid } => vec![json_event("started", serde_json::json!({ "pid": pid, "id": id }))],
            JailEvent::Stdout(bytes) => stdout.push(&bytes),
            JailEvent::Stderr(bytes) => stderr.push(&bytes),
            JailEvent::Stats(stats) => vec![json_event("stats", serde_json::json!(stats))],
            JailEvent::Egress(record) => vec![json_event("egress", serde_json::json!(record))],
            JailEvent::Completed(ref result) if ledger.killed_at_shutdown(Some(result)) => {
                killed_at_shutdown = true;
                shutdown_end(&mut stdout, &mut stderr)
            }
            JailEvent::Failed(_) if ledger.killed_at_shutdown(None) => {
                killed_at_shutdown = true;
                shutdown_end(&mut stdout, &mut stderr)
            }
            JailEvent::Completed(result) => {
                let cancelled = ledger.is_cancelled();
                let mut out = stdout.finish();
                out.extend(stderr.finish());
                out.push(json_event("completed", completed_json(id, &result, cancelled)));
                outcome = Some(Ok(result));
                out
            }
            JailEvent::Failed(err) => {
                let mut out = stdout.finish();
                out.extend(stderr.finish());
                out.push(json_event("error", serde_json::json!({ "message": err.to_string() })));
                outcome = Some(Err(err.to_string()));
                out
            }
        };
        for event in out {
            if tx.send(event).await.is_err() {
                ledger.cancel_token().cancel();
            }
        }
    }
    if killed_at_shutdown {
        ledger.close_killed_at_shutdown().await;
        return;
    }
    let cancelled = ledger.is_cancelled();
    let outcome = outcome.unwrap_or_else(|| Err("the stream ended early".into()));
    ledger.close(outcome.as_ref().map_err(Clone::clone), cancelled).await;
}

/// The last events of a jail the shutdown killed: its pending output and
/// one `error` event with the `SHUTTING_DOWN` code.
fn shutdown_end(stdout: &mut Framer, stderr: &mut Framer) -> Vec<Event> {
    let mut out = stdout.finish();
    out.extend(stderr.finish());
    let err = shutdown_error();
    out.push(json_event(
        "error",
        serde_json::json!({ "message": err.message, "code": err.code.as_str() }),
    ));
    out
}

/// Event `name` with `data` as JSON.
pub fn json_event(name: &str, data: serde_json::Value) -> Event {
    Event::new(name, &data.to_string())
}

/// `{id, exit_code, duration_ms, timed_out, oom_killed, stdout_truncated,
/// stderr_truncated, cancelled, ...stats}`.
fn completed_json(id: i64, result: &JailResult, cancelled: bool) -> serde_json::Value {
    let wire = exec_result(id, result, cancelled);
    let mut json = serde_json::json!({
        "id": id,
        "exit_code": wire.exit_code,
        "duration_ms": wire.duration_ms,
        "timed_out": wire.timed_out,
        "oom_killed": wire.oom_killed,
        "stdout_truncated": wire.stdout_truncated,
        "stderr_truncated": wire.stderr_truncated,
        "cancelled": cancelled,
        "egress_refusals": wire.egress_refusals,
    });
    if let (Some(stats), Some(map)) = (wire.stats, json.as_object_mut()) {
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(stats) {
            map.extend(fields);
        }
    }
    json
}

/// Frames one output stream's bytes into events.
struct Framer {
    name: &'static str,
    framing: OutputFraming,
    /// Bytes not sent yet: a line without its end, or the start of a
    /// UTF-8 character split across chunks.
    pending: Vec<u8>,
}

impl Framer {
    fn new(name: &'static str, framing: OutputFraming) -> Framer {
        Framer {
            name,
            framing,
            pending: Vec::new(),
        }
    }

    fn push(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.pending.extend_from_slice(bytes);
        match self.framing {
            OutputFraming::Lines => self.lines(false),
            OutputFraming::Chunks => self.chunk(false),
        }
    }

    /// What is left at the end of the stream.
    fn finish(&mut self) -> Vec<Event> {
        match self.framing {
            OutputFraming::Lines => self.lines(true),
            OutputFraming::Chunks => self.chunk(true),
        }
    }

    fn lines(&mut self, end: bool) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(newline) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=newline).collect();
            events.push(self.line_event(&line[..line.len() - 1]));
        }
        while self.pending.len() >= MAX_LINE {
            let cut = utf8_prefix(&self.pending[..MAX_LINE]).max(1);
            let piece: Vec<u8> = self.pending.drain(..cut).collect();
            events.push(self.line_event(&piece));
        }
        if end && !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            events.push(self.line_event(&rest));
        }
        events
    }

    fn line_event(&self, line: &[u8]) -> Event {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = String::from_utf8_lossy(line);
        // SSE data cannot hold a bare `\r`: each `\r` starts a new data
        // line, which clients join with `\n`.
        Event::new(self.name, &text.replace('\r', "\n"))
    }

    fn chunk(&mut self, end: bool) -> Vec<Event> {
        let keep = if end {
            self.pending.len()
        } else {
            utf8_prefix(&self.pending)
        };
        if keep == 0 {
            return Vec::new();
        }
        let bytes: Vec<u8> = self.pending.drain(..keep).collect();
        let data = match std::str::from_utf8(&bytes) {
            Ok(text) => serde_json::json!({ "text": text }),
            Err(_) => serde_json::json!({ "base64": base64::engine::general_purpose::STANDARD.encode(&bytes) }),
        };
        vec![json_event(self.name, data)]
    }
}

/// Length of `bytes` without a trailing incomplete UTF-8 sequence.
fn utf8_prefix(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(err) if err.error_len().is_none() => err.valid_up_to(),
        Err(_) => bytes.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(events: &[Event]) -> String {
        events
            .iter()
            .map(|e| String::from_utf8_lossy(&e.0).into_owned())
            .collect()
    }

    #[test]
    fn utf8_prefix_holds_back_a_split_character_only() {
        let euro = "€".as_bytes();
        assert_eq!(utf8_prefix(&euro[..2]), 0);
        assert_eq!(utf8_prefix(euro), 3);
        assert_eq!(utf8_prefix(&[0xff, b'a']), 2);
    }

    #[test]
    fn lines_keep_blank_lines_and_text_before_carriage_returns() {
        let mut framer = Framer::new("stdout", OutputFraming::Lines);
        let mut events = framer.push(b"a\n\n10%\r50%\r100%\nwin\r\nta");
        events.extend(framer.push(b"il"));
        events.extend(framer.finish());
        assert_eq!(
            wire(&events),
            "event: stdout\ndata: a\n\n\
             event: stdout\ndata: \n\n\
             event: stdout\ndata: 10%\ndata: 50%\ndata: 100%\n\n\
             event: stdout\ndata: win\n\n\
             event: stdout\ndata: tail\n\n"
        );
    }
}
