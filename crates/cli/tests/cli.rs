//! The `paddock` binary as people and scripts use it: units that mean the
//! same in every command, connection errors that say what failed, closed
//! pipes, `version`, `completions`, `keys`, list JSON that is exactly the
//! API's, `doctor`'s table and exit status, and Ctrl-C during streams and
//! execs. Real binary, real `paddock serve` where a server is involved.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod support;

use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_paddock");

/// `paddock ARGS` against `url` with `token` (either may be empty).
fn paddock_at(url: &str, token: &str, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("PADDOCK_URL")
        .env_remove("PADDOCK_API_KEY")
        .stdin(Stdio::null());
    if !url.is_empty() {
        command.env("PADDOCK_URL", url);
    }
    if !token.is_empty() {
        command.env("PADDOCK_API_KEY", token);
    }
    command.output().expect("paddock runs")
}

fn paddock(args: &[&str]) -> Output {
    paddock_at("", "", args)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exits 0, or prints why not.
fn ok(out: Output) -> Output {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    out
}

/// The body of `GET path` exactly as the server sent it.
fn raw_get(server: &Server, path: &str, token: &str) -> String {
    let response = client()
        .get(format!("{}{path}", server.url))
        .bearer_auth(token)
        .send()
        .expect("GET");
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.text().expect("body")
}

/// Waits for `child` to exit, at most `limit`.
fn wait_at_most(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("paddock did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn interrupt(child: &Child) {
    // SAFETY: kill on a child we own.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
}

fn no_panic(text: &str) {
    assert!(
        !text.contains("panicked") && !text.to_lowercase().contains("broken pipe"),
        "{text}"
    );
}

#[test]
fn bad_sizes_and_durations_exit_2_naming_the_flag_and_the_forms_in_every_command() {
    const SIZE: &str = "512m, 1g, 256k or 1024b";
    const DURATION: &str = "30s, 5m, 1h or 500ms";
    for (args, flag, needle) in [
        (vec!["run", "--memory", "12Q", "--", "true"], "--memory", SIZE),
        (vec!["run", "--memory", "lots", "--", "true"], "--memory", "unlimited"),
        (vec!["run", "--tmp-size", "1x", "--", "true"], "--tmp-size", SIZE),
        (vec!["run", "--io-read", "fast", "--", "true"], "--io-read", SIZE),
        (vec!["run", "--output-cap", "m", "--", "true"], "--output-cap", SIZE),
        (vec!["run", "--timeout", "soon", "--", "true"], "--timeout", DURATION),
        (vec!["run", "--timeout", "0", "--", "true"], "--timeout", "between 1ms"),
        (vec!["runs", "create", "--memory", "12Q", "-c", "1"], "--memory", SIZE),
        (
            vec!["runs", "create", "--memory", "512k", "-c", "1"],
            "--memory",
            "below 1 MiB",
        ),
        (
            vec!["runs", "stream", "--timeout", "2x", "-c", "1"],
            "--timeout",
            DURATION,
        ),
        (
            vec!["runs", "create", "--timeout", "500ms", "-c", "1"],
            "--timeout",
            "whole number of seconds",
        ),
        (
            vec!["runs", "fork", "--parent", "1", "--child", "2", "--fork-after", "x"],
            "--fork-after",
            DURATION,
        ),
        (
            vec!["sessions", "exec", "s", "--memory", "1500k", "--", "true"],
            "--memory",
            "whole number of MiB",
        ),
        (
            vec!["sessions", "exec", "s", "--timeout", "1.5s", "--", "true"],
            "--timeout",
            "whole number of seconds",
        ),
        (
            vec!["sessions", "create", "--service", "x", "--ttl", "soon"],
            "--ttl",
            DURATION,
        ),
        (vec!["ws", "create", "--memory", "1gb!"], "--memory", SIZE),
        (
            vec!["ws", "create", "--idle-timeout", "15 minutes"],
            "--idle-timeout",
            DURATION,
        ),
        (
            vec!["ws", "exec", "w", "--memory", "0", "--", "true"],
            "--memory",
            "below 1 MiB",
        ),
        (
            vec!["ws", "exec", "w", "--timeout", "1d", "--", "true"],
            "--timeout",
            DURATION,
        ),
        (vec!["serve", "--git-timeout", "5x"], "--git-timeout", DURATION),
        (vec!["serve", "--snapshot-max-age", "5y"], "--snapshot-max-age", "30d"),
    ] {
        let out = paddock(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(flag) && err.contains(needle), "{args:?}: {err}");
        assert_eq!(out.stdout, b"", "{args:?}");
    }
}

/// `paddock run` parses its options on a path of its own (without the rest
/// of the command tree): it must read exactly as it does from the full tree.
#[test]
fn paddock_run_parses_and_helps_as_the_full_command_tree_does() {
    let own = ok(paddock(&["run", "--help"]));
    let from_tree = ok(paddock(&["help", "run"]));
    assert_eq!(stdout(&own), stdout(&from_tree));
    assert!(
        stdout(&own).starts_with("Run one command in a jail"),
        "{}",
        stdout(&own)
    );
    assert!(stdout(&own).contains("Usage: paddock run [OPTIONS] <COMMAND>..."));
    let bad = paddock(&["run", "--no-such-flag", "--", "true"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("unexpected argument '--no-such-flag'"),
        "{}",
        stderr(&bad)
    );
    assert!(stderr(&bad).contains("Usage: paddock run"), "{}", stderr(&bad));
}

#[test]
fn sizes_and_durations_reach_the_server_in_its_units() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let create = |args: &[&str]| -> Value {
        let mut all = vec!["ws", "create", "--json"];
        all.extend(args);
        serde_json::from_str(&stdout(&ok(paddock_at(&server.url, OP1_TOKEN, &all)))).unwrap()
    };
    for (args, memory_mb, timeout_secs, idle_secs) in [
        (
            vec!["--memory", "1g", "--timeout", "2m", "--idle-timeout", "15m"],
            1024,
            120,
            900,
        ),
        (
            vec!["--memory", "256", "--timeout", "90", "--idle-timeout", "1h"],
            256,
            90,
            3600,
        ),
        (vec!["--memory", "1.5G", "--timeout", "1000ms"], 1536, 1, 0),
        (vec!["--memory", "67108864b"], 64, 300, 0),
    ] {
        let ws = create(&args);
        let config = &ws["config"];
        assert_eq!(
            (
                &config["memory_mb"],
                &config["timeout_secs"],
                &config["idle_timeout_secs"]
            ),
            (&json!(memory_mb), &json!(timeout_secs), &json!(idle_secs)),
            "{args:?}: {config}"
        );
    }
    // An exec's own deadline, in the same units: a bare number is seconds.
    let ws = create(&[]);
    let id = ws["id"].as_str().unwrap();
    let started = Instant::now();
    let out = paddock_at(
        &server.url,
        OP1_TOKEN,
        &["ws", "exec", id, "--timeout", "1", "--", "sleep", "30"],
    );
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(20));
    let out = paddock_at(
        &server.url,
        OP1_TOKEN,
        &[
            "ws",
            "exec",
            id,
            "--memory",
            "64m",
            "--timeout",
            "30s",
            "--",
            "echo",
            "fits",
        ],
    );
    assert_eq!(stdout(&ok(out)), "fits\n");
}

/// The memory limit of `paddock run` is a cgroup limit; rootless without a
/// delegated cgroup there is none to test.
fn cgroups_usable() -> bool {
    paddock(&["run", "--", "true"]).status.success()
}

#[test]
fn a_bare_memory_number_is_mib_for_paddock_run_too() {
    if !cgroups_usable() {
        eprintln!("skipped: no usable memory controller (run as root or delegate one)");
        return;
    }
    // 100 (MiB) holds 40 MiB; as bytes it would not even start Python.
    let out = paddock(&[
        "run",
        "--memory",
        "100",
        "--",
        "python3",
        "-c",
        "b = bytearray(40 << 20); print('ok')",
    ]);
    assert_eq!(
        (out.status.code(), stdout(&out).as_str()),
        (Some(0), "ok\n"),
        "{}",
        stderr(&out)
    );
    let out = paddock(&[
        "run",
        "--memory",
        "40",
        "--",
        "python3",
        "-c",
        "b = bytearray(200 << 20)",
    ]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    let out = paddock(&["run", "--json", "--memory", "unlimited", "--", "true"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A listener that answers every connection with `answer` and closes it.
fn answering(answer: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.read(&mut [0; 4096]);
            let _ = stream.write_all(answer);
        }
    });
    addr
}

#[test]
fn connection_errors_name_the_url_and_the_cause() {
    let free = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let refused = format!("http://{free}");
    let cases: Vec<(String, Vec<String>)> = vec![
        (
            refused.clone(),
            vec![
                format!("cannot reach {refused}: connection refused"),
                format!("nothing listens on {free}"),
            ],
        ),
        (
            "http://paddock-test.invalid:7000".into(),
            vec![
                "cannot reach http://paddock-test.invalid:7000: cannot resolve the host name \"paddock-test.invalid\""
                    .into(),
            ],
        ),
        (
            format!(
                "https://{}",
                answering(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            ),
            vec!["the TLS handshake with 127.0.0.1:".into(), "use an http:// URL".into()],
        ),
        (
            format!("http://{}", answering(b"SSH-2.0-OpenSSH_9.6\r\n")),
            vec!["cannot reach http://127.0.0.1:".into(), "invalid HTTP".into()],
        ),
    ];
    for (url, needles) in cases {
        let out = paddock_at(&url, "some-key", &["whoami"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{url}: {err}");
        for needle in needles {
            assert!(err.contains(&needle), "{url}: {err:?} lacks {needle:?}");
        }
        assert!(
            !err.contains("error sending request") && !err.contains("builder error"),
            "{url}: {err}"
        );
    }
    // A malformed URL is a flag error, with a hint.
    for (url, needle) in [
        ("localhost:7000", "did you mean http://localhost:7000?"),
        ("not a url", "is not a URL"),
        ("ftp://host", "not an http(s) URL"),
        ("http://user:pw@host", "--api-key"),
    ] {
        let out = paddock(&["health", "--url", url]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{url}: {err}");
        assert!(err.contains("--url") && err.contains(needle), "{url}: {err}");
        // From the environment too.
        let out = paddock_at(url, "", &["health"]);
        assert_eq!(out.status.code(), Some(2), "{url}: {}", stderr(&out));
    }
}

/// Starts `paddock ARGS` with its standard output a pipe whose reader is
/// already gone, and returns how it ended and its stderr.
fn with_closed_stdout(url: &str, token: &str, args: &[&str]) -> (ExitStatus, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("PADDOCK_URL", url)
        .env("PADDOCK_API_KEY", token)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("paddock runs");
    drop(child.stdout.take());
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (wait_at_most(&mut child, Duration::from_secs(60)), err)
}

/// Exit 0, or ended as SIGPIPE ends a process (141 in a shell).
fn quiet_end(status: ExitStatus) -> bool {
    status.code() == Some(0) || status.code() == Some(141) || status.signal() == Some(libc::SIGPIPE)
}

#[test]
fn a_closed_pipe_ends_every_kind_of_command_quietly() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let out = paddock_at(
        &server.url,
        OP1_TOKEN,
        &["runs", "create", "-l", "bash", "-c", "echo one"],
    );
    ok(out);
    let mut commands: Vec<Vec<&str>> = vec![
        vec!["version"],
        vec!["--help"],
        vec!["completions", "bash"],
        vec!["doctor"],
        vec!["doctor", "--json"],
        vec!["whoami"],
        vec!["jails", "list"],
        vec!["jails", "list", "--json"],
        vec!["audit"],
        vec!["runs", "stream", "-l", "bash", "-c", "seq 1 100000"],
        vec!["runs", "create", "-l", "bash", "-c", "seq 1 100000"],
    ];
    let unlimited = ["--memory", "unlimited", "--pids", "unlimited"];
    let mut run_args = vec!["run"];
    let mut run_json = vec!["run", "--json"];
    if !cgroups_usable() {
        run_args.extend(unlimited);
        run_json.extend(unlimited);
    }
    run_args.extend(["--", "seq", "1", "200000"]);
    run_json.extend(["--", "seq", "1", "200000"]);
    commands.push(run_args);
    commands.push(run_json);
    for args in &commands {
        let (status, err) = with_closed_stdout(&server.url, OP1_TOKEN, args);
        no_panic(&err);
        assert!(quiet_end(status), "{args:?}: {status:?}: {err}");
        // Nothing but what the command itself has to say on stderr.
        assert!(!err.contains("paddock: "), "{args:?}: {err}");
    }
    // And through a real shell pipeline.
    for pipeline in [
        r#""$0" completions bash | head -1"#,
        r#""$0" run --memory unlimited --pids unlimited -- seq 1 100000 | head -1"#,
        r#""$0" runs stream -l bash -c 'seq 1 100000' | head -1"#,
        r#""$0" jails list | head -1"#,
    ] {
        let out = Command::new("sh")
            .args(["-c", pipeline, BIN])
            .env("PADDOCK_URL", &server.url)
            .env("PADDOCK_API_KEY", OP1_TOKEN)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{pipeline}: {}", stderr(&out));
        assert_eq!(stdout(&out).lines().count(), 1, "{pipeline}: {}", stdout(&out));
        assert_eq!(stderr(&out), "", "{pipeline}");
    }
}

#[test]
fn version_and_completions() {
    let version = env!("CARGO_PKG_VERSION");
    let out = ok(paddock(&["version"]));
    assert_eq!(stdout(&out), format!("paddock {version}\n"));
    assert_eq!(stdout(&ok(paddock(&["--version"]))), stdout(&out));
    let out = ok(paddock(&["version", "--json"]));
    let value: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(value, json!({ "version": version }));
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout(&ok(paddock(&["completions", shell])));
        assert!(
            script.contains("paddock") && script.contains("keys") && script.contains("completions"),
            "{shell}"
        );
    }
    let out = paddock(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bash"), "{}", stderr(&out));
    // bash loads the script and completes subcommands with it.
    let out = Command::new("bash")
        .args([
            "-c",
            r#"source <("$0" completions bash) && complete -p paddock >/dev/null &&
               COMP_WORDS=(paddock ke) COMP_CWORD=1 COMP_LINE="paddock ke" COMP_POINT=10 &&
               _paddock paddock ke paddock && printf '%s\n' "${COMPREPLY[@]}""#,
            BIN,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "keys\n");
}

#[test]
fn keys_are_listed_created_and_revoked() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let admin = |args: &[&str]| paddock_at(&server.url, ADMIN_TOKEN, args);
    let out = ok(admin(&[
        "keys", "create", "--tenant", "t9", "--label", "ci bot", "--json",
    ]));
    let key: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let (id, token) = (key["id"].as_str().unwrap(), key["token"].as_str().unwrap());
    assert_eq!((&key["tenant"], &key["role"]), (&json!("t9"), &json!("operator")));
    assert_eq!(
        stdout(&ok(paddock_at(&server.url, token, &["whoami"]))),
        "tenant t9, role operator\n"
    );
    // The table form shows the token once, and says so.
    let out = ok(admin(&["keys", "create", "--tenant", "t9", "--role", "admin"]));
    let text = stdout(&out);
    assert!(text.starts_with("id ") && text.contains("role        admin"), "{text}");
    assert!(text.contains("token       pdk_"), "{text}");
    assert!(stderr(&out).contains("not shown again"));
    // Listed (never with tokens), as a table and as the API's JSON.
    let table = stdout(&ok(admin(&["keys", "list"])));
    let header = table.lines().next().unwrap();
    assert!(header.starts_with("ID") && header.contains("TENANT") && header.contains("REVOKED_AT"));
    let line = table.lines().find(|l| l.starts_with(id)).expect("the key is listed");
    assert!(
        line.contains("t9") && line.contains("ci bot") && line.contains("api"),
        "{line}"
    );
    assert!(!table.contains(token));
    let json_list = stdout(&ok(admin(&["keys", "list", "--tenant", "t9", "--json"])));
    assert_eq!(
        json_list.trim_end(),
        raw_get(&server, "/v1/keys?tenant=t9", ADMIN_TOKEN)
    );
    assert_eq!(
        serde_json::from_str::<Value>(&json_list)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Revoked: the token stops working at once.
    assert_eq!(stdout(&ok(admin(&["keys", "revoke", id]))), format!("revoked {id}\n"));
    let out = paddock_at(&server.url, token, &["whoami"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("HTTP 401"), "{}", stderr(&out));
    let list: Value = serde_json::from_str(&stdout(&ok(admin(&["keys", "list", "--json"])))).unwrap();
    let row = list.as_array().unwrap().iter().find(|k| k["id"] == id).unwrap();
    assert!(row["revoked_at"].is_string(), "{row}");
    // Operators may not; unknown keys are 404; roles are checked locally.
    let out = paddock_at(&server.url, OP1_TOKEN, &["keys", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("HTTP 403"), "{}", stderr(&out));
    let out = admin(&["keys", "revoke", "key_nope"]);
    assert!(stderr(&out).contains("HTTP 404"), "{}", stderr(&out));
    let out = admin(&["keys", "create", "--tenant", "t9", "--role", "root"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn every_list_prints_the_api_body_with_json_and_a_table_without() {
    let dir = tempdir();
    std::fs::create_dir_all(dir.path().join("flavors/py/bin")).unwrap();
    let server = Server::with_keys(dir.path());
    let api = |method: &str, path: &str, body: Value| {
        let (status, value) = call(&server, method, path, Some(OP1_TOKEN), Some(body));
        assert!(status.is_success(), "{path}: {status} {value}");
        value
    };
    api(
        "POST",
        "/v1/credentials",
        json!({"service": "github", "secret": "ghp_x"}),
    );
    let session = api(
        "POST",
        "/v1/sessions",
        json!({"services": ["github"], "scopes": {"github": ["/repos/*"]}}),
    );
    // A request the phantom proxy refuses (out of scope) is an audit row,
    // without any upstream.
    let refused = client()
        .get(format!("{}/user", session["env"]["GITHUB_API_URL"].as_str().unwrap()))
        .bearer_auth(session["env"]["GITHUB_TOKEN"].as_str().unwrap())
        .send()
        .unwrap();
    assert_eq!(refused.status(), 403);
    api("POST", "/v1/runs", json!({"language": "bash", "code": "echo hi"}));
    let ws = api("POST", "/v1/workspaces", json!({"label": "lists"}));
    let ws_id = ws["id"].as_str().unwrap();
    api(
        "POST",
        &format!("/v1/workspaces/{ws_id}/snapshot"),
        json!({"name": "s1"}),
    );
    for (args, path, token, header) in [
        (vec!["credentials", "list"], "/v1/credentials", OP1_TOKEN, "SERVICE"),
        (vec!["sessions", "list"], "/v1/sessions", OP1_TOKEN, "ID"),
        (vec!["jails", "list"], "/v1/jails?limit=20", OP1_TOKEN, "ID"),
        (vec!["ws", "list"], "/v1/workspaces?limit=50&offset=0", OP1_TOKEN, "ID"),
        (
            vec!["snapshots", "list"],
            "/v1/snapshots?limit=50&offset=0",
            OP1_TOKEN,
            "ID",
        ),
        (vec!["flavors", "list"], "/v1/flavors", OP1_TOKEN, "NAME"),
        (vec!["audit"], "/v1/audit?limit=50", OP1_TOKEN, "ID"),
        (
            vec!["audit", "--actions"],
            "/v1/audit/actions?limit=50",
            OP1_TOKEN,
            "ID",
        ),
        (vec!["keys", "list"], "/v1/keys", ADMIN_TOKEN, "ID"),
    ] {
        let mut json_args = args.clone();
        json_args.push("--json");
        let printed = stdout(&ok(paddock_at(&server.url, token, &json_args)));
        let body = raw_get(&server, path, token);
        assert_eq!(printed, format!("{body}\n"), "{args:?}");
        let rows = serde_json::from_str::<Value>(&body).unwrap();
        let count = rows.get("rows").unwrap_or(&rows).as_array().unwrap().len();
        assert!(count >= 1, "{args:?}: {body}");
        let table = stdout(&ok(paddock_at(&server.url, token, &args)));
        assert!(table.starts_with(header), "{args:?}: {table}");
        assert_eq!(table.lines().count(), count + 1, "{args:?}: {table}");
    }
}

#[test]
fn doctor_prints_a_table_and_exits_1_when_a_required_check_fails() {
    let out = paddock(&["doctor"]);
    let table = stdout(&out);
    assert!(table.starts_with("CHECK"), "{table}");
    let header = table.lines().next().unwrap();
    assert!(header.contains("STATUS") && header.contains("DETAIL"), "{header}");
    for check in [
        "jail engine",
        "cgroups",
        "memory controller",
        "pids controller",
        "landlock",
    ] {
        assert!(table.lines().any(|l| l.starts_with(check)), "{check}: {table}");
    }
    let missing = table.lines().any(|l| l.split_whitespace().any(|w| w == "missing"));
    assert_eq!(out.status.code(), Some(if missing { 1 } else { 0 }), "{table}");
    let out = paddock(&["doctor", "--json"]);
    let raw: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(raw["cgroups"]["controllers"].is_array(), "{raw}");
    // An unprivileged user without a delegated cgroup: jails cannot get
    // their default limits, and doctor says so with exit status 1.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || Command::new("runuser").arg("--help").output().is_err() {
        eprintln!("skipped the rootless half: needs root and runuser");
        return;
    }
    let dir = tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("paddock");
    std::fs::copy(BIN, &bin).unwrap();
    let out = Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .arg(&bin)
        .arg("doctor")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let table = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{table}{}", stderr(&out));
    let memory = table.lines().find(|l| l.starts_with("memory controller")).unwrap();
    assert!(memory.contains("missing") && memory.contains("required"), "{memory}");
    assert!(table.contains("started rootless"), "{table}");
    assert!(table.contains("jails cannot run with their default limits"), "{table}");
}

/// A stand-in server: `POST /v1/runs/stream` answers an event stream
/// (in the chunk framing the CLI asks for) naming `run_fake1` that never ends; `POST /v1/runs/run_fake1/cancel`
/// answers 202. Reports `stream-open`, `stream-closed` and `cancel HEAD`.
fn fake_streaming_server() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || handle_fake(stream, tx));
        }
    });
    (url, rx)
}

fn handle_fake(mut stream: TcpStream, tx: mpsc::Sender<String>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
    }
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    if head.starts_with("post /v1/runs/stream?output=chunks ") {
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-paddock-run-id: run_fake1\r\n\r\n\
              event: started\ndata: {}\n\nevent: stdout\ndata: {\"text\":\"hello\\n\"}\n\n",
        );
        let _ = tx.send("stream-open".into());
        // Until the client goes away.
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
        let _ = tx.send("stream-closed".into());
    } else if head.starts_with("post /v1/runs/run_fake1/cancel ") {
        let _ = tx.send(format!("cancel {head}"));
        let _ = stream.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n");
    } else {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
    }
}

/// Spawns paddock and waits for `line` on its stdout.
fn spawn_until_line(url: &str, token: &str, args: &[&str], line: &str) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("PADDOCK_URL", url)
        .env("PADDOCK_API_KEY", token)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("paddock runs");
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    if !line.is_empty() {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("no {line:?} from {args:?}"));
            if got == line {
                break;
            }
        }
    }
    (child, rx)
}

fn child_stderr(child: &mut Child) -> String {
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    err
}

#[test]
fn ctrl_c_cancels_the_run_the_stream_names_and_exits_130() {
    let (url, events) = fake_streaming_server();
    let (mut child, _) = spawn_until_line(
        &url,
        "fake-key",
        &["runs", "stream", "-l", "bash", "-c", "sleep 60"],
        "hello",
    );
    assert_eq!(events.recv_timeout(Duration::from_secs(5)).unwrap(), "stream-open");
    let interrupted = Instant::now();
    interrupt(&child);
    let status = wait_at_most(&mut child, Duration::from_secs(5));
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert!(
        interrupted.elapsed() < Duration::from_secs(3),
        "{:?}",
        interrupted.elapsed()
    );
    let mut seen = Vec::new();
    while let Ok(event) = events.recv_timeout(Duration::from_secs(5)) {
        seen.push(event);
        if seen.len() == 2 {
            break;
        }
    }
    let cancel = seen
        .iter()
        .find(|e| e.starts_with("cancel "))
        .expect("a cancel request");
    assert!(cancel.contains("authorization: bearer fake-key"), "{cancel}");
    assert!(seen.iter().any(|e| e == "stream-closed"), "{seen:?}");
    let err = child_stderr(&mut child);
    no_panic(&err);
    assert!(err.contains("interrupted; cancelled run_fake1"), "{err}");
}

#[test]
fn ctrl_c_ends_streams_and_execs_on_a_real_server_with_130() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let (status, ws) = call(&server, "POST", "/v1/workspaces", Some(OP1_TOKEN), Some(json!({})));
    assert_eq!(status, 201, "{ws}");
    let ws_id = ws["id"].as_str().unwrap().to_owned();
    call(
        &server,
        "POST",
        "/v1/credentials",
        Some(OP1_TOKEN),
        Some(json!({"service": "github", "secret": "ghp_x"})),
    );
    let (status, session) = call(
        &server,
        "POST",
        "/v1/sessions",
        Some(OP1_TOKEN),
        Some(json!({"services": ["github"]})),
    );
    assert_eq!(status, 201, "{session}");
    let session_id = session["id"].as_str().unwrap().to_owned();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "runs",
                "create",
                "--stream",
                "-l",
                "bash",
                "-c",
                "echo started; sleep 60",
            ],
            "started",
        ),
        (
            vec!["runs", "stream", "-l", "bash", "-c", "echo started; sleep 60"],
            "started",
        ),
        (vec!["ws", "exec", &ws_id, "--", "sleep", "60"], ""),
        (vec!["sessions", "exec", &session_id, "--", "sleep", "60"], ""),
    ];
    for (args, line) in cases {
        let (mut child, _) = spawn_until_line(&server.url, OP1_TOKEN, &args, line);
        if line.is_empty() {
            // A blocking exec: give the request time to reach the jail.
            std::thread::sleep(Duration::from_millis(1500));
        }
        let interrupted = Instant::now();
        interrupt(&child);
        let status = wait_at_most(&mut child, Duration::from_secs(10));
        assert_eq!(status.code(), Some(130), "{args:?}: {status:?}");
        assert!(
            interrupted.elapsed() < Duration::from_secs(4),
            "{args:?}: {:?}",
            interrupted.elapsed()
        );
        let err = child_stderr(&mut child);
        no_panic(&err);
        if !line.is_empty() {
            // A stream names its run: paddock cancelled it by id.
            let id = err
                .trim()
                .strip_prefix("paddock: interrupted; cancelled ")
                .unwrap_or_else(|| panic!("{args:?}: {err}"));
            let (_, row) = call(&server, "GET", &format!("/v1/jails/{id}"), Some(OP1_TOKEN), None);
            assert_eq!(row["status"], "cancelled", "{args:?}: {row}");
        }
        // Either way the work is gone: the dropped connection (or the
        // cancel) ended the jail, or (`ws exec`) paddock stopped the
        // process in the running workspace, not its 60 s sleep.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, page) = call(&server, "GET", "/v1/jails?status=running", Some(OP1_TOKEN), None);
            let jails_running = page["rows"]
                .as_array()
                .map(|rows| rows.iter().filter(|r| r["config"]["runtime"] != true).count())
                .unwrap_or(usize::MAX);
            let (_, processes) = call(
                &server,
                "GET",
                &format!("/v1/workspaces/{ws_id}/runtime/v1/processes"),
                Some(OP1_TOKEN),
                None,
            );
            let processes_running = processes["processes"]
                .as_array()
                .map(|list| list.iter().filter(|p| p["status"] == "running").count())
                .unwrap_or(usize::MAX);
            if jails_running == 0 && processes_running == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{args:?}: still running: {page} {processes}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
