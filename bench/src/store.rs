//! Snapshot store benchmarks on a tree of 1000 files × 4 KiB in 10
//! directories: snapshot create into a fresh pool (against `tar -cf` of the
//! tree to a file), incremental repeat with nothing changed, restore and a
//! fork of 4 restores in parallel (against `cp -a`), and the fork copy of a
//! live tree (`copy_tree`, against `cp -a`). On ext4 under the scratch
//! directory, then, as root, on a loop-mounted xfs image where restores
//! reflink (against `cp -a --reflink=always`).
//!
//! Snapshot create includes its two `syncfs` calls (the blobs are durable
//! when it returns); `tar` and `cp` do not sync.
//!
//! Nothing is deleted until a file system's rows are done: on ext4 without
//! a journal (this host's root), inode allocation steps over every inode
//! deleted in the last minute or more, one by one, so deleting between
//! rounds would slow every later file creation, ours and the peers'.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use paddock_store::testkit::{is_root, LoopFs, LoopMount};
use paddock_store::tree::copy_tree;
use paddock_store::{restore, snapshot, BlobPool, RACY_WINDOW};

use crate::{summarize, time_process, Row};

const FILES: usize = 1000;
const DIRS: usize = 10;
const FILE_BYTES: usize = 4096;
const FORKS: usize = 4;
/// Unmeasured rounds before each measured series.
const WARMUP: usize = 2;

/// The store rows: ext4 always, xfs when running as root.
pub fn rows(scale: usize, scratch: &Path) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let ext4 = scratch.join("store-ext4");
    std::fs::create_dir_all(&ext4)?;
    let result = rows_on(&ext4, "ext4", scale);
    std::fs::remove_dir_all(&ext4)?;
    rows.extend(result?);
    if is_root() {
        let mount = LoopMount::new(LoopFs::Xfs, 1024).context("loop-mounted xfs (Debian package xfsprogs)")?;
        rows.extend(rows_on(mount.path(), "xfs", scale)?);
    } else {
        eprintln!("store: not root, skipping the xfs (reflink) rows");
    }
    Ok(rows)
}

fn make_tree(root: &Path) -> Result<()> {
    for d in 0..DIRS {
        std::fs::create_dir_all(root.join(format!("d{d}")))?;
    }
    for i in 0..FILES {
        let mut data = vec![(i % 251) as u8; FILE_BYTES];
        data[..8].copy_from_slice(&(i as u64).to_le_bytes());
        std::fs::write(root.join(format!("d{}/f{i}", i % DIRS)), &data)?;
    }
    Ok(())
}

/// Runs `round(i)` `WARMUP + rounds` times; keeps the durations it reports
/// after the warm-up, and the note of the last round.
fn measure(
    rounds: usize,
    mut round: impl FnMut(usize) -> Result<(Duration, String)>,
) -> Result<(Vec<Duration>, String)> {
    let mut samples = Vec::with_capacity(rounds);
    let mut note = String::new();
    for i in 0..WARMUP + rounds {
        let (elapsed, last) = round(i)?;
        if i >= WARMUP {
            samples.push(elapsed);
        }
        note = last;
    }
    Ok((samples, note))
}

