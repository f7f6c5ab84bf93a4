//! Threat-model row 45: the phantom tokens a session exec mints for its
//! jail are revoked the moment the exec ends, however it ends (exit,
//! failure, timeout, cancel, streamed or not), and a request still
//! streaming with one is cut. A jail that leaks its token (prints it,
//! writes it to a workspace, sends it anywhere) leaks nothing that works
//! after the jail is gone. The real `paddock serve`, real jails, and a real
//! upstream on 127.0.0.1 that records what reaches it.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

mod support;

use support::upstream::Upstream;
use support::*;

/// A server whose `openai` service points at `upstream`, with a key for
/// tenant t1 and one session of it for `openai`.
fn setup(upstream: &Upstream, dir: &Path) -> (Server, String, String) {
    let spec = format!("openai={}", upstream.url());
    let server = Server::start(dir, &[("PADDOCK_API_KEYS", &keys())], &["--service", &spec]);
    let session = session_for(&server, "openai", "sk-real-key");
    let id = session["id"].as_str().expect("session id").to_owned();
    let token = session["env"]["OPENAI_API_KEY"].as_str().expect("token").to_owned();
    (server, id, token)
}

/// A request through the phantom proxy with `token`.
fn through(server: &Server, path: &str, token: &str) -> reqwest::blocking::Response {
    client()
        .get(format!("http://{}{path}", server.proxy))
        .bearer_auth(token)
        .send()
        .expect("the proxy answers")
}

/// The token a jail printed on its first stdout line.
fn printed_token(stdout: &str) -> String {
    let token = stdout.lines().next().unwrap_or_default().trim().to_owned();
    assert!(
        token.starts_with("phm_"),
        "the jail did not print its token: {stdout:?}"
    );
    token
}

/// Asserts that `token` is refused as revoked and that the upstream
/// received nothing more than it had.
fn assert_revoked(server: &Server, upstream: &Upstream, token: &str, what: &str) {
    let before = upstream.seen().len();
    let response = through(server, "/v1/openai/v1/models", token);
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
    assert_eq!(response.headers()["x-paddock-phantom"], "unknown_token", "{what}");
    let body = response.text().unwrap_or_default();
    assert!(body.contains("revoked"), "{what}: {body}");
    assert_eq!(
        upstream.seen().len(),
        before,
        "{what}: a request with an ended exec's token reached the upstream: {:?}",
        upstream.seen()
    );
}

/// A streamed exec, read as it arrives.
struct ExecStream {
    reader: BufReader<reqwest::blocking::Response>,
    run_id: i64,
}

