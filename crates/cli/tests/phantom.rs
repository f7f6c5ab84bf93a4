//! The phantom credential proxy end to end: the real `paddock serve`, real
//! upstreams on 127.0.0.1 that record what they receive, real jails, real
//! SQLite files. Threat-model rows 24, 25, 26 and 29 are proven here.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

mod support;

use support::upstream::{pattern, Upstream};
use support::*;

/// A server whose built-in services all point at `upstream`, plus a
/// custom `corp` service with its own header style.
fn server_for(upstream: &Upstream, state_dir: &Path, extra: &[&str]) -> Server {
    let url = upstream.url();
    let specs = [
        format!("openai={url}"),
        format!("anthropic={url}"),
        format!("github={url}"),
        format!("stripe={url}"),
        format!("corp={url}/base,auth=header:x-corp-token,env=CORP"),
    ];
    let mut args: Vec<&str> = Vec::new();
    for spec in &specs {
        args.extend(["--service", spec]);
    }
    args.extend(extra);
    Server::start(state_dir, &[("PADDOCK_API_KEYS", &keys())], &args)
}

fn put_credential(server: &Server, token: &str, service: &str, secret: &str) {
    let (status, body) = call(
        server,
        "POST",
        "/v1/credentials",
        Some(token),
        Some(json!({"service": service, "secret": secret})),
    );
    assert_eq!(status, 200, "{body}");
}

fn session(server: &Server, token: &str, body: Value) -> Value {
    let (status, session) = call(server, "POST", "/v1/sessions", Some(token), Some(body));
    assert_eq!(status, 201, "{session}");
    session
}

/// A request to the proxy with the given headers.
fn through(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> reqwest::blocking::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client().request(method, format!("http://{}{path}", server.proxy));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    if let Some(body) = body {
        request = request.body(body.to_owned());
    }
    request.send().expect("proxy answers")
}

/// A request written byte for byte (no client-side normalization of the
/// path); returns the status and the body.
fn raw(server: &Server, target: &str, token: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(&server.proxy).expect("connect to the proxy");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status for {target}: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The session's audit rows, oldest first, once `count` are there (the
/// proxy writes them in the background).
fn audit_rows(server: &Server, token: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, page) = call(server, "GET", "/v1/audit?limit=1000", Some(token), None);
        let mut rows: Vec<Value> = page["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"].is_null())
            .cloned()
            .collect();
        rows.reverse();
        if rows.len() >= count || Instant::now() > deadline {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn token_of<'a>(session: &'a Value, var: &str) -> &'a str {
    session["env"][var]
        .as_str()
        .unwrap_or_else(|| panic!("{var} in {session}"))
}

