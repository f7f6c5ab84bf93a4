//! Workspaces and snapshots end to end: the real `paddock serve`, real
//! jails, git clones from a local HTTP git server through the egress
//! proxy, the content-addressed pool on disk, SQLite and PostgreSQL.
//! Threat-model rows 21, 22, 27 and 28 are proven here.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod support;

use support::*;

/// Flags every workspace test server gets: git over plain HTTP from the
/// local git server (`git.test` is 127.0.0.1), quick maintenance, and no
/// grace for unreferenced blobs.
const FLAGS: [&str; 9] = [
    "--git-allow-http",
    "--trust-host",
    "git.test=127.0.0.1",
    "--maintenance-interval",
    "200ms",
    "--snapshot-gc-min-age",
    "1ms",
    "--shutdown-grace",
    "2s",
];

fn start(dir: &Path, extra: &[&str]) -> Server {
    start_with_env(dir, &[], extra)
}

/// A test server with the usual keys plus `env`.
fn start_with_env(dir: &Path, env: &[(&str, &str)], extra: &[&str]) -> Server {
    let keys = keys();
    let mut all_env = vec![("PADDOCK_API_KEYS", keys.as_str())];
    all_env.extend(env);
    let mut args: Vec<&str> = FLAGS.to_vec();
    args.extend(extra);
    Server::start(dir, &all_env, &args)
}

fn create(server: &Server, token: &str, body: Value) -> Value {
    let (status, ws) = call(server, "POST", "/v1/workspaces", Some(token), Some(body));
    assert_eq!(status, 201, "{ws}");
    ws
}

/// `sh -c script` in a workspace; returns the result (asserting 200).
fn sh(server: &Server, token: &str, ws: &str, script: &str) -> Value {
    workspace_sh(server, token, ws, script)
}

fn stdout(result: &Value) -> String {
    assert_eq!(result["exit_code"], 0, "{result}");
    result["stdout"].as_str().unwrap().to_owned()
}

fn snapshot(server: &Server, token: &str, ws: &str, name: &str) -> Value {
    let (status, snap) = call(
        server,
        "POST",
        &format!("/v1/workspaces/{ws}/snapshot"),
        Some(token),
        Some(json!({"name": name})),
    );
    assert_eq!(status, 201, "{snap}");
    snap
}

fn from_snapshot(server: &Server, token: &str, snap: &str, parent: &str) -> (u16, Value) {
    let (status, ws) = call(
        server,
        "POST",
        "/v1/workspaces/from-snapshot",
        Some(token),
        Some(json!({"snapshot_id": snap, "parent_workspace_id": parent})),
    );
    (status.as_u16(), ws)
}

/// Every file in the pool (the blobs).
fn pool_blobs(state: &Path) -> BTreeSet<String> {
    let mut blobs = BTreeSet::new();
    for fan in std::fs::read_dir(state.join("blobs")).unwrap().flatten() {
        let name = fan.file_name().into_string().unwrap();
        if name.len() != 2 {
            continue;
        }
        for blob in std::fs::read_dir(fan.path()).unwrap().flatten() {
            blobs.insert(format!("{name}{}", blob.file_name().into_string().unwrap()));
        }
    }
    blobs
}

/// Describes a tree as a workspace exec sees it: type, mode, size, content
/// hash or link target of every entry.
const DESCRIBE: &str = r#"find . -path ./.git -prune -o -mindepth 1 -printf '%y %m %s %p %l\n' | sort; find . -type f -not -path './.git/*' -exec sha256sum {} + | sort -k2"#;

