//! The seccomp policy (threat-model rows 10–13 and 16, ARCHITECTURE
//! decision 6), compiled once on the host and installed last before `execve`.
//!
//! seccompiler compiles the argument checks of each syscall that has some;
//! the table around them is laid out here as a binary search on the syscall
//! number (see [`dispatch_table`]). A short hand-written prefix in front of
//! it answers `ENOSYS` for `clone3`, so that glibc falls back to `clone`
//! whose flags the table can inspect, and for Linux AIO (row 34), `EPERM`
//! for the x32 ABI and `EAFNOSUPPORT` for kernel uevent sockets (row 50).
//! One filter means one BPF JIT per jail.

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

/// `AUDIT_ARCH_X86_64`, the architecture of `struct seccomp_data`.
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

// The classic BPF instructions the hand-laid parts use.
const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const BPF_JGT_K: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
const BPF_JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

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
    let mut program = prefix();
    program.extend(dispatch_table(REFUSED, conditional_rules()?)?);
    Ok(program)
}

/// The syscalls refused only with some arguments, and those arguments.
fn conditional_rules() -> Result<BTreeMap<i64, Vec<SeccompRule>>> {
    let cond = |arg: u8, len: SeccompCmpArgLen, op: SeccompCmpOp, value: u64| {
        SeccompCondition::new(arg, len, op, value).map_err(compile_error)
    };
    let rule = |conditions: Vec<SeccompCondition>| SeccompRule::new(conditions).map_err(compile_error);

    let mut rules = BTreeMap::new();

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
    Ok(rules)
}

/// Where a syscall number leads in the table.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// `RET ALLOW`, right after the tree.
    Allow,
    /// `RET ERRNO(EPERM)`, right after that.
    Refuse,
    /// The jump to the argument checks of the `n`th conditional syscall.
    Checks(usize),
    /// An instruction of the tree itself.
    Tree(usize),
}

/// A tree instruction whose jump targets are not yet offsets.
struct Branch {
    code: u16,
    k: u32,
    jt: Target,
    jf: Target,
}

