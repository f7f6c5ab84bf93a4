//! The jail's minimal root, built inside its private mount namespace before
//! the pivot: a tmpfs root, read-only system directories, a minimal `/etc`
//! and `/dev`, `/proc` with the kernel knobs write-protected and runc's
//! masked paths masked, a size-limited noexec `/tmp`, and the caller's binds.
//!
//! All of it lives only in the jail's mount namespace, so nothing has to be
//! cleaned up on the host when the jail ends.
//!
//! On kernels that can copy mounts out of a detached mount tree (Linux 6.15
//! and later), a jail made for the pool pivots before its request exists
//! ([`enter_root`]): detaching the old root waits for an RCU grace period,
//! which then happens while the jail waits in the pool. Binds come later
//! ([`finish_in_root`]). Older kernels, and jails made for a waiting
//! request, build the request's part of the root and pivot with the
//! request ([`finish_root`], [`pivot_into`]).
//!
//! Where binds come from ([`Binds`]): a root-mode jail gets each one from
//! the host as a detached, idmapped tree (only a process with the host's
//! privileges may make one), so that the host's uid 0 on disk is the
//! jail's root and what the jail writes lands with the ids it sees. A
//! rootless jail copies them out of a detached copy of the host's tree it
//! kept before the pivot, or binds them by path before it.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, DirBuilderExt};
use std::path::{Path, PathBuf};

use super::{Identity, StepError, StepResult};
use crate::config::{JailConfig, Limits};
use crate::error::SetupStep;
use crate::sys::{self, mount_attr, tree_flags};

/// Host directories bound read-only into the jail (or recreated as symlinks
/// where the host has merged `/usr`).
const SYSTEM_DIRS: &[&str] = &["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"];
/// Device nodes bound from the host's `/dev`.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];
/// `/proc` entries that stay visible but read-only.
const PROC_READ_ONLY: &[&str] = &["sys", "sysrq-trigger", "irq", "bus", "fs"];
/// `/proc` entries hidden completely (runc's masked paths).
const PROC_MASKED: &[&str] = &[
    "acpi",
    "asound",
    "interrupts",
    "kcore",
    "keys",
    "latency_stats",
    "timer_list",
    "timer_stats",
    "sched_debug",
    // Readable by uid 0 without any capability (root mode): kernel memory
    // layout and allocator state.
    "slabinfo",
    "vmallocinfo",
    "pagetypeinfo",
    "scsi",
    // Host identity a jail has no use for (threat-model row 50): the boot
    // command line, this boot's id (which links jails run in the same boot)
    // and the kernel's build configuration.
    "cmdline",
    "config.gz",
    "sys/kernel/random/boot_id",
];

fn cstr(path: &Path) -> CString {
    // Paths come from validated configuration or constants: no NUL inside.
    CString::new(path.as_os_str().as_bytes()).unwrap_or_default()
}

fn at(root: &Path, jail_path: &str) -> PathBuf {
    root.join(jail_path.trim_start_matches('/'))
}

/// A bind's target (an absolute jail path) under `root`.
fn target_under(root: &Path, target: &Path) -> PathBuf {
    root.join(target.strip_prefix("/").unwrap_or(target))
}

/// Mount flags of `/tmp` and `/dev/shm`.
const SCRATCH_FLAGS: libc::c_ulong = (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC) as libc::c_ulong;

/// The size options of a scratch tmpfs of `size` bytes: one inode per
/// 4 KiB page (at least 1024) so that empty files cannot use unbounded
/// kernel memory.
fn scratch_size(size: u64) -> String {
    let inodes = (size / 4096).max(1024);
    format!("size={size},nr_inodes={inodes}")
}

/// A world-writable, sticky, noexec tmpfs of `size` bytes.
fn scratch_tmpfs(target: &Path, size: u64, step: SetupStep) -> StepResult<()> {
    tmpfs(
        target,
        SCRATCH_FLAGS,
        &format!("mode=1777,{}", scratch_size(size)),
        step,
    )
}

/// Gives a scratch tmpfs mounted with `mounted` bytes a size of `size`
/// (a remount of the same, still empty, file system).
fn resize_scratch(target: &Path, mounted: u64, size: u64, step: SetupStep) -> StepResult<()> {
    if mounted == size {
        return Ok(());
    }
    let opts = CString::new(scratch_size(size)).unwrap_or_default();
    sys::mount(
        None,
        &cstr(target),
        None,
        libc::MS_REMOUNT as libc::c_ulong | SCRATCH_FLAGS,
        Some(&opts),
    )
    .map_err(|e| StepError::new(step, e, format!("resizing {}", target.display())))
}

