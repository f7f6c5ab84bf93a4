//! Sparse files cannot fill the host disk through snapshots, restores and
//! forks (issue 14, finding 2; threat-model row 32): a jail makes a 4 GiB
//! file with `truncate -s 4G` (costing nothing) and writes a few bytes
//! inside it; a snapshot, a restore, a workspace fork ×2 and `runs/fork`
//! ×2 each keep it sparse, so the state directory's allocated bytes (`du`:
//! the sum of `st_blocks` × 512) grow by a few MiB where a plain copy
//! would write 4 GiB each time, and the bytes inside the holes read back
//! the same everywhere. Each step is checked before the next, so without
//! the protection the test fails at the first copy (having written one
//! file's worth) rather than filling the disk.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::json;

mod support;

use support::*;

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;
/// Apparent size of the sparse file.
const BIG: u64 = 4 * GIB;
/// Growth of the state directory allowed per step: room for the
/// database, its journal and the data blocks written, far below `BIG`.
const SLACK: u64 = 64 * MIB;
/// Offsets (a byte into the second GiB, the last bytes) and what is
/// written there.
const MIDDLE_AT: u64 = GIB + 7;
const TAIL_AT: u64 = BIG - 4;

/// Makes `path` (in the jail) a sparse `BIG`-byte file with `HEAD` at 0,
/// `MIDDLE` at `MIDDLE_AT` and `TAIL` at the end.
fn make_sparse(path: &str) -> String {
    format!(
        "truncate -s {BIG} {path} && printf HEAD | dd of={path} conv=notrunc status=none \
         && printf MIDDLE | dd of={path} bs=1 seek={MIDDLE_AT} conv=notrunc status=none \
         && printf TAIL | dd of={path} bs=1 seek={TAIL_AT} conv=notrunc status=none"
    )
}

/// Prints `path`'s apparent size, its allocated bytes, and the three marks.
fn read_back(path: &str) -> String {
    format!(
        "stat -c '%s %b %B' {path}; dd if={path} bs=4 count=1 status=none; echo; \
         dd if={path} bs=1 skip={MIDDLE_AT} count=6 status=none; echo; \
         dd if={path} bs=1 skip={TAIL_AT} count=4 status=none; echo"
    )
}

/// Checks what [`read_back`] printed: the size, a sparse allocation, the marks.
fn check_read_back(what: &str, out: &str) {
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{what}: {out:?}");
    let stat: Vec<u64> = lines[0].split(' ').map(|n| n.parse().unwrap()).collect();
    assert_eq!(stat[0], BIG, "{what}: apparent size");
    let allocated = stat[1] * stat[2];
    assert!(
        allocated < MIB,
        "{what}: the jail sees {allocated} bytes allocated for a sparse {BIG}-byte file (copied at full size)"
    );
    assert_eq!(&lines[1..], ["HEAD", "MIDDLE", "TAIL"], "{what}: the data in the holes");
}

/// Allocated bytes under `path`, as `du` counts them.
fn allocated(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0; // removed meanwhile
    };
    let mut sum = meta.blocks() * 512;
    if meta.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            sum += entries.flatten().map(|e| allocated(&e.path())).sum::<u64>();
        }
    }
    sum
}

fn sh(server: &Server, ws: &str, script: &str) -> String {
    let result = workspace_sh(server, OP1_TOKEN, ws, script);
    assert_eq!(result["exit_code"], 0, "{result}");
    result["stdout"].as_str().unwrap().to_owned()
}

/// Runs `step`, then asserts the state directory grew by less than
/// [`SLACK`].
fn bounded<T>(state: &Path, what: &str, step: impl FnOnce() -> T) -> T {
    let before = allocated(state);
    let out = step();
    let grew = allocated(state).saturating_sub(before);
    assert!(
        grew < SLACK,
        "{what} grew the state directory by {} MiB for a sparse {} GiB file",
        grew / MIB,
        BIG / GIB
    );
    eprintln!("FIGURE sparse_{}_grew_kib={}", what.replace(' ', "_"), grew >> 10);
    out
}

