//! A workspace's disk limit (issue 14, finding 2; threat-model row 32):
//! its tree lives on a file system of the limit's size, so a jail that
//! writes without end fills its own workspace and nothing else. Through the
//! real server, as root: the limit holds for execs and the file API, the
//! host's disk grows by at most the limit, another workspace keeps
//! writing, and the limit follows the workspace through forks, an idle
//! pause and resume, a host restart (volume unmounted) and deletion.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod support;

use support::*;

const MIB: u64 = 1 << 20;

fn start(dir: &Path) -> Server {
    Server::start(
        dir,
        &[("PADDOCK_API_KEYS", &keys())],
        &["--workspace-disk", "48m", "--maintenance-interval", "200ms"],
    )
}

fn create(server: &Server, body: Value) -> Value {
    let (status, ws) = call(server, "POST", "/v1/workspaces", Some(OP1_TOKEN), Some(body));
    assert_eq!(status, 201, "{ws}");
    ws
}

/// `sh -c script` in workspace `ws`: (exit code, stdout, stderr).
fn sh(server: &Server, ws: &str, script: &str) -> (i64, String, String) {
    let result = workspace_sh(server, OP1_TOKEN, ws, script);
    (
        result["exit_code"].as_i64().unwrap(),
        result["stdout"].as_str().unwrap().to_owned(),
        result["stderr"].as_str().unwrap().to_owned(),
    )
}

fn workspace(server: &Server, ws: &str) -> Value {
    let (status, row) = call(server, "GET", &format!("/v1/workspaces/{ws}"), Some(OP1_TOKEN), None);
    assert_eq!(status, 200, "{row}");
    row
}

/// Bytes allocated under `dir` (what the host's disk pays).
fn allocated(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            // The volumes' contents are counted through their images.
            if meta.is_dir() && meta.dev() == dir.symlink_metadata().unwrap().dev() {
                stack.push(entry.path());
            } else if meta.is_file() {
                total += meta.blocks() * 512;
            }
        }
    }
    total
}

/// The mounts under `dir` in this namespace.
fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| Path::new(point).starts_with(&dir))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_workspace_fills_its_own_disk_and_nothing_else() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: disk limits need root (loop-mounted file systems)");
        return;
    }
    let dir = tempdir();
    let server = start(dir.path());

    // Refused clearly: too small a limit.
    let (status, body) = call(
        &server,
        "POST",
        "/v1/workspaces",
        Some(OP1_TOKEN),
        Some(json!({"disk_mb": 4})),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "BAD_LIMIT", "{body}");
    assert!(body["error"].as_str().unwrap().contains("disk_mb"), "{body}");

    // The server's default, and an explicit limit.
    let full = create(&server, json!({"label": "full"}));
    assert_eq!(full["config"]["disk_mb"], 48, "{full}");
    let full = id(&full);
    let other = id(&create(&server, json!({"disk_mb": 32})));
    assert_eq!(workspace(&server, &other)["config"]["disk_mb"], 32);

    // Writing without end fills the workspace's own file system only.
    let before = allocated(dir.path());
    let (code, _, stderr) = sh(&server, &full, "echo kept > marker; head -c 200M /dev/urandom > big");
    assert_ne!(code, 0, "200 MiB fit in a 48 MiB workspace");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    let grown = allocated(dir.path()).saturating_sub(before);
    assert!(grown <= 56 * MIB, "the host's disk grew by {} MiB", grown / MIB);
    let used = workspace(&server, &full)["disk_used_mb"].as_u64().unwrap();
    assert!((40..=48).contains(&used), "disk_used_mb {used}");
    // A sparse file costs nothing, and holes are not space.
    let (code, _, stderr) = sh(&server, &full, "truncate -s 4G sparse && ls -l sparse | cut -d' ' -f5");
    assert_eq!(code, 0, "{stderr}");

    // The file API says so too, and keeps the workspace consistent.
    let response = client()
        .put(format!("{}/v1/workspaces/{full}/runtime/v1/fs/file", server.url))
        .bearer_auth(OP1_TOKEN)
        .query(&[("path", "upload.bin")])
        .body(vec![7u8; 4 << 20])
        .send()
        .unwrap();
    assert_eq!(response.status(), 507);
    let text = response.text().unwrap();
    assert!(text.contains("no space left"), "{text}");

    // Another workspace is unaffected.
    let (code, _, stderr) = sh(&server, &other, "head -c 8M /dev/urandom > data && wc -c < data");
    assert_eq!(code, 0, "{stderr}");

    // Freeing space makes the workspace usable again.
    let (code, out, stderr) = sh(
        &server,
        &full,
        "rm big && head -c 4M /dev/urandom > again && cat marker",
    );
    assert_eq!((code, out.as_str()), (0, "kept\n"), "{stderr}");

    // A fork has the same limit and the same tree.
    let (status, forked) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{full}/fork"),
        Some(OP1_TOKEN),
        Some(json!({"count": 1})),
    );
    assert_eq!(status, 201, "{forked}");
    let fork = id(&forked["forks"][0]);
    assert_eq!(forked["forks"][0]["config"]["disk_mb"], 48);
    let (code, out, _) = sh(
        &server,
        &fork,
        "cat marker; head -c 100M /dev/urandom > big 2>/dev/null; echo $?",
    );
    assert_eq!((code, out.as_str()), (0, "kept\n1\n"), "the fork's limit");

    // A host restart: the volume is not mounted any more; the server
    // mounts it again.
    drop(server);
    for point in mounts_under(dir.path()) {
        let status = std::process::Command::new("umount").arg(&point).status().unwrap();
        assert!(status.success(), "umount {point}");
    }
    let server = start(dir.path());
    let (code, out, _) = sh(
        &server,
        &full,
        "cat marker; head -c 100M /dev/urandom > big 2>/dev/null; echo $?; rm -f big",
    );
    assert_eq!((code, out.as_str()), (0, "kept\n1\n"), "the limit after a restart");

    // An idle pause takes the volume away; the next exec brings it back,
    // limit included.
    let paused = id(&create(&server, json!({"idle_timeout_secs": 1, "disk_mb": 24})));
    sh(&server, &paused, "echo before-pause > note");
    let volume = dir.path().join("workspaces").join(&paused).join("volume.img");
    let deadline = Instant::now() + Duration::from_secs(20);
    while volume.exists() || workspace(&server, &paused)["paused_at"].is_null() {
        assert!(
            Instant::now() < deadline,
            "the workspace was not paused with its volume removed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, out, _) = sh(
        &server,
        &paused,
        "cat note; head -c 64M /dev/urandom > big 2>/dev/null; echo $?",
    );
    assert_eq!((code, out.as_str()), (0, "before-pause\n1\n"), "after the resume");
    assert!(volume.exists());

    // Deleting a workspace leaves no mount and no image.
    for ws in [&full, &other, &fork, &paused] {
        let (status, _) = call(
            &server,
            "DELETE",
            &format!("/v1/workspaces/{ws}"),
            Some(OP1_TOKEN),
            None,
        );
        assert_eq!(status, 204);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !mounts_under(dir.path()).is_empty() {
        assert!(Instant::now() < deadline, "mounts left: {:?}", mounts_under(dir.path()));
        std::thread::sleep(Duration::from_millis(100));
    }
}