#[test]
fn each_header_style_reaches_the_upstream_with_the_real_key_and_never_the_token() {
    let upstream = Upstream::start();
    let dir = tempdir();
    let server = server_for(&upstream, dir.path(), &[]);
    for (service, secret) in [
        ("openai", "sk-openai-real"),
        ("anthropic", "sk-ant-real"),
        ("github", "ghp_real"),
        ("stripe", "sk_live_real"),
        ("corp", "corp-real"),
    ] {
        put_credential(&server, OP1_TOKEN, service, secret);
    }
    let s = session(
        &server,
        OP1_TOKEN,
        json!({"services": ["openai", "anthropic", "github", "stripe", "corp"]}),
    );
    let proxy = format!("http://{}", server.proxy);
    assert_eq!(s["env"]["OPENAI_BASE_URL"], format!("{proxy}/v1/openai/v1"));
    assert_eq!(s["env"]["ANTHROPIC_BASE_URL"], format!("{proxy}/v1/anthropic"));
    assert_eq!(s["env"]["GITHUB_API_URL"], format!("{proxy}/v1/github"));
    assert_eq!(s["env"]["STRIPE_API_BASE"], format!("{proxy}/v1/stripe"));
    assert_eq!(s["env"]["CORP_BASE_URL"], format!("{proxy}/v1/corp"));

    // Each service as its own SDK sends the key.
    let openai = token_of(&s, "OPENAI_API_KEY");
    let anthropic = token_of(&s, "ANTHROPIC_API_KEY");
    let github = token_of(&s, "GITHUB_TOKEN");
    let stripe = token_of(&s, "STRIPE_API_KEY");
    let corp = token_of(&s, "CORP_API_KEY");
    // (method, proxy path, client headers, target the upstream sees, key header, its value)
    type Case<'a> = (&'a str, String, Vec<(&'a str, String)>, &'a str, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/v1/openai/v1/chat/completions?stream=false".into(),
            vec![("authorization", format!("Bearer {openai}"))],
            "/v1/chat/completions?stream=false",
            "authorization",
            "Bearer sk-openai-real",
        ),
        (
            "POST",
            "/v1/anthropic/v1/messages".into(),
            vec![("x-api-key", anthropic.to_owned())],
            "/v1/messages",
            "x-api-key",
            "sk-ant-real",
        ),
        (
            "GET",
            "/v1/github/repos/my-org/app".into(),
            vec![("authorization", format!("token {github}"))],
            "/repos/my-org/app",
            "authorization",
            "Bearer ghp_real",
        ),
        (
            "DELETE",
            "/v1/stripe/v1/customers/cus_1".into(),
            vec![("authorization", format!("Bearer {stripe}"))],
            "/v1/customers/cus_1",
            "authorization",
            "Bearer sk_live_real",
        ),
        (
            "PUT",
            "/v1/corp/items/1".into(),
            vec![("authorization", format!("Bearer {corp}"))],
            "/base/items/1",
            "x-corp-token",
            "corp-real",
        ),
    ];
    for (method, path, headers, expected_target, header, value) in &cases {
        let mut sent: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        // Hop-by-hop headers, and the ones Connection names, stay behind.
        sent.extend([
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("proxy-authorization", "Basic eDp5"),
            ("x-client", "kept"),
        ]);
        let response = through(&server, method, path, &sent, Some("{\"q\":1}"));
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["x-upstream"], "recorded");
        let seen = upstream.seen().pop().expect("the upstream was reached");
        assert_eq!(seen.method, *method);
        assert_eq!(seen.target, *expected_target);
        assert_eq!(seen.header(header), Some(*value), "{path}: {}", seen.all_headers());
        assert_eq!(seen.header("host"), Some(upstream.addr.to_string().as_str()));
        assert_eq!(seen.header("x-client"), Some("kept"));
        assert_eq!(seen.body_len, 7);
        for gone in ["x-hop", "proxy-authorization"] {
            assert!(seen.header(gone).is_none(), "{gone} forwarded");
        }
        let all = seen.all_headers();
        assert!(!all.contains("phm_"), "a phantom token reached the upstream: {all}");
    }
    // Anthropic gets its version header when the client sends none, and
    // keeps the client's own.
    let first_anthropic = &upstream.seen()[1];
    assert_eq!(first_anthropic.header("anthropic-version"), Some("2023-06-01"));
    through(
        &server,
        "POST",
        "/v1/anthropic/v1/messages",
        &[("x-api-key", anthropic), ("anthropic-version", "2024-10-22")],
        None,
    );
    assert_eq!(
        upstream.seen().pop().unwrap().header("anthropic-version"),
        Some("2024-10-22")
    );

    // Every request is an audit row with what was forwarded.
    let rows = audit_rows(&server, OP1_TOKEN, cases.len() + 1);
    assert_eq!(rows.len(), cases.len() + 1, "{rows:?}");
    let first = &rows[0];
    assert_eq!(first["session_id"], s["id"]);
    assert_eq!(first["service"], "openai");
    assert_eq!(first["method"], "POST");
    assert_eq!(first["path"], "/v1/chat/completions");
    assert_eq!(first["status"], 200);
    assert!(first["reject_reason"].is_null());
    // Integer milliseconds, as agentjail's `u64`.
    assert!(first["upstream_ms"].is_u64(), "{first}");
    // Operators of another tenant see none of it.
    assert_eq!(audit_rows(&server, OP2_TOKEN, 0).len(), 0);
}

