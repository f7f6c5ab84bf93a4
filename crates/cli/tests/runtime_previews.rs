//! Previews end to end against the real `paddock serve` as root: a real
//! `python3 -m http.server` and a Python (stdlib) HTTP and WebSocket echo
//! server run as runtime processes in a workspace and are reached through
//! host-based (`{port}--{workspace}.localhost`) and path-based preview URLs.
//!
//! The attacks each fail without their protection: a port without a
//! preview, another tenant's workspace, another tenant's key, expired,
//! revoked and replaced previews, a preview host asking for API paths,
//! credentials leaking into the jail (also through the query or a
//! `Referer`), a jailed page acting on the API's origin or setting cookies
//! for other hosts, a preview reaching the host's own loopback, and a
//! stopped workspace being started by a preview request.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};

mod support;

use support::*;

/// An HTTP server that echoes each request (method, path, headers) as
/// JSON, answering `/respond?h=Name:Value&h=…` with those extra headers,
/// streams `/big?n=N` (N MiB of a known pattern) and echoes WebSocket
/// messages (`echo:` + the text), in Python's standard library.
const ECHO_SERVER: &str = r#"
import base64, hashlib, json, struct, sys, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
BLOCK = bytes(range(256)) * 4096
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self.ws()
        if self.path.startswith("/big"):
            n = int(self.path.split("=")[1])
            self.send_response(200)
            self.send_header("Content-Length", str(n * len(BLOCK)))
            self.end_headers()
            for _ in range(n):
                self.wfile.write(BLOCK)
            return
        length = int(self.headers.get("Content-Length") or 0)
        if self.path.startswith("/count"):
            seen, ok = 0, True
            while seen < length:
                chunk = self.rfile.read(min(len(BLOCK), length - seen))
                if not chunk:
                    break
                ok = ok and chunk == BLOCK[:len(chunk)]
                seen += len(chunk)
            body = json.dumps({"bytes": seen, "ok": ok}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        data = self.rfile.read(length).decode() if length else ""
        body = json.dumps({"server": "jailed-echo", "path": self.path, "method": self.command, "body": data,
                           "headers": [[k.lower(), v] for k, v in self.headers.items()]}).encode()
        self.send_response(200)
        if self.path.startswith("/respond"):
            query = urllib.parse.urlsplit(self.path).query
            for extra in urllib.parse.parse_qs(query).get("h", []):
                name, value = extra.split(":", 1)
                self.send_header(name, value.strip())
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_POST = do_GET
    def ws(self):
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        r = self.rfile
        while True:
            h = r.read(2)
            if len(h) < 2:
                return
            op = h[0] & 15
            n = h[1] & 127
            if n == 126:
                n = struct.unpack(">H", r.read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", r.read(8))[0]
            mask = r.read(4) if h[1] & 128 else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(r.read(n)))
            if op == 8:
                self.wfile.write(b"\x88\x00")
                self.wfile.flush()
                return
            if op in (1, 2):
                data = b"echo:" + data
                size = bytes([len(data)]) if len(data) < 126 else b"\x7e" + struct.pack(">H", len(data))
                self.wfile.write(bytes([0x80 | op]) + size + data)
                self.wfile.flush()
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

fn start(dir: &Path) -> Server {
    Server::start(dir, &[("PADDOCK_API_KEYS", &keys())], &["--shutdown-grace", "2s"])
}

fn workspace(server: &Server, token: &str) -> String {
    let (status, ws) = call(server, "POST", "/v1/workspaces", Some(token), Some(json!({})));
    assert_eq!(status, 201, "{ws}");
    ws["id"].as_str().expect("id").to_owned()
}

/// Starts a runtime process in the workspace.
fn spawn(server: &Server, token: &str, ws: &str, command: &str, args: &[&str]) {
    let (status, info) = call(
        server,
        "POST",
        &format!("/v1/workspaces/{ws}/runtime/v1/processes"),
        Some(token),
        Some(json!({"command": command, "args": args})),
    );
    assert_eq!(status, 200, "{info}");
}

/// Starts `python3 -m http.server PORT` serving `/workspace` with a
/// `hello.txt`, and the echo server on `echo_port`.
fn serve_in(server: &Server, ws: &str, port: u16, echo_port: u16) {
    let (status, out) = call(
        server,
        "POST",
        &format!("/v1/workspaces/{ws}/runtime/v1/processes/run"),
        Some(OP1_TOKEN),
        Some(json!({"command": "sh", "args": ["-c", "echo hello-from-jail > /workspace/hello.txt"]})),
    );
    assert_eq!(status, 200, "{out}");
    let port = port.to_string();
    spawn(
        server,
        OP1_TOKEN,
        ws,
        "python3",
        &[
            "-m",
            "http.server",
            &port,
            "--bind",
            "127.0.0.1",
            "--directory",
            "/workspace",
        ],
    );
    let echo_port = echo_port.to_string();
    spawn(server, OP1_TOKEN, ws, "python3", &["-c", ECHO_SERVER, &echo_port]);
}

fn preview(server: &Server, token: &str, ws: &str, body: Value) -> Value {
    let (status, preview) = call(
        server,
        "POST",
        &format!("/v1/workspaces/{ws}/previews"),
        Some(token),
        Some(body),
    );
    assert_eq!(status, 201, "{preview}");
    preview
}

fn addr(server: &Server) -> SocketAddr {
    server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("server address")
}

/// The host of a preview on this server (`{port}--{ws}.localhost:{server port}`).
fn host(server: &Server, port: u16, ws: &str) -> String {
    format!("{port}--{ws}.localhost:{}", addr(server).port())
}

/// A client that resolves the preview host to the server and follows no
/// redirect.
fn preview_client(server: &Server, port: u16, ws: &str) -> Client {
    Client::builder()
        .timeout(Duration::from_secs(120))
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&format!("{port}--{ws}.localhost"), addr(server))
        .build()
        .expect("client")
}

