//! The file API of a workspace (`…/runtime/v1/fs/*`) end to end, against
//! the real `paddock serve` as root, real jails and real files: round trips
//! of every route in sandbox-agent 0.4.2's shapes, a large body streamed
//! both ways in bounded memory, and the attacks RUNTIME.md §4 guards
//! against (symlinks and `..` out of the tree, hard links to host files,
//! FIFOs, hostile tars, a jail swapping a directory for a symlink while
//! the host writes through it). Each attack test checks the host side, so
//! it fails if the protection is missing.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::blocking::Body;
use reqwest::StatusCode;
use serde_json::{json, Value};

mod support;

use support::*;

fn start(dir: &Path) -> Server {
    Server::start(dir, &[("PADDOCK_API_KEYS", &keys())], &["--shutdown-grace", "2s"])
}

/// A new workspace of operator 1; its id.
fn workspace(server: &Server) -> String {
    let (status, ws) = call(server, "POST", "/v1/workspaces", Some(OP1_TOKEN), Some(json!({})));
    assert_eq!(status, 201, "{ws}");
    ws["id"].as_str().expect("id").to_owned()
}

/// The workspace's tree on the host.
fn tree(server: &Server, ws: &str) -> PathBuf {
    server.state_dir.join("workspaces").join(ws).join("tree")
}

/// `sh -c script` in the workspace; its stdout (asserting exit 0).
fn sh(server: &Server, ws: &str, script: &str) -> String {
    let (status, result) = call(
        server,
        "POST",
        &format!("/v1/workspaces/{ws}/exec"),
        Some(OP1_TOKEN),
        Some(json!({"cmd": "sh", "args": ["-c", script], "timeout_secs": 60})),
    );
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["exit_code"], 0, "{result}");
    result["stdout"].as_str().unwrap_or_default().to_owned()
}

/// One call of a file route: status and raw body.
fn fs(
    server: &Server,
    method: &str,
    ws: &str,
    route: &str,
    query: &[(&str, &str)],
    body: Option<(&str, Vec<u8>)>,
) -> (StatusCode, Vec<u8>) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = client()
        .request(
            method,
            format!("{}/v1/workspaces/{ws}/runtime/v1/fs/{route}", server.url),
        )
        .bearer_auth(OP1_TOKEN)
        .query(query);
    if let Some((content_type, bytes)) = body {
        request = request.header("content-type", content_type).body(bytes);
    }
    let response = request.send().expect("request");
    let status = response.status();
    (status, response.bytes().expect("body").to_vec())
}

/// One call answering JSON.
fn fs_json(
    server: &Server,
    method: &str,
    ws: &str,
    route: &str,
    query: &[(&str, &str)],
    body: Option<(&str, Vec<u8>)>,
) -> (StatusCode, Value) {
    let (status, bytes) = fs(server, method, ws, route, query, body);
    let value =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

fn put(server: &Server, ws: &str, path: &str, bytes: &[u8]) -> (StatusCode, Value) {
    fs_json(
        server,
        "PUT",
        ws,
        "file",
        &[("path", path)],
        Some(("application/octet-stream", bytes.to_vec())),
    )
}

fn get(server: &Server, ws: &str, path: &str) -> (StatusCode, Vec<u8>) {
    fs(server, "GET", ws, "file", &[("path", path)], None)
}

fn move_entry(server: &Server, ws: &str, body: Value) -> (StatusCode, Value) {
    fs_json(
        server,
        "POST",
        ws,
        "move",
        &[],
        Some(("application/json", body.to_string().into_bytes())),
    )
}

fn upload(server: &Server, ws: &str, path: &str, tar: Vec<u8>) -> (StatusCode, Value) {
    fs_json(
        server,
        "POST",
        ws,
        "upload-batch",
        &[("path", path)],
        Some(("application/x-tar", tar)),
    )
}

/// Asserts a Problem Details answer: status, sandbox-agent's problem type
/// and paddock's code.
fn assert_problem(status: StatusCode, body: &Value, want_status: u16, kind: &str, code: &str) {
    assert_eq!(status.as_u16(), want_status, "{body}");
    assert_eq!(body["type"], format!("urn:sandbox-agent:error:{kind}"), "{body}");
    assert_eq!(body["code"], code, "{body}");
}

fn problem(status: StatusCode, bytes: &[u8], want_status: u16, code: &str) -> Value {
    let body: Value = serde_json::from_slice(bytes).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(bytes)));
    assert_problem(status, &body, want_status, "invalid_request", code);
    body
}

/// A tar entry written as given, bypassing the `tar` crate's own path
/// checks (hostile archives are the point).
fn raw_entry(
    builder: &mut tar::Builder<Vec<u8>>,
    name: &str,
    kind: tar::EntryType,
    link: Option<&str>,
    mode: u32,
    data: &[u8],
) {
    let mut header = tar::Header::new_gnu();
    {
        let old = header.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
    }
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(data.len() as u64);
    if matches!(kind, tar::EntryType::Char) {
        header.set_device_major(1).unwrap();
        header.set_device_minor(3).unwrap();
    }
    header.set_cksum();
    builder.append(&header, data).unwrap();
}

fn finish(builder: tar::Builder<Vec<u8>>) -> Vec<u8> {
    builder.into_inner().unwrap()
}

/// `n` bytes of a deterministic pseudo-random sequence, read lazily.
struct Pattern {
    left: u64,
    state: u64,
}