#[test]
fn server_sent_events_arrive_as_the_upstream_sends_them() {
    let upstream = Upstream::start();
    let dir = tempdir();
    let server = server_for(&upstream, dir.path(), &[]);
    put_credential(&server, OP1_TOKEN, "openai", "sk-1");
    let s = session(&server, OP1_TOKEN, json!({"services": ["openai"]}));
    let auth = format!("Bearer {}", token_of(&s, "OPENAI_API_KEY"));
    let response = through(
        &server,
        "POST",
        "/v1/openai/v1/sse",
        &[("authorization", &auth)],
        Some("{}"),
    );
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut reader = BufReader::new(response);
    let mut line = String::new();
    // The upstream holds its second event back until released: the first
    // must arrive on its own, so the proxy does not buffer.
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "data: first\n");
    reader.read_line(&mut line).unwrap();
    upstream.release();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "data: second\n\n");
}

#[test]
fn large_bodies_stream_both_ways_intact() {
    let upstream = Upstream::start();
    let dir = tempdir();
    let server = server_for(&upstream, dir.path(), &[]);
    put_credential(&server, OP1_TOKEN, "openai", "sk-1");
    let s = session(&server, OP1_TOKEN, json!({"services": ["openai"]}));
    let auth = format!("Bearer {}", token_of(&s, "OPENAI_API_KEY"));

    // 64 MiB up, sent chunked (no length known in advance).
    let size = 64 << 20;
    let upload: Vec<u8> = (0..size).map(|i| (i * 7 % 256) as u8).collect();
    let expected = blake3::hash(&upload).to_hex().to_string();
    let response = client()
        .post(format!("http://{}/v1/openai/v1/files", server.proxy))
        .header("authorization", &auth)
        .body(reqwest::blocking::Body::new(std::io::Cursor::new(upload)))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = upstream.seen().pop().unwrap();
    assert_eq!((seen.body_len, seen.body_hash), (size, expected));

    // 256 MiB down, checked byte for byte as it streams.
    let size = 256 << 20;
    let mut response = through(
        &server,
        "GET",
        &format!("/v1/openai/v1/big/{size}"),
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(response.status(), 200);
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = 0;
    loop {
        let n = response.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        assert!(
            buf[..n].iter().enumerate().all(|(i, b)| *b == pattern(offset + i)),
            "corrupt at {offset}"
        );
        offset += n;
    }
    assert_eq!(offset, size);
}

#[test]
fn every_refusal_has_its_status_and_reason_and_never_reaches_the_upstream() {
    let upstream = Upstream::start();
    let dir = tempdir();
    // `down` points at a port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let down = format!("down=http://{closed}");
    let server = server_for(&upstream, dir.path(), &["--service", &down]);
    for service in ["openai", "github", "anthropic", "down"] {
        put_credential(&server, OP1_TOKEN, service, "sk-1");
    }
    let s = session(
        &server,
        OP1_TOKEN,
        json!({"services": ["openai", "github", "anthropic", "down"], "scopes": {"github": ["/repos/my-org/*"]}}),
    );
    let openai = format!("Bearer {}", token_of(&s, "OPENAI_API_KEY"));
    let github = format!("Bearer {}", token_of(&s, "GITHUB_TOKEN"));
    let anthropic = token_of(&s, "ANTHROPIC_API_KEY").to_owned();
    let down_token = format!("Bearer {}", token_of(&s, "DOWN_API_KEY"));
    // A credential deleted after the session was made.
    call(&server, "DELETE", "/v1/credentials/anthropic", Some(OP1_TOKEN), None);
    // A session that expires, one that is closed, one with a budget of 1.
    let short = session(&server, OP1_TOKEN, json!({"services": ["openai"], "ttl_secs": 1}));
    let closed_session = session(&server, OP1_TOKEN, json!({"services": ["openai"]}));
    call(
        &server,
        "DELETE",
        &format!("/v1/sessions/{}", closed_session["id"].as_str().unwrap()),
        Some(OP1_TOKEN),
        None,
    );
    let budget = session(&server, OP1_TOKEN, json!({"services": ["openai"], "max_requests": 1}));
    let budget_auth = format!("Bearer {}", token_of(&budget, "OPENAI_API_KEY"));
    assert_eq!(
        through(
            &server,
            "GET",
            "/v1/openai/v1/models",
            &[("authorization", &budget_auth)],
            None
        )
        .status(),
        200
    );
    let forwarded_before = upstream.seen().len();
    std::thread::sleep(Duration::from_millis(1100));

    let unknown = format!("Bearer phm_{}", "0".repeat(64));
    let expired = format!("Bearer {}", token_of(&short, "OPENAI_API_KEY"));
    let revoked = format!("Bearer {}", token_of(&closed_session, "OPENAI_API_KEY"));
    // (path, headers, status, audit reason)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("/elsewhere", vec![("authorization", &openai)], 400, "bad_path"),
        ("/v1/openai/v1/a//b", vec![("authorization", &openai)], 400, "bad_path"),
        ("/v1/nope/x", vec![("authorization", &openai)], 404, "unknown_service"),
        ("/v1/openai/v1/models", vec![], 401, "no_token"),
        (
            "/v1/openai/v1/models",
            vec![("authorization", "Bearer sk-real-key-by-mistake")],
            401,
            "unknown_token",
        ),
        (
            "/v1/openai/v1/models",
            vec![("authorization", &unknown)],
            401,
            "unknown_token",
        ),
        (
            "/v1/openai/v1/models",
            vec![("authorization", &expired)],
            401,
            "unknown_token",
        ),
        (
            "/v1/openai/v1/models",
            vec![("authorization", &revoked)],
            401,
            "unknown_token",
        ),
        (
            "/v1/github/repos/x",
            vec![("authorization", &openai)],
            403,
            "wrong_service",
        ),
        (
            "/v1/github/repos/other-org/app",
            vec![("authorization", &github)],
            403,
            "scope_denied",
        ),
        (
            "/v1/anthropic/v1/messages",
            vec![("x-api-key", &anthropic)],
            502,
            "no_upstream_key",
        ),
        (
            "/v1/openai/v1/models",
            vec![("authorization", &budget_auth)],
            429,
            "budget_exhausted",
        ),
    ];
    for (path, headers, status, reason) in &cases {
        let response = through(&server, "GET", path, headers, None);
        assert_eq!(response.status().as_u16(), *status, "{path} {headers:?}");
        assert_eq!(response.headers()["x-paddock-phantom"], *reason, "{path}");
        let body: Value = response.json().unwrap();
        assert_eq!(body["reason"], *reason);
        assert!(
            body["error"].as_str().unwrap().starts_with("paddock phantom proxy: "),
            "{body}"
        );
    }
    assert_eq!(
        upstream.seen().len(),
        forwarded_before,
        "a refused request reached the upstream"
    );
    // The upstream that is down: 502, upstream_error.
    let response = through(&server, "GET", "/v1/down/x", &[("authorization", &down_token)], None);
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["x-paddock-phantom"], "upstream_error");
    assert!(response.text().unwrap().contains(&closed.to_string()));

    // Refusals are audited with their reason; requests without a known
    // token belong to no tenant, so only admins see them.
    let (_, page) = call(&server, "GET", "/v1/audit?limit=1000", Some(ADMIN_TOKEN), None);
    let reasons: Vec<&str> = page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["reject_reason"].as_str())
        .collect();
    for (_, _, _, reason) in &cases {
        assert!(reasons.contains(reason), "{reason} not audited: {reasons:?}");
    }
    assert!(reasons.contains(&"upstream_error"));
    let (_, budget_row) = call(
        &server,
        "GET",
        &format!("/v1/sessions/{}", budget["id"].as_str().unwrap()),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(
        (
            budget_row["max_requests"].as_i64(),
            budget_row["requests_used"].as_i64()
        ),
        (Some(1), Some(1))
    );
    let (status, _) = call(
        &server,
        "POST",
        "/v1/sessions",
        Some(OP1_TOKEN),
        Some(json!({"services": ["openai"], "max_requests": 0})),
    );
    assert_eq!(status, 400);
    let (_, metrics) = call(&server, "GET", "/metrics", Some(ADMIN_TOKEN), None);
    assert!(metrics
        .as_str()
        .unwrap()
        .contains("paddock_phantom_requests_total{outcome=\"scope_denied\"} 1"));
}

