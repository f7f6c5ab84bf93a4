//! The seccomp policy (threat-model rows 10–13 and 16, ARCHITECTURE
//! decision 6), compiled once on the host and installed last before `execve`.
//!
//! The policy is a table, laid out here as a binary search on the syscall
//! number with short argument checks (see [`dispatch_table`]); a test runs
//! it against what seccompiler compiles from the same rules. A short
//! hand-written prefix in front of it answers `ENOSYS` for `clone3`, so that glibc falls back to `clone`
//! whose flags the table can inspect, and for Linux AIO (row 34), `EPERM`
//! for the x32 ABI and `EAFNOSUPPORT` for kernel uevent sockets (row 50).
//! One filter means one BPF JIT per jail.

use seccompiler::{sock_filter, BpfProgram};

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
const BPF_JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
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
    program.extend(dispatch_table(REFUSED, &conditional_refusals())?);
    Ok(program)
}

fn compile_strict() -> Result<BpfProgram> {
    dispatch_table(&[], &strict_refusals())
}

/// What `strict` adds: no socket of any family but `AF_UNIX`.
fn strict_refusals() -> Vec<Refusal> {
    vec![Refusal {
        nr: libc::SYS_socket,
        when: vec![Condition::NoneOf(0, vec![libc::AF_UNIX as u32])],
    }]
}

/// A test on the low 32 bits of a syscall argument (numbered from 0). Every
/// argument the policy looks at is an `int`, a mode or a flag word whose
/// bits of interest are all in the low half.
#[derive(Debug, Clone)]
enum Condition {
    /// Any bit of the mask is set.
    AnyBit(u8, u32),
    /// Equal to one of the values.
    OneOf(u8, Vec<u32>),
    /// Equal to none of the values.
    NoneOf(u8, Vec<u32>),
}

/// A syscall refused with `EPERM` when all of its conditions hold.
#[derive(Debug, Clone)]
struct Refusal {
    nr: libc::c_long,
    when: Vec<Condition>,
}

/// The syscalls refused only with some arguments, and those arguments.
fn conditional_refusals() -> Vec<Refusal> {
    let refuse = |nr, when| Refusal { nr, when };
    let namespaces = CLONE_NAMESPACE_FLAGS.iter().fold(0, |mask, &flag| mask | flag as u32);
    let setid = SETID_BITS.iter().fold(0, |mask, &bit| mask | bit as u32);
    let creating = libc::O_CREAT as u32 | O_TMPFILE_BIT as u32;
    let list = |values: &[u64]| values.iter().map(|&v| v as u32).collect::<Vec<_>>();
    vec![
        // Row 12: clone or unshare with any namespace flag.
        refuse(libc::SYS_clone, vec![Condition::AnyBit(0, namespaces)]),
        refuse(
            libc::SYS_unshare,
            vec![Condition::AnyBit(0, namespaces | CLONE_NEWTIME as u32)],
        ),
        // Row 16: terminal injection.
        refuse(
            libc::SYS_ioctl,
            vec![Condition::OneOf(1, vec![libc::TIOCSTI as u32, libc::TIOCLINUX as u32])],
        ),
        // Row 15: no set-user-ID or set-group-ID files. In root mode the
        // jail is uid 0 and owns what it creates in writable binds, where a
        // setuid-root file would be a root shell for any host user; `nosuid`
        // on the jail's own mounts does not cover the host's view of the
        // same files. Refused when a mode with those bits is set (chmod
        // family) or given to a file being created (open/openat with
        // O_CREAT or O_TMPFILE, creat, mknod).
        refuse(libc::SYS_chmod, vec![Condition::AnyBit(1, setid)]),
        refuse(libc::SYS_fchmod, vec![Condition::AnyBit(1, setid)]),
        refuse(libc::SYS_fchmodat, vec![Condition::AnyBit(2, setid)]),
        refuse(libc::SYS_fchmodat2, vec![Condition::AnyBit(2, setid)]),
        refuse(libc::SYS_creat, vec![Condition::AnyBit(1, setid)]),
        refuse(libc::SYS_mknod, vec![Condition::AnyBit(1, setid)]),
        refuse(libc::SYS_mknodat, vec![Condition::AnyBit(2, setid)]),
        refuse(
            libc::SYS_open,
            vec![Condition::AnyBit(1, creating), Condition::AnyBit(2, setid)],
        ),
        refuse(
            libc::SYS_openat,
            vec![Condition::AnyBit(2, creating), Condition::AnyBit(3, setid)],
        ),
        // Row 13: socket families beyond the allowed ones, and execution
        // domains other than plain Linux.
        refuse(
            libc::SYS_socket,
            vec![Condition::NoneOf(0, list(ALLOWED_SOCKET_FAMILIES))],
        ),
        refuse(
            libc::SYS_personality,
            vec![Condition::NoneOf(0, list(PERSONALITY_ALLOWED))],
        ),
    ]
}

