//! Sparse files cost snapshots CPU in proportion to their apparent size
//! (issue 14; threat-model row 32): `truncate -s 8T` in a workspace costs
//! nothing to make, but a snapshot that hashed its holes as the zeros they
//! read as would hash 8 TiB (hours of CPU). Against the real `paddock
//! serve`, the snapshot of such a file takes seconds, its restore is exact
//! and still sparse, and the workspace stays usable. (ext4 allows a file
//! of 16 TiB less a block: 8 TiB fits every usual state directory.)

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod support;

use support::*;

const TIB: u64 = 1 << 40;
const MIB: u64 = 1 << 20;
/// Apparent size of the sparse file.
const BIG: u64 = 8 * TIB;
/// Offsets of the marks written inside it (a byte into the fourth TiB,
/// the last bytes).
const MIDDLE_AT: u64 = 3 * TIB + 7;
const TAIL_AT: u64 = BIG - 4;
/// Longest a snapshot may take (generous for a loaded two-core machine:
/// it takes well under a second).
const SNAPSHOT_BOUND: Duration = Duration::from_secs(30);

fn sh(server: &Server, ws: &str, script: &str) -> String {
    let result = workspace_sh(server, OP1_TOKEN, ws, script);
    assert_eq!(result["exit_code"], 0, "{result}");
    result["stdout"].as_str().unwrap().to_owned()
}

/// Prints `path`'s apparent size, its allocated bytes, and the three marks.
fn read_back(path: &str) -> String {
    format!(
        "stat -c '%s %b %B' {path}; dd if={path} bs=4 count=1 status=none; echo; \
         dd if={path} bs=1 skip={MIDDLE_AT} count=6 status=none; echo; \
         dd if={path} bs=1 skip={TAIL_AT} count=4 status=none; echo; \
         dd if={path} bs=4096 skip=$(({BIG} / 2 / 4096)) count=1 status=none | tr -d '\\000' | wc -c"
    )
}

fn check_read_back(what: &str, out: &str) {
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{what}: {out:?}");
    let stat: Vec<u64> = lines[0].split(' ').map(|n| n.parse().unwrap()).collect();
    assert_eq!(stat[0], BIG, "{what}: apparent size");
    let allocated = stat[1] * stat[2];
    assert!(
        allocated < MIB,
        "{what}: {allocated} bytes allocated for a sparse {BIG}-byte file"
    );
    assert_eq!(
        &lines[1..4],
        ["HEAD", "MIDDLE", "TAIL"],
        "{what}: the data in the holes"
    );
    // A hole's 4 KiB read back: no byte but zero.
    assert_eq!(lines[4].trim(), "0", "{what}: a hole reads as zeros");
}

#[test]
fn row32_a_snapshot_of_an_8_tib_sparse_file_takes_seconds_and_restores_exact_and_sparse() {
    let dir = tempdir();
    let state = dir.path();
    let server = Server::with_keys(state);
    let (status, ws) = call(&server, "POST", "/v1/workspaces", Some(OP1_TOKEN), Some(json!({})));
    assert_eq!(status, 201, "{ws}");
    let ws = id(&ws);
    sh(
        &server,
        &ws,
        &format!(
            "truncate -s {BIG} big && printf HEAD | dd of=big conv=notrunc status=none \
             && printf MIDDLE | dd of=big bs=1 seek={MIDDLE_AT} conv=notrunc status=none \
             && printf TAIL | dd of=big bs=1 seek={TAIL_AT} conv=notrunc status=none"
        ),
    );
    check_read_back("the workspace", &sh(&server, &ws, &read_back("big")));

    // The snapshot, bounded by the client: without the protection it
    // hashes 8 TiB of zeros for hours.
    let started = Instant::now();
    let response = reqwest::blocking::Client::builder()
        .timeout(SNAPSHOT_BOUND + Duration::from_secs(10))
        .build()
        .unwrap()
        .post(format!("{}/v1/workspaces/{ws}/snapshot", server.url))
        .bearer_auth(OP1_TOKEN)
        .json(&json!({"name": "huge"}))
        .send();
    let took = started.elapsed();
    eprintln!("FIGURE sparse_8tib_snapshot_through_the_api_ms={}", took.as_millis());
    let response =
        response.unwrap_or_else(|e| panic!("the snapshot of an 8 TiB sparse file did not answer in {took:?}: {e}"));
    let status = response.status();
    let snap: Value = response.json().unwrap();
    assert_eq!(status, 201, "{snap}");
    assert!(
        took < SNAPSHOT_BOUND,
        "the snapshot of an 8 TiB sparse file took {took:?}"
    );
    let snap = id(&snap);

    let started = Instant::now();
    let (status, restored) = call(
        &server,
        "POST",
        "/v1/workspaces/from-snapshot",
        Some(OP1_TOKEN),
        Some(json!({"snapshot_id": snap, "parent_workspace_id": ws})),
    );
    assert_eq!(status, 201, "{restored}");
    eprintln!("FIGURE sparse_8tib_restore_ms={}", started.elapsed().as_millis());
    let restored = id(&restored);
    check_read_back("the restored workspace", &sh(&server, &restored, &read_back("big")));
    let tree = state.join("workspaces").join(&restored).join("tree/big");
    let meta = std::fs::metadata(&tree).unwrap();
    assert_eq!(meta.len(), BIG);
    assert!(
        meta.blocks() * 512 < MIB,
        "{}: {} blocks",
        tree.display(),
        meta.blocks()
    );

    // The workspace goes on: written to, and snapshotted again.
    assert_eq!(sh(&server, &ws, "echo more >> notes && cat notes"), "more\n");
    let started = Instant::now();
    let (status, again) = call(
        &server,
        "POST",
        &format!("/v1/workspaces/{ws}/snapshot"),
        Some(OP1_TOKEN),
        Some(json!({"name": "again"})),
    );
    assert_eq!(status, 201, "{again}");
    assert!(started.elapsed() < SNAPSHOT_BOUND);
}