/// Threat-model row 25.
#[test]
fn row25_scope_escapes_never_reach_the_upstream() {
    let upstream = Upstream::start();
    let dir = tempdir();
    let server = server_for(&upstream, dir.path(), &[]);
    put_credential(&server, OP1_TOKEN, "github", "ghp_real");
    let s = session(
        &server,
        OP1_TOKEN,
        json!({"services": ["github"], "scopes": {"github": ["/repos/my-org/*"]}}),
    );
    let token = token_of(&s, "GITHUB_TOKEN");
    for attack in [
        "/v1/github/repos/my-org/../other-org/secrets",
        "/v1/github/repos/my-org/%2e%2e/other-org/secrets",
        "/v1/github/repos/my-org/%2E%2e/other-org/secrets",
        "/v1/github/repos/my-org/.%2e/other-org",
        "/v1/github/repos/my-org%2f..%2fother-org/secrets",
        "/v1/github/repos/my-org/..%5cother-org",
        "/v1/github/repos/my-org\\..\\other-org",
        "/v1/github/repos//my-org/../../other-org",
        "/v1/github/repos/my-org//../other-org",
        "/v1/github/repos/my-org;x=1/../other-org",
        "/v1/github/repos/my-org/x;/../../other-org",
        "/v1/github/repos/my-org./secrets",
        "/v1/github/repos/my-org%2e/secrets",
        "/v1/github/repos/my-org%20/secrets",
        "/v1/github/repos/my-org/%252e%252e/other-org",
        "/v1/github/repos/my-org/%c0%ae%c0%ae/other-org",
        "/v1/github/repos/my-org/%00/x",
        "/v1/github/repos/other-org/app",
        "/v1/github/repos/my-org-evil/app",
        "/v1/github/repos/my-org",
        "/v1/github/./repos/my-org/app",
        "/v1/github/REPOS/../repos/other-org/app",
        "/v1/%67ithub/repos/other-org/app",
        // A final `*` stands for a segment, never the empty one.
        "/v1/github/repos/my-org/",
        // Unicode lookalikes an upstream might fold into '.', '/' or '\\'.
        "/v1/github/repos/my-org/%EF%BC%8E%EF%BC%8E/other-org/secrets",
        "/v1/github/repos/my-org/%ef%bc%8e%ef%bc%8e%ef%bc%8fother-org",
        "/v1/github/repos/my-org/%E2%80%A5/other-org",
        "/v1/github/repos/my-org/%EF%B9%92%EF%B9%92/other-org",
        "/v1/github/repos/my-org/app%E2%88%95..%E2%88%95..%E2%88%95other-org",
        "/v1/github/repos/my-org/app%EF%BC%BC..%EF%BC%BCother-org",
    ] {
        let (status, body) = raw(&server, attack, token);
        assert!(matches!(status, 400 | 403 | 404), "{attack}: {status} {body}");
        assert!(
            upstream.seen().is_empty(),
            "{attack} reached the upstream as {:?}",
            upstream.seen()
        );
    }
    // Inside the scope, whatever the spelling, the upstream receives the
    // canonical path that was checked (GitHub folds case in owner names).
    for (path, forwarded) in [
        ("/v1/github/repos/my-org/app", "/repos/my-org/app"),
        (
            "/v1/github/repos/My-Org/app/issues?state=open",
            "/repos/My-Org/app/issues?state=open",
        ),
        ("/v1/github/repos/my-org/%61pp%20x", "/repos/my-org/app%20x"),
    ] {
        let (status, body) = raw(&server, path, token);
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(upstream.seen().pop().unwrap().target, forwarded);
    }
}