#[test]
fn row32_sparse_files_cost_snapshots_restores_and_workspace_forks_no_disk() {
    let dir = tempdir();
    let state = dir.path();
    let server = Server::with_keys(state);
    let (status, ws) = call(&server, "POST", "/v1/workspaces", Some(OP1_TOKEN), Some(json!({})));
    assert_eq!(status, 201, "{ws}");
    let ws = id(&ws);
    bounded(state, "truncate", || sh(&server, &ws, &make_sparse("big")));
    check_read_back("the workspace", &sh(&server, &ws, &read_back("big")));

    let snap = bounded(state, "snapshot", || {
        let (status, snap) = call(
            &server,
            "POST",
            &format!("/v1/workspaces/{ws}/snapshot"),
            Some(OP1_TOKEN),
            Some(json!({"name": "sparse"})),
        );
        assert_eq!(status, 201, "{snap}");
        id(&snap)
    });

    let restored = bounded(state, "restore", || {
        let (status, restored) = call(
            &server,
            "POST",
            "/v1/workspaces/from-snapshot",
            Some(OP1_TOKEN),
            Some(json!({"snapshot_id": snap, "parent_workspace_id": ws})),
        );
        assert_eq!(status, 201, "{restored}");
        id(&restored)
    });
    check_read_back("the restored workspace", &sh(&server, &restored, &read_back("big")));

    let forks = bounded(state, "fork", || {
        let (status, forked) = call(
            &server,
            "POST",
            &format!("/v1/workspaces/{ws}/fork"),
            Some(OP1_TOKEN),
            Some(json!({"count": 2})),
        );
        assert_eq!(status, 201, "{forked}");
        forked["forks"].as_array().unwrap().iter().map(id).collect::<Vec<_>>()
    });
    assert_eq!(forks.len(), 2);
    for fork in &forks {
        check_read_back("a forked workspace", &sh(&server, fork, &read_back("big")));
    }
    // The parent's file is untouched, and the host sees the same sparse
    // files the jails do.
    check_read_back("the parent after forking", &sh(&server, &ws, &read_back("big")));
    for w in [&ws, &restored, &forks[0], &forks[1]] {
        let tree = state.join("workspaces").join(w).join("tree/big");
        let meta = std::fs::metadata(&tree).unwrap();
        assert_eq!(meta.len(), BIG);
        assert!(
            meta.blocks() * 512 < MIB,
            "{}: {} blocks",
            tree.display(),
            meta.blocks()
        );
    }
}

#[test]
fn row32_run_fork_copies_of_a_sparse_output_stay_sparse() {
    let dir = tempdir();
    let state = dir.path();
    let server = Server::with_keys(state);
    // The children measure their copy themselves: it lives only while
    // the fork runs.
    let parent = format!("{} && sleep 3; echo parent-done", make_sparse("/output/big"));
    let child = read_back("/output/big");
    let (status, result) = bounded(state, "run fork", || {
        call(
            &server,
            "POST",
            "/v1/runs/fork",
            Some(OP1_TOKEN),
            Some(json!({
                "language": "bash",
                "parent_code": parent,
                "fork_after_ms": 1500,
                "children": [{"code": child}, {"code": child}],
                "timeout_secs": 30
            })),
        )
    });
    assert_eq!(status, 201, "{result}");
    assert_eq!(result["parent"]["stdout"], "parent-done\n", "{result}");
    for (i, meta) in result["forks"].as_array().unwrap().iter().enumerate() {
        assert_eq!(meta["was_frozen"], true, "{meta}");
        assert_eq!(meta["bytes_cloned"], BIG, "{meta}");
        let child = &result["children"][i];
        assert_eq!(child["exit_code"], 0, "{child}");
        check_read_back(&format!("run fork child {i}"), child["stdout"].as_str().unwrap());
    }
}
