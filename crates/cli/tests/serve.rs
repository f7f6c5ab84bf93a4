//! `paddock serve` as clients use it: the real binary on 127.0.0.1, real
//! jails, real SQLite files (and PostgreSQL where noted), restarts and
//! signals included.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::Response;
use reqwest::StatusCode;
use serde_json::{json, Value};

mod support;

use support::*;

#[test]
fn first_start_without_keys_generates_an_admin_key_shown_once() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[], &[]);
    let printed: Vec<&String> = server.first_lines.iter().filter(|l| l.contains("pdk_")).collect();
    let token = printed
        .first()
        .and_then(|l| l.split_whitespace().find(|w| w.starts_with("pdk_")))
        .expect("a generated key is printed")
        .to_owned();
    let (status, me) = call(&server, "GET", "/v1/whoami", Some(&token), None);
    assert_eq!(status, 200);
    // agentjail's {tenant, role}, and (ext) the tenant's budgets.
    assert_eq!(
        (&me["tenant"], &me["role"]),
        (&json!("default"), &json!("admin")),
        "{me}"
    );
    assert!(me["budgets"]["max_concurrent"].is_u64(), "{me}");
    drop(server);
    // Stored hashed: the database never holds the token.
    let db = std::fs::read(dir.path().join("paddock.db")).expect("database file");
    assert!(!db.windows(token.len()).any(|w| w == token.as_bytes()));
    // The second start prints nothing new, and the key still works.
    let server = Server::start(dir.path(), &[], &[]);
    assert!(!server.first_lines.iter().any(|l| l.contains("pdk_")));
    assert_eq!(call(&server, "GET", "/v1/whoami", Some(&token), None).0, 200);
}

#[test]
fn every_private_route_needs_a_valid_key() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    for (method, path) in [
        ("GET", "/v1/whoami"),
        ("GET", "/v1/flavors"),
        ("GET", "/v1/config"),
        ("GET", "/v1/keys"),
        ("POST", "/v1/keys"),
        ("DELETE", "/v1/keys/key_x"),
        ("GET", "/v1/credentials"),
        ("POST", "/v1/credentials"),
        ("DELETE", "/v1/credentials/openai"),
        ("GET", "/v1/sessions"),
        ("POST", "/v1/sessions"),
        ("GET", "/v1/sessions/sess_x"),
        ("DELETE", "/v1/sessions/sess_x"),
        ("POST", "/v1/runs"),
        ("POST", "/v1/runs/stream"),
        ("POST", "/v1/runs/fork"),
        ("GET", "/v1/jails"),
        ("GET", "/v1/jails/1"),
        ("GET", "/v1/audit"),
        ("GET", "/v1/workspaces/wrk_x/tokens"),
        ("POST", "/v1/workspaces/wrk_x/tokens"),
        ("GET", "/v1/workspaces/wrk_x/mcp-config"),
        ("POST", "/v1/workspaces/wrk_x/mcp"),
    ] {
        for token in [None, Some("wrong-token-0123456789")] {
            let (status, body) = call(&server, method, path, token, Some(json!({})));
            assert_eq!(status, 401, "{method} {path} {token:?}: {body}");
            assert_eq!(body["code"], "UNAUTHORIZED");
        }
    }
    // Public routes need none.
    assert_eq!(
        call(&server, "GET", "/healthz", None, None),
        (StatusCode::OK, json!("ok"))
    );
    let (status, health) = call(&server, "GET", "/v1/health", None, None);
    assert_eq!((status, &health["status"]), (StatusCode::OK, &json!("ok")));
    let (status, stats) = call(&server, "GET", "/v1/stats", None, None);
    assert_eq!(status, 200);
    for field in ["active_execs", "total_execs", "sessions", "credentials"] {
        assert!(stats[field].is_number(), "{stats}");
    }
    // A bare token (no "Bearer") is accepted too.
    let response = client()
        .get(format!("{}/v1/whoami", server.url))
        .header("Authorization", OP1_TOKEN)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, body) = call(&server, "GET", "/v1/nope", Some(OP1_TOKEN), None);
    assert_eq!((status, &body["code"]), (StatusCode::NOT_FOUND, &json!("NOT_FOUND")));
}

#[test]
fn keys_roles_and_revocation() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let (status, _) = call(
        &server,
        "POST",
        "/v1/keys",
        Some(OP1_TOKEN),
        Some(json!({"tenant": "t1", "role": "admin"})),
    );
    assert_eq!(status, 403, "an operator made a key");
    let (status, key) = call(
        &server,
        "POST",
        "/v1/keys",
        Some(ADMIN_TOKEN),
        Some(json!({"tenant": "t3", "role": "operator", "label": "ci"})),
    );
    assert_eq!(status, 201, "{key}");
    let token = key["token"].as_str().expect("token once").to_owned();
    let (_, me) = call(&server, "GET", "/v1/whoami", Some(&token), None);
    assert_eq!((&me["tenant"], &me["role"]), (&json!("t3"), &json!("operator")), "{me}");
    let (_, listed) = call(&server, "GET", "/v1/keys", Some(ADMIN_TOKEN), None);
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k.get("token").is_none() && k.get("token_hash").is_none()));
    // A bad value is 400; a missing or mistyped field 422 (agentjail's statuses).
    for (bad, want) in [
        (json!({"tenant": "bad tenant", "role": "operator"}), 400),
        (json!({"tenant": "t", "role": "root"}), 422),
        (json!({"tenant": "t"}), 422),
    ] {
        let (status, body) = call(&server, "POST", "/v1/keys", Some(ADMIN_TOKEN), Some(bad.clone()));
        assert_eq!(status, want, "{bad}: {body}");
    }
    let id = key["id"].as_str().unwrap();
    assert_eq!(
        call(&server, "DELETE", &format!("/v1/keys/{id}"), Some(ADMIN_TOKEN), None).0,
        204
    );
    assert_eq!(call(&server, "GET", "/v1/whoami", Some(&token), None).0, 401);
    assert_eq!(
        call(&server, "DELETE", &format!("/v1/keys/{id}"), Some(ADMIN_TOKEN), None).0,
        404
    );
    // Operators do not see addresses and paths (left out, as agentjail does).
    let (_, config) = call(&server, "GET", "/v1/config", Some(OP1_TOKEN), None);
    assert!(config["persistence"].get("state_dir").is_none(), "{config}");
    let (_, config) = call(&server, "GET", "/v1/config", Some(ADMIN_TOKEN), None);
    assert_eq!(
        config["persistence"]["state_dir"],
        server.state_dir.display().to_string()
    );
}

#[test]
fn credentials_are_per_tenant_encrypted_and_never_returned() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let secret = "sk-test-supersecret-value";
    let (status, record) = call(
        &server,
        "POST",
        "/v1/credentials",
        Some(OP1_TOKEN),
        Some(json!({"service": "openai", "secret": secret})),
    );
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["tenant_id"], "t1");
    assert!(record["fingerprint"].as_str().unwrap().starts_with("blake3:"));
    assert!(!record.to_string().contains(secret));
    for (body, status, code) in [
        (json!({"service": "openai", "secret": ""}), 400, "EMPTY_SECRET"),
        (json!({"service": "nope", "secret": "x"}), 400, "UNKNOWN_SERVICE"),
        (json!({"service": "openai"}), 422, "BAD_BODY"),
    ] {
        let (got, error) = call(&server, "POST", "/v1/credentials", Some(OP1_TOKEN), Some(body));
        assert_eq!((got.as_u16(), &error["code"]), (status, &json!(code)));
    }
    let (_, mine) = call(&server, "GET", "/v1/credentials", Some(OP1_TOKEN), None);
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let (_, theirs) = call(&server, "GET", "/v1/credentials", Some(OP2_TOKEN), None);
    assert_eq!(theirs, json!([]));
    assert_eq!(
        call(&server, "DELETE", "/v1/credentials/openai", Some(OP2_TOKEN), None).0,
        404
    );
    let (_, all) = call(&server, "GET", "/v1/credentials", Some(ADMIN_TOKEN), None);
    assert_eq!(all.as_array().unwrap().len(), 1);
    drop(server);
    let db = std::fs::read(dir.path().join("paddock.db")).unwrap();
    assert!(
        !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "secret stored in clear"
    );
    let server = Server::with_keys(dir.path());
    assert_eq!(
        call(&server, "DELETE", "/v1/credentials/openai", Some(OP1_TOKEN), None).0,
        204
    );
    let (_, audit) = call(&server, "GET", "/v1/audit/actions", Some(OP1_TOKEN), None);
    let actions: Vec<&str> = audit["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert_eq!(actions, ["credential.delete", "credential.put"]);
}

