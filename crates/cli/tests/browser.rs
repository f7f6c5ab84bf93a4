//! The browser end to end against the real `paddock serve`, with the real
//! `browser` flavor (Debian's Chromium and agent-browser from npm) in a
//! workspace's jail: a form page served inside the workspace is opened,
//! read through `snapshot -i` refs, filled, selected, clicked and read
//! back; a snapshot diff, a screenshot (a real PNG whose file is not
//! kept), tabs, eval, cookies and saved state; a host off the workspace's
//! allowlist refused by the route with the reason, and by the egress proxy
//! when the page itself navigates there; bad commands and failed ones;
//! scoped tokens with and without `browser`, MCP's `browser` tool and
//! `paddock ws browser`. One workspace, one browser: Chromium is slow to
//! start, so the checks share it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

mod support;

use support::*;

/// The page the workspace serves: a form whose button writes what was
/// typed and chosen, and sets a cookie.
const FORM: &str = r#"<!doctype html>
<html><head><title>Sign up</title></head><body>
<h1>Sign up</h1>
<label for="email">Email</label> <input id="email" type="email">
<select id="plan" aria-label="Plan"><option value="free">Free</option><option value="pro">Pro</option></select>
<button id="go" onclick="document.getElementById('r').textContent = 'hello ' + document.getElementById('email').value + ' ' + document.getElementById('plan').value; document.cookie = 'seen=yes; path=/'">Go</button>
<p id="r"></p>
</body></html>
"#;