fn mkdir(path: &Path, mode: u32) -> io::Result<()> {
    match std::fs::DirBuilder::new().recursive(true).mode(mode).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn touch(path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        mkdir(parent, 0o755)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map(drop)
}

fn tmpfs(target: &Path, flags: libc::c_ulong, options: &str, step: SetupStep) -> StepResult<()> {
    let opts = CString::new(options).unwrap_or_default();
    sys::mount(Some(c"tmpfs"), &cstr(target), Some(c"tmpfs"), flags, Some(&opts))
        .map_err(|e| StepError::new(step, e, format!("tmpfs on {}", target.display())))
}

/// Binds `source` onto `target` (recursively) and adds `attrs` to the new
/// mount and its submounts.
fn bind(source: &Path, target: &Path, attrs: u64) -> StepResult<()> {
    let dst = cstr(target);
    sys::mount(
        Some(&cstr(source)),
        &dst,
        None,
        (libc::MS_BIND | libc::MS_REC) as libc::c_ulong,
        None,
    )
    .map_err(|e| {
        StepError::new(
            SetupStep::MountBind,
            e,
            format!("{} -> {}", source.display(), target.display()),
        )
    })?;
    if attrs != 0 {
        sys::mount_setattr(&dst, attrs, true)
            .map_err(|e| StepError::new(SetupStep::MountFlags, e, target.display().to_string()))?;
    }
    Ok(())
}

/// Creates the mount point for a bind of `source`: a directory for a
/// directory, an empty file otherwise.
fn mount_point_for(source: &Path, target: &Path) -> StepResult<()> {
    let is_dir = std::fs::metadata(source).map(|m| m.is_dir()).unwrap_or(false);
    make_mount_point(is_dir, target)
}

fn make_mount_point(is_dir: bool, target: &Path) -> StepResult<()> {
    let made = if is_dir { mkdir(target, 0o755) } else { touch(target) };
    made.map_err(|e| StepError::new(SetupStep::MountPoint, e, target.display().to_string()))
}

/// The attributes of a caller's bind.
fn bind_attrs(writable: bool) -> u64 {
    let mut attrs = mount_attr::NOSUID | mount_attr::NODEV;
    if !writable {
        attrs |= mount_attr::RDONLY;
    }
    attrs
}

/// Builds the part of the root every jail has, before the jail's request
/// is known (pre-created jails do this while they wait): private
/// propagation, the tmpfs root at `root` (an empty host directory that the
/// tmpfs covers in this mount namespace only), system directories, `/etc`,
/// `/dev` and `/proc`.
pub(crate) fn build_base(root: &Path, etc_template: &Path, identity: Identity) -> StepResult<()> {
    // Stop mount events from propagating back to the host.
    sys::mount(
        None,
        c"/",
        None,
        (libc::MS_REC | libc::MS_PRIVATE) as libc::c_ulong,
        None,
    )
    .map_err(|e| StepError::new(SetupStep::MountPropagation, e, "/".into()))?;

    // pivot_root needs the new root to be a mount point of its own.
    tmpfs(
        root,
        (libc::MS_NOSUID | libc::MS_NODEV) as libc::c_ulong,
        "mode=0755,size=1m,nr_inodes=4096",
        SetupStep::RootTmpfs,
    )?;

    system_dirs(root)?;

    let etc = at(root, "/etc");
    mount_point_for(etc_template, &etc)?;
    bind(
        etc_template,
        &etc,
        mount_attr::RDONLY | mount_attr::NOSUID | mount_attr::NODEV,
    )?;

    dev(root, identity)?;
    proc(root)?;
    mkdir(&at(root, "/tmp"), 0o755).map_err(|e| StepError::new(SetupStep::MountPoint, e, "/tmp".into()))
}

/// Where a jail's binds come from.
pub(crate) enum Binds<'a> {
    /// Detached trees the host made, idmapped to the jail's ids and with
    /// their flags set, one per bind in order (root mode).
    Trees(Vec<OwnedFd>),
    /// Sources resolved inside this copy of the host's tree (rootless,
    /// after an early pivot).
    InTree(BorrowedFd<'a>),
    /// Sources bound by path, before the pivot (rootless).
    Paths,
}

/// Adds what depends on the request: `/tmp` and `/dev/shm` of the asked
/// sizes and the caller's binds.
pub(crate) fn finish_root(root: &Path, config: &JailConfig, binds: Binds<'_>) -> StepResult<()> {
    scratch_tmpfs(&at(root, "/tmp"), config.limits.tmp_size_bytes, SetupStep::MountTmp)?;
    // /dev is already read-only; mounting onto an existing directory is
    // still allowed.
    scratch_tmpfs(&at(root, "/dev/shm"), config.limits.shm_size_bytes, SetupStep::MountDev)?;
    add_binds(root, config, binds)
}

/// Mounts the caller's binds under `root`.
fn add_binds(root: &Path, config: &JailConfig, binds: Binds<'_>) -> StepResult<()> {
    let mut trees = match binds {
        Binds::Trees(trees) => trees.into_iter(),
        Binds::InTree(host) => {
            for mount in &config.mounts {
                bind_from(
                    host,
                    &mount.source,
                    &target_under(root, &mount.target),
                    bind_attrs(mount.writable),
                )?;
            }
            return Ok(());
        }
        Binds::Paths => {
            for mount in &config.mounts {
                let target = target_under(root, &mount.target);
                mount_point_for(&mount.source, &target)?;
                bind(&mount.source, &target, bind_attrs(mount.writable))?;
            }
            return Ok(());
        }
    };
    for mount in &config.mounts {
        let Some(tree) = trees.next() else { break };
        attach(&tree, &mount.source, &target_under(root, &mount.target))?;
    }
    Ok(())
}

/// Attaches a tree the host made for a bind of `source` at `target`.
fn attach(tree: &OwnedFd, source: &Path, target: &Path) -> StepResult<()> {
    let failed = |e| {
        StepError::new(
            SetupStep::MountBind,
            e,
            format!("{} -> {}", source.display(), target.display()),
        )
    };
    let is_dir = std::fs::File::from(tree.try_clone().map_err(failed)?)
        .metadata()
        .map(|m| m.is_dir())
        .map_err(failed)?;
    make_mount_point(is_dir, target)?;
    sys::attach_tree(tree, &cstr(target)).map_err(failed)
}

/// What a pre-created jail does before its request on kernels that allow it
/// (see the module documentation): `/tmp` and `/dev/shm` of the default
/// sizes, with `copy_host_tree` a detached copy of the host's mount tree
/// (returned; binds are copied out of it later), and the pivot into the
/// read-only root.
pub(crate) fn enter_root(root: &Path, copy_host_tree: bool) -> StepResult<Option<OwnedFd>> {
    let defaults = Limits::default();
    scratch_tmpfs(&at(root, "/tmp"), defaults.tmp_size_bytes, SetupStep::MountTmp)?;
    scratch_tmpfs(&at(root, "/dev/shm"), defaults.shm_size_bytes, SetupStep::MountDev)?;
    // A copy of this namespace's tree as it is now (private, like the
    // namespace since `build_base`), reachable only through the descriptor.
    let host = copy_host_tree
        .then(|| {
            sys::open_tree(
                libc::AT_FDCWD,
                c"/",
                tree_flags::OPEN_TREE_CLONE | libc::AT_RECURSIVE as libc::c_uint,
            )
            .map_err(|e| StepError::new(SetupStep::MountBind, e, "copying the host's mount tree".into()))
        })
        .transpose()?;
    pivot_into(root)?;
    Ok(host)
}

/// Adds what depends on the request to a root entered with [`enter_root`]:
/// `/tmp` and `/dev/shm` get the asked sizes, and the caller's binds are
/// attached, with `/` writable only while their mount points are made.
pub(crate) fn finish_in_root(config: &JailConfig, binds: Binds<'_>) -> StepResult<()> {
    let defaults = Limits::default();
    let root = Path::new("/");
    resize_scratch(
        &at(root, "/tmp"),
        defaults.tmp_size_bytes,
        config.limits.tmp_size_bytes,
        SetupStep::MountTmp,
    )?;
    resize_scratch(
        &at(root, "/dev/shm"),
        defaults.shm_size_bytes,
        config.limits.shm_size_bytes,
        SetupStep::MountDev,
    )?;
    if config.mounts.is_empty() {
        return Ok(());
    }
    sys::mount_change_attr(c"/", 0, mount_attr::RDONLY, false)
        .map_err(|e| StepError::new(SetupStep::MountFlags, e, "/ writable for mount points".into()))?;
    add_binds(root, config, binds)?;
    sys::mount_setattr(c"/", mount_attr::RDONLY, false)
        .map_err(|e| StepError::new(SetupStep::RootReadOnly, e, "/".into()))
}

/// Binds `source`, a path of the host tree `host`, onto `target`
/// (recursively) and adds `attrs` to the new mount and its submounts.
fn bind_from(host: BorrowedFd<'_>, source: &Path, target: &Path, attrs: u64) -> StepResult<()> {
    let failed = |e| {
        StepError::new(
            SetupStep::MountBind,
            e,
            format!("{} -> {}", source.display(), target.display()),
        )
    };
    let source_fd = std::fs::File::from(sys::open_path_in(host, &cstr(source)).map_err(failed)?);
    let is_dir = source_fd.metadata().map(|m| m.is_dir()).unwrap_or(false);
    make_mount_point(is_dir, target)?;
    let copy = sys::open_tree(
        source_fd.as_raw_fd(),
        c"",
        tree_flags::OPEN_TREE_CLONE | (libc::AT_RECURSIVE | libc::AT_EMPTY_PATH) as libc::c_uint,
    )
    .map_err(failed)?;
    let dst = cstr(target);
    sys::attach_tree(&copy, &dst).map_err(failed)?;
    sys::mount_setattr(&dst, attrs, true)
        .map_err(|e| StepError::new(SetupStep::MountFlags, e, target.display().to_string()))
}

fn system_dirs(root: &Path) -> StepResult<()> {
    for name in SYSTEM_DIRS {
        let host = Path::new("/").join(name);
        let Ok(meta) = std::fs::symlink_metadata(&host) else {
            continue;
        };
        let target = root.join(name);
        if meta.file_type().is_symlink() {
            // Merged /usr: /bin -> usr/bin stays a symlink.
            let link = std::fs::read_link(&host)
                .map_err(|e| StepError::new(SetupStep::MountPoint, e, host.display().to_string()))?;
            symlink(&link, &target)
                .map_err(|e| StepError::new(SetupStep::MountPoint, e, target.display().to_string()))?;
        } else if meta.is_dir() {
            mkdir(&target, 0o755)
                .map_err(|e| StepError::new(SetupStep::MountPoint, e, target.display().to_string()))?;
            bind(
                &host,
                &target,
                mount_attr::RDONLY | mount_attr::NOSUID | mount_attr::NODEV,
            )?;
        }
    }
    Ok(())
}

fn dev(root: &Path, identity: Identity) -> StepResult<()> {
    let dev = at(root, "/dev");
    mkdir(&dev, 0o755).map_err(|e| StepError::new(SetupStep::MountPoint, e, "/dev".into()))?;
    tmpfs(
        &dev,
        (libc::MS_NOSUID | libc::MS_NOEXEC) as libc::c_ulong,
        "mode=0755,size=64k,nr_inodes=256",
        SetupStep::MountDev,
    )?;
    for name in DEVICES {
        let host = Path::new("/dev").join(name);
        if std::fs::symlink_metadata(&host).is_err() {
            continue;
        }
        let target = dev.join(name);
        touch(&target).map_err(|e| StepError::new(SetupStep::MountPoint, e, target.display().to_string()))?;
        // Device nodes must stay usable, so no NODEV here.
        // Read-only still allows writing to the device, but not chmod or
        // chown of the host's device inode (which uid 0 in a root-mode jail
        // owns).
        bind(
            &host,
            &target,
            mount_attr::RDONLY | mount_attr::NOSUID | mount_attr::NOEXEC,
        )?;
    }

    let pts = dev.join("pts");
    mkdir(&pts, 0o755).map_err(|e| StepError::new(SetupStep::MountPoint, e, "/dev/pts".into()))?;
    // gid=5 (tty) is only mapped in a root-mode jail (rootless maps one gid).
    let pts_opts = if matches!(identity, Identity::Caller { .. }) {
        c"newinstance,ptmxmode=0666,mode=0620,max=64"
    } else {
        c"newinstance,ptmxmode=0666,mode=0620,max=64,gid=5"
    };
    sys::mount(
        Some(c"devpts"),
        &cstr(&pts),
        Some(c"devpts"),
        (libc::MS_NOSUID | libc::MS_NOEXEC) as libc::c_ulong,
        Some(pts_opts),
    )
    .map_err(|e| StepError::new(SetupStep::MountDev, e, "devpts on /dev/pts".into()))?;

    // Mounted per request (its size is part of the request).
    mkdir(&dev.join("shm"), 0o755).map_err(|e| StepError::new(SetupStep::MountPoint, e, "/dev/shm".into()))?;

    for (link, to) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(to, dev.join(link)).map_err(|e| StepError::new(SetupStep::MountPoint, e, format!("/dev/{link}")))?;
    }
    // Nothing new can be created in /dev afterwards.
    sys::mount_setattr(&cstr(&dev), mount_attr::RDONLY, false)
        .map_err(|e| StepError::new(SetupStep::MountFlags, e, "/dev".into()))
}