#[test]
fn sessions_hand_out_phantom_env_and_survive_restarts() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let (status, error) = call(
        &server,
        "POST",
        "/v1/sessions",
        Some(OP1_TOKEN),
        Some(json!({"services": ["openai"]})),
    );
    assert_eq!(
        (status, &error["code"]),
        (StatusCode::BAD_REQUEST, &json!("NO_CREDENTIAL"))
    );
    for service in ["openai", "anthropic"] {
        call(
            &server,
            "POST",
            "/v1/credentials",
            Some(OP1_TOKEN),
            Some(json!({"service": service, "secret": "sk-1"})),
        );
    }
    let (status, session) = call(
        &server,
        "POST",
        "/v1/sessions",
        Some(OP1_TOKEN),
        Some(json!({"services": ["openai", "anthropic"], "ttl_secs": 999999, "scopes": {"openai": ["/v1/chat/*"]}})),
    );
    assert_eq!(status, 201, "{session}");
    let id = session["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("sess_") && id.len() == 29);
    let env = &session["env"];
    let key = env["OPENAI_API_KEY"].as_str().unwrap();
    assert!(key.starts_with("phm_") && key.len() == 68, "{key}");
    let proxy = &server.proxy;
    assert_eq!(env["OPENAI_BASE_URL"], format!("http://{proxy}/v1/openai/v1"));
    assert_eq!(env["ANTHROPIC_BASE_URL"], format!("http://{proxy}/v1/anthropic"));
    // The TTL is capped at 24 hours.
    let created = time::OffsetDateTime::parse(
        session["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expires = time::OffsetDateTime::parse(
        session["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!((expires - created).whole_seconds(), 24 * 3600);
    for bad in [
        json!({"services": []}),
        json!({"services": ["openai"], "ttl_secs": 0}),
        json!({"services": ["openai"], "scopes": {"openai": ["no-slash"]}}),
        json!({"services": ["openai"], "scopes": {"github": ["/x"]}}),
        json!({"services": ["openai", "openai"]}),
    ] {
        let (status, body) = call(&server, "POST", "/v1/sessions", Some(OP1_TOKEN), Some(bad.clone()));
        assert_eq!(status, 400, "{bad}: {body}");
    }
    assert_eq!(
        call(&server, "GET", &format!("/v1/sessions/{id}"), Some(OP2_TOKEN), None).0,
        404
    );
    drop(server);

    let server = Server::with_keys(dir.path());
    let (status, got) = call(&server, "GET", &format!("/v1/sessions/{id}"), Some(OP1_TOKEN), None);
    assert_eq!((status, &got["status"]), (StatusCode::OK, &json!("active")));
    // agentjail returns the env on get too (kept sealed at rest).
    assert_eq!(got["env"], session["env"]);
    assert_eq!(
        call(&server, "DELETE", &format!("/v1/sessions/{id}"), Some(OP2_TOKEN), None).0,
        404
    );
    assert_eq!(
        call(&server, "DELETE", &format!("/v1/sessions/{id}"), Some(OP1_TOKEN), None).0,
        204
    );
    drop(server);

    let server = Server::with_keys(dir.path());
    // A closed session is gone, as agentjail deletes it; (ext) listed
    // with `include_closed=true`.
    let (status, _) = call(&server, "GET", &format!("/v1/sessions/{id}"), Some(OP1_TOKEN), None);
    assert_eq!(status, 404);
    // A bare array, as agentjail's clients expect; the total in a header.
    let response = client()
        .get(format!("{}/v1/sessions?limit=5&include_closed=true", server.url))
        .bearer_auth(OP1_TOKEN)
        .send()
        .unwrap();
    assert_eq!(response.headers()["x-total-count"], "1");
    let list: Value = response.json().unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["status"], "closed");
    let (_, audit) = call(&server, "GET", "/v1/audit/actions", Some(OP1_TOKEN), None);
    let actions: Vec<&str> = audit["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert!(actions.starts_with(&["session.close", "session.create"]), "{actions:?}");
}

#[test]
fn runs_execute_in_real_jails_and_land_in_the_ledger() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    for (language, code, expected) in [
        ("bash", "echo hi from $(hostname)", "hi from paddock\n"),
        ("python", "import sys; print(sys.version_info[0])", "3\n"),
        ("javascript", "console.log(6 * 7)", "42\n"),
    ] {
        let (status, result) = call(
            &server,
            "POST",
            "/v1/runs",
            Some(OP1_TOKEN),
            Some(json!({"code": code, "language": language, "timeout_secs": 30})),
        );
        assert_eq!(status, 201, "{language}: {result}");
        assert_eq!(result["stdout"], expected, "{language}: {result}");
        assert_eq!(result["exit_code"], 0);
        assert!(result["stats"]["memory_peak_bytes"].as_u64().unwrap_or(0) > 0);
    }
    // The default language is javascript.
    let (_, result) = call(
        &server,
        "POST",
        "/v1/runs",
        Some(OP1_TOKEN),
        Some(json!({"code": "console.log('js')"})),
    );
    assert_eq!(result["stdout"], "js\n");
    for (body, status, code) in [
        (json!({"code": "x", "language": "cobol"}), 400, "BAD_LANGUAGE"),
        (
            json!({"code": "x", "language": "bash", "network": {"mode": "host"}}),
            400,
            "BAD_NETWORK",
        ),
        (
            json!({"code": "x", "language": "bash", "seccomp": "off"}),
            400,
            "BAD_SECCOMP",
        ),
        (json!({"language": "bash"}), 422, "BAD_BODY"),
        (json!({"code": 7, "language": "bash"}), 422, "BAD_BODY"),
        (
            json!({"code": "x".repeat((1 << 20) + 1), "language": "bash"}),
            413,
            "CODE_TOO_LARGE",
        ),
    ] {
        let (got, error) = call(&server, "POST", "/v1/runs", Some(OP1_TOKEN), Some(body));
        assert_eq!((got.as_u16(), error["code"].as_str()), (status, Some(code)), "{error}");
    }
    let response = client()
        .post(format!("{}/v1/runs", server.url))
        .bearer_auth(OP1_TOKEN)
        .header("content-type", "application/json")
        .body(vec![b' '; 3 << 20])
        .send()
        .unwrap();
    assert_eq!(response.status(), 413);
    let response = client()
        .post(format!("{}/v1/runs", server.url))
        .bearer_auth(OP1_TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);

    // The ledger: newest first, filters, tenant scope.
    let (_, page) = call(
        &server,
        "GET",
        "/v1/jails?kind=run&status=completed&limit=2",
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(page["total"], 4, "{page}");
    let rows = page["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["stdout"], "js\n");
    assert_eq!(rows[0]["config"]["language"], "javascript");
    let id = rows[0]["id"].as_i64().unwrap();
    assert_eq!(
        call(&server, "GET", &format!("/v1/jails/{id}"), Some(OP1_TOKEN), None).0,
        200
    );
    assert_eq!(
        call(&server, "GET", &format!("/v1/jails/{id}"), Some(OP2_TOKEN), None).0,
        404
    );
    assert_eq!(
        call(&server, "GET", "/v1/jails/not-a-number", Some(OP1_TOKEN), None).0,
        404
    );
    assert_eq!(call(&server, "GET", "/v1/jails", Some(OP2_TOKEN), None).1["total"], 0);
    // An unknown status filter is ignored, as agentjail ignores it.
    let (status, unfiltered) = call(&server, "GET", "/v1/jails?status=weird", Some(OP1_TOKEN), None);
    assert_eq!((status, &unfiltered["total"]), (StatusCode::OK, &json!(4)));
    let (_, admin_view) = call(&server, "GET", "/v1/jails?tenant=t1", Some(ADMIN_TOKEN), None);
    assert_eq!(admin_view["total"], 4);
    let metrics = client()
        .get(format!("{}/metrics", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("paddock_jails_started_total{kind=\"run\"} 4"),
        "{metrics}"
    );
}

#[test]
fn a_timeout_returns_at_the_deadline_even_with_a_grandchild_holding_stdout() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let started = Instant::now();
    let (status, result) = call(
        &server,
        "POST",
        "/v1/runs",
        Some(OP1_TOKEN),
        Some(json!({"code": "(sleep 60 &) ; echo started; sleep 60", "language": "bash", "timeout_secs": 1})),
    );
    assert_eq!(status, 201, "{result}");
    assert_eq!(result["timed_out"], true);
    assert_eq!(result["stdout"], "started\n");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[test]
fn a_multibyte_flood_at_the_output_cap_is_valid_utf8() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let (status, result) = call(
        &server,
        "POST",
        "/v1/runs",
        Some(OP1_TOKEN),
        Some(json!({"code": "printf 'x'; while :; do printf 'é€😀'; done", "language": "bash", "timeout_secs": 3})),
    );
    assert_eq!(status, 201, "{result}");
    let out = result["stdout"].as_str().unwrap();
    assert!(out.len() > (1 << 20) - 8 && out.len() <= 1 << 20, "{}", out.len());
    assert!(out.starts_with('x'));
    let (_, page) = call(&server, "GET", "/v1/jails", Some(OP1_TOKEN), None);
    let ledger = page["rows"][0]["stdout"].as_str().unwrap();
    assert!(ledger.len() <= 16 << 10 && ledger.len() > (16 << 10) - 4);
}

#[test]
fn the_stream_sends_events_in_order_with_one_terminal_event() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let mut response: Response = client()
        .post(format!("{}/v1/runs/stream", server.url))
        .bearer_auth(OP1_TOKEN)
        .json(&json!({"code": "echo one; echo two >&2; sleep 1.2; echo three; exit 3", "language": "bash", "timeout_secs": 30}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut text = String::new();
    response.read_to_string(&mut text).unwrap();
    let events: Vec<(String, Value)> = text
        .split("\n\n")
        .filter_map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            // Output lines are bare text, as agentjail sends them.
            let data = match name {
                "stdout" | "stderr" => Value::String(data.to_owned()),
                _ => serde_json::from_str(data).ok()?,
            };
            Some((name.to_owned(), data))
        })
        .collect();
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"started"), "{names:?}");
    assert_eq!(
        names.iter().filter(|n| **n == "completed" || **n == "error").count(),
        1,
        "{names:?}"
    );
    assert_eq!(names.last(), Some(&"completed"), "{names:?}");
    assert!(names.contains(&"stats"), "{names:?}");
    let lines: Vec<&str> = events
        .iter()
        .filter(|(n, _)| n == "stdout")
        .filter_map(|(_, d)| d.as_str())
        .collect();
    assert_eq!(lines, ["one", "three"]);
    assert!(events.iter().any(|(n, d)| n == "stderr" && d == "two"));
    let completed = &events.last().unwrap().1;
    assert_eq!(completed["exit_code"], 3);
    assert!(completed["memory_peak_bytes"].is_number());
    assert_eq!(completed["stdout_truncated"], false);
    let (_, page) = call(&server, "GET", "/v1/jails?kind=stream", Some(OP1_TOKEN), None);
    assert_eq!(page["rows"][0]["exit_code"], 3);
}

#[test]
fn the_concurrency_limit_answers_429() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[("PADDOCK_API_KEYS", &keys())], &["--max-concurrent", "1"]);
    let url = server.url.clone();
    let slow = std::thread::spawn(move || {
        client()
            .post(format!("{url}/v1/runs"))
            .bearer_auth(OP1_TOKEN)
            .json(&json!({"code": "sleep 2", "language": "bash"}))
            .send()
            .map(|r| r.status())
    });
    std::thread::sleep(Duration::from_millis(700));
    let busy = client()
        .post(format!("{}/v1/runs", server.url))
        .bearer_auth(OP1_TOKEN)
        .json(&json!({"code": "true", "language": "bash"}))
        .send()
        .unwrap();
    assert_eq!(busy.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(busy.headers()["retry-after"], "1");
    let error: Value = busy.json().unwrap();
    assert_eq!(error["code"], "TOO_MANY_REQUESTS");
    assert_eq!(slow.join().unwrap().unwrap(), 201);
    assert_eq!(
        call(
            &server,
            "POST",
            "/v1/runs",
            Some(OP1_TOKEN),
            Some(json!({"code": "true", "language": "bash"}))
        )
        .0,
        201
    );
}

