//! Writing a restored file changes neither the pool nor another restore of
//! the same snapshot (threat model row 22): restored files never share an
//! inode with a blob.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use paddock_store::{restore, snapshot};

use crate::common::{file_inodes, verify_pool, write, Scratch};

#[test]
fn writing_a_restored_file_changes_neither_the_pool_nor_another_restore() {
    let s = Scratch::new();
    let src = s.path("src");
    write(&src.join("shared.txt"), b"original contents", 0o644);
    write(&src.join("dir/also.txt"), b"original contents", 0o600);
    write(&src.join("ro.txt"), b"read-only original", 0o444);
    let snap = snapshot(&s.pool, &src, None).unwrap();
    let one = s.path("one");
    let two = s.path("two");
    restore(&s.pool, &snap.manifest, &one).unwrap();
    restore(&s.pool, &snap.manifest, &two).unwrap();

    // In place, appended, truncated, and through a chmod of a read-only file.
    let mut f = OpenOptions::new().write(true).open(one.join("shared.txt")).unwrap();
    f.write_all(b"POISONED").unwrap();
    drop(f);
    OpenOptions::new()
        .append(true)
        .open(one.join("dir/also.txt"))
        .unwrap()
        .write_all(b" and more")
        .unwrap();
    fs::set_permissions(one.join("ro.txt"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(one.join("ro.txt"), b"").unwrap();

    assert_eq!(fs::read(two.join("shared.txt")).unwrap(), b"original contents");
    assert_eq!(fs::read(two.join("dir/also.txt")).unwrap(), b"original contents");
    assert_eq!(fs::read(two.join("ro.txt")).unwrap(), b"read-only original");
    // Every blob still hashes to its name, is read-only and singly linked.
    let pool_inodes = verify_pool(&s.pool);
    assert_eq!(pool_inodes.len(), 2);
    for tree in [&one, &two] {
        for inode in file_inodes(tree) {
            assert!(
                !pool_inodes.contains(&inode),
                "a restored file is a pool blob: {inode:?}"
            );
        }
    }
    // A third restore still gets the originals.
    let three = s.path("three");
    restore(&s.pool, &snap.manifest, &three).unwrap();
    assert_eq!(fs::read(three.join("shared.txt")).unwrap(), b"original contents");
    assert_eq!(fs::read(three.join("ro.txt")).unwrap(), b"read-only original");
}