impl Pattern {
    fn new(n: u64) -> Pattern {
        Pattern {
            left: n,
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for chunk in buf[..n].chunks_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            chunk.copy_from_slice(&self.state.to_le_bytes()[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Peak resident memory of a process (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[test]
fn every_route_round_trips_in_sandbox_agent_shapes() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server);
    let tree = tree(&server, &ws);

    // PUT makes the parents; the answer names the jail path.
    let (status, written) = put(&server, &ws, "/workspace/dir/sub/a.txt", b"hello\n");
    assert_eq!(status, 200, "{written}");
    assert_eq!(written, json!({"path": "/workspace/dir/sub/a.txt", "bytesWritten": 6}));
    assert_eq!(std::fs::read(tree.join("dir/sub/a.txt")).unwrap(), b"hello\n");
    let meta = std::fs::metadata(tree.join("dir/sub/a.txt")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o644);
    // The jail sees it, and what the jail writes the API reads.
    assert_eq!(sh(&server, &ws, "cat /workspace/dir/sub/a.txt"), "hello\n");
    sh(
        &server,
        &ws,
        "printf jail > /workspace/from-jail; chmod 755 /workspace/from-jail",
    );

    // GET: raw bytes with their length; relative paths and `~` are from
    // /workspace.
    for path in ["/workspace/from-jail", "from-jail", "./from-jail", "~/from-jail"] {
        let response = client()
            .get(format!("{}/v1/workspaces/{ws}/runtime/v1/fs/file", server.url))
            .bearer_auth(OP1_TOKEN)
            .query(&[("path", path)])
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], "application/octet-stream");
        assert_eq!(response.headers()["content-length"], "4");
        assert_eq!(response.bytes().unwrap().as_ref(), b"jail");
    }
    // ?access_token= works like the header.
    let response = client()
        .get(format!("{}/v1/workspaces/{ws}/runtime/v1/fs/file", server.url))
        .query(&[("path", "from-jail"), ("access_token", OP1_TOKEN)])
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);

    // Overwriting keeps the file's permission bits, replaces its content.
    let (status, _) = put(&server, &ws, "from-jail", b"replaced");
    assert_eq!(status, 200);
    assert_eq!(
        sh(
            &server,
            &ws,
            "stat -c %a /workspace/from-jail; cat /workspace/from-jail"
        ),
        "755\nreplaced"
    );

    // stat: sandbox-agent's shape and time format.
    let (status, stat) = fs_json(&server, "GET", &ws, "stat", &[("path", "dir/sub/a.txt")], None);
    assert_eq!(status, 200, "{stat}");
    assert_eq!(stat["path"], "/workspace/dir/sub/a.txt");
    assert_eq!(stat["entryType"], "file");
    assert_eq!(stat["size"], 6);
    let modified = stat["modified"].as_str().unwrap();
    assert!(modified.ends_with("+00:00") && modified.len() >= 25, "{modified}");
    let (status, stat) = fs_json(&server, "GET", &ws, "stat", &[("path", "/workspace")], None);
    assert_eq!(
        (status.as_u16(), stat["entryType"].as_str()),
        (200, Some("directory")),
        "{stat}"
    );
    assert_eq!(stat["path"], "/workspace");

    // entries: sorted, jail paths; the root when the path is absent.
    let (status, entries) = fs_json(&server, "GET", &ws, "entries", &[], None);
    assert_eq!(status, 200, "{entries}");
    let names: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dir", "from-jail"]);
    assert_eq!(entries[0]["path"], "/workspace/dir");
    assert_eq!(entries[0]["entryType"], "directory");
    assert_eq!(entries[1]["entryType"], "file");
    assert_eq!(entries[1]["size"], 8);
    let (status, entries) = fs_json(&server, "GET", &ws, "entries", &[("path", "/workspace/dir/sub")], None);
    assert_eq!(status, 200);
    assert_eq!(
        entries,
        json!([{"name": "a.txt", "path": "/workspace/dir/sub/a.txt", "entryType": "file", "size": 6, "modified": modified}])
    );

    // Errors as sandbox-agent gives them: 400 invalid_request.
    let (status, body) = fs(&server, "GET", &ws, "entries", &[("path", "dir/sub/a.txt")], None);
    let body = problem(status, &body, 400, "BAD_PATH");
    assert!(body["detail"].as_str().unwrap().contains("not a directory"), "{body}");
    let (status, body) = get(&server, &ws, "/workspace/nope");
    let body = problem(status, &body, 400, "PATH_NOT_FOUND");
    assert_eq!(body["detail"], "path not found: /workspace/nope");
    let (status, body) = get(&server, &ws, "/workspace/dir");
    problem(status, &body, 400, "BAD_PATH");
    let (status, body) = fs(&server, "GET", &ws, "stat", &[("path", "nope")], None);
    problem(status, &body, 400, "PATH_NOT_FOUND");
    // What sandbox-agent answers with its 502 `stream_error`: the same.
    let (status, body) = put(&server, &ws, "dir", b"x");
    assert_problem(status, &body, 502, "stream_error", "STREAM_ERROR");
    assert_eq!(body["title"], "Stream Error");
    assert!(
        body["details"]["message"].as_str().unwrap().contains("Is a directory"),
        "{body}"
    );

    // A query the route cannot read is a problem too.
    let (status, body) = fs_json(
        &server,
        "DELETE",
        &ws,
        "entry",
        &[("path", "dir"), ("recursive", "yes")],
        None,
    );
    assert_problem(status, &body, 400, "invalid_request", "BAD_QUERY");
    let (status, body) = fs_json(&server, "GET", &ws, "file", &[], None);
    assert_problem(status, &body, 400, "invalid_request", "BAD_QUERY");

    // mkdir: parents made, an existing directory is fine, a file in the
    // way is not.
    for _ in 0..2 {
        let (status, made) = fs_json(&server, "POST", &ws, "mkdir", &[("path", "m/n/o")], None);
        assert_eq!(status, 200, "{made}");
        assert_eq!(made, json!({"path": "/workspace/m/n/o"}));
    }
    assert!(tree.join("m/n/o").is_dir());
    let (status, body) = fs_json(&server, "POST", &ws, "mkdir", &[("path", "from-jail")], None);
    assert_problem(status, &body, 502, "stream_error", "STREAM_ERROR");

    // move: refuses an existing destination without overwrite, makes the
    // destination's parents, replaces with overwrite.
    put(&server, &ws, "b.txt", b"bee");
    let (status, body) = move_entry(&server, &ws, json!({"from": "b.txt", "to": "from-jail"}));
    assert_problem(status, &body, 400, "invalid_request", "PATH_EXISTS");
    assert_eq!(std::fs::read(tree.join("from-jail")).unwrap(), b"replaced");
    let (status, moved) = move_entry(
        &server,
        &ws,
        json!({"from": "/workspace/b.txt", "to": "new/parent/b.txt"}),
    );
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        moved,
        json!({"from": "/workspace/b.txt", "to": "/workspace/new/parent/b.txt"})
    );
    let (status, _) = move_entry(
        &server,
        &ws,
        json!({"from": "new/parent/b.txt", "to": "from-jail", "overwrite": true}),
    );
    assert_eq!(status, 200);
    assert_eq!(std::fs::read(tree.join("from-jail")).unwrap(), b"bee");
    let (status, body) = move_entry(&server, &ws, json!({"from": "gone", "to": "x"}));
    assert_problem(status, &body, 400, "invalid_request", "PATH_NOT_FOUND");
    let (status, body) = move_entry(&server, &ws, json!({"from": "dir", "to": "dir/sub/inside"}));
    assert_problem(status, &body, 502, "stream_error", "STREAM_ERROR");
    assert!(!tree.join("dir/sub/inside").exists());
    // Replacing a directory with something inside it would delete the
    // source first.
    let (status, body) = move_entry(
        &server,
        &ws,
        json!({"from": "dir/sub/a.txt", "to": "dir", "overwrite": true}),
    );
    assert_problem(status, &body, 400, "invalid_request", "BAD_PATH");
    assert!(tree.join("dir/sub/a.txt").is_file());
    // A directory over a non-empty directory, with overwrite.
    let (status, _) = move_entry(&server, &ws, json!({"from": "m", "to": "dir", "overwrite": true}));
    assert_eq!(status, 200);
    assert!(tree.join("dir/n/o").is_dir() && !tree.join("dir/sub").exists() && !tree.join("m").exists());