#[test]
fn sigterm_lets_a_running_jail_finish_and_a_crash_is_recovered() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let url = server.url.clone();
    let run = std::thread::spawn(move || {
        client()
            .post(format!("{url}/v1/runs"))
            .bearer_auth(OP1_TOKEN)
            .json(&json!({"code": "sleep 1; echo finished", "language": "bash"}))
            .send()
            .and_then(|r| r.json::<Value>())
    });
    std::thread::sleep(Duration::from_millis(400));
    let status = server.stop();
    assert!(status.success(), "{status:?}");
    assert_eq!(run.join().unwrap().unwrap()["stdout"], "finished\n");

    // A server killed mid-run leaves the row running; the next start closes it.
    let server = Server::with_keys(dir.path());
    let url = server.url.clone();
    let _run = std::thread::spawn(move || {
        let _ = client()
            .post(format!("{url}/v1/runs"))
            .bearer_auth(OP1_TOKEN)
            .json(&json!({"code": "sleep 30", "language": "bash"}))
            .send();
    });
    std::thread::sleep(Duration::from_millis(600));
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);
    let server = Server::with_keys(dir.path());
    assert!(
        server.first_lines.iter().any(|l| l.contains("recovered_jails=1")),
        "{:?}",
        server.first_lines
    );
    let (_, page) = call(&server, "GET", "/v1/jails?status=error", Some(OP1_TOKEN), None);
    let all = call(&server, "GET", "/v1/jails", Some(OP1_TOKEN), None).1;
    assert_eq!(page["total"], 1, "{all}");
    assert!(page["rows"][0]["error"].as_str().unwrap().contains("stopped"));
}

#[test]
fn the_postgres_backend_serves_the_same_api() {
    let db = PgDatabase::create("serve");
    let url = db.url.clone();
    let dir = tempdir();
    let env = [("PADDOCK_API_KEYS", keys()), ("DATABASE_URL", url)];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start(dir.path(), &env, &[]);
    assert!(
        server
            .first_lines
            .iter()
            .any(|l| l.contains("database=\"postgres\"") || l.contains("database=postgres")),
        "{:?}",
        server.first_lines
    );
    call(
        &server,
        "POST",
        "/v1/credentials",
        Some(OP1_TOKEN),
        Some(json!({"service": "github", "secret": "ghp_x"})),
    );
    let (status, session) = call(
        &server,
        "POST",
        "/v1/sessions",
        Some(OP1_TOKEN),
        Some(json!({"services": ["github"]})),
    );
    assert_eq!(status, 201, "{session}");
    drop(server);
    let server = Server::start(dir.path(), &env, &[]);
    let id = session["id"].as_str().unwrap();
    let got = call(&server, "GET", &format!("/v1/sessions/{id}"), Some(OP1_TOKEN), None).1;
    assert_eq!(got["status"], "active");
    // The sealed env comes back from PostgreSQL too.
    assert_eq!(got["env"], session["env"]);
    assert_eq!(
        call(&server, "DELETE", &format!("/v1/sessions/{id}"), Some(OP1_TOKEN), None).0,
        204
    );
    assert_eq!(call(&server, "GET", "/v1/sessions", Some(OP1_TOKEN), None).1, json!([]));
    assert!(
        !dir.path().join("paddock.db").exists(),
        "SQLite used despite DATABASE_URL"
    );
    drop(server);
    drop(db);
}