/// Where a jump of the table leads, until the table is laid out.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// The next instruction.
    Next,
    /// `RET ALLOW`, at the end.
    Allow,
    /// `RET ERRNO(EPERM)`, after it.
    Refuse,
    /// An instruction of the search.
    Tree(usize),
    /// The argument checks of the `n`th conditional refusal.
    Checks(usize),
}

/// An instruction whose jump targets are not yet offsets.
#[derive(Debug, Clone, Copy)]
struct Branch {
    code: u16,
    k: u32,
    jt: Target,
    jf: Target,
}

impl Branch {
    fn jump(code: u16, k: u32, jt: Target, jf: Target) -> Branch {
        Branch { code, k, jt, jf }
    }

    fn load(offset: u32) -> Branch {
        Branch::jump(BPF_LD_W_ABS, offset, Target::Next, Target::Next)
    }
}

/// The table: the architecture check, then a binary search on the syscall
/// number that ends in `ALLOW`, `EPERM` or a syscall's argument checks.
///
/// seccompiler, which compiled it before, chains one comparison per
/// syscall, so that a syscall in no rule passes every comparison before it
/// is allowed, and spends five instructions on a refused syscall and
/// nine on each bit of a mask. The kernel runs the filter once per syscall
/// number when it is installed, to learn which numbers it may allow
/// without running it again (its action cache), and compiles every
/// instruction to machine code: over seccompiler's 684 instructions that
/// was 0.4–0.5 ms of every jail's start. Searched, a number takes about
/// seven comparisons, and the whole filter is about a third as long.
///
/// ```text
/// LD arch; JEQ X86_64 ? +1 : +0; RET KILL_PROCESS; LD nr
/// search: JGE k ? upper : lower ...   leaves: JEQ k ? Refuse|Checks(n) : Allow
/// checks: per conditional refusal, each condition loads its argument and
///         jumps to Allow when it does not hold; past the last, Refuse
/// Allow:  RET ALLOW
/// Refuse: RET ERRNO(EPERM)
/// ```
fn dispatch_table(refused: &[libc::c_long], conditional: &[Refusal]) -> Result<BpfProgram> {
    let mut keys: Vec<(u32, Target)> = refused.iter().map(|&nr| (nr as u32, Target::Refuse)).collect();
    keys.extend(
        conditional
            .iter()
            .enumerate()
            .map(|(n, r)| (r.nr as u32, Target::Checks(n))),
    );
    keys.sort_by_key(|&(nr, _)| nr);
    if keys.windows(2).any(|pair| pair[0].0 == pair[1].0) {
        return Err(compile_error("a syscall is listed twice"));
    }

    for refusal in conditional {
        let malformed = refusal.when.is_empty()
            || refusal.when.iter().any(|condition| match condition {
                Condition::AnyBit(arg, mask) => *arg > 5 || *mask == 0,
                Condition::OneOf(arg, values) | Condition::NoneOf(arg, values) => *arg > 5 || values.is_empty(),
            });
        if malformed {
            return Err(compile_error(format!(
                "a refusal of syscall {} with no condition, an empty one, or an argument past the sixth",
                refusal.nr
            )));
        }
    }

    let mut body = Vec::new();
    search(&keys, &mut body);
    let mut checks_at = Vec::new();
    for refusal in conditional {
        checks_at.push(body.len());
        for (i, condition) in refusal.when.iter().enumerate() {
            // Where the checks go when this condition holds.
            let holds = if i + 1 == refusal.when.len() {
                Target::Refuse
            } else {
                Target::Next
            };
            emit_condition(condition, holds, &mut body);
        }
    }

    const HEAD: usize = 4;
    let allow_at = HEAD + body.len();
    let position = |target: Target, from: usize| match target {
        Target::Next => from + 1,
        Target::Allow => allow_at,
        Target::Refuse => allow_at + 1,
        Target::Tree(i) => HEAD + i,
        Target::Checks(n) => HEAD + checks_at[n],
    };
    let mut program = vec![
        insn(BPF_LD_W_ABS, 0, 0, 4),
        insn(BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        insn(BPF_RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        insn(BPF_LD_W_ABS, 0, 0, 0),
    ];
    for (i, branch) in body.iter().enumerate() {
        let from = HEAD + i;
        let offset = |target| {
            u8::try_from(position(target, from) - from - 1)
                .map_err(|_| compile_error("a jump of the seccomp table is longer than 255 instructions"))
        };
        program.push(insn(branch.code, offset(branch.jt)?, offset(branch.jf)?, branch.k));
    }
    program.push(insn(BPF_RET_K, 0, 0, libc::SECCOMP_RET_ALLOW));
    program.push(insn(BPF_RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32));
    Ok(program)
}

/// Appends the search over `keys` (sorted syscall numbers and where each
/// leads) to `tree`: the lower half follows each comparison directly, so
/// only jumps to the upper half and to the leaves' targets have a length.
fn search(keys: &[(u32, Target)], tree: &mut Vec<Branch>) {
    match keys {
        [] => {}
        [(nr, target)] => tree.push(Branch::jump(BPF_JEQ_K, *nr, *target, Target::Allow)),
        _ => {
            let (lower, upper) = keys.split_at(keys.len() / 2);
            let at = tree.len();
            tree.push(Branch::jump(BPF_JGE_K, upper[0].0, Target::Allow, Target::Next));
            search(lower, tree);
            tree[at].jt = Target::Tree(tree.len());
            search(upper, tree);
        }
    }
}

/// Appends the test of one condition: on to `holds` when it holds, to
/// `Allow` when it does not.
fn emit_condition(condition: &Condition, holds: Target, out: &mut Vec<Branch>) {
    // struct seccomp_data: args from 16, 8 bytes each, the low half first
    // on this little-endian architecture.
    let arg_low = |arg: u8| 16 + 8 * u32::from(arg);
    match condition {
        Condition::AnyBit(arg, mask) => {
            out.push(Branch::load(arg_low(*arg)));
            out.push(Branch::jump(BPF_JSET_K, *mask, holds, Target::Allow));
        }
        Condition::OneOf(arg, values) => {
            out.push(Branch::load(arg_low(*arg)));
            for (i, &value) in values.iter().enumerate() {
                let otherwise = if i + 1 == values.len() {
                    Target::Allow
                } else {
                    Target::Next
                };
                out.push(Branch::jump(BPF_JEQ_K, value, holds, otherwise));
            }
        }
        Condition::NoneOf(arg, values) => {
            out.push(Branch::load(arg_low(*arg)));
            for (i, &value) in values.iter().enumerate() {
                let otherwise = if i + 1 == values.len() { holds } else { Target::Next };
                out.push(Branch::jump(BPF_JEQ_K, value, Target::Allow, otherwise));
            }
        }
    }
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
                c if c == (libc::BPF_JMP | libc::BPF_JA) as u16 => pc + 1 + op.k as usize,
                BPF_JEQ_K => jump(acc == op.k),
                BPF_JGE_K => jump(acc >= op.k),
                BPF_JGT_K => jump(acc > op.k),
                BPF_JSET_K => jump(acc & op.k != 0),
                BPF_RET_K => return op.k,
                code => panic!("instruction {code:#x} at {pc}"),
            };
        }
    }

    /// seccompiler's filter for the same refusals: one chained comparison
    /// per syscall, each condition as seccompiler's comparisons.
    fn seccompiler_reference(refused: &[libc::c_long], conditional: &[Refusal]) -> BpfProgram {
        use seccompiler::{
            SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
        };
        let cond = |arg: u8, op, value: u32| {
            SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, u64::from(value)).unwrap()
        };
        let mut rules: std::collections::BTreeMap<i64, Vec<SeccompRule>> =
            refused.iter().map(|&nr| (nr, Vec::new())).collect();
        for refusal in conditional {
            // Alternatives (rules) of conjunctions (conditions).
            let mut alternatives: Vec<Vec<SeccompCondition>> = vec![Vec::new()];
            for condition in &refusal.when {
                let options: Vec<Vec<SeccompCondition>> = match condition {
                    Condition::AnyBit(arg, mask) => (0..32)
                        .map(|bit| 1u32 << bit)
                        .filter(|bit| mask & bit != 0)
                        .map(|bit| vec![cond(*arg, SeccompCmpOp::MaskedEq(u64::from(bit)), bit)])
                        .collect(),
                    Condition::OneOf(arg, values) => {
                        values.iter().map(|&v| vec![cond(*arg, SeccompCmpOp::Eq, v)]).collect()
                    }
                    Condition::NoneOf(arg, values) => {
                        vec![values.iter().map(|&v| cond(*arg, SeccompCmpOp::Ne, v)).collect()]
                    }
                };
                alternatives = alternatives
                    .iter()
                    .flat_map(|before| {
                        options
                            .iter()
                            .map(move |option| before.iter().chain(option).cloned().collect())
                    })
                    .collect();
            }
            let rules_of = alternatives.into_iter().map(|c| SeccompRule::new(c).unwrap()).collect();
            rules.insert(refusal.nr, rules_of);
        }
        let filter = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EPERM as u32),
            TargetArch::x86_64,
        )
        .unwrap();
        BpfProgram::try_from(filter).unwrap()
    }

    /// Both filters answer exactly as seccompiler's chains of the same
    /// rules do, for every syscall number, both architectures, the x32
    /// range, and every pair of arguments drawn from the values the rules
    /// compare with.
    #[test]
    fn the_searched_tables_answer_as_seccompilers_chains() {
        let programs = SeccompPrograms::compile().unwrap();
        let conditional = conditional_refusals();
        let mut chained = prefix();
        chained.extend(seccompiler_reference(REFUSED, &conditional));
        assert!(
            programs.base.len() * 2 < chained.len(),
            "{} against {}",
            programs.base.len(),
            chained.len()
        );
        let strict_reference = seccompiler_reference(&[], &strict_refusals());
        let checked: Vec<i64> = conditional.iter().map(|r| r.nr).collect();

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
                    let answer = run(&programs.base, nr, arch, args);
                    assert_eq!(
                        answer,
                        run(&chained, nr, arch, args),
                        "syscall {nr}, arch {arch:#x}, args {args:x?}"
                    );
                    *verdicts.entry(answer).or_insert(0u64) += 1;
                    assert_eq!(
                        run(&programs.strict, nr, arch, args),
                        run(&strict_reference, nr, arch, args),
                        "strict: syscall {nr}, arch {arch:#x}, args {args:x?}"
                    );
                };
                check([0; 6]);
                check([u64::MAX; 6]);
                if arch != AUDIT_ARCH_X86_64 || !checked.contains(&i64::from(nr)) {
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
    fn malformed_refusals_are_compile_errors() {
        let refusal = |when| Refusal {
            nr: libc::SYS_socket,
            when,
        };
        for when in [
            vec![],
            vec![Condition::AnyBit(0, 0)],
            vec![Condition::AnyBit(6, 1)],
            vec![Condition::OneOf(1, vec![])],
            vec![Condition::NoneOf(0, vec![])],
        ] {
            assert!(dispatch_table(&[], &[refusal(when.clone())]).is_err(), "{when:?}");
        }
        assert!(dispatch_table(&[libc::SYS_socket], &[refusal(vec![Condition::AnyBit(0, 1)])]).is_err());
        assert!(dispatch_table(&[], &[refusal(vec![Condition::AnyBit(5, 1)])]).is_ok());
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
