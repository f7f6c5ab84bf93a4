//! Scoped tokens end to end against the real `paddock serve`: minted for
//! one workspace and a set of capabilities, they open exactly the routes
//! their capabilities name there, and nothing else. The attacks: another
//! workspace of the same tenant, another tenant's workspace, tenant routes
//! (listing, keys, credentials, runs, the ledger), minting more tokens,
//! starting, stopping or deleting the workspace, a capability the token
//! lacks (runtime routes, previews, the terminal WebSocket, MCP tools), a
//! tenant API key on the MCP endpoint, a revoked token (at once, though
//! authenticated tokens are remembered) and an expired one. Every use and
//! refusal must be in the audit log.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

mod support;

use support::*;

fn start(dir: &Path) -> Server {
    Server::start(dir, &[("PADDOCK_API_KEYS", &keys())], &["--shutdown-grace", "2s"])
}

fn workspace(server: &Server, token: &str) -> String {
    let (status, ws) = call(server, "POST", "/v1/workspaces", Some(token), Some(json!({})));
    assert_eq!(status, 201, "{ws}");
    id(&ws)
}

fn runtime(ws: &str, route: &str) -> String {
    format!("/v1/workspaces/{ws}/runtime/v1/{route}")
}

fn secret(token: &Value) -> String {
    token["token"].as_str().expect("token").to_owned()
}

/// `(status, code)` of a call.
fn outcome(server: &Server, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, String) {
    let (status, answer) = call(server, method, path, Some(token), body);
    (status.as_u16(), answer["code"].as_str().unwrap_or_default().to_owned())
}

/// The text of a tool result's first content block, and whether it is an
/// error.
fn tool_text(answer: &Value) -> (String, bool) {
    let result = &answer["result"];
    (
        result["content"][0]["text"].as_str().unwrap_or_default().to_owned(),
        result["isError"].as_bool().unwrap_or(false),
    )
}

