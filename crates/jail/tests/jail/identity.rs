//! Threat-model row 31: root-mode jails have host ids of their own.
//!
//! Root-mode jails used to run as the host's uid 0, and the kernel keeps
//! several budgets per host user (inotify instances and watches, epoll
//! watches, processes, message queues): a jail that used one up took it
//! from the server, which also runs as uid 0, and from every other jail.
//! Each jail's user namespace now maps its ids to a block of host ids of
//! its own, and binds are idmapped so that files keep the ids the jail sees.
//! These tests attack with the simplest such budget, inotify instances
//! (128 per user by default).

use std::io::Read;
use std::os::unix::fs::MetadataExt;

use libtest_mimic::{Failed, Trial};
use paddock_jail::{JailConfig, Stdin};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::*;

pub fn trials() -> Vec<Trial> {
    vec![
        root_test(
            "row31_a_jail_that_exhausts_a_per_user_budget_leaves_the_host_and_other_jails_theirs",
            row31_a_jail_that_exhausts_a_per_user_budget_leaves_the_host_and_other_jails_theirs,
        ),
        root_test(
            "row31_binds_keep_the_ids_the_jail_sees_and_no_host_group_follows_it",
            row31_binds_keep_the_ids_the_jail_sees_and_no_host_group_follows_it,
        ),
    ]
}

/// Opens inotify instances until the kernel refuses one (or 4096 are
/// open), prints how many, then holds them until standard input closes.
const EXHAUST_INOTIFY: &str = r#"
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
held = []
while len(held) < 4096:
    fd = libc.inotify_init1(0)
    if fd < 0:
        break
    held.append(fd)
print(len(held), ctypes.get_errno(), flush=True)
sys.stdin.read()
"#;

/// How many inotify instances this process may open (at most 64).
fn host_inotify_instances() -> usize {
    let mut opened = Vec::new();
    while opened.len() < 64 {
        // SAFETY: inotify_init1 with no flags returns a descriptor or -1.
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

/// The host uid of a process, from `/proc/<pid>/status`.
fn host_uid(pid: i32) -> Result<u32, Failed> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
        .ok_or_else(|| Failed::from(format!("no Uid line for {pid}")))
}

/// The per-user limit on inotify instances (`fs.inotify.max_user_instances`).
fn inotify_limit() -> Result<usize, Failed> {
    let text = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_instances")?;
    let limit: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("max_user_instances {text:?}"))?;
    // A jail may open 1024 files: above that the attack cannot be shown.
    check(
        limit < 1000,
        format!("fs.inotify.max_user_instances is {limit} here: a jail runs out of files first, so the attack cannot be shown"),
    )?;
    Ok(limit)
}