/// GET `path` on a preview host with extra headers.
fn get(server: &Server, port: u16, ws: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = preview_client(server, port, ws).get(format!("http://{}{path}", host(server, port, ws)));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().expect("preview request")
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Waits until a preview answers something other than 502 (the jailed
/// server started); that answer.
fn wait_up(server: &Server, port: u16, ws: &str, path: &str) -> Response {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = get(server, port, ws, path, &[("authorization", &bearer(OP1_TOKEN))]);
        if response.status() != StatusCode::BAD_GATEWAY || Instant::now() > deadline {
            return response;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The headers the jailed echo server saw, lowercase names.
fn seen_headers(echo: &Value) -> Vec<(String, String)> {
    echo["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().unwrap_or_default().to_owned(),
                pair[1].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn header_value(echo: &Value, name: &str) -> Option<String> {
    seen_headers(echo).into_iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

/// The secret in a private preview's `access_url`.
fn secret_of(preview: &Value) -> String {
    let access = preview["access_url"].as_str().expect("access_url");
    access
        .split_once("?paddock_token=")
        .expect("token in access_url")
        .1
        .to_owned()
}

#[test]
fn a_private_preview_serves_http_and_websockets_to_its_tenant_only() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server, OP1_TOKEN);
    serve_in(&server, &ws, 8000, 8001);

    let created = preview(&server, OP1_TOKEN, &ws, json!({"port": 8000}));
    assert!(created["id"].as_str().expect("id").starts_with("prv_"), "{created}");
    assert_eq!(created["public"], false);
    assert_eq!(created["state"], "active");
    assert!(created["expires_at"].is_null(), "{created}");
    assert_eq!(created["url"], format!("http://{}/", host(&server, 8000, &ws)));
    assert_eq!(
        created["path_url"],
        format!("{}/v1/workspaces/{ws}/previews/8000/proxy/", server.url)
    );
    let secret = secret_of(&created);

    // The tenant's API key.
    let response = wait_up(&server, 8000, &ws, "/hello.txt");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().expect("body"), "hello-from-jail\n");
    // No credentials, a bad key, another tenant's key.
    assert_eq!(
        get(&server, 8000, &ws, "/hello.txt", &[]).status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(
            &server,
            8000,
            &ws,
            "/hello.txt",
            &[("authorization", "Bearer not-a-key")]
        )
        .status(),
        StatusCode::UNAUTHORIZED
    );
    let other = get(
        &server,
        8000,
        &ws,
        "/hello.txt",
        &[("authorization", &bearer(OP2_TOKEN))],
    );
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    assert!(!other.text().expect("body").contains("hello-from-jail"));

    // The secret: 303 to the same URL without it, and a cookie.
    let response = get(
        &server,
        8000,
        &ws,
        &format!("/hello.txt?a=1&paddock_token={secret}"),
        &[],
    );
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/hello.txt?a=1");
    let cookie = response.headers()[SET_COOKIE].to_str().expect("cookie").to_owned();
    assert!(cookie.starts_with(&format!("paddock_preview={secret};")), "{cookie}");
    for part in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let with_cookie = format!("paddock_preview={secret}");
    let response = get(&server, 8000, &ws, "/hello.txt", &[("cookie", &with_cookie)]);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().expect("body"), "hello-from-jail\n");
    // A wrong secret, as a link or a cookie.
    assert_eq!(
        get(&server, 8000, &ws, "/hello.txt?paddock_token=pvs_00", &[]).status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(
            &server,
            8000,
            &ws,
            "/hello.txt",
            &[("cookie", "paddock_preview=pvs_00")]
        )
        .status(),
        StatusCode::UNAUTHORIZED
    );

    // Path-based, with the key as a header or in the query.
    let path = format!("{}/v1/workspaces/{ws}/previews/8000/proxy/hello.txt", server.url);
    let response = client().get(&path).bearer_auth(OP1_TOKEN).send().expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().expect("body"), "hello-from-jail\n");
    let response = client()
        .get(format!("{path}?access_token={OP1_TOKEN}"))
        .send()
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        client().get(&path).send().expect("request").status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        client()
            .get(&path)
            .bearer_auth(OP2_TOKEN)
            .send()
            .expect("request")
            .status(),
        StatusCode::NOT_FOUND
    );
    // The preview's secret is not an API key.
    assert_eq!(
        client()
            .get(&path)
            .bearer_auth(&secret)
            .send()
            .expect("request")
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // A WebSocket round trip through a host-based preview, with the cookie.
    let echo = preview(&server, OP1_TOKEN, &ws, json!({"port": 8001}));
    let echo_cookie = format!("paddock_preview={}", secret_of(&echo));
    assert_eq!(wait_up(&server, 8001, &ws, "/").status(), StatusCode::OK);
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://{}/socket",
        host(&server, 8001, &ws)
    ))
    .expect("request");
    request
        .headers_mut()
        .insert("cookie", echo_cookie.parse().expect("cookie"));
    let stream = TcpStream::connect(addr(&server)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let (mut socket, response) = tungstenite::client::client(request, stream).expect("WebSocket handshake");
    assert_eq!(response.status(), 101);
    for text in ["ping", "second message", &"x".repeat(1000)] {
        socket.send(tungstenite::Message::text(text)).expect("send");
        let answer = socket.read().expect("read");
        assert_eq!(answer.into_text().expect("text").as_str(), format!("echo:{text}"));
    }
    socket.close(None).expect("close");

    // And through the path-based relay, with ?access_token=.
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://{}/v1/workspaces/{ws}/previews/8001/proxy/socket?access_token={OP1_TOKEN}",
        addr(&server)
    ))
    .expect("request");
    request.headers_mut().remove("cookie");
    let stream = TcpStream::connect(addr(&server)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let (mut socket, _) = tungstenite::client::client(request, stream).expect("WebSocket handshake");
    socket.send(tungstenite::Message::text("via path")).expect("send");
    assert_eq!(
        socket.read().expect("read").into_text().expect("text").as_str(),
        "echo:via path"
    );

    // Listed, with no secret; audited.
    let (status, list) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{ws}/previews"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 200, "{list}");
    let previews = list["previews"].as_array().expect("previews");
    assert_eq!(previews.len(), 2, "{list}");
    assert!(
        previews
            .iter()
            .all(|p| p["access_url"].is_null() && p["state"] == "active"),
        "{list}"
    );
    let (status, _) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{ws}/previews"),
        Some(OP2_TOKEN),
        None,
    );
    assert_eq!(status, 404);
    let (_, audit) = call(&server, "GET", "/v1/audit/actions", Some(ADMIN_TOKEN), None);
    assert!(audit.to_string().contains("preview.create"), "{audit}");
}