/// Threat-model row 24.
#[test]
fn row24_a_token_spends_only_its_own_tenants_key() {
    let upstream = Upstream::start();
    let dir = tempdir();
    let server = server_for(&upstream, dir.path(), &[]);
    put_credential(&server, OP1_TOKEN, "openai", "sk-tenant-one");
    put_credential(&server, OP2_TOKEN, "openai", "sk-tenant-two");
    let one = session(&server, OP1_TOKEN, json!({"services": ["openai"]}));
    let two = session(&server, OP2_TOKEN, json!({"services": ["openai"]}));
    for (s, key) in [(&one, "Bearer sk-tenant-one"), (&two, "Bearer sk-tenant-two")] {
        let auth = format!("Bearer {}", token_of(s, "OPENAI_API_KEY"));
        assert_eq!(
            through(
                &server,
                "GET",
                "/v1/openai/v1/models",
                &[("authorization", &auth)],
                None
            )
            .status(),
            200
        );
        assert_eq!(upstream.seen().pop().unwrap().header("authorization"), Some(key));
    }
    // Tenant two deletes its key: its token does not fall back to anyone's.
    call(&server, "DELETE", "/v1/credentials/openai", Some(OP2_TOKEN), None);
    let auth = format!("Bearer {}", token_of(&two, "OPENAI_API_KEY"));
    let response = through(
        &server,
        "GET",
        "/v1/openai/v1/models",
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["x-paddock-phantom"], "no_upstream_key");
    // Tenant two cannot close tenant one's session (404), so one's token still works.
    let id = one["id"].as_str().unwrap();
    assert_eq!(
        call(&server, "DELETE", &format!("/v1/sessions/{id}"), Some(OP2_TOKEN), None).0,
        404
    );
    let auth = format!("Bearer {}", token_of(&one, "OPENAI_API_KEY"));
    assert_eq!(
        through(
            &server,
            "GET",
            "/v1/openai/v1/models",
            &[("authorization", &auth)],
            None
        )
        .status(),
        200
    );
}