    // delete: a non-empty directory needs recursive=true.
    let (status, body) = fs_json(&server, "DELETE", &ws, "entry", &[("path", "dir")], None);
    assert_problem(status, &body, 502, "stream_error", "STREAM_ERROR");
    assert!(body["detail"].as_str().unwrap().contains("recursive"), "{body}");
    assert!(tree.join("dir/n/o").is_dir());
    let (status, deleted) = fs_json(
        &server,
        "DELETE",
        &ws,
        "entry",
        &[("path", "dir"), ("recursive", "true")],
        None,
    );
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted, json!({"path": "/workspace/dir"}));
    assert!(!tree.join("dir").exists());
    let (status, _) = fs_json(&server, "DELETE", &ws, "entry", &[("path", "from-jail")], None);
    assert_eq!(status, 200);
    let (status, body) = fs_json(&server, "DELETE", &ws, "entry", &[("path", "from-jail")], None);
    assert_problem(status, &body, 400, "invalid_request", "PATH_NOT_FOUND");

    // upload-batch: files, directories and symlinks; modes kept without
    // setuid; paths in tar order.
    let mut builder = tar::Builder::new(Vec::new());
    raw_entry(&mut builder, "p/", tar::EntryType::Directory, None, 0o755, b"");
    raw_entry(
        &mut builder,
        "p/run.sh",
        tar::EntryType::Regular,
        None,
        0o4755,
        b"#!/bin/sh\necho ran\n",
    );
    raw_entry(&mut builder, "p/q/two", tar::EntryType::Regular, None, 0o600, b"2");
    raw_entry(
        &mut builder,
        "p/lnk",
        tar::EntryType::Symlink,
        Some("q/two"),
        0o777,
        b"",
    );
    let (status, uploaded) = upload(&server, &ws, "/workspace/up", finish(builder));
    assert_eq!(status, 200, "{uploaded}");
    assert_eq!(
        uploaded,
        json!({"paths": ["/workspace/up/p", "/workspace/up/p/run.sh", "/workspace/up/p/q/two", "/workspace/up/p/lnk"], "truncated": false})
    );
    assert_eq!(
        sh(
            &server,
            &ws,
            "cd /workspace/up/p && stat -c '%a %n' run.sh q/two && ./run.sh && cat lnk"
        ),
        "755 run.sh\n600 q/two\nran\n2"
    );
    // Not a tar content type: refused as sandbox-agent does.
    let (status, body) = fs_json(
        &server,
        "POST",
        &ws,
        "upload-batch",
        &[],
        Some(("application/octet-stream", vec![0; 1024])),
    );
    assert_problem(status, &body, 400, "invalid_request", "BAD_ARCHIVE");
    let (status, body) = upload(
        &server,
        &ws,
        "x",
        b"this is not a tar at all, not even 512 bytes".to_vec(),
    );
    assert_problem(status, &body, 400, "invalid_request", "BAD_ARCHIVE");

    // archive: the directory as a tar, symlinks as links.
    let (status, bytes) = fs(&server, "GET", &ws, "archive", &[("path", "up")], None);
    assert_eq!(status, 200);
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut seen = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = String::new();
        match entry.header().entry_type() {
            tar::EntryType::Symlink => data = entry.link_name().unwrap().unwrap().to_string_lossy().into_owned(),
            _ => {
                entry.read_to_string(&mut data).unwrap();
            }
        }
        seen.push(format!("{path} {:o} {data}", entry.header().mode().unwrap()));
    }
    assert_eq!(
        seen,
        [
            "p/ 755 ",
            "p/lnk 777 q/two",
            "p/q/ 755 ",
            "p/q/two 600 2",
            "p/run.sh 755 #!/bin/sh\necho ran\n"
        ]
    );
    let (status, body) = fs(&server, "GET", &ws, "archive", &[("path", "up/p/q/two")], None);
    problem(status, &body, 400, "BAD_PATH");

    // Another tenant's workspace does not exist for this caller.
    let response = client()
        .get(format!("{}/v1/workspaces/{ws}/runtime/v1/fs/entries", server.url))
        .bearer_auth(OP2_TOKEN)
        .send()
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().unwrap();
    assert_eq!(body["type"], "urn:sandbox-agent:error:not_found");
    // No key: 401 as a problem.
    let response = client()
        .get(format!("{}/v1/workspaces/{ws}/runtime/v1/fs/entries", server.url))
        .send()
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[test]
fn a_large_file_streams_both_ways_in_bounded_memory() {
    const SIZE: u64 = 96 << 20;
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server);
    // Warm up the routes so one-time allocations are not counted.
    put(&server, &ws, "warm", &[7; 1 << 20]);
    get(&server, &ws, "warm");
    let before = peak_rss_kib(server.child.id());

    let started = Instant::now();
    let response = client()
        .put(format!("{}/v1/workspaces/{ws}/runtime/v1/fs/file", server.url))
        .bearer_auth(OP1_TOKEN)
        .query(&[("path", "big/blob.bin")])
        .body(Body::new(Pattern::new(SIZE)))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let written: Value = response.json().unwrap();
    assert_eq!(written["bytesWritten"], SIZE);

    let mut expected = blake3::Hasher::new();
    std::io::copy(&mut Pattern::new(SIZE), &mut expected).unwrap();
    let on_disk = blake3::hash(&std::fs::read(tree(&server, &ws).join("big/blob.bin")).unwrap());
    assert_eq!(on_disk, expected.finalize());

    let mut response = client()
        .get(format!("{}/v1/workspaces/{ws}/runtime/v1/fs/file", server.url))
        .bearer_auth(OP1_TOKEN)
        .query(&[("path", "big/blob.bin")])
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(SIZE));
    let mut got = blake3::Hasher::new();
    let copied = response.copy_to(&mut got).unwrap();
    assert_eq!(copied, SIZE);
    assert_eq!(got.finalize(), expected.finalize());

    // A tar of it streams out too.
    let mut response = client()
        .get(format!("{}/v1/workspaces/{ws}/runtime/v1/fs/archive", server.url))
        .bearer_auth(OP1_TOKEN)
        .query(&[("path", "big")])
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let copied = response.copy_to(&mut std::io::sink()).unwrap();
    assert!(copied > SIZE, "{copied}");
    eprintln!("{SIZE} bytes in, out and archived in {:?}", started.elapsed());

    // Neither direction held the body: the server's peak grew by far less
    // than the file.
    let grown = peak_rss_kib(server.child.id()).saturating_sub(before);
    assert!(
        grown < 32 << 10,
        "the server's peak memory grew by {grown} KiB for a {SIZE}-byte file"
    );
}