#[test]
fn scoped_tokens_open_only_their_workspace_and_capabilities() {
    let dir = tempdir();
    let server = start(dir.path());
    let mine = workspace(&server, OP1_TOKEN);
    let sibling = workspace(&server, OP1_TOKEN);
    let theirs = workspace(&server, OP2_TOKEN);

    // Minting: bad input is refused with its reason, and stores nothing.
    for (body, want, code) in [
        (json!({"capabilities": []}), 400, "BAD_CAPABILITIES"),
        (json!({"capabilities": ["processes"], "ttl_secs": 0}), 400, "BAD_TTL"),
        (
            json!({"capabilities": ["processes"], "ttl_secs": 86401}),
            400,
            "BAD_TTL",
        ),
        (json!({"capabilities": ["root"]}), 422, "BAD_BODY"),
        (
            json!({"capabilities": ["processes"], "label": "x".repeat(201)}),
            400,
            "BAD_LABEL",
        ),
    ] {
        let (status, answer) = call(
            &server,
            "POST",
            &format!("/v1/workspaces/{mine}/tokens"),
            Some(OP1_TOKEN),
            Some(body.clone()),
        );
        assert_eq!(
            (status.as_u16(), answer["code"].as_str().unwrap_or_default()),
            (want, code),
            "{body}: {answer}"
        );
    }
    let (status, _) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{theirs}/tokens"),
        Some(OP1_TOKEN),
        Some(json!({"capabilities": ["processes"]})),
    );
    assert_eq!(status, 404, "another tenant's workspace");
    let (status, list) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{mine}/tokens"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        list["tokens"].as_array().map(Vec::len),
        Some(0),
        "refused mints stored nothing: {list}"
    );

    let reader = mint(&server, &mine, &["files:read", "processes"], 600);
    assert!(secret(&reader).starts_with("pdt_") && secret(&reader).len() == 68);
    assert_eq!(reader["capabilities"], json!(["processes", "files:read"]));
    assert_eq!(reader["state"], "active");
    let reader = secret(&reader);

    // Its own workspace, within its capabilities.
    let (status, _) = call(
        &server,
        "PUT",
        &runtime(&mine, "fs/file?path=notes.txt"),
        Some(OP1_TOKEN),
        None,
    );
    assert!(status.is_success());
    assert_eq!(
        outcome(&server, "GET", &runtime(&mine, "fs/entries"), &reader, None).0,
        200
    );
    assert_eq!(
        outcome(&server, "GET", &runtime(&mine, "fs/stat?path=notes.txt"), &reader, None).0,
        200
    );
    assert_eq!(
        outcome(&server, "GET", &format!("/v1/workspaces/{mine}"), &reader, None).0,
        200
    );
    let (status, ran) = call(
        &server,
        "POST",
        &runtime(&mine, "processes/run"),
        Some(&reader),
        Some(json!({"command": "sh", "args": ["-c", "echo scoped-$((6*7))"]})),
    );
    assert_eq!(status, 200, "{ran}");
    assert_eq!(ran["stdout"], "scoped-42\n");

    // Outside its capabilities: 403 MISSING_CAPABILITY, and nothing done.
    let refusals = [
        ("PUT", runtime(&mine, "fs/file?path=notes.txt"), None),
        ("POST", runtime(&mine, "fs/mkdir?path=d"), None),
        ("DELETE", runtime(&mine, "fs/entry?path=notes.txt"), None),
        (
            "POST",
            format!("/v1/workspaces/{mine}/code"),
            Some(json!({"language": "python", "code": "1"})),
        ),
        ("GET", format!("/v1/workspaces/{mine}/kernels"), None),
        (
            "POST",
            format!("/v1/workspaces/{mine}/previews"),
            Some(json!({"port": 8000})),
        ),
        ("GET", runtime(&mine, "agents"), None),
        ("GET", format!("/v1/workspaces/{mine}/agent-sessions"), None),
    ];
    for (method, path, body) in refusals {
        assert_eq!(
            outcome(&server, method, &path, &reader, body),
            (403, "MISSING_CAPABILITY".into()),
            "{method} {path}"
        );
    }
    assert_eq!(
        outcome(&server, "GET", &runtime(&mine, "fs/stat?path=notes.txt"), &reader, None).0,
        200,
        "the file is still there"
    );

    // Another workspace, the tenant's own or another tenant's: as if it
    // did not exist.
    for ws in [&sibling, &theirs] {
        for (method, path) in [
            ("GET", runtime(ws, "fs/entries")),
            ("GET", runtime(ws, "health")),
            ("GET", format!("/v1/workspaces/{ws}")),
            ("POST", runtime(ws, "processes/run")),
        ] {
            let body = (method == "POST").then(|| json!({"command": "true"}));
            assert_eq!(outcome(&server, method, &path, &reader, body).0, 404, "{method} {path}");
        }
    }

    // Tenant routes and the workspace's own lifecycle: refused whatever the
    // capabilities.
    let all = secret(&mint(
        &server,
        &mine,
        &[
            "processes",
            "files:read",
            "files:write",
            "code",
            "agents",
            "previews",
            "mcp",
        ],
        600,
    ));
    for (method, path, body) in [
        ("GET", "/v1/whoami".to_owned(), None),
        ("GET", "/v1/workspaces".to_owned(), None),
        ("POST", "/v1/workspaces".to_owned(), Some(json!({}))),
        ("GET", "/v1/keys".to_owned(), None),
        ("GET", "/v1/credentials".to_owned(), None),
        (
            "POST",
            "/v1/credentials".to_owned(),
            Some(json!({"service": "openai", "secret": "sk-x"})),
        ),
        (
            "POST",
            "/v1/runs".to_owned(),
            Some(json!({"language": "python", "code": "print(1)"})),
        ),
        ("GET", "/v1/jails".to_owned(), None),
        ("GET", "/v1/audit".to_owned(), None),
        ("GET", "/v1/snapshots".to_owned(), None),
        (
            "POST",
            format!("/v1/workspaces/{mine}/tokens"),
            Some(json!({"capabilities": ["processes"]})),
        ),
        ("GET", format!("/v1/workspaces/{mine}/tokens"), None),
        ("GET", format!("/v1/workspaces/{mine}/mcp-config"), None),
        ("POST", format!("/v1/workspaces/{mine}/stop"), None),
        ("POST", format!("/v1/workspaces/{mine}/snapshot"), Some(json!({}))),
        ("POST", format!("/v1/workspaces/{mine}/fork"), Some(json!({}))),
        ("PATCH", format!("/v1/workspaces/{mine}"), Some(json!({"label": "x"}))),
        ("DELETE", format!("/v1/workspaces/{mine}"), None),
    ] {
        assert_eq!(
            outcome(&server, method, &path, &all, body),
            (403, "SCOPED_TOKEN_REFUSED".into()),
            "{method} {path}"
        );
    }
    assert_eq!(
        outcome(&server, "GET", &format!("/v1/workspaces/{mine}"), OP1_TOKEN, None).0,
        200,
        "the workspace is still there"
    );

    // The terminal WebSocket: `processes` upgrades; a token without it
    // does not, in the query or as the bearer subprotocol.
    let (status, info) = call(
        &server,
        "POST",
        &runtime(&mine, "processes"),
        Some(OP1_TOKEN),
        Some(json!({"command": "sh", "tty": true})),
    );
    assert_eq!(status, 200, "{info}");
    let terminal = runtime(&mine, &format!("processes/{}/terminal/ws", id(&info)));
    let files_only = secret(&mint(&server, &mine, &["files:read"], 600));
    let upgrade = |query_token: Option<&str>, protocol: Option<&str>| {
        use base64::Engine;
        let url = match query_token {
            Some(token) => format!("{}{terminal}?access_token={token}", server.url),
            None => format!("{}{terminal}", server.url),
        };
        let mut request = client()
            .get(url)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        if let Some(token) = protocol {
            let offered = format!(
                "paddock.terminal, paddock.bearer.{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)
            );
            request = request.header("sec-websocket-protocol", offered);
        }
        request.send().expect("upgrade").status().as_u16()
    };
    assert_eq!(upgrade(Some(&files_only), None), 403);
    assert_eq!(upgrade(None, Some(&files_only)), 403);
    assert_eq!(upgrade(None, Some(&reader)), 101);
    assert_eq!(upgrade(Some(&reader), None), 101);

    // Previews: `previews` creates one and is let through the path relay;
    // without it the relay refuses.
    let (status, preview) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{mine}/previews"),
        Some(&all),
        Some(json!({"port": 8000})),
    );
    assert_eq!(status, 201, "{preview}");
    let relay = format!("/v1/workspaces/{mine}/previews/8000/proxy/");
    assert_eq!(
        outcome(&server, "GET", &relay, &reader, None),
        (403, "MISSING_CAPABILITY".into())
    );
    let (status, answer) = call(&server, "GET", &relay, Some(&all), None);
    assert_eq!(status, 502, "let through, and nothing listens on 8000: {answer}");
    assert_eq!(
        outcome(
            &server,
            "GET",
            &format!("/v1/workspaces/{sibling}/previews/8000/proxy/"),
            &all,
            None
        )
        .0,
        404
    );

    // Every use and refusal is audited, under the token's id.
    std::thread::sleep(Duration::from_millis(300));
    let (status, actions) = call(&server, "GET", "/v1/audit/actions?limit=500", Some(OP1_TOKEN), None);
    assert_eq!(status, 200, "{actions}");
    let rows = actions["rows"].as_array().cloned().unwrap_or_default();
    let has = |action: &str, target: &str| {
        rows.iter().any(|row| {
            row["action"] == action
                && row["actor"].as_str().is_some_and(|a| a.starts_with("tok_"))
                && row["target"].as_str().is_some_and(|t| t.contains(target))
        })
    };
    assert!(has("token.use", "/runtime/v1/processes/run"), "{actions}");
    assert!(has("token.refused", "DELETE /v1/workspaces/"), "{actions}");
    assert!(has("token.refused", "/v1/keys"), "{actions}");
    assert!(rows.iter().any(|row| row["action"] == "token.create"), "{actions}");
}

