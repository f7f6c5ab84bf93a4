//! Agent sessions against the real `paddock serve` and its built-in mock
//! ACP agent, on SQLite and on PostgreSQL: turns that wait and turns that
//! detach; permission requests kept for a person, answered from the API,
//! and answered by policy; a repeated turn id that reaches the agent no
//! more (its transcript does not grow) and one with another prompt refused;
//! one turn at a time; a cancel that interrupts; a paddock restart that
//! marks the streaming turn interrupted and a next turn that starts the
//! agent again; the errors. The real agents take the same routes in
//! tests/runtime-sdk/coding-agents.mjs.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod support;

use support::*;

fn post(server: &Server, path: &str, body: Value) -> (u16, Value) {
    let (status, body) = call(server, "POST", path, Some(OP1_TOKEN), Some(body));
    (status.as_u16(), body)
}

fn get(server: &Server, path: &str) -> (u16, Value) {
    let (status, body) = call(server, "GET", path, Some(OP1_TOKEN), None);
    (status.as_u16(), body)
}

/// The transcript's length (the agent's traffic) of an ACP server.
fn transcript_len(server: &Server, ws: &str, acp: &str) -> usize {
    let (status, events) = get(
        server,
        &format!("/v1/workspaces/{ws}/runtime/v1/acp/{acp}/events?limit=10000"),
    );
    assert_eq!(status, 200, "{events}");
    events["events"].as_array().unwrap().len()
}

