//! The tenant storage budget (issue 14, finding 2; threat-model row 51):
//! bytes copied by snapshots and forks count against their tenant, so one
//! tenant cannot fill the state disk with copies of its workspaces. Against
//! the real `paddock serve` with `--tenant-storage 16m`: a tenant's
//! snapshots and forks are charged what they store (holes free), the one
//! that would pass the budget answers 507 `STORAGE_BUDGET` and leaves
//! nothing behind (its snapshot is taken back), another tenant is
//! unaffected, deleting gives the bytes back, and the charges survive a
//! restart.

use std::path::Path;

use serde_json::{json, Value};

mod support;

use support::*;

const MIB: i64 = 1 << 20;

fn start(dir: &Path) -> Server {
    Server::start(dir, &[("PADDOCK_API_KEYS", &keys())], &["--tenant-storage", "16m"])
}

fn new_workspace(server: &Server, token: &str, body: Value) -> (u16, Value) {
    let (status, ws) = call(server, "POST", "/v1/workspaces", Some(token), Some(body));
    (status.as_u16(), ws)
}

/// A workspace of `token`'s tenant holding `mib` MiB of random data and a
/// 4 GiB file of holes.
fn filled_workspace(server: &Server, token: &str, mib: u64) -> String {
    let (status, ws) = new_workspace(server, token, json!({}));
    assert_eq!(status, 201, "{ws}");
    let ws = id(&ws);
    let result = workspace_sh(
        server,
        token,
        &ws,
        &format!("head -c {mib}M /dev/urandom > data && truncate -s 4G holes && wc -c < data"),
    );
    assert_eq!(result["exit_code"], 0, "{result}");
    ws
}

fn snapshot(server: &Server, token: &str, ws: &str) -> (u16, Value) {
    let (status, snap) = call(
        server,
        "POST",
        &format!("/v1/workspaces/{ws}/snapshot"),
        Some(token),
        Some(json!({})),
    );
    (status.as_u16(), snap)
}

fn fork(server: &Server, token: &str, ws: &str, count: u32) -> (u16, Value) {
    let (status, body) = call(
        server,
        "POST",
        &format!("/v1/workspaces/{ws}/fork"),
        Some(token),
        Some(json!({"count": count})),
    );
    (status.as_u16(), body)
}

/// Checks that `token`'s tenant holds `mib` MiB of its storage budget
/// (MiB rounded up, so one more when file-system blocks add a little).
fn assert_in_use(server: &Server, token: &str, mib: i64) {
    let (status, me) = call(server, "GET", "/v1/whoami", Some(token), None);
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["storage"]["storage_mb"], 16, "{me}");
    let used = me["storage"]["storage_in_use_mb"].as_i64().unwrap();
    assert!(used == mib || used == mib + 1, "expected {mib} MiB in use: {me}");
}

/// How many snapshots and workspaces `token`'s tenant has.
fn counts(server: &Server, token: &str) -> (i64, i64) {
    let total = |path: &str| {
        let (status, list) = call(server, "GET", path, Some(token), None);
        assert_eq!(status, 200, "{list}");
        list["total"].as_i64().unwrap()
    };
    (total("/v1/snapshots"), total("/v1/workspaces"))
}

fn assert_over_budget(status: u16, body: &Value) {
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["code"], "STORAGE_BUDGET", "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("--tenant-storage"), "{message}");
}

#[test]
fn row51_snapshots_and_forks_count_against_their_tenant() {
    let dir = tempdir();
    let server = start(dir.path());
    assert_in_use(&server, OP1_TOKEN, 0);

    // A snapshot is charged its stored bytes: 6 MiB of data, and nothing
    // for 4 GiB of holes (a budget of 16 MiB would refuse them at once).
    let ws = filled_workspace(&server, OP1_TOKEN, 6);
    let (status, snap) = snapshot(&server, OP1_TOKEN, &ws);
    assert_eq!(status, 201, "{snap}");
    let stored = snap["stored_bytes"].as_i64().unwrap();
    assert!((6 * MIB..7 * MIB).contains(&stored), "{snap}");
    assert_in_use(&server, OP1_TOKEN, 6);

    // Forking twice needs the fork's snapshot and two copies: 6 + 12 MiB
    // on top of the 6 held. Refused, and the fork's snapshot is taken
    // back: nothing is left charged or listed.
    let before = counts(&server, OP1_TOKEN);
    let (status, body) = fork(&server, OP1_TOKEN, &ws, 2);
    assert_over_budget(status, &body);
    assert_eq!(counts(&server, OP1_TOKEN), before);
    assert_in_use(&server, OP1_TOKEN, 6);

    // Another tenant's copies are its own business.
    let theirs = filled_workspace(&server, OP2_TOKEN, 6);
    let (status, body) = fork(&server, OP2_TOKEN, &theirs, 1);
    assert_eq!(status, 201, "{body}");
    assert_in_use(&server, OP2_TOKEN, 12);

    // Deleting the snapshot gives its bytes back; one fork then fits
    // (its snapshot and its copy: 12 MiB).
    let (status, body) = call(
        &server,
        "DELETE",
        &format!("/v1/snapshots/{}", id(&snap)),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 204, "{body}");
    assert_in_use(&server, OP1_TOKEN, 0);
    let (status, forked) = fork(&server, OP1_TOKEN, &ws, 1);
    assert_eq!(status, 201, "{forked}");
    assert_in_use(&server, OP1_TOKEN, 12);
    let child = id(&forked["forks"][0]);
    let fork_snapshot = forked["snapshot_id"].as_str().unwrap().to_owned();

    // A snapshot or a workspace from a snapshot that would pass it is
    // refused the same way (18 MiB), and leaves nothing.
    let before = counts(&server, OP1_TOKEN);
    let (status, body) = snapshot(&server, OP1_TOKEN, &child);
    assert_over_budget(status, &body);
    let (status, body) = call(
        &server,
        "POST",
        "/v1/workspaces/from-snapshot",
        Some(OP1_TOKEN),
        Some(json!({"snapshot_id": fork_snapshot, "parent_workspace_id": ws})),
    );
    assert_over_budget(status.as_u16(), &body);
    assert_eq!(counts(&server, OP1_TOKEN), before);

    // A disk limit is charged whole: its jails may fill it.
    let (status, body) = new_workspace(&server, OP1_TOKEN, json!({"disk_mb": 64}));
    if is_root() {
        assert_over_budget(status, &body);
    } else {
        // Rootless servers have no disk limits at all.
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("BAD_LIMIT")),
            "{body}"
        );
    }
    assert_eq!(counts(&server, OP1_TOKEN), before);

    // The charges are stored: a restart finds them.
    drop(server);
    let server = start(dir.path());
    assert_in_use(&server, OP1_TOKEN, 12);
    assert_in_use(&server, OP2_TOKEN, 12);
    let (status, body) = fork(&server, OP1_TOKEN, &ws, 1);
    assert_over_budget(status, &body);

    // Deleting the fork gives its copy back.
    let (status, body) = call(
        &server,
        "DELETE",
        &format!("/v1/workspaces/{child}"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 204, "{body}");
    assert_in_use(&server, OP1_TOKEN, 6);
}
