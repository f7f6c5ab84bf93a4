//! Code kernels: a warm `1 + 1` through `POST /v1/workspaces/{id}/code` on
//! a real `paddock serve` (a jailed ipykernel, reached through the jail's
//! init), side by side in the same run with jupyter_client driving a local
//! ipykernel outside any jail (`bench/peers/jupyter_client_rtt.py`, the
//! same flavor's Python and ipykernel); the subjects take turns in blocks.
//! And the first call on a new workspace: create, start, kernel start,
//! `1 + 1`; the workspace-less `POST /v1/code` (a warm pool workspace,
//! deleted after the call); and TypeScript on tslab: a warm `1 + 1` and a
//! new kernel's first call.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::http::{post_json, KeepAlive};
use crate::server::{start_paddock, API_KEY};
use crate::{summarize, Row};

const ONE_PLUS_ONE: &str = r#"{"language":"python","code":"1 + 1"}"#;

pub fn rows(paddock: &str, scale: usize, scratch: &Path) -> Result<Vec<Row>> {
    let (_server, addr, _) = start_paddock(paddock, scratch, &[])?;
    let state = scratch.join("serve-state");
    for flavor in ["python-data", "typescript"] {
        let installed = Command::new(paddock)
            .args(["flavors", "install", flavor, "--state-dir"])
            .arg(&state)
            .status()
            .context("paddock flavors install")?;
        if !installed.success() {
            bail!("paddock flavors install {flavor} failed");
        }
    }
    let python = state.join("flavors/python-data/bin/python3");
    let peer = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/jupyter_client_rtt.py");

    let mut client = KeepAlive::connect(addr)?;
    let workspace = new_workspace(&mut client)?;
    let code = post_json(&format!("/v1/workspaces/{workspace}/code"), Some(API_KEY), ONE_PLUS_ONE);
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for round in 0..scale {
        let warm = if round == 0 { 50 } else { 0 };
        for _ in 0..warm {
            check(&client.call(&code)?)?;
        }
        for _ in 0..200 {
            let start = Instant::now();
            let answer = client.call(&code)?;
            ours.push(start.elapsed());
            check(&answer)?;
        }
        let out = Command::new(&python)
            .arg(&peer)
            .args([warm.to_string(), "200".into()])
            .output()
            .context("running the jupyter_client peer")?;
        if !out.status.success() {
            bail!("jupyter_client peer: {}", String::from_utf8_lossy(&out.stderr));
        }
        let seconds: Vec<f64> = serde_json::from_slice(&out.stdout).context("the peer's samples")?;
        theirs.extend(seconds.into_iter().map(Duration::from_secs_f64));
    }

    // The workspace-less call: a pool workspace taken warm, the call, its
    // delete. Calls are 2 s apart, so the pool (2 per tenant) has made
    // the next warm workspace: the figure is the warm path a caller at
    // that rate gets.
    let mut pooled = Vec::new();
    // The tenant's first call makes its pool.
    check(&client.call(&post_json("/v1/code", Some(API_KEY), ONE_PLUS_ONE))?)?;
    for _ in 0..10 * scale {
        std::thread::sleep(Duration::from_secs(2));
        let start = Instant::now();
        let answer = client.call(&post_json("/v1/code", Some(API_KEY), ONE_PLUS_ONE))?;
        pooled.push(start.elapsed());
        check(&answer)?;
        if !answer.contains(r#""started":false"#) {
            bail!("a POST /v1/code call 2 s after the last found no warm kernel: {answer}");
        }
    }

    // TypeScript on tslab: a warm `1 + 1` (tslab type-checks each cell),
    // and a new kernel's first call.
    let typescript = post_json(
        &format!("/v1/workspaces/{workspace}/code"),
        Some(API_KEY),
        r#"{"language":"typescript","code":"1 + 1"}"#,
    );
    let mut ts_first = Vec::new();
    let mut ts_warm = Vec::new();
    for round in 0..3 * scale {
        let session = format!(r#"{{"language":"typescript","code":"1 + 1","sessionId":"ts-{round}"}}"#);
        let start = Instant::now();
        let answer = client.call(&post_json(
            &format!("/v1/workspaces/{workspace}/code"),
            Some(API_KEY),
            &session,
        ))?;
        ts_first.push(start.elapsed());
        check_stdout(&answer)?;
        // One tslab at a time: each holds about 145 MiB of the workspace.
        let kernel: Value = serde_json::from_str(&answer)?;
        let kernel = kernel["kernel"]["id"].as_str().context("kernel id")?;
        client.call(&crate::http::request(
            "DELETE",
            &format!("/v1/workspaces/{workspace}/kernels/{kernel}"),
            Some(API_KEY),
            "application/json",
            b"",
        ))?;
    }
    for _ in 0..100 * scale {
        let start = Instant::now();
        let answer = client.call(&typescript)?;
        ts_warm.push(start.elapsed());
        check_stdout(&answer)?;
    }

    // First call on a new workspace: everything a caller waits for.
    let mut first = Vec::new();
    for _ in 0..3 * scale {
        let start = Instant::now();
        let workspace = new_workspace(&mut client)?;
        let answer = client.call(&post_json(
            &format!("/v1/workspaces/{workspace}/code"),
            Some(API_KEY),
            ONE_PLUS_ONE,
        ))?;
        first.push(start.elapsed());
        check(&answer)?;
        client.call(&request_delete(&workspace))?;
    }
    Ok(vec![
        summarize(
            "code `1 + 1`, warm kernel",
            "paddock API (jailed ipykernel)",
            ours,
            None,
            "one keep-alive client",
        ),
        summarize(
            "code `1 + 1`, warm kernel",
            "jupyter_client → local ipykernel",
            theirs,
            None,
            "no jail, no HTTP",
        ),
        summarize(
            "code: create workspace + first `1 + 1`",
            "paddock API (jailed ipykernel)",
            first,
            None,
            "workspace, runtime jail and kernel start",
        ),
        summarize(
            "code: POST /v1/code `1 + 1` (no workspace)",
            "paddock API (warm pool workspace)",
            pooled,
            None,
            "taken warm, deleted after; 2 s apart",
        ),
        summarize(
            "code `1 + 1`, warm TypeScript kernel",
            "paddock API (jailed tslab)",
            ts_warm,
            None,
            "type-checked, then run",
        ),
        summarize(
            "code: new TypeScript kernel + first `1 + 1`",
            "paddock API (jailed tslab)",
            ts_first,
            None,
            "tslab start in a running workspace",
        ),
    ])
}

fn new_workspace(client: &mut KeepAlive) -> Result<String> {
    let created: Value = serde_json::from_str(&client.call(&post_json(
        "/v1/workspaces",
        Some(API_KEY),
        r#"{"flavors":["python-data","typescript"],"memory_mb":1024}"#,
    ))?)?;
    Ok(created["id"].as_str().context("workspace id")?.to_owned())
}

fn request_delete(workspace: &str) -> Vec<u8> {
    crate::http::request(
        "DELETE",
        &format!("/v1/workspaces/{workspace}"),
        Some(API_KEY),
        "application/json",
        b"",
    )
}

/// tslab prints the last expression's value.
fn check_stdout(answer: &str) -> Result<()> {
    if !answer.contains(r#""exitCode":0"#) || !answer.contains(r#""stdout":"2\n""#) {
        bail!("unexpected code answer: {answer}");
    }
    Ok(())
}

fn check(answer: &str) -> Result<()> {
    if !answer.contains(r#""results":[{"type":"text","value":"2"}]"#) {
        bail!("unexpected code answer: {answer}");
    }
    Ok(())
}