#[test]
fn previews_refuse_what_they_do_not_expose() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server, OP1_TOKEN);
    serve_in(&server, &ws, 8000, 8001);
    let key = bearer(OP1_TOKEN);
    let auth = [("authorization", key.as_str())];

    // Bad requests.
    for body in [json!({"port": 0}), json!({"port": 70000})] {
        let (status, err) = call(
            &server,
            "POST",
            &format!("/v1/workspaces/{ws}/previews"),
            Some(OP1_TOKEN),
            Some(body),
        );
        assert_eq!(
            (status.as_u16(), err["code"].as_str()),
            (400, Some("BAD_PORT")),
            "{err}"
        );
    }
    for body in [
        json!({"port": 80, "ttl_secs": 0}),
        json!({"port": 80, "ttl_secs": 604801}),
    ] {
        let (status, err) = call(
            &server,
            "POST",
            &format!("/v1/workspaces/{ws}/previews"),
            Some(OP1_TOKEN),
            Some(body),
        );
        assert_eq!((status.as_u16(), err["code"].as_str()), (400, Some("BAD_TTL")), "{err}");
    }
    let (status, _) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/previews"),
        Some(OP2_TOKEN),
        Some(json!({"port": 8000})),
    );
    assert_eq!(status, 404, "another tenant cannot expose this workspace");

    // A port without a preview is unreachable, though a server listens.
    let open = preview(&server, OP1_TOKEN, &ws, json!({"port": 8000}));
    assert_eq!(wait_up(&server, 8000, &ws, "/hello.txt").status(), StatusCode::OK);
    assert_eq!(get(&server, 8001, &ws, "/", &auth).status(), StatusCode::NOT_FOUND);
    let response = client()
        .get(format!("{}/v1/workspaces/{ws}/previews/8001/proxy/", server.url))
        .bearer_auth(OP1_TOKEN)
        .send()
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Another tenant's workspace: its preview host and path, with this
    // tenant's key or this preview's secret.
    let theirs = workspace(&server, OP2_TOKEN);
    preview(&server, OP2_TOKEN, &theirs, json!({"port": 8000}));
    assert_eq!(get(&server, 8000, &theirs, "/", &auth).status(), StatusCode::NOT_FOUND);
    let mine = format!("paddock_preview={}", secret_of(&open));
    assert_eq!(
        get(&server, 8000, &theirs, "/", &[("cookie", &mine)]).status(),
        StatusCode::UNAUTHORIZED
    );
    let response = client()
        .get(format!("{}/v1/workspaces/{theirs}/previews/8000/proxy/", server.url))
        .bearer_auth(OP1_TOKEN)
        .send()
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // Unknown workspaces and malformed preview hosts.
    assert_eq!(
        get(&server, 8000, "wrk_000000000000000000000000", "/", &auth).status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(get(&server, 0, &ws, "/", &auth).status(), StatusCode::NOT_FOUND);

    // A preview host never reaches the API: the jailed server answers.
    let echo_preview = preview(&server, OP1_TOKEN, &ws, json!({"port": 8001}));
    assert_eq!(wait_up(&server, 8001, &ws, "/").status(), StatusCode::OK);
    let response = get(&server, 8001, &ws, "/v1/workspaces", &auth);
    assert_eq!(response.status(), StatusCode::OK);
    let echo: Value = response.json().expect("json");
    assert_eq!(echo["server"], "jailed-echo", "{echo}");
    assert_eq!(echo["path"], "/v1/workspaces", "{echo}");

    // The jail never sees paddock's credentials.
    let cookie = format!("theme=dark; paddock_preview={}; lang=en", secret_of(&echo_preview));
    let echo: Value = get(
        &server,
        8001,
        &ws,
        "/echo",
        &[("authorization", &key), ("cookie", &cookie)],
    )
    .json()
    .expect("json");
    assert_eq!(header_value(&echo, "authorization"), None, "{echo}");
    assert_eq!(
        header_value(&echo, "cookie").as_deref(),
        Some("theme=dark; lang=en"),
        "{echo}"
    );
    assert_eq!(
        header_value(&echo, "x-forwarded-proto").as_deref(),
        Some("http"),
        "{echo}"
    );
    assert_eq!(
        header_value(&echo, "x-forwarded-for").as_deref(),
        Some("127.0.0.1"),
        "{echo}"
    );
    assert_eq!(
        header_value(&echo, "x-forwarded-host"),
        Some(host(&server, 8001, &ws)),
        "{echo}"
    );
    assert!(!echo.to_string().contains(OP1_TOKEN), "{echo}");
    assert!(!echo.to_string().contains(&secret_of(&echo_preview)), "{echo}");
    // With the cookie only, the application's own Authorization stays.
    let cookie_only = format!("paddock_preview={}", secret_of(&echo_preview));
    let echo: Value = get(
        &server,
        8001,
        &ws,
        "/echo",
        &[("authorization", "Bearer app-token"), ("cookie", &cookie_only)],
    )
    .json()
    .expect("json");
    assert_eq!(
        header_value(&echo, "authorization").as_deref(),
        Some("Bearer app-token"),
        "{echo}"
    );
    assert_eq!(header_value(&echo, "cookie"), None, "{echo}");
    // Path-based: neither the key nor `access_token` reaches the jail.
    let echo: Value = client()
        .post(format!(
            "{}/v1/workspaces/{ws}/previews/8001/proxy/echo?x=1&access_token={OP1_TOKEN}&y=2",
            server.url
        ))
        .body("posted")
        .send()
        .expect("request")
        .json()
        .expect("json");
    assert_eq!(echo["path"], "/echo?x=1&y=2", "{echo}");
    assert_eq!(echo["method"], "POST", "{echo}");
    assert_eq!(echo["body"], "posted", "{echo}");
    assert!(!echo.to_string().contains(OP1_TOKEN), "{echo}");

    // Expired.
    let short = preview(&server, OP1_TOKEN, &ws, json!({"port": 8000, "ttl_secs": 1}));
    assert!(short["expires_at"].is_string(), "{short}");
    assert_eq!(get(&server, 8000, &ws, "/hello.txt", &auth).status(), StatusCode::OK);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        get(&server, 8000, &ws, "/hello.txt", &auth).status(),
        StatusCode::NOT_FOUND
    );
    let (_, list) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{ws}/previews"),
        Some(OP1_TOKEN),
        None,
    );
    let state_of = |list: &Value, id: &Value| {
        list["previews"]
            .as_array()
            .expect("previews")
            .iter()
            .find(|p| p["id"] == *id)
            .map(|p| p["state"].clone())
    };
    assert_eq!(state_of(&list, &short["id"]), Some(json!("expired")), "{list}");
    // Replaced: the first preview of 8000 was revoked by the second.
    assert_eq!(state_of(&list, &open["id"]), Some(json!("revoked")), "{list}");
    assert_eq!(
        get(&server, 8000, &ws, "/", &[("cookie", &mine)]).status(),
        StatusCode::NOT_FOUND
    );

    // Revoked.
    let revoked = preview(&server, OP1_TOKEN, &ws, json!({"port": 8000}));
    let cookie = format!("paddock_preview={}", secret_of(&revoked));
    assert_eq!(
        get(&server, 8000, &ws, "/hello.txt", &[("cookie", &cookie)]).status(),
        StatusCode::OK
    );
    let id = revoked["id"].as_str().expect("id");
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("/v1/workspaces/{ws}/previews/{id}"),
        Some(OP2_TOKEN),
        None,
    );
    assert_eq!(status, 404);
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("/v1/workspaces/{ws}/previews/{id}"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 204);
    assert_eq!(
        get(&server, 8000, &ws, "/hello.txt", &[("cookie", &cookie)]).status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&server, 8000, &ws, "/hello.txt", &auth).status(),
        StatusCode::NOT_FOUND
    );
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("/v1/workspaces/{ws}/previews/{id}"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 404);

    // A public preview: anyone, until it expires.
    let public = preview(&server, OP1_TOKEN, &ws, json!({"port": 8000, "public": true}));
    assert!(
        public["access_url"].is_null() && public["expires_at"].is_string(),
        "{public}"
    );
    assert_eq!(get(&server, 8000, &ws, "/hello.txt", &[]).status(), StatusCode::OK);

    // The host's own loopback is out of reach: the connection is made in
    // the jail's network namespace, where nothing listens on this port.
    let host_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    host_listener.set_nonblocking(true).expect("nonblocking");
    let host_port = host_listener.local_addr().expect("addr").port();
    preview(&server, OP1_TOKEN, &ws, json!({"port": host_port, "public": true}));
    let response = get(&server, host_port, &ws, "/", &[]);
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(
        host_listener.accept().is_err(),
        "the preview reached the host's loopback"
    );

    // A stopped workspace answers 502 and stays stopped.
    let (status, _) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/stop"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 200);
    let response = get(&server, 8000, &ws, "/hello.txt", &[]);
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(response.text().expect("body").contains("not running"));
    let (_, state) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{ws}/state"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(state["state"], "stopped", "{state}");
    let response = client()
        .get(format!("{}/v1/workspaces/{ws}/previews/8000/proxy/", server.url))
        .bearer_auth(OP1_TOKEN)
        .send()
        .expect("request");
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let err: Value = response.json().expect("json");
    assert_eq!(err["code"], "PREVIEW_UNREACHABLE", "{err}");

    // Deleting the workspace revokes its previews.
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("/v1/workspaces/{ws}"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 204);
    assert_eq!(
        get(&server, 8000, &ws, "/hello.txt", &[]).status(),
        StatusCode::NOT_FOUND
    );
}

