//! Code kernels (issue 16) against the real `paddock serve`, with real
//! Jupyter kernels (ipykernel, bash_kernel) from the `python-data` flavor
//! and tslab from the `typescript` flavor, which the test builds with
//! `paddock flavors install` (pip and npm, from the registries).
//! The workspace has network `none`. One thorough test: state between
//! calls, rich results (a PNG, a dataframe), errors, a timeout that
//! interrupts and keeps the state, sessions apart, idempotency (in flight,
//! and across a server restart), per-call environment, bash, node and
//! typescript kernels, a kernel that dies and is replaced, the kernel
//! routes, the 16-kernel cap, bad input, the streamed variant (SSE), and
//! the workspace-less `POST /v1/code` with its warm pool (one-call
//! workspaces deleted after the call, sessions that keep theirs, pool
//! workspaces of an earlier server deleted at start) and `paddock code`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

mod support;

use support::*;

fn start(dir: &Path) -> Server {
    Server::start(dir, &[("PADDOCK_API_KEYS", &keys())], &[])
}

fn install_flavor(dir: &Path, name: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["flavors", "install", name, "--state-dir"])
        .arg(dir)
        .output()
        .expect("paddock flavors install");
    assert!(
        out.status.success(),
        "paddock flavors install {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `POST /v1/workspaces/{ws}/code` as tenant t1: (status, body). The
/// client waits longer than the server gives a kernel to start (60 s), so
/// a kernel that does not start is the server's answer (with its stderr),
/// not a client timeout.
fn code(server: &Server, ws: &str, body: Value) -> (u16, Value) {
    let response = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(180))
        .build()
        .expect("client")
        .post(format!("{}/v1/workspaces/{ws}/code", server.url))
        .bearer_auth(OP1_TOKEN)
        .json(&body)
        .send()
        .expect("a code call");
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Runs Python `source` in the shared kernel; the 200 answer.
fn python(server: &Server, ws: &str, source: &str) -> Value {
    let (status, result) = code(server, ws, json!({"language": "python", "code": source}));
    assert_eq!(status, 200, "{result}");
    result
}

fn text_results(result: &Value) -> Vec<String> {
    result["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "text")
        .map(|p| p["value"].as_str().unwrap().to_owned())
        .collect()
}

/// Width and height of a PNG (its IHDR chunk).
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

#[test]
fn kernels_keep_state_give_rich_results_and_survive_errors_timeouts_and_restarts() {
    let dir = tempdir();
    install_flavor(dir.path(), "python-data");
    install_flavor(dir.path(), "typescript");
    let server = start(dir.path());
    let (status, ws) = call(
        &server,
        "POST",
        "/v1/workspaces",
        Some(OP1_TOKEN),
        // Room for the sixteen kernels of the cap below.
        Some(json!({"flavors": ["python-data", "typescript"], "memory_mb": 2048, "max_pids": 1024})),
    );
    assert_eq!(status, 201, "{ws}");
    assert_eq!(ws["config"]["network_mode"], "none", "{ws}");
    let ws = id(&ws);

    // State between calls, on a kernel the first call started.
    let first = python(&server, &ws, "x = 41\nprint('set')");
    assert_eq!(
        (first["exitCode"].as_i64(), first["stdout"].as_str()),
        (Some(0), Some("set\n")),
        "{first}"
    );
    assert_eq!(first["kernel"]["started"], true, "{first}");
    let second = python(&server, &ws, "x + 1");
    assert_eq!(text_results(&second), ["42"], "{second}");
    assert_eq!(
        (second["kernel"]["started"].as_bool(), &second["kernel"]["id"]),
        (Some(false), &first["kernel"]["id"])
    );

    // A matplotlib figure is a PNG.
    let plot = python(
        &server,
        &ws,
        "import matplotlib.pyplot as plt\nfig = plt.figure(figsize=(4, 3), dpi=100)\nplt.plot([1, 3, 2])\nplt.show()",
    );
    let image = plot["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "image")
        .unwrap_or_else(|| panic!("no image: {plot}"));
    assert_eq!(image["format"], "png");
    let png = base64::engine::general_purpose::STANDARD
        .decode(image["data"].as_str().unwrap())
        .expect("base64");
    let (width, height) = png_size(&png);
    assert!(
        (200..=500).contains(&width) && (150..=400).contains(&height),
        "{width}x{height}"
    );

    // A pandas frame is a table: describe() has 8 rows.
    let described = python(
        &server,
        &ws,
        "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3, 4], 'b': [0.5, 1.5, 2.5, 3.5]})\ndf.describe()",
    );
    let frame = &described["results"][0];
    assert_eq!(frame["type"], "dataframe", "{described}");
    assert_eq!(frame["rows"].as_array().unwrap().len(), 8, "{frame}");
    assert_eq!(frame["truncated"], false);
    let names: Vec<&str> = frame["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["index", "a", "b"]);
    assert_eq!(frame["rows"][1], json!(["mean", 2.5, 2.0]), "{frame}");

    // An error is a result, and the kernel lives on.
    let failed = python(&server, &ws, "1/0");
    assert_eq!(failed["exitCode"], 1, "{failed}");
    assert_eq!(failed["error"]["name"], "ZeroDivisionError", "{failed}");
    assert!(
        failed["error"]["traceback"].as_str().unwrap().contains("1/0"),
        "{failed}"
    );
    assert_eq!(failed["results"][0]["type"], "error");
    assert_eq!(text_results(&python(&server, &ws, "x")), ["41"]);

    // A timeout interrupts the loop; the kernel and x are still there.
    let (status, spun) = code(
        &server,
        &ws,
        json!({"language": "python", "code": "while True: pass", "timeoutMs": 1000}),
    );
    assert_eq!(status, 200, "{spun}");
    assert_eq!(
        (spun["exitCode"].as_i64(), spun["error"]["name"].as_str()),
        (Some(124), Some("TimeoutError")),
        "{spun}"
    );
    let after = python(&server, &ws, "x * 2");
    assert_eq!(
        (text_results(&after), &after["kernel"]["id"]),
        (vec!["82".to_owned()], &first["kernel"]["id"])
    );

    // Sessions have kernels of their own.
    let (_, other) = code(
        &server,
        &ws,
        json!({"language": "python", "code": "x", "sessionId": "s2"}),
    );
    assert_eq!(other["error"]["name"], "NameError", "{other}");
    assert_ne!(other["kernel"]["id"], first["kernel"]["id"]);

    // The environment of one call, and only of that call.
    let (_, with_env) = code(
        &server,
        &ws,
        json!({"language": "python", "code": "import os\nos.environ['GREETING']", "env": {"GREETING": "it's \"here\""}}),
    );
    assert_eq!(text_results(&with_env), [r#"'it\'s "here"'"#], "{with_env}");
    assert_eq!(
        text_results(&python(&server, &ws, "os.environ.get('GREETING')")),
        Vec::<String>::new()
    );

    // Idempotency: the side effect happens once, a duplicate in flight
    // waits for the first, and a restart keeps the result.
    let counted = json!({"language": "python", "idempotencyKey": "count-1", "code":
        "import time\ntime.sleep(1)\nwith open('/workspace/counter', 'a') as f: f.write('x')\nlen(open('/workspace/counter').read())"});
    let url = format!("{}/v1/workspaces/{ws}/code", server.url);
    let post = || {
        let response = client()
            .post(&url)
            .bearer_auth(OP1_TOKEN)
            .json(&counted)
            .send()
            .expect("request");
        (response.status().as_u16(), response.json::<Value>().expect("json"))
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(post);
        let b = s.spawn(post);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!((a.0, b.0), (200, 200));
    assert_eq!(text_results(&a.1), ["1"], "{}", a.1);
    assert_eq!(a.1, b.1);
    // A failure is not kept: the same key runs again.
    let failing = json!({"language": "python", "idempotencyKey": "fails", "code": "with open('/workspace/tries', 'a') as f: f.write('x')\nraise ValueError(len(open('/workspace/tries').read()))"});
    assert_eq!(code(&server, &ws, failing.clone()).1["error"]["message"], "1");
    assert_eq!(code(&server, &ws, failing).1["error"]["message"], "2");

    // A client that gives up does not stop the call: a retry with its key
    // waits for it and gets its result; the code ran once.
    let patient = json!({"language": "python", "idempotencyKey": "left", "code":
        "import time\ntime.sleep(2)\nwith open('/workspace/left', 'a') as f: f.write('x')\nlen(open('/workspace/left').read())"});
    let impatient = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_millis(500))
        .build()
        .unwrap();
    assert!(
        impatient
            .post(&url)
            .bearer_auth(OP1_TOKEN)
            .json(&patient)
            .send()
            .is_err(),
        "the call did not outlast 0.5 s"
    );
    let (status, retried) = code(&server, &ws, patient.clone());
    assert_eq!(status, 200, "{retried}");
    assert_eq!(text_results(&retried), ["1"], "{retried}");
    assert_eq!(
        workspace_sh(&server, OP1_TOKEN, &ws, "cat /workspace/left")["stdout"],
        "x"
    );

    // bash_kernel, with state and an environment of its own.
    let (_, bash) = code(
        &server,
        &ws,
        json!({"language": "bash", "code": "N=20; echo \"$HELLO $((N + 1))\"", "env": {"HELLO": "hi"}}),
    );
    assert_eq!(
        (bash["exitCode"].as_i64(), bash["stdout"].as_str()),
        (Some(0), Some("hi 21\n")),
        "{bash}"
    );
    let (_, bash) = code(
        &server,
        &ws,
        json!({"language": "bash", "code": "echo \"${HELLO:-unset} $N\""}),
    );
    assert_eq!(bash["stdout"], "unset 20\n", "{bash}");

    // TypeScript and JavaScript on tslab: state, types checked, errors
    // (a compile error and a throw) that leave the kernel working, an
    // interrupted loop that keeps the state, the environment of one call,
    // and rich output through tslab's display.
    let ts = |source: &str, extra: Value| {
        let mut body = json!({"language": "typescript", "code": source});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (status, result) = code(&server, &ws, body);
        assert_eq!(status, 200, "{result}");
        result
    };
    let doubled = ts("const n: number = 21; n * 2", json!({}));
    assert_eq!(
        (doubled["exitCode"].as_i64(), doubled["stdout"].as_str()),
        (Some(0), Some("42\n")),
        "{doubled}"
    );
    let typed = ts("const s: string = n", json!({}));
    assert_eq!(
        (typed["exitCode"].as_i64(), typed["error"]["name"].as_str()),
        (Some(1), Some("CompileError")),
        "{typed}"
    );
    assert!(
        typed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Type 'number' is not assignable to type 'string'"),
        "{typed}"
    );
    let thrown = ts("throw new RangeError(`too far: ${n}`)", json!({}));
    assert_eq!(
        (thrown["error"]["name"].as_str(), thrown["error"]["message"].as_str()),
        (Some("RangeError"), Some("too far: 21")),
        "{thrown}"
    );
    assert!(
        thrown["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["type"] == "error"),
        "{thrown}"
    );
    // A burst of output past zeromq.js's 512 immediate sends and past a
    // publisher's high-water mark (1000 messages) arrives whole, right after
    // a failed call too (when it raced the server's reading), and the kernel
    // goes on answering.
    let burst = ts(
        "for (let i = 0; i < 1000; i++) console.log(i)",
        json!({"timeoutMs": 20000}),
    );
    assert_eq!(burst["exitCode"], 0, "{burst}");
    assert_eq!(burst["stdout"].as_str().unwrap().lines().count(), 1000);
    for _ in 0..3 {
        let failed = ts("throw new Error(\"again\")", json!({}));
        assert_eq!(failed["error"]["message"], "again", "{failed}");
        let burst = ts(
            "for (let i = 0; i < 3000; i++) console.log(i)",
            json!({"timeoutMs": 20000}),
        );
        assert_eq!(burst["exitCode"], 0, "{burst}");
        assert_eq!(burst["stdout"].as_str().unwrap().lines().count(), 3000);
    }
    let looped = ts("let spins = 0; while (true) { spins++; }", json!({"timeoutMs": 1000}));
    assert_eq!(looped["exitCode"], 124, "{looped}");
    let after = ts(
        "`${n + 1} ${process.env.GREETING}`",
        json!({"env": {"GREETING": "hello"}}),
    );
    assert_eq!(after["stdout"], "22 hello\n", "{after}");
    let unset = ts("String(process.env.GREETING)", json!({}));
    assert_eq!(unset["stdout"], "undefined\n", "{unset}");
    let html = ts(
        "import * as tslab from \"tslab\"; tslab.display.html(\"<b>hi</b>\")",
        json!({}),
    );
    assert!(
        html["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["type"] == "html" && p["value"] == "<b>hi</b>"),
        "{html}"
    );
    let (_, js) = code(&server, &ws, json!({"language": "node", "code": "const m = 6; m * 7"}));
    assert_eq!(
        (js["exitCode"].as_i64(), js["stdout"].as_str()),
        (Some(0), Some("42\n")),
        "{js}"
    );
    assert_ne!(
        js["kernel"]["id"], doubled["kernel"]["id"],
        "node and typescript share a kernel"
    );

    // The streamed variant: the kernel, then output as the kernel sends it
    // (the first line arrives while the code still sleeps), rich results,
    // then the whole result.
    let response = client()
        .post(format!("{}/v1/workspaces/{ws}/code/stream", server.url))
        .bearer_auth(OP1_TOKEN)
        .json(&json!({"language": "python", "code": "import time\nprint('early', flush=True)\ntime.sleep(2)\nprint('late')\nfrom IPython.display import HTML\nHTML('<i>x</i>')"}))
        .send()
        .expect("stream");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut arrived = Vec::new();
    let mut text = String::new();
    for line in BufReader::new(response).lines() {
        let line = line.expect("an SSE line");
        if let Some(name) = line.strip_prefix("event: ") {
            arrived.push((name.to_owned(), Instant::now()));
        }
        text.push_str(&line);
        text.push('\n');
    }
    let events = parse_sse(&text);
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["started", "stdout", "stdout", "result", "completed"], "{text}");
    let data = |n: usize| serde_json::from_str::<Value>(&events[n].1).expect("JSON data");
    assert_eq!(data(0)["id"], first["kernel"]["id"], "{text}");
    assert_eq!(
        (data(1)["text"].as_str(), data(2)["text"].as_str()),
        (Some("early\n"), Some("late\n"))
    );
    assert_eq!(data(3), json!({"type": "html", "value": "<i>x</i>"}));
    assert_eq!(
        (data(4)["exitCode"].as_i64(), data(4)["stdout"].as_str()),
        (Some(0), Some("early\nlate\n"))
    );
    let early_to_end = arrived[4].1 - arrived[1].1;
    assert!(
        early_to_end >= Duration::from_millis(1500),
        "the first line came with the end: {early_to_end:?}"
    );
    let (status, failed) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/code/stream"),
        Some(OP1_TOKEN),
        Some(json!({"language": "python", "code": "1", "env": {"1BAD": "x"}})),
    );
    assert_eq!(
        (status.as_u16(), failed["code"].as_str()),
        (400, Some("BAD_ENV")),
        "{failed}"
    );

    // The kernel routes: list, interrupt, restart (state gone), shut down.
    let (status, list) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{ws}/kernels"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 200, "{list}");
    let kernels = list["kernels"].as_array().unwrap();
    let mut languages: Vec<&str> = kernels.iter().map(|k| k["language"].as_str().unwrap()).collect();
    languages.sort();
    assert_eq!(languages, ["bash", "node", "python", "python", "typescript"], "{list}");
    assert!(kernels.iter().all(|k| k["state"] == "idle"), "{list}");
    let main = first["kernel"]["id"].as_str().unwrap();
    let path = |tail: &str| format!("/v1/workspaces/{ws}/kernels/{main}{tail}");
    assert_eq!(call(&server, "POST", &path("/interrupt"), Some(OP1_TOKEN), None).0, 204);
    // A restart starts a kernel (as a first call does): the client waits
    // longer than the server gives it.
    let response = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(180))
        .build()
        .expect("client")
        .post(format!("{}{}", server.url, path("/restart")))
        .bearer_auth(OP1_TOKEN)
        .send()
        .expect("a restart");
    let status = response.status();
    let restarted: Value = response.json().unwrap_or(Value::Null);
    assert_eq!(status, 200, "{restarted}");
    assert_ne!(restarted["id"].as_str(), Some(main));
    assert_eq!(python(&server, &ws, "x")["error"]["name"], "NameError");
    let (status, body) = call(&server, "DELETE", &path(""), Some(OP1_TOKEN), None);
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (404, Some("KERNEL_NOT_FOUND")),
        "{body}"
    );
    let fresh = restarted["id"].as_str().unwrap();
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("/v1/workspaces/{ws}/kernels/{fresh}"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 204);

    // A kernel that dies says so, and the next call gets a new one.
    python(&server, &ws, "y = 1");
    let died = python(&server, &ws, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)");
    assert_eq!(
        (died["exitCode"].as_i64(), died["error"]["name"].as_str()),
        (Some(137), Some("KernelDied")),
        "{died}"
    );
    let next = python(&server, &ws, "'y' in dir()");
    assert_eq!(text_results(&next), ["False"]);
    assert_eq!(
        (
            next["kernel"]["started"].as_bool(),
            next["kernel"]["restartReason"].as_str()
        ),
        (Some(true), Some("died")),
        "{next}"
    );

    // Kernels end with the workspace's runtime, and the next call says so.
    let (status, _) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/stop"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 200);
    let (_, list) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{ws}/kernels"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(list["kernels"], json!([]), "{list}");
    let next = python(&server, &ws, "1");
    assert_eq!(
        (
            next["kernel"]["started"].as_bool(),
            next["kernel"]["restartReason"].as_str()
        ),
        (Some(true), Some("workspace-stopped")),
        "{next}"
    );

    // A workspace runs at most 16 kernels; shutting one down makes room.
    let mut opened = Vec::new();
    for n in 1..16 {
        let (status, result) = code(
            &server,
            &ws,
            json!({"language": "bash", "code": "true", "sessionId": format!("cap-{n}")}),
        );
        assert_eq!(status, 200, "kernel {}: {result}", n + 1);
        opened.push(result["kernel"]["id"].as_str().unwrap().to_owned());
    }
    let (status, refused) = code(
        &server,
        &ws,
        json!({"language": "bash", "code": "true", "sessionId": "cap-17"}),
    );
    assert_eq!(
        (status, refused["code"].as_str()),
        (429, Some("TOO_MANY_REQUESTS")),
        "{refused}"
    );
    assert!(refused["error"].as_str().unwrap().contains("16 kernels"), "{refused}");
    for kernel in &opened {
        let (status, _) = call(
            &server,
            "DELETE",
            &format!("/v1/workspaces/{ws}/kernels/{kernel}"),
            Some(OP1_TOKEN),
            None,
        );
        assert_eq!(status, 204);
    }
    let (status, room) = code(
        &server,
        &ws,
        json!({"language": "bash", "code": "true", "sessionId": "cap-17"}),
    );
    assert_eq!(status, 200, "{room}");

    // Bad input is refused with what was wrong.
    let refused = |body: Value, status: u16, code_name: &str| {
        let (got, answer) = code(&server, &ws, body);
        assert_eq!((got, answer["code"].as_str()), (status, Some(code_name)), "{answer}");
    };
    refused(json!({"language": "cobol", "code": "1"}), 422, "BAD_BODY");
    refused(
        json!({"language": "python", "code": "1", "env": {"1BAD": "x"}}),
        400,
        "BAD_ENV",
    );
    refused(
        json!({"language": "python", "code": "x".repeat(3 << 19)}),
        413,
        "CODE_TOO_LARGE",
    );
    refused(
        json!({"language": "python", "code": "1", "sessionId": ""}),
        400,
        "BAD_REQUEST",
    );
    let (status, _) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/code"),
        Some(OP2_TOKEN),
        Some(json!({"language": "python", "code": "1"})),
    );
    assert_eq!(status, 404, "another tenant's workspace");

    // The CLI: tables as tables, images saved, the code's exit status.
    let saved = tempdir();
    let cli = |code: &str| {
        Command::new(env!("CARGO_BIN_EXE_paddock"))
            .args([
                "ws",
                "code",
                &ws,
                code,
                "--url",
                &server.url,
                "--api-key",
                OP1_TOKEN,
                "--save-dir",
            ])
            .arg(saved.path())
            .output()
            .expect("paddock ws code")
    };
    let out = cli(
        "import pandas as pd, matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\npd.DataFrame({'n': [1, 22]})",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("index   n\n    0   1\n    1  22\n"), "{stdout}");
    let images: Vec<_> = std::fs::read_dir(saved.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(images.len(), 1, "{stdout}");
    png_size(&std::fs::read(&images[0]).unwrap());
    let out = cli("raise KeyError('missing')");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("KeyError: 'missing'"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // After a restart of the server the idempotent result is still there
    // and the code does not run again.
    drop(server);
    let server = start(dir.path());
    let (status, again) = code(&server, &ws, counted);
    assert_eq!(status, 200, "{again}");
    assert_eq!(text_results(&again), ["1"], "{again}");
    let counter = workspace_sh(&server, OP1_TOKEN, &ws, "cat /workspace/counter");
    assert_eq!(counter["stdout"], "x", "{counter}");

    // Without a workspace: each call runs in a workspace of its own, taken
    // warm from the tenant's pool and deleted after it.
    let once = |body: Value| {
        let (status, result) = call(&server, "POST", "/v1/code", Some(OP1_TOKEN), Some(body));
        assert_eq!(status, 200, "{result}");
        result
    };
    let one =
        once(json!({"language": "python", "code": "secret = 1\nopen('/workspace/left', 'w').write('x')\nsecret"}));
    assert_eq!(text_results(&one), ["1"], "{one}");
    let used = one["workspaceId"].as_str().unwrap().to_owned();
    // Deleted right after the answer.
    let deadline = Instant::now() + Duration::from_secs(10);
    while call(&server, "GET", &format!("/v1/workspaces/{used}"), Some(OP1_TOKEN), None).0 != 404 {
        assert!(Instant::now() < deadline, "a one-call workspace outlived its call");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The pool refills in the background: a later call finds a warm one
    // (its Python kernel already running).
    let deadline = Instant::now() + Duration::from_secs(60);
    let warm = loop {
        std::thread::sleep(Duration::from_millis(500));
        let next =
            once(json!({"language": "python", "code": "import os\n('secret' in dir(), os.listdir('/workspace'))"}));
        assert_eq!(
            text_results(&next),
            ["(False, [])"],
            "a call saw another's state: {next}"
        );
        if next["kernel"]["started"] == false || Instant::now() > deadline {
            break next;
        }
    };
    assert_eq!(
        warm["kernel"]["started"], false,
        "the pool never had a warm kernel: {warm}"
    );
    assert_ne!(warm["workspaceId"], one["workspaceId"]);
    // A session keeps its workspace and variables; idempotency per session.
    let first_of_session =
        once(json!({"language": "typescript", "code": "let hits: number = 0", "sessionId": "analysis"}));
    let session_ws = first_of_session["workspaceId"].as_str().unwrap().to_owned();
    let keyed =
        json!({"language": "typescript", "code": "hits += 1; hits", "sessionId": "analysis", "idempotencyKey": "k1"});
    assert_eq!(once(keyed.clone())["stdout"], "1\n");
    let repeated = once(keyed);
    assert_eq!(
        (repeated["stdout"].as_str(), repeated["workspaceId"].as_str()),
        (Some("1\n"), Some(session_ws.as_str()))
    );
    assert_eq!(
        once(json!({"language": "typescript", "code": "hits", "sessionId": "analysis"}))["stdout"],
        "1\n"
    );
    let other = once(json!({"language": "typescript", "code": "hits", "sessionId": "other"}));
    assert!(
        other["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Cannot find name 'hits'")),
        "{other}"
    );
    // A session ends on request (its workspace goes), once.
    let other_ws = other["workspaceId"].as_str().unwrap().to_owned();
    let end = |status: u16| {
        let (got, body) = call(&server, "DELETE", "/v1/code/sessions/other", Some(OP1_TOKEN), None);
        assert_eq!(got.as_u16(), status, "{body}");
    };
    end(204);
    end(404);
    let (status, _) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{other_ws}"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 404, "an ended session's workspace is still there");

    // Streamed, and from the CLI.
    let (status, streamed) = call(
        &server,
        "POST",
        "/v1/code/stream",
        Some(OP1_TOKEN),
        Some(json!({"language": "bash", "code": "echo streamed"})),
    );
    assert_eq!(status, 200);
    let events = parse_sse(streamed.as_str().unwrap());
    assert_eq!(
        events.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["started", "stdout", "completed"],
        "{streamed}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args([
            "code",
            "-l",
            "python",
            "print(6 * 7)",
            "--url",
            &server.url,
            "--api-key",
            OP1_TOKEN,
        ])
        .output()
        .expect("paddock code");
    assert_eq!(
        (out.status.code(), String::from_utf8_lossy(&out.stdout).as_ref()),
        (Some(0), "42\n"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A new server deletes the pool workspaces the last one left (their
    // kernels and sessions ended with it).
    drop(server);
    let server = start(dir.path());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, list) = call(&server, "GET", "/v1/workspaces?limit=500", Some(OP1_TOKEN), None);
        let pooled = list["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["label"] == "paddock:code-pool")
            .count();
        if pooled == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{pooled} pool workspaces left: {list}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, _) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{session_ws}"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 404);
}