#[test]
fn json_request_logs_never_carry_keys_or_secrets() {
    let dir = tempdir();
    let server = Server::start(
        dir.path(),
        &[("PADDOCK_API_KEYS", &keys()), ("LOG_FORMAT", "json")],
        &[],
    );
    let secret = "sk-should-never-be-logged-123";
    call(
        &server,
        "POST",
        "/v1/credentials",
        Some(OP1_TOKEN),
        Some(json!({"service": "openai", "secret": secret})),
    );
    call(&server, "GET", "/v1/whoami", Some("not-a-real-key-0123456789"), None);
    let lines = server.stop_and_collect();
    let requests: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "request" || v["fields"]["message"] == "request failed")
        .collect();
    assert!(requests.len() >= 2, "{lines:?}");
    assert!(requests
        .iter()
        .any(|r| r["fields"]["path"] == "/v1/credentials" && r["fields"]["status"] == 200));
    // A failure is logged with its request id and error code.
    assert!(
        requests.iter().any(|r| r["fields"]["status"] == 401
            && r["fields"]["code"] == "UNAUTHORIZED"
            && r["fields"]["request_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("req_"))),
        "{requests:?}"
    );
    for line in &lines {
        for needle in [secret, OP1_TOKEN, "not-a-real-key-0123456789"] {
            assert!(!line.contains(needle), "{needle} logged: {line}");
        }
    }
}

#[test]
fn session_exec_injects_the_env_and_reaches_the_phantom_proxy_with_network_none() {
    let upstream = support::upstream::Upstream::start();
    let dir = tempdir();
    let service = format!("openai={}", upstream.url());
    let server = Server::start(dir.path(), &[("PADDOCK_API_KEYS", &keys())], &["--service", &service]);
    let secret = "sk-real-upstream-secret";
    call(
        &server,
        "POST",
        "/v1/credentials",
        Some(OP1_TOKEN),
        Some(json!({"service": "openai", "secret": secret})),
    );
    let (_, session) = call(
        &server,
        "POST",
        "/v1/sessions",
        Some(OP1_TOKEN),
        Some(json!({"services": ["openai"]})),
    );
    let id = session["id"].as_str().unwrap();
    let script = r#"echo "$OPENAI_BASE_URL"; echo "$OPENAI_API_KEY"; curl -sS -H "Authorization: Bearer $OPENAI_API_KEY" "$OPENAI_BASE_URL/models"; echo; curl -sS --max-time 2 http://1.1.1.1/ || echo no-other-network"#;
    let (status, result) = call(
        &server,
        "POST",
        &format!("/v1/sessions/{id}/exec"),
        Some(OP1_TOKEN),
        Some(json!({"cmd": "sh", "args": ["-c", script], "network": {"mode": "none"}, "timeout_secs": 30})),
    );
    assert_eq!(status, 200, "{result}");
    let stdout = result["stdout"].as_str().unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    let proxy_port = server.proxy.rsplit(':').next().unwrap();
    assert_eq!(
        lines[0],
        format!("http://127.0.0.1:{proxy_port}/v1/openai/v1"),
        "{result}"
    );
    let presented = lines[1];
    assert!(presented.starts_with("phm_") && presented.len() == 68, "{presented}");
    assert_ne!(
        Some(presented),
        session["env"]["OPENAI_API_KEY"].as_str(),
        "each exec gets its own token"
    );
    assert_eq!(lines[2], r#"{"ok":true,"path":"/v1/models"}"#, "{result}");
    assert_eq!(lines[3], "no-other-network", "{result}");
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, "/v1/models");
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {secret}").as_str())
    );
    assert!(!result.to_string().contains(secret));
    let (_, page) = call(&server, "GET", "/v1/jails?kind=exec", Some(OP1_TOKEN), None);
    assert_eq!(page["rows"][0]["session_id"], id);

    // Other tenants cannot exec in it; a closed session refuses.
    let body = json!({"cmd": "true"});
    assert_eq!(
        call(
            &server,
            "POST",
            &format!("/v1/sessions/{id}/exec"),
            Some(OP2_TOKEN),
            Some(body.clone())
        )
        .0,
        404
    );
    assert_eq!(
        call(
            &server,
            "POST",
            &format!("/v1/sessions/{id}/exec"),
            Some(OP1_TOKEN),
            Some(json!({"cmd": ""}))
        )
        .0,
        400
    );
    call(&server, "DELETE", &format!("/v1/sessions/{id}"), Some(OP1_TOKEN), None);
    let (status, error) = call(
        &server,
        "POST",
        &format!("/v1/sessions/{id}/exec"),
        Some(OP1_TOKEN),
        Some(body),
    );
    assert_eq!((status, &error["code"]), (StatusCode::NOT_FOUND, &json!("NOT_FOUND")));
}

/// The `paddock` client subcommands against a server.
fn cli(server: &Server, token: &str, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(args)
        .env("PADDOCK_URL", &server.url)
        .env("PADDOCK_API_KEY", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("paddock runs");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn the_cli_client_drives_the_server() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let out = cli(&server, OP1_TOKEN, &["whoami"], "");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tenant t1, role operator\n");
    // The secret comes from standard input, so it is never in argv.
    let out = cli(&server, OP1_TOKEN, &["credentials", "put", "github"], "ghp_secret\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cli(&server, OP1_TOKEN, &["credentials", "list", "--json"], "");
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["service"], "github");
    let out = cli(
        &server,
        OP1_TOKEN,
        &[
            "sessions",
            "create",
            "--service",
            "github",
            "--ttl",
            "10m",
            "--scope",
            "github=/repos/my-org/*/issues*",
            "--max-requests",
            "5",
        ],
        "",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("export GITHUB_TOKEN=phm_") && text.contains("export GITHUB_API_URL="),
        "{text}"
    );
    let out = cli(&server, OP1_TOKEN, &["sessions", "list", "--json"], "");
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["max_requests"], 5);
    // Runs: output passes through, the exit status is the run's.
    let out = cli(
        &server,
        OP1_TOKEN,
        &["runs", "create", "-l", "python", "-"],
        "print('from stdin'); raise SystemExit(4)",
    );
    assert_eq!(
        (out.status.code(), String::from_utf8_lossy(&out.stdout).as_ref()),
        (Some(4), "from stdin\n")
    );
    let out = cli(
        &server,
        OP1_TOKEN,
        &["runs", "stream", "-l", "bash", "-c", "echo live; echo err >&2; exit 6"],
        "",
    );
    assert_eq!(out.status.code(), Some(6));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "live\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    let out = cli(
        &server,
        OP1_TOKEN,
        &["runs", "create", "-l", "bash", "--timeout", "1", "-c", "sleep 30"],
        "",
    );
    assert_eq!(out.status.code(), Some(124));
    let out = cli(&server, OP1_TOKEN, &["jails", "list", "--json"], "");
    let page: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page["total"], 3);
    let out = cli(&server, OP1_TOKEN, &["jails", "list"], "");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("ID") && table.lines().count() == 4, "{table}");
    let out = cli(
        &server,
        OP1_TOKEN,
        &[
            "runs",
            "fork",
            "-l",
            "bash",
            "--parent",
            "echo p > /output/x; sleep 1; echo parent",
            "--child",
            "cat /output/x",
            "--fork-after",
            "300ms",
        ],
        "",
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "=== parent: exit 0\nparent\n=== child 0: exit 0\np\n"
    );
    // Failures exit non-zero with the server's message.
    let out = cli(&server, OP1_TOKEN, &["credentials", "rm", "openai"], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "paddock: credential not found (NOT_FOUND, HTTP 404)\n"
    );
    let out = cli(&server, "wrong-token-0123456789", &["whoami"], "");
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 401"));
    let out = cli(&server, OP1_TOKEN, &["audit", "--actions", "--json"], "");
    let audit: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(audit["rows"][0]["action"], "session.create");
}