#[test]
fn files_persist_across_execs_and_one_exec_runs_at_a_time() {
    let dir = tempdir();
    let server = start(dir.path(), &[]);
    let ws = create(
        &server,
        OP1_TOKEN,
        json!({"label": "build", "memory_mb": 256, "timeout_secs": 30}),
    );
    let ws_id = id(&ws);
    assert_eq!(ws["config"]["memory_mb"], 256);
    // No quota asked for: agentjail's number (one core), never null.
    assert_eq!(ws["config"]["cpu_percent"], 100, "{ws}");
    assert_eq!(ws["source_dir"], "", "host paths are hidden from operators");
    stdout(&sh(
        &server,
        OP1_TOKEN,
        &ws_id,
        "pwd > where; mkdir -p node_modules/x && echo dep > node_modules/x/index.js",
    ));
    let out = stdout(&sh(
        &server,
        OP1_TOKEN,
        &ws_id,
        "cat where node_modules/x/index.js; echo $HOME",
    ));
    assert_eq!(out, "/workspace\ndep\n/workspace\n");
    // An exec's result: its ledger id, whole milliseconds, and the flags.
    let result = sh(&server, OP1_TOKEN, &ws_id, "echo hi; echo oops >&2");
    assert!(result["id"].is_i64() && result["duration_ms"].is_u64(), "{result}");
    for flag in [
        "stdout_truncated",
        "stderr_truncated",
        "cancelled",
        "timed_out",
        "oom_killed",
    ] {
        assert_eq!(result[flag], false, "{flag}: {result}");
    }
    assert_eq!(result["egress_refusals"], json!([]), "{result}");
    assert_eq!(
        (result["stdout"].as_str(), result["stderr"].as_str()),
        (Some("hi\n"), Some("oops\n"))
    );
    let (_, row) = call(
        &server,
        "GET",
        &format!("/v1/jails/{}", result["id"]),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(row["kind"], "workspace", "{row}");

    // A second exec while one runs runs beside it (in the same tree).
    // Another workspace runs meanwhile.
    let other = id(&create(&server, OP1_TOKEN, json!({})));
    let url = server.url.clone();
    let long = std::thread::spawn({
        let ws_id = ws_id.clone();
        move || {
            client()
                .post(format!("{url}/v1/workspaces/{ws_id}/exec"))
                .bearer_auth(OP1_TOKEN)
                .json(&json!({"cmd": "sh", "args": ["-c", "sleep 2; cat /workspace/beside"]}))
                .send()
                .unwrap()
                .json::<serde_json::Value>()
                .unwrap()
        }
    });
    std::thread::sleep(Duration::from_millis(700));
    let started = Instant::now();
    assert_eq!(
        stdout(&sh(
            &server,
            OP1_TOKEN,
            &ws_id,
            "echo written > /workspace/beside; echo beside"
        )),
        "beside\n"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "the second exec waited for the first"
    );
    let started = Instant::now();
    assert_eq!(stdout(&sh(&server, OP1_TOKEN, &other, "echo parallel")), "parallel\n");
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "the other workspace waited"
    );
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("/v1/workspaces/{ws_id}"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 409, "deleted during an exec");
    let first = long.join().unwrap();
    assert_eq!(first["stdout"], "written\n", "{first}");

    // Exec options and bad input.
    let (status, result) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws_id}/exec"),
        Some(OP1_TOKEN),
        Some(json!({"cmd": "sh", "args": ["-c", "echo $GREETING"], "env": [["GREETING", "hi"]]})),
    );
    assert_eq!((status.as_u16(), result["stdout"].as_str()), (200, Some("hi\n")));
    let (_, result) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws_id}/exec"),
        Some(OP1_TOKEN),
        Some(json!({"cmd": "sleep", "args": ["5"], "timeout_secs": 1})),
    );
    assert_eq!(result["timed_out"], true, "{result}");
    for (body, want) in [
        (json!({"cmd": ""}), (400, "BAD_CMD")),
        (json!({"cmd": "true", "env": [["1BAD", "x"]]}), (400, "BAD_ENV")),
        (json!({"cmd": "true", "env": [["A", "x\u{0}y"]]}), (400, "BAD_ENV")),
        (json!({"cmd": "true", "env": "A=1"}), (422, "BAD_BODY")),
    ] {
        for route in ["exec", "exec/stream"] {
            let (status, err) = call(
                &server,
                "POST",
                &format!("/v1/workspaces/{ws_id}/{route}"),
                Some(OP1_TOKEN),
                Some(body.clone()),
            );
            assert_eq!(
                (status.as_u16(), err["code"].as_str()),
                (want.0, Some(want.1)),
                "{route}: {err}"
            );
        }
    }
    for (body, code) in [
        (json!({"flavors": ["nope"]}), "UNKNOWN_FLAVOR"),
        (json!({"network": {"mode": "wide-open"}}), "BAD_NETWORK"),
        (json!({"seccomp": "off"}), "BAD_SECCOMP"),
        (
            json!({"domains": [{"domain": "a.example", "vm_port": 80}]}),
            "DOMAINS_UNSUPPORTED",
        ),
        (json!({"label": "x".repeat(300)}), "BAD_LABEL"),
        (json!({"label": "paddock:code-pool"}), "BAD_LABEL"),
        (json!({"git": {"repo": "https://h/r", "repos": []}}), "BAD_GIT"),
    ] {
        let (status, err) = call(&server, "POST", "/v1/workspaces", Some(OP1_TOKEN), Some(body.clone()));
        assert_eq!(
            (status.as_u16(), err["code"].as_str()),
            (400, Some(code)),
            "{body}: {err}"
        );
    }
    // The ledger has the execs as kind "workspace".
    let (_, page) = call(&server, "GET", "/v1/jails?kind=workspace", Some(OP1_TOKEN), None);
    assert!(page["total"].as_i64().unwrap() >= 5, "{page}");
}