#[test]
fn symlinks_out_of_the_tree_are_never_followed() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server);
    let tree = tree(&server, &ws);
    let host_passwd = std::fs::read("/etc/passwd").unwrap();
    sh(
        &server,
        &ws,
        "cd /workspace && ln -s /etc etc && ln -s /etc/passwd pw && ln -s ../../../../../etc/passwd rel && mkdir real && echo inside > real/f && ln -s real/f inlink && ln -s /real/f abslink",
    );

    // Through each link, the host's /etc is out of reach: in the tree,
    // `/etc` is `etc`, the link itself (a loop), and `/etc/passwd` does not
    // exist.
    let refused = |status: StatusCode, body: &[u8], path: &str| {
        assert!(body != host_passwd.as_slice(), "{path} served the host's /etc/passwd");
        let body: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(status, 400, "{path}: {body}");
        let code = body["code"].as_str().unwrap();
        assert!(code == "PATH_NOT_FOUND" || code == "BAD_PATH", "{path}: {body}");
    };
    for path in ["etc/passwd", "/workspace/etc/passwd", "pw", "rel", "etc"] {
        let (status, body) = get(&server, &ws, path);
        refused(status, &body, path);
        let (status, body) = fs(&server, "GET", &ws, "stat", &[("path", path)], None);
        refused(status, &body, path);
        let (status, body) = fs(&server, "GET", &ws, "entries", &[("path", path)], None);
        refused(status, &body, path);
        let (status, body) = fs(&server, "GET", &ws, "archive", &[("path", path)], None);
        refused(status, &body, path);
    }

    // Writing through the link never reaches the host's /etc.
    let marker = format!("paddock-escape-{}", std::process::id());
    let (status, _) = put(&server, &ws, &format!("etc/{marker}"), b"x");
    assert_eq!(status, 400);
    let (status, _) = fs_json(
        &server,
        "POST",
        &ws,
        "mkdir",
        &[("path", &format!("etc/{marker}"))],
        None,
    );
    assert_eq!(status, 400);
    assert!(!Path::new("/etc").join(&marker).exists());
    // Replacing the link `pw` replaces the link, not /etc/passwd.
    let (status, _) = put(&server, &ws, "pw", b"mine");
    assert_eq!(status, 200);
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), host_passwd);
    assert_eq!(std::fs::read(tree.join("pw")).unwrap(), b"mine");
    // Deleting a link deletes the link.
    let (status, _) = fs_json(
        &server,
        "DELETE",
        &ws,
        "entry",
        &[("path", "etc"), ("recursive", "true")],
        None,
    );
    assert_eq!(status, 200);
    assert!(Path::new("/etc/passwd").exists());
    assert!(std::fs::symlink_metadata(tree.join("etc")).is_err());

    // Links that stay inside are followed, an absolute one as the jail
    // sees it (from the tree's root).
    let (status, body) = get(&server, &ws, "inlink");
    assert_eq!((status.as_u16(), body.as_slice()), (200, b"inside\n".as_slice()));
    let (status, body) = get(&server, &ws, "abslink");
    assert_eq!((status.as_u16(), body.as_slice()), (200, b"inside\n".as_slice()));
    // The archive stores links as links.
    let (status, bytes) = fs(&server, "GET", &ws, "archive", &[], None);
    assert_eq!(status, 200);
    let mut archive = tar::Archive::new(bytes.as_slice());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        assert!(data != host_passwd, "the archive holds the host's /etc/passwd");
    }
}