#[test]
fn a_large_download_streams_through_a_preview() {
    const MIB: usize = 1 << 20;
    const BLOCKS: usize = 256;
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server, OP1_TOKEN);
    serve_in(&server, &ws, 8000, 8001);
    preview(&server, OP1_TOKEN, &ws, json!({"port": 8001, "public": true}));
    assert_eq!(wait_up(&server, 8001, &ws, "/").status(), StatusCode::OK);
    let pattern: Vec<u8> = (0..MIB).map(|i| (i % 256) as u8).collect();
    let mut response = get(&server, 8001, &ws, &format!("/big?n={BLOCKS}"), &[]);
    assert_eq!(response.status(), StatusCode::OK);
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0usize;
    loop {
        let n = response.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        for (i, byte) in buf[..n].iter().enumerate() {
            if *byte != pattern[(total + i) % MIB] {
                panic!("byte {} differs", total + i);
            }
        }
        total += n;
    }
    assert_eq!(total, BLOCKS * MIB);

    // And an upload of the same size, streamed to the jailed server.
    struct Pattern {
        sent: usize,
        total: usize,
    }
    impl Read for Pattern {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.total - self.sent).min(64 << 10);
            for (i, byte) in buf[..n].iter_mut().enumerate() {
                *byte = ((self.sent + i) % 256) as u8;
            }
            self.sent += n;
            Ok(n)
        }
    }
    let total = BLOCKS * MIB;
    let body = reqwest::blocking::Body::sized(Pattern { sent: 0, total }, total as u64);
    let answer: Value = preview_client(&server, 8001, &ws)
        .post(format!("http://{}/count", host(&server, 8001, &ws)))
        .body(body)
        .send()
        .expect("upload")
        .json()
        .expect("json");
    assert_eq!(answer, json!({"bytes": total, "ok": true}));

    // Neither was buffered: the server's peak memory stayed far below them.
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).expect("status");
    let peak_kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    eprintln!("the server's peak memory: {peak_kib} KiB");
    assert!(peak_kib < 200 << 10, "the server's peak memory was {peak_kib} KiB");
}