fn proc(root: &Path) -> StepResult<()> {
    let proc = at(root, "/proc");
    mkdir(&proc, 0o555).map_err(|e| StepError::new(SetupStep::MountPoint, e, "/proc".into()))?;
    // This process is PID 1 of the new PID namespace, so the new procfs
    // shows the jail's processes only.
    sys::mount(
        Some(c"proc"),
        &cstr(&proc),
        Some(c"proc"),
        (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC) as libc::c_ulong,
        None,
    )
    .map_err(|e| StepError::new(SetupStep::MountProc, e, "/proc".into()))?;
    // Before /proc/sys turns read-only.
    memfd_noexec(&proc)?;

    for name in PROC_READ_ONLY {
        let path = proc.join(name);
        if std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        bind(
            &path,
            &path,
            mount_attr::RDONLY | mount_attr::NOSUID | mount_attr::NODEV | mount_attr::NOEXEC,
        )
        .map_err(|e| e.restep(SetupStep::ProcMasks))?;
    }
    for name in PROC_MASKED {
        let path = proc.join(name);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            tmpfs(
                &path,
                (libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC) as libc::c_ulong,
                "size=0,nr_inodes=1",
                SetupStep::ProcMasks,
            )?;
        } else {
            // The host's /dev/null, read-only so that its inode cannot be
            // changed from here.
            bind(
                Path::new("/dev/null"),
                &path,
                mount_attr::RDONLY | mount_attr::NOSUID | mount_attr::NOEXEC,
            )
            .map_err(|e| e.restep(SetupStep::ProcMasks))?;
        }
    }
    Ok(())
}

