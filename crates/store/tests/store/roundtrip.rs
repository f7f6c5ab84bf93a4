//! Snapshot then restore gives back the same tree: contents, modes,
//! directories (empty ones too), empty files, symlinks of every kind,
//! mtimes; minus setuid, setgid, sticky and special files.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;

use paddock_store::{restore, snapshot, EntryKind, Manifest, Method};

use crate::common::{describe, set_mtime, verify_pool, write, Node, Scratch};

const T: i64 = 1_600_000_000_123_456_789;

fn build(src: &Path) {
    write(&src.join("top.txt"), b"hello", 0o644);
    write(&src.join("a/x.bin"), &vec![7u8; 100_000], 0o600);
    write(&src.join("a/b/empty"), b"", 0o640);
    write(&src.join("exec.sh"), b"#!/bin/sh\necho hi\n", 0o755);
    write(&src.join("ro.txt"), b"read only", 0o444);
    write(&src.join("same1"), b"same contents", 0o644);
    write(&src.join("a/same2"), b"same contents", 0o600);
    write(&src.join("suid"), b"\x7fELF", 0o4755);
    write(&src.join("sgid"), b"\x7fELF", 0o2755);
    fs::create_dir(src.join("empty-dir")).unwrap();
    fs::set_permissions(src.join("empty-dir"), fs::Permissions::from_mode(0o750)).unwrap();
    fs::create_dir(src.join("sticky")).unwrap();
    fs::set_permissions(src.join("sticky"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::create_dir(src.join("locked")).unwrap();
    write(&src.join("locked/inside"), b"in a 0500 dir", 0o644);
    symlink("top.txt", src.join("rel")).unwrap();
    symlink("/etc/passwd", src.join("abs")).unwrap();
    symlink("nope/missing", src.join("dangling")).unwrap();
    symlink("a", src.join("dirlink")).unwrap();
    symlink("../../../../outside", src.join("a/b/up")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        src.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let _socket = UnixListener::bind(src.join("socket")).unwrap();
    for (i, rel) in [
        "top.txt",
        "a/x.bin",
        "a/b/empty",
        "rel",
        "abs",
        "dangling",
        "a/b/up",
        "a/b",
        "a",
        "empty-dir",
        "sticky",
        "locked/inside",
    ]
    .iter()
    .enumerate()
    {
        set_mtime(&src.join(rel), T + i as i64 * 1_000_003);
    }
    set_mtime(&src.join("locked"), T);
    fs::set_permissions(src.join("locked"), fs::Permissions::from_mode(0o500)).unwrap();
}

#[test]
fn round_trip_preserves_contents_modes_dirs_symlinks_and_mtimes() {
    let s = Scratch::new();
    let src = s.path("src");
    build(&src);
    let snap = snapshot(&s.pool, &src, None).unwrap();
    assert_eq!(snap.stats.skipped_specials, 2, "fifo and socket skipped");
    assert_eq!(snap.stats.files, 10);
    assert_eq!(snap.stats.symlinks, 5);
    assert_eq!(snap.stats.dirs, 5);
    assert_eq!(
        snap.stats.blobs_written, 8,
        "two files share contents, suid and sgid too"
    );
    verify_pool(&s.pool);

    // Through JSON, as the server stores it.
    let json = serde_json::to_string(&snap.manifest).unwrap();
    let manifest: Manifest = serde_json::from_str(&json).unwrap();
    let dst = s.path("dst");
    let restored = restore(&s.pool, &manifest, &dst).unwrap();
    assert_eq!(restored.stats.files, 10);
    assert_eq!(restored.stats.bytes, snap.stats.bytes);
    assert!(matches!(
        restored.stats.method,
        Method::Copy | Method::Reflink | Method::Mixed
    ));

    let mut want = describe(&src);
    want.remove("fifo");
    want.remove("socket");
    for node in want.values_mut() {
        match node {
            Node::File { mode, .. } => *mode &= 0o777,
            Node::Dir { mode, .. } => *mode = (*mode & 0o777) | 0o700,
            Node::Symlink { .. } => {}
        }
    }
    let got = describe(&dst);
    assert_eq!(got, want);
    assert_eq!(
        got["rel"],
        Node::Symlink {
            target: "top.txt".into(),
            mtime_ns: T + 3 * 1_000_003
        }
    );
    assert!(matches!(&got["abs"], Node::Symlink { target, .. } if target == Path::new("/etc/passwd")));
    assert!(
        matches!(&got["suid"], Node::File { mode: 0o755, .. }),
        "setuid kept: {:?}",
        got["suid"]
    );
    assert!(
        matches!(&got["sgid"], Node::File { mode: 0o755, .. }),
        "setgid kept: {:?}",
        got["sgid"]
    );
    assert!(
        matches!(&got["sticky"], Node::Dir { mode: 0o777, .. }),
        "sticky kept: {:?}",
        got["sticky"]
    );
    assert!(
        matches!(&got["locked"], Node::Dir { mode: 0o700, .. }),
        "owner rwx missing: {:?}",
        got["locked"]
    );
    assert!(matches!(&got["a/b/empty"], Node::File { data, .. } if data.is_empty()));
    assert!(matches!(&got["empty-dir"], Node::Dir { mode: 0o750, mtime_ns } if *mtime_ns == T + 9 * 1_000_003));
    // The manifest lists parents first and records the original bits.
    let suid = manifest.entries.iter().find(|e| e.path == "suid").unwrap();
    assert_eq!((suid.kind, suid.mode), (EntryKind::File, 0o4755));
    manifest.validate().unwrap();
    fs::set_permissions(src.join("locked"), fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn restore_then_snapshot_gives_the_same_manifest() {
    let s = Scratch::new();
    let src = s.path("src");
    write(&src.join("a/b/c.txt"), b"deep", 0o640);
    write(&src.join("z"), b"last", 0o600);
    symlink("a/b/c.txt", src.join("link")).unwrap();
    let first = snapshot(&s.pool, &src, None).unwrap();
    let dst = s.path("dst");
    restore(&s.pool, &first.manifest, &dst).unwrap();
    let second = snapshot(&s.pool, &dst, None).unwrap();
    assert_eq!(second.manifest, first.manifest);
    assert_eq!(second.stats.blobs_written, 0, "deduplicated");
}

#[test]
fn snapshot_of_an_empty_tree_and_of_a_symlink_top() {
    let s = Scratch::new();
    fs::create_dir(s.path("empty")).unwrap();
    let snap = snapshot(&s.pool, &s.path("empty"), None).unwrap();
    assert!(snap.manifest.entries.is_empty());
    let dst = s.path("dst");
    let restored = restore(&s.pool, &snap.manifest, &dst).unwrap();
    assert_eq!(restored.stats.method, Method::Copy);
    assert!(dst.is_dir());
    symlink(s.path("empty"), s.path("top-link")).unwrap();
    assert!(matches!(
        snapshot(&s.pool, &s.path("top-link"), None),
        Err(paddock_store::StoreError::NotADirectory { .. })
    ));
}

#[test]
fn snapshot_refuses_trees_beyond_the_limits() {
    let s = Scratch::new();
    let src = s.path("src");
    let deep = (0..5).fold(src.clone(), |p, i| p.join(format!("d{i}")));
    write(&deep.join("f"), b"x", 0o644);
    let limits = paddock_store::Limits {
        max_depth: 4,
        max_entries: 100,
    };
    assert!(matches!(
        paddock_store::snapshot_with(&s.pool, &src, None, &limits),
        Err(paddock_store::StoreError::TooDeep { max: 4, .. })
    ));
    let limits = paddock_store::Limits {
        max_depth: 5,
        max_entries: 100,
    };
    paddock_store::snapshot_with(&s.pool, &src, None, &limits).unwrap();
    let limits = paddock_store::Limits {
        max_depth: 5,
        max_entries: 5,
    };
    assert!(matches!(
        paddock_store::snapshot_with(&s.pool, &src, None, &limits),
        Err(paddock_store::StoreError::TooManyEntries { max: 5, .. })
    ));
}

#[test]
fn non_utf8_names_are_skipped_and_counted() {
    use std::os::unix::ffi::OsStrExt;
    let s = Scratch::new();
    let src = s.path("src");
    write(&src.join("ok"), b"fine", 0o644);
    let bad = src.join(std::ffi::OsStr::from_bytes(b"bad-\xff"));
    if fs::write(&bad, b"x").is_err() {
        eprintln!("this file system refuses non-UTF-8 names; nothing to check");
        return;
    }
    let snap = snapshot(&s.pool, &src, None).unwrap();
    assert_eq!(snap.stats.skipped_names, 1);
    assert_eq!(snap.manifest.entries.len(), 1);
}

#[test]
fn large_files_are_streamed_and_complete() {
    let s = Scratch::new();
    let src = s.path("src");
    let big: Vec<u8> = (0..3_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    write(&src.join("big"), &big, 0o644);
    write(&src.join("copy-of-big"), &big, 0o644);
    let snap = snapshot(&s.pool, &src, None).unwrap();
    assert_eq!(snap.stats.blobs_written, 1);
    assert_eq!(snap.stats.bytes_written, big.len() as u64);
    verify_pool(&s.pool);
    assert_eq!(
        crate::common::temps(&s.pool),
        0,
        "the duplicate's temporary file was removed"
    );
    let dst = s.path("dst");
    restore(&s.pool, &snap.manifest, &dst).unwrap();
    assert_eq!(fs::read(dst.join("copy-of-big")).unwrap(), big);
}
