//! The proxy against real sockets on 127.0.0.1: a real upstream HTTP
//! server, a real DNS server for rebinding, and raw clients that send
//! exactly the bytes a test needs (hostile ones included). Jails are not
//! involved here; `crates/jail/tests` drives the proxy from inside jails.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paddock_egress::testkit::ScriptedDns;
use paddock_egress::{EgressPolicy, EgressProxy, EgressRecord, EgressSettings, Outcome, ProxySession, Reason};

/// A plain HTTP/1.1 server: answers every request with what it saw.
struct Upstream {
    port: u16,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Upstream {
    fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (seen, log) = (connections.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                seen.fetch_add(1, Ordering::SeqCst);
                let log = log.clone();
                std::thread::spawn(move || {
                    let head = read_head(&mut stream);
                    log.lock().unwrap().push(head.clone());
                    let body = format!("upstream saw:\n{head}");
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        Upstream {
            port,
            connections,
            requests,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Reads up to the end of an HTTP head.
fn read_head(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Reads one response: its head, then `content-length` bytes of body (or
/// up to end of file without one).
fn read_response(stream: &mut TcpStream) -> String {
    let head = read_head(stream);
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    });
    let body = match length {
        Some(n) => {
            let mut body = vec![0u8; n];
            let _ = stream.read_exact(&mut body);
            String::from_utf8_lossy(&body).into_owned()
        }
        None => read_all(stream),
    };
    head + &body
}

/// Reads until the peer closes (or 5 s pass).
fn read_all(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

struct Harness {
    /// Keeps the tests' runtime alive while sessions serve.
    runtime: tokio::runtime::Runtime,
    session: Option<ProxySession>,
    addr: SocketAddr,
}

impl Harness {
    fn new(settings: EgressSettings, policy: EgressPolicy) -> Harness {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let proxy = EgressProxy::new(settings).unwrap();
        let session = runtime.block_on(async { proxy.serve(listener, policy, false).unwrap() });
        Harness {
            runtime,
            session: Some(session),
            addr,
        }
    }

    fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).unwrap()
    }

    /// Sends `request` on a new connection and returns the response.
    fn exchange(&self, request: &str) -> String {
        let mut stream = self.connect();
        stream.write_all(request.as_bytes()).unwrap();
        read_response(&mut stream)
    }

    fn records(&self) -> Vec<EgressRecord> {
        self.session.as_ref().unwrap().log().records
    }

    /// Waits until `n` records exist (connections record when they end).
    fn wait_records(&self, n: usize) -> Vec<EgressRecord> {
        let start = Instant::now();
        loop {
            let records = self.records();
            if records.len() >= n || start.elapsed() > Duration::from_secs(10) {
                return records;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn finish(mut self) -> Vec<EgressRecord> {
        let session = self.session.take().unwrap();
        self.runtime.block_on(session.finish()).records
    }
}

fn trusted(pairs: &[(&str, &str)]) -> EgressSettings {
    let mut settings = EgressSettings::default();
    for (host, ip) in pairs {
        settings.trusted.add_host_spec(&format!("{host}={ip}")).unwrap();
    }
    settings
}

fn policy(domains: &[&str], ports: &[u16]) -> EgressPolicy {
    EgressPolicy::new(domains, ports.iter().copied()).unwrap()
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or("")
}

#[test]
fn connect_tunnel_reaches_an_allowed_trusted_upstream() {
    let upstream = Upstream::start();
    let proxy = Harness::new(
        trusted(&[("up.test", "127.0.0.1")]),
        policy(&["up.test"], &[upstream.port]),
    );
    let mut stream = proxy.connect();
    write!(
        stream,
        "CONNECT up.test:{0} HTTP/1.1\r\nHost: up.test:{0}\r\n\r\n",
        upstream.port
    )
    .unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    stream
        .write_all(b"GET /through-the-tunnel HTTP/1.1\r\nHost: up.test\r\n\r\n")
        .unwrap();
    let response = read_response(&mut stream);
    assert!(response.contains("GET /through-the-tunnel"), "{response}");
    // The tunnel's record is made when it closes.
    drop(stream);
    let records = proxy.wait_records(1);
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(
        (r.method.as_str(), r.host.as_str(), r.port),
        ("CONNECT", "up.test", upstream.port)
    );
    assert_eq!(r.outcome, Outcome::Allowed);
    assert_eq!(r.address, Some("127.0.0.1".parse().unwrap()));
    assert!(r.bytes_up >= 50 && r.bytes_down as usize >= response.len(), "{r:?}");
    assert_eq!(upstream.connections(), 1);
}

#[test]
fn plain_http_is_forwarded_in_origin_form_without_hop_by_hop_headers() {
    let upstream = Upstream::start();
    let proxy = Harness::new(
        trusted(&[("up.test", "127.0.0.1")]),
        policy(&["UP.test."], &[upstream.port]),
    );
    let response = proxy.exchange(&format!(
        "GET http://up.test:{0}/path?q=1 HTTP/1.1\r\nHost: elsewhere.test\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eDp5\r\nConnection: close, x-secret\r\nX-Secret: 1\r\nX-Kept: yes\r\n\r\n",
        upstream.port
    ));
    assert!(status_line(&response).starts_with("HTTP/1.1 200"), "{response}");
    let seen = upstream.requests.lock().unwrap()[0].to_ascii_lowercase();
    assert!(seen.starts_with("get /path?q=1 http/1.1"), "{seen}");
    assert!(seen.contains(&format!("host: up.test:{}", upstream.port)), "{seen}");
    assert!(seen.contains("x-kept: yes"), "{seen}");
    for gone in ["proxy-connection", "proxy-authorization", "x-secret"] {
        assert!(!seen.contains(gone), "{gone} forwarded: {seen}");
    }
    let records = proxy.wait_records(1);
    assert_eq!(records[0].method, "GET");
    assert_eq!(records[0].status, Some(200));
    assert_eq!(records[0].outcome, Outcome::Allowed);
    assert!(records[0].bytes_down > 0 && records[0].bytes_up > 0);
}

#[test]
fn hosts_off_the_list_and_ip_literals_are_refused_with_a_reason() {
    let upstream = Upstream::start();
    let settings = trusted(&[("up.test", "127.0.0.1"), ("other.test", "127.0.0.1")]);
    let proxy = Harness::new(settings, policy(&["up.test"], &[upstream.port]));
    let cases = [
        (
            format!("CONNECT other.test:{} HTTP/1.1\r\n\r\n", upstream.port),
            "host_not_allowed",
            "403",
        ),
        (
            format!("GET http://other.test:{}/ HTTP/1.1\r\n\r\n", upstream.port),
            "host_not_allowed",
            "403",
        ),
        (
            format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", upstream.port),
            "ip_literal",
            "403",
        ),
        (
            format!("CONNECT [::ffff:127.0.0.1]:{} HTTP/1.1\r\n\r\n", upstream.port),
            "ip_literal",
            "403",
        ),
        (
            format!("CONNECT 0x7f000001:{} HTTP/1.1\r\n\r\n", upstream.port),
            "invalid_host",
            "400",
        ),
        (
            format!("CONNECT 2130706433:{} HTTP/1.1\r\n\r\n", upstream.port),
            "invalid_host",
            "400",
        ),
        (
            "GET /relative HTTP/1.1\r\nHost: up.test\r\n\r\n".to_owned(),
            "bad_request",
            "400",
        ),
        ("GET https://up.test/ HTTP/1.1\r\n\r\n".to_owned(), "bad_request", "400"),
        (
            format!("CONNECT up.test:{} HTTP/1.1\r\n\r\n", upstream.port + 1),
            "port_not_allowed",
            "403",
        ),
    ];
    for (request, reason, status) in &cases {
        let response = proxy.exchange(request);
        assert!(status_line(&response).contains(status), "{request:?}: {response}");
        assert!(
            response.contains(&format!("x-paddock-egress: {reason}")),
            "{request:?}: {response}"
        );
        assert!(response.contains("paddock egress: "), "{response}");
    }
    assert_eq!(upstream.connections(), 0, "a refused request reached the upstream");
    let records = proxy.wait_records(cases.len());
    let reasons: Vec<&str> = records.iter().map(|r| r.reason.unwrap().as_str()).collect();
    let expected: Vec<&str> = cases.iter().map(|c| c.1).collect();
    assert_eq!(reasons, expected);
    assert!(records.iter().all(|r| r.outcome == Outcome::Denied && r.bytes_up == 0));
    assert_eq!(records[0].host, "other.test");
}

#[test]
fn names_resolving_to_private_addresses_are_refused_unless_trusted() {
    let upstream = Upstream::start();
    // `localhost` resolves through the system resolver to loopback.
    let proxy = Harness::new(EgressSettings::default(), policy(&["localhost"], &[upstream.port]));
    let response = proxy.exchange(&format!("CONNECT localhost:{} HTTP/1.1\r\n\r\n", upstream.port));
    assert!(status_line(&response).contains("403"), "{response}");
    assert!(response.contains("non_public_address"), "{response}");
    assert!(response.contains("loopback"), "{response}");
    assert_eq!(upstream.connections(), 0);
    let record = &proxy.wait_records(1)[0];
    assert_eq!(record.reason, Some(Reason::NonPublicAddress));
    assert!(record.address.is_some_and(|a| a.is_loopback()), "{record:?}");

    // The operator trusts loopback: the same request goes through.
    let mut settings = EgressSettings::default();
    settings.trusted.add_cidr_spec("127.0.0.0/8").unwrap();
    settings.trusted.add_cidr_spec("::1/128").unwrap();
    let proxy = Harness::new(settings, policy(&["localhost"], &[upstream.port]));
    let response = proxy.exchange(&format!(
        "GET http://localhost:{}/trusted HTTP/1.1\r\n\r\n",
        upstream.port
    ));
    assert!(status_line(&response).contains("200"), "{response}");
    assert_eq!(upstream.connections(), 1);
}

#[test]
fn a_jails_own_trust_reaches_only_its_upstreams_and_never_another_jails() {
    let upstream = Upstream::start();
    // One engine's settings trust nothing; one jail's policy trusts
    // loopback (its tenant's trust), another's, with the same list, not.
    let mut trusting = policy(&["127.0.0.1", "up.test"], &[upstream.port]);
    let mut trust = paddock_egress::TrustedUpstreams::default();
    trust.add_cidr_spec("127.0.0.1/32").unwrap();
    trust.add_host_spec("up.test=127.0.0.1").unwrap();
    trusting.trust(&trust);
    let trusted = Harness::new(EgressSettings::default(), trusting.clone());
    let plain = Harness::new(
        EgressSettings::default(),
        policy(&["127.0.0.1", "up.test"], &[upstream.port]),
    );
    for target in [
        format!("127.0.0.1:{}", upstream.port),
        format!("up.test:{}", upstream.port),
    ] {
        let response = trusted.exchange(&format!("GET http://{target}/mine HTTP/1.1\r\n\r\n"));
        assert!(status_line(&response).contains("200"), "{target}: {response}");
        let response = plain.exchange(&format!("GET http://{target}/theirs HTTP/1.1\r\n\r\n"));
        assert!(
            status_line(&response).contains("403") || status_line(&response).contains("502"),
            "{target}: {response}"
        );
    }
    assert_eq!(upstream.connections(), 2, "only the trusting jail's requests arrive");
    // The jail's trust travels with its policy's wire form.
    let wire = serde_json::to_string(&trusting).unwrap();
    assert_eq!(serde_json::from_str::<EgressPolicy>(&wire).unwrap(), trusting);
    let bare = serde_json::to_string(&policy(&["a.test"], &[])).unwrap();
    assert!(!bare.contains("trusted"), "{bare}");
}

#[test]
fn dns_rebinding_cannot_reach_a_private_address() {
    let upstream = Upstream::start();
    // First answer public, every later one loopback (where the upstream is).
    let dns = ScriptedDns::start(&[("rebind.test", &[[1, 1, 1, 1], [127, 0, 0, 1]])]);
    let settings = EgressSettings {
        nameservers: vec![dns.addr()],
        connect_timeout: Duration::from_millis(500),
        ..EgressSettings::default()
    };
    let proxy = Harness::new(settings, policy(&["rebind.test"], &[upstream.port]));
    let request = format!("GET http://rebind.test:{}/ HTTP/1.1\r\n\r\n", upstream.port);
    // The first attempt is checked against 1.1.1.1 and connects only there
    // (unreachable on this machine: it fails, it never re-resolves).
    let first = proxy.exchange(&request);
    assert!(
        status_line(&first).contains("502") || status_line(&first).contains("504"),
        "{first}"
    );
    assert_eq!(dns.queries("rebind.test"), 1, "the name was resolved more than once");
    // The second attempt gets the loopback answer and is refused.
    let second = proxy.exchange(&request);
    assert!(status_line(&second).contains("403"), "{second}");
    assert!(second.contains("non_public_address"), "{second}");
    assert_eq!(upstream.connections(), 0, "the rebound address was reached");
    let records = proxy.wait_records(2);
    assert_eq!(records[0].address, Some("1.1.1.1".parse().unwrap()));
    assert_eq!(records[0].outcome, Outcome::Failed);
    assert_eq!(records[1].address, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(records[1].reason, Some(Reason::NonPublicAddress));
}

#[test]
fn wildcards_cover_the_bare_domain_and_subdomains_only() {
    let upstream = Upstream::start();
    let settings = trusted(&[
        ("svc.test", "127.0.0.1"),
        ("a.b.svc.test", "127.0.0.1"),
        ("evil-svc.test", "127.0.0.1"),
    ]);
    let proxy = Harness::new(settings, policy(&["*.svc.test"], &[upstream.port]));
    for (host, allowed) in [("svc.test", true), ("a.b.svc.test", true), ("evil-svc.test", false)] {
        let response = proxy.exchange(&format!("GET http://{host}:{}/ HTTP/1.1\r\n\r\n", upstream.port));
        let want = if allowed { "200" } else { "403" };
        assert!(status_line(&response).contains(want), "{host}: {response}");
    }
    assert_eq!(upstream.connections(), 2);
}

#[test]
fn slow_request_heads_are_cut_off() {
    let settings = EgressSettings {
        header_timeout: Duration::from_millis(400),
        ..trusted(&[("up.test", "127.0.0.1")])
    };
    let proxy = Harness::new(settings, policy(&["up.test"], &[]));
    let mut stream = proxy.connect();
    let started = Instant::now();
    // One byte every 100 ms: always active, never finishing the head.
    let mut closed = false;
    for byte in b"CONNECT up.test:443 HTTP/1.1\r\nX-Slow: ".iter().cycle().take(100) {
        if stream.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        stream.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 256];
        let peeked = stream.read(&mut buf);
        stream.set_nonblocking(false).unwrap();
        if !matches!(&peeked, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
            closed = true;
            break;
        }
    }
    assert!(closed, "a slow client held the connection open");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let records = proxy.wait_records(1);
    assert_eq!(records[0].reason, Some(Reason::HeaderTimeout), "{records:?}");
}

#[test]
fn idle_tunnels_are_closed() {
    let upstream = Upstream::start();
    let settings = EgressSettings {
        idle_timeout: Duration::from_millis(400),
        ..trusted(&[("up.test", "127.0.0.1")])
    };
    let proxy = Harness::new(settings, policy(&["up.test"], &[upstream.port]));
    let mut stream = proxy.connect();
    write!(stream, "CONNECT up.test:{} HTTP/1.1\r\n\r\n", upstream.port).unwrap();
    assert!(read_head(&mut stream).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    // Say nothing: the proxy closes the tunnel (the upstream waits too).
    let rest = read_all(&mut stream);
    assert!(rest.is_empty(), "{rest}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let records = proxy.wait_records(1);
    assert_eq!(records[0].reason, Some(Reason::IdleTimeout), "{records:?}");
    assert_eq!(records[0].outcome, Outcome::Allowed);
}

#[test]
fn oversized_heads_and_urls_are_refused() {
    let proxy = Harness::new(trusted(&[("up.test", "127.0.0.1")]), policy(&["up.test"], &[]));
    let big_header = format!(
        "GET http://up.test/ HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40 << 10)
    );
    let response = proxy.exchange(&big_header);
    assert!(status_line(&response).contains("431"), "{}", status_line(&response));
    let long_url = format!("GET http://up.test/{} HTTP/1.1\r\n\r\n", "a".repeat(9 << 10));
    let response = proxy.exchange(&long_url);
    assert!(status_line(&response).contains("414"), "{}", status_line(&response));
    let records = proxy.wait_records(2);
    assert!(
        records.iter().all(|r| r.reason == Some(Reason::TooLarge)),
        "{records:?}"
    );
}

#[test]
fn connections_over_the_cap_are_refused() {
    let upstream = Upstream::start();
    let settings = EgressSettings {
        max_connections: 2,
        ..trusted(&[("up.test", "127.0.0.1")])
    };
    let proxy = Harness::new(settings, policy(&["up.test"], &[upstream.port]));
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = proxy.connect();
        write!(stream, "CONNECT up.test:{} HTTP/1.1\r\n\r\n", upstream.port).unwrap();
        assert!(read_head(&mut stream).starts_with("HTTP/1.1 200"));
        held.push(stream);
    }
    let response = proxy.exchange(&format!("CONNECT up.test:{} HTTP/1.1\r\n\r\n", upstream.port));
    assert!(status_line(&response).contains("503"), "{response}");
    assert!(response.contains("too_many_connections"), "{response}");
    // Closing one frees its slot.
    drop(held.pop());
    let start = Instant::now();
    loop {
        let response = proxy.exchange(&format!("GET http://up.test:{}/ HTTP/1.1\r\n\r\n", upstream.port));
        if status_line(&response).contains("200") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "slot never freed: {response}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn unanswered_connects_time_out() {
    // A listener whose accept queue is full drops further SYNs: connecting
    // to it hangs, like an upstream that never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // SAFETY: listen() on a socket we own, to shrink its backlog.
    unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(&listener), 0) };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let _fill: Vec<TcpStream> = (0..2)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok())
        .collect();
    let settings = EgressSettings {
        connect_timeout: Duration::from_millis(300),
        ..trusted(&[("slow.test", "127.0.0.1")])
    };
    let proxy = Harness::new(settings, policy(&["slow.test"], &[port]));
    let started = Instant::now();
    let response = proxy.exchange(&format!("CONNECT slow.test:{port} HTTP/1.1\r\n\r\n"));
    assert!(status_line(&response).contains("504"), "{response}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(proxy.wait_records(1)[0].reason, Some(Reason::ConnectTimeout));
    drop(listener);
}

#[test]
fn finishing_closes_open_tunnels_and_records_them() {
    let upstream = Upstream::start();
    let proxy = Harness::new(
        trusted(&[("up.test", "127.0.0.1")]),
        policy(&["up.test"], &[upstream.port]),
    );
    let mut stream = proxy.connect();
    write!(stream, "CONNECT up.test:{} HTTP/1.1\r\n\r\n", upstream.port).unwrap();
    assert!(read_head(&mut stream).starts_with("HTTP/1.1 200"));
    let records = proxy.finish();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].reason, Some(Reason::JailEnded));
    assert!(read_all(&mut stream).is_empty());
}
