//! Raw system calls the jail needs and `libc` does not wrap, wrapped once.
//!
//! Each wrapper turns the C convention (-1 and `errno`) into `io::Result`, so
//! the rest of the crate never touches `errno` directly.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Converts a C return value into `io::Result`.
pub(crate) fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Converts a C `int` return value into `io::Result`.
pub(crate) fn check_int(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The two sides of a `clone` with fork semantics.
pub(crate) enum Cloned {
    /// Running in the new process.
    Child,
    /// Running in the caller; the child's pid and a pidfd for it.
    Parent { pid: libc::pid_t, pidfd: OwnedFd },
}

/// `clone(flags | CLONE_PIDFD)` with fork semantics (no new stack, no shared
/// memory): namespaces given in `flags` are created for the child only.
/// With `cgroup` (a cgroup v2 directory), the child starts inside that
/// cgroup (`clone3` with `CLONE_INTO_CGROUP`): no migration, so none of the
/// global lock a move into a cgroup takes (an RCU grace period).
///
/// Must only be called from a single-threaded process (the zygote), like
/// `fork`.
pub(crate) fn clone_with_pidfd(flags: libc::c_int, cgroup: Option<BorrowedFd<'_>>) -> io::Result<Cloned> {
    let mut pidfd: libc::c_int = -1;
    let ret = match cgroup {
        // SAFETY: without CLONE_VM and with a null stack the kernel duplicates
        // the address space exactly like fork(2), so the child continues on its
        // own copy of this stack. CLONE_PIDFD stores a new descriptor into
        // `pidfd`, which outlives the call. The caller is single-threaded.
        None => unsafe {
            libc::syscall(
                libc::SYS_clone,
                (flags | libc::CLONE_PIDFD | libc::SIGCHLD) as libc::c_ulong,
                std::ptr::null_mut::<libc::c_void>(),
                &mut pidfd as *mut libc::c_int,
                std::ptr::null_mut::<libc::c_int>(),
                0 as libc::c_ulong,
            )
        },
        Some(cgroup) => {
            let args = CloneArgs {
                flags: (flags | libc::CLONE_PIDFD) as u32 as u64 | CLONE_INTO_CGROUP,
                pidfd: &mut pidfd as *mut libc::c_int as u64,
                exit_signal: libc::SIGCHLD as u64,
                cgroup: cgroup.as_raw_fd() as u64,
                ..CloneArgs::default()
            };
            // SAFETY: as above (stack 0: the child continues on its copy of
            // this stack); `args` is a valid `struct clone_args` of the size
            // given, and `pidfd` outlives the call.
            unsafe {
                libc::syscall(
                    libc::SYS_clone3,
                    &args as *const CloneArgs,
                    std::mem::size_of::<CloneArgs>(),
                )
            }
        }
    };
    match check(ret)? {
        0 => Ok(Cloned::Child),
        pid => {
            // SAFETY: the kernel returned a fresh descriptor that we own.
            let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
            Ok(Cloned::Parent {
                pid: pid as libc::pid_t,
                pidfd,
            })
        }
    }
}

/// `CLONE_INTO_CGROUP` (Linux 5.7), a `clone3`-only flag.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` up to `cgroup` (version 2, Linux 5.7).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `fork(2)` from a single-threaded process.
pub(crate) fn fork() -> io::Result<libc::pid_t> {
    // SAFETY: callers are single-threaded (zygote or jail init), so the child
    // may run arbitrary code afterwards.
    check_int(unsafe { libc::fork() })
}

/// `pivot_root(new_root, put_old)`.
pub(crate) fn pivot_root(new_root: &CStr, put_old: &CStr) -> io::Result<()> {
    // SAFETY: both arguments are valid NUL-terminated strings.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) }).map(drop)
}

/// Attribute bits of `mount_setattr(2)`.
pub(crate) mod mount_attr {
    pub const RDONLY: u64 = 0x0000_0001;
    pub const NOSUID: u64 = 0x0000_0002;
    pub const NODEV: u64 = 0x0000_0004;
    pub const NOEXEC: u64 = 0x0000_0008;
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(path, AT_RECURSIVE?, {attr_set})`: adds flags to a mount
/// (and its submounts) without touching the flags the kernel locks in a user
/// namespace (atime), which a classic `MS_REMOUNT` would have to repeat.
pub(crate) fn mount_setattr(path: &CStr, attr_set: u64, recursive: bool) -> io::Result<()> {
    mount_change_attr(path, attr_set, 0, recursive)
}

/// `mount_setattr(path, AT_RECURSIVE?, {attr_set, attr_clr})`.
pub(crate) fn mount_change_attr(path: &CStr, attr_set: u64, attr_clr: u64, recursive: bool) -> io::Result<()> {
    let attr = MountAttr {
        attr_set,
        attr_clr,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: `path` is NUL-terminated and `attr` is a valid mount_attr of the
    // size passed.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// Flags of `open_tree(2)` and `move_mount(2)`.
pub(crate) mod tree_flags {
    pub const OPEN_TREE_CLONE: libc::c_uint = 1;
    pub const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
}

/// `open_tree(dirfd, path, flags)`: with `OPEN_TREE_CLONE`, a detached copy
/// of the mount at `path` (and its submounts with `AT_RECURSIVE`), attached
/// to nothing until `move_mount`.
pub(crate) fn open_tree(dirfd: RawFd, path: &CStr, flags: libc::c_uint) -> io::Result<OwnedFd> {
    // SAFETY: `path` is NUL-terminated; the call only returns a descriptor.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            dirfd,
            path.as_ptr(),
            flags | libc::O_CLOEXEC as libc::c_uint,
        )
    })?;
    // SAFETY: the kernel returned a fresh descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `move_mount(tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH)`:
/// attaches a detached tree from `open_tree` at `target`.
pub(crate) fn attach_tree(tree: &OwnedFd, target: &CStr) -> io::Result<()> {
    // SAFETY: both paths are NUL-terminated; `tree` is a descriptor we own.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            tree_flags::MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
    .map(drop)
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `RESOLVE_IN_ROOT` of `openat2(2)`.
const RESOLVE_IN_ROOT: u64 = 0x10;

/// An `O_PATH` descriptor of `path` resolved with `root` as the root
/// directory (`openat2` with `RESOLVE_IN_ROOT`: `..` and absolute symlinks
/// stay inside `root`, as they would for a process chrooted there).
pub(crate) fn open_path_in(root: BorrowedFd<'_>, path: &CStr) -> io::Result<OwnedFd> {
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT,
    };
    // SAFETY: `path` is NUL-terminated and `how` is a valid open_how of the
    // size passed.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    })?;
    // SAFETY: the kernel returned a fresh descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Whether the running kernel is at least `major.minor` (from `uname`).
pub(crate) fn kernel_at_least(major: u32, minor: u32) -> bool {
    // SAFETY: utsname is plain data filled in by the kernel.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid out-pointer.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return false;
    }
    // SAFETY: the kernel NUL-terminates the release string.
    let release = unsafe { CStr::from_ptr(uts.release.as_ptr()) }.to_string_lossy();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

/// `mount(2)` with optional source, fs type and data.
pub(crate) fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let ptr = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is null or a valid NUL-terminated string.
    check_int(unsafe {
        libc::mount(
            ptr(source),
            target.as_ptr(),
            ptr(fstype),
            flags,
            ptr(data).cast::<libc::c_void>(),
        )
    })
    .map(drop)
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)`.
pub(crate) fn pidfd_send_signal(pidfd: &OwnedFd, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: plain integer arguments; a null siginfo is allowed.
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
}

/// Closes every descriptor from `first` upwards.
pub(crate) fn close_from(first: RawFd) {
    // SAFETY: close_range only closes descriptors; callers own them all.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first as libc::c_uint, libc::c_uint::MAX, 0) };
    if ret == -1 {
        // close_range refused (old kernel, or a seccomp profile around us):
        // close what /proc lists, or every number up to the open-file limit.
        let listed: Option<Vec<RawFd>> = std::fs::read_dir("/proc/self/fd").ok().map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        });
        let numbers = listed.unwrap_or_else(|| {
            // SAFETY: sysconf has no preconditions.
            let max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) };
            (0..max.clamp(1024, 1 << 20) as RawFd).collect()
        });
        for fd in numbers.into_iter().filter(|&fd| fd >= first) {
            // SAFETY: closing descriptors the caller gave up; EBADF is harmless.
            unsafe { libc::close(fd) };
        }
    }
}

