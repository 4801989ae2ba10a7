//! The default seccomp filter: what Docker's default profile denies a
//! container without CAP_SYS_ADMIN. The policy (which calls, which clone
//! flags) is compiled by `seccompiler` (rust-vmm's, from Firecracker);
//! sbx adds a fixed prologue for what that compiler's model (one answer
//! for every match, syscall numbers compared for equality) cannot say:
//! only the x86_64 ABI is let in (32-bit i386 calls and x32 calls, whose
//! numbers carry `__X32_SYSCALL_BIT`, kill the process), and `clone3`
//! fails with ENOSYS so libc falls back to `clone`, whose flags the policy
//! can see. Denied calls fail with EPERM.
//!
//! The program is compiled in the parent, before the fork: the child only
//! hands it to the kernel (no allocation after fork).

use anyhow::{Context, Result};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};
use std::collections::BTreeMap;

/// A compiled filter, ready for [`install`].
pub type Filter = BpfProgram;

/// `AUDIT_ARCH_X86_64` (linux/audit.h): the only ABI a sandbox may call
/// the kernel with. x32 calls report it too; their numbers tell them apart.
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// `__X32_SYSCALL_BIT` (asm/unistd.h): set in the number of every x32 call.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The namespace flags `clone` may not use (linux/sched.h): the sandbox
/// may not make new namespaces.
const CLONE_NAMESPACE_FLAGS: [u64; 7] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];

/// Denied outright with EPERM: mounting and namespaces, kernel modules and
/// kexec, BPF and perf, the keyring, reboot and swap, the clocks, io_uring
/// (whose operations bypass the filter), and old or dangerous interfaces.
pub const DENIED: [libc::c_long; 44] = [
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_fsopen,
    libc::SYS_fsmount,
    libc::SYS_fsconfig,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_mount_setattr,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_lookup_dcookie,
    libc::SYS_open_by_handle_at,
    libc::SYS_userfaultfd,
    libc::SYS_syslog,
    libc::SYS_vhangup,
    libc::SYS_iopl,
    libc::SYS_ioperm,
    libc::SYS_uselib,
    libc::SYS_ustat,
    libc::SYS_sysfs,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
];

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
/// Offsets in `struct seccomp_data` (linux/seccomp.h).
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// The ABI prologue: x86_64 only (anything else, x32 included, is killed),
/// and `clone3` answered ENOSYS. Falls through to the policy.
fn prologue() -> Vec<sock_filter> {
    vec![
        insn(LD_W_ABS, 0, 0, OFFSET_ARCH),
        insn(JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        insn(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        insn(LD_W_ABS, 0, 0, OFFSET_NR),
        insn(JGE_K, 0, 1, X32_SYSCALL_BIT),
        insn(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        insn(JEQ_K, 0, 1, libc::SYS_clone3 as u32),
        insn(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
    ]
}

/// The deny-list policy, as seccompiler rules: each denied call matches
/// unconditionally; `clone` matches when any namespace flag is set in its
/// first argument (the flags' low 32 bits, which is all `clone` reads).
fn policy() -> Result<SeccompFilter> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|nr| (*nr, Vec::new())).collect();
    let clone_rules = CLONE_NAMESPACE_FLAGS
        .iter()
        .map(|flag| {
            let cond = SeccompCondition::new(
                0,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::MaskedEq(*flag),
                *flag,
            )?;
            SeccompRule::new(vec![cond])
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .context("compile the clone rules")?;
    rules.insert(libc::SYS_clone, clone_rules);
    SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        TargetArch::x86_64,
    )
    .context("compile the seccomp policy")
}

/// The whole program: the ABI prologue, then the compiled policy. Fails
/// only if the policy no longer compiles (a bug, not a user error).
pub fn default_filter() -> Result<Filter> {
    let compiled: BpfProgram = policy()?.try_into().context("compile the seccomp policy")?;
    let mut prog = prologue();
    prog.extend(compiled);
    Ok(prog)
}

/// Installs the filter on this process (inherited across fork and exec).
/// Needs `no_new_privs`, which the capability step has set (seccompiler
/// sets it again). Allocates nothing on success: safe after fork.
pub fn install(prog: &Filter) -> Result<()> {
    seccompiler::apply_filter(prog).context("install the seccomp filter")
}

#[cfg(test)]
#[path = "seccomp_bpf_tests.rs"]
mod tests;
