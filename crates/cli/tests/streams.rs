//! Runs as clients see them: output carried byte for byte (streams in both
//! framings, truncation flags), run ids, and every way a run is cancelled
//! (the API, a dropped stream, an aborted request, Ctrl-C in the CLI),
//! each leaving no running ledger row, no jail and the active gauge at
//! zero. The real binary on 127.0.0.1 with real jails.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

mod support;

use support::*;

fn stream_run(server: &Server, query: &str, code: &str) -> (reqwest::header::HeaderMap, Vec<(String, String)>) {
    let mut response = client()
        .post(format!("{}/v1/runs/stream{query}", server.url))
        .bearer_auth(OP1_TOKEN)
        .json(&json!({"code": code, "language": "bash", "timeout_secs": 60}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let mut text = String::new();
    response.read_to_string(&mut text).unwrap();
    (headers, parse_sse(&text))
}

/// Progress bars, blank lines, a Windows line end, no final newline.
const TRICKY: &str = r"printf 'a\n\n10%%\r50%%\r100%%\nwin\r\n'; printf 'err\n' >&2; printf tail";

#[test]
fn line_streams_keep_blank_lines_and_text_before_carriage_returns() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let (headers, events) = stream_run(&server, "", TRICKY);
    let stdout: Vec<&str> = events
        .iter()
        .filter(|(n, _)| n == "stdout")
        .map(|(_, d)| d.as_str())
        .collect();
    // A blank line is an event with an empty `data:` line (as agentjail
    // sends it), which every SSE parser delivers.
    let mut raw = String::new();
    client()
        .post(format!("{}/v1/runs/stream", server.url))
        .bearer_auth(OP1_TOKEN)
        .json(&json!({"code": "echo; echo x", "language": "bash"}))
        .send()
        .unwrap()
        .read_to_string(&mut raw)
        .unwrap();
    assert!(
        raw.contains("event: stdout\ndata: \n\nevent: stdout\ndata: x\n\n"),
        "{raw}"
    );
    // Each `\r` inside a line arrives as a line break within the event.
    assert_eq!(stdout, ["a", "", "10%\n50%\n100%", "win", "tail"], "{events:?}");
    assert!(events.iter().any(|(n, d)| n == "stderr" && d == "err"));
    let (name, completed) = events.last().unwrap();
    assert_eq!(name, "completed");
    let completed: Value = serde_json::from_str(completed).unwrap();
    let id = completed["id"].as_i64().unwrap();
    assert_eq!(headers["x-paddock-run-id"].to_str().unwrap(), id.to_string());
    assert!(completed["duration_ms"].is_u64(), "{completed}");
    assert_eq!(completed["stdout_truncated"], false);
}

#[test]
fn chunk_streams_are_byte_exact_including_invalid_utf8() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let code = format!(r"{TRICKY}; printf '\xff\xfe'; printf 'é€'");
    let (_, events) = stream_run(&server, "?output=chunks", &code);
    let mut stdout = Vec::new();
    for (name, data) in &events {
        if name != "stdout" {
            continue;
        }
        let chunk: Value = serde_json::from_str(data).unwrap();
        match (chunk["text"].as_str(), chunk["base64"].as_str()) {
            (Some(text), None) => stdout.extend_from_slice(text.as_bytes()),
            (None, Some(b64)) => stdout.extend(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()),
            _ => panic!("bad chunk {chunk}"),
        }
    }
    let mut expected = b"a\n\n10%\r50%\r100%\nwin\r\ntail".to_vec();
    expected.extend_from_slice(&[0xff, 0xfe]);
    expected.extend_from_slice("é€".as_bytes());
    assert_eq!(stdout, expected);
}

#[test]
fn capped_output_is_flagged_in_runs_and_streams() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let flood = "head -c 2097152 /dev/zero | tr '\\0' x; echo; echo done >&2";
    let response = client()
        .post(format!("{}/v1/runs", server.url))
        .bearer_auth(OP1_TOKEN)
        .json(&json!({"code": flood, "language": "bash"}))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let header_id: i64 = response.headers()["x-paddock-run-id"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let result: Value = response.json().unwrap();
    assert_eq!(result["id"], header_id);
    assert_eq!(result["stdout_truncated"], true);
    assert_eq!(result["stderr_truncated"], false);
    assert_eq!(result["stderr"], "done\n");
    assert!(result["duration_ms"].is_u64());
    let kept = result["stdout"].as_str().unwrap().len();
    assert!(kept > 0 && kept < 2 << 20, "{kept}");

    let (_, events) = stream_run(&server, "", flood);
    let completed: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert_eq!(completed["stdout_truncated"], true);
    let streamed: usize = events.iter().filter(|(n, _)| n == "stdout").map(|(_, d)| d.len()).sum();
    assert!(streamed <= kept, "streamed {streamed} bytes past the {kept}-byte cap");
}