/// The strongest `vm.memfd_noexec` scope: `memfd_create` with `MFD_EXEC`
/// is refused, and one without `MFD_EXEC` or `MFD_NOEXEC_SEAL` gets
/// `MFD_NOEXEC_SEAL`, so no memory file of the jail can ever be executed
/// (threat-model row 17: a memfd is the way round a `noexec` `/tmp`).
/// Runtimes that only use memfds for data (Node, Python) are unaffected.
const MEMFD_NOEXEC_ENFORCED: &[u8] = b"2";

/// Sets `vm.memfd_noexec` of the jail's PID namespace (the scope belongs to
/// the PID namespace of the writer, which this process is PID 1 of; it can
/// only be raised, and namespaces made later inherit it) through the jail's
/// own procfs at `proc`.
///
/// Writing needs `CAP_SYS_ADMIN` over the PID namespace, which the init has,
/// and, since procfs checks sysctl file modes against the host's uid 0,
/// an effective uid that is the host's root: a rootless init (another host
/// uid) is refused with `EACCES` and its jail keeps the host's scope (see
/// the README, row 17). Kernels before 6.3 have no such sysctl.
pub(crate) fn memfd_noexec(proc: &Path) -> StepResult<()> {
    let path = proc.join("sys/vm/memfd_noexec");
    let written = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut file| io::Write::write_all(&mut file, MEMFD_NOEXEC_ENFORCED));
    match written {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EACCES)) => Ok(()),
        Err(e) => Err(StepError::new(SetupStep::ProcMasks, e, path.display().to_string())),
    }
}

