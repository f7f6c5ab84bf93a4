//! Code kernels: a warm `1 + 1` through `POST /v1/workspaces/{id}/code` on
//! a real `paddock serve` (a jailed ipykernel, reached through the jail's
//! init), side by side in the same run with jupyter_client driving a local
//! ipykernel outside any jail (`bench/peers/jupyter_client_rtt.py`, the
//! same flavor's Python and ipykernel); the subjects take turns in blocks.
//! And the first call on a new workspace: create, start, kernel start,
//! `1 + 1`.

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
    let installed = Command::new(paddock)
        .args(["flavors", "install", "python-data", "--state-dir"])
        .arg(&state)
        .status()
        .context("paddock flavors install")?;
    if !installed.success() {
        bail!("paddock flavors install python-data failed");
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
    ])
}

fn new_workspace(client: &mut KeepAlive) -> Result<String> {
    let created: Value = serde_json::from_str(&client.call(&post_json(
        "/v1/workspaces",
        Some(API_KEY),
        r#"{"flavors":["python-data"]}"#,
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

fn check(answer: &str) -> Result<()> {
    if !answer.contains(r#""results":[{"type":"text","value":"2"}]"#) {
        bail!("unexpected code answer: {answer}");
    }
    Ok(())
}