/// Waits until ledger row `id` is no longer running; returns it.
fn closed_row(server: &Server, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, row) = call(server, "GET", &format!("/v1/jails/{id}"), Some(OP1_TOKEN), None);
        assert_eq!(status, StatusCode::OK, "{row}");
        if row["status"] != "running" {
            return row;
        }
        assert!(Instant::now() < deadline, "row {id} still running: {row}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether this host gives jails cgroups (root, or a delegated cgroup):
/// the server's tests run as root, where it always does.
fn paddock_has_cgroups() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The one running jail's ledger id, once it appears.
fn running_id(server: &Server) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, page) = call(server, "GET", "/v1/jails?status=running", Some(OP1_TOKEN), None);
        if let Some(id) = page["rows"][0]["id"].as_i64() {
            return id;
        }
        assert!(Instant::now() < deadline, "no running jail appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_idle(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, stats) = call(server, "GET", "/v1/stats", Some(OP1_TOKEN), None);
        if stats["active_execs"] == 0 {
            let (_, page) = call(server, "GET", "/v1/jails?status=running", Some(ADMIN_TOKEN), None);
            assert_eq!(page["total"], 0, "{page}");
            return;
        }
        assert!(Instant::now() < deadline, "active gauge stuck: {stats}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The cgroup directories of a jail's init (v1 controllers and v2), read
/// from `/proc/PID/cgroup`: the jail's own ones, named `jail-*`.
fn jail_cgroups(pid: i64) -> Vec<std::path::PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            if !path.contains("jail-") {
                return None;
            }
            let root = match controllers {
                "" if std::path::Path::new("/sys/fs/cgroup/unified").exists() => "/sys/fs/cgroup/unified".to_owned(),
                "" => "/sys/fs/cgroup".to_owned(),
                list => format!("/sys/fs/cgroup/{}", list.trim_start_matches("name=")),
            };
            Some(std::path::PathBuf::from(format!("{root}{path}")))
        })
        .filter(|dir| dir.exists())
        .collect()
}

fn pid_gone(pid: i64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn the_api_cancels_a_run_which_answers_with_its_result() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let url = server.url.clone();
    let run = std::thread::spawn(move || {
        client()
            .post(format!("{url}/v1/runs"))
            .bearer_auth(OP1_TOKEN)
            .json(&json!({"code": "echo before; sleep 60", "language": "bash", "timeout_secs": 120}))
            .send()
            .unwrap()
    });
    let id = running_id(&server);
    // Another tenant cannot see it, let alone cancel it.
    let (status, _) = call(&server, "POST", &format!("/v1/runs/{id}/cancel"), Some(OP2_TOKEN), None);
    assert_eq!(status, StatusCode::NOT_FOUND);
    let started = Instant::now();
    let (status, body) = call(&server, "POST", &format!("/v1/runs/{id}/cancel"), Some(OP1_TOKEN), None);
    assert_eq!(
        (status, &body),
        (StatusCode::ACCEPTED, &json!({"id": id, "cancelled": true}))
    );
    let response = run.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(response.status(), StatusCode::CREATED);
    let result: Value = response.json().unwrap();
    assert_eq!((result["id"].as_i64(), &result["cancelled"]), (Some(id), &json!(true)));
    assert_eq!(result["stdout"], "before\n");
    let row = closed_row(&server, id);
    assert_eq!(row["status"], "cancelled", "{row}");
    let (status, body) = call(&server, "POST", &format!("/v1/runs/{id}/cancel"), Some(OP1_TOKEN), None);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("RUN_FINISHED"))
    );
    let (status, _) = call(&server, "POST", "/v1/runs/999999/cancel", Some(OP1_TOKEN), None);
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_idle(&server);
}

