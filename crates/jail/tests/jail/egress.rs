//! Allowlist mode end to end: curl and Python inside real jails talk to
//! real HTTP and HTTPS upstreams on the host's 127.0.0.1 through the egress
//! proxy, which reaches them only because the test engine's operator
//! settings trust their names (see `support::TRUSTED_NAMES`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use libtest_mimic::{Failed, Trial};
use paddock_jail::egress::{EgressRecord, Outcome, Reason};
use paddock_jail::{JailConfig, JailEvent, JailResult, NetworkMode};

use crate::support::*;

pub fn trials() -> Vec<Trial> {
    vec![
        test(
            "allowlist_curl_and_python_reach_an_allowed_host_over_connect_and_plain_http",
            allowlist_curl_and_python_reach_an_allowed_host_over_connect_and_plain_http,
        ),
        test(
            "allowlist_refuses_other_hosts_ip_literals_ports_and_private_names",
            allowlist_refuses_other_hosts_ip_literals_ports_and_private_names,
        ),
        test(
            "allowlist_wildcards_match_the_domain_and_below",
            allowlist_wildcards_match_the_domain_and_below,
        ),
        test(
            "egress_records_stream_as_events_and_land_in_the_result",
            egress_records_stream_as_events_and_land_in_the_result,
        ),
        test(
            "allowlist_mode_rejects_bad_policies",
            allowlist_mode_rejects_bad_policies,
        ),
    ]
}

/// A CA and a server certificate for the test names, made with openssl.
struct Certs {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let dir = tempdir();
        let path = dir.path().to_path_buf();
        paddock_egress::testkit::make_test_certificates(&path, "DNS:up.test,DNS:wild.test,DNS:*.wild.test");
        Certs { _dir: dir, path }
    })
}

const UPSTREAM_PY: &str = r#"
import http.server, ssl, sys, threading
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = f"hello {self.headers.get('Host')} {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
tls = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
tls.socket = context.wrap_socket(tls.socket, server_side=True)
for server in (plain, tls):
    threading.Thread(target=server.serve_forever, daemon=True).start()
print(plain.server_address[1], tls.server_address[1], flush=True)
sys.stdin.read()
"#;

/// Real HTTP and HTTPS servers (Python) on the host's 127.0.0.1.
struct Upstream {
    child: Child,
    http: u16,
    https: u16,
}