#[test]
fn dotdot_and_paths_outside_the_workspace_are_refused() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server);
    let tree = tree(&server, &ws);
    put(&server, &ws, "keep.txt", b"keep");
    let marker = format!("paddock-outside-{}", std::process::id());
    let outside = [
        "/etc/passwd".to_owned(),
        format!("/tmp/{marker}"),
        format!("../{marker}"),
        format!("/workspace/../{marker}"),
        format!("a/../../{marker}"),
        format!("/workspacex/{marker}"),
        "/".to_owned(),
    ];
    for path in &outside {
        let (status, body) = get(&server, &ws, path);
        let body = problem(status, &body, 400, "BAD_PATH");
        assert!(
            body["detail"].as_str().unwrap().contains("/workspace") || path.contains(".."),
            "{body}"
        );
        let (status, body) = put(&server, &ws, path, b"escaped");
        assert_problem(status, &body, 400, "invalid_request", "BAD_PATH");
        for (method, route) in [
            ("POST", "mkdir"),
            ("DELETE", "entry"),
            ("GET", "stat"),
            ("GET", "entries"),
        ] {
            let (status, body) = fs_json(&server, method, &ws, route, &[("path", path)], None);
            assert_problem(status, &body, 400, "invalid_request", "BAD_PATH");
        }
        let (status, body) = move_entry(&server, &ws, json!({"from": "keep.txt", "to": path}));
        assert_problem(status, &body, 400, "invalid_request", "BAD_PATH");
    }
    assert!(!Path::new("/tmp").join(&marker).exists());
    assert!(!tree.parent().unwrap().join(&marker).exists());
    assert!(!server.state_dir.join("workspaces").join(&marker).exists());
    assert_eq!(std::fs::read(tree.join("keep.txt")).unwrap(), b"keep");

    // The workspace's root itself cannot be deleted or moved.
    for path in ["/workspace", "", "~", "/workspace/", "."] {
        for recursive in ["true", "false"] {
            let (status, body) = fs_json(
                &server,
                "DELETE",
                &ws,
                "entry",
                &[("path", path), ("recursive", recursive)],
                None,
            );
            assert_problem(status, &body, 400, "invalid_request", "BAD_PATH");
        }
    }
    let (status, body) = move_entry(&server, &ws, json!({"from": "/workspace", "to": "elsewhere"}));
    assert_problem(status, &body, 400, "invalid_request", "BAD_PATH");
    assert_eq!(std::fs::read(tree.join("keep.txt")).unwrap(), b"keep");
}

#[test]
fn a_hard_link_to_a_host_file_is_replaced_not_written_through() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server);
    let tree = tree(&server, &ws);
    // A jail cannot make this link; a host-side one stands for a tree
    // restored or left with one. Same file system: the state dir's.
    let outside = dir.path().join("outside-secret.txt");
    std::fs::write(&outside, "host secret").unwrap();
    std::fs::hard_link(&outside, tree.join("hl.txt")).unwrap();
    std::fs::hard_link(&outside, tree.join("hl2.txt")).unwrap();
    assert_eq!(std::fs::metadata(&outside).unwrap().nlink(), 3);

    let (status, _) = put(&server, &ws, "hl.txt", b"overwritten");
    assert_eq!(status, 200);
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "host secret");
    assert_eq!(std::fs::read(tree.join("hl.txt")).unwrap(), b"overwritten");

    let mut builder = tar::Builder::new(Vec::new());
    raw_entry(
        &mut builder,
        "hl2.txt",
        tar::EntryType::Regular,
        None,
        0o644,
        b"from tar",
    );
    let (status, body) = upload(&server, &ws, "/workspace", finish(builder));
    assert_eq!(status, 200, "{body}");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "host secret");
    assert_eq!(std::fs::read(tree.join("hl2.txt")).unwrap(), b"from tar");
    assert_eq!(std::fs::metadata(&outside).unwrap().nlink(), 1);
}