#[test]
fn a_dropped_stream_kills_the_jail_and_closes_its_row() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let response = client()
        .post(format!("{}/v1/runs/stream", server.url))
        .bearer_auth(OP1_TOKEN)
        .json(&json!({"code": "sleep 60", "language": "bash", "timeout_secs": 120}))
        .send()
        .unwrap();
    let id: i64 = response.headers()["x-paddock-run-id"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut reader = BufReader::new(response);
    let mut pid = None;
    let mut line = String::new();
    while pid.is_none() && reader.read_line(&mut line).unwrap() > 0 {
        if let Some(data) = line.trim_end().strip_prefix("data: ") {
            pid = serde_json::from_str::<Value>(data).ok().and_then(|v| v["pid"].as_i64());
        }
        line.clear();
    }
    let pid = pid.expect("a started event with the jail's pid");
    let cgroups = jail_cgroups(pid);
    if paddock_has_cgroups() {
        assert!(!cgroups.is_empty(), "no jail cgroup found for {pid}");
    }
    drop(reader);
    let row = closed_row(&server, id);
    assert_eq!(row["status"], "cancelled", "{row}");
    assert!(pid_gone(pid), "the jail's init {pid} still runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    while cgroups.iter().any(|dir| dir.exists()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<_> = cgroups.iter().filter(|dir| dir.exists()).collect();
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
    assert_idle(&server);
}

#[test]
fn an_aborted_request_kills_the_jail_and_closes_its_row() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    // A client that gives up (an SDK call aborted by its signal).
    let aborted = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(1500))
        .build()
        .unwrap()
        .post(format!("{}/v1/runs", server.url))
        .bearer_auth(OP1_TOKEN)
        .json(&json!({"code": "sleep 60", "language": "bash", "timeout_secs": 120}))
        .send();
    assert!(aborted.is_err(), "the run should still be running");
    let (_, page) = call(&server, "GET", "/v1/jails?kind=run", Some(OP1_TOKEN), None);
    let id = page["rows"][0]["id"].as_i64().unwrap();
    let row = closed_row(&server, id);
    assert_eq!(row["status"], "cancelled", "{row}");
    assert_idle(&server);
}

#[test]
fn ctrl_c_in_the_cli_cancels_the_remote_run() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let mut cli = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args([
            "runs",
            "stream",
            "-l",
            "bash",
            "-c",
            "echo started; sleep 60",
            "--url",
            &server.url,
        ])
        .env("PADDOCK_API_KEY", OP1_TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(cli.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert_eq!(first, "started\n");
    let id = running_id(&server);
    // SAFETY: kill(2) on the child's pid, which we own and have not reaped.
    assert_eq!(unsafe { libc::kill(cli.id() as i32, libc::SIGINT) }, 0);
    let status = cli.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let row = closed_row(&server, id);
    assert_eq!(row["status"], "cancelled", "{row}");
    assert_idle(&server);
}

#[test]
fn every_answer_has_a_request_id_and_every_error_a_json_body() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let answer = client()
        .get(format!("{}/v1/whoami", server.url))
        .bearer_auth(OP1_TOKEN)
        .header("x-request-id", "trace-abc-123")
        .send()
        .unwrap();
    assert_eq!(answer.headers()["x-request-id"], "trace-abc-123");
    let fresh = client().get(format!("{}/healthz", server.url)).send().unwrap();
    assert!(fresh.headers()["x-request-id"].to_str().unwrap().starts_with("req_"));
    // A method the route does not take: 405 with the documented body.
    let (status, body) = call(&server, "PUT", "/v1/runs", Some(OP1_TOKEN), None);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("METHOD_NOT_ALLOWED"))
    );
    let (status, body) = call(&server, "GET", "/v1/nothing-here", Some(OP1_TOKEN), None);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
    );
    // A query the framework cannot read: JSON too, without echoing it back.
    let long = "9".repeat(20_000);
    let (status, body) = call(
        &server,
        "GET",
        &format!("/v1/jails?limit=x{long}"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("BAD_QUERY")),
        "{body}"
    );
    assert!(body["error"].as_str().unwrap().len() < 1000);
}

#[test]
fn egress_refusals_reach_the_run_result_with_their_reason() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    // The proxy refuses the host before resolving it: nothing leaves the machine.
    let (status, result) = call(
        &server,
        "POST",
        "/v1/runs",
        Some(OP1_TOKEN),
        Some(json!({
            "code": "curl -s -o /dev/null -w '%{http_code}' --max-time 10 https://not-allowed.example/",
            "language": "bash",
            "network": {"mode": "allowlist", "domains": ["allowed.example"]},
        })),
    );
    assert_eq!(status, StatusCode::CREATED, "{result}");
    let refusals = result["egress_refusals"].as_array().unwrap();
    assert_eq!(refusals.len(), 1, "{result}");
    assert_eq!(refusals[0]["host"], "not-allowed.example");
    assert_eq!(refusals[0]["outcome"], "denied");
    assert_eq!(refusals[0]["reason"], "host_not_allowed");
    // The ledger row keeps the attempt (its egress log).
    let (status, row) = call(
        &server,
        "GET",
        &format!("/v1/jails/{}", result["id"]),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, StatusCode::OK, "{row}");
    let egress = row["egress"].as_array().expect("the ledger's egress log");
    assert_eq!(egress.len(), 1, "{row}");
    assert_eq!(egress[0]["host"], "not-allowed.example");
    assert_eq!(egress[0]["outcome"], "denied");
    assert_eq!(egress[0]["reason"], "host_not_allowed");
}