#[test]
fn scoped_tokens_stop_at_revocation_and_expiry() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server, OP1_TOKEN);

    // Revoked: refused at its next call, though it was just authenticated
    // (and so remembered).
    let token = mint(&server, &ws, &["files:read"], 600);
    let (secret_text, token_id) = (secret(&token), id(&token));
    assert_eq!(
        outcome(&server, "GET", &runtime(&ws, "fs/entries"), &secret_text, None).0,
        200
    );
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("/v1/workspaces/{ws}/tokens/{token_id}"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        outcome(&server, "GET", &runtime(&ws, "fs/entries"), &secret_text, None),
        (401, "UNAUTHORIZED".into())
    );
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("/v1/workspaces/{ws}/tokens/{token_id}"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 404, "revoked once");
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("/v1/workspaces/{ws}/tokens/{token_id}"),
        Some(OP2_TOKEN),
        None,
    );
    assert_eq!(status, 404, "another tenant cannot see it");

    // Expired: refused from its expiry on, though remembered.
    let short = secret(&mint(&server, &ws, &["files:read"], 2));
    assert_eq!(
        outcome(&server, "GET", &runtime(&ws, "fs/entries"), &short, None).0,
        200
    );
    std::thread::sleep(Duration::from_millis(2300));
    let (status, answer) = call(&server, "GET", &runtime(&ws, "fs/entries"), Some(&short), None);
    assert_eq!(status, 401, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap_or_default().contains("expired"),
        "{answer}"
    );

    let (status, list) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{ws}/tokens"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 200);
    let states: Vec<&str> = list["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .filter_map(|t| t["state"].as_str())
        .collect();
    assert_eq!(states, ["expired", "revoked"], "{list}");
    assert!(
        !list.to_string().contains("pdt_"),
        "a list never holds a secret: {list}"
    );

    // Revoking the API key that minted a token ends the token too, at its
    // next call though it was just authenticated.
    let (status, key) = call(
        &server,
        "POST",
        "/v1/keys",
        Some(ADMIN_TOKEN),
        Some(json!({"tenant": "t1", "role": "operator"})),
    );
    assert_eq!(status, 201, "{key}");
    let (status, minted) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/tokens"),
        key["token"].as_str(),
        Some(json!({"capabilities": ["files:read"]})),
    );
    assert_eq!(status, 201, "{minted}");
    let orphan = secret(&minted);
    assert_eq!(
        outcome(&server, "GET", &runtime(&ws, "fs/entries"), &orphan, None).0,
        200
    );
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("/v1/keys/{}", id(&key)),
        Some(ADMIN_TOKEN),
        None,
    );
    assert_eq!(status, 204);
    let (status, answer) = call(&server, "GET", &runtime(&ws, "fs/entries"), Some(&orphan), None);
    assert_eq!(status, 401, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("minted this scoped token was revoked"),
        "{answer}"
    );

    // A preview made with a token ends when the token does, whatever it
    // asked for.
    let previewer = mint(&server, &ws, &["previews"], 120);
    let (status, preview) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/previews"),
        Some(&secret(&previewer)),
        Some(json!({"port": 8000, "public": true, "ttl_secs": 604800})),
    );
    assert_eq!(status, 201, "{preview}");
    assert_eq!(preview["expires_at"], previewer["expires_at"], "{preview}");

    // A configured API key can never be mistaken for a scoped token.
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir.path().join("other"))
        .env("PADDOCK_API_KEYS", "pdt_0123456789abcdef@t1:operator")
        .output()
        .expect("paddock serve");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("must not start with \"pdt_\""),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[test]
