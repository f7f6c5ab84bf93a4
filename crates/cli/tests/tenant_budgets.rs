//! Per-tenant admission through a real `paddock serve` (threat-model row
//! 36): one tenant cannot hold every slot or all the memory, the memory
//! limits of running jails (runs and running workspaces) never add up past
//! the host's budget, and whatever ends (completed, failed, timed out,
//! cancelled, abandoned, stopped) gives its share back.

mod support;

use std::time::{Duration, Instant};

use reqwest::blocking::Response;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::*;

/// The host's memory in MiB, as the server reads it.
fn host_memory_mb() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    let line = text.lines().find(|l| l.starts_with("MemTotal:")).expect("MemTotal");
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() >> 10
}

/// A streamed run held open: its jail runs while the response is read
/// from (or simply kept); dropping it is a client that went away.
struct Held {
    id: String,
    _response: Response,
}

/// Starts a long run of `token`'s tenant with `memory_mb` and keeps it.
fn hold(server: &Server, token: &str, memory_mb: u64, timeout_secs: u64) -> Held {
    let response = client()
        .post(format!("{}/v1/runs/stream", server.url))
        .bearer_auth(token)
        .json(&json!({"code": "sleep 120", "language": "bash", "memory_mb": memory_mb, "timeout_secs": timeout_secs}))
        .send()
        .expect("stream");
    if response.status() != StatusCode::OK {
        panic!("{}: {}", response.status(), response.text().unwrap_or_default());
    }
    let id = response.headers()["x-paddock-run-id"].to_str().unwrap().to_owned();
    Held {
        id,
        _response: response,
    }
}

/// A short run of `token`'s tenant: its status and body (a refusal's
/// `Retry-After` checked when there is one).
fn run(server: &Server, token: &str, code: &str, memory_mb: u64) -> (StatusCode, Value) {
    let response = client()
        .post(format!("{}/v1/runs", server.url))
        .bearer_auth(token)
        .json(&json!({"code": code, "language": "bash", "memory_mb": memory_mb}))
        .send()
        .expect("run");
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        assert_eq!(response.headers()["retry-after"], "1");
    }
    (status, response.json().unwrap_or(Value::Null))
}

/// Waits until a run of `token`'s tenant with `memory_mb` is admitted
/// again (the jails holding the budget have ended and given it back).
fn admitted_within(server: &Server, token: &str, memory_mb: u64, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        match run(server, token, "true", memory_mb) {
            (StatusCode::CREATED, _) => return true,
            (StatusCode::TOO_MANY_REQUESTS, _) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100))
            }
            (status, body) => {
                eprintln!("still refused: {status} {body}");
                return false;
            }
        }
    }
}