fn rows_on(base: &Path, fs: &str, scale: usize) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let tree = base.join("tree");
    make_tree(&tree)?;
    // Past the racy window, so the repeat trusts every file.
    std::thread::sleep(RACY_WINDOW * 2);
    let label = |what: &str| format!("store {what}, 1000x4KiB ({fs})");
    let rounds = 5 * scale;
    let at = |what: &str, i: usize| base.join(format!("{what}-{i}"));

    // Snapshot create, each into a fresh pool.
    let (samples, _) = measure(rounds, |i| {
        let pool = BlobPool::open(at("pool", i))?;
        let t = Instant::now();
        let snap = snapshot(&pool, &tree, None)?;
        let elapsed = t.elapsed();
        if snap.stats.blobs_written != FILES as u64 {
            bail!("snapshot wrote {} blobs", snap.stats.blobs_written);
        }
        Ok((elapsed, String::new()))
    })?;
    rows.push(summarize(
        &label("snapshot create"),
        "paddock-store",
        samples,
        None,
        "fresh pool, 2 syncfs",
    ));
    let (samples, _) = measure(rounds, |i| {
        let mut tar = Command::new("tar");
        tar.arg("-cf").arg(at("tar", i)).arg("-C").arg(&tree).arg(".");
        Ok((time_process(tar)?, String::new()))
    })?;
    rows.push(summarize(
        &label("snapshot create"),
        "tar -cf",
        samples,
        None,
        "to a file, no sync",
    ));

    // Incremental repeat, nothing changed, each with the previous cache.
    let pool = BlobPool::open(base.join("pool"))?;
    let first = snapshot(&pool, &tree, None)?;
    let manifest = first.manifest;
    let mut cache = first.cache;
    let (samples, _) = measure(100 * scale, |_| {
        let t = Instant::now();
        let snap = snapshot(&pool, &tree, Some(&cache))?;
        let elapsed = t.elapsed();
        if snap.stats.files_hashed != 0 {
            bail!("repeat snapshot read {} files", snap.stats.files_hashed);
        }
        cache = snap.cache;
        Ok((elapsed, String::new()))
    })?;
    rows.push(summarize(
        &label("snapshot repeat"),
        "paddock-store",
        samples,
        None,
        "nothing changed, nothing read",
    ));

    // Restore, one at a time.
    let (samples, method) = measure(rounds, |i| {
        let t = Instant::now();
        let restored = restore(&pool, &manifest, &at("restore", i))?;
        Ok((t.elapsed(), restored.stats.method.as_str().to_owned()))
    })?;
    rows.push(summarize(&label("restore"), "paddock-store", samples, None, &method));
    let cp_flags: &[&str] = if fs == "xfs" {
        &["-a", "--reflink=always"]
    } else {
        &["-a"]
    };
    let cp_subject = format!("cp {}", cp_flags.join(" "));
    let (samples, _) = measure(rounds, |i| {
        let mut cp = Command::new("cp");
        cp.args(cp_flags).arg(&tree).arg(at("cp", i));
        Ok((time_process(cp)?, String::new()))
    })?;
    rows.push(summarize(&label("restore"), &cp_subject, samples, None, "of the tree"));

    // A fork: 4 restores at once.
    let fork_rounds = 3 * scale;
    let (samples, _) = measure(fork_rounds, |i| {
        let targets: Vec<PathBuf> = (0..FORKS).map(|k| at(&format!("fork{k}"), i)).collect();
        let t = Instant::now();
        std::thread::scope(|scope| -> Result<()> {
            let handles: Vec<_> = targets
                .iter()
                .map(|target| scope.spawn(|| restore(&pool, &manifest, target)))
                .collect();
            for handle in handles {
                handle.join().map_err(|_| anyhow::anyhow!("restore panicked"))??;
            }
            Ok(())
        })?;
        Ok((t.elapsed(), String::new()))
    })?;
    rows.push(summarize(
        &label("fork x4 (restores)"),
        "paddock-store",
        samples,
        None,
        "4 threads",
    ));
    let (samples, _) = measure(fork_rounds, |i| {
        let t = Instant::now();
        let mut children = Vec::new();
        for k in 0..FORKS {
            let mut cp = Command::new("cp");
            cp.args(cp_flags).arg(&tree).arg(at(&format!("cpfork{k}"), i));
            children.push(cp.spawn()?);
        }
        for mut child in children {
            if !child.wait()?.success() {
                bail!("cp failed");
            }
        }
        Ok((t.elapsed(), String::new()))
    })?;
    rows.push(summarize(
        &label("fork x4 (restores)"),
        &cp_subject,
        samples,
        None,
        "4 processes",
    ));

    // The live-fork copy (`copy_tree`, what /v1/runs/fork uses).
    let (samples, method) = measure(rounds, |i| {
        let t = Instant::now();
        let stats = copy_tree(&tree, &at("copy", i))?;
        Ok((t.elapsed(), stats.method.to_owned()))
    })?;
    rows.push(summarize(
        &label("copy_tree (live fork)"),
        "paddock-store",
        samples,
        None,
        &method,
    ));
    Ok(rows)
}