/// Polls the session until `ready` holds (at most 30 s).
fn session_until(server: &Server, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, session) = get(server, path);
        assert_eq!(status, 200, "{session}");
        if ready(&session) {
            return session;
        }
        assert!(Instant::now() < deadline, "the session never got there: {session}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn turns_run_once_and_survive_a_restart(env: &[(&str, String)]) {
    let dir = tempdir();
    let mut vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let keys = keys();
    vars.push(("PADDOCK_API_KEYS", &keys));
    let server = Server::start(dir.path(), &vars, &[]);
    let (status, ws) = post(&server, "/v1/workspaces", json!({}));
    assert_eq!(status, 201, "{ws}");
    let ws = id(&ws);
    let base = format!("/v1/workspaces/{ws}/agent-sessions");

    // Errors first: nothing of them is stored.
    let (status, err) = post(&server, &base, json!({"agent": "nope"}));
    assert_eq!(
        (status, err["code"].as_str()),
        (400, Some("UNSUPPORTED_AGENT")),
        "{err}"
    );
    let (status, err) = post(&server, &base, json!({"agent": "amp"}));
    assert_eq!(
        (status, err["code"].as_str()),
        (404, Some("AGENT_NOT_INSTALLED")),
        "{err}"
    );
    let (status, err) = post(&server, &base, json!({"agent": "mock", "id": "a/b"}));
    assert_eq!((status, err["code"].as_str()), (400, Some("BAD_REQUEST")), "{err}");
    let (status, err) = post(&server, &base, json!({"agent": "mock", "cwd": "relative"}));
    assert_eq!((status, err["code"].as_str()), (400, Some("BAD_PATH")), "{err}");
    let (status, err) = post(&server, &base, json!({"agent": "mock", "mode": "yolo"}));
    assert_eq!(status, 400, "{err}");
    assert!(
        err["error"].as_str().is_some_and(|m| m.contains("unknown mode yolo")),
        "{err}"
    );
    let (status, listed) = get(&server, &base);
    assert_eq!(
        (status, listed["sessions"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{listed}"
    );

    // A session that asks: the detached turn waits on the permission,
    // which is listed, answered from the API, and the file is written.
    let (status, session) = post(&server, &base, json!({"agent": "mock", "id": "s1"}));
    assert_eq!(status, 201, "{session}");
    assert_eq!(
        (
            session["status"].as_str(),
            session["permissions"].as_str(),
            session["serverId"].as_str()
        ),
        (Some("idle"), Some("ask"), Some("s1")),
        "{session}"
    );
    let (status, err) = post(&server, &base, json!({"agent": "mock", "id": "s1"}));
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("AGENT_SESSION_EXISTS")),
        "{err}"
    );
    let s1 = format!("{base}/s1");
    let (status, turn) = post(
        &server,
        &format!("{s1}/turns"),
        json!({"turnId": "t1", "prompt": "write asked.txt: yes", "detach": true}),
    );
    assert_eq!((status, turn["status"].as_str()), (202, Some("streaming")), "{turn}");
    let waiting = session_until(&server, &s1, |s| s["pendingPermissions"].as_array().unwrap().len() == 1);
    assert_eq!(waiting["status"], "streaming", "{waiting}");
    let request = waiting["pendingPermissions"][0].clone();
    assert_eq!(request["turnId"], "t1");
    assert_eq!(request["toolCall"]["title"], "Write asked.txt");
    let (status, err) = post(&server, &format!("{s1}/permissions/nope"), json!({"reply": "once"}));
    assert_eq!(
        (status, err["code"].as_str()),
        (404, Some("PERMISSION_NOT_FOUND")),
        "{err}"
    );
    let (status, err) = post(
        &server,
        &format!("{s1}/permissions/{}", request["id"].as_str().unwrap()),
        json!({"reply": "sometimes"}),
    );
    assert_eq!(status, 422, "{err}");
    let (status, _) = post(
        &server,
        &format!("{s1}/permissions/{}", request["id"].as_str().unwrap()),
        json!({"reply": "once"}),
    );
    assert_eq!(status, 204);
    let (status, done) = get(&server, &format!("{s1}/turns/t1?waitMs=20000"));
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (
            done["status"].as_str(),
            done["stopReason"].as_str(),
            done["text"].as_str()
        ),
        (Some("completed"), Some("end_turn"), Some("I wrote asked.txt.")),
        "{done}"
    );
    assert_eq!(done["toolCalls"][0]["status"], "completed", "{done}");
    assert_eq!(done["usage"]["size"], 200000, "{done}");
    assert!(
        done["lastEvent"].as_i64().unwrap() > done["firstEvent"].as_i64().unwrap(),
        "{done}"
    );
    assert_eq!(
        workspace_sh(&server, OP1_TOKEN, &ws, "cat /workspace/asked.txt")["stdout"],
        "yes"
    );

    // The same turn id: the stored turn, and the agent sees nothing.
    let before = transcript_len(&server, &ws, "s1");
    let (status, again) = post(
        &server,
        &format!("{s1}/turns"),
        json!({"turnId": "t1", "prompt": "write asked.txt: yes"}),
    );
    assert_eq!((status, again["replayed"].as_bool()), (200, Some(true)), "{again}");
    assert_eq!(
        (again["text"].clone(), again["completedAt"].clone()),
        (done["text"].clone(), done["completedAt"].clone())
    );
    assert_eq!(
        transcript_len(&server, &ws, "s1"),
        before,
        "a replayed turn reached the agent"
    );
    let (status, err) = post(
        &server,
        &format!("{s1}/turns"),
        json!({"turnId": "t1", "prompt": "something else"}),
    );
    assert_eq!((status, err["code"].as_str()), (409, Some("TURN_CONFLICT")), "{err}");
    assert_eq!(transcript_len(&server, &ws, "s1"), before);

    // Content blocks, waited for; one turn at a time; a cancel interrupts.
    let (status, echoed) = post(
        &server,
        &format!("{s1}/turns"),
        json!({"prompt": [{"type": "text", "text": "hello there"}]}),
    );
    assert_eq!(
        (status, echoed["text"].as_str()),
        (200, Some("You said: hello there")),
        "{echoed}"
    );
    assert!(echoed["turnId"].as_str().unwrap().starts_with("turn_"), "{echoed}");
    let (status, slow) = post(
        &server,
        &format!("{s1}/turns"),
        json!({"turnId": "slow", "prompt": "sleep 60000", "detach": true}),
    );
    assert_eq!(status, 202, "{slow}");
    let (status, err) = post(&server, &format!("{s1}/turns"), json!({"prompt": "hi"}));
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("AGENT_SESSION_BUSY")),
        "{err}"
    );
    let (status, cancelled) = post(&server, &format!("{s1}/turns/slow/cancel"), json!({}));
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(
        (
            cancelled["status"].as_str(),
            cancelled["interruptReason"].as_str(),
            cancelled["stopReason"].as_str()
        ),
        (Some("interrupted"), Some("cancelled"), Some("cancelled")),
        "{cancelled}"
    );
    assert!(
        cancelled["text"].as_str().unwrap().starts_with("tick 1\n"),
        "{cancelled}"
    );

    // A session that rejects by policy: no file, the turn still completes.
    let (status, strict) = post(
        &server,
        &base,
        json!({"agent": "mock", "id": "strict", "permissions": "reject"}),
    );
    assert_eq!(status, 201, "{strict}");
    let (status, refused) = post(
        &server,
        &format!("{base}/strict/turns"),
        json!({"prompt": "write refused.txt: no"}),
    );
    assert_eq!(status, 200, "{refused}");
    assert_eq!(
        refused["text"], "I did not write refused.txt: permission was refused.",
        "{refused}"
    );
    assert_eq!(refused["toolCalls"][0]["status"], "failed", "{refused}");
    let missing = workspace_sh(&server, OP1_TOKEN, &ws, "test -e /workspace/refused.txt; echo $?");
    assert_eq!(missing["stdout"], "1\n", "{missing}");

    // A restart while a turn streams: the turn is interrupted with the
    // reason, the session's agent has exited, and the next turn starts it
    // again (the mock cannot load sessions: a new ACP session, a new server).
    let (status, _) = post(
        &server,
        &format!("{s1}/turns"),
        json!({"turnId": "long", "prompt": "sleep 60000", "detach": true}),
    );
    assert_eq!(status, 202);
    session_until(&server, &s1, |s| s["status"] == "streaming");
    drop(server);
    let server = Server::start(dir.path(), &vars, &[]);
    let (status, long) = get(&server, &format!("{s1}/turns/long"));
    assert_eq!(status, 200, "{long}");
    assert_eq!(
        (long["status"].as_str(), long["interruptReason"].as_str()),
        (
            Some("interrupted"),
            Some("paddock stopped while the turn was streaming")
        ),
        "{long}"
    );
    let (_, session) = get(&server, &s1);
    assert_eq!(session["status"], "exited", "{session}");
    let (status, after) = post(
        &server,
        &format!("{s1}/turns"),
        json!({"turnId": "after", "prompt": "back again"}),
    );
    assert_eq!(
        (status, after["text"].as_str()),
        (200, Some("You said: back again")),
        "{after}"
    );
    assert_eq!(after["serverId"], "s1~2", "{after}");
    let (_, session) = get(&server, &s1);
    assert_eq!(
        (session["status"].as_str(), session["turns"].as_i64()),
        (Some("idle"), Some(5)),
        "{session}"
    );
    // Replays still answer from the store after the restart.
    let (status, replay) = post(
        &server,
        &format!("{s1}/turns"),
        json!({"turnId": "t1", "prompt": "write asked.txt: yes"}),
    );
    assert_eq!(
        (status, replay["replayed"].as_bool(), replay["text"].as_str()),
        (200, Some(true), Some("I wrote asked.txt."))
    );
    let (_, turns) = get(&server, &format!("{s1}/turns"));
    let markers: Vec<(&str, &str)> = turns["turns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["turnId"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .filter(|(id, _)| !id.starts_with("turn_"))
        .collect();
    assert_eq!(
        markers,
        [
            ("t1", "completed"),
            ("slow", "interrupted"),
            ("long", "interrupted"),
            ("after", "completed")
        ]
    );

    // Deleted: gone, with its turns; its agent ended.
    let (status, _) = call(&server, "DELETE", &s1, Some(OP1_TOKEN), None);
    assert_eq!(status, 204);
    let (status, err) = get(&server, &format!("{s1}/turns/t1"));
    assert_eq!(
        (status, err["code"].as_str()),
        (404, Some("AGENT_SESSION_NOT_FOUND")),
        "{err}"
    );
    let (_, servers) = get(&server, &format!("/v1/workspaces/{ws}/runtime/v1/acp"));
    let names: Vec<&str> = servers["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["serverId"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["strict"], "{servers}");
    let (status, err) = get(&server, &format!("{base}/strict/turns/nope"));
    assert_eq!((status, err["code"].as_str()), (404, Some("TURN_NOT_FOUND")), "{err}");
    let (status, err) = get(&server, &format!("{base}/strict/turns/nope?waitMs=600001"));
    assert_eq!(status, 400, "{err}");
    // Another tenant sees none of it.
    let (status, _) = call(&server, "GET", &format!("{base}/strict"), Some(OP2_TOKEN), None);
    assert_eq!(status, 404);
}

#[test]
fn agent_sessions_on_sqlite() {
    turns_run_once_and_survive_a_restart(&[]);
}

#[test]
fn agent_sessions_on_postgres() {
    let db = PgDatabase::create("agent_sessions");
    turns_run_once_and_survive_a_restart(&[("DATABASE_URL", db.url.clone())]);
}

/// `…/runtime/v1/config/mcp` and `…/config/skills` (sandbox-agent's shapes
/// and statuses), and what an agent opening a session in the directory
/// gets: the MCP servers in `session/new`'s `mcpServers`, the skills (from
/// a workspace directory and from a git repository cloned in the
/// workspace) where the agent reads them.
#[test]
fn mcp_and_skills_config_reach_the_agent() {
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let (status, ws) = post(&server, "/v1/workspaces", json!({}));
    assert_eq!(status, 201, "{ws}");
    let ws = id(&ws);
    let runtime = format!("/v1/workspaces/{ws}/runtime/v1");
    let put = |path: &str, body: Value| {
        let (status, body) = call(&server, "PUT", &format!("{runtime}{path}"), Some(OP1_TOKEN), Some(body));
        (status.as_u16(), body)
    };
    let mcp = |name: &str| format!("/config/mcp?directory=/workspace/app&mcpName={name}");

    // sandbox-agent's wire: stdio/http read as local/remote, 404 for a
    // missing entry, 204 for deleting one, 400 and 422 for bad input.
    let (status, body) = put(
        &mcp("echo"),
        json!({"type": "stdio", "command": "node", "args": ["/workspace/echo.js"], "env": {"A": "1"}}),
    );
    assert_eq!(status, 204, "{body}");
    let (status, body) = put(
        &mcp("web"),
        json!({"type": "http", "url": "http://127.0.0.1:9/mcp", "headers": {"X-Test": "1"}}),
    );
    assert_eq!(status, 204, "{body}");
    let (status, body) = put(
        &mcp("off"),
        json!({"type": "local", "command": "false", "enabled": false}),
    );
    assert_eq!(status, 204, "{body}");
    let (status, got) = get(&server, &format!("{runtime}{}", mcp("echo")));
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        got,
        json!({"type": "local", "command": "node", "args": ["/workspace/echo.js"], "env": {"A": "1"}})
    );
    let (_, got) = get(&server, &format!("{runtime}{}", mcp("web")));
    assert_eq!(got["type"], "remote", "{got}");
    let (status, missing) = get(&server, &format!("{runtime}{}", mcp("nope")));
    assert_eq!(status, 404, "{missing}");
    assert_eq!(
        (missing["type"].as_str(), missing["detail"].as_str()),
        (
            Some("urn:sandbox-agent:error:session_not_found"),
            Some("session not found: mcp:nope")
        ),
        "{missing}"
    );
    let (status, err) = put(&mcp("bad"), json!({"type": "weird"}));
    assert_eq!(status, 422, "{err}");
    let (status, err) = get(&server, &format!("{runtime}/config/mcp?directory=/workspace/app"));
    assert_eq!(status, 400, "{err}");
    let (status, err) = put(
        "/config/mcp?directory=/etc&mcpName=x",
        json!({"type": "local", "command": "x"}),
    );
    assert_eq!(status, 400, "{err}");
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("{runtime}{}", mcp("never")),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 204);
    let stored = workspace_sh(
        &server,
        OP1_TOKEN,
        &ws,
        "cat /workspace/app/.sandbox-agent/config/mcp.json",
    );
    let stored: Value = serde_json::from_str(stored["stdout"].as_str().unwrap()).unwrap();
    assert_eq!(
        stored.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["echo", "off", "web"]
    );

    // Skills from a workspace directory (only the ones named, only with a
    // SKILL.md) and from a git repository.
    let made = workspace_sh(
        &server,
        OP1_TOKEN,
        &ws,
        "set -e; mkdir -p /workspace/skills-src/greet /workspace/skills-src/other /workspace/skills-src/empty
         printf -- '---\\nname: greet\\ndescription: Greets politely\\n---\\nSay hello.\\n' > /workspace/skills-src/greet/SKILL.md
         printf 'x' > /workspace/skills-src/other/SKILL.md
         mkdir -p /workspace/repo/skills/review && cd /workspace/repo
         printf -- '---\\nname: review\\ndescription: Reviews code\\n---\\n' > skills/review/SKILL.md
         git init -q && git -c user.name=t -c user.email=t@t add -A && git -c user.name=t -c user.email=t@t commit -qm skills
         mkdir -p /workspace/solo && printf -- '---\nname: solo\ndescription: A skill alone\n---\n' > /workspace/solo/SKILL.md
         git rev-parse HEAD",
    );
    let commit = made["stdout"].as_str().unwrap().trim().to_owned();
    assert_eq!(commit.len(), 40, "{made}");
    let skills = "/config/skills?directory=/workspace/app&skillName=team";
    let (status, body) = put(
        skills,
        json!({"sources": [
            {"type": "local", "source": "/workspace/skills-src", "skills": ["greet", "empty"]},
            {"type": "git", "source": "/workspace/repo", "ref": commit, "subpath": "skills"},
            {"type": "local", "source": "/workspace/solo"},
            // Gone: logged, and the rest still applies.
            {"type": "local", "source": "/workspace/missing"},
        ]}),
    );
    assert_eq!(status, 204, "{body}");
    let (status, got) = get(&server, &format!("{runtime}{skills}"));
    assert_eq!(
        (status, got["sources"][1]["subpath"].as_str()),
        (200, Some("skills")),
        "{got}"
    );

    // An agent opening a session in the directory gets them.
    let (status, session) = post(
        &server,
        &format!("/v1/workspaces/{ws}/agent-sessions"),
        json!({"agent": "mock", "id": "cfg", "cwd": "/workspace/app"}),
    );
    assert_eq!(status, 201, "{session}");
    let turns = format!("/v1/workspaces/{ws}/agent-sessions/cfg/turns");
    let (_, listed) = post(&server, &turns, json!({"prompt": "mcp"}));
    assert_eq!(listed["text"], "MCP servers: echo,web", "{listed}");
    let (_, skilled) = post(&server, &turns, json!({"prompt": "skills"}));
    assert_eq!(skilled["text"], "Skills: greet,review,solo", "{skilled}");
    // A second session in the directory gets them again (copied over the
    // first copies; the clone is reused).
    let (status, again) = post(
        &server,
        &format!("/v1/workspaces/{ws}/agent-sessions"),
        json!({"agent": "mock", "id": "cfg2", "cwd": "/workspace/app"}),
    );
    assert_eq!(status, 201, "{again}");
    let (_, listed) = post(
        &server,
        &format!("/v1/workspaces/{ws}/agent-sessions/cfg2/turns"),
        json!({"prompt": "skills"}),
    );
    assert_eq!(listed["text"], "Skills: greet,review,solo", "{listed}");
    let clones = workspace_sh(&server, OP1_TOKEN, &ws, "ls /workspace/app/.sandbox-agent/skills");
    assert_eq!(clones["stdout"].as_str().unwrap().lines().count(), 1, "{clones}");
    let copied = workspace_sh(
        &server,
        OP1_TOKEN,
        &ws,
        "cat /workspace/app/.claude/skills/greet/SKILL.md",
    );
    assert!(
        copied["stdout"].as_str().unwrap().contains("Greets politely"),
        "{copied}"
    );
    // What the agent was sent is in its transcript: the ACP shapes.
    let (_, events) = get(&server, &format!("{runtime}/acp/cfg/events"));
    let new = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["envelope"]["method"] == "session/new")
        .expect("session/new in the transcript");
    assert_eq!(
        new["envelope"]["params"]["mcpServers"],
        json!([
            {"name": "echo", "command": "node", "args": ["/workspace/echo.js"], "env": [{"name": "A", "value": "1"}]},
            {"type": "http", "name": "web", "url": "http://127.0.0.1:9/mcp", "headers": [{"name": "X-Test", "value": "1"}]},
        ])
    );

    // '~' is kept for agent sessions' restarted agents.
    let (status, err) = post(
        &server,
        &format!("{runtime}/acp/cfg~2?agent=mock"),
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1}}),
    );
    assert_eq!(status, 400, "{err}");
}