fn mcp_endpoint_takes_scoped_tokens_and_their_tools_only() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server, OP1_TOKEN);
    let other = workspace(&server, OP1_TOKEN);

    // mcp-config: a paste-able .mcp.json with a fresh token.
    let (status, config) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{ws}/mcp-config?capabilities=processes,files:read&server_name=box"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 200, "{config}");
    let token = config["token"].as_str().expect("token").to_owned();
    let entry = &config["config"]["mcpServers"]["box"];
    assert_eq!(entry["type"], "http");
    assert_eq!(entry["url"], format!("{}/v1/workspaces/{ws}/mcp", server.url));
    assert_eq!(entry["headers"]["Authorization"], format!("Bearer {token}"));
    assert_eq!(config["capabilities"], json!(["processes", "files:read", "mcp"]));
    for (query, code) in [
        ("capabilities=root", "BAD_CAPABILITIES"),
        ("ttl_secs=0", "BAD_TTL"),
        ("server_name=a%20b", "BAD_REQUEST"),
    ] {
        assert_eq!(
            outcome(
                &server,
                "GET",
                &format!("/v1/workspaces/{ws}/mcp-config?{query}"),
                OP1_TOKEN,
                None
            ),
            (400, code.into()),
            "{query}"
        );
    }

    // The tools it may call, and those only.
    let init =
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}});
    let (status, answer) = mcp(&server, &ws, &token, 1, "initialize", init.clone());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"]["serverInfo"]["name"], "paddock");
    let (_, answer) = mcp(&server, &ws, &token, 2, "tools/list", json!({}));
    let mut names: Vec<&str> = answer["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["exec", "list_files", "read_file"], "{answer}");
    let (_, answer) = mcp(
        &server,
        &ws,
        &token,
        3,
        "tools/call",
        json!({"name": "exec", "arguments": {"command": "echo mcp-$((6*7)) > out.txt; cat out.txt"}}),
    );
    assert_eq!(
        tool_text(&answer),
        ("mcp-42\n\n[exit code 0]".into(), false),
        "{answer}"
    );
    let (_, answer) = mcp(
        &server,
        &ws,
        &token,
        4,
        "tools/call",
        json!({"name": "read_file", "arguments": {"path": "/workspace/out.txt"}}),
    );
    assert_eq!(tool_text(&answer), ("mcp-42\n".into(), false), "{answer}");
    let (_, answer) = mcp(
        &server,
        &ws,
        &token,
        5,
        "tools/call",
        json!({"name": "write_file", "arguments": {"path": "out.txt", "content": "overwritten"}}),
    );
    let (text, is_error) = tool_text(&answer);
    assert!(is_error && text.starts_with("MISSING_CAPABILITY"), "{answer}");
    let (_, answer) = mcp(
        &server,
        &ws,
        &token,
        6,
        "tools/call",
        json!({"name": "read_file", "arguments": {"path": "out.txt"}}),
    );
    assert_eq!(tool_text(&answer).0, "mcp-42\n", "the refused write changed nothing");
    let (_, answer) = mcp(
        &server,
        &ws,
        &token,
        7,
        "tools/call",
        json!({"name": "read_file", "arguments": {"path": "../../etc/passwd"}}),
    );
    let (text, is_error) = tool_text(&answer);
    assert!(is_error && text.starts_with("BAD_PATH"), "{answer}");

    // Refused at the door: a tenant API key, another workspace, a token
    // without `mcp`, no token, a revoked token.
    assert_eq!(mcp(&server, &ws, OP1_TOKEN, 8, "initialize", init.clone()).0, 403);
    assert_eq!(mcp(&server, &other, &token, 9, "initialize", init.clone()).0, 404);
    let no_mcp = secret(&mint(&server, &ws, &["processes"], 600));
    assert_eq!(mcp(&server, &ws, &no_mcp, 10, "initialize", init.clone()).0, 403);
    let response = client()
        .post(format!("{}/v1/workspaces/{ws}/mcp", server.url))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 11, "method": "initialize", "params": init}))
        .send()
        .expect("request");
    assert_eq!(response.status(), 401);
    assert!(response.headers().get("www-authenticate").is_some());
    let token_id = config["token_id"].as_str().expect("token_id");
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("/v1/workspaces/{ws}/tokens/{token_id}"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 204);
    assert_eq!(mcp(&server, &ws, &token, 12, "tools/list", json!({})).0, 401);
}