#[test]
fn openapi_describes_every_route() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let (status, spec) = call(&server, "GET", "/openapi.json", None, None);
    assert_eq!(status, 200);
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        spec["openapi"]
    );
    let expected = [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/v1/health", "get"),
        ("/v1/stats", "get"),
        ("/metrics", "get"),
        ("/v1/whoami", "get"),
        ("/v1/flavors", "get"),
        ("/v1/config", "get"),
        ("/v1/keys", "get"),
        ("/v1/keys", "post"),
        ("/v1/keys/{id}", "delete"),
        ("/v1/credentials", "get"),
        ("/v1/credentials", "post"),
        ("/v1/credentials/{service}", "delete"),
        ("/v1/sessions", "get"),
        ("/v1/sessions", "post"),
        ("/v1/sessions/{id}", "get"),
        ("/v1/sessions/{id}", "delete"),
        ("/v1/sessions/{id}/exec", "post"),
        ("/v1/sessions/{id}/exec/stream", "post"),
        ("/v1/runs", "post"),
        ("/v1/runs/stream", "post"),
        ("/v1/runs/fork", "post"),
        ("/v1/runs/{id}/cancel", "post"),
        ("/v1/code", "post"),
        ("/v1/code/stream", "post"),
        ("/v1/code/sessions/{session}", "delete"),
        ("/v1/jails", "get"),
        ("/v1/jails/{id}", "get"),
        ("/v1/audit", "get"),
        ("/v1/audit/actions", "get"),
        ("/v1/workspaces", "get"),
        ("/v1/workspaces", "post"),
        ("/v1/workspaces/{id}", "get"),
        ("/v1/workspaces/{id}", "patch"),
        ("/v1/workspaces/{id}", "delete"),
        ("/v1/workspaces/{id}/exec", "post"),
        ("/v1/workspaces/{id}/exec/stream", "post"),
        ("/v1/workspaces/{id}/fork", "post"),
        ("/v1/workspaces/{id}/snapshot", "post"),
        ("/v1/workspaces/from-snapshot", "post"),
        ("/v1/snapshots", "get"),
        ("/v1/snapshots/{id}", "get"),
        ("/v1/snapshots/{id}", "delete"),
        ("/v1/snapshots/{id}/manifest", "get"),
        // Agent sessions and their turns.
        ("/v1/workspaces/{id}/agent-sessions", "get"),
        ("/v1/workspaces/{id}/agent-sessions", "post"),
        ("/v1/workspaces/{id}/agent-sessions/{session}", "get"),
        ("/v1/workspaces/{id}/agent-sessions/{session}", "delete"),
        ("/v1/workspaces/{id}/agent-sessions/{session}/turns", "get"),
        ("/v1/workspaces/{id}/agent-sessions/{session}/turns", "post"),
        ("/v1/workspaces/{id}/agent-sessions/{session}/turns/{turn}", "get"),
        (
            "/v1/workspaces/{id}/agent-sessions/{session}/turns/{turn}/cancel",
            "post",
        ),
        (
            "/v1/workspaces/{id}/agent-sessions/{session}/permissions/{request}",
            "post",
        ),
        // Running workspaces, previews and the runtime API (sandbox-agent's).
        ("/v1/workspaces/{id}/pause", "post"),
        ("/v1/workspaces/{id}/previews", "get"),
        ("/v1/workspaces/{id}/previews", "post"),
        ("/v1/workspaces/{id}/previews/{port}/proxy/{path}", "get"),
        ("/v1/workspaces/{id}/previews/{preview_id}", "delete"),
        ("/v1/workspaces/{id}/resume", "post"),
        // The desktop (sandbox-agent's /v1/desktop/*).
        ("/v1/workspaces/{id}/runtime/v1/desktop/clipboard", "get"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/clipboard", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/display/info", "get"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/keyboard/down", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/keyboard/press", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/keyboard/type", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/keyboard/up", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/launch", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/mouse/click", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/mouse/down", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/mouse/drag", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/mouse/move", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/mouse/position", "get"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/mouse/scroll", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/mouse/up", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/open", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/recording/start", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/recording/stop", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/recordings", "get"),
        (
            "/v1/workspaces/{id}/runtime/v1/desktop/recordings/{recording}",
            "delete",
        ),
        ("/v1/workspaces/{id}/runtime/v1/desktop/recordings/{recording}", "get"),
        (
            "/v1/workspaces/{id}/runtime/v1/desktop/recordings/{recording}/download",
            "get",
        ),
        ("/v1/workspaces/{id}/runtime/v1/desktop/screenshot", "get"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/screenshot/region", "get"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/start", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/status", "get"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/stop", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/stream/start", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/stream/status", "get"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/stream/stop", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/windows", "get"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/windows/focused", "get"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/windows/{window}/focus", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/windows/{window}/move", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/windows/{window}/resize", "post"),
        ("/v1/workspaces/{id}/runtime/v1/desktop/vnc", "get"),
        // The browser.
        ("/v1/workspaces/{id}/runtime/v1/browser", "post"),
        // Scoped tokens and MCP client configuration.
        ("/v1/workspaces/{id}/tokens", "get"),
        ("/v1/workspaces/{id}/tokens", "post"),
        ("/v1/workspaces/{id}/tokens/{token_id}", "delete"),
        ("/v1/workspaces/{id}/mcp-config", "get"),
        ("/v1/workspaces/{id}/runtime/v1/acp", "get"),
        ("/v1/workspaces/{id}/runtime/v1/acp/{server}", "get"),
        ("/v1/workspaces/{id}/runtime/v1/acp/{server}", "post"),
        ("/v1/workspaces/{id}/runtime/v1/acp/{server}", "delete"),
        ("/v1/workspaces/{id}/runtime/v1/acp/{server}/events", "get"),
        ("/v1/workspaces/{id}/runtime/v1/config/mcp", "get"),
        ("/v1/workspaces/{id}/runtime/v1/config/mcp", "put"),
        ("/v1/workspaces/{id}/runtime/v1/config/mcp", "delete"),
        ("/v1/workspaces/{id}/runtime/v1/config/skills", "get"),
        ("/v1/workspaces/{id}/runtime/v1/config/skills", "put"),
        ("/v1/workspaces/{id}/runtime/v1/config/skills", "delete"),
        ("/v1/workspaces/{id}/runtime/v1/agents", "get"),
        ("/v1/workspaces/{id}/runtime/v1/agents/{agent}", "get"),
        ("/v1/workspaces/{id}/runtime/v1/agents/{agent}/install", "post"),
        ("/v1/workspaces/{id}/runtime/v1/fs/archive", "get"),
        ("/v1/workspaces/{id}/runtime/v1/fs/entries", "get"),
        ("/v1/workspaces/{id}/runtime/v1/fs/entry", "delete"),
        ("/v1/workspaces/{id}/runtime/v1/fs/file", "get"),
        ("/v1/workspaces/{id}/runtime/v1/fs/file", "put"),
        ("/v1/workspaces/{id}/runtime/v1/fs/mkdir", "post"),
        ("/v1/workspaces/{id}/runtime/v1/fs/move", "post"),
        ("/v1/workspaces/{id}/runtime/v1/fs/stat", "get"),
        ("/v1/workspaces/{id}/runtime/v1/fs/upload-batch", "post"),
        ("/v1/workspaces/{id}/runtime/v1/health", "get"),
        ("/v1/workspaces/{id}/runtime/v1/processes", "get"),
        ("/v1/workspaces/{id}/runtime/v1/processes", "post"),
        ("/v1/workspaces/{id}/runtime/v1/processes/config", "get"),
        ("/v1/workspaces/{id}/runtime/v1/processes/config", "post"),
        ("/v1/workspaces/{id}/runtime/v1/processes/run", "post"),
        ("/v1/workspaces/{id}/runtime/v1/processes/{process}", "get"),
        ("/v1/workspaces/{id}/runtime/v1/processes/{process}", "delete"),
        ("/v1/workspaces/{id}/runtime/v1/processes/{process}/input", "post"),
        ("/v1/workspaces/{id}/runtime/v1/processes/{process}/kill", "post"),
        ("/v1/workspaces/{id}/runtime/v1/processes/{process}/logs", "get"),
        ("/v1/workspaces/{id}/runtime/v1/processes/{process}/stop", "post"),
        (
            "/v1/workspaces/{id}/runtime/v1/processes/{process}/terminal/resize",
            "post",
        ),
        ("/v1/workspaces/{id}/runtime/v1/processes/{process}/terminal/ws", "get"),
        ("/v1/workspaces/{id}/code", "post"),
        ("/v1/workspaces/{id}/code/stream", "post"),
        ("/v1/workspaces/{id}/kernels", "get"),
        ("/v1/workspaces/{id}/kernels/{kernel}", "delete"),
        ("/v1/workspaces/{id}/kernels/{kernel}/interrupt", "post"),
        ("/v1/workspaces/{id}/kernels/{kernel}/restart", "post"),
        ("/v1/workspaces/{id}/start", "post"),
        ("/v1/workspaces/{id}/state", "get"),
        ("/v1/workspaces/{id}/stop", "post"),
    ];
    let paths = spec["paths"].as_object().unwrap();
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, expected.len(), "{:?}", paths.keys().collect::<Vec<_>>());
    for (path, method) in expected {
        assert!(paths[path][method].is_object(), "{method} {path} is not described");
    }
    let schemas = &spec["components"]["schemas"];
    assert!(
        schemas["RunRequest"]["properties"]["code"].is_object() || schemas["RunRequest"]["allOf"].is_array(),
        "{}",
        schemas["RunRequest"]
    );
    assert!(schemas["ExecResult"]["properties"]["exit_code"].is_object());
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    // Every JSON success answer names its schema (the SDK is checked
    // against them), except the free-form config and key records.
    for (path, methods) in paths {
        for (method, op) in methods.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                let Some(schema) = response["content"]["application/json"]["schema"].as_object() else {
                    continue;
                };
                if !status.starts_with('2') || path == "/v1/config" || path.starts_with("/v1/keys") {
                    continue;
                }
                let named = schema.contains_key("$ref") || schema.get("items").is_some_and(|i| i.get("$ref").is_some());
                assert!(named, "{method} {path} {status} has no named schema: {schema:?}");
                let name = schema
                    .get("$ref")
                    .or_else(|| schema["items"].get("$ref"))
                    .and_then(Value::as_str)
                    .and_then(|r| r.rsplit('/').next())
                    .unwrap();
                assert!(schemas[name].is_object(), "{name} is referenced but not defined");
            }
        }
    }
}