/// A client following an agent (SSE that never ends on its own) does not
/// hold up a shutdown: its stream ends when the server begins to stop
/// (before, the server waited out most of its grace period for it).
#[test]
fn a_followed_agent_does_not_hold_up_a_shutdown() {
    let dir = tempdir();
    // The default grace (the test servers have 1 s): requests in flight
    // may run for most of it.
    let server = Server::start(
        dir.path(),
        &[("PADDOCK_API_KEYS", &keys())],
        &["--shutdown-grace", "30s"],
    );
    let (status, ws) = post(&server, "/v1/workspaces", json!({}));
    assert_eq!(status, 201, "{ws}");
    let ws = id(&ws);
    let acp = format!("/v1/workspaces/{ws}/runtime/v1/acp/followed");
    let (status, init) = post(
        &server,
        &format!("{acp}?agent=mock"),
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1}}),
    );
    assert_eq!(status, 200, "{init}");
    let (status, new) = post(
        &server,
        &acp,
        json!({"jsonrpc": "2.0", "id": 2, "method": "session/new", "params": {"cwd": "/workspace", "mcpServers": []}}),
    );
    assert_eq!(status, 200, "{new}");
    let (status, said) = post(
        &server,
        &acp,
        json!({"jsonrpc": "2.0", "id": 3, "method": "session/prompt", "params": {"sessionId": new["result"]["sessionId"], "prompt": [{"type": "text", "text": "hello"}]}}),
    );
    assert_eq!(status, 200, "{said}");
    let url = format!("{}{acp}", server.url);
    let (opened_tx, opened) = std::sync::mpsc::channel();
    let follower = std::thread::spawn(move || {
        let response = client()
            .get(url)
            .bearer_auth(OP1_TOKEN)
            .header("accept", "text/event-stream")
            .send()
            .expect("follow");
        opened_tx.send(response.status().as_u16()).unwrap();
        response
            .text()
            .map(|body| body.contains("You said: hello") || body.contains("\"protocolVersion\""))
    });
    assert_eq!(opened.recv_timeout(Duration::from_secs(10)).unwrap(), 200);
    let started = Instant::now();
    let exit = server.stop();
    assert!(exit.success(), "{exit:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the shutdown took {:?}",
        started.elapsed()
    );
    assert_eq!(
        follower.join().unwrap().ok(),
        Some(true),
        "the stream replayed, then ended"
    );
}