/// Creates a pipe with both ends close-on-exec.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for two descriptors.
    check_int(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: the kernel returned two fresh descriptors that we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sets or clears `O_NONBLOCK`.
pub(crate) fn set_nonblocking(fd: RawFd, nonblocking: bool) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor the caller owns.
    let flags = check_int(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let flags = if nonblocking {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above.
    check_int(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) }).map(drop)
}

/// Number of threads of the calling process, from `/proc/self/status`.
pub(crate) fn thread_count() -> io::Result<usize> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| io::Error::other("no Threads line in /proc/self/status"))
}

/// Writes all of `data` to a raw descriptor, retrying on `EINTR`.
pub(crate) fn write_all(fd: RawFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: `data` is a valid buffer of the given length.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        data = &data[n as usize..];
    }
    Ok(())
}

/// Blocks until the pidfd reports exit, at most `limit`.
pub(crate) fn wait_for_exit(pidfd: &OwnedFd, limit: std::time::Duration) {
    let mut poll = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let timeout = limit.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut poll, 1, timeout) };
}

/// Blocks until `first` or `second` has an event (readable, hung up or in
/// error); returns which of the two have one.
pub(crate) fn poll_either(first: RawFd, second: RawFd) -> io::Result<(bool, bool)> {
    let pollfd = |fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let mut polled = [pollfd(first), pollfd(second)];
    // SAFETY: two valid pollfd entries for the duration of the call.
    check_int(unsafe { libc::poll(polled.as_mut_ptr(), 2, -1) })?;
    Ok((polled[0].revents != 0, polled[1].revents != 0))
}

