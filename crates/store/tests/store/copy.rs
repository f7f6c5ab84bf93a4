//! `tree::copy_tree`, the fork copy: files, directories and symlinks, never
//! following them; specials skipped; setuid and friends dropped.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use paddock_store::tree::{copy_tree, copy_tree_with};
use paddock_store::{Limits, StoreError};

use crate::common::{describe, set_mtime, write, Node, Scratch};

#[test]
fn copies_files_dirs_and_symlinks_without_following_them() {
    let s = Scratch::new();
    let src = s.path("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("a.txt"), "hello").unwrap();
    fs::write(src.join("sub/b.bin"), vec![7u8; 10_000]).unwrap();
    fs::set_permissions(src.join("a.txt"), fs::Permissions::from_mode(0o4755)).unwrap();
    symlink("/etc/shadow", src.join("evil")).unwrap();
    symlink("a.txt", src.join("rel")).unwrap();
    symlink(s.path("outside"), src.join("sub/out")).unwrap();
    fs::create_dir(s.path("outside")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        src.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    set_mtime(&src.join("sub"), 1_500_000_000_000_000_000);
    let dst = s.path("dst");
    let stats = copy_tree(&src, &dst).unwrap();
    assert_eq!((stats.files_cloned, stats.bytes_cloned), (2, 10_005));
    assert!(["copy", "reflink", "mixed"].contains(&stats.method));
    assert_eq!(fs::read_to_string(dst.join("a.txt")).unwrap(), "hello");
    assert_eq!(fs::read(dst.join("sub/b.bin")).unwrap().len(), 10_000);
    assert_eq!(fs::read_link(dst.join("evil")).unwrap(), Path::new("/etc/shadow"));
    assert!(fs::symlink_metadata(dst.join("evil")).unwrap().file_type().is_symlink());
    assert_eq!(fs::read_link(dst.join("rel")).unwrap(), Path::new("a.txt"));
    assert!(!dst.join("fifo").exists());
    let mode = fs::metadata(dst.join("a.txt")).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o755, "setuid kept");
    let got = describe(&dst);
    assert!(matches!(
        got["sub"],
        Node::Dir {
            mtime_ns: 1_500_000_000_000_000_000,
            ..
        }
    ));
    // Writing the copy leaves the source alone.
    fs::write(dst.join("a.txt"), "changed").unwrap();
    assert_eq!(fs::read_to_string(src.join("a.txt")).unwrap(), "hello");
    assert_eq!(fs::read_dir(s.path("outside")).unwrap().count(), 0);
    let stats = serde_json::to_value(&stats).unwrap();
    assert!(stats.get("files_cow").is_some() && stats.get("method").is_some());
}

#[test]
fn copy_refuses_deep_trees_and_existing_targets_and_cleans_up() {
    let s = Scratch::new();
    let src = s.path("src");
    let deep = (0..6).fold(src.clone(), |p, i| p.join(format!("d{i}")));
    write(&deep.join("f"), b"x", 0o644);
    let dst = s.path("dst");
    let limits = Limits {
        max_depth: 3,
        max_entries: 1000,
    };
    assert!(matches!(
        copy_tree_with(&src, &dst, &limits),
        Err(StoreError::TooDeep { .. })
    ));
    assert!(!dst.exists(), "partial copy left behind");
    fs::create_dir(&dst).unwrap();
    assert!(matches!(copy_tree(&src, &dst), Err(StoreError::TargetExists { .. })));
}