/// `sh -c script` streamed from a workspace: the run id header and the
/// events.
fn stream_sh(server: &Server, ws: &str, query: &str, script: &str) -> (i64, Vec<(String, String)>) {
    let response = client()
        .post(format!("{}/v1/workspaces/{ws}/exec/stream{query}", server.url))
        .bearer_auth(OP1_TOKEN)
        .json(&json!({"cmd": "sh", "args": ["-c", script], "timeout_secs": 60}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let id = response.headers()["x-paddock-run-id"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    (id, parse_sse(&response.text().unwrap()))
}

fn completed(events: &[(String, String)]) -> Value {
    let (name, data) = events.last().expect("no events");
    assert_eq!(name, "completed", "{events:?}");
    serde_json::from_str(data).unwrap()
}

#[test]
fn workspace_execs_stream_their_output_like_runs() {
    let dir = tempdir();
    let server = start(dir.path(), &[]);
    let ws = id(&create(&server, OP1_TOKEN, json!({"label": "stream"})));
    // Both streams in the order written, a blank line, a progress bar
    // redrawn with `\r`, a Windows line end and no final newline; the
    // tree persists.
    let script = r"printf 'one\n\n'; sleep 0.2; printf 'oops\n' >&2; sleep 0.2; printf '10%%\r50%%\r100%%\nwin\r\n'; sleep 0.2; printf 'err2\n' >&2; echo kept > file; printf tail";
    let (run_id, events) = stream_sh(&server, &ws, "", script);
    assert_eq!(events[0].0, "started", "{events:?}");
    let started: Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(started["id"], run_id);
    assert!(started["pid"].as_i64().unwrap() > 0, "{started}");
    let output: Vec<(&str, &str)> = events
        .iter()
        .filter(|(n, _)| n == "stdout" || n == "stderr")
        .map(|(n, d)| (n.as_str(), d.as_str()))
        .collect();
    assert_eq!(
        output,
        [
            ("stdout", "one"),
            ("stdout", ""),
            ("stderr", "oops"),
            ("stdout", "10%\n50%\n100%"),
            ("stdout", "win"),
            ("stderr", "err2"),
            ("stdout", "tail"),
        ],
        "{events:?}"
    );
    let done = completed(&events);
    assert_eq!(done["id"], run_id);
    assert_eq!(done["exit_code"], 0, "{done}");
    assert!(done["duration_ms"].is_u64(), "{done}");
    for flag in ["stdout_truncated", "stderr_truncated", "cancelled", "timed_out"] {
        assert_eq!(done[flag], false, "{flag}: {done}");
    }
    // The workspace is free (and its last exec recorded) once `completed`
    // arrived; the next exec sees the file.
    assert_eq!(stdout(&sh(&server, OP1_TOKEN, &ws, "cat file")), "kept\n");
    let (_, got) = call(&server, "GET", &format!("/v1/workspaces/{ws}"), Some(OP1_TOKEN), None);
    assert!(got["last_exec_at"].is_string(), "{got}");
    let (_, row) = call(&server, "GET", &format!("/v1/jails/{run_id}"), Some(OP1_TOKEN), None);
    assert_eq!(
        (row["kind"].as_str(), row["status"].as_str()),
        (Some("workspace"), Some("completed")),
        "{row}"
    );

    // Byte-exact chunks, as runs/stream gives them.
    let (_, events) = stream_sh(&server, &ws, "?output=chunks", r"printf 'a\r\n\nb'");
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "stdout")
        .map(|(_, d)| {
            serde_json::from_str::<Value>(d).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(text, "a\r\n\nb");

    // 2 MiB of output: the stream is cut at the capture cap and says so.
    let (_, events) = stream_sh(
        &server,
        &ws,
        "",
        "head -c 2097152 /dev/zero | tr '\\0' x; echo; echo done >&2",
    );
    let done = completed(&events);
    assert_eq!(
        (done["stdout_truncated"].as_bool(), done["stderr_truncated"].as_bool()),
        (Some(true), Some(false)),
        "{done}"
    );
    assert_eq!(done["exit_code"], 0, "{done}");
    let streamed: usize = events.iter().filter(|(n, _)| n == "stdout").map(|(_, d)| d.len()).sum();
    assert!(streamed > 0 && streamed < 2 << 20, "{streamed}");
    assert!(events.iter().any(|(n, d)| n == "stderr" && d == "done"), "no stderr");

    // Execs run beside a running stream, streamed or not.
    let url = server.url.clone();
    let long = std::thread::spawn({
        let ws = ws.clone();
        move || {
            let response = client()
                .post(format!("{url}/v1/workspaces/{ws}/exec/stream"))
                .bearer_auth(OP1_TOKEN)
                .json(&json!({"cmd": "sh", "args": ["-c", "echo start; sleep 1.5; echo end"]}))
                .send()
                .unwrap();
            parse_sse(&response.text().unwrap())
        }
    });
    std::thread::sleep(Duration::from_millis(700));
    for route in ["exec", "exec/stream"] {
        let (status, body) = call(
            &server,
            "POST",
            &format!("/v1/workspaces/{ws}/{route}"),
            Some(OP1_TOKEN),
            Some(json!({"cmd": "true"})),
        );
        assert_eq!(status, 200, "{route}: {body}");
    }
    let events = long.join().unwrap();
    assert_eq!(completed(&events)["exit_code"], 0);
    assert_eq!(stdout(&sh(&server, OP1_TOKEN, &ws, "echo free")), "free\n");

    // Another tenant's workspace does not exist.
    let (status, _) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/exec/stream"),
        Some(OP2_TOKEN),
        Some(json!({"cmd": "true"})),
    );
    assert_eq!(status, 404);
}

#[test]
fn list_search_rename_and_delete() {
    let dir = tempdir();
    let server = start(dir.path(), &[]);
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(id(&create(&server, OP1_TOKEN, json!({"label": format!("job-{n}")}))));
    }
    let (_, page) = call(&server, "GET", "/v1/workspaces?limit=2&offset=1", Some(OP1_TOKEN), None);
    assert_eq!(
        (page["total"].as_i64(), page["rows"].as_array().unwrap().len()),
        (Some(5), 2)
    );
    assert_eq!(page["rows"][0]["id"], ids[3], "newest first");
    let (_, page) = call(&server, "GET", "/v1/workspaces?q=JOB-2", Some(OP1_TOKEN), None);
    assert_eq!(page["total"], 1);
    let (status, ws) = call(
        &server,
        "PATCH",
        &format!("/v1/workspaces/{}", ids[0]),
        Some(OP1_TOKEN),
        Some(json!({"label": "renamed"})),
    );
    assert_eq!((status.as_u16(), ws["label"].as_str()), (200, Some("renamed")));
    let (status, _) = call(
        &server,
        "PATCH",
        &format!("/v1/workspaces/{}", ids[0]),
        Some(OP1_TOKEN),
        Some(json!({"label": "x", "color": "red"})),
    );
    assert_eq!(status, 422, "an unknown field");
    // Delete: the tree goes, the record is soft-deleted, snapshots stay.
    sh(&server, OP1_TOKEN, &ids[1], "echo keep > f");
    let snap = id(&snapshot(&server, OP1_TOKEN, &ids[1], "before delete"));
    let tree = dir.path().join("workspaces").join(&ids[1]);
    assert!(tree.exists());
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/v1/workspaces/{}", ids[1]),
            Some(OP1_TOKEN),
            None
        )
        .0,
        204
    );
    assert!(!tree.exists(), "the tree was left behind");
    assert_eq!(
        call(
            &server,
            "GET",
            &format!("/v1/workspaces/{}", ids[1]),
            Some(OP1_TOKEN),
            None
        )
        .0,
        404
    );
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/v1/workspaces/{}", ids[1]),
            Some(OP1_TOKEN),
            None
        )
        .0,
        404
    );
    assert_eq!(
        call(&server, "GET", "/v1/workspaces", Some(OP1_TOKEN), None).1["total"],
        4
    );
    let (status, restored) = from_snapshot(&server, OP1_TOKEN, &snap, &ids[1]);
    assert_eq!(status, 201, "{restored}");
    assert_eq!(stdout(&sh(&server, OP1_TOKEN, &id(&restored), "cat f")), "keep\n");
}

