//! Threat-model row 48: `/metrics` counts every tenant's jails and proxied
//! requests, so on the API listener it needs an admin key; an operator
//! who wants an unauthenticated scrape gets a listener of its own
//! (`--metrics-listen`) that serves nothing else. `/v1/stats` stays public
//! (aggregate only, as agentjail serves it).

use reqwest::StatusCode;
use serde_json::json;

mod support;

use support::*;

/// The `metrics_listen` field of the server's ready line.
fn metrics_listen(server: &Server) -> String {
    let ready = server
        .first_lines
        .iter()
        .find(|l| l.contains("paddock serve ready"))
        .expect("ready line");
    ready
        .split(" metrics_listen=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no metrics_listen in {ready}"))
        .to_owned()
}

fn get(url: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut request = client().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().expect("answer");
    (response.status(), response.text().unwrap_or_default())
}

#[test]
fn row48_metrics_need_an_admin_key_unless_served_on_the_operators_own_listener() {
    let dir = tempdir();
    let server = Server::start(
        dir.path(),
        &[("PADDOCK_API_KEYS", &keys())],
        &["--metrics-listen", "127.0.0.1:0"],
    );
    // Some cross-tenant activity to count.
    let (status, body) = call(
        &server,
        "POST",
        "/v1/runs",
        Some(OP2_TOKEN),
        Some(json!({"language": "bash", "code": "true"})),
    );
    assert!(status.is_success(), "{status} {body}");

    let url = format!("{}/metrics", server.url);
    let (status, body) = get(&url, None);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(!body.contains("paddock_"), "{body}");
    // An operator of tenant t1 must not learn what t2 runs.
    let (status, body) = get(&url, Some(OP1_TOKEN));
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(!body.contains("paddock_"), "{body}");
    let (status, admin_view) = get(&url, Some(ADMIN_TOKEN));
    assert_eq!(status, StatusCode::OK);
    assert!(
        admin_view.contains("paddock_jails_started_total{kind=\"run\"} 1"),
        "{admin_view}"
    );

    // The operator's own listener: the same text without a key, and nothing else.
    let addr = metrics_listen(&server);
    let (status, open_view) = get(&format!("http://{addr}/metrics"), None);
    assert_eq!(status, StatusCode::OK);
    assert!(
        open_view.contains("paddock_jails_started_total{kind=\"run\"} 1"),
        "{open_view}"
    );
    for path in ["/v1/stats", "/v1/whoami", "/v1/sessions", "/healthz", "/metrics/x"] {
        let (status, body) = get(&format!("http://{addr}{path}"), Some(ADMIN_TOKEN));
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }

    // The aggregate counters stay public, as agentjail serves them.
    let (status, stats) = call(&server, "GET", "/v1/stats", None, None);
    assert_eq!(status, StatusCode::OK, "{stats}");
}

#[test]
fn without_metrics_listen_there_is_no_open_metrics_listener() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    assert_eq!(metrics_listen(&server), "none");
    let (status, _) = get(&format!("{}/metrics", server.url), None);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