#[test]
fn previews_survive_a_restart() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server, OP1_TOKEN);
    let created = preview(&server, OP1_TOKEN, &ws, json!({"port": 8000}));
    server.stop();
    let server = start(dir.path());
    let (status, list) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{ws}/previews"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["previews"][0]["id"], created["id"], "{list}");
    assert_eq!(list["previews"][0]["state"], "active", "{list}");
    // Known, but the workspace does not run: 502, not 404.
    let secret = secret_of(&created);
    let response = get(
        &server,
        8000,
        &ws,
        "/",
        &[("cookie", &format!("paddock_preview={secret}"))],
    );
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
}

#[test]
fn previews_work_on_postgres() {
    // Fails without PADDOCK_TEST_POSTGRES_URL, like every PostgreSQL test
    // (scripts/test starts a server).
    let db = PgDatabase::create("previews");
    let dir = tempdir();
    let server = Server::start(
        dir.path(),
        &[("PADDOCK_API_KEYS", &keys()), ("DATABASE_URL", &db.url)],
        &["--shutdown-grace", "2s"],
    );
    let ws = workspace(&server, OP1_TOKEN);
    let first = preview(&server, OP1_TOKEN, &ws, json!({"port": 8000}));
    let second = preview(
        &server,
        OP1_TOKEN,
        &ws,
        json!({"port": 8000, "public": true, "ttl_secs": 60}),
    );
    let id = second["id"].as_str().expect("id");
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("/v1/workspaces/{ws}/previews/{id}"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 204);
    let (_, list) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{ws}/previews"),
        Some(OP1_TOKEN),
        None,
    );
    let states: Vec<(Value, Value)> = list["previews"]
        .as_array()
        .expect("previews")
        .iter()
        .map(|p| (p["id"].clone(), p["state"].clone()))
        .collect();
    assert!(states.contains(&(first["id"].clone(), json!("revoked"))), "{list}");
    assert!(states.contains(&(second["id"].clone(), json!("revoked"))), "{list}");
    assert_eq!(get(&server, 8000, &ws, "/", &[]).status(), StatusCode::NOT_FOUND);
    drop(server);
}

