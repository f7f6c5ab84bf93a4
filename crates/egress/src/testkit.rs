//! Test helpers (feature `testkit`): a real DNS server on 127.0.0.1 whose
//! answers a test scripts, for rebinding and private-address tests.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

/// A UDP DNS server answering A queries from a script: each name has a
/// list of answers, used in turn (the last repeats). Other names and other
/// query types get an empty answer. Counts the A queries per name.
#[derive(Debug)]
pub struct ScriptedDns {
    addr: SocketAddr,
    queries: Arc<Mutex<HashMap<String, usize>>>,
}

impl ScriptedDns {
    /// Starts the server on a fresh port of 127.0.0.1.
    pub fn start(script: &[(&str, &[[u8; 4]])]) -> ScriptedDns {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port on 127.0.0.1");
        ScriptedDns::serve(socket, script)
    }

    /// Serves on a socket bound earlier (for a process that must bind
    /// before it may start threads).
    pub fn serve(socket: UdpSocket, script: &[(&str, &[[u8; 4]])]) -> ScriptedDns {
        let addr = socket.local_addr().expect("local address");
        let script: HashMap<String, Vec<[u8; 4]>> = script
            .iter()
            .map(|(name, answers)| (name.to_ascii_lowercase(), answers.to_vec()))
            .collect();
        let queries = Arc::new(Mutex::new(HashMap::new()));
        let counts = queries.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, peer)) = socket.recv_from(&mut buf) {
                if let Some(reply) = answer(&buf[..n], &script, &counts) {
                    let _ = socket.send_to(&reply, peer);
                }
            }
        });
        ScriptedDns { addr, queries }
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A queries received for `name` so far.
    pub fn queries(&self, name: &str) -> usize {
        let counts = self.queries.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(&name.to_ascii_lowercase()).copied().unwrap_or(0)
    }
}

fn answer(
    query: &[u8],
    script: &HashMap<String, Vec<[u8; 4]>>,
    counts: &Mutex<HashMap<String, usize>>,
) -> Option<Vec<u8>> {
    // Header (12 bytes), then the question: labels, type, class.
    let mut labels = Vec::new();
    let mut at = 12;
    while *query.get(at)? != 0 {
        let len = query[at] as usize;
        labels.push(String::from_utf8_lossy(query.get(at + 1..at + 1 + len)?).to_ascii_lowercase());
        at += len + 1;
    }
    let question_end = at + 5;
    let qtype = u16::from_be_bytes([*query.get(at + 1)?, *query.get(at + 2)?]);
    query.get(..question_end)?;
    let name = labels.join(".");
    let address = if qtype == 1 {
        let mut counts = counts.lock().unwrap_or_else(|e| e.into_inner());
        let served = counts.entry(name.clone()).or_insert(0);
        *served += 1;
        script
            .get(&name)
            .and_then(|answers| answers.get((*served - 1).min(answers.len().saturating_sub(1))).copied())
    } else {
        None
    };
    let mut reply = Vec::with_capacity(question_end + 16);
    reply.extend_from_slice(&query[..2]);
    // A response, recursion desired and available; one question.
    reply.extend_from_slice(&[0x81, 0x80, 0, 1, 0, address.is_some() as u8, 0, 0, 0, 0]);
    reply.extend_from_slice(&query[12..question_end]);
    if let Some(ip) = address {
        // A pointer to the question's name, type A, class IN, TTL 0.
        reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]);
        reply.extend_from_slice(&ip);
    }
    Some(reply)
}

/// Makes a test CA (`ca.pem`, `ca.key`) and a server certificate signed by
/// it (`leaf.pem`, `leaf.key`, P-256) in `dir` with openssl, for TLS
/// upstreams in tests. `subject_alt_names` is the extension's value, like
/// `DNS:up.test,IP:127.0.0.1`. Panics with openssl's message on failure
/// (tests need openssl: `scripts/test` installs it).
pub fn make_test_certificates(dir: &std::path::Path, subject_alt_names: &str) {
    use std::process::Command;
    std::fs::write(
        dir.join("ext"),
        format!("subjectAltName={subject_alt_names}\nbasicConstraints=CA:FALSE\n"),
    )
    .expect("write the openssl extension file");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let steps: Vec<Vec<&str>> = vec![
        [
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=paddock test CA",
            ],
        ]
        .concat(),
        [
            &["req"][..],
            &ec,
            &["-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=paddock test"],
        ]
        .concat(),
        vec![
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    ];
    for args in steps {
        let out = Command::new("openssl")
            .args(&args)
            .current_dir(dir)
            .output()
            .expect("openssl must be installed (scripts/test installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for file in ["ca.pem", "leaf.pem", "leaf.key"] {
        let _ = std::fs::set_permissions(dir.join(file), std::os::unix::fs::PermissionsExt::from_mode(0o644));
    }
}