#[test]
fn fork_copies_the_frozen_parent_output_to_each_child() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let parent = "echo state > /output/a; mkdir /output/d; echo x > /output/d/b; ln -s /etc/hostname /output/link; sleep 2; cat /output/a; echo parent-done";
    let (status, result) = call(
        &server,
        "POST",
        "/v1/runs/fork",
        Some(OP1_TOKEN),
        Some(json!({
            "language": "bash",
            "parent_code": parent,
            "fork_after_ms": 600,
            "children": [
                {"code": "cat /output/a; ls /output/d; readlink /output/link; echo child >> /output/a; cat /output/a"},
                {"code": "sleep 0.3; cat /output/a", "memory_mb": 64}
            ],
            "timeout_secs": 30
        })),
    );
    assert_eq!(status, 201, "{result}");
    assert_eq!(
        result["parent"]["stdout"], "state\nparent-done\n",
        "the children wrote into the parent: {result}"
    );
    assert_eq!(
        result["children"][0]["stdout"],
        "state\nb\n/etc/hostname\nstate\nchild\n"
    );
    assert_eq!(
        result["children"][1]["stdout"], "state\n",
        "one child saw another's copy"
    );
    assert_eq!(result["child"], result["children"][0]);
    let forks = result["forks"].as_array().unwrap();
    assert_eq!(forks.len(), 2);
    for meta in forks {
        assert_eq!(meta["was_frozen"], true, "{meta}");
        assert_eq!(
            (meta["files_cloned"].as_u64(), meta["bytes_cloned"].as_u64()),
            (Some(2), Some(8)),
            "{meta}"
        );
        assert!(["copy", "reflink", "mixed"].contains(&meta["method"].as_str().unwrap()));
    }
    assert_eq!(result["fork"], forks[0]);
    let (_, page) = call(&server, "GET", "/v1/jails?kind=fork", Some(OP1_TOKEN), None);
    assert_eq!(page["total"], 3);
    let rows = page["rows"].as_array().unwrap();
    // Labels as agentjail gives them: `<language> · parent|child`.
    let parent_id = rows.iter().find(|r| r["label"] == "bash · parent").unwrap()["id"].clone();
    for i in 0..2 {
        assert!(
            rows.iter().any(|r| r["label"] == format!("bash · child {i}")),
            "{rows:?}"
        );
    }
    assert_eq!(rows.iter().filter(|r| r["parent_id"] == parent_id).count(), 2);
    // Nothing is left in the scratch directory.
    let scratch = dir.path().join("tmp");
    assert_eq!(std::fs::read_dir(&scratch).map(|d| d.count()).unwrap_or(0), 0);

    for bad in [
        json!({"parent_code": "true", "language": "bash"}),
        json!({"parent_code": "true", "language": "bash", "child_code": "true", "children": [{"code": "true"}]}),
        json!({"parent_code": "true", "language": "bash", "children": (0..17).map(|_| json!({"code": "true"})).collect::<Vec<_>>()}),
    ] {
        let (status, error) = call(&server, "POST", "/v1/runs/fork", Some(OP1_TOKEN), Some(bad));
        assert_eq!((status, &error["code"]), (StatusCode::BAD_REQUEST, &json!("BAD_FORK")));
    }
}

#[test]
fn the_agentjail_key_variable_works_and_bad_keys_are_refused_at_start() {
    let dir = tempdir();
    let alias = format!("{OP1_TOKEN}@legacy:operator");
    let server = Server::start(dir.path(), &[("AGENTJAIL_API_KEY", &alias)], &[]);
    assert_eq!(
        call(&server, "GET", "/v1/whoami", Some(OP1_TOKEN), None).1["tenant"],
        "legacy"
    );
    assert!(
        !server.first_lines.iter().any(|l| l.contains(OP1_TOKEN)),
        "a key was printed"
    );
    drop(server);
    let out = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir.path())
        .env("PADDOCK_API_KEYS", "short@t:admin")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PADDOCK_API_KEYS"));
}

#[test]
fn a_reserve_larger_than_half_the_watermark_is_refused() {
    let dir = tempdir();
    let out = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir.path())
        .args(["--min-free-space", "16m", "--reserve-space", "9m"])
        .env("PADDOCK_API_KEYS", keys())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--reserve-space (9 MiB) must be at most half of --min-free-space (16 MiB)"),
        "{stderr}"
    );
    assert!(!dir.path().join("paddock.db").exists(), "nothing is created");
}

#[test]
fn after_the_grace_period_running_jails_are_killed_and_their_rows_closed() {
    let dir = tempdir();
    let server = Server::start(
        dir.path(),
        &[("PADDOCK_API_KEYS", &keys())],
        &["--shutdown-grace", "500ms"],
    );
    let url = server.url.clone();
    let marker = "sleep 31.4159";
    let _run = std::thread::spawn(move || {
        let _ = client()
            .post(format!("{url}/v1/runs"))
            .bearer_auth(OP1_TOKEN)
            .json(&json!({"code": marker, "language": "bash"}))
            .send();
    });
    std::thread::sleep(Duration::from_millis(600));
    let running = |pattern: &str| {
        Command::new("pgrep")
            .args(["-f", pattern])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    assert!(running(marker), "the jail did not start");
    let stopping = Instant::now();
    assert!(server.stop().success());
    assert!(stopping.elapsed() < Duration::from_secs(5), "{:?}", stopping.elapsed());
    let deadline = Instant::now() + Duration::from_secs(5);
    while running(marker) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!running(marker), "the jail outlived the server");
    let server = Server::with_keys(dir.path());
    assert!(
        server.first_lines.iter().any(|l| l.contains("recovered_jails=0")),
        "{:?}",
        server.first_lines
    );
    // The row is closed as an error that names the shutdown.
    let (_, page) = call(&server, "GET", "/v1/jails", Some(OP1_TOKEN), None);
    assert_eq!(page["total"], 1, "{page}");
    let row = &page["rows"][0];
    assert_eq!(row["status"], "error", "{page}");
    assert!(row["error"].as_str().is_some_and(|e| e.contains("shut")), "{page}");
    assert!(row["ended_at"].is_string(), "{page}");
}

