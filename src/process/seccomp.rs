//! The default seccomp filter: what Docker's default profile denies a
//! container without CAP_SYS_ADMIN, as a classic BPF program built here
//! (no libseccomp). Denied calls fail with EPERM; `clone3` fails with
//! ENOSYS so libc falls back to `clone`, whose flags the filter can see;
//! a foreign architecture (32-bit syscalls on x86_64) kills the process.

use anyhow::{Context, Result, bail};
use libc::{sock_filter, sock_fprog};

/// `AUDIT_ARCH_X86_64`: the only ABI a sandbox may call the kernel with.
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// Namespace flags `clone` may not use (the sandbox may not make new ones).
const CLONE_NAMESPACES: u32 = 0x7e02_0000;

/// Denied outright: mounting and namespaces, kernel modules and kexec,
/// BPF and perf, the keyring, reboot and swap, the clocks, and old or
/// dangerous interfaces.
const DENIED: [libc::c_long; 41] = [
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
];

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
/// Offsets in `struct seccomp_data`.
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
const OFFSET_ARG0_LOW: u32 = 16;

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: usize, jf: usize) -> sock_filter {
    sock_filter {
        code,
        jt: jt as u8,
        jf: jf as u8,
        k,
    }
}

/// The filter program, ready for `install`.
pub fn default_filter() -> Vec<sock_filter> {
    let n = DENIED.len();
    // Layout: arch check (3), load nr (1), denied (n), clone3, clone,
    // load arg0, jset, then the returns: allow, EPERM, ENOSYS.
    let clone3 = 4 + n;
    let allow = clone3 + 4;
    let (eperm, enosys) = (allow + 1, allow + 2);
    let mut prog = vec![
        stmt(LD_W_ABS, OFFSET_ARCH),
        jump(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(RET_K, libc::SECCOMP_RET_KILL_PROCESS),
        stmt(LD_W_ABS, OFFSET_NR),
    ];
    for (i, nr) in DENIED.iter().enumerate() {
        prog.push(jump(JEQ_K, *nr as u32, eperm - (4 + i) - 1, 0));
    }
    prog.push(jump(JEQ_K, libc::SYS_clone3 as u32, enosys - clone3 - 1, 0));
    prog.push(jump(
        JEQ_K,
        libc::SYS_clone as u32,
        0,
        allow - (clone3 + 1) - 1,
    ));
    prog.push(stmt(LD_W_ABS, OFFSET_ARG0_LOW));
    prog.push(jump(
        JSET_K,
        CLONE_NAMESPACES,
        eperm - (clone3 + 3) - 1,
        allow - (clone3 + 3) - 1,
    ));
    prog.push(stmt(RET_K, libc::SECCOMP_RET_ALLOW));
    prog.push(stmt(RET_K, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32));
    prog.push(stmt(RET_K, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32));
    prog
}

/// Installs the filter on this process (inherited across fork and exec).
/// Needs `no_new_privs`, which the capability step has set.
pub fn install(prog: &[sock_filter]) -> Result<()> {
    let fprog = sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut sock_filter,
    };
    // SAFETY: fprog points at a live program for the duration of the call.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &fprog as *const sock_fprog,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("install the seccomp filter");
    }
    Ok(())
}

/// Parses `--security-opt`: `seccomp=unconfined` turns the filter off;
/// `no-new-privileges` is accepted (it is always on). Returns whether the
/// filter stays on.
pub fn from_security_opts(opts: &[String]) -> Result<bool> {
    let mut enabled = true;
    for opt in opts {
        match opt.as_str() {
            "seccomp=unconfined" | "seccomp:unconfined" => enabled = false,
            "no-new-privileges" | "no-new-privileges=true" | "no-new-privileges:true" => {}
            other => bail!("--security-opt {other:?} is not supported: use seccomp=unconfined"),
        }
    }
    Ok(enabled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_jump_lands_inside_the_program_on_a_return() {
        let prog = default_filter();
        for (i, ins) in prog.iter().enumerate() {
            if ins.code == JEQ_K || ins.code == JSET_K {
                for off in [ins.jt, ins.jf] {
                    let target = i + 1 + off as usize;
                    assert!(target < prog.len(), "jump from {i} out of the program");
                }
            }
        }
        let n = prog.len();
        assert_eq!(prog[n - 3].k, libc::SECCOMP_RET_ALLOW);
        assert_eq!(prog[n - 2].k, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32);
        // The denied syscalls jump to EPERM.
        let first = &prog[4];
        assert_eq!(4 + 1 + first.jt as usize, n - 2);
    }

    #[test]
    fn security_opts_parse() {
        assert!(from_security_opts(&[]).unwrap());
        assert!(!from_security_opts(&["seccomp=unconfined".into()]).unwrap());
        assert!(from_security_opts(&["apparmor=x".into()]).is_err());
    }
}
