//! Running workspaces end to end against the real `paddock serve` as root:
//! processes that outlive their request and run at once, what happens to
//! them on stop, delete and snapshot, isolation between workspaces and from
//! other tenants, and the runtime's errors as Problem Details. Each attack
//! checks the host's process table, so it fails if a process survives.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

mod support;

use support::*;

fn start(dir: &Path) -> Server {
    Server::start(dir, &[("PADDOCK_API_KEYS", &keys())], &["--shutdown-grace", "2s"])
}

fn workspace(server: &Server, token: &str) -> String {
    let (status, ws) = call(server, "POST", "/v1/workspaces", Some(token), Some(json!({})));
    assert_eq!(status, 201, "{ws}");
    ws["id"].as_str().expect("id").to_owned()
}

fn runtime(ws: &str, route: &str) -> String {
    format!("/v1/workspaces/{ws}/runtime/v1/{route}")
}

/// Starts a managed process; its id.
fn create(server: &Server, ws: &str, command: &str, args: &[&str]) -> String {
    let (status, info) = call(
        server,
        "POST",
        &runtime(ws, "processes"),
        Some(OP1_TOKEN),
        Some(json!({"command": command, "args": args})),
    );
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["status"], "running", "{info}");
    info["id"].as_str().expect("id").to_owned()
}

fn run(server: &Server, ws: &str, script: &str) -> Value {
    let (status, result) = call(
        server,
        "POST",
        &runtime(ws, "processes/run"),
        Some(OP1_TOKEN),
        Some(json!({"command": "sh", "args": ["-c", script]})),
    );
    assert_eq!(status, 200, "{result}");
    result
}

/// Host pids whose command line contains `marker`.
fn host_processes_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).replace('\0', " ").contains(marker) {
            found.push(pid);
        }
    }
    found
}

