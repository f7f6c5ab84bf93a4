//! Phantom proxy benchmarks: the latency a request gains by going through
//! the proxy of a real `paddock serve` (token lookup in SQLite, scope
//! check, key swap, audit row) over the same request sent directly to a
//! local upstream, and the throughput of a streamed download. tinyproxy
//! forwarding the same request is measured in the same run as a peer.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::egress::{read_response, start_upstream, time_n, Tinyproxy, DOWNLOAD_BYTES};
use crate::server::{start_paddock, API_KEY};
use crate::{summarize, Row};

/// One JSON call to the control plane on a new connection; returns the body.
fn control_call(addr: SocketAddr, method: &str, path: &str, body: &str) -> Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {API_KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    if !text.starts_with("HTTP/1.1 20") {
        bail!("{method} {path}: {text}");
    }
    Ok(text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default())
}

/// A keep-alive connection sending `GET target` with an optional token.
struct Client {
    reader: BufReader<TcpStream>,
    request: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr, target: &str, token: Option<&str>) -> Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let auth = token
            .map(|t| format!("authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        Ok(Client {
            reader: BufReader::new(stream),
            request: format!("GET {target} HTTP/1.1\r\nhost: bench\r\n{auth}\r\n").into_bytes(),
        })
    }

    fn get(&mut self) -> Result<u64> {
        self.reader.get_mut().write_all(&self.request)?;
        read_response(&mut self.reader)
    }
}

/// The phantom rows.
pub fn rows(paddock: &str, scale: usize, scratch: &Path) -> Result<Vec<Row>> {
    let port = start_upstream()?;
    let upstream: SocketAddr = ([127, 0, 0, 1], port).into();
    let service = format!("bench=http://{upstream}");
    let (_server, api, proxy) = start_paddock(paddock, scratch, &["--service", &service])?;
    control_call(
        api,
        "POST",
        "/v1/credentials",
        r#"{"service":"bench","secret":"real-key"}"#,
    )?;
    let session = control_call(api, "POST", "/v1/sessions", r#"{"services":["bench"]}"#)?;
    let session: serde_json::Value = serde_json::from_str(&session)?;
    let token = session["env"]["BENCH_API_KEY"]
        .as_str()
        .context("no BENCH_API_KEY in the session")?
        .to_owned();
    let tiny = match Tinyproxy::start(port, scratch) {
        Ok(tiny) => Some(tiny),
        Err(err) => {
            eprintln!("tinyproxy not measured: {err:#}");
            None
        }
    };

    // (subject, address, request target, token)
    let mut subjects: Vec<(&str, SocketAddr, String, Option<&str>)> = vec![
        ("direct (no proxy)", upstream, "/small".into(), None),
        ("paddock phantom proxy", proxy, "/v1/bench/small".into(), Some(&token)),
    ];
    let mut rows = Vec::new();
    let requests = 500 * scale;
    for (subject, addr, target, token) in &subjects {
        let mut client = Client::connect(*addr, target, *token)?;
        time_n(100, || client.get().map(drop))?;
        let samples = time_n(requests * 2, || client.get().map(drop))?;
        rows.push(summarize(
            "phantom: small GET, keep-alive",
            subject,
            samples,
            None,
            "the proxy pools its upstream connections",
        ));
    }
    if let Some(tiny) = &tiny {
        subjects.push((
            "tinyproxy 1.11 (forward, no swap)",
            tiny.addr,
            format!("http://{upstream}/small"),
            None,
        ));
    }
    for (subject, addr, target, token) in &subjects {
        let once = || -> Result<()> { Client::connect(*addr, target, *token)?.get().map(drop) };
        time_n(50, once)?;
        let samples = time_n(requests, once)?;
        rows.push(summarize(
            "phantom: small GET, new connection",
            subject,
            samples,
            None,
            "client connection per request",
        ));
    }
    for (subject, addr, target, token) in subjects.iter().take(2) {
        let big = target.replace("/small", "/big");
        let samples = time_n(2 * scale, || {
            let mut client = Client::connect(*addr, &big, *token)?;
            let length = client.get()?;
            if length != DOWNLOAD_BYTES {
                bail!("{subject}: {length} bytes");
            }
            Ok(())
        })?;
        let mut sorted = samples.clone();
        sorted.sort();
        let rate = DOWNLOAD_BYTES as f64 / 1e6 / sorted[sorted.len() / 2].as_secs_f64();
        rows.push(summarize(
            "phantom: 1 GiB streamed download",
            subject,
            samples,
            Some(rate),
            "per_second = MB/s",
        ));
    }
    Ok(rows)
}