#[test]
fn a_fifo_is_refused_at_once() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server);
    sh(&server, &ws, "mkfifo /workspace/pipe && echo ok > /workspace/after");
    let started = Instant::now();
    let (status, body) = get(&server, &ws, "pipe");
    let body = problem(status, &body, 400, "BAD_PATH");
    assert!(body["detail"].as_str().unwrap().contains("FIFO"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    // stat describes it (as sandbox-agent does: a `file`); an archive leaves
    // it out without blocking on it.
    let (status, stat) = fs_json(&server, "GET", &ws, "stat", &[("path", "pipe")], None);
    assert_eq!(
        (status.as_u16(), stat["entryType"].as_str()),
        (200, Some("file")),
        "{stat}"
    );
    let (status, bytes) = fs(&server, "GET", &ws, "archive", &[], None);
    assert_eq!(status, 200);
    let names: Vec<String> = tar::Archive::new(bytes.as_slice())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["after"]);
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[test]
fn hostile_tars_are_refused_and_modes_are_stripped() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server);
    let tree = tree(&server, &ws);
    let marker = format!("paddock-tar-{}", std::process::id());

    let cases: Vec<(String, tar::EntryType, Option<String>, &str)> = vec![
        (format!("../{marker}"), tar::EntryType::Regular, None, ".."),
        (format!("a/../../{marker}"), tar::EntryType::Regular, None, ".."),
        (format!("/tmp/{marker}"), tar::EntryType::Regular, None, "absolute"),
        (
            "hard".to_owned(),
            tar::EntryType::Link,
            Some("/etc/passwd".to_owned()),
            "hard links",
        ),
        ("null".to_owned(), tar::EntryType::Char, None, "device"),
        ("disk".to_owned(), tar::EntryType::Block, None, "device"),
        ("fifo".to_owned(), tar::EntryType::Fifo, None, "FIFO"),
    ];
    for (name, kind, link, why) in cases {
        let mut builder = tar::Builder::new(Vec::new());
        raw_entry(&mut builder, &name, kind, link.as_deref(), 0o644, b"");
        let (status, body) = upload(&server, &ws, "/workspace/in", finish(builder));
        assert_problem(status, &body, 400, "invalid_request", "BAD_ARCHIVE");
        assert!(body["detail"].as_str().unwrap().contains(why), "{name}: {body}");
    }
    assert!(!Path::new("/tmp").join(&marker).exists());
    assert!(!tree.parent().unwrap().join(&marker).exists());
    assert!(!tree.join(&marker).exists());
    let names: Vec<String> = std::fs::read_dir(tree.join("in"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.is_empty(), "{names:?}");

    // setuid, setgid and sticky bits are stripped, from files and
    // directories.
    let mut builder = tar::Builder::new(Vec::new());
    raw_entry(&mut builder, "d/", tar::EntryType::Directory, None, 0o3777, b"");
    raw_entry(
        &mut builder,
        "d/suid",
        tar::EntryType::Regular,
        None,
        0o6755,
        b"#!/bin/sh\n",
    );
    let (status, body) = upload(&server, &ws, "in", finish(builder));
    assert_eq!(status, 200, "{body}");
    let mode = |p: &str| std::fs::symlink_metadata(tree.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("in/d/suid"), 0o755);
    assert_eq!(mode("in/d"), 0o777);

    // A symlink to `/` then a file "through" it: lands in the tree.
    let mut builder = tar::Builder::new(Vec::new());
    raw_entry(&mut builder, "esc", tar::EntryType::Symlink, Some("/"), 0o777, b"");
    raw_entry(
        &mut builder,
        &format!("esc/tmp/{marker}"),
        tar::EntryType::Regular,
        None,
        0o644,
        b"caught",
    );
    let (status, body) = upload(&server, &ws, "/workspace", finish(builder));
    assert_eq!(status, 200, "{body}");
    assert!(
        !Path::new("/tmp").join(&marker).exists(),
        "the tar wrote into the host's /tmp"
    );
    assert_eq!(std::fs::read(tree.join("tmp").join(&marker)).unwrap(), b"caught");
}

/// A tar header declaring a GNU long name (`L`) of `size` bytes.
fn long_name_header(size: u64) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
    header.set_entry_type(tar::EntryType::GNULongName);
    header.set_mode(0o644);
    header.set_size(size);
    header.set_cksum();
    header.as_bytes().to_vec()
}