/// The seed SDK's documented flow (`agentjail-sdk-readme.txt`), with the
/// exact bodies its client sends.
#[test]
fn the_agentjail_sdk_flow_works_unchanged() {
    let upstream = support::upstream::Upstream::start();
    let dir = tempdir();
    let service = format!("github={}", upstream.url());
    let alias = format!("{OP1_TOKEN}@acme:operator");
    let server = Server::start(dir.path(), &[("AGENTJAIL_API_KEY", &alias)], &["--service", &service]);
    let (status, _) = call(
        &server,
        "POST",
        "/v1/credentials",
        Some(OP1_TOKEN),
        Some(json!({"service": "github", "secret": "ghp-real"})),
    );
    assert_eq!(status, 200);
    let (status, session) = call(
        &server,
        "POST",
        "/v1/sessions",
        Some(OP1_TOKEN),
        Some(json!({"services": ["github"], "ttl_secs": 600, "scopes": {"github": ["/repos/my-org/*/issues*"]}})),
    );
    assert_eq!(status, 201, "{session}");
    for field in ["id", "created_at", "expires_at", "services", "env"] {
        assert!(session.get(field).is_some(), "{field} missing: {session}");
    }
    let id = session["id"].as_str().unwrap();
    let (status, result) = call(
        &server,
        "POST",
        &format!("/v1/sessions/{id}/exec"),
        Some(OP1_TOKEN),
        Some(
            json!({"cmd": "sh", "args": ["-c", "curl -s -H \"Authorization: token $GITHUB_TOKEN\" $GITHUB_API_URL/repos/my-org/app/issues"]}),
        ),
    );
    assert_eq!(status, 200, "{result}");
    for field in [
        "stdout",
        "stderr",
        "exit_code",
        "duration_ms",
        "timed_out",
        "oom_killed",
    ] {
        assert!(result.get(field).is_some(), "{field} missing: {result}");
    }
    assert_eq!(result["stdout"], r#"{"ok":true,"path":"/repos/my-org/app/issues"}"#);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/repos/my-org/app/issues");
    assert_eq!(seen[0].header("authorization"), Some("Bearer ghp-real"));
    let (_, list) = call(&server, "GET", "/v1/credentials", Some(OP1_TOKEN), None);
    assert_eq!(list[0]["service"], "github");
    assert_eq!(
        call(&server, "DELETE", &format!("/v1/sessions/{id}"), Some(OP1_TOKEN), None).0,
        204
    );
    assert_eq!(
        call(&server, "DELETE", "/v1/credentials/github", Some(OP1_TOKEN), None).0,
        204
    );
}

/// A session of tenant t1 with an openai credential, and its record.
fn openai_session(server: &Server) -> Value {
    let (status, _) = call(
        server,
        "POST",
        "/v1/credentials",
        Some(OP1_TOKEN),
        Some(json!({"service": "openai", "secret": "sk-agentjail-shape"})),
    );
    assert_eq!(status, 200);
    let (status, session) = call(
        server,
        "POST",
        "/v1/sessions",
        Some(OP1_TOKEN),
        Some(json!({"services": ["openai"]})),
    );
    assert_eq!(status, 201, "{session}");
    session
}

/// agentjail's `SessionView` carries `env` on create, get and list; a
/// closed session is removed: get, exec and a second close answer 404,
/// and the list no longer has it.
#[test]
fn sessions_carry_env_on_get_and_list_and_a_closed_one_is_gone() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let session = openai_session(&server);
    let id = session["id"].as_str().unwrap().to_owned();
    let env = session["env"].clone();
    assert!(env["OPENAI_API_KEY"].as_str().unwrap().starts_with("phm_"), "{env}");
    assert!(env["OPENAI_BASE_URL"].as_str().unwrap().contains("/v1/openai"), "{env}");
    assert!(session["expires_at"].is_string());

    let (status, got) = call(&server, "GET", &format!("/v1/sessions/{id}"), Some(OP1_TOKEN), None);
    assert_eq!(status, 200);
    assert_eq!(got["env"], env);
    let (status, list) = call(&server, "GET", "/v1/sessions", Some(OP1_TOKEN), None);
    assert_eq!(status, 200);
    let listed = list.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["env"], env);
    for field in ["id", "created_at", "expires_at", "services", "env"] {
        assert!(listed[0].get(field).is_some(), "{field} missing: {list}");
    }

    assert_eq!(
        call(&server, "DELETE", &format!("/v1/sessions/{id}"), Some(OP1_TOKEN), None).0,
        204
    );
    assert_eq!(
        call(&server, "GET", &format!("/v1/sessions/{id}"), Some(OP1_TOKEN), None).0,
        404
    );
    let (status, error) = call(
        &server,
        "POST",
        &format!("/v1/sessions/{id}/exec"),
        Some(OP1_TOKEN),
        Some(json!({"cmd": "true"})),
    );
    assert_eq!((status, &error["code"]), (StatusCode::NOT_FOUND, &json!("NOT_FOUND")));
    assert_eq!(
        call(&server, "DELETE", &format!("/v1/sessions/{id}"), Some(OP1_TOKEN), None).0,
        404
    );
    let (_, list) = call(&server, "GET", "/v1/sessions", Some(OP1_TOKEN), None);
    assert_eq!(list, json!([]));
    let (status, error) = call(&server, "DELETE", "/v1/credentials/nope", Some(OP1_TOKEN), None);
    assert_eq!(
        (status, &error["code"]),
        (StatusCode::BAD_REQUEST, &json!("UNKNOWN_SERVICE"))
    );
    // An expired session is still listed and read, but refuses execs with 400.
    let (status, short) = call(
        &server,
        "POST",
        "/v1/sessions",
        Some(OP1_TOKEN),
        Some(json!({"services": ["openai"], "ttl_secs": 1})),
    );
    assert_eq!(status, 201, "{short}");
    std::thread::sleep(Duration::from_millis(1100));
    let short_id = short["id"].as_str().unwrap();
    let (status, got) = call(
        &server,
        "GET",
        &format!("/v1/sessions/{short_id}"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!((status, &got["status"]), (StatusCode::OK, &json!("expired")));
    let (status, error) = call(
        &server,
        "POST",
        &format!("/v1/sessions/{short_id}/exec"),
        Some(OP1_TOKEN),
        Some(json!({"cmd": "true"})),
    );
    assert_eq!(
        (status, &error["code"]),
        (StatusCode::BAD_REQUEST, &json!("SESSION_EXPIRED"))
    );
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/v1/sessions/{short_id}"),
            Some(OP1_TOKEN),
            None
        )
        .0,
        204
    );
    // (ext) Closed sessions on request, still with their env.
    let (_, list) = call(
        &server,
        "GET",
        "/v1/sessions?include_closed=true",
        Some(OP1_TOKEN),
        None,
    );
    let first = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap();
    assert_eq!(first["status"], "closed");
    assert_eq!(first["env"], env);
    // The env is kept sealed: the token is not in the database file.
    drop(server);
    let token = env["OPENAI_API_KEY"].as_str().unwrap();
    for file in ["paddock.db", "paddock.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "token in clear in {file}"
        );
    }
}

/// `/v1/audit` holds the phantom proxy's requests in agentjail's
/// `AuditRow` shape (strings never null, integer `status` and
/// `upstream_ms`); control-plane actions are at `/v1/audit/actions`.
#[test]
fn the_audit_log_has_agentjail_rows_and_actions_apart() {
    let upstream = support::upstream::Upstream::start();
    let dir = tempdir();
    let service = format!("openai={}", upstream.url());
    let server = Server::start(dir.path(), &[("PADDOCK_API_KEYS", &keys())], &["--service", &service]);
    let session = openai_session(&server);
    let token = session["env"]["OPENAI_API_KEY"].as_str().unwrap();
    let base = session["env"]["OPENAI_BASE_URL"].as_str().unwrap();
    let forwarded = client()
        .get(format!("{base}/models?x=1"))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(forwarded.status(), 200);
    let refused = client().get(format!("{base}/models")).send().unwrap();
    assert_eq!(refused.status(), 401);

    // The proxy writes its rows in the background.
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let (status, page) = call(&server, "GET", "/v1/audit", Some(ADMIN_TOKEN), None);
        assert_eq!(status, 200);
        if page["rows"].as_array().unwrap().len() >= 2 || Instant::now() > deadline {
            break page;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(page["total"].is_u64(), "{page}");
    let rows = page["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "only proxy rows: {page}");
    for row in rows {
        let keys: Vec<&str> = row.as_object().unwrap().keys().map(String::as_str).collect();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "at",
                "id",
                "method",
                "path",
                "reject_reason",
                "service",
                "session_id",
                "status",
                "upstream_ms"
            ],
            "{row}"
        );
        assert!(row["id"].is_u64() && row["status"].is_u64(), "{row}");
        for field in ["at", "session_id", "service", "method", "path"] {
            assert!(row[field].is_string(), "{field}: {row}");
        }
    }
    // Newest first: the refusal, before its token was known.
    assert_eq!(rows[0]["reject_reason"], "no_token");
    // (paddock knows the service from the path even without a token.)
    assert_eq!(rows[0]["session_id"], "");
    assert!(rows[0]["service"].is_string());
    assert!(rows[0]["upstream_ms"].is_null());
    assert_eq!(rows[1]["session_id"], session["id"]);
    assert_eq!(rows[1]["service"], "openai");
    assert_eq!(
        (&rows[1]["method"], &rows[1]["path"]),
        (&json!("GET"), &json!("/v1/models"))
    );
    assert_eq!(rows[1]["status"], 200);
    assert!(rows[1]["reject_reason"].is_null());
    assert!(rows[1]["upstream_ms"].is_u64(), "{}", rows[1]);

    let (status, actions) = call(&server, "GET", "/v1/audit/actions", Some(OP1_TOKEN), None);
    assert_eq!(status, 200);
    let names: Vec<&str> = actions["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["session.create", "credential.put"]);
    assert_eq!(actions["rows"][0]["target"], session["id"]);
    assert!(actions["rows"][0]["actor"].as_str().unwrap().starts_with("key_"));
}

/// Every `*_ms` field is an integer, ledger labels are strings as
/// agentjail sets them per kind, and every row's `config` has agentjail's
/// `JailConfigSnapshot` keys (`cpu_percent` 100 without a quota).
#[test]
fn ledger_rows_and_results_have_integer_ms_string_labels_and_one_config_shape() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let (status, run) = call(
        &server,
        "POST",
        "/v1/runs",
        Some(OP1_TOKEN),
        Some(json!({"code": "echo hi", "language": "bash", "timeout_secs": 30})),
    );
    assert_eq!(status, 201, "{run}");
    assert!(run["duration_ms"].is_u64(), "{run}");
    let (status, fork) = call(
        &server,
        "POST",
        "/v1/runs/fork",
        Some(OP1_TOKEN),
        Some(json!({"parent_code": "echo p", "child_code": "echo c", "language": "bash", "fork_after_ms": 100})),
    );
    assert_eq!(status, 201, "{fork}");
    assert!(fork["fork"]["clone_ms"].is_u64(), "{fork}");
    assert!(fork["parent"]["duration_ms"].is_u64() && fork["child"]["duration_ms"].is_u64());
    let text = client()
        .post(format!("{}/v1/runs/stream", server.url))
        .bearer_auth(OP1_TOKEN)
        .json(&json!({"code": "echo s", "language": "bash"}))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let events = parse_sse(&text);
    let completed: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert!(completed["duration_ms"].is_u64(), "{completed}");
    let session = {
        call(
            &server,
            "POST",
            "/v1/credentials",
            Some(OP1_TOKEN),
            Some(json!({"service": "openai", "secret": "sk-x"})),
        );
        call(
            &server,
            "POST",
            "/v1/sessions",
            Some(OP1_TOKEN),
            Some(json!({"services": ["openai"]})),
        )
        .1
    };
    let id = session["id"].as_str().unwrap();
    let (status, exec) = call(
        &server,
        "POST",
        &format!("/v1/sessions/{id}/exec"),
        Some(OP1_TOKEN),
        Some(json!({"cmd": "echo", "args": ["e"], "cpu_percent": 50})),
    );
    assert_eq!(status, 200, "{exec}");
    assert!(exec["duration_ms"].is_u64(), "{exec}");

    let (_, page) = call(&server, "GET", "/v1/jails?limit=50", Some(OP1_TOKEN), None);
    let rows = page["rows"].as_array().unwrap();
    let labels: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap(),
                r["label"].as_str().expect("label is a string"),
            )
        })
        .collect();
    assert_eq!(
        labels,
        [
            ("exec", "echo"),
            ("stream", "bash"),
            ("fork", "bash · child"),
            ("fork", "bash · parent"),
            ("run", "bash"),
        ]
    );
    for row in rows {
        assert!(row["duration_ms"].is_u64(), "{row}");
        assert!(row["id"].is_u64() && row["tenant_id"] == "t1", "{row}");
        let config = row["config"].as_object().expect("config is an object");
        for key in [
            "network_mode",
            "seccomp",
            "memory_mb",
            "timeout_secs",
            "cpu_percent",
            "max_pids",
        ] {
            assert!(config.contains_key(key), "{key} missing: {row}");
        }
        for key in ["memory_mb", "timeout_secs", "cpu_percent", "max_pids"] {
            assert!(config[key].is_u64(), "{key}: {row}");
        }
        assert!(config.values().all(|v| !v.is_null()), "a null in {row}");
        assert!(
            !config.contains_key("network_domains"),
            "empty domains are left out: {row}"
        );
        let cpu = if row["kind"] == "exec" { 50 } else { 100 };
        assert_eq!(config["cpu_percent"], cpu, "{row}");
    }
    let (_, one) = call(
        &server,
        "GET",
        &format!("/v1/jails/{}", rows[0]["id"]),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(one["label"], "echo");
    assert_eq!(one["session_id"], id);
    // Unknown filters are ignored, as agentjail ignores them.
    let (status, all) = call(
        &server,
        "GET",
        "/v1/jails?status=bogus&kind=nope",
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!((status, &all["total"]), (StatusCode::OK, &json!(5)));
}

/// `/v1/config` in agentjail's schema: the proxy's providers, exec
/// defaults, persistence and snapshot retention; addresses and paths for
/// admins only (left out, not blanked, for operators).
#[test]
fn the_config_has_agentjail_keys() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let (status, admin) = call(&server, "GET", "/v1/config", Some(ADMIN_TOKEN), None);
    assert_eq!(status, 200);
    for key in ["proxy", "control_plane", "gateway", "exec", "persistence", "snapshots"] {
        assert!(admin.get(key).is_some(), "{key} missing: {admin}");
    }
    assert_eq!(admin["proxy"]["base_url"], format!("http://{}", server.proxy));
    assert_eq!(admin["proxy"]["bind_addr"], server.proxy);
    assert!(admin["control_plane"]["bind_addr"].is_string());
    assert!(admin["gateway"].is_null());
    let providers = admin["proxy"]["providers"].as_array().unwrap();
    let ids: Vec<&str> = providers.iter().map(|p| p["service_id"].as_str().unwrap()).collect();
    for id in ["openai", "anthropic", "github", "stripe"] {
        assert!(ids.contains(&id), "{id} not in {ids:?}");
    }
    let openai = providers.iter().find(|p| p["service_id"] == "openai").unwrap();
    assert_eq!(openai["request_prefix"], "/v1/openai/");
    assert_eq!(openai["upstream_base"], "https://api.openai.com");
    assert_eq!(admin["exec"]["default_memory_mb"], 512);
    assert_eq!(admin["exec"]["default_timeout_secs"], 300);
    assert!(admin["exec"]["max_concurrent"].is_u64());
    assert!(admin["persistence"]["idle_check_secs"].is_u64());
    assert!(admin["persistence"]["state_dir"].is_string());
    assert!(admin["snapshots"]["gc"]["tick_secs"].is_u64());
    assert!(admin["snapshots"]["gc"]["max_age_secs"].is_null());

    let (_, operator) = call(&server, "GET", "/v1/config", Some(OP1_TOKEN), None);
    assert!(operator["proxy"].get("bind_addr").is_none(), "{operator}");
    assert!(operator["control_plane"].get("bind_addr").is_none(), "{operator}");
    assert!(operator["persistence"].get("state_dir").is_none(), "{operator}");
    let providers = operator["proxy"]["providers"].as_array().unwrap();
    assert_eq!(providers.len(), ids.len());
    assert!(providers
        .iter()
        .all(|p| p["upstream_base"] == "" && p["service_id"].is_string()));
}