/// Threat-model row 29.
#[test]
fn row29_closing_a_session_revokes_its_tokens_at_once_and_cuts_open_streams() {
    let upstream = Upstream::start();
    let dir = tempdir();
    let server = server_for(&upstream, dir.path(), &[]);
    put_credential(&server, OP1_TOKEN, "openai", "sk-1");
    let s = session(&server, OP1_TOKEN, json!({"services": ["openai"]}));
    let auth = format!("Bearer {}", token_of(&s, "OPENAI_API_KEY"));
    let response = through(&server, "POST", "/v1/openai/v1/sse", &[("authorization", &auth)], None);
    let mut reader = BufReader::new(response);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "data: first\n");
    let id = s["id"].as_str().unwrap();
    assert_eq!(
        call(&server, "DELETE", &format!("/v1/sessions/{id}"), Some(OP1_TOKEN), None).0,
        204
    );
    // The open stream ends without its second event.
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    assert!(!String::from_utf8_lossy(&rest).contains("second"));
    // The very next request is refused.
    let response = through(
        &server,
        "GET",
        "/v1/openai/v1/models",
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.text().unwrap().contains("revoked"));
}

#[test]
fn tokens_stay_valid_and_revoked_across_a_restart() {
    let upstream = Upstream::start();
    let dir = tempdir();
    let server = server_for(&upstream, dir.path(), &[]);
    put_credential(&server, OP1_TOKEN, "openai", "sk-restart");
    let kept = session(&server, OP1_TOKEN, json!({"services": ["openai"]}));
    let closed = session(&server, OP1_TOKEN, json!({"services": ["openai"]}));
    let id = closed["id"].as_str().unwrap();
    call(&server, "DELETE", &format!("/v1/sessions/{id}"), Some(OP1_TOKEN), None);
    assert!(server.stop().success());
    let server = server_for(&upstream, dir.path(), &[]);
    let auth = format!("Bearer {}", token_of(&kept, "OPENAI_API_KEY"));
    assert_eq!(
        through(
            &server,
            "GET",
            "/v1/openai/v1/models",
            &[("authorization", &auth)],
            None
        )
        .status(),
        200
    );
    assert_eq!(
        upstream.seen().pop().unwrap().header("authorization"),
        Some("Bearer sk-restart")
    );
    let auth = format!("Bearer {}", token_of(&closed, "OPENAI_API_KEY"));
    assert_eq!(
        through(
            &server,
            "GET",
            "/v1/openai/v1/models",
            &[("authorization", &auth)],
            None
        )
        .status(),
        401
    );
    // Threat-model row 26: neither the tokens nor the secret are in the database file.
    let db = std::fs::read(dir.path().join("paddock.db")).unwrap();
    let wal = std::fs::read(dir.path().join("paddock.db-wal")).unwrap_or_default();
    for needle in [token_of(&kept, "OPENAI_API_KEY"), "sk-restart"] {
        for bytes in [&db, &wal] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} stored in clear"
            );
        }
    }
}

#[test]
fn a_jail_with_network_none_reaches_its_upstream_through_the_proxy_with_curl_and_python() {
    let upstream = Upstream::start();
    let dir = tempdir();
    let server = server_for(&upstream, dir.path(), &[]);
    put_credential(&server, OP1_TOKEN, "openai", "sk-from-a-jail");
    let s = session(
        &server,
        OP1_TOKEN,
        json!({"services": ["openai"], "scopes": {"openai": ["/v1/models*"]}}),
    );
    let id = s["id"].as_str().unwrap();
    let script = r#"
set -e
curl -sS -H "Authorization: Bearer $OPENAI_API_KEY" "$OPENAI_BASE_URL/models"; echo
python3 -c '
import json, os, urllib.request, urllib.error
req = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/models/gpt", headers={"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]})
print(json.load(urllib.request.urlopen(req))["path"])
try:
    urllib.request.urlopen(urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/files", headers={"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}))