#[test]
fn an_oversized_long_name_entry_is_refused_before_it_is_read() {
    use std::io::Write;
    const HUGE: u64 = 8 << 30;
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server);
    let tree = tree(&server, &ws);

    // A 200-character path works, as a GNU long name and as a PAX header.
    let long = format!("{}/{}", "d".repeat(99), "f".repeat(100));
    assert_eq!(long.len(), 200);
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_size(4);
    builder.append_data(&mut header, &long, &b"gnu\n"[..]).unwrap();
    let (status, body) = upload(&server, &ws, "gnu", finish(builder));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["paths"], json!([format!("/workspace/gnu/{long}")]), "{body}");
    assert_eq!(std::fs::read(tree.join("gnu").join(&long)).unwrap(), b"gnu\n");

    let record = format!("210 path={long}\n");
    assert_eq!(record.len(), 210);
    let mut builder = tar::Builder::new(Vec::new());
    raw_entry(
        &mut builder,
        "PaxHeader",
        tar::EntryType::XHeader,
        None,
        0o644,
        record.as_bytes(),
    );
    raw_entry(&mut builder, "short", tar::EntryType::Regular, None, 0o644, b"pax\n");
    let (status, body) = upload(&server, &ws, "pax", finish(builder));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["paths"], json!([format!("/workspace/pax/{long}")]), "{body}");
    assert_eq!(std::fs::read(tree.join("pax").join(&long)).unwrap(), b"pax\n");
    let before = peak_rss_kib(server.child.id());

    // An `L` entry declaring 8 GiB, its header and a little data, then the
    // body ends: refused for what it declares, at once.
    let mut tar = long_name_header(HUGE);
    tar.extend_from_slice(&[b'n'; 4096]);
    let started = Instant::now();
    let (status, body) = upload(&server, &ws, "in", tar);
    assert_problem(status, &body, 400, "invalid_request", "BAD_ARCHIVE");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("GNU long name"), "{body}");
    assert!(detail.contains(&format!("declares {HUGE} bytes")), "{body}");
    assert!(detail.contains("over 65536 bytes"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());

    // The same with a body announcing 8 GiB and 64 MiB of it sent: the
    // answer comes while the body is still open (nothing waits for, or
    // holds, the declared name), and the server's memory stays small.
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let head = format!(
        "POST /v1/workspaces/{ws}/runtime/v1/fs/upload-batch?path=in HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {OP1_TOKEN}\r\nContent-Type: application/x-tar\r\n\
         Content-Length: {}\r\n\r\n",
        512 + HUGE + 1024
    );
    let started = Instant::now();
    let sender = std::thread::spawn(move || {
        writer.write_all(head.as_bytes())?;
        writer.write_all(&long_name_header(HUGE))?;
        let chunk = vec![b'n'; 1 << 20];
        for _ in 0..64 {
            writer.write_all(&chunk)?;
        }
        writer.flush()
    });
    let mut answer = Vec::new();
    let mut buf = [0; 4096];
    while !String::from_utf8_lossy(&answer).contains("BAD_ARCHIVE") {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) => panic!("no answer after {:?}: {e}", started.elapsed()),
        }
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("BAD_ARCHIVE") && answer.contains("GNU long name"),
        "{answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = sender.join().unwrap();
    let grown = peak_rss_kib(server.child.id()).saturating_sub(before);
    assert!(grown < 16 << 10, "the server's peak memory grew by {grown} KiB");
    let names: Vec<String> = std::fs::read_dir(tree.join("in"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn a_directory_swapped_for_a_symlink_never_lets_a_write_out() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server);
    let tree = tree(&server, &ws);
    let marker = format!("paddock-race-{}", std::process::id());
    // The host's `/` is where a naive join would land through the link.
    let escaped = Path::new("/").join(&marker);
    let escaped_dir = Path::new("/").join(format!("{marker}-dir"));

    // The jail swaps `d` between a directory and a symlink to `/` as fast
    // as it can, for a few seconds.
    let jail = {
        let url = server.url.clone();
        let ws = ws.clone();
        std::thread::spawn(move || {
            let script = "cd /workspace && mkdir -p d.dir && ln -sfn / d.link && end=$(( $(date +%s) + 4 )); \
                n=0; while [ $(date +%s) -lt $end ]; do mv -T d.dir d; mv -T d d.dir; mv -T d.link d; mv -T d d.link; n=$((n+1)); done; echo $n";
            client()
                .post(format!("{url}/v1/workspaces/{ws}/exec"))
                .bearer_auth(OP1_TOKEN)
                .json(&json!({"cmd": "sh", "args": ["-c", script], "timeout_secs": 60}))
                .send()
                .unwrap()
                .json::<Value>()
                .unwrap()
        })
    };
    // Wait until the swapping runs.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !tree.join("d.link").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut outcomes = std::collections::BTreeMap::<u16, u32>::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let (status, _) = put(&server, &ws, &format!("d/{marker}"), b"race");
        *outcomes.entry(status.as_u16()).or_default() += 1;
        let (status, _) = fs_json(
            &server,
            "POST",
            &ws,
            "mkdir",
            &[("path", &format!("d/{marker}-dir"))],
            None,
        );
        *outcomes.entry(status.as_u16()).or_default() += 1;
        let (status, _) = fs_json(&server, "GET", &ws, "stat", &[("path", "d/etc/passwd")], None);
        *outcomes.entry(status.as_u16()).or_default() += 1;
        if escaped.exists() || escaped_dir.exists() {
            // Clean the host before failing.
            let _ = std::fs::remove_file(&escaped);
            let _ = std::fs::remove_dir(&escaped_dir);
            panic!("a write landed outside the tree, in the host's /");
        }
    }
    let swaps = jail.join().unwrap();
    assert_eq!(swaps["exit_code"], 0, "{swaps}");
    eprintln!("outcomes {outcomes:?}, swaps {}", swaps["stdout"]);
    assert!(!escaped.exists() && !escaped_dir.exists());
    // The writes that went through landed in the tree: through the link
    // (whose `/` is the tree's root), into the directory, or into a `d`
    // the write made when it found none (which the swapping then moved
    // about).
    assert!(outcomes.get(&200).copied().unwrap_or(0) > 0, "{outcomes:?}");
    assert!(holds_file_named(&tree, &marker), "{outcomes:?}");
    // Nothing but 200, 400 (not found, or a link in the way), 502 (a file
    // in the way) and 503 (the kernel saw the race and asked for a retry).
    assert!(
        outcomes.keys().all(|s| [200, 400, 502, 503].contains(s)),
        "{outcomes:?}"
    );
}