fn wait_until_gone(marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !host_processes_with(marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "processes with {marker:?} survived: {:?}",
            host_processes_with(marker)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn processes_outlive_requests_run_at_once_and_end_with_stop_and_delete() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server, OP1_TOKEN);

    // Two long processes at once, plus runs while they run (no 409).
    create(&server, &ws, "sleep", &["61001"]);
    create(&server, &ws, "sh", &["-c", "sleep 61002; echo never"]);
    let result = run(&server, &ws, "echo $((6 * 7))");
    assert_eq!(result["stdout"], "42\n", "{result}");
    assert_eq!(host_processes_with("61001").len(), 1);
    let (status, state) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{ws}/state"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(state["state"], "running", "{state}");
    assert_eq!(state["processes"], 2, "{state}");

    // The one-shot exec route runs alongside.
    let (status, exec) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/exec"),
        Some(OP1_TOKEN),
        Some(json!({"cmd": "true"})),
    );
    assert_eq!(status, 200, "{exec}");

    // A snapshot freezes the runtime for the copy and thaws it after.
    let writer = create(
        &server,
        &ws,
        "sh",
        &[
            "-c",
            "i=0; while :; do i=$((i+1)); echo $i > /workspace/counter; sleep 0.05; done",
        ],
    );
    std::thread::sleep(Duration::from_millis(200));
    let (status, snap) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/snapshot"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 201, "{snap}");
    assert_eq!(snap["frozen"], true, "{snap}");
    let before = run(&server, &ws, "cat /workspace/counter")["stdout"].clone();
    std::thread::sleep(Duration::from_millis(300));
    let after = run(&server, &ws, "cat /workspace/counter")["stdout"].clone();
    assert_ne!(before, after, "the writer did not run on after the snapshot");
    let (status, info) = call(
        &server,
        "GET",
        &runtime(&ws, &format!("processes/{writer}")),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(info["status"], "running", "{info}");

    // Pause freezes the workspace (the writer stops counting, its memory
    // kept); a snapshot leaves it paused; resume lets it go on.
    let (status, paused) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/pause"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["state"], "paused", "{paused}");
    let counter = || {
        std::fs::read_to_string(server.state_dir.join("workspaces").join(&ws).join("tree/counter")).unwrap_or_default()
    };
    let frozen_at = counter();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(counter(), frozen_at, "a paused workspace ran on");
    let (status, snap) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/snapshot"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 201, "{snap}");
    let (_, state) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{ws}/state"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(
        state["state"], "paused",
        "a snapshot resumed a paused workspace: {state}"
    );
    let (status, resumed) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/resume"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["state"], "running", "{resumed}");
    std::thread::sleep(Duration::from_millis(300));
    assert_ne!(counter(), frozen_at, "a resumed workspace did not run on");
    // A runtime call resumes a paused workspace too.
    call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/pause"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(run(&server, &ws, "echo awake")["stdout"], "awake\n");
    let (_, state) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{ws}/state"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(state["state"], "running", "{state}");

    // A background child does not keep its parent running, nor a run
    // past its end.
    let parent = create(&server, &ws, "sh", &["-c", "sleep 61004 & exit 3"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, info) = call(
            &server,
            "GET",
            &runtime(&ws, &format!("processes/{parent}")),
            Some(OP1_TOKEN),
            None,
        );
        if info["status"] == "exited" {
            assert_eq!(info["exitCode"], 3, "{info}");
            break;
        }
        assert!(Instant::now() < deadline, "the parent stays running: {info}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    let result = run(&server, &ws, "sleep 61005 & echo quick");
    assert_eq!(result["exitCode"], 0, "{result}");
    assert_eq!(result["timedOut"], false, "{result}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the run waited for its background child"
    );

    // Stop ends every process; the tree stays; the next call starts again.
    let (status, stopped) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/stop"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["state"], "stopped");
    wait_until_gone("61001");
    wait_until_gone("61002");
    wait_until_gone("61004");
    wait_until_gone("61005");
    let result = run(&server, &ws, "test -f /workspace/counter && echo kept");
    assert_eq!(result["stdout"], "kept\n", "{result}");
    let (_, list) = call(&server, "GET", &runtime(&ws, "processes"), Some(OP1_TOKEN), None);
    assert_eq!(
        list["processes"].as_array().map(Vec::len),
        Some(0),
        "a new runtime has a new table: {list}"
    );

    // Delete ends them too.
    create(&server, &ws, "sleep", &["61003"]);
    assert_eq!(host_processes_with("61003").len(), 1);
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("/v1/workspaces/{ws}"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 204);
    wait_until_gone("61003");
    let (status, problem) = call(&server, "GET", &runtime(&ws, "processes"), Some(OP1_TOKEN), None);
    assert_eq!(status, 404, "{problem}");
}

#[test]
fn workspaces_do_not_see_each_other_nor_other_tenants() {
    let dir = tempdir();
    let server = start(dir.path());
    let mine = workspace(&server, OP1_TOKEN);
    let other = workspace(&server, OP1_TOKEN);
    create(&server, &mine, "sleep", &["62001"]);
    // Another workspace's jail sees only its own processes: its init and
    // this `ps`-like listing.
    let listing = run(
        &server,
        &other,
        "ls /proc | grep -E '^[0-9]+$' | wc -l; cat /proc/*/cmdline 2>/dev/null | tr '\\0' ' '",
    );
    let stdout = listing["stdout"].as_str().unwrap_or_default();
    assert!(
        !stdout.contains("62001"),
        "another workspace's process is visible: {stdout}"
    );

    // Another tenant gets 404 for the workspace and its processes, in the
    // runtime's Problem Details.
    let response = client()
        .get(format!("{}{}", server.url, runtime(&mine, "processes")))
        .bearer_auth(OP2_TOKEN)
        .send()
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap_or_default(),
        "application/problem+json"
    );
    let problem: Value = response.json().expect("json");
    assert_eq!(problem["type"], "urn:sandbox-agent:error:not_found", "{problem}");
    let (status, _) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{mine}/stop"),
        Some(OP2_TOKEN),
        None,
    );
    assert_eq!(status, 404);
    assert_eq!(
        host_processes_with("62001").len(),
        1,
        "another tenant's stop reached the process"
    );

    // No key, a wrong key, a wrong access_token: 401 token_invalid.
    let (status, problem) = call(&server, "GET", &runtime(&mine, "processes"), None, None);
    assert_eq!(status, 401);
    assert_eq!(problem["type"], "urn:sandbox-agent:error:token_invalid", "{problem}");
    let (status, _) = call(
        &server,
        "GET",
        &format!("{}?access_token=nope", runtime(&mine, "processes")),
        None,
        None,
    );
    assert_eq!(status, 401);
    let (status, _) = call(
        &server,
        "GET",
        &format!("{}?access_token={OP1_TOKEN}", runtime(&mine, "processes")),
        None,
        None,
    );
    assert_eq!(status, 200);

    // The terminal WebSocket of a process: another tenant's key, a wrong
    // key or no key never reach it (refused before any upgrade).
    let (status, info) = call(
        &server,
        "POST",
        &runtime(&mine, "processes"),
        Some(OP1_TOKEN),
        Some(json!({"command": "sh", "tty": true})),
    );
    assert_eq!(status, 200, "{info}");
    let terminal = runtime(
        &mine,
        &format!("processes/{}/terminal/ws", info["id"].as_str().unwrap_or_default()),
    );
    for (token, want) in [
        (Some(OP2_TOKEN), 404),
        (Some("wrong-token-0123456789"), 401),
        (None, 401),
    ] {
        let url = match token {
            Some(token) => format!("{}{terminal}?access_token={token}", server.url),
            None => format!("{}{terminal}", server.url),
        };
        let response = client()
            .get(url)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
            .expect("request");
        assert_eq!(response.status().as_u16(), want, "terminal with {token:?}");
    }
    // The same through the subprotocol browsers use (the key out of the
    // URL): refused alike; the owner's key upgrades and the answer selects
    // `paddock.terminal`, never echoing the key.
    let bearer = |key: &str| {
        use base64::Engine;
        format!(
            "paddock.terminal, paddock.bearer.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
        )
    };
    for (offered, want) in [
        (bearer(OP2_TOKEN), 404),
        (bearer("wrong-token-0123456789"), 401),
        ("paddock.terminal, paddock.bearer.***not-base64***".to_owned(), 401),
        (bearer(OP1_TOKEN), 101),
    ] {
        let response = client()
            .get(format!("{}{terminal}", server.url))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-protocol", &offered)
            .send()
            .expect("request");
        assert_eq!(response.status().as_u16(), want, "terminal offering {offered:?}");
        if want == 101 {
            assert_eq!(
                response
                    .headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok()),
                Some("paddock.terminal")
            );
        }
    }
}

