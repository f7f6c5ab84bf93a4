//! A tenant cannot spend the server's or another tenant's per-user kernel
//! budgets (issue 14, finding 1; threat-model row 31). Root-mode jails used
//! to be the host's uid 0, the server's own user: one that opened its 128
//! inotify instances left none to the server or to anyone else's jail.
//! Through the real server: tenant one's run opens inotify instances until
//! the kernel refuses and holds them; meanwhile the server's user (this
//! test runs as root, like the server) and tenant two's run still get
//! theirs, and the API answers.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use serde_json::json;

mod support;

use support::*;

/// Opens inotify instances until refused, prints how many, holds them.
const HOG: &str = "import ctypes, time\n\
libc = ctypes.CDLL(None)\n\
held = []\n\
while len(held) < 4096 and libc.inotify_init1(0) >= 0:\n    held.append(1)\n\
print(len(held), flush=True)\n\
time.sleep(6)\n";

/// How many inotify instances this process may open (at most 64).
fn inotify_instances_here() -> usize {
    let mut opened = Vec::new();
    while opened.len() < 64 {
        // SAFETY: inotify_init1 returns a descriptor or -1.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        if fd < 0 {
            break;
        }
        opened.push(fd);
    }
    let count = opened.len();
    for fd in opened {
        // SAFETY: closing descriptors opened above.
        unsafe { libc::close(fd) };
    }
    count
}

#[test]
fn row31_a_tenant_that_exhausts_a_per_user_budget_leaves_the_server_and_other_tenants_theirs() {
    if !is_root() {
        eprintln!("skipped: root-mode jails need root (rootless jails are the caller's own user)");
        return;
    }
    let limit: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_instances")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        limit < 1000,
        "fs.inotify.max_user_instances is {limit} here: a jail runs out of files first, so the attack cannot be shown"
    );
    // What the server's user can open before the attack (its own daemons
    // may hold some).
    let baseline = inotify_instances_here();
    assert!(baseline > 0, "uid 0 has no inotify instance left to start with");
    let dir = tempdir();
    let server = Server::with_keys(dir.path());
    let response = client()
        .post(format!("{}/v1/runs/stream", server.url))
        .bearer_auth(OP1_TOKEN)
        .json(&json!({ "code": HOG, "language": "python", "timeout_secs": 30 }))
        .timeout(Duration::from_secs(60))
        .send()
        .expect("the hog's stream");
    assert_eq!(response.status(), 200);
    let mut lines = BufReader::new(response).lines();
    let mut held = None;
    let mut event = String::new();
    for line in lines.by_ref() {
        let line = line.expect("stream line");
        if let Some(name) = line.strip_prefix("event:") {
            event = name.trim().to_owned();
        } else if let Some(data) = line.strip_prefix("data:") {
            assert_ne!(event, "error", "the hog failed: {data}");
            if event == "stdout" {
                held = data.trim().parse::<usize>().ok();
                break;
            }
        }
    }
    let held = held.expect("the hog reported how many instances it holds");
    assert_eq!(held, limit, "the hog should hold exactly the per-user limit");

    // While the hog holds them: the server's user still has its budget...
    let here = inotify_instances_here();
    assert_eq!(
        here, baseline,
        "the server's user could open {here} of its {baseline} inotify instances"
    );
    // ...the API answers...
    let (status, _) = call(&server, "GET", "/v1/jails", Some(OP1_TOKEN), None);
    assert_eq!(status, 200);
    // ...and another tenant's jail has its own.
    let count = "import ctypes\nlibc = ctypes.CDLL(None)\nn = 0\n\
                 while n < 64 and libc.inotify_init1(0) >= 0:\n    n += 1\nprint(n)";
    let (status, body) = call(
        &server,
        "POST",
        "/v1/runs",
        Some(OP2_TOKEN),
        Some(json!({ "code": count, "language": "python" })),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["stdout"], "64\n", "tenant two's jail: {body}");

    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter()
            .any(|l| l.starts_with("event: completed") || l.starts_with("event:completed")),
        "the hog's run ends normally: {rest:?}"
    );
}