/// The temporary upload files in a directory of the tree.
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".paddock-upload-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn an_upload_cut_off_midway_leaves_nothing_behind() {
    use std::io::Write;
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server);
    let tree = tree(&server, &ws);
    put(&server, &ws, "kept.bin", b"old content");

    let addr = server.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "PUT /v1/workspaces/{ws}/runtime/v1/fs/file?path=kept.bin HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {OP1_TOKEN}\r\nContent-Length: {}\r\n\r\n",
        64 << 20
    )
    .unwrap();
    stream.write_all(&vec![1u8; 2 << 20]).unwrap();
    stream.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while temp_files(&tree).is_empty() {
        assert!(Instant::now() < deadline, "the upload never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(stream);
    while !temp_files(&tree).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the partial upload was left: {:?}",
            temp_files(&tree)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(std::fs::read(tree.join("kept.bin")).unwrap(), b"old content");
}

#[test]
fn upload_batch_lists_at_most_1024_paths() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server);
    let mut builder = tar::Builder::new(Vec::new());
    for n in 0..1100 {
        raw_entry(
            &mut builder,
            &format!("many/f{n:04}"),
            tar::EntryType::Regular,
            None,
            0o644,
            b"x",
        );
    }
    let (status, body) = upload(&server, &ws, "", finish(builder));
    assert_eq!(status, 200);
    assert_eq!(body["truncated"], true);
    let paths = body["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 1024);
    assert_eq!(paths[0], "/workspace/many/f0000");
    // Every entry was written all the same.
    assert_eq!(
        std::fs::read_dir(tree(&server, &ws).join("many")).unwrap().count(),
        1100
    );
}

/// A size-limited tmpfs, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new(mib: u64) -> SmallDisk {
        let dir = tempdir();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "paddock-test"])
            .arg(dir.path())
            .status()
            .expect("mount");
        assert!(status.success(), "mount a tmpfs (the tests run as root)");
        SmallDisk { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_answers_507_and_keeps_nothing() {
    let disk = SmallDisk::new(48);
    let state = disk.dir.path().join("state");
    let server = start(&state);
    let ws = workspace(&server);
    let tree = tree(&server, &ws);
    put(&server, &ws, "kept.bin", b"old content");

    // More than the disk holds, in less than one watermark check: the
    // write itself fails with ENOSPC.
    let response = client()
        .put(format!("{}/v1/workspaces/{ws}/runtime/v1/fs/file", server.url))
        .bearer_auth(OP1_TOKEN)
        .query(&[("path", "kept.bin")])
        .body(Body::new(Pattern::new(60 << 20)))
        .send();
    if let Ok(response) = response {
        assert_eq!(response.status(), 507);
        let body: Value = response.json().unwrap();
        assert_eq!(body["code"], "INSUFFICIENT_STORAGE", "{body}");
    }
    // The client usually sees the connection closed under its upload; the
    // server's request log has the answer it gave.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let line = server
            .log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("no log line of the refused upload");
        if line.contains("/runtime/v1/fs/file") && line.contains("request failed") {
            assert!(line.contains("507") && line.contains("INSUFFICIENT_STORAGE"), "{line}");
            break;
        }
    }
    // Whether or not the client read the answer before the server closed
    // the connection, nothing of the upload is left, and the old file is.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !temp_files(&tree).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the partial upload was left: {:?}",
            temp_files(&tree)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(std::fs::read(tree.join("kept.bin")).unwrap(), b"old content");
    // The space is back: a small write works.
    let (status, body) = put(&server, &ws, "small.txt", b"fits");
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_paused_workspace_is_brought_back_for_a_file_call() {
    let dir = tempdir();
    let server = Server::start(
        dir.path(),
        &[("PADDOCK_API_KEYS", &keys())],
        &["--maintenance-interval", "200ms", "--shutdown-grace", "2s"],
    );
    let (status, ws) = call(
        &server,
        "POST",
        "/v1/workspaces",
        Some(OP1_TOKEN),
        Some(json!({"idle_timeout_secs": 1})),
    );
    assert_eq!(status, 201, "{ws}");
    let ws = ws["id"].as_str().unwrap().to_owned();
    let (status, _) = put(&server, &ws, "notes/kept.txt", b"across the pause");
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, row) = call(&server, "GET", &format!("/v1/workspaces/{ws}"), Some(OP1_TOKEN), None);
        if !row["paused_at"].is_null() {
            break;
        }
        assert!(Instant::now() < deadline, "the workspace was not paused: {row}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!tree(&server, &ws).exists(), "a paused workspace kept its tree");
    let (status, body) = get(&server, &ws, "notes/kept.txt");
    assert_eq!(
        (status.as_u16(), body.as_slice()),
        (200, b"across the pause".as_slice())
    );
    // (Whether it stays resumed is the idle policy's business: file calls
    // do not count as activity yet, so it may be paused again at once.)
}

/// Whether a file named `name` is anywhere beneath `dir` (symlinks not
/// followed).
fn holds_file_named(dir: &std::path::Path, name: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let Ok(kind) = entry.file_type() else {
            return false;
        };
        (kind.is_file() && entry.file_name() == name) || (kind.is_dir() && holds_file_named(&entry.path(), name))
    })
}
