//! The compiled filter run through a small classic-BPF interpreter over
//! `struct seccomp_data` inputs, as the kernel would run it.

use super::*;

/// `AUDIT_ARCH_I386` (linux/audit.h): a 32-bit call on an x86_64 kernel.
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
const KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;
const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;

/// `struct seccomp_data`: nr, arch, instruction_pointer, args[6] (64 bytes).
fn data(arch: u32, nr: u32, args: [u64; 6]) -> [u8; 64] {
    let mut d = [0u8; 64];
    d[0..4].copy_from_slice(&nr.to_le_bytes());
    d[4..8].copy_from_slice(&arch.to_le_bytes());
    for (i, a) in args.iter().enumerate() {
        d[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
    }
    d
}

/// Runs `prog` over `input` and returns its verdict. Knows the classic
/// instructions a seccomp filter may use; panics on any other, on a jump
/// or load out of bounds, and on a program that falls off its end (the
/// kernel's checker refuses all of those).
fn run(prog: &[sock_filter], input: &[u8; 64]) -> u32 {
    let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
    loop {
        let ins = prog.get(pc).expect("the program runs off its end");
        let code = u32::from(ins.code);
        let src = if code & libc::BPF_X != 0 { x } else { ins.k };
        match code & 0x07 {
            libc::BPF_LD => {
                assert_eq!(
                    code,
                    libc::BPF_LD | libc::BPF_W | libc::BPF_ABS,
                    "load {code:#x}"
                );
                let at = ins.k as usize;
                assert!(
                    at.is_multiple_of(4) && at + 4 <= input.len(),
                    "load at {at}"
                );
                a = u32::from_le_bytes(input[at..at + 4].try_into().unwrap());
            }
            libc::BPF_MISC if code == libc::BPF_MISC | libc::BPF_TAX => x = a,
            libc::BPF_ALU => {
                a = match code & 0xf0 {
                    libc::BPF_ADD => a.wrapping_add(src),
                    libc::BPF_SUB => a.wrapping_sub(src),
                    libc::BPF_AND => a & src,
                    libc::BPF_OR => a | src,
                    libc::BPF_RSH => a >> src,
                    libc::BPF_LSH => a << src,
                    op => panic!("alu op {op:#x}"),
                }
            }
            libc::BPF_JMP => {
                let taken = match code & 0xf0 {
                    libc::BPF_JA => {
                        pc += 1 + ins.k as usize;
                        continue;
                    }
                    libc::BPF_JEQ => a == src,
                    libc::BPF_JGT => a > src,
                    libc::BPF_JGE => a >= src,
                    libc::BPF_JSET => a & src != 0,
                    op => panic!("jump op {op:#x}"),
                };
                pc += 1 + usize::from(if taken { ins.jt } else { ins.jf });
                continue;
            }
            libc::BPF_RET => return ins.k,
            class => panic!("instruction class {class:#x} at {pc}"),
        }
        pc += 1;
    }
}

fn verdict(nr: libc::c_long, args: [u64; 6]) -> u32 {
    run(
        &default_filter().unwrap(),
        &data(AUDIT_ARCH_X86_64, nr as u32, args),
    )
}

#[test]
fn ordinary_calls_are_allowed() {
    for nr in [
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_openat,
        libc::SYS_mmap,
        libc::SYS_getpid,
        libc::SYS_execve,
        libc::SYS_socket,
        libc::SYS_ptrace,
        libc::SYS_wait4,
        libc::SYS_mknodat,
    ] {
        assert_eq!(verdict(nr, [0; 6]), ALLOW, "syscall {nr}");
    }
    // fork() and pthread_create() as glibc calls clone.
    let thread = (libc::CLONE_VM
        | libc::CLONE_FS
        | libc::CLONE_FILES
        | libc::CLONE_SIGHAND
        | libc::CLONE_THREAD
        | libc::CLONE_SYSVSEM
        | libc::CLONE_SETTLS
        | libc::CLONE_PARENT_SETTID
        | libc::CLONE_CHILD_CLEARTID) as u64;
    let fork = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD) as u64;
    for flags in [thread, fork, 0] {
        assert_eq!(verdict(libc::SYS_clone, [flags, 0, 0, 0, 0, 0]), ALLOW);
    }
}

#[test]
fn each_denied_call_is_eperm_whatever_its_arguments() {
    for nr in DENIED {
        assert_eq!(verdict(nr, [0; 6]), EPERM, "syscall {nr}");
        assert_eq!(verdict(nr, [u64::MAX; 6]), EPERM, "syscall {nr}");
    }
    for nr in [
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
    ] {
        assert_eq!(verdict(nr, [8, 0, 0, 0, 0, 0]), EPERM, "io_uring {nr}");
    }
}

#[test]
fn clone_with_any_namespace_flag_is_eperm() {
    for flag in CLONE_NAMESPACE_FLAGS {
        let with_fork = flag | libc::SIGCHLD as u64;
        assert_eq!(verdict(libc::SYS_clone, [with_fork, 0, 0, 0, 0, 0]), EPERM);
    }
    let netns = (libc::CLONE_NEWNET | libc::CLONE_VM | libc::SIGCHLD) as u64;
    assert_eq!(verdict(libc::SYS_clone, [netns, 0, 0, 0, 0, 0]), EPERM);
}

#[test]
fn clone3_is_enosys_so_libc_falls_back_to_clone() {
    assert_eq!(verdict(libc::SYS_clone3, [0; 6]), ENOSYS);
}

#[test]
fn the_x32_abi_is_killed_denied_and_allowed_calls_alike() {
    let prog = default_filter().unwrap();
    for nr in DENIED.iter().chain(&[libc::SYS_read, libc::SYS_getpid]) {
        let x32 = X32_SYSCALL_BIT | *nr as u32;
        assert_eq!(
            run(&prog, &data(AUDIT_ARCH_X86_64, x32, [0; 6])),
            KILL,
            "x32 {nr}"
        );
    }
    // x32's own numbers (512 and up) too.
    let x32_ioctl = X32_SYSCALL_BIT | 514;
    assert_eq!(
        run(&prog, &data(AUDIT_ARCH_X86_64, x32_ioctl, [0; 6])),
        KILL
    );
}

#[test]
fn a_foreign_architecture_is_killed() {
    let prog = default_filter().unwrap();
    // i386's getpid (20), mount (21), clone3 (435).
    for nr in [20, 21, 435, 0] {
        assert_eq!(run(&prog, &data(AUDIT_ARCH_I386, nr, [0; 6])), KILL);
    }
}

#[test]
fn the_program_is_one_the_kernel_accepts() {
    let prog = default_filter().unwrap();
    assert!(prog.len() < 4096, "BPF_MAXINSNS: {}", prog.len());
    for (i, ins) in prog.iter().enumerate() {
        let code = u32::from(ins.code);
        if code & 0x07 == libc::BPF_JMP && code & 0xf0 != libc::BPF_JA {
            for off in [ins.jt, ins.jf] {
                assert!(i + 1 + usize::from(off) < prog.len(), "jump from {i}");
            }
        }
    }
    assert_eq!(
        u32::from(prog[prog.len() - 1].code),
        libc::BPF_RET | libc::BPF_K
    );
}
