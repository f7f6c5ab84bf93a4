//! `paddock agent run`, `paddock agent transcript` and `paddock agents
//! list` against the real `paddock serve`, with its built-in mock ACP agent
//! (the real agents are driven by tests/runtime-sdk/coding-agents.mjs):
//! permissions refused without a terminal, allowed by flag, and answered
//! at a real terminal (a pseudo-terminal from `script`); the conversation
//! on stdout and stderr; the transcript of a kept server; ACP errors; the
//! install route refused to operators; the proxy's port not previewable.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::json;

mod support;

use support::*;

fn paddock(server: &Server, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(args)
        .env("PADDOCK_URL", &server.url)
        .env("PADDOCK_API_KEY", OP1_TOKEN)
        .stdin(Stdio::null())
        .output()
        .expect("paddock")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn agent_run_streams_the_conversation_and_answers_permissions() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[("PADDOCK_API_KEYS", &keys())], &[]);
    let (status, ws) = call(&server, "POST", "/v1/workspaces", Some(OP1_TOKEN), Some(json!({})));
    assert_eq!(status, 201, "{ws}");
    let ws = id(&ws);

    let listed = paddock(&server, &["agents", "list", "--ws", &ws]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let table = text(&listed.stdout);
    assert!(
        table.lines().any(|l| l.starts_with("mock") && l.contains("true")),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.starts_with("amp") && l.contains("npm")),
        "{table}"
    );

    // No terminal to ask on: refused, and said so.
    let refused = paddock(&server, &["agent", "run", "mock", "--ws", &ws, "write refused.txt: no"]);
    assert!(refused.status.success(), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stdout).contains("permission was refused"),
        "{}",
        text(&refused.stdout)
    );
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("[tool] Write refused.txt (pending)"), "{stderr}");
    assert!(stderr.contains("no terminal to ask on"), "{stderr}");
    assert!(stderr.contains("[mock stopped: end_turn]"), "{stderr}");
    let (status, _) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{ws}/runtime/v1/fs/stat?path=refused.txt"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 400, "refused.txt must not exist");

    // Allowed by flag; the server kept for its transcript.
    let allowed = paddock(
        &server,
        &[
            "agent",
            "run",
            "mock",
            "--ws",
            &ws,
            "--permissions",
            "allow",
            "--keep",
            "write allowed.txt: yes",
        ],
    );
    assert!(allowed.status.success(), "{}", text(&allowed.stderr));
    assert_eq!(text(&allowed.stdout).trim(), "I wrote allowed.txt.");
    let stderr = text(&allowed.stderr);
    let server_id = stderr
        .split("[ACP server ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("no server id in {stderr}"))
        .to_owned();
    let (status, file) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{ws}/runtime/v1/fs/file?path=allowed.txt"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!((status.as_u16(), file), (200, json!("yes")));
    let transcript = paddock(&server, &["agent", "transcript", "--ws", &ws, &server_id]);
    assert!(transcript.status.success(), "{}", text(&transcript.stderr));
    let lines = text(&transcript.stdout);
    assert!(
        lines
            .lines()
            .next()
            .is_some_and(|l| l.contains("→") && l.contains("initialize")),
        "{lines}"
    );
    assert!(
        lines.contains("session/request_permission") && lines.contains("allow-once"),
        "{lines}"
    );

    // At a terminal: the question is asked and the typed answer used.
    let mut script = Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "{} agent run mock --ws {ws} 'write asked.txt: typed'",
            env!("CARGO_BIN_EXE_paddock")
        ))
        .arg("/dev/null")
        .env("PADDOCK_URL", &server.url)
        .env("PADDOCK_API_KEY", OP1_TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    // The first option is "Allow once".
    script.stdin.take().expect("stdin").write_all(b"1\n").expect("typing");
    let asked = script.wait_with_output().expect("script");
    let shown = text(&asked.stdout);
    assert!(asked.status.success(), "{shown}");
    assert!(
        shown.contains("[permission] Write asked.txt") && shown.contains("1) Allow once"),
        "{shown}"
    );
    assert!(shown.contains("I wrote asked.txt."), "{shown}");
    let (status, file) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{ws}/runtime/v1/fs/file?path=asked.txt"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!((status.as_u16(), file), (200, json!("typed")));

    // Errors say what was wrong.
    let unknown = paddock(&server, &["agent", "run", "nope", "--ws", &ws, "hi"]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("unsupported agent: nope"),
        "{}",
        text(&unknown.stderr)
    );
    let missing = paddock(&server, &["agent", "run", "claude", "--ws", &ws, "hi"]);
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("paddock agents install claude"),
        "{}",
        text(&missing.stderr)
    );
    // Installing runs npm on the host for every tenant: admins only.
    let (status, refused) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/runtime/v1/agents/claude/install"),
        Some(OP1_TOKEN),
        Some(json!({})),
    );
    assert_eq!(status, 403, "{refused}");
    // The phantom proxy's port in every workspace is not a preview.
    let (status, refused) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/previews"),
        Some(OP1_TOKEN),
        Some(json!({"port": 65443})),
    );
    assert_eq!(
        (status.as_u16(), refused["code"].as_str()),
        (400, Some("BAD_PORT")),
        "{refused}"
    );
    // Only the kept server is left.
    let (_, servers) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{ws}/runtime/v1/acp"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(servers["servers"].as_array().map(Vec::len), Some(1), "{servers}");
}