#[test]
fn row36_one_tenant_cannot_take_every_slot_or_the_hosts_memory() {
    let dir = tempdir();
    // 1500 MiB for every jail together, 1000 MiB for one tenant's; four
    // slots, of which a tenant gets the default half.
    let reserve = format!("{}m", host_memory_mb() - 1500);
    let server = Server::start(
        dir.path(),
        &[("PADDOCK_API_KEYS", &keys())],
        &[
            "--max-concurrent",
            "4",
            "--memory-reserve",
            &reserve,
            "--tenant-memory",
            "1000",
        ],
    );

    // Tenant t1 fills its share of the slots with long jails.
    let a1 = hold(&server, OP1_TOKEN, 64, 300);
    let a2 = hold(&server, OP1_TOKEN, 64, 300);
    let (status, refused) = run(&server, OP1_TOKEN, "true", 64);
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{refused}");
    assert_eq!(refused["code"], "TOO_MANY_REQUESTS");
    let message = refused["error"].as_str().unwrap();
    assert!(
        message.contains("tenant t1") && message.contains("limit of 2 jails"),
        "{message}"
    );
    // The tenant sees its budgets and their use.
    let (status, me) = call(&server, "GET", "/v1/whoami", Some(OP1_TOKEN), None);
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me["budgets"],
        json!({"max_concurrent": 2, "running": 2, "memory_mb": 1000, "memory_in_use_mb": 128})
    );
    // Another tenant is still admitted while t1 holds all it may.
    let (status, body) = run(&server, OP2_TOKEN, "echo admitted", 64);
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["stdout"], "admitted\n");

    // Tenant t2 runs a workspace with 700 MiB: its runtime jail's memory
    // counts too. 828 of 1500 MiB are now promised.
    let (status, ws) = call(
        &server,
        "POST",
        "/v1/workspaces",
        Some(OP2_TOKEN),
        Some(json!({"memory_mb": 700})),
    );
    assert_eq!(status, 201, "{ws}");
    let ws = ws["id"].as_str().unwrap().to_owned();
    let (status, started) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/start"),
        Some(OP2_TOKEN),
        None,
    );
    assert_eq!(status, 200, "{started}");
    // Over t2's own budget (700 + 400 > 1000): refused, naming it.
    let (status, refused) = run(&server, OP2_TOKEN, "true", 400);
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{refused}");
    let message = refused["error"].as_str().unwrap();
    assert!(
        message.contains("tenant t2's memory budget is 1000 MiB") && message.contains("hold 700 MiB"),
        "{message}"
    );
    // Over what the host has left (828 + 700 > 1500), though within the
    // tenant's own budget: refused, naming the host's budget; less passes.
    let (status, refused) = run(&server, ADMIN_TOKEN, "true", 700);
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{refused}");
    let message = refused["error"].as_str().unwrap();
    assert!(
        message.contains("host's memory budget for jails is 1500 MiB") && message.contains("hold 828 MiB"),
        "{message}"
    );
    let (status, body) = run(&server, ADMIN_TOKEN, "echo fits", 600);
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // More than a tenant's budget in all can never run: 400, not a retry.
    let (status, refused) = run(&server, ADMIN_TOKEN, "true", 1001);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["code"], "BAD_LIMIT");

    // Everything that ends gives its share back: a cancelled jail, an
    // abandoned stream, a stopped workspace, a timed-out and a failed run.
    let (status, body) = call(
        &server,
        "POST",
        &format!("/v1/runs/{}/cancel", a1.id),
        Some(OP1_TOKEN),
        None,
    );
    assert!(status.is_success(), "{status} {body}");
    drop(a2);
    let (status, body) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/stop"),
        Some(OP2_TOKEN),
        None,
    );
    assert_eq!(status, 200, "{body}");
    // The stopped workspace's jail gives its 700 MiB back once it is gone.
    let within = Duration::from_secs(10);
    assert!(
        admitted_within(&server, OP2_TOKEN, 900, within),
        "t2's workspace memory was not given back"
    );
    let (status, body) = call(
        &server,
        "POST",
        "/v1/runs",
        Some(OP2_TOKEN),
        Some(json!({"code": "sleep 30", "language": "bash", "memory_mb": 900, "timeout_secs": 1})),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["timed_out"], true, "{body}");
    let (status, body) = run(&server, OP2_TOKEN, "exit 3", 900);
    assert_eq!(
        (status, body["exit_code"].as_i64()),
        (StatusCode::CREATED, Some(3)),
        "{body}"
    );
    drop(a1);

    // t1 gets both its slots again, and with them held the budgets are
    // exact: t2 holds the 1000 MiB of its own, and of the host's 1500
    // what t1's 128 leave, 372 MiB, is free.
    assert!(
        admitted_within(&server, OP1_TOKEN, 64, within),
        "t1's slots were not given back"
    );
    let _b1 = hold(&server, OP1_TOKEN, 64, 300);
    let _b2 = hold(&server, OP1_TOKEN, 64, 300);
    assert_eq!(run(&server, OP1_TOKEN, "true", 64).0, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        admitted_within(&server, OP2_TOKEN, 1000, within),
        "t2's memory was not given back"
    );
    let _c = hold(&server, OP2_TOKEN, 1000, 300);
    let (status, refused) = run(&server, ADMIN_TOKEN, "true", 373);
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("hold 1128 MiB"),
        "{refused}"
    );
    let (status, body) = run(&server, ADMIN_TOKEN, "true", 372);
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, me) = call(&server, "GET", "/v1/whoami", Some(OP2_TOKEN), None);
    assert_eq!(me["budgets"]["running"], 1, "{me}");
    assert_eq!(me["budgets"]["memory_in_use_mb"], 1000, "{me}");
}

#[test]
fn impossible_budgets_are_refused_at_start() {
    let dir = tempdir();
    let reserve = format!("{}m", host_memory_mb() + 1);
    for (args, needle) in [
        (vec!["--memory-reserve", reserve.as_str()], "--memory-reserve"),
        (vec!["--memory-overcommit", "0"], "ratio"),
        (vec!["--tenant-max-concurrent", "0"], "tenant-max-concurrent"),
        (vec!["--tenant-trust-cidr", "10.0.0.0/8"], "TENANT="),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_paddock"))
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
            .env_remove("PADDOCK_API_KEYS")
            .output()
            .expect("paddock serve");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn a_fork_larger_than_a_tenants_share_is_refused_for_good() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[("PADDOCK_API_KEYS", &keys())], &["--max-concurrent", "4"]);
    // Two slots per tenant: a parent and two children can never run at once.
    let (status, body) = call(
        &server,
        "POST",
        "/v1/runs/fork",
        Some(OP1_TOKEN),
        Some(json!({"parent_code": "true", "language": "bash", "children": [{"code": "true"}, {"code": "true"}]})),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "BAD_FORK", "{body}");
    assert!(body["error"].as_str().unwrap().contains("a tenant may run 2"), "{body}");
    // One child fits.
    let (status, body) = call(
        &server,
        "POST",
        "/v1/runs/fork",
        Some(OP1_TOKEN),
        Some(json!({"parent_code": "true", "language": "bash", "child_code": "true"})),
    );
    assert_eq!(status, 201, "{body}");
}
