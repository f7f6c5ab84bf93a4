//! The seccomp policy (threat-model rows 10–13 and 16, ARCHITECTURE
//! decision 6), compiled once on the host and installed last before `execve`.
//!
//! seccompiler builds the rule table (one match action, `EPERM`); a short
//! hand-written prefix in front of it answers `ENOSYS` for `clone3`, so that
//! glibc falls back to `clone` whose flags the table can inspect, and for
//! Linux AIO (row 34), `EPERM` for the x32 ABI and `EAFNOSUPPORT` for
//! kernel uevent sockets (row 50). One filter means one BPF JIT per jail.

use std::collections::BTreeMap;

use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::config::SeccompLevel;
use crate::error::{JailError, Result};

/// Syscalls refused outright with `EPERM`.
const REFUSED: &[libc::c_long] = &[
    // Row 10: other processes' memory and tracing.
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_process_madvise,
    libc::SYS_pidfd_getfd,
    libc::SYS_kcmp,
    // Row 11: mounts, old and new API, and root changes.
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    // Row 12: joining namespaces.
    libc::SYS_setns,
    // Row 13: kernel attack surface.
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_keyctl,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_quotactl_fd,
    libc::SYS_syslog,
    libc::SYS_lookup_dcookie,
    libc::SYS_iopl,
    libc::SYS_ioperm,
    libc::SYS_modify_ldt,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_vhangup,
    libc::SYS_uselib,
    libc::SYS_ustat,
    libc::SYS_sysfs,
    libc::SYS__sysctl,
    libc::SYS_nfsservctl,
    libc::SYS_fanotify_init,
    libc::SYS_mbind,
    libc::SYS_migrate_pages,
    libc::SYS_move_pages,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
];

/// Namespace flags `clone` may carry (`CLONE_NEWTIME` shares its bit with the
/// exit signal in `clone`, so it is checked for `unshare` only).
const CLONE_NAMESPACE_FLAGS: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];
const CLONE_NEWTIME: u64 = 0x80;

/// `personality` values that only query or select Linux behaviour (the set
/// Docker's default profile allows).
const PERSONALITY_ALLOWED: &[u64] = &[0, 0x0008, 0x20000, 0x20008, 0xffff_ffff];

/// The newest x86_64 syscall this policy was written against (`mseal`).
/// Newer ones answer `ENOSYS` until reviewed: libc falls back, and a new
/// kernel interface (such as `open_tree_attr`) is not reachable by default.
const LAST_REVIEWED_SYSCALL: u32 = 462;

/// Socket families a jail may create: local, IPv4, IPv6 and netlink (for
/// interface queries). Others (packet, AF_ALG, vsock, SCTP...) are kernel
/// attack surface, some loaded on demand as modules.
const ALLOWED_SOCKET_FAMILIES: &[u64] = &[
    libc::AF_UNIX as u64,
    libc::AF_INET as u64,
    libc::AF_INET6 as u64,
    libc::AF_NETLINK as u64,
];

/// Set-user-ID and set-group-ID mode bits.
const SETID_BITS: [u64; 2] = [libc::S_ISUID as u64, libc::S_ISGID as u64];
/// `O_TMPFILE` without its `O_DIRECTORY` part (the bit that marks it).
const O_TMPFILE_BIT: u64 = 0o20_000_000;

/// First syscall number of the x32 ABI (`__X32_SYSCALL_BIT`).
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The compiled filters: the policy every level shares, installed while a
/// pre-created jail waits, and what `strict` adds, stacked on top once the
/// request asks for it (the kernel applies the most restrictive answer of
/// all installed filters).
#[derive(Debug, Clone)]
pub(crate) struct SeccompPrograms {
    base: BpfProgram,
    strict: BpfProgram,
}

impl SeccompPrograms {
    /// Compiles both filters.
    pub(crate) fn compile() -> Result<Self> {
        Ok(SeccompPrograms {
            base: compile_base()?,
            strict: compile_strict()?,
        })
    }

    /// The filter of the standard level.
    pub(crate) fn base(&self) -> &BpfProgram {
        &self.base
    }

    /// What a level adds to the base filter.
    pub(crate) fn extra(&self, level: SeccompLevel) -> Option<&BpfProgram> {
        match level {
            SeccompLevel::Standard => None,
            SeccompLevel::Strict => Some(&self.strict),
        }
    }
}

/// Installs the filter on the calling thread (sets `no_new_privs` first).
pub(crate) fn install(program: &BpfProgram) -> std::io::Result<()> {
    seccompiler::apply_filter(program).map_err(std::io::Error::other)
}