impl Upstream {
    fn start() -> Upstream {
        let certs = certs();
        let mut child = Command::new("python3")
            .args(["-c", UPSTREAM_PY])
            .arg(certs.path.join("leaf.pem"))
            .arg(certs.path.join("leaf.key"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 must be installed");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("upstream ports");
        let ports: Vec<u16> = line.split_whitespace().filter_map(|p| p.parse().ok()).collect();
        assert_eq!(ports.len(), 2, "upstream said {line:?}");
        Upstream {
            child,
            http: ports[0],
            https: ports[1],
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sh -c script` on the egress engine in allowlist mode, with the test CA
/// at `/ca/ca.pem`.
fn allowlist_jail(domains: &[&str], ports: &[u16], script: &str) -> JailConfig {
    let mut config = JailConfig::new("/bin/sh", ["-c", script]).bind(certs().path.as_path(), "/ca", false);
    config.limits = net_limits();
    config.network = NetworkMode::allowlist(domains, ports.iter().copied()).expect("valid policy");
    config
}

fn run_egress(config: JailConfig) -> Result<JailResult, Failed> {
    Ok(block_on(egress_engine().run(config))?)
}

fn records(result: &JailResult) -> Result<&[EgressRecord], Failed> {
    Ok(&result
        .egress
        .as_ref()
        .ok_or("no egress log in an allowlist result")?
        .records)
}

fn allowlist_curl_and_python_reach_an_allowed_host_over_connect_and_plain_http() -> Result<(), Failed> {
    let up = Upstream::start();
    let script = format!(
        r#"set -e
curl -sS --cacert /ca/ca.pem https://up.test:{https}/tls-curl
curl -sS http://up.test:{http}/plain-curl
python3 - <<'EOF'
import ssl, urllib.request
tls = ssl.create_default_context(cafile="/ca/ca.pem")
print(urllib.request.urlopen("https://up.test:{https}/tls-python", context=tls).read().decode(), end="")
print(urllib.request.urlopen("http://up.test:{http}/plain-python").read().decode(), end="")
EOF"#,
        https = up.https,
        http = up.http
    );
    let result = run_egress(allowlist_jail(&["up.test"], &[up.http, up.https], &script))?;
    let out = result.stdout.text();
    check(result.exit_code() == 0, format!("{out} {}", result.stderr.text()))?;
    for (port, path) in [
        (up.https, "/tls-curl"),
        (up.http, "/plain-curl"),
        (up.https, "/tls-python"),
        (up.http, "/plain-python"),
    ] {
        check(
            out.contains(&format!("hello up.test:{port} {path}")),
            format!("{path} missing: {out}"),
        )?;
    }
    let records = records(&result)?;
    check(records.len() == 4, format!("{records:?}"))?;
    check(
        records
            .iter()
            .all(|r| r.outcome == Outcome::Allowed && r.host == "up.test"),
        format!("{records:?}"),
    )?;
    let tunnels = records
        .iter()
        .filter(|r| r.method == "CONNECT" && r.port == up.https)
        .count();
    let forwards = records
        .iter()
        .filter(|r| r.method == "GET" && r.port == up.http && r.status == Some(200))
        .count();
    check(tunnels == 2 && forwards == 2, format!("{records:?}"))?;
    check(
        records
            .iter()
            .all(|r| r.bytes_up > 0 && r.bytes_down > 0 && r.address.is_some()),
        format!("{records:?}"),
    )
}

fn allowlist_refuses_other_hosts_ip_literals_ports_and_private_names() -> Result<(), Failed> {
    let up = Upstream::start();
    // Every probe prints "<name> <http status or curl exit>".
    let script = format!(
        r#"probe() {{ name=$1; shift; code=$(curl -sS -o /tmp/body -w '%{{http_code}}' "$@" 2>/tmp/err) || code="exit$?"; echo "$name $code $(cat /tmp/body /tmp/err | tr '\n' ' ')"; }}
probe other-plain http://other.test:{http}/
probe other-tls --cacert /ca/ca.pem https://other.test:{https}/
probe literal --noproxy '' -x http://127.0.0.1:3128 http://127.0.0.1:{http}/
probe unlisted --noproxy '' -x http://127.0.0.1:3128 http://127.0.0.2:{http}/
probe private http://private.test:{http}/
probe localhost --noproxy '' -x http://127.0.0.1:3128 http://localhost:{http}/
probe port http://up.test:{other}/
probe allowed http://up.test:{http}/"#,
        http = up.http,
        https = up.https,
        other = up.http.wrapping_add(1).max(1),
    );
    let domains = ["up.test", "private.test", "localhost", "127.0.0.1"];
    let result = run_egress(allowlist_jail(&domains, &[up.http, up.https], &script))?;
    let out = result.stdout.text().into_owned();
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or("")
            .to_owned()
    };
    check(
        line("other-plain").starts_with("other-plain 403")
            && line("other-plain").contains("other.test is not on this jail's allowlist"),
        out.clone(),
    )?;
    // curl reports a refused tunnel by its status.
    check(
        line("other-tls").contains("exit56") && line("other-tls").contains("403"),
        out.clone(),
    )?;
    check(line("literal").starts_with("literal 403"), out.clone())?;
    check(line("unlisted").starts_with("unlisted 403"), out.clone())?;
    check(
        line("private").starts_with("private 403") && line("private").contains("10.0.0.7"),
        out.clone(),
    )?;
    check(line("localhost").starts_with("localhost 403"), out.clone())?;
    check(line("port").starts_with("port 403"), out.clone())?;
    check(line("allowed").starts_with("allowed 200"), out.clone())?;

    let records = records(&result)?;
    let reasons: Vec<Option<Reason>> = records.iter().map(|r| r.reason).collect();
    let expected = [
        Some(Reason::HostNotAllowed),
        Some(Reason::HostNotAllowed),
        Some(Reason::NonPublicAddress),
        Some(Reason::IpLiteral),
        Some(Reason::NonPublicAddress),
        Some(Reason::NonPublicAddress),
        Some(Reason::PortNotAllowed),
        None,
    ];
    check(reasons == expected, format!("{reasons:?}\n{records:?}"))?;
    check(
        records[..7]
            .iter()
            .all(|r| r.outcome == Outcome::Denied && r.bytes_up == 0),
        format!("{records:?}"),
    )?;
    check(records[1].method == "CONNECT", format!("{:?}", records[1]))?;
    check(
        records[4].address == Some("10.0.0.7".parse()?),
        format!("{:?}", records[4]),
    )
}

fn allowlist_wildcards_match_the_domain_and_below() -> Result<(), Failed> {
    let up = Upstream::start();
    let script = format!(
        "for h in wild.test a.wild.test evil-wild.test; do echo $h $(curl -s -o /dev/null -w '%{{http_code}}' --cacert /ca/ca.pem https://$h:{}/); done",
        up.https
    );
    let result = run_egress(allowlist_jail(&["*.wild.test"], &[up.https], &script))?;
    let out = result.stdout.text();
    check(
        out.contains("wild.test 200\n") && out.contains("a.wild.test 200") && out.contains("evil-wild.test 000"),
        out.to_string(),
    )?;
    let records = records(&result)?;
    check(
        records.len() == 3 && records[2].reason == Some(Reason::HostNotAllowed),
        format!("{records:?}"),
    )
}

fn egress_records_stream_as_events_and_land_in_the_result() -> Result<(), Failed> {
    let up = Upstream::start();
    let script = format!(
        "curl -s -o /dev/null http://up.test:{0}/; curl -s -o /dev/null http://other.test:{0}/; echo done",
        up.http
    );
    let config = allowlist_jail(&["up.test"], &[up.http], &script);
    let events = block_on(async {
        let mut rx = egress_engine().stream(config, Duration::from_secs(60)).await;
        let mut events = Vec::new();
        while let Some(event) = rx.recv().await {
            events.push(event);
        }
        events
    });
    let streamed: Vec<&EgressRecord> = events
        .iter()
        .filter_map(|e| match e {
            JailEvent::Egress(record) => Some(record),
            _ => None,
        })
        .collect();
    check(streamed.len() == 2, format!("{events:?}"))?;
    check(
        streamed[0].outcome == Outcome::Allowed && streamed[1].reason == Some(Reason::HostNotAllowed),
        format!("{streamed:?}"),
    )?;
    let Some(JailEvent::Completed(result)) = events.last() else {
        return Err(format!("the stream did not end with Completed: {events:?}").into());
    };
    let kept = records(result)?;
    check(
        kept.len() == 2 && kept.iter().zip(&streamed).all(|(a, b)| a == *b),
        format!("{kept:?}"),
    )
}

fn allowlist_mode_rejects_bad_policies() -> Result<(), Failed> {
    for domains in [vec![], vec!["*"], vec!["bad host"], vec!["*.com"]] {
        check(
            NetworkMode::allowlist(&domains, []).is_err(),
            format!("{domains:?} accepted"),
        )?;
    }
    check(NetworkMode::allowlist(["a.example"], [0]).is_err(), "port 0 accepted")
}