/// Pivots into `root`, detaches the old root and makes `/` read-only.
pub(crate) fn pivot_into(root: &Path) -> StepResult<()> {
    let root_c = cstr(root);
    // SAFETY: chdir with a valid path.
    sys::check_int(unsafe { libc::chdir(root_c.as_ptr()) })
        .map_err(|e| StepError::new(SetupStep::PivotRoot, e, format!("chdir {}", root.display())))?;
    // pivot_root(".", ".") stacks the old root on top of the new one at "/",
    // which avoids needing a put_old directory inside the new root.
    sys::pivot_root(c".", c".").map_err(|e| StepError::new(SetupStep::PivotRoot, e, root.display().to_string()))?;
    // SAFETY: umount2 with a valid path.
    sys::check_int(unsafe { libc::umount2(c".".as_ptr(), libc::MNT_DETACH) })
        .map_err(|e| StepError::new(SetupStep::UmountOldRoot, e, "old root".into()))?;
    // SAFETY: chdir with a valid path.
    sys::check_int(unsafe { libc::chdir(c"/".as_ptr()) })
        .map_err(|e| StepError::new(SetupStep::PivotRoot, e, "chdir /".into()))?;
    sys::mount_setattr(c"/", mount_attr::RDONLY, false)
        .map_err(|e| StepError::new(SetupStep::RootReadOnly, e, "/".into()))
}