/// A bare repository served over HTTP (git's dumb protocol) by Python on
/// 127.0.0.1, reached as `git.test`.
struct GitServer {
    child: Child,
    port: u16,
    root: tempfile::TempDir,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=test",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git must be installed (scripts/test installs it)");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl GitServer {
    fn start() -> GitServer {
        let root = tempdir();
        let mut child = Command::new("python3")
            .args(["-c", "import http.server, sys\nh = http.server.ThreadingHTTPServer(('127.0.0.1', 0), lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=sys.argv[1]))\nprint(h.server_address[1], flush=True)\nh.serve_forever()"])
            .arg(root.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 must be installed");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        GitServer {
            child,
            port: line.trim().parse().expect("port"),
            root,
        }
    }

    /// Publishes the work tree made by `fill` as `NAME.git`; returns the
    /// commits (oldest first).
    fn publish(&self, name: &str, fill: impl FnOnce(&Path)) -> Vec<String> {
        let work = self.root.path().join(format!("{name}-work"));
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "-q"]);
        std::fs::write(work.join("README"), "first\n").unwrap();
        git(&work, &["add", "."]);
        git(&work, &["commit", "-qm", "first"]);
        let first = git(&work, &["rev-parse", "HEAD"]);
        git(&work, &["tag", "v1"]);
        fill(&work);
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-qm", "second"]);
        let second = git(&work, &["rev-parse", "HEAD"]);
        git(&work, &["branch", "-q", "feature", &first]);
        let bare = self.root.path().join(format!("{name}.git"));
        git(
            self.root.path(),
            &["clone", "-q", "--bare", work.to_str().unwrap(), bare.to_str().unwrap()],
        );
        git(&bare, &["update-server-info"]);
        vec![first, second]
    }

    fn url(&self, name: &str) -> String {
        format!("http://git.test:{}/{name}.git", self.port)
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn workspaces_clone_from_git_with_refs_and_several_repositories() {
    let git_server = GitServer::start();
    let commits = git_server.publish("app", |work| std::fs::write(work.join("README"), "second\n").unwrap());
    git_server.publish("lib", |work| std::fs::write(work.join("lib.txt"), "lib\n").unwrap());
    let dir = tempdir();
    let server = start(dir.path(), &[]);
    for (git_ref, readme) in [(None, "second"), (Some("v1"), "first"), (Some("feature"), "first")] {
        let mut seed = json!({"repo": git_server.url("app")});
        if let Some(r) = git_ref {
            seed["ref"] = json!(r);
        }
        let ws = create(&server, OP1_TOKEN, json!({"git": seed}));
        assert_eq!(ws["git_repo"], git_server.url("app"));
        assert_eq!(
            stdout(&sh(&server, OP1_TOKEN, &id(&ws), "cat README")),
            format!("{readme}\n")
        );
    }
    let ws = create(
        &server,
        OP1_TOKEN,
        json!({"git": {"repo": git_server.url("app"), "ref": &commits[0][..12]}}),
    );
    let out = stdout(&sh(&server, OP1_TOKEN, &id(&ws), "cat README; git rev-parse HEAD"));
    assert_eq!(out, format!("first\n{}\n", commits[0]));
    let ws = create(
        &server,
        OP1_TOKEN,
        json!({"git": {"repos": [{"repo": git_server.url("app")}, {"repo": git_server.url("lib"), "dir": "vendor/lib"}]}}),
    );
    let out = stdout(&sh(&server, OP1_TOKEN, &id(&ws), "cat app/README vendor/lib/lib.txt"));
    assert_eq!(out, "second\nlib\n");

    // Failures carry git's message and leave no workspace behind.
    let before: Vec<_> = std::fs::read_dir(dir.path().join("workspaces")).unwrap().collect();
    let (_, page) = call(&server, "GET", "/v1/workspaces", Some(OP1_TOKEN), None);
    let total = page["total"].clone();
    for (seed, code, needle) in [
        (
            json!({"repo": git_server.url("missing")}),
            "GIT_CLONE_FAILED",
            "not found",
        ),
        (
            json!({"repo": git_server.url("app"), "ref": "no-such-branch"}),
            "GIT_CLONE_FAILED",
            "no-such-branch",
        ),
        (
            json!({"repo": format!("http://elsewhere.test:{}/app.git", git_server.port)}),
            "GIT_CLONE_FAILED",
            "git clone",
        ),
        (
            json!({"repo": "https://user:pw@git.test/app.git"}),
            "BAD_GIT",
            "credentials",
        ),
        (json!({"repo": "ssh://git.test/app.git"}), "BAD_GIT", "https"),
        (
            json!({"repo": git_server.url("app"), "ref": "--upload-pack=touch /tmp/x"}),
            "BAD_GIT",
            "'-'",
        ),
    ] {
        let (status, err) = call(
            &server,
            "POST",
            "/v1/workspaces",
            Some(OP1_TOKEN),
            Some(json!({"git": seed})),
        );
        assert_eq!(
            (status.as_u16(), err["code"].as_str()),
            (400, Some(code)),
            "{seed}: {err}"
        );
        assert!(err["error"].as_str().unwrap().contains(needle), "{seed}: {err}");
    }
    let after: Vec<_> = std::fs::read_dir(dir.path().join("workspaces")).unwrap().collect();
    assert_eq!(before.len(), after.len(), "a failed clone left a directory");
    assert_eq!(
        call(&server, "GET", "/v1/workspaces", Some(OP1_TOKEN), None).1["total"],
        total
    );
}

/// Threat-model row 27.
#[test]
fn row27_a_malicious_repository_cannot_act_outside_its_clone() {
    let git_server = GitServer::start();
    let marker = std::env::temp_dir().join(format!("paddock-pwned-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let marker_text = marker.display().to_string();
    git_server.publish("evil", |work| {
        // A submodule whose URL runs a command through the ext:: transport.
        std::fs::write(
            work.join(".gitmodules"),
            format!("[submodule \"sub\"]\n\tpath = sub\n\turl = ext::sh -c touch% {marker_text}\n"),
        )
        .unwrap();
        git(
            work,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("160000,{},sub", "1".repeat(40)),
            ],
        );
        // A hook that would write the marker, committed as a plain file
        // (hooks are never cloned; this one must never run).
        std::fs::create_dir_all(work.join("hooks")).unwrap();
        std::fs::write(
            work.join("hooks/post-checkout"),
            format!("#!/bin/sh\ntouch {marker_text}\n"),
        )
        .unwrap();
        std::fs::set_permissions(work.join("hooks/post-checkout"), std::fs::Permissions::from_mode(0o755)).unwrap();
        // A symlink out of the tree.
        std::os::unix::fs::symlink("/etc/shadow", work.join("shadow")).unwrap();
    });
    // A host-wide git setting that would run the hook: the clone ignores it.
    let hooks = tempdir();
    std::fs::write(
        hooks.path().join("post-checkout"),
        format!("#!/bin/sh\ntouch {marker_text}\n"),
    )
    .unwrap();
    std::fs::set_permissions(
        hooks.path().join("post-checkout"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let home = tempdir();
    std::fs::write(
        home.path().join(".gitconfig"),
        format!(
            "[core]\n\thooksPath = {}\n[protocol]\n\tallow = always\n",
            hooks.path().display()
        ),
    )
    .unwrap();
    let dir = tempdir();
    let home_text = home.path().display().to_string();
    let server = start_with_env(dir.path(), &[("HOME", &home_text)], &[]);
    let ws = create(&server, OP1_TOKEN, json!({"git": {"repo": git_server.url("evil")}}));
    let out = stdout(&sh(
        &server,
        OP1_TOKEN,
        &id(&ws),
        "ls -A sub | wc -l; readlink shadow; cat shadow 2>&1 || true",
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "the submodule was fetched: {out}");
    assert_eq!(lines[1], "/etc/shadow");
    assert!(
        lines[2].contains("No such file"),
        "the jail's /etc has no shadow: {out}"
    );
    assert!(!marker.exists(), "the repository ran a command on the host");
    // file:// and ext:: repositories are refused before any jail starts.
    for repo in ["file:///etc", "ext::sh -c id"] {
        let (status, _) = call(
            &server,
            "POST",
            "/v1/workspaces",
            Some(OP1_TOKEN),
            Some(json!({"git": {"repo": repo}})),
        );
        assert_eq!(status, 400, "{repo}");
    }
    // Without --git-allow-http the same URL is refused.
    let plain_dir = tempdir();
    let plain = Server::start(plain_dir.path(), &[("PADDOCK_API_KEYS", &keys())], &[]);
    let (status, err) = call(
        &plain,
        "POST",
        "/v1/workspaces",
        Some(OP1_TOKEN),
        Some(json!({"git": {"repo": git_server.url("evil")}})),
    );
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("https"), "{err}");
}

#[test]
fn flavors_are_mounted_read_only_with_their_bin_first_on_path() {
    let dir = tempdir();
    let source = tempdir();
    std::fs::create_dir_all(source.path().join("bin")).unwrap();
    std::fs::write(
        source.path().join("bin/hello"),
        "#!/bin/sh\necho hello from the flavor\n",
    )
    .unwrap();
    std::fs::set_permissions(source.path().join("bin/hello"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let add = |name: &str, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_paddock"))
            .args(["flavors", "add", name, "--from"])
            .arg(source.path())
            .arg("--state-dir")
            .arg(dir.path())
            .args(extra)
            .output()
            .unwrap()
    };
    let out = add("tools", &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!add("tools", &[]).status.success(), "replaced without --replace");
    assert!(add("tools", &["--replace"]).status.success());
    assert!(!add("../evil", &[]).status.success());
    let server = start(dir.path(), &[]);
    let (_, flavors) = call(&server, "GET", "/v1/flavors", Some(OP1_TOKEN), None);
    assert_eq!(flavors, json!([{"name": "tools"}]));
    let ws = create(&server, OP1_TOKEN, json!({"flavors": ["tools"]}));
    assert_eq!(ws["config"]["flavors"], json!(["tools"]));
    let result = sh(
        &server,
        OP1_TOKEN,
        &id(&ws),
        "hello; echo $PATH; touch /opt/flavors/tools/x 2>&1 || echo read-only",
    );
    let out = stdout(&result);
    assert!(
        out.starts_with("hello from the flavor\n/opt/flavors/tools/bin:"),
        "{out}"
    );
    assert!(out.ends_with("read-only\n"), "{out}");
}

#[test]
fn an_idle_workspace_pauses_and_its_next_exec_restores_the_tree_exactly() {
    let dir = tempdir();
    let server = start(dir.path(), &[]);
    let ws = id(&create(&server, OP1_TOKEN, json!({"idle_timeout_secs": 1})));
    let setup = "mkdir -p a/b && echo one > a/b/file && printf 'x%.0s' $(seq 1 5000) > big && chmod 751 a && chmod 600 big && ln -s a/b/file link && ln -s /nowhere dangling && mkdir empty";
    stdout(&sh(&server, OP1_TOKEN, &ws, setup));
    let before = stdout(&sh(&server, OP1_TOKEN, &ws, DESCRIBE));
    // Wait for the pause: paused_at set, the tree gone from the host.
    let tree = dir.path().join("workspaces").join(&ws).join("tree");
    let deadline = Instant::now() + Duration::from_secs(15);
    // The row says paused just before the tree is removed.
    let paused = loop {
        let (_, row) = call(&server, "GET", &format!("/v1/workspaces/{ws}"), Some(OP1_TOKEN), None);
        if !row["paused_at"].is_null() && !tree.exists() {
            break row;
        }
        assert!(
            Instant::now() < deadline,
            "the workspace was not paused, or kept its tree ({}): {row}",
            tree.exists()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let held = paused["auto_snapshot"].as_str().unwrap().to_owned();
    let (_, snap) = call(&server, "GET", &format!("/v1/snapshots/{held}"), Some(OP1_TOKEN), None);
    assert_eq!(snap["auto"], true);
    // Its snapshot cannot be deleted while it holds the tree.
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/v1/snapshots/{held}"),
            Some(OP1_TOKEN),
            None
        )
        .0,
        409
    );
    // A snapshot of the paused workspace shares the held tree.
    let copy = snapshot(&server, OP1_TOKEN, &ws, "while paused");
    assert_eq!(copy["file_count"], snap["file_count"]);
    // The next exec resumes it exactly.
    let after = stdout(&sh(&server, OP1_TOKEN, &ws, DESCRIBE));
    assert_eq!(before, after);
    let (_, row) = call(&server, "GET", &format!("/v1/workspaces/{ws}"), Some(OP1_TOKEN), None);
    assert!(row["paused_at"].is_null() && row["auto_snapshot"].is_null(), "{row}");
    assert_eq!(
        call(&server, "GET", &format!("/v1/snapshots/{held}"), Some(OP1_TOKEN), None).0,
        404
    );
    // A workspace without an idle timeout is never paused.
    let stay = id(&create(&server, OP1_TOKEN, json!({})));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(call(&server, "GET", &format!("/v1/workspaces/{stay}"), Some(OP1_TOKEN), None).1["paused_at"].is_null());
}

/// Threat-model rows 21 and 22 (and 15 for restored files).
#[test]
fn row21_row22_snapshots_round_trip_without_setuid_escapes_or_shared_inodes() {
    let dir = tempdir();
    let mut server = start(dir.path(), &[]);
    let ws = id(&create(&server, OP1_TOKEN, json!({})));
    stdout(&sh(&server, OP1_TOKEN, &ws, "mkdir -p src && echo 'fn main() {}' > src/main.rs && chmod 640 src/main.rs && printf '#!/bin/sh\\necho run\\n' > run.sh && chmod 755 run.sh && ln -s src/main.rs entry && ln -s /etc/passwd abs && : > empty"));
    // A setuid root file, as if planted by a process outside the jail.
    let planted = dir.path().join("workspaces").join(&ws).join("tree/suid");
    std::fs::write(&planted, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o4755)).unwrap();
    // Restored, the setuid file is plain 755; otherwise the same tree.
    let sorted = |text: String| {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    let before = sorted(stdout(&sh(&server, OP1_TOKEN, &ws, DESCRIBE)).replace("f 4755 ", "f 755 "));
    let snap = snapshot(&server, OP1_TOKEN, &ws, "round trip");
    let snap_id = id(&snap);
    assert_eq!(snap["file_count"], 4);
    assert_eq!(snap["path"], "", "host paths are hidden from operators");
    let (_, admin_view) = call(
        &server,
        "GET",
        &format!("/v1/snapshots/{snap_id}"),
        Some(ADMIN_TOKEN),
        None,
    );
    assert_eq!(admin_view["path"], dir.path().join("blobs").display().to_string());
    let (_, manifest) = call(
        &server,
        "GET",
        &format!("/v1/snapshots/{snap_id}/manifest"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(manifest["kind"], "incremental");
    let entries = manifest["entries"].as_array().unwrap();
    let main = entries.iter().find(|e| e["path"] == "src/main.rs").unwrap();
    assert_eq!((main["mode"].as_u64(), main["size"].as_u64()), (Some(0o640), Some(13)));
    assert_eq!(main["hash"], blake3::hash(b"fn main() {}\n").to_hex().to_string());

    // Two workspaces from the snapshot: identical, setuid gone, symlinks kept.
    let one = id(&from_snapshot(&server, OP1_TOKEN, &snap_id, &ws).1);
    let two = id(&from_snapshot(&server, OP1_TOKEN, &snap_id, &ws).1);
    for restored in [&one, &two] {
        let described = sorted(stdout(&sh(&server, OP1_TOKEN, restored, DESCRIBE)));
        assert_eq!(described, before, "restore differs");
        let mode = std::fs::metadata(dir.path().join("workspaces").join(restored).join("tree/suid")).unwrap();
        assert_eq!(mode.permissions().mode() & 0o7777, 0o755, "setuid survived a restore");
    }
    // Writing a restored file changes neither the pool nor the other copy.
    let blobs = pool_blobs(dir.path());
    stdout(&sh(
        &server,
        OP1_TOKEN,
        &one,
        "echo changed >> src/main.rs; echo changed >> empty",
    ));
    assert_eq!(
        stdout(&sh(&server, OP1_TOKEN, &two, "cat src/main.rs; wc -c < empty")),
        "fn main() {}\n0\n"
    );
    assert_eq!(pool_blobs(dir.path()), blobs);
    for blob in &blobs {
        let path = dir.path().join("blobs").join(&blob[..2]).join(&blob[2..]);
        assert_eq!(
            blake3::hash(&std::fs::read(&path).unwrap()).to_hex().to_string(),
            *blob,
            "blob {blob} changed"
        );
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::nlink(&meta), 1, "a blob is hard-linked");
    }

    // A tampered manifest (an escaping path, a symlinked parent) is refused
    // and writes nothing. The server holds its database exclusively, so
    // each tampering happens while it is stopped.
    let outside = tempdir();
    let db = dir.path().join("paddock.db");
    server.stop();
    let mut manifest: Value = serde_json::from_str(&sqlite_text(
        &db,
        &format!("SELECT manifest FROM snapshots WHERE id = '{snap_id}'"),
    ))
    .unwrap();
    server = start(dir.path(), &[]);
    let file = manifest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "file")
        .unwrap()
        .clone();
    for evil in [
        format!("../../../../../../..{}/escaped", outside.path().display()),
        format!("{}/escaped", outside.path().display()),
        "abs/escaped".to_owned(),
    ] {
        let mut entry = file.clone();
        entry["path"] = json!(evil);
        manifest["entries"].as_array_mut().unwrap().push(entry);
        let tampered = manifest.to_string().replace('\'', "''");
        server.stop();
        sqlite_exec(
            &db,
            &format!("UPDATE snapshots SET manifest = '{tampered}' WHERE id = '{snap_id}'"),
        );
        server = start(dir.path(), &[]);
        let (status, err) = from_snapshot(&server, OP1_TOKEN, &snap_id, &ws);
        assert_eq!(
            (status, err["code"].as_str()),
            (422, Some("SNAPSHOT_DAMAGED")),
            "{evil}: {err}"
        );
        manifest["entries"].as_array_mut().unwrap().pop();
    }
    assert!(
        std::fs::read_dir(outside.path()).unwrap().next().is_none(),
        "a restore wrote outside its tree"
    );
    assert!(!Path::new("/etc/passwd/escaped").exists());
}

fn sqlite_text(db: &Path, sql: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys\nprint(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])",
        ])
        .arg(db)
        .arg(sql)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn sqlite_exec(db: &Path, sql: &str) {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute(sys.argv[2])\nc.commit()",
        ])
        .arg(db)
        .arg(sql)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn deleting_snapshots_collects_exactly_the_blobs_nothing_else_uses() {
    let dir = tempdir();
    let server = start(dir.path(), &[]);
    let ws = id(&create(&server, OP1_TOKEN, json!({})));
    stdout(&sh(
        &server,
        OP1_TOKEN,
        &ws,
        "echo shared > shared; echo old > changing",
    ));
    let first = id(&snapshot(&server, OP1_TOKEN, &ws, "first"));
    stdout(&sh(&server, OP1_TOKEN, &ws, "echo new > changing; echo added > added"));
    let second = id(&snapshot(&server, OP1_TOKEN, &ws, "second"));
    let hash = |text: &str| blake3::hash(text.as_bytes()).to_hex().to_string();
    let all: BTreeSet<String> = ["shared\n", "old\n", "new\n", "added\n"]
        .iter()
        .map(|t| hash(t))
        .collect();
    assert_eq!(pool_blobs(dir.path()), all);
    let (_, page) = call(
        &server,
        "GET",
        &format!("/v1/snapshots?workspace_id={ws}"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(page["total"], 2);
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/v1/snapshots/{first}"),
            Some(OP1_TOKEN),
            None
        )
        .0,
        204
    );
    let left: BTreeSet<String> = ["shared\n", "new\n", "added\n"].iter().map(|t| hash(t)).collect();
    assert_eq!(pool_blobs(dir.path()), left, "only the old version's blob goes");
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/v1/snapshots/{first}"),
            Some(OP1_TOKEN),
            None
        )
        .0,
        404
    );
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/v1/snapshots/{second}"),
            Some(OP1_TOKEN),
            None
        )
        .0,
        204
    );
    assert!(pool_blobs(dir.path()).is_empty());
    // The workspace itself is untouched by its snapshots' deletion.
    assert_eq!(
        stdout(&sh(&server, OP1_TOKEN, &ws, "cat shared changing")),
        "shared\nnew\n"
    );
}

