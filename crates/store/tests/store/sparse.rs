//! Sparse files through the store: a snapshot of a file made by
//! `truncate -s 4G` writes a sparse blob (its holes neither read nor hashed),
//! a restore from it and a fork copy are sparse too, and the bytes written
//! inside the holes survive every step.

use std::fs::{self, File};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use paddock_store::tree::copy_tree;
use paddock_store::{restore, snapshot, BlobHash};

use crate::common::Scratch;

const GIB: u64 = 1 << 30;

/// Bytes allocated under `path` (a file or a tree): `st_blocks` × 512, as
/// `du` counts.
fn allocated(path: &Path) -> u64 {
    let meta = fs::symlink_metadata(path).unwrap();
    let own = meta.blocks() * 512;
    if meta.is_dir() {
        own + fs::read_dir(path)
            .unwrap()
            .map(|e| allocated(&e.unwrap().path()))
            .sum::<u64>()
    } else {
        own
    }
}

/// `(offset, bytes)` written into the sparse files.
const MARKS: &[(u64, &[u8])] = &[(0, b"head"), (GIB + 7, b"in the middle"), (4 * GIB - 4, b"tail")];

fn make_sparse(path: &Path, len: u64, marks: &[(u64, &[u8])]) {
    let f = File::create(path).unwrap();
    f.set_len(len).unwrap();
    for (at, data) in marks {
        f.write_all_at(data, *at).unwrap();
    }
}

fn check_marks(path: &Path, len: u64, marks: &[(u64, &[u8])]) {
    let f = File::open(path).unwrap();
    assert_eq!(f.metadata().unwrap().len(), len, "{}", path.display());
    for (at, data) in marks {
        let mut got = vec![0; data.len()];
        f.read_exact_at(&mut got, *at).unwrap();
        assert_eq!(&got, data, "{} at {at}", path.display());
    }
    let mut zeros = vec![1; 4096];
    f.read_exact_at(&mut zeros, 2 * GIB).unwrap();
    assert_eq!(zeros, vec![0; 4096], "{}: a hole reads as zeros", path.display());
}

#[test]
fn snapshot_restore_and_fork_copy_keep_sparse_files_sparse() {
    let s = Scratch::new();
    let src = s.path("src");
    fs::create_dir(&src).unwrap();
    make_sparse(&src.join("big"), 4 * GIB, MARKS);
    make_sparse(&src.join("hole-only"), 4 * GIB, &[]);
    // Below the snapshot's buffer: kept in memory, still written sparse.
    make_sparse(&src.join("small"), 900 << 10, &[(512 << 10, b"x")]);
    let budget = 1 << 20; // far below any of the 8 GiB involved

    let before = allocated(s.pool.root());
    let snap = snapshot(&s.pool, &src, None).unwrap();
    let grew = allocated(s.pool.root()) - before;
    assert!(grew < budget, "the snapshot's blobs took {grew} bytes for sparse files");
    assert_eq!(snap.stats.bytes, 8 * GIB + (900 << 10));

    // A file with holes is named by the sparse digest (holes never
    // hashed), not the BLAKE3 of its bytes; the same bytes written densely
    // get the plain digest.
    let entry = |p: &str| snap.manifest.entries.iter().find(|e| e.path == p).unwrap().clone();
    let small = fs::read(src.join("small")).unwrap();
    assert_ne!(entry("small").hash, Some(BlobHash::of(&small)));
    let dense = s.path("dense");
    fs::create_dir(&dense).unwrap();
    fs::write(dense.join("small"), &small).unwrap();
    let dense_snap = snapshot(&s.pool, &dense, None).unwrap();
    assert_eq!(dense_snap.manifest.entries[0].hash, Some(BlobHash::of(&small)));

    let dst = s.path("restored");
    restore(&s.pool, &snap.manifest, &dst).unwrap();
    assert!(allocated(&dst) < budget, "the restore took {} bytes", allocated(&dst));
    check_marks(&dst.join("big"), 4 * GIB, MARKS);
    check_marks(&dst.join("hole-only"), 4 * GIB, &[]);
    assert_eq!(fs::read(dst.join("small")).unwrap(), small);

    // A second snapshot of the restored tree finds the same blobs.
    let again = snapshot(&s.pool, &dst, None).unwrap();
    assert_eq!(again.stats.blobs_written, 0);
    assert_eq!(
        entry("big").hash,
        again.manifest.entries.iter().find(|e| e.path == "big").unwrap().hash
    );

    let copy = s.path("copy");
    let stats = copy_tree(&src, &copy).unwrap();
    assert_eq!(stats.bytes_cloned, 8 * GIB + (900 << 10));
    assert!(
        allocated(&copy) < budget,
        "the fork copy took {} bytes",
        allocated(&copy)
    );
    check_marks(&copy.join("big"), 4 * GIB, MARKS);
    assert_eq!(fs::read(copy.join("small")).unwrap(), small);
}

/// Threat-model row 32: a snapshot costs time in proportion to the data a
/// file holds, not its apparent size. An 8 TiB file (ext4 allows 16 TiB
/// less a block) whose bytes read as zeros would take hours to hash as
/// zeros; its snapshot, a second file of the same contents, and a restore
/// take a moment, and the restore is exact and sparse.
#[test]
fn a_huge_sparse_file_costs_a_snapshot_time_for_its_data_only() {
    const TIB: u64 = 1 << 40;
    let s = Scratch::new();
    let src = s.path("src");
    fs::create_dir(&src).unwrap();
    let marks: &[(u64, &[u8])] = &[(5, b"head"), (3 * TIB + 11, b"middle"), (8 * TIB - 4, b"tail")];
    make_sparse(&src.join("huge"), 8 * TIB, marks);
    make_sparse(&src.join("twin"), 8 * TIB, marks);
    let started = std::time::Instant::now();
    let snap = snapshot(&s.pool, &src, None).unwrap();
    let took = started.elapsed();
    eprintln!("FIGURE sparse_8tib_snapshot_ms={}", took.as_millis());
    assert!(took.as_secs() < 30, "an 8 TiB sparse file took {took:?} to snapshot");
    assert_eq!(snap.stats.bytes, 16 * TIB);
    let hashes: Vec<_> = snap.manifest.entries.iter().filter_map(|e| e.hash).collect();
    assert_eq!(hashes.len(), 2);
    assert_eq!(hashes[0], hashes[1], "equal sparse files share a blob");
    assert_eq!(snap.stats.blobs_written, 1);

    let dst = s.path("restored");
    restore(&s.pool, &snap.manifest, &dst).unwrap();
    for name in ["huge", "twin"] {
        let f = File::open(dst.join(name)).unwrap();
        assert_eq!(f.metadata().unwrap().len(), 8 * TIB);
        assert!(allocated(&dst.join(name)) < 1 << 20, "{name} restored dense");
        for (at, data) in marks {
            let mut got = vec![0; data.len()];
            f.read_exact_at(&mut got, *at).unwrap();
            assert_eq!(&got, data, "{name} at {at}");
        }
        let mut zeros = vec![1; 4096];
        f.read_exact_at(&mut zeros, 5 * TIB).unwrap();
        assert_eq!(zeros, vec![0; 4096]);
    }
}