/// GET `path` on a workspace domain (agentjail's `domains`), resolved to
/// the server.
fn get_domain(server: &Server, domain: &str, path: &str) -> Response {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .resolve(domain, addr(server))
        .build()
        .expect("client")
        .get(format!("http://{domain}:{}{path}", addr(server).port()))
        .send()
        .expect("domain request")
}

#[test]
fn agentjail_domains_are_public_previews_of_their_workspace() {
    let dir = tempdir();
    let server = start(dir.path());
    let body = json!({"domains": [{"domain": "MyApp.localhost", "backend_url": "http://app", "vm_port": 8000}]});
    let (status, ws) = call(&server, "POST", "/v1/workspaces", Some(OP1_TOKEN), Some(body.clone()));
    assert_eq!(status, 201, "{ws}");
    assert_eq!(ws["domains"][0]["domain"], "myapp.localhost", "{ws}");
    assert_eq!(ws["domains"][0]["vm_port"], 8000, "{ws}");
    let id = ws["id"].as_str().expect("id").to_owned();

    // Not running yet: 502; then served to anyone, like agentjail's gateway.
    assert_eq!(get_domain(&server, "myapp.localhost", "/hello.txt").status(), 502);
    serve_in(&server, &id, 8000, 8001);
    let deadline = Instant::now() + Duration::from_secs(30);
    let response = loop {
        let response = get_domain(&server, "myapp.localhost", "/hello.txt");
        if response.status() != StatusCode::BAD_GATEWAY || Instant::now() > deadline {
            break response;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().expect("body"), "hello-from-jail\n");
    // Only the domain's port: another subdomain is nobody's.
    assert_eq!(get_domain(&server, "other.localhost", "/hello.txt").status(), 404);

    // One workspace per domain, across tenants; a name outside the preview
    // domain, a preview-shaped name or a missing port is refused, and
    // nothing is left behind.
    let (status, err) = call(&server, "POST", "/v1/workspaces", Some(OP2_TOKEN), Some(body));
    assert_eq!(
        (status.as_u16(), err["code"].as_str()),
        (409, Some("DOMAIN_TAKEN")),
        "{err}"
    );
    for domains in [
        json!([{"domain": "api.example.com", "vm_port": 80}]),
        json!([{"domain": "8000--wrk_x.localhost", "vm_port": 80}]),
        json!([{"domain": "x.localhost"}]),
    ] {
        let (status, err) = call(
            &server,
            "POST",
            "/v1/workspaces",
            Some(OP2_TOKEN),
            Some(json!({"domains": domains})),
        );
        assert_eq!(
            (status.as_u16(), err["code"].as_str()),
            (400, Some("DOMAINS_UNSUPPORTED")),
            "{err}"
        );
    }
    let (_, list) = call(&server, "GET", "/v1/workspaces", Some(OP2_TOKEN), None);
    assert_eq!(list["total"], 0, "a refused workspace was kept: {list}");

    // A fork does not take the domain; deleting the workspace frees it.
    let (status, fork) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{id}/fork"),
        Some(OP1_TOKEN),
        Some(json!({"count": 1})),
    );
    assert_eq!(status, 201, "{fork}");
    assert_eq!(fork["forks"][0]["domains"], json!([]), "{fork}");
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("/v1/workspaces/{id}"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 204);
    assert_eq!(get_domain(&server, "myapp.localhost", "/hello.txt").status(), 404);
    let (status, again) = call(
        &server,
        "POST",
        "/v1/workspaces",
        Some(OP2_TOKEN),
        Some(json!({"domains": [{"domain": "myapp.localhost", "vm_port": 3000}]})),
    );
    assert_eq!(status, 201, "{again}");
}