fn row31_a_jail_that_exhausts_a_per_user_budget_leaves_the_host_and_other_jails_theirs() -> Result<(), Failed> {
    let range = engine()
        .info()
        .jail_ids
        .ok_or("a root engine reports its jail id range")?;
    let limit = inotify_limit()?;
    // What the host's uid 0 (the server's user) can open before the attack
    // (its own daemons may hold some).
    let baseline = host_inotify_instances();
    check(
        baseline > 0,
        "the host's uid 0 has no inotify instance left to start with",
    )?;
    block_on(async {
        let mut config = python(EXHAUST_INOTIFY);
        config.stdin = Stdin::Pipe;
        let mut hog = engine().spawn(config).await?;
        let stdout = hog.take_stdout().ok_or("the hog's stdout")?;
        let stdin = hog.take_stdin().ok_or("the hog's stdin")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).await?;
        let held: usize = line.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0);
        check(
            held == limit,
            format!("the hog should hold exactly the per-user limit {limit} of inotify instances: {line:?}"),
        )?;

        // The hog's processes are a host user of their own, inside the range.
        let hog_uid = host_uid(hog.pid())?;
        check(
            hog_uid != 0 && hog_uid >= range.start && hog_uid - range.start < range.count,
            format!("the jail's init runs as host uid {hog_uid}, outside {range:?}"),
        )?;

        // While the hog holds its instances, the host's uid 0 (the server's
        // user) and another jail still have theirs.
        let host = host_inotify_instances();
        check(
            host == baseline,
            format!("the host could open only {host} of its {baseline} inotify instances while a jail held {held}"),
        )?;
        let other = engine()
            .run(python(
                "import ctypes\nlibc = ctypes.CDLL(None)\nn = 0\nwhile n < 64 and libc.inotify_init1(0) >= 0:\n    n += 1\nprint(n)",
            ))
            .await?;
        let other = other.stdout.text();
        check(
            other.trim() == "64",
            format!("another jail could open only {other:?} inotify instances while a jail held {held}"),
        )?;

        // And a concurrent jail has a different block.
        let mut sleeper = engine().spawn(command("sleep", &["5"])).await?;
        let sleeper_uid = host_uid(sleeper.pid())?;
        check(
            sleeper_uid != hog_uid && sleeper_uid >= range.start,
            format!("two running jails share host uid {hog_uid} / {sleeper_uid}"),
        )?;
        sleeper.kill()?;
        let _ = sleeper.take_stdout();
        drop(stdin);
        let result = hog.wait().await?;
        check(result.exit_code() == 0, format!("the hog ended badly: {result:?}"))?;
        Ok::<(), Failed>(())
    })
}

/// A writable bind: host root's files are the jail root's, and what the
/// jail writes lands on disk with the ids it sees, whichever block the jail
/// had.
fn row31_binds_keep_the_ids_the_jail_sees_and_no_host_group_follows_it() -> Result<(), Failed> {
    let dir = tempdir();
    let work = dir.path().join("work");
    std::fs::create_dir(&work)?;
    std::fs::write(work.join("host-file"), "from the host\n")?;

    let config: JailConfig = sh("id -u; id -g; grep -E '^(Uid|Groups):' /proc/self/status; \
         cat /proc/self/uid_map; stat -c '%u:%g' /work/host-file; \
         echo written > /work/new-file")
    .bind(&work, "/work", true);
    let out = run_ok(config)?;
    let lines: Vec<&str> = out.lines().collect();
    check(lines.len() == 6, format!("unexpected output {out:?}"))?;
    check(
        lines[0] == "0" && lines[1] == "0",
        format!("the jail should be root inside: {out:?}"),
    )?;
    // The zygote's supplementary groups (the host's root group) would
    // still count for access checks had the init not dropped them.
    check(
        lines[2].split_whitespace().nth(1) == Some("0") && lines[3].trim() == "Groups:",
        format!("the jail keeps supplementary groups or is not uid 0: {out:?}"),
    )?;
    let map: Vec<&str> = lines[4].split_whitespace().collect();
    check(
        map.first() == Some(&"0") && map.get(1) != Some(&"0") && map.get(2) == Some(&"65536"),
        format!("uid_map should map 0..65536 to a block of host ids: {out:?}"),
    )?;
    check(
        lines[5] == "0:0",
        format!("host-owned files should be root's inside: {out:?}"),
    )?;
    let new = std::fs::metadata(work.join("new-file"))?;
    check(
        new.uid() == 0 && new.gid() == 0,
        format!("a file the jail's root wrote is {}:{} on disk", new.uid(), new.gid()),
    )?;
    // Another jail, with another block while the first holds its own,
    // owns the file the same way.
    block_on(async {
        let holder = engine().spawn(command("sleep", &["5"])).await?;
        let out = engine()
            .run(sh("stat -c '%u:%g' /work/new-file && echo again >> /work/new-file").bind(&work, "/work", true))
            .await?;
        holder.kill()?;
        let _ = holder.wait().await;
        check(
            out.exit_code() == 0 && out.stdout.text() == "0:0\n",
            format!("a second jail: {out:?}"),
        )
    })?;
    let mut text = String::new();
    std::fs::File::open(work.join("new-file"))?.read_to_string(&mut text)?;
    check(text == "written\nagain\n", format!("{text:?}"))
}