#[test]
fn retention_keeps_the_newest_snapshots_per_tenant() {
    let dir = tempdir();
    let server = start(dir.path(), &["--snapshot-max-count", "2"]);
    let ws = id(&create(&server, OP1_TOKEN, json!({})));
    let other = id(&create(&server, OP2_TOKEN, json!({})));
    let theirs = id(&snapshot(&server, OP2_TOKEN, &other, "theirs"));
    let mut mine = Vec::new();
    for n in 0..4 {
        stdout(&sh(&server, OP1_TOKEN, &ws, &format!("echo {n} > n")));
        mine.push(id(&snapshot(&server, OP1_TOKEN, &ws, &format!("s{n}"))));
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, page) = call(&server, "GET", "/v1/snapshots", Some(OP1_TOKEN), None);
        let ids: Vec<String> = page["rows"].as_array().unwrap().iter().map(id).collect();
        if ids == [mine[3].clone(), mine[2].clone()] {
            break;
        }
        assert!(Instant::now() < deadline, "retention did not apply: {ids:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        call(
            &server,
            "GET",
            &format!("/v1/snapshots/{theirs}"),
            Some(OP2_TOKEN),
            None
        )
        .0,
        200
    );
}

#[test]
fn a_snapshot_during_a_running_exec_freezes_it_and_forks_are_independent() {
    let dir = tempdir();
    let server = start(dir.path(), &[]);
    let ws = id(&create(&server, OP1_TOKEN, json!({"label": "base"})));
    let url = server.url.clone();
    let ws_for_exec = ws.clone();
    let exec = std::thread::spawn(move || {
        let response = client()
            .post(format!("{url}/v1/workspaces/{ws_for_exec}/exec"))
            .bearer_auth(OP1_TOKEN)
            .json(&json!({"cmd": "sh", "args": ["-c", "i=0; while [ $i -lt 30 ]; do echo $i > counter.new; mv counter.new counter; i=$((i+1)); sleep 0.1; done; echo done"]}))
            .send()
            .unwrap();
        response.json::<Value>().unwrap()
    });
    std::thread::sleep(Duration::from_millis(1000));
    let snap = snapshot(&server, OP1_TOKEN, &ws, "mid-run");
    assert_eq!(snap["frozen"], true, "{snap}");
    let result = exec.join().unwrap();
    assert_eq!(
        result["stdout"], "done\n",
        "the exec did not survive the freeze: {result}"
    );
    // The counter is replaced by a rename, so a freeze between two
    // writes never shows an empty file.
    let restored = id(&from_snapshot(&server, OP1_TOKEN, &id(&snap), &ws).1);
    let counter: u32 = stdout(&sh(&server, OP1_TOKEN, &restored, "cat counter"))
        .trim()
        .parse()
        .unwrap();
    assert!(
        (1..29).contains(&counter),
        "the snapshot was not taken mid-run: {counter}"
    );
    let idle = snapshot(&server, OP1_TOKEN, &ws, "idle");
    assert_eq!(idle["frozen"], false);

    // Fork: N independent workspaces from one snapshot.
    let (status, forked) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/fork"),
        Some(OP1_TOKEN),
        Some(json!({"count": 3})),
    );
    assert_eq!(status, 201, "{forked}");
    assert_eq!(forked["parent"]["id"], ws);
    let forks: Vec<String> = forked["forks"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(forks.len(), 3);
    assert_eq!(forked["forks"][1]["label"], "base #2");
    let (_, snap) = call(
        &server,
        "GET",
        &format!("/v1/snapshots/{}", forked["snapshot_id"].as_str().unwrap()),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(snap["workspace_id"], ws);
    for (n, fork) in forks.iter().enumerate() {
        stdout(&sh(&server, OP1_TOKEN, fork, &format!("echo fork-{n} > mine")));
    }
    for (n, fork) in forks.iter().enumerate() {
        assert_eq!(
            stdout(&sh(&server, OP1_TOKEN, fork, "cat counter mine")),
            format!("29\nfork-{n}\n")
        );
    }
    assert!(
        sh(&server, OP1_TOKEN, &ws, "cat mine")["exit_code"] != 0,
        "a fork wrote into its parent"
    );
    for count in [0, 17] {
        let (status, _) = call(
            &server,
            "POST",
            &format!("/v1/workspaces/{ws}/fork"),
            Some(OP1_TOKEN),
            Some(json!({"count": count})),
        );
        assert_eq!(status, 400, "count {count}");
    }
}

/// Threat-model rows 23 and 28.
#[test]
fn row23_row28_other_tenants_workspaces_and_snapshots_answer_404() {
    let dir = tempdir();
    let server = start(dir.path(), &[]);
    let ws = id(&create(&server, OP1_TOKEN, json!({})));
    stdout(&sh(&server, OP1_TOKEN, &ws, "echo secret > f"));
    let snap = id(&snapshot(&server, OP1_TOKEN, &ws, "mine"));
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/v1/workspaces/{ws}"), None),
        ("PATCH", format!("/v1/workspaces/{ws}"), Some(json!({"label": "x"}))),
        (
            "POST",
            format!("/v1/workspaces/{ws}/exec"),
            Some(json!({"cmd": "cat", "args": ["f"]})),
        ),
        ("POST", format!("/v1/workspaces/{ws}/snapshot"), Some(json!({}))),
        ("POST", format!("/v1/workspaces/{ws}/fork"), Some(json!({"count": 1}))),
        ("GET", format!("/v1/snapshots/{snap}"), None),
        ("GET", format!("/v1/snapshots/{snap}/manifest"), None),
        (
            "POST",
            "/v1/workspaces/from-snapshot".into(),
            Some(json!({"snapshot_id": snap, "parent_workspace_id": ws})),
        ),
        ("DELETE", format!("/v1/snapshots/{snap}"), None),
        ("DELETE", format!("/v1/workspaces/{ws}"), None),
    ];
    for (method, path, body) in &routes {
        let (status, err) = call(&server, method, path, Some(OP2_TOKEN), body.clone());
        assert_eq!(status, 404, "{method} {path}: {err}");
        let (status, _) = call(&server, method, path, None, body.clone());
        assert_eq!(status, 401, "{method} {path} without a key");
    }
    assert_eq!(
        call(&server, "GET", "/v1/workspaces", Some(OP2_TOKEN), None).1["total"],
        0
    );
    assert_eq!(
        call(&server, "GET", "/v1/snapshots", Some(OP2_TOKEN), None).1["total"],
        0
    );
    // Row 28: within the tenant, the parent id must be the snapshot's own.
    let stranger = id(&create(&server, OP1_TOKEN, json!({})));
    for parent in [stranger.as_str(), "wrk_000000000000000000000000", ""] {
        let (status, _) = from_snapshot(&server, OP1_TOKEN, &snap, parent);
        assert_eq!(status, 404, "parent {parent:?}");
    }
    assert_eq!(from_snapshot(&server, OP1_TOKEN, &snap, &ws).0, 201);
    // Admins reach every tenant's rows.
    assert_eq!(
        call(&server, "GET", &format!("/v1/workspaces/{ws}"), Some(ADMIN_TOKEN), None).0,
        200
    );
}