/// The values of one response header.
fn all_values(response: &Response, name: &str) -> Vec<String> {
    response
        .headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().expect("header text").to_owned())
        .collect()
}

/// What the jailed application answers on `/respond`: a service worker
/// scope over everything, cookies for every `*.localhost` host (including
/// a forged preview cookie), and transport policies for its origin.
const HOSTILE_HEADERS: [&str; 7] = [
    "Service-Worker-Allowed: /",
    "Set-Cookie: wide=1; Domain=localhost; Path=/",
    "Set-Cookie: wider=2; path=/; DOMAIN = .localhost ; HttpOnly",
    "Set-Cookie: paddock_preview=forged; Path=/",
    "Set-Cookie: =paddock_preview=forged",
    "Strict-Transport-Security: max-age=31536000",
    "Alt-Svc: h3=\":8443\"",
];

/// The answer to [`HOSTILE_HEADERS`] after the relay: no worker scope; on a
/// preview host (its own origin) host-only cookies and transport policies
/// of the application's own; on the API's origin (path-based) none of
/// them, since every workspace's path-based previews share that origin.
fn assert_tamed(response: &Response, path_based: bool) {
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        all_values(response, "service-worker-allowed").is_empty(),
        "{:?}",
        response.headers()
    );
    let (cookies, hsts, alt_svc): (&[&str], &[&str], &[&str]) = if path_based {
        (&[], &[], &[])
    } else {
        (
            &["wide=1; Path=/", "wider=2; path=/; HttpOnly"],
            &["max-age=31536000"],
            &["h3=\":8443\""],
        )
    };
    assert_eq!(all_values(response, "set-cookie"), cookies, "{:?}", response.headers());
    assert_eq!(
        all_values(response, "strict-transport-security"),
        hsts,
        "{:?}",
        response.headers()
    );
    assert_eq!(all_values(response, "alt-svc"), alt_svc, "{:?}", response.headers());
}

