//! Disk limits: a workspace with `disk_mb` keeps its tree on a file system
//! of that size (threat-model row 32; see [`paddock_store::volume`] for why
//! an image and not project quotas). Its directory then holds the image
//! (`volume.img`, sparse) and its mount point (`volume/`), and the tree is
//! `volume/tree`. The volume is mounted while the tree exists: made with
//! the workspace (or before a restore brings a paused tree back), mounted
//! again when the server starts, and unmounted and removed when the
//! workspace is paused or deleted.

use std::path::{Path, PathBuf};

use paddock_api::{Error, ErrorCode};
use paddock_store::volume;

use super::{blocking, Workspaces};

/// The image file in a workspace's directory.
pub(super) const IMAGE: &str = "volume.img";
/// Its mount point there.
const MOUNT: &str = "volume";
/// Smallest limit, MiB: ext4 needs room for its own metadata and journal.
const MIN_DISK_MB: u64 = volume::MIN_SIZE >> 20;
/// Largest limit, MiB (16 TiB: ext4's largest file with 4 KiB blocks is
/// about that; this bounds mistakes, not use).
const MAX_DISK_MB: u64 = 16 << 20;

/// The tree of a workspace directory: on its volume if it has one.
pub(super) fn tree_in(dir: &Path) -> PathBuf {
    if dir.join(IMAGE).exists() {
        dir.join(MOUNT).join("tree")
    } else {
        dir.join("tree")
    }
}

impl Workspaces {
    /// Refuses a disk limit this server cannot give (400 `BAD_LIMIT`).
    pub(super) fn check_disk(&self, disk_mb: Option<u64>) -> Result<(), Error> {
        let Some(mb) = disk_mb else { return Ok(()) };
        if !(MIN_DISK_MB..=MAX_DISK_MB).contains(&mb) {
            return Err(Error::new(
                ErrorCode::BadLimit,
                format!("disk_mb must be from {MIN_DISK_MB} to {MAX_DISK_MB} (MiB), not {mb}"),
            ));
        }
        if self.inner.runner.engine().info().rootless {
            return Err(Error::new(
                ErrorCode::BadLimit,
                "disk limits need a server running as root (each tree is a loop-mounted file system); this one runs rootless",
            ));
        }
        Ok(())
    }

    /// Makes workspace `id`'s volume of `disk_mb` MiB and mounts it (its
    /// tree is made by the caller, or by a restore). Nothing to do without
    /// a limit, or when the volume exists.
    pub(super) async fn make_volume(&self, id: &str, disk_mb: Option<u64>) -> Result<(), Error> {
        let Some(mb) = disk_mb else { return Ok(()) };
        let dir = self.dir(id);
        if dir.join(IMAGE).exists() {
            return Ok(());
        }
        blocking(move || {
            let image = dir.join(IMAGE);
            let mount = dir.join(MOUNT);
            std::fs::create_dir_all(&mount).map_err(Error::internal)?;
            volume::create(&image, mb << 20).map_err(Error::internal)?;
            if let Err(err) = volume::mount(&image, &mount) {
                let _ = std::fs::remove_file(&image);
                return Err(Error::internal(err));
            }
            Ok(())
        })
        .await?
    }

    /// Mounts the volumes of the workspaces whose trees are there (at
    /// start; a server that stopped left them mounted, one whose host
    /// restarted did not). A volume that cannot be mounted is logged and
    /// its workspace's tree answers as missing.
    pub(super) fn mount_volumes(&self) {
        let Ok(entries) = std::fs::read_dir(&self.inner.root) else {
            return;
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            let (image, mount) = (dir.join(IMAGE), dir.join(MOUNT));
            if !image.exists() || volume::is_mounted(&mount) {
                continue;
            }
            if let Err(err) = volume::mount(&image, &mount) {
                tracing::error!(%err, workspace = %dir.display(), "mounting a workspace's volume");
            }
        }
    }

    /// Unmounts and removes workspace `id`'s volume, if it has one (its
    /// tree is gone or going: a pause's snapshot holds it, or the workspace
    /// is deleted).
    pub(super) fn drop_volume(&self, id: &str) -> Result<(), Error> {
        let dir = self.dir(id);
        let image = dir.join(IMAGE);
        if !image.exists() {
            return Ok(());
        }
        let mount = dir.join(MOUNT);
        volume::unmount(&mount).map_err(Error::internal)?;
        std::fs::remove_file(&image).map_err(Error::internal)?;
        match std::fs::remove_dir_all(&mount) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(Error::internal(err)),
        }
    }

    /// Refuses to work on workspace `id`'s tree when its volume is not
    /// mounted: the tree would land on the state disk, without its limit.
    pub(super) fn check_volume_mounted(&self, id: &str) -> Result<(), Error> {
        let dir = self.dir(id);
        if dir.join(IMAGE).exists() && !volume::is_mounted(&dir.join(MOUNT)) {
            return Err(Error::internal(format!(
                "the disk volume of workspace {id} is not mounted (see the server's log from its start)"
            )));
        }
        Ok(())
    }

    /// MiB workspace `id`'s tree uses on its volume (`None` without one, or
    /// while it is not mounted).
    pub(super) fn disk_used_mb(&self, id: &str) -> Option<u64> {
        let mount = self.dir(id).join(MOUNT);
        if !volume::is_mounted(&mount) {
            return None;
        }
        volume::usage(&mount).ok().map(|u| u.used.div_ceil(1 << 20))
    }
}