/// `paddock ARGS` as tenant t1's operator.
fn cli(server: &Server, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(args)
        .env("PADDOCK_URL", &server.url)
        .env("PADDOCK_API_KEY", OP1_TOKEN)
        .output()
        .expect("paddock runs")
}

#[test]
fn the_cli_mints_lists_revokes_and_writes_mcp_config() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server, OP1_TOKEN);

    let minted = cli(
        &server,
        &[
            "ws",
            "token",
            &ws,
            "--cap",
            "files:read,processes",
            "--ttl",
            "10m",
            "--label",
            "cli",
            "--json",
        ],
    );
    assert!(minted.status.success(), "{}", String::from_utf8_lossy(&minted.stderr));
    let minted: Value = serde_json::from_slice(&minted.stdout).expect("json");
    assert_eq!(minted["capabilities"], json!(["processes", "files:read"]));
    let token = secret(&minted);
    assert_eq!(
        outcome(&server, "GET", &runtime(&ws, "fs/entries"), &token, None).0,
        200
    );

    let listed = cli(&server, &["ws", "tokens", &ws]);
    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(
        table.contains(&id(&minted)) && table.contains("active") && !table.contains("pdt_"),
        "{table}"
    );

    let bad = cli(&server, &["ws", "token", &ws, "--cap", "root"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown variant `root`"));

    // Only the .mcp.json on stdout, so it can be redirected to a file.
    let config = cli(
        &server,
        &["ws", "mcp-config", &ws, "--cap", "processes", "--name", "box"],
    );
    assert!(config.status.success(), "{}", String::from_utf8_lossy(&config.stderr));
    let file: Value = serde_json::from_slice(&config.stdout).expect("stdout is the .mcp.json");
    let entry = &file["mcpServers"]["box"];
    assert_eq!(entry["url"], format!("{}/v1/workspaces/{ws}/mcp", server.url));
    let bearer = entry["headers"]["Authorization"].as_str().expect("header");
    let mcp_token = bearer.strip_prefix("Bearer ").expect("bearer");
    let init =
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "cli", "version": "1"}});
    assert_eq!(mcp(&server, &ws, mcp_token, 1, "initialize", init).0, 200);

    let revoked = cli(&server, &["ws", "untoken", &ws, &id(&minted)]);
    assert!(revoked.status.success());
    assert_eq!(
        outcome(&server, "GET", &runtime(&ws, "fs/entries"), &token, None).0,
        401
    );
}