impl ExecStream {
    fn start(server: &Server, session: &str, body: Value) -> ExecStream {
        let response = client()
            .post(format!("{}/v1/sessions/{session}/exec/stream", server.url))
            .bearer_auth(OP1_TOKEN)
            .json(&body)
            .send()
            .expect("exec stream");
        assert_eq!(response.status(), 200);
        let run_id = response.headers()["x-paddock-run-id"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        ExecStream {
            reader: BufReader::new(response),
            run_id,
        }
    }

    /// The next event as `(name, data)`, `None` at the end of the stream.
    fn next(&mut self) -> Option<(String, String)> {
        let (mut name, mut data) = (None, Vec::new());
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).unwrap_or(0) == 0 {
                return None;
            }
            let line = line.trim_end_matches('\n');
            if line.is_empty() {
                if let Some(name) = name.take() {
                    return Some((name, data.join("\n")));
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("event:") {
                name = Some(rest.trim().to_owned());
            } else if let Some(rest) = line.strip_prefix("data:") {
                data.push(rest.strip_prefix(' ').unwrap_or(rest).to_owned());
            }
        }
    }

    /// The data of the next event named `wanted`, skipping others.
    fn until(&mut self, wanted: &str) -> String {
        loop {
            match self.next() {
                Some((name, data)) if name == wanted => return data,
                Some(_) => {}
                None => panic!("the stream ended before a {wanted} event"),
            }
        }
    }
}

/// Prints the exec's own token, then does `then`.
fn printing_token(then: &str) -> Value {
    json!({"cmd": "sh", "args": ["-c", format!("echo \"$OPENAI_API_KEY\"; {then}")], "timeout_secs": 60})
}

#[test]
fn row45_an_execs_tokens_are_revoked_when_it_ends_however_it_ends() {
    let upstream = Upstream::start();
    let dir = tempdir();
    let (server, session, session_token) = setup(&upstream, dir.path());
    let exec = |body: Value| {
        let (status, result) = call(
            &server,
            "POST",
            &format!("/v1/sessions/{session}/exec"),
            Some(OP1_TOKEN),
            Some(body),
        );
        assert_eq!(status, 200, "{result}");
        result
    };

    // Succeeded: the token worked inside the jail, and not a moment after.
    let result = exec(printing_token(
        "curl -sS -o /dev/null -w '%{http_code}\\n' -H \"Authorization: Bearer $OPENAI_API_KEY\" \"$OPENAI_BASE_URL/models\"",
    ));
    assert_eq!(result["exit_code"], 0, "{result}");
    let stdout = result["stdout"].as_str().unwrap();
    assert!(
        stdout.ends_with("200\n"),
        "the token did not work inside the jail: {stdout}"
    );
    assert_eq!(upstream.seen().len(), 1);
    let token = printed_token(stdout);
    assert_ne!(token, session_token);
    assert_revoked(&server, &upstream, &token, "after a successful exec");

    // Failed, and timed out.
    let result = exec(printing_token("exit 3"));
    assert_eq!(result["exit_code"], 3, "{result}");
    assert_revoked(
        &server,
        &upstream,
        &printed_token(result["stdout"].as_str().unwrap()),
        "after a failed exec",
    );
    let mut body = printing_token("sleep 60");
    body["timeout_secs"] = json!(1);
    let result = exec(body);
    assert_eq!(result["timed_out"], true, "{result}");
    assert_revoked(
        &server,
        &upstream,
        &printed_token(result["stdout"].as_str().unwrap()),
        "after a timed-out exec",
    );

    // Streamed: revoked before the client sees `completed`.
    let mut stream = ExecStream::start(&server, &session, printing_token("exit 0"));
    let token = printed_token(&stream.until("stdout"));
    stream.until("completed");
    assert_revoked(&server, &upstream, &token, "after a streamed exec");

    // Cancelled mid-run.
    let mut stream = ExecStream::start(&server, &session, printing_token("sleep 60"));
    let token = printed_token(&stream.until("stdout"));
    let (status, body) = call(
        &server,
        "POST",
        &format!("/v1/runs/{}/cancel", stream.run_id),
        Some(OP1_TOKEN),
        None,
    );
    assert!(status.is_success(), "{status} {body}");
    let completed: Value = serde_json::from_str(&stream.until("completed")).unwrap();
    assert_eq!(completed["cancelled"], true, "{completed}");
    assert_revoked(&server, &upstream, &token, "after a cancelled exec");

    // A client that goes away mid-run ends the jail, and the token with it.
    let mut stream = ExecStream::start(&server, &session, printing_token("sleep 60"));
    let token = printed_token(&stream.until("stdout"));
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(10);
    while through(&server, "/v1/openai/v1/models", &token).status() != StatusCode::UNAUTHORIZED {
        assert!(Instant::now() < deadline, "the token of an abandoned exec still works");
        std::thread::sleep(Duration::from_millis(100));
    }
    upstream_seen_is_unchanged_after(&server, &upstream, &token);

    // The session itself, and its own token, are untouched.
    let response = through(&server, "/v1/openai/v1/models", &session_token);
    assert_eq!(response.status(), 200);
    assert_eq!(
        upstream.seen().last().unwrap().header("authorization"),
        Some("Bearer sk-real-key")
    );
}

/// After the token is refused once, it stays refused and reaches nothing.
fn upstream_seen_is_unchanged_after(server: &Server, upstream: &Upstream, token: &str) {
    assert_revoked(server, upstream, token, "after an abandoned exec");
}

#[test]
fn row45_a_stream_open_with_an_execs_token_is_cut_when_the_exec_ends() {
    let upstream = Upstream::start();
    let dir = tempdir();
    let (server, session, _) = setup(&upstream, dir.path());
    // The jail hands its token out and lives on for a while.
    let mut exec = ExecStream::start(&server, &session, printing_token("sleep 3"));
    let token = printed_token(&exec.until("stdout"));
    // Someone outside opens a long stream with it while the jail runs.
    let response = through(&server, "/v1/openai/v1/sse", &token);
    assert_eq!(response.status(), 200);
    let mut reader = BufReader::new(response);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "data: first\n");
    // The jail ends; only then may the upstream send more.
    exec.until("completed");
    upstream.release();
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        !rest.contains("second"),
        "the stream outlived the exec its token was made for: {rest:?}"
    );
    assert_revoked(&server, &upstream, &token, "after the exec the stream belonged to");
}