#[test]
fn the_cli_drives_workspaces_and_snapshots() {
    let dir = tempdir();
    let server = start(dir.path(), &[]);
    let paddock = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_paddock"))
            .args(args)
            .env("PADDOCK_URL", &server.url)
            .env("PADDOCK_API_KEY", OP1_TOKEN)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = paddock(&["ws", "create", "--label", "cli", "--memory", "128", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let ws: Value = serde_json::from_str(&out).unwrap();
    let ws_id = id(&ws);
    assert_eq!(ws["config"]["memory_mb"], 128);
    let (code, out, _) = paddock(&[
        "ws",
        "exec",
        &ws_id,
        "-e",
        "X=1",
        "--",
        "sh",
        "-c",
        "echo $X > x; cat x; exit 3",
    ]);
    assert_eq!((code, out.as_str()), (Some(3), "1\n"));
    let (code, out, _) = paddock(&["ws", "list"]);
    assert_eq!(code, Some(0));
    assert!(
        out.starts_with("ID") && out.contains(&ws_id) && out.contains("cli"),
        "{out}"
    );
    let (_, out, _) = paddock(&["ws", "snapshot", &ws_id, "--name", "s", "--json"]);
    let snap = id(&serde_json::from_str::<Value>(&out).unwrap());
    let (_, out, _) = paddock(&["snapshots", "manifest", &snap]);
    assert!(
        out.contains("x") && out.contains("644") && out.contains(&blake3::hash(b"1\n").to_hex().to_string()),
        "{out}"
    );
    let (code, out, _) = paddock(&["ws", "restore", &snap, "--parent", &ws_id, "--label", "copy", "--json"]);
    assert_eq!(code, Some(0));
    let copy = id(&serde_json::from_str::<Value>(&out).unwrap());
    let (_, out, _) = paddock(&["ws", "exec", &copy, "--", "cat", "x"]);
    assert_eq!(out, "1\n");
    let (_, out, _) = paddock(&["ws", "fork", &ws_id, "--count", "2"]);
    assert!(out.starts_with("# snapshot snap_") && out.lines().count() == 4, "{out}");
    let (code, _, _) = paddock(&["ws", "rename", &ws_id, "renamed"]);
    assert_eq!(code, Some(0));
    let (code, _, err) = paddock(&["ws", "restore", &snap, "--parent", &copy]);
    assert_eq!(code, Some(1));
    assert!(err.contains("not found"), "{err}");
    let (code, out, _) = paddock(&["snapshots", "list", "--workspace", &ws_id, "--json"]);
    assert_eq!(code, Some(0));
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["total"], 2);
    assert_eq!(paddock(&["snapshots", "rm", &snap]).0, Some(0));
    assert_eq!(paddock(&["ws", "rm", &copy]).0, Some(0));
    let (code, _, err) = paddock(&["ws", "get", &copy]);
    assert_eq!(code, Some(1));
    assert!(err.contains("404"), "{err}");
}

#[test]
fn workspaces_behave_the_same_on_postgres() {
    let db = PgDatabase::create("workspaces");
    let dir = tempdir();
    let env = [("DATABASE_URL", db.url.as_str())];
    let server = start_with_env(dir.path(), &env, &[]);
    let ws = id(&create(
        &server,
        OP1_TOKEN,
        json!({"label": "pg", "idle_timeout_secs": 1}),
    ));
    stdout(&sh(&server, OP1_TOKEN, &ws, "echo pg > f"));
    let snap = id(&snapshot(&server, OP1_TOKEN, &ws, "pg"));
    let restored = id(&from_snapshot(&server, OP1_TOKEN, &snap, &ws).1);
    assert_eq!(stdout(&sh(&server, OP1_TOKEN, &restored, "cat f")), "pg\n");
    assert_eq!(
        call(&server, "GET", "/v1/workspaces?q=PG", Some(OP1_TOKEN), None).1["total"],
        1
    );
    assert_eq!(
        call(&server, "GET", &format!("/v1/workspaces/{ws}"), Some(OP2_TOKEN), None).0,
        404
    );
    // Pause and resume across a restart.
    let deadline = Instant::now() + Duration::from_secs(15);
    while call(&server, "GET", &format!("/v1/workspaces/{ws}"), Some(OP1_TOKEN), None).1["paused_at"].is_null() {
        assert!(Instant::now() < deadline, "no pause");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(server.stop().success());
    let server = start_with_env(dir.path(), &env, &[]);
    assert_eq!(stdout(&sh(&server, OP1_TOKEN, &ws, "cat f")), "pg\n");
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/v1/snapshots/{snap}"),
            Some(OP1_TOKEN),
            None
        )
        .0,
        204
    );
    assert!(!dir.path().join("paddock.db").exists());
    drop(server);
    drop(db);
}