except urllib.error.HTTPError as e:
    print("refused", e.code)
'
curl -sS --max-time 2 "http://$(echo "$OPENAI_BASE_URL" | cut -d/ -f3 | cut -d: -f1):7000/" 2>/dev/null || echo no-control-plane
echo "key in env: ${OPENAI_API_KEY%%_*}"
"#;
    let (status, result) = call(
        &server,
        "POST",
        &format!("/v1/sessions/{id}/exec"),
        Some(OP1_TOKEN),
        Some(json!({"cmd": "sh", "args": ["-c", script], "network": {"mode": "none"}, "timeout_secs": 60})),
    );
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["exit_code"], 0, "{result}");
    let stdout = result["stdout"].as_str().unwrap();
    assert!(stdout.contains(r#""path":"/v1/models""#), "{stdout}");
    assert!(stdout.contains("/v1/models/gpt\n"), "{stdout}");
    assert!(stdout.contains("refused 403\n"), "{stdout}");
    assert!(stdout.contains("no-control-plane"), "{stdout}");
    assert!(stdout.contains("key in env: phm\n"), "{stdout}");
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for request in &seen {
        assert_eq!(request.header("authorization"), Some("Bearer sk-from-a-jail"));
    }
    assert!(!result.to_string().contains("sk-from-a-jail"));
}

const TLS_UPSTREAM_PY: &str = r#"
import http.server, ssl, sys
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = ("auth=" + str(self.headers.get("Authorization"))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// A CA and a certificate for 127.0.0.1 made with openssl, and an HTTPS
/// upstream (Python) serving with it.
fn tls_upstream(dir: &Path) -> (Child, u16) {
    paddock_egress::testkit::make_test_certificates(dir, "IP:127.0.0.1");
    let mut child = Command::new("python3")
        .args(["-c", TLS_UPSTREAM_PY])
        .arg(dir.join("leaf.pem"))
        .arg(dir.join("leaf.key"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 must be installed");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().parse().expect("port"))
}

#[test]
fn https_upstreams_are_verified_against_the_system_roots_and_operator_cas() {
    let certs = tempdir();
    let (mut python, port) = tls_upstream(certs.path());
    let spec = format!("secure=https://127.0.0.1:{port}");
    for trusted in [false, true] {
        let dir = tempdir();
        let ca = certs.path().join("ca.pem").display().to_string();
        let mut args = vec!["--service", spec.as_str()];
        if trusted {
            args.extend(["--upstream-ca", ca.as_str()]);
        }
        let server = Server::start(dir.path(), &[("PADDOCK_API_KEYS", &keys())], &args);
        put_credential(&server, OP1_TOKEN, "secure", "tls-secret");
        let s = session(&server, OP1_TOKEN, json!({"services": ["secure"]}));
        let auth = format!("Bearer {}", token_of(&s, "SECURE_API_KEY"));
        let response = through(&server, "GET", "/v1/secure/x", &[("authorization", &auth)], None);
        if trusted {
            assert_eq!(response.status(), 200);
            assert_eq!(response.text().unwrap(), "auth=Bearer tls-secret");
        } else {
            // An unknown CA is an upstream failure, never a silent downgrade.
            assert_eq!(response.status(), 502);
            assert!(response.text().unwrap().to_lowercase().contains("certificate"));
        }
    }
    let _ = python.kill();
    let _ = python.wait();
}

#[test]
fn bad_service_settings_are_refused_at_start() {
    for (args, needle) in [
        (vec!["--service", "openai"], "NAME=URL"),
        (vec!["--service", "x=ftp://h"], "scheme"),
        (vec!["--service", "x=http://u:p@h"], "credentials"),
        (vec!["--upstream-ca", "/nonexistent.pem"], "not a file"),
        (vec!["--proxy-public-url", "proxy:8443"], "http(s) URL"),
    ] {
        let dir = tempdir();
        let out = Command::new(env!("CARGO_BIN_EXE_paddock"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--proxy-listen",
                "127.0.0.1:0",
                "--state-dir",
            ])
            .arg(dir.path())
            .args(&args)
            .env("PADDOCK_API_KEYS", keys())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn the_public_url_is_what_session_env_hands_out_and_config_lists_the_services() {
    let upstream = Upstream::start();
    let dir = tempdir();
    let server = server_for(
        &upstream,
        dir.path(),
        &["--proxy-public-url", "https://phantom.example.com/"],
    );
    put_credential(&server, OP1_TOKEN, "openai", "sk-1");
    let s = session(&server, OP1_TOKEN, json!({"services": ["openai"]}));
    assert_eq!(s["env"]["OPENAI_BASE_URL"], "https://phantom.example.com/v1/openai/v1");
    let (_, config) = call(&server, "GET", "/v1/config", Some(ADMIN_TOKEN), None);
    assert_eq!(config["proxy"]["base_url"], "https://phantom.example.com");
    let corp = config["proxy"]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service_id"] == "corp")
        .unwrap()
        .clone();
    assert_eq!(corp["upstream_base"], format!("{}/base", upstream.url()));
    assert_eq!(corp["request_prefix"], "/v1/corp/");
    assert_eq!(corp["auth"], "header:x-corp-token");
    // Operators do not learn upstream hosts.
    let (_, config) = call(&server, "GET", "/v1/config", Some(OP1_TOKEN), None);
    assert!(config["proxy"]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["upstream_base"] == ""));
    assert!(through(&server, "GET", "/healthz", &[], None).status().is_success());
}

/// The same guarantees with the PostgreSQL backend: the swap, budgets,
/// revocation, the audit rows, and tokens across a restart.
#[test]
fn the_proxy_behaves_the_same_on_postgres() {
    let db = PgDatabase::create("phantom");
    let upstream = Upstream::start();
    let dir = tempdir();
    let service = format!("openai={}", upstream.url());
    let env = [("PADDOCK_API_KEYS", keys()), ("DATABASE_URL", db.url.clone())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start(dir.path(), &env, &["--service", &service]);
    put_credential(&server, OP1_TOKEN, "openai", "sk-pg");
    let kept = session(&server, OP1_TOKEN, json!({"services": ["openai"], "max_requests": 2}));
    let closed = session(&server, OP1_TOKEN, json!({"services": ["openai"]}));
    let auth = format!("Bearer {}", token_of(&kept, "OPENAI_API_KEY"));
    assert_eq!(
        through(
            &server,
            "GET",
            "/v1/openai/v1/models",
            &[("authorization", &auth)],
            None
        )
        .status(),
        200
    );
    assert_eq!(
        upstream.seen().pop().unwrap().header("authorization"),
        Some("Bearer sk-pg")
    );
    let id = closed["id"].as_str().unwrap();
    call(&server, "DELETE", &format!("/v1/sessions/{id}"), Some(OP1_TOKEN), None);
    assert!(server.stop().success());

    let server = Server::start(dir.path(), &env, &["--service", &service]);
    assert_eq!(
        through(
            &server,
            "GET",
            "/v1/openai/v1/models",
            &[("authorization", &auth)],
            None
        )
        .status(),
        200
    );
    assert_eq!(
        through(
            &server,
            "GET",
            "/v1/openai/v1/models",
            &[("authorization", &auth)],
            None
        )
        .status(),
        429
    );
    let revoked = format!("Bearer {}", token_of(&closed, "OPENAI_API_KEY"));
    assert_eq!(
        through(
            &server,
            "GET",
            "/v1/openai/v1/models",
            &[("authorization", &revoked)],
            None
        )
        .status(),
        401
    );
    let rows = audit_rows(&server, OP1_TOKEN, 4);
    let reasons: Vec<Value> = rows.iter().map(|r| r["reject_reason"].clone()).collect();
    assert_eq!(
        reasons,
        [
            Value::Null,
            Value::Null,
            json!("budget_exhausted"),
            json!("unknown_token")
        ],
        "{rows:?}"
    );
    assert!(rows[0]["upstream_ms"].as_f64().is_some());
    assert!(!dir.path().join("paddock.db").exists());
    drop(server);
    drop(db);
}