fn compile_base() -> Result<BpfProgram> {
    let cond = |arg: u8, len: SeccompCmpArgLen, op: SeccompCmpOp, value: u64| {
        SeccompCondition::new(arg, len, op, value).map_err(compile_error)
    };
    let rule = |conditions: Vec<SeccompCondition>| SeccompRule::new(conditions).map_err(compile_error);

    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = REFUSED.iter().map(|&nr| (nr, Vec::new())).collect();

    // Row 12: clone with any namespace flag (each rule is one flag; rules
    // of a syscall are alternatives).
    let mut clone_rules = Vec::new();
    for &flag in CLONE_NAMESPACE_FLAGS {
        clone_rules.push(rule(vec![cond(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(flag),
            flag,
        )?])?);
    }
    rules.insert(libc::SYS_clone, clone_rules);
    let mut unshare_rules = Vec::new();
    for &flag in CLONE_NAMESPACE_FLAGS.iter().chain(&[CLONE_NEWTIME]) {
        unshare_rules.push(rule(vec![cond(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(flag),
            flag,
        )?])?);
    }
    rules.insert(libc::SYS_unshare, unshare_rules);

    // Row 16: terminal injection.
    rules.insert(
        libc::SYS_ioctl,
        vec![
            rule(vec![cond(1, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, libc::TIOCSTI)?])?,
            rule(vec![cond(
                1,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::Eq,
                libc::TIOCLINUX,
            )?])?,
        ],
    );

    // Row 15: no set-user-ID or set-group-ID files. In root mode the jail is
    // uid 0 and owns what it creates in writable binds, where a setuid-root
    // file would be a root shell for any host user; `nosuid` on the jail's
    // own mounts does not cover the host's view of the same files. Refused
    // when a mode with those bits is set (chmod family) or given to a file
    // being created (open/openat with O_CREAT or O_TMPFILE, creat, mknod).
    let creating: &[u64] = &[libc::O_CREAT as u64, O_TMPFILE_BIT];
    for (nr, mode_arg, flags) in [
        (libc::SYS_chmod, 1, None),
        (libc::SYS_fchmod, 1, None),
        (libc::SYS_fchmodat, 2, None),
        (libc::SYS_fchmodat2, 2, None),
        (libc::SYS_creat, 1, None),
        (libc::SYS_mknod, 1, None),
        (libc::SYS_mknodat, 2, None),
        (libc::SYS_open, 2, Some(1)),
        (libc::SYS_openat, 3, Some(2)),
    ] {
        let mut alternatives = Vec::new();
        for bit in SETID_BITS {
            let mode = cond(mode_arg, SeccompCmpArgLen::Dword, SeccompCmpOp::MaskedEq(bit), bit)?;
            match flags {
                None => alternatives.push(rule(vec![mode])?),
                Some(flags_arg) => {
                    for &flag in creating {
                        let creates = cond(flags_arg, SeccompCmpArgLen::Dword, SeccompCmpOp::MaskedEq(flag), flag)?;
                        alternatives.push(rule(vec![creates, mode.clone()])?);
                    }
                }
            }
        }
        rules.insert(nr, alternatives);
    }

    // Row 13: socket families beyond the allowed ones.
    let mut other_family = Vec::new();
    for &family in ALLOWED_SOCKET_FAMILIES {
        other_family.push(cond(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, family)?);
    }
    rules.insert(libc::SYS_socket, vec![rule(other_family)?]);

    // Row 13: execution domains other than plain Linux.
    let mut not_allowed = Vec::new();
    for &value in PERSONALITY_ALLOWED {
        not_allowed.push(cond(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, value)?);
    }
    rules.insert(libc::SYS_personality, vec![rule(not_allowed)?]);

    let refuse = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        TargetArch::x86_64,
    )
    .map_err(compile_error)?;
    let refuse: BpfProgram = refuse.try_into().map_err(compile_error)?;

    // Row 13: the x32 ABI, `ENOSYS` answers and uevent sockets first (see
    // `prefix`).
    let mut program = prefix();
    program.extend(refuse);

    Ok(program)
}

/// `strict`: no socket of any family but `AF_UNIX`.
fn compile_strict() -> Result<BpfProgram> {
    let not_unix = SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, libc::AF_UNIX as u64)
        .map_err(compile_error)?;
    let filter = SeccompFilter::new(
        BTreeMap::from([(
            libc::SYS_socket,
            vec![SeccompRule::new(vec![not_unix]).map_err(compile_error)?],
        )]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        TargetArch::x86_64,
    )
    .map_err(compile_error)?;
    filter.try_into().map_err(compile_error)
}

/// Syscalls answered `ENOSYS` ahead of the table. `clone3` and `openat2`
/// take their arguments in memory, which seccomp cannot read; `ENOSYS`
/// makes libc fall back to `clone` and `openat`, whose flags the table
/// inspects. Linux AIO (threat-model row 34) draws on a host-wide budget
/// (`fs.aio-max-nr`, 65536 events by default) that one `io_setup` with a
/// large count could take for every other process on the host; no runtime
/// needs it (glibc's POSIX AIO uses threads, libuv a thread pool), and
/// `ENOSYS` is the answer of a kernel built without it, which libraries
/// handle by falling back.
const ENOSYS_SYSCALLS: &[libc::c_long] = &[
    libc::SYS_clone3,
    libc::SYS_openat2,
    libc::SYS_io_setup,
    libc::SYS_io_destroy,
    libc::SYS_io_getevents,
    libc::SYS_io_submit,
    libc::SYS_io_cancel,
    SYS_IO_PGETEVENTS,
];