#[test]
fn the_relay_keeps_credentials_out_and_jailed_pages_in_their_place() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server, OP1_TOKEN);
    serve_in(&server, &ws, 8000, 8001);
    let private = preview(&server, OP1_TOKEN, &ws, json!({"port": 8001}));
    let secret = secret_of(&private);
    assert_eq!(wait_up(&server, 8001, &ws, "/").status(), StatusCode::OK);
    let proxy = format!("{}/v1/workspaces/{ws}/previews/8001/proxy", server.url);

    // Path-based: the page was opened with `?access_token=`, so the browser
    // sends that URL as the `Referer` of the page's own requests.
    let page = format!("{proxy}/?access_token={OP1_TOKEN}");
    for referer in [
        page.clone(),
        format!("{proxy}/?access%5Ftoken={OP1_TOKEN}"),
        format!("{proxy}/?paddock_token={secret}"),
    ] {
        let response = client()
            .get(format!("{proxy}/echo?x=1&access%5Ftoken={OP1_TOKEN}"))
            .header("referer", &referer)
            .send()
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        // The jailed page runs in an opaque origin, not the API's.
        let csp = all_values(&response, "content-security-policy");
        assert_eq!(
            csp,
            ["sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"],
            "{:?}",
            response.headers()
        );
        assert_eq!(all_values(&response, "referrer-policy"), ["no-referrer"]);
        let echo: Value = response.json().expect("json");
        assert_eq!(echo["path"], "/echo?x=1", "{echo}");
        assert_eq!(header_value(&echo, "referer"), None, "{echo}");
        assert!(!echo.to_string().contains(OP1_TOKEN), "{echo}");
        assert!(!echo.to_string().contains(&secret), "{echo}");
    }
    // A `Referer` without credentials is the application's and is relayed;
    // cookies of the API's origin belong to no workspace and are not.
    let echo: Value = client()
        .get(format!("{proxy}/echo"))
        .bearer_auth(OP1_TOKEN)
        .header("referer", format!("{proxy}/page?a=1"))
        .header("cookie", "theme=dark")
        .send()
        .expect("request")
        .json()
        .expect("json");
    assert_eq!(
        header_value(&echo, "referer"),
        Some(format!("{proxy}/page?a=1")),
        "{echo}"
    );
    assert_eq!(header_value(&echo, "cookie"), None, "{echo}");
    // Its answers cannot widen a service worker's scope, set cookies or
    // transport policies on the API's origin.
    let mut request = client().get(format!("{proxy}/respond")).bearer_auth(OP1_TOKEN);
    for extra in HOSTILE_HEADERS {
        request = request.query(&[("h", extra)]);
    }
    assert_tamed(&request.send().expect("request"), true);

    // Host-based: the same, and neither `access_token` nor `paddock_token`
    // reaches the jail in the query or the `Referer`.
    let key = bearer(OP1_TOKEN);
    let echo: Value = get(
        &server,
        8001,
        &ws,
        &format!("/echo?x=1&access_token={OP1_TOKEN}&y=2"),
        &[
            ("authorization", &key),
            (
                "referer",
                &format!("http://{}/?paddock_token={secret}", host(&server, 8001, &ws)),
            ),
        ],
    )
    .json()
    .expect("json");
    assert_eq!(echo["path"], "/echo?x=1&y=2", "{echo}");
    assert_eq!(header_value(&echo, "referer"), None, "{echo}");
    assert!(!echo.to_string().contains(OP1_TOKEN), "{echo}");
    assert!(!echo.to_string().contains(&secret), "{echo}");
    let mut request = preview_client(&server, 8001, &ws)
        .get(format!("http://{}/respond", host(&server, 8001, &ws)))
        .header("authorization", &key);
    for extra in HOSTILE_HEADERS {
        request = request.query(&[("h", extra)]);
    }
    let response = request.send().expect("request");
    assert_tamed(&response, false);
    // A preview host is its own origin: not sandboxed.
    assert!(all_values(&response, "content-security-policy").is_empty());
    // A public preview relays no `paddock_token` either.
    preview(&server, OP1_TOKEN, &ws, json!({"port": 8001, "public": true}));
    let echo: Value = get(
        &server,
        8001,
        &ws,
        &format!("/echo?paddock_token={secret}&access_token={OP1_TOKEN}&z=3"),
        &[],
    )
    .json()
    .expect("json");
    assert_eq!(echo["path"], "/echo?z=3", "{echo}");

    // WebSockets still upgrade through both relays.
    for url in [
        format!("ws://{}/socket", host(&server, 8001, &ws)),
        format!(
            "ws://{}/v1/workspaces/{ws}/previews/8001/proxy/socket?access_token={OP1_TOKEN}",
            addr(&server)
        ),
    ] {
        let mut request = tungstenite::client::IntoClientRequest::into_client_request(url).expect("request");
        request.headers_mut().insert("referer", page.parse().expect("referer"));
        let stream = TcpStream::connect(addr(&server)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        let (mut socket, response) = tungstenite::client::client(request, stream).expect("WebSocket handshake");
        assert_eq!(response.status(), 101);
        socket.send(tungstenite::Message::text("hi")).expect("send");
        assert_eq!(
            socket.read().expect("read").into_text().expect("text").as_str(),
            "echo:hi"
        );
        socket.close(None).expect("close");
    }
}