/// `POST /v1/sessions/{id}/exec/stream` streams the same SSE as
/// `/v1/runs/stream`: a `\r` inside a line and a blank line survive (not
/// agentjail's panic), and output over the capture cap sets
/// `stdout_truncated` on `completed`.
#[test]
fn session_exec_streams_sse_with_carriage_returns_blank_lines_and_truncation() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let session = openai_session(&server);
    let id = session["id"].as_str().unwrap();
    // 2 MiB of 1 KiB lines after the interesting ones.
    let script = r#"printf '10%%\r50%%\r100%%\n\nkey=%s\n' "${OPENAI_API_KEY%%_*}"; line=$(printf '%01023d' 0); i=0; while [ $i -lt 2048 ]; do echo "$line"; i=$((i+1)); done"#;
    let mut response: Response = client()
        .post(format!("{}/v1/sessions/{id}/exec/stream", server.url))
        .bearer_auth(OP1_TOKEN)
        .json(&json!({"cmd": "sh", "args": ["-c", script], "timeout_secs": 60}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let run_id: i64 = response.headers()["x-paddock-run-id"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut text = String::new();
    response.read_to_string(&mut text).unwrap();
    let events = parse_sse(&text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"started"));
    assert_eq!(
        names.last(),
        Some(&"completed"),
        "{:?}",
        &names[names.len().saturating_sub(5)..]
    );
    let stdout: Vec<&str> = events
        .iter()
        .filter(|(n, _)| n == "stdout")
        .map(|(_, d)| d.as_str())
        .collect();
    // A `\r` splits the data into lines joined with `\n`; nothing is lost.
    assert_eq!(stdout[0], "10%\n50%\n100%");
    assert_eq!(stdout[1], "", "a blank line is an empty event");
    assert_eq!(stdout[2], "key=phm", "the session's env is in the jail");
    // The stream carries the output up to the capture cap (1 MiB): whole
    // lines, the last one possibly cut.
    let body = &stdout[3..];
    let (last, full) = body.split_last().unwrap();
    assert!(full.iter().all(|l| l.len() == 1023 && l.bytes().all(|b| b == b'0')));
    assert!(last.len() <= 1023);
    assert!(body.len() >= 1000, "{} lines", body.len());
    let completed: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert_eq!(completed["exit_code"], 0, "{completed}");
    assert_eq!(completed["stdout_truncated"], true, "{completed}");
    assert!(completed["duration_ms"].is_u64(), "{completed}");
    let (_, row) = call(&server, "GET", &format!("/v1/jails/{run_id}"), Some(OP1_TOKEN), None);
    assert_eq!(
        (&row["kind"], &row["label"], &row["session_id"]),
        (&json!("exec"), &json!("sh"), &json!(id))
    );
    assert_eq!(row["status"], "completed");

    // A closed session cannot stream.
    call(&server, "DELETE", &format!("/v1/sessions/{id}"), Some(OP1_TOKEN), None);
    let (status, _) = call(
        &server,
        "POST",
        &format!("/v1/sessions/{id}/exec/stream"),
        Some(OP1_TOKEN),
        Some(json!({"cmd": "true"})),
    );
    assert_eq!(status, 404);
}

/// A workspace exec's ledger label is agentjail's `workspace:<id>/<cmd>`.
#[test]
fn a_workspace_exec_is_labelled_as_agentjail_labels_it() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let (status, workspace) = call(&server, "POST", "/v1/workspaces", Some(OP1_TOKEN), Some(json!({})));
    assert_eq!(status, 201, "{workspace}");
    let id = workspace["id"].as_str().unwrap();
    let (status, result) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{id}/exec"),
        Some(OP1_TOKEN),
        Some(json!({"cmd": "true"})),
    );
    assert_eq!(status, 200, "{result}");
    let (_, page) = call(&server, "GET", "/v1/jails?kind=workspace", Some(OP1_TOKEN), None);
    let row = &page["rows"][0];
    assert_eq!(row["label"], format!("workspace:{id}/true"), "{row}");
    assert!(row["duration_ms"].is_u64(), "{row}");
    assert_eq!(row["config"]["cpu_percent"], 100, "{row}");
}