#[test]
fn runtime_errors_are_clear_problems() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server, OP1_TOKEN);
    let problem_of = |method: &str, route: &str, body: Option<Value>| {
        let (status, problem) = call(&server, method, &runtime(&ws, route), Some(OP1_TOKEN), body);
        (
            status.as_u16(),
            problem["type"].as_str().unwrap_or_default().to_owned(),
            problem["detail"].clone(),
        )
    };
    // A program that cannot be started: sandbox-agent's status, with the
    // reason.
    let (status, kind, detail) = problem_of("POST", "processes/run", Some(json!({"command": "no-such-program"})));
    assert_eq!(
        (status, kind.as_str()),
        (502, "urn:sandbox-agent:error:stream_error"),
        "{detail}"
    );
    assert!(
        detail.as_str().unwrap_or_default().contains("no-such-program"),
        "{detail}"
    );
    let (status, _, detail) = problem_of(
        "POST",
        "processes/run",
        Some(json!({"command": "true", "cwd": "/no/such/dir"})),
    );
    assert_eq!(status, 502, "{detail}");
    let (status, kind, detail) = problem_of("POST", "processes/run", Some(json!({"command": ""})));
    assert_eq!(
        (status, kind.as_str()),
        (400, "urn:sandbox-agent:error:invalid_request"),
        "{detail}"
    );
    let (status, _, _) = problem_of("POST", "processes/run", Some(json!({"args": []})));
    assert_eq!(status, 422);
    // A relative cwd is taken from /workspace; a timeout above the maximum
    // is clamped.
    let (status, result) = call(
        &server,
        "POST",
        &runtime(&ws, "processes/run"),
        Some(OP1_TOKEN),
        Some(json!({"command": "pwd", "cwd": ".", "timeoutMs": 999999999})),
    );
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["stdout"], "/workspace\n", "{result}");
    // A client may lower the process limits, never raise them past the
    // server's ceilings (the memory is the host's).
    let (status, config) = call(
        &server,
        "POST",
        &runtime(&ws, "processes/config"),
        Some(OP1_TOKEN),
        Some(json!({
            "maxConcurrentProcesses": u64::MAX, "defaultRunTimeoutMs": u64::MAX, "maxRunTimeoutMs": u64::MAX,
            "maxOutputBytes": u64::MAX, "maxLogBytesPerProcess": u64::MAX, "maxInputBytesPerRequest": u64::MAX
        })),
    );
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["maxConcurrentProcesses"], 256, "{config}");
    assert_eq!(config["maxLogBytesPerProcess"], 32 << 20, "{config}");
    assert_eq!(config["maxOutputBytes"], 16 << 20, "{config}");
    assert_eq!(config["maxRunTimeoutMs"], 3_600_000, "{config}");
    assert_eq!(config["defaultRunTimeoutMs"], 3_600_000, "{config}");
    let (status, kind, _) = problem_of("GET", "processes/proc_999", None);
    assert_eq!((status, kind.as_str()), (404, "urn:sandbox-agent:error:not_found"));
    // A running process cannot be deleted; resizing needs a terminal.
    let id = create(&server, &ws, "sleep", &["63001"]);
    let (status, kind, _) = problem_of("DELETE", &format!("processes/{id}"), None);
    assert_eq!((status, kind.as_str()), (409, "urn:sandbox-agent:error:conflict"));
    let (status, _, _) = problem_of(
        "POST",
        &format!("processes/{id}/terminal/resize"),
        Some(json!({"cols": 80, "rows": 24})),
    );
    assert_eq!(status, 409);
    // Kill with a wait answers the exited record; then input is refused
    // and the record can be deleted.
    let (status, info) = call(
        &server,
        "POST",
        &format!("{}?waitMs=5000", runtime(&ws, &format!("processes/{id}/kill"))),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["status"], "exited", "{info}");
    assert!(info.get("pid").is_none(), "{info}");
    let (status, _, _) = problem_of(
        "POST",
        &format!("processes/{id}/input"),
        Some(json!({"data": "aGk=", "encoding": "base64"})),
    );
    assert_eq!(status, 409, "input to an exited process");
    let (status, _) = call(
        &server,
        "DELETE",
        &runtime(&ws, &format!("processes/{id}")),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 204);
    // The run's deadline kills the whole group, and says so.
    let (status, result) = call(
        &server,
        "POST",
        &runtime(&ws, "processes/run"),
        Some(OP1_TOKEN),
        Some(json!({"command": "sh", "args": ["-c", "echo started; sleep 64001"], "timeoutMs": 300})),
    );
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["timedOut"], true, "{result}");
    assert_eq!(result["stdout"], "started\n", "{result}");
    assert!(result["exitCode"].is_null(), "{result}");
    wait_until_gone("64001");
}
