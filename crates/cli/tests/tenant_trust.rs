//! Per-tenant trusted upstreams through a real `paddock serve`
//! (threat-model row 44): the operator trusts an internal address for one
//! tenant; that tenant's allowlist jails reach it, another tenant's jails
//! with the very same allowlist are refused by the egress proxy, and the
//! upstream never sees their requests.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use support::*;

/// What the internal upstream answers.
const BODY: &str = "internal service";

/// An HTTP upstream on a loopback address of its own, port 80 (the only
/// plain-HTTP port an API allowlist reaches), recording each request line.
struct Internal {
    ip: Ipv4Addr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Internal {
    fn start() -> Internal {
        // Another address of 127/8 for each test process: nothing else
        // listens there, and 127/8 is never public, so only trust makes it
        // reachable through the proxy.
        let pid = std::process::id();
        let ip = Ipv4Addr::new(127, 83, (pid >> 8) as u8, (pid as u8).max(2));
        let listener = TcpListener::bind(SocketAddr::from((ip, 80))).expect("bind port 80 (the tests run as root)");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                log.lock().unwrap().push(line.trim().to_owned());
                // The rest of the head.
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
                    BODY.len()
                );
            }
        });
        Internal { ip, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// Runs curl against the upstream by address and by name in an allowlist
/// jail of `token`'s tenant; the run's answer.
fn fetch(server: &Server, token: &str, upstream: &Internal, tag: &str) -> Value {
    let ip = upstream.ip;
    let code = format!(
        "curl -sS --max-time 15 http://{ip}/{tag}-by-address; echo; \
         curl -sS --max-time 15 http://up.internal/{tag}-by-name; echo"
    );
    let (status, body) = call(
        server,
        "POST",
        "/v1/runs",
        Some(token),
        Some(json!({
            "code": code,
            "language": "bash",
            "network": {"mode": "allowlist", "domains": [ip.to_string(), "up.internal"]},
        })),
    );
    assert_eq!(status, 201, "{body}");
    body
}

#[test]
fn row44_one_tenants_trusted_upstream_is_unreachable_from_anothers_allowlist() {
    let upstream = Internal::start();
    let dir = tempdir();
    let cidr = format!("t1={}/32", upstream.ip);
    let host = format!("t1=up.internal={}", upstream.ip);
    let server = Server::start(
        dir.path(),
        &[("PADDOCK_API_KEYS", &keys())],
        &["--tenant-trust-cidr", &cidr, "--tenant-trust-host", &host],
    );

    // t1, whose trust it is, reaches the upstream by address and by name.
    let trusted = fetch(&server, OP1_TOKEN, &upstream, "t1");
    assert_eq!(trusted["stdout"], format!("{BODY}\n{BODY}\n"), "{trusted}");
    assert_eq!(trusted["egress_refusals"], json!([]), "{trusted}");
    // The ledger keeps the run's egress log: both requests, allowed, with
    // the upstream's status and the bytes that came back.
    let (status, row) = call(
        &server,
        "GET",
        &format!("/v1/jails/{}", trusted["id"]),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 200, "{row}");
    let egress = row["egress"].as_array().expect("the ledger's egress log");
    assert_eq!(egress.len(), 2, "{row}");
    for attempt in egress {
        assert_eq!(attempt["outcome"], "allowed", "{attempt}");
        assert_eq!(attempt["status"], 200, "{attempt}");
        assert!(attempt["bytes_down"].as_u64().is_some_and(|n| n > 0), "{attempt}");
    }
    assert!(egress.iter().any(|a| a["host"] == "up.internal"), "{row}");

    // t2, with the same allowlist, is refused by the proxy.
    let refused = fetch(&server, OP2_TOKEN, &upstream, "t2");
    assert!(!refused["stdout"].as_str().unwrap().contains(BODY), "{refused}");
    let refusals = refused["egress_refusals"].as_array().expect("refusals");
    assert_eq!(refusals.len(), 2, "{refused}");
    let by_address = refusals
        .iter()
        .find(|r| r["host"] == upstream.ip.to_string())
        .expect("the address's refusal");
    assert_eq!(by_address["reason"], "non_public_address", "{by_address}");
    let by_name = refusals
        .iter()
        .find(|r| r["host"] == "up.internal")
        .expect("the name's refusal");
    assert_ne!(by_name["outcome"], "allowed", "{by_name}");

    // So is the admin tenant: trust given to t1 is t1's alone.
    let refused = fetch(&server, ADMIN_TOKEN, &upstream, "acme");
    assert!(!refused["stdout"].as_str().unwrap().contains(BODY), "{refused}");

    // The upstream saw t1's two requests and nothing else.
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|line| line.contains("/t1-by-")), "{seen:?}");
}
