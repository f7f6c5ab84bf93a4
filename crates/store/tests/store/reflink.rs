//! The reflink path on a loop-mounted xfs image: restores and fork copies
//! clone every file, and the clones are still independent of the pool.
//! Needs root and `mkfs.xfs` (Debian package `xfsprogs`): as root without
//! the tool the test fails; as another user it says it is not applicable.

use std::fs;

use paddock_store::testkit::{is_root, LoopFs, LoopMount};
use paddock_store::tree::copy_tree;
use paddock_store::{reflink_supported, restore, snapshot, BlobPool, Method};

use crate::common::{file_inodes, make_tree, verify_pool};

#[test]
fn restore_on_xfs_reflinks_every_file_and_clones_stay_independent() {
    if !is_root() {
        eprintln!("NOT APPLICABLE: restore_on_xfs_reflinks_every_file needs root to loop-mount xfs");
        return;
    }
    let mount = LoopMount::new(LoopFs::Xfs, 512).expect("loop-mounted xfs (needs the Debian package xfsprogs)");
    let fs_root = mount.path();
    assert!(reflink_supported(fs_root).unwrap(), "xfs without reflink");
    let pool = BlobPool::open(fs_root.join("blobs")).unwrap();
    assert!(pool.supports_reflink().unwrap());

    // The tree lives elsewhere (ext4 here): snapshot copies into the pool.
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    make_tree(&src, 5, 100, 8192);
    let snap = snapshot(&pool, &src, None).unwrap();
    assert_eq!(snap.stats.blobs_written, 100);

    let target = fs_root.join("restored");
    let restored = restore(&pool, &snap.manifest, &target).unwrap();
    assert_eq!(restored.stats.method, Method::Reflink, "{:?}", restored.stats);
    assert_eq!(restored.stats.files_reflinked, 100);

    // A write to a clone leaves the shared extent, the blob and a sibling
    // clone alone.
    let second = fs_root.join("restored-2");
    restore(&pool, &snap.manifest, &second).unwrap();
    fs::write(target.join("d0/f0"), b"poison").unwrap();
    assert_eq!(
        fs::read(second.join("d0/f0")).unwrap(),
        fs::read(src.join("d0/f0")).unwrap()
    );
    let pool_inodes = verify_pool(&pool);
    for inode in file_inodes(&target) {
        assert!(!pool_inodes.contains(&inode));
    }

    let forked = fs_root.join("forked");
    let stats = copy_tree(&target, &forked).unwrap();
    assert_eq!((stats.method, stats.files_cow), ("reflink", 100));
    assert_eq!(fs::read(forked.join("d0/f0")).unwrap(), b"poison");
}

#[test]
fn restore_across_file_systems_copies() {
    if !is_root() {
        eprintln!("NOT APPLICABLE: restore_across_file_systems_copies needs root to loop-mount xfs");
        return;
    }
    let mount = LoopMount::new(LoopFs::Xfs, 512).expect("loop-mounted xfs (needs the Debian package xfsprogs)");
    let pool = BlobPool::open(mount.path().join("blobs")).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    make_tree(&src, 2, 10, 100);
    let snap = snapshot(&pool, &src, None).unwrap();
    let restored = restore(&pool, &snap.manifest, &scratch.path().join("dst")).unwrap();
    assert_eq!(restored.stats.method, Method::Copy);
    assert_eq!(restored.stats.files, 10);
}