/// A non-blocking, close-on-exec eventfd.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd with constant flags; the result is checked.
    let fd = check_int(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds one to an eventfd's counter, waking whoever polls it.
pub(crate) fn eventfd_signal(fd: &OwnedFd) {
    let _ = write_all(fd.as_raw_fd(), &1u64.to_ne_bytes());
}

/// Whether the process behind `pidfd` has exited (its pidfd is readable).
pub(crate) fn has_exited(pidfd: &OwnedFd) -> bool {
    let mut poll = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; a zero timeout only checks.
    unsafe { libc::poll(&mut poll, 1, 0) == 1 && poll.revents & libc::POLLIN != 0 }
}

/// Flags of `mount_setattr(2)`'s idmapping.
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// A detached copy of the tree at `source` (recursive) with `attr_set` on
/// every mount of it, idmapped with `idmap`'s maps if given: a bind for a
/// jail in that user namespace. Needs the host's `CAP_SYS_ADMIN`.
pub(crate) fn detached_tree(source: &CStr, attr_set: u64, idmap: Option<&OwnedFd>) -> io::Result<OwnedFd> {
    let tree = open_tree(
        libc::AT_FDCWD,
        source,
        tree_flags::OPEN_TREE_CLONE | libc::AT_RECURSIVE as libc::c_uint,
    )?;
    let attr = MountAttr {
        attr_set: attr_set | idmap.map_or(0, |_| MOUNT_ATTR_IDMAP),
        attr_clr: 0,
        propagation: 0,
        userns_fd: idmap.map_or(0, |ns| ns.as_raw_fd() as u64),
    };
    // SAFETY: `tree` is a descriptor we own, the path is empty
    // (AT_EMPTY_PATH) and `attr` is a valid mount_attr of the size passed.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })?;
    Ok(tree)
}

/// The kernel's Landlock ABI version, or `None` when Landlock is absent or
/// disabled (`landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)`).
pub(crate) fn landlock_abi() -> Option<u32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute pointer and size 0 this call only
    // returns the ABI version.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(version).ok().filter(|v| *v > 0)
}