/// `io_pgetevents` on x86_64 (the libc crate does not name it).
const SYS_IO_PGETEVENTS: libc::c_long = 333;

/// The netlink protocol of kernel uevents (`NETLINK_KOBJECT_UEVENT`). A
/// process in the host's network namespace with such a socket bound to
/// group 1 receives every device event of the host (threat-model row 50):
/// refused with `EAFNOSUPPORT`, the answer of a kernel without the protocol.
const NETLINK_KOBJECT_UEVENT: u32 = 15;

// Prefix jumps are 8-bit offsets.
const _: () = assert!(ENOSYS_SYSCALLS.len() < 200);

/// ```text
/// if (arch != AUDIT_ARCH_X86_64) goto table;   // the table kills it
/// if (nr >= X32_SYSCALL_BIT) return ERRNO(EPERM);
/// if (nr in ENOSYS_SYSCALLS) return ERRNO(ENOSYS);
/// if (nr == __NR_socket) goto socket;
/// if (nr > LAST_REVIEWED_SYSCALL) return ERRNO(ENOSYS);
/// goto table;
/// socket:
/// if (args[0] == AF_NETLINK && args[2] == NETLINK_KOBJECT_UEVENT)
///     return ERRNO(EAFNOSUPPORT);
/// table: ...
/// ```
/// The table loads the architecture and number again, so it does not care
/// what the prefix left in the accumulator.
fn prefix() -> Vec<sock_filter> {
    const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const BPF_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
    const BPF_JGT_K: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
    const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    // struct seccomp_data: nr at 0, arch at 4, args from 16 (8 bytes each;
    // the low half first on this little-endian architecture).
    const ARG0_LOW: u32 = 16;
    const ARG2_LOW: u32 = 16 + 2 * 8;
    let insn = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    let n = ENOSYS_SYSCALLS.len();
    // Positions of the labels (jump offsets count the instructions skipped
    // after the jump itself, so a jump at `from` to `to` is `to - from - 1`).
    let enosys = 7 + n;
    let socket = enosys + 1;
    let table = socket + 5;
    // Every target is a few instructions ahead (see the assertion below).
    let jump = |from: usize, to: usize| (to - from - 1) as u8;
    let mut program = vec![
        // 0-1: other architectures go straight to the table, whose own
        // check kills them.
        insn(BPF_LD_W_ABS, 0, 0, 4),
        insn(BPF_JEQ_K, 0, jump(1, table), AUDIT_ARCH_X86_64),
        // 2-4: the x32 ABI uses this architecture's audit value with bit
        // 30 set in the number, so the architecture check cannot see it.
        insn(BPF_LD_W_ABS, 0, 0, 0),
        insn(BPF_JGE_K, 0, 1, X32_SYSCALL_BIT),
        insn(BPF_RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
    ];
    for (i, &nr) in ENOSYS_SYSCALLS.iter().enumerate() {
        program.push(insn(BPF_JEQ_K, jump(5 + i, enosys), 0, nr as u32));
    }
    program.extend([
        insn(BPF_JEQ_K, jump(5 + n, socket), 0, libc::SYS_socket as u32),
        insn(BPF_JGT_K, 0, jump(6 + n, table), LAST_REVIEWED_SYSCALL),
        insn(BPF_RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        // socket: AF_NETLINK with the uevent protocol.
        insn(BPF_LD_W_ABS, 0, 0, ARG0_LOW),
        insn(BPF_JEQ_K, 0, jump(socket + 1, table), libc::AF_NETLINK as u32),
        insn(BPF_LD_W_ABS, 0, 0, ARG2_LOW),
        insn(BPF_JEQ_K, 0, jump(socket + 3, table), NETLINK_KOBJECT_UEVENT),
        insn(BPF_RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::EAFNOSUPPORT as u32),
    ]);
    debug_assert_eq!(program.len(), table);
    program
}

fn compile_error(err: impl std::fmt::Display) -> JailError {
    JailError::Spawner(format!("compiling the seccomp policy: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_filters_compile_within_the_kernel_limit() {
        let programs = SeccompPrograms::compile().unwrap();
        let base = programs.base().len();
        assert!(base < 4096, "the kernel caps filters at 4096 instructions");
        assert!(programs.extra(SeccompLevel::Standard).is_none());
        assert!(programs.extra(SeccompLevel::Strict).is_some_and(|p| p.len() < base));
    }
}