fn install_browser(dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["flavors", "install", "browser", "--state-dir"])
        .arg(dir)
        .output()
        .expect("paddock flavors install");
    assert!(
        out.status.success(),
        "paddock flavors install browser failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One browser command as `token`: the status and the answer.
fn browser(server: &Server, ws: &str, token: &str, body: Value) -> (u16, Value) {
    let response = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(150))
        .build()
        .expect("client")
        .post(format!("{}/v1/workspaces/{ws}/runtime/v1/browser", server.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .expect("a browser call");
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A command that must succeed: its `data`.
fn ok(server: &Server, ws: &str, command: &str, args: &[&str]) -> Value {
    let (status, answer) = browser(server, ws, OP1_TOKEN, json!({"command": command, "args": args}));
    assert_eq!(status, 200, "{command} {args:?}: {answer}");
    assert_eq!(answer["command"], command, "{answer}");
    answer["data"].clone()
}

/// The ref (`@eN`) of the element with `role` and `name` in a snapshot.
fn ref_of(snapshot: &Value, role: &str, name: &str) -> String {
    let refs = snapshot["refs"].as_object().expect("refs");
    let found = refs
        .iter()
        .find(|(_, e)| e["role"] == role && e["name"] == name)
        .unwrap_or_else(|| panic!("no {role} {name:?} in {snapshot}"));
    format!("@{}", found.0)
}

/// Runs `script` in the running workspace (its processes, its /tmp).
fn run_in(server: &Server, ws: &str, script: &str) -> Value {
    let (status, ran) = call(
        server,
        "POST",
        &format!("/v1/workspaces/{ws}/runtime/v1/processes/run"),
        Some(OP1_TOKEN),
        Some(json!({"command": "sh", "args": ["-c", script]})),
    );
    assert_eq!(status, 200, "{ran}");
    ran
}

#[test]
fn the_browser_runs_a_form_flow_in_the_jail_and_keeps_to_the_workspace_network() {
    let dir = tempdir();
    install_browser(dir.path());
    let server = Server::start(
        dir.path(),
        &[("PADDOCK_API_KEYS", &keys())],
        &["--shutdown-grace", "2s"],
    );

    // Without the flavor there is no browser, and the answer says how to
    // get one.
    let (status, plain) = call(&server, "POST", "/v1/workspaces", Some(OP1_TOKEN), Some(json!({})));
    assert_eq!(status, 201, "{plain}");
    let (status, answer) = browser(&server, &id(&plain), OP1_TOKEN, json!({"command": "snapshot"}));
    assert_eq!(
        (status, answer["code"].as_str()),
        (409, Some("BROWSER_NOT_READY")),
        "{answer}"
    );
    assert!(
        answer["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("paddock flavors install browser"),
        "{answer}"
    );

    let (status, ws) = call(
        &server,
        "POST",
        "/v1/workspaces",
        Some(OP1_TOKEN),
        Some(json!({
            "flavors": ["browser"], "memory_mb": 2048, "max_pids": 512,
            "network": {"mode": "allowlist", "domains": ["allowed.example"]},
        })),
    );
    assert_eq!(status, 201, "{ws}");
    let ws = id(&ws);

    // The page, served by a process of the workspace on its own loopback.
    let put = client()
        .put(format!(
            "{}/v1/workspaces/{ws}/runtime/v1/fs/file?path=site/form.html",
            server.url
        ))
        .bearer_auth(OP1_TOKEN)
        .body(FORM)
        .send()
        .expect("writing the page");
    assert!(put.status().is_success(), "{}", put.text().unwrap_or_default());
    let (status, served) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/runtime/v1/processes"),
        Some(OP1_TOKEN),
        Some(
            json!({"command": "python3", "args": ["-m", "http.server", "8000", "--bind", "127.0.0.1", "--directory", "/workspace/site"]}),
        ),
    );
    assert_eq!(status, 200, "{served}");
    let url = "http://127.0.0.1:8000/form.html";
    let deadline = Instant::now() + Duration::from_secs(30);
    let opened = loop {
        let (status, answer) = browser(&server, &ws, OP1_TOKEN, json!({"command": "open", "args": [url]}));
        if status == 200 {
            break answer;
        }
        // The page's server may not listen yet: Chromium cannot connect.
        assert_eq!(answer["code"], "BROWSER_COMMAND_FAILED", "{answer}");
        assert!(Instant::now() < deadline, "the page never opened: {answer}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(
        (opened["data"]["title"].as_str(), opened["data"]["url"].as_str()),
        (Some("Sign up"), Some(url)),
        "{opened}"
    );
    // Chromium and agent-browser's daemon are the workspace's processes.
    let ps = run_in(
        &server,
        &ws,
        "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done > /tmp/ps; grep -c '^/usr/lib/chromium/chromium' /tmp/ps; grep -c 'agent-browser-linux-x64' /tmp/ps",
    );
    let counts: Vec<u32> = ps["stdout"]
        .as_str()
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert!(counts.len() == 2 && counts.iter().all(|&n| n > 0), "{ps}");

    // The core loop: refs from an interactive snapshot, then act on them.
    let snapshot = ok(&server, &ws, "snapshot", &["-i"]);
    let tree = snapshot["snapshot"].as_str().unwrap_or_default();
    assert!(
        tree.contains("textbox \"Email\"") && tree.contains("button \"Go\""),
        "{tree}"
    );
    let email = ref_of(&snapshot, "textbox", "Email");
    let plan = ref_of(&snapshot, "combobox", "Plan");
    let go = ref_of(&snapshot, "button", "Go");
    assert!(tree.contains(&format!("ref={}", &email[1..])), "{tree}");
    ok(&server, &ws, "fill", &[&email, "a@b.c"]);
    assert_eq!(ok(&server, &ws, "select", &[&plan, "pro"])["selected"], json!(["pro"]));
    ok(&server, &ws, "click", &[&go]);
    assert_eq!(ok(&server, &ws, "get", &["text", "#r"])["text"], "hello a@b.c pro");
    assert_eq!(ok(&server, &ws, "get", &["value", &email])["value"], "a@b.c");
    assert_eq!(
        ok(&server, &ws, "eval", &["document.title + '!'"])["result"],
        "Sign up!"
    );
    assert_eq!(ok(&server, &ws, "is", &["visible", "#go"])["visible"], true);
    let diff = ok(&server, &ws, "diff", &["snapshot"]);
    assert!(
        diff["changed"] == true && diff["diff"].as_str().unwrap_or_default().contains("hello a@b.c pro"),
        "{diff}"
    );

    // A screenshot comes back as PNG bytes; its file is not left behind.
    let (status, shot) = browser(
        &server,
        &ws,
        OP1_TOKEN,
        json!({"command": "screenshot", "args": ["--annotate"]}),
    );
    assert_eq!(status, 200, "{shot}");
    assert_eq!(shot["image"]["mimeType"], "image/png", "{}", shot["data"]);
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["image"]["data"].as_str().unwrap_or_default())
        .expect("base64");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 2000,
        "{} bytes",
        png.len()
    );
    let width = u32::from_be_bytes(png[16..20].try_into().expect("IHDR"));
    assert_eq!(width, 1280, "agent-browser's default viewport");
    assert!(
        shot["data"]["annotations"].as_array().is_some_and(|a| !a.is_empty()),
        "{shot}"
    );
    let left = run_in(
        &server,
        &ws,
        "test -d /workspace/.paddock/browser && ls -A /workspace/.paddock/browser",
    );
    assert_eq!(
        (left["exitCode"].as_i64(), left["stdout"].as_str()),
        (Some(0), Some("")),
        "{left}"
    );

    // Tabs, cookies and saved state.
    ok(&server, &ws, "tab", &["new", url]);
    let tabs = ok(&server, &ws, "tab", &["list"]);
    assert_eq!(tabs["tabs"].as_array().map(Vec::len), Some(2), "{tabs}");
    ok(&server, &ws, "tab", &["close"]);
    let cookies = ok(&server, &ws, "cookies", &[]);
    assert!(
        cookies["cookies"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["name"] == "seen" && c["value"] == "yes")),
        "{cookies}"
    );
    ok(&server, &ws, "state", &["save", "/workspace/state.json"]);
    let saved = run_in(&server, &ws, "grep -c '\"seen\"' /workspace/state.json");
    assert_eq!(saved["stdout"], "1\n", "{saved}");
    ok(&server, &ws, "cookies", &["clear"]);
    assert_eq!(ok(&server, &ws, "cookies", &[])["cookies"], json!([]));
    ok(&server, &ws, "state", &["load", "/workspace/state.json"]);
    assert!(ok(&server, &ws, "cookies", &[])["cookies"].to_string().contains("seen"));

    // A host off the allowlist: the route refuses it with the reason…
    let (status, refused) = browser(
        &server,
        &ws,
        OP1_TOKEN,
        json!({"command": "open", "args": ["http://other.example/"]}),
    );
    assert_eq!(
        (status, refused["code"].as_str()),
        (403, Some("BROWSER_URL_REFUSED")),
        "{refused}"
    );
    assert!(
        refused["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("other.example is not on this workspace's allowlist"),
        "{refused}"
    );
    let (status, refused) = browser(
        &server,
        &ws,
        OP1_TOKEN,
        json!({"command": "tab", "args": ["new", "other.example"]}),
    );
    assert_eq!(
        (status, refused["code"].as_str()),
        (403, Some("BROWSER_URL_REFUSED")),
        "{refused}"
    );
    // …and when the page goes there itself, Chromium's request reaches the
    // egress proxy, which refuses it.
    ok(
        &server,
        &ws,
        "eval",
        &["location.href = 'http://other.example/secret'; 0"],
    );
    ok(&server, &ws, "wait", &["--url", "**/secret"]);
    let body = ok(&server, &ws, "get", &["text", "body"]);
    assert!(
        body["text"]
            .as_str()
            .unwrap_or_default()
            .contains("other.example is not on this jail's allowlist"),
        "{body}"
    );

    // Bad commands are refused before anything runs; failures say why.
    for (body, expected) in [
        (json!({"command": "install"}), (400, "BAD_BROWSER_COMMAND")),
        (
            json!({"command": "open", "args": ["--executable-path=/bin/sh", url]}),
            (400, "BAD_BROWSER_COMMAND"),
        ),
        (
            json!({"command": "snapshot", "session": "a b"}),
            (400, "BAD_BROWSER_COMMAND"),
        ),
        (
            json!({"command": "snapshot", "timeoutMs": 0}),
            (400, "BAD_BROWSER_COMMAND"),
        ),
        (json!({"command": "snapshot", "bogus": 1}), (422, "BAD_BODY")),
    ] {
        let (status, answer) = browser(&server, &ws, OP1_TOKEN, body.clone());
        assert_eq!(
            (status, answer["code"].as_str().unwrap_or_default()),
            expected,
            "{body}: {answer}"
        );
    }
    // A flag's value is not mistaken for the URL to check.
    let (status, refused) = browser(
        &server,
        &ws,
        OP1_TOKEN,
        json!({"command": "open", "args": ["--user-agent", "localhost", "http://other.example/"]}),
    );
    assert_eq!(
        (status, refused["code"].as_str()),
        (403, Some("BROWSER_URL_REFUSED")),
        "{refused}"
    );
    // A command past its deadline says so; the browser goes on.
    let (status, slow) = browser(
        &server,
        &ws,
        OP1_TOKEN,
        json!({"command": "wait", "args": ["5000"], "timeoutMs": 500}),
    );
    assert_eq!(
        (status, slow["details"]["timedOut"].as_bool()),
        (422, Some(true)),
        "{slow}"
    );
    let (status, failed) = browser(&server, &ws, OP1_TOKEN, json!({"command": "click", "args": ["@e999"]}));
    assert_eq!(
        (status, failed["code"].as_str()),
        (422, Some("BROWSER_COMMAND_FAILED")),
        "{failed}"
    );
    assert!(
        failed["detail"].as_str().unwrap_or_default().contains("e999"),
        "{failed}"
    );

    // Sessions are separate browsers.
    let (status, other) = browser(
        &server,
        &ws,
        OP1_TOKEN,
        json!({"command": "get", "args": ["url"], "session": "second"}),
    );
    assert_eq!(status, 200, "{other}");
    assert_eq!(other["data"]["url"], "about:blank", "{other}");

    // Scoped tokens: `browser` opens the route, `desktop` does not.
    let secret = |capabilities: &[&str]| {
        mint(&server, &ws, capabilities, 600)["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let with = secret(&["browser", "mcp"]);
    let without = secret(&["desktop", "mcp"]);
    ok(&server, &ws, "open", &[url]);
    let (status, answer) = browser(&server, &ws, &with, json!({"command": "get", "args": ["title"]}));
    assert_eq!(
        (status, answer["data"]["title"].as_str()),
        (200, Some("Sign up")),
        "{answer}"
    );
    let (status, answer) = browser(&server, &ws, &without, json!({"command": "get", "args": ["title"]}));
    assert_eq!(
        (status, answer["code"].as_str()),
        (403, Some("MISSING_CAPABILITY")),
        "{answer}"
    );

    // MCP's browser tool, listed only for a token with `browser`.
    let init =
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}});
    assert_eq!(mcp(&server, &ws, &with, 1, "initialize", init.clone()).0, 200);
    let (_, tools) = mcp(&server, &ws, &with, 2, "tools/list", json!({}));
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["browser"], "{tools}");
    let (_, answer) = mcp(
        &server,
        &ws,
        &with,
        3,
        "tools/call",
        json!({"name": "browser", "arguments": {"command": "snapshot", "args": ["-i"]}}),
    );
    let text = answer["result"]["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("button \"Go\" [ref="), "{answer}");
    let (_, answer) = mcp(
        &server,
        &ws,
        &with,
        4,
        "tools/call",
        json!({"name": "browser", "arguments": {"command": "screenshot"}}),
    );
    assert_eq!(answer["result"]["content"][0]["type"], "image", "{answer}");
    assert_eq!(answer["result"]["content"][0]["mimeType"], "image/png", "{answer}");
    let (_, tools) = mcp(&server, &ws, &without, 5, "tools/list", json!({}));
    assert!(!tools.to_string().contains("\"browser\""), "{tools}");

    // The CLI: a snapshot as text, a screenshot to a file, a refusal.
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_paddock"))
            .args(args)
            .env("PADDOCK_URL", &server.url)
            .env("PADDOCK_API_KEY", OP1_TOKEN)
            .output()
            .expect("paddock runs")
    };
    let out = cli(&["ws", "browser", &ws, "snapshot", "-i"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("textbox \"Email\" [ref="),
        "{text}"
    );
    let png_path = dir.path().join("page.png");
    let out = cli(&[
        "ws",
        "browser",
        "-o",
        png_path.to_str().expect("path"),
        &ws,
        "screenshot",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(&png_path).expect("the PNG").starts_with(b"\x89PNG"));
    let out = cli(&["ws", "browser", &ws, "get", "title"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Sign up\n");
    let out = cli(&["ws", "browser", &ws, "open", "https://other.example/"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("BROWSER_URL_REFUSED"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