/// The table: the architecture check, then a binary search on the syscall
/// number that ends in `ALLOW`, `EPERM` or a syscall's argument checks.
///
/// seccompiler would chain one comparison per syscall, so a syscall that
/// is in no rule passes every comparison before it is allowed. The kernel
/// runs the filter once per syscall number when it is installed, to learn
/// which numbers it can allow without running it again (its action
/// cache); over a chain of ~80 entries that was most of the 0.4 ms an
/// install took, paid by every jail. Searched, each number takes about
/// seven comparisons, and the filter is shorter too: a refused syscall is
/// one comparison instead of seccompiler's five instructions.
///
/// ```text
/// LD arch; JEQ X86_64 ? +1 : +0; RET KILL_PROCESS; LD nr
/// tree:    JGE k ? right : left ... leaves: JEQ k ? target : Allow
/// Allow:   RET ALLOW
/// Refuse:  RET ERRNO(EPERM)
/// Checks:  JA block 0; JA block 1; ...
/// blocks:  seccompiler's block for each conditional syscall
///          RET ALLOW
/// ```
/// A block starts by comparing the number to its own (always equal when
/// jumped to) and, if it were different, would fall through to the end:
/// the blocks only ever return.
fn dispatch_table(refused: &[libc::c_long], conditional: BTreeMap<i64, Vec<SeccompRule>>) -> Result<BpfProgram> {
    let allow = u32::from(SeccompAction::Allow);
    let refuse = u32::from(SeccompAction::Errno(libc::EPERM as u32));

    // Each conditional syscall's block: seccompiler's filter for that
    // syscall alone, less its architecture check and number load (four
    // instructions) and its final `RET ALLOW`.
    let mut blocks = Vec::new();
    let mut keys: Vec<(u32, Target)> = refused.iter().map(|&nr| (nr as u32, Target::Refuse)).collect();
    for (nr, rules) in conditional {
        let alone: BpfProgram = SeccompFilter::new(
            BTreeMap::from([(nr, rules)]),
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EPERM as u32),
            TargetArch::x86_64,
        )
        .and_then(BpfProgram::try_from)
        .map_err(compile_error)?;
        let block = alone.get(4..alone.len() - 1).unwrap_or_default();
        if !matches!(block.first(), Some(first) if first.code == BPF_JEQ_K && i64::from(first.k) == nr) {
            return Err(compile_error(format!(
                "unexpected layout of seccompiler's block for syscall {nr}"
            )));
        }
        keys.push((nr as u32, Target::Checks(blocks.len())));
        blocks.push(block.to_vec());
    }
    keys.sort_by_key(|&(nr, _)| nr);
    if keys.windows(2).any(|pair| pair[0].0 == pair[1].0) {
        return Err(compile_error("a syscall is both refused and conditional"));
    }

    let mut tree = Vec::new();
    search(&keys, &mut tree);

    let tree_start = 4;
    let allow_at = tree_start + tree.len();
    let refuse_at = allow_at + 1;
    let checks_at = refuse_at + 1;
    let mut program = vec![
        insn(BPF_LD_W_ABS, 0, 0, 4),
        insn(BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        insn(BPF_RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        insn(BPF_LD_W_ABS, 0, 0, 0),
    ];
    let position = |target: Target| match target {
        Target::Allow => allow_at,
        Target::Refuse => refuse_at,
        Target::Checks(n) => checks_at + n,
        Target::Tree(i) => tree_start + i,
    };
    for (i, branch) in tree.iter().enumerate() {
        let from = tree_start + i;
        let offset = |target| {
            u8::try_from(position(target) - from - 1)
                .map_err(|_| compile_error("a jump of the syscall search is longer than 255 instructions"))
        };
        program.push(insn(branch.code, offset(branch.jt)?, offset(branch.jf)?, branch.k));
    }
    program.push(insn(BPF_RET_K, 0, 0, allow));
    program.push(insn(BPF_RET_K, 0, 0, refuse));
    let mut block_at = checks_at + blocks.len();
    for (n, block) in blocks.iter().enumerate() {
        program.push(insn(BPF_JA, 0, 0, (block_at - (checks_at + n) - 1) as u32));
        block_at += block.len();
    }
    for block in blocks {
        program.extend(block);
    }
    program.push(insn(BPF_RET_K, 0, 0, allow));
    Ok(program)
}

/// Appends the search over `keys` (sorted syscall numbers and where each
/// leads) to `tree`: the lower half follows each comparison directly, so
/// only jumps to the upper half and to the leaves' targets have a length.
fn search(keys: &[(u32, Target)], tree: &mut Vec<Branch>) {
    match keys {
        [] => {}
        [(nr, target)] => tree.push(Branch {
            code: BPF_JEQ_K,
            k: *nr,
            jt: *target,
            jf: Target::Allow,
        }),
        _ => {
            let (lower, upper) = keys.split_at(keys.len() / 2);
            let at = tree.len();
            tree.push(Branch {
                code: BPF_JGE_K,
                k: upper[0].0,
                jt: Target::Allow,
                jf: Target::Tree(at + 1),
            });
            search(lower, tree);
            tree[at].jt = Target::Tree(tree.len());
            search(upper, tree);
        }
    }
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
    // struct seccomp_data: nr at 0, arch at 4, args from 16 (8 bytes each;
    // the low half first on this little-endian architecture).
    const ARG0_LOW: u32 = 16;
    const ARG2_LOW: u32 = 16 + 2 * 8;
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

    /// Runs a classic BPF seccomp program the way the kernel does, for the
    /// instructions the filters use; panics on any other.
    fn run(program: &[sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
        let word = |offset: u32| -> u32 {
            match offset {
                0 => nr,
                4 => arch,
                16..=63 if offset.is_multiple_of(4) => {
                    let arg = args[(offset as usize - 16) / 8];
                    if offset.is_multiple_of(8) {
                        arg as u32
                    } else {
                        (arg >> 32) as u32
                    }
                }
                _ => panic!("load from offset {offset}"),
            }
        };
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let op = &program[pc];
            let jump = |taken: bool| pc + 1 + usize::from(if taken { op.jt } else { op.jf });
            pc = match op.code {
                BPF_LD_W_ABS => {
                    acc = word(op.k);
                    pc + 1
                }
                c if c == (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16 => {
                    acc &= op.k;
                    pc + 1
                }
                BPF_JA => pc + 1 + op.k as usize,
                BPF_JEQ_K => jump(acc == op.k),
                BPF_JGE_K => jump(acc >= op.k),
                BPF_JGT_K => jump(acc > op.k),
                c if c == (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16 => jump(acc & op.k != 0),
                BPF_RET_K => return op.k,
                code => panic!("instruction {code:#x} at {pc}"),
            };
        }
    }

    /// The searched table answers exactly as seccompiler's chain of the same
    /// rules did, for every syscall number, both architectures, the x32
    /// range, and every pair of arguments drawn from the values the rules
    /// compare with.
    #[test]
    fn the_searched_table_answers_as_the_chained_one() {
        let searched = SeccompPrograms::compile().unwrap().base;
        let mut chained_rules = conditional_rules().unwrap();
        let conditional: Vec<i64> = chained_rules.keys().copied().collect();
        chained_rules.extend(REFUSED.iter().map(|&nr| (nr, Vec::new())));
        let mut chained = prefix();
        chained.extend(
            BpfProgram::try_from(
                SeccompFilter::new(
                    chained_rules,
                    SeccompAction::Allow,
                    SeccompAction::Errno(libc::EPERM as u32),
                    TargetArch::x86_64,
                )
                .unwrap(),
            )
            .unwrap(),
        );
        assert!(
            searched.len() < chained.len(),
            "{} against {}",
            searched.len(),
            chained.len()
        );

        let mut values: Vec<u64> = vec![0, 1, u64::MAX, u64::from(u32::MAX), 1 << 32];
        values.extend(CLONE_NAMESPACE_FLAGS.iter().chain(&[CLONE_NEWTIME]));
        values.extend([libc::TIOCSTI, libc::TIOCLINUX, libc::TIOCGWINSZ]);
        values.extend(SETID_BITS.iter().map(|bit| bit | 0o755));
        values.extend([
            0o755,
            libc::O_CREAT as u64,
            O_TMPFILE_BIT,
            libc::O_TMPFILE as u64,
            libc::O_RDONLY as u64,
        ]);
        values.extend(
            ALLOWED_SOCKET_FAMILIES
                .iter()
                .chain(&[libc::AF_PACKET as u64, libc::AF_ALG as u64]),
        );
        values.extend(PERSONALITY_ALLOWED.iter().chain(&[0x0040_0000, 0x0100_0000]));
        values.push(u64::from(NETLINK_KOBJECT_UEVENT));
        let with_high_bits: Vec<u64> = values.iter().map(|v| v | 1 << 40).collect();
        values.extend(with_high_bits);

        let mut verdicts = std::collections::HashMap::new();
        let numbers = (0..=LAST_REVIEWED_SYSCALL + 40).chain([X32_SYSCALL_BIT, X32_SYSCALL_BIT + 1, u32::MAX]);
        for nr in numbers {
            for arch in [AUDIT_ARCH_X86_64, 0x4000_0003] {
                let mut check = |args: [u64; 6]| {
                    let answer = run(&searched, nr, arch, args);
                    assert_eq!(
                        answer,
                        run(&chained, nr, arch, args),
                        "syscall {nr}, arch {arch:#x}, args {args:x?}"
                    );
                    *verdicts.entry(answer).or_insert(0u64) += 1;
                };
                check([0; 6]);
                check([u64::MAX; 6]);
                if arch != AUDIT_ARCH_X86_64 || !conditional.contains(&i64::from(nr)) {
                    continue;
                }
                for first in 0..4 {
                    for second in first..6 {
                        for &a in &values {
                            for &b in &values {
                                let mut args = [0; 6];
                                args[first] = a;
                                args[second] |= b;
                                check(args);
                            }
                        }
                    }
                }
            }
        }
        // Every kind of answer came up, so the comparison covered each.
        let expected = [
            libc::SECCOMP_RET_ALLOW,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
            libc::SECCOMP_RET_ERRNO | libc::EAFNOSUPPORT as u32,
            libc::SECCOMP_RET_KILL_PROCESS,
        ];
        for answer in expected {
            assert!(
                verdicts.get(&answer).is_some_and(|&n| n > 0),
                "{answer:#x} never answered: {verdicts:?}"
            );
        }
    }

    #[test]
    fn both_filters_compile_within_the_kernel_limit() {
        let programs = SeccompPrograms::compile().unwrap();
        let base = programs.base().len();
        assert!(base < 4096, "the kernel caps filters at 4096 instructions");
        assert!(programs.extra(SeccompLevel::Standard).is_none());
        assert!(programs.extra(SeccompLevel::Strict).is_some_and(|p| p.len() < base));
    }
}
