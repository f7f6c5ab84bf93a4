//! Helpers: building trees, describing them for comparison, checking the
//! pool's invariants.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use paddock_store::{BlobHash, BlobPool, RACY_WINDOW};

/// A scratch directory with a pool in `blobs/`.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub pool: BlobPool,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = BlobPool::open(dir.path().join("blobs")).expect("open pool");
        Scratch { dir, pool }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

/// Writes `data` to `path` (creating parents) with `mode`.
pub fn write(path: &Path, data: &[u8], mode: u32) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, data).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Sets the mtime of `path` (not following a symlink) to `ns` since the
/// epoch.
pub fn set_mtime(path: &Path, ns: i64) {
    let times = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: ns / 1_000_000_000,
            tv_nsec: ns % 1_000_000_000,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: ns / 1_000_000_000,
            tv_nsec: ns % 1_000_000_000,
        },
    };
    rustix::fs::utimensat(rustix::fs::CWD, path, &times, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).unwrap();
}

/// Sets the mtime of `path` to `ago` before now.
pub fn age(path: &Path, ago: Duration) {
    let then = SystemTime::now() - ago;
    set_mtime(path, then.duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64);
}

/// Waits until files written so far are past the racy window of the next
/// snapshot.
pub fn settle() {
    std::thread::sleep(RACY_WINDOW + Duration::from_millis(10));
}

/// What a test compares of one tree entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File { mode: u32, data: Vec<u8>, mtime_ns: i64 },
    Dir { mode: u32, mtime_ns: i64 },
    Symlink { target: PathBuf, mtime_ns: i64 },
}

/// Every entry under `root`, by relative path (symlinks not followed).
pub fn describe(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let mtime_ns = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
        let mode = meta.mode() & 0o7777;
        let node = if meta.file_type().is_symlink() {
            Node::Symlink {
                target: fs::read_link(&path).unwrap(),
                mtime_ns,
            }
        } else if meta.is_dir() {
            walk(root, &path, out);
            Node::Dir { mode, mtime_ns }
        } else if meta.is_file() {
            Node::File {
                mode,
                data: fs::read(&path).unwrap(),
                mtime_ns,
            }
        } else {
            continue;
        };
        out.insert(rel, node);
    }
}

/// Every blob in the pool, checked: its contents hash to its name, it is
/// read-only and has exactly one link. Returns (device, inode) of each.
pub fn verify_pool(pool: &BlobPool) -> Vec<(u64, u64)> {
    let mut inodes = Vec::new();
    for fan in fs::read_dir(pool.root()).unwrap() {
        let fan = fan.unwrap();
        let fan_name = fan.file_name().to_string_lossy().into_owned();
        if fan_name == "tmp" {
            continue;
        }
        for blob in fs::read_dir(fan.path()).unwrap() {
            let blob = blob.unwrap();
            let name = format!("{fan_name}{}", blob.file_name().to_string_lossy());
            let hash: BlobHash = name.parse().expect("blob name is a hash");
            let data = fs::read(blob.path()).unwrap();
            assert_eq!(
                BlobHash::of(&data),
                hash,
                "blob {name} is not complete or not what it is named"
            );
            let meta = fs::symlink_metadata(blob.path()).unwrap();
            assert_eq!(meta.nlink(), 1, "blob {name} has {} links", meta.nlink());
            assert_eq!(meta.mode() & 0o777, 0o444, "blob {name} is writable");
            inodes.push((meta.dev(), meta.ino()));
        }
    }
    inodes
}

/// Temporary files left in the pool.
pub fn temps(pool: &BlobPool) -> usize {
    fs::read_dir(pool.root().join("tmp")).unwrap().count()
}

/// (device, inode) of every regular file under `root`.
pub fn file_inodes(root: &Path) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for (rel, node) in describe(root) {
        if let Node::File { .. } = node {
            let meta = fs::symlink_metadata(root.join(rel)).unwrap();
            out.push((meta.dev(), meta.ino()));
        }
    }
    out
}

/// `n` files of `size` bytes spread over `dirs` directories, distinct
/// contents.
pub fn make_tree(root: &Path, dirs: usize, n: usize, size: usize) {
    for i in 0..n {
        let mut data = vec![(i % 251) as u8; size];
        data[..8].copy_from_slice(&(i as u64).to_le_bytes());
        write(&root.join(format!("d{}/f{i}", i % dirs)), &data, 0o644);
    }
}
