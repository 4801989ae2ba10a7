//! The seccomp filter as a sandboxed process meets it: every denied call
//! answers EPERM (from `sbx run` and from `sbx exec`), io_uring included;
//! `clone3` answers ENOSYS; an x32 call kills the process; and
//! `--security-opt seccomp=unconfined` lifts all of it.

mod common;
use common::*;

/// A probe in Python (ctypes' raw `syscall`): for each `NAME:NR` argument,
/// calls NR with all-zero arguments (harmless even where a call would be
/// allowed) and prints `NAME ERRNO` (0 for success). `io_uring_setup` gets
/// a real parameter block, so that without the filter it succeeds.
const PROBE: &str = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
for item in sys.argv[1:]:
    name, nr = item.split(':')
    nr = int(nr, 0)
    args = [ctypes.c_long(0)] * 5
    if name == 'io_uring_setup':
        params = ctypes.create_string_buffer(120)
        args = [ctypes.c_long(4), params]
    if name == 'clone_newnet':
        args = [ctypes.c_long(0x40000000 | 17)] + [ctypes.c_long(0)] * 4
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(nr), *args)
    print(name, 0 if rc >= 0 else ctypes.get_errno(), flush=True)
"#;

/// x86_64 numbers (asm/unistd_64.h) of every call the filter denies.
const DENIED: [(&str, u32); 45] = [
    ("mount", 165),
    ("umount2", 166),
    ("pivot_root", 155),
    ("fsopen", 430),
    ("fsmount", 432),
    ("fsconfig", 431),
    ("fspick", 433),
    ("move_mount", 429),
    ("open_tree", 428),
    ("open_tree_attr", 467),
    ("mount_setattr", 442),
    ("unshare", 272),
    ("setns", 308),
    ("kexec_load", 246),
    ("kexec_file_load", 320),
    ("init_module", 175),
    ("finit_module", 313),
    ("delete_module", 176),
    ("bpf", 321),
    ("perf_event_open", 298),
    ("keyctl", 250),
    ("add_key", 248),
    ("request_key", 249),
    ("reboot", 169),
    ("swapon", 167),
    ("swapoff", 168),
    ("settimeofday", 164),
    ("clock_settime", 227),
    ("clock_adjtime", 305),
    ("adjtimex", 159),
    ("acct", 163),
    ("quotactl", 179),
    ("lookup_dcookie", 212),
    ("open_by_handle_at", 304),
    ("userfaultfd", 323),
    ("syslog", 103),
    ("vhangup", 153),
    ("iopl", 172),
    ("ioperm", 173),
    ("uselib", 134),
    ("ustat", 136),
    ("sysfs", 139),
    ("io_uring_setup", 425),
    ("io_uring_enter", 426),
    ("io_uring_register", 427),
];

const EPERM: &str = "1";
const ENOSYS: &str = "38";

/// The probe's arguments for every denied call, plus clone with
/// CLONE_NEWNET, clone3, and 500 (a number above every call sbx knows,
/// which the filter answers ENOSYS whatever a newer kernel makes of it).
fn probe_args() -> Vec<String> {
    let mut args: Vec<String> = DENIED
        .iter()
        .map(|(name, nr)| format!("{name}:{nr}"))
        .collect();
    args.push("clone_newnet:56".into());
    args.push("clone3:435".into());
    args.push("future:500".into());
    args
}

/// Parses the probe's `NAME ERRNO` lines.
fn answers(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn assert_all_denied(out: &str, from: &str) {
    let got = answers(out);
    assert_eq!(got.len(), DENIED.len() + 3, "{from}: every call ran: {out}");
    for (name, errno) in &got {
        let want = if name == "clone3" || name == "future" {
            ENOSYS
        } else {
            EPERM
        };
        assert_eq!(errno, want, "{from}: {name} answered errno {errno}");
    }
}

#[test]
fn every_denied_call_is_eperm_from_run_and_from_exec() {
    let env = TestEnv::new("scdeny");
    let args = probe_args();
    let mut cmd = vec!["run", "--network", "none", "--", "python3", "-c", PROBE];
    cmd.extend(args.iter().map(String::as_str));
    assert_all_denied(&env.ok(&cmd), "sbx run");

    env.detach("tst-scdeny", &["--network", "none", "--", "sleep", "300"]);
    let mut cmd = vec!["exec", "tst-scdeny", "--", "python3", "-c", PROBE];
    cmd.extend(args.iter().map(String::as_str));
    assert_all_denied(&env.ok(&cmd), "sbx exec");
}

#[test]
fn unconfined_lifts_the_filter() {
    let env = TestEnv::new("scopen");
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--security-opt",
        "seccomp=unconfined",
        "--",
        "python3",
        "-c",
        PROBE,
        "io_uring_setup:425",
        "unshare:272",
        "clone3:435",
    ]);
    let got = answers(&out);
    let io_uring_on = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .map(|v| v.trim() == "0")
        .unwrap_or(true);
    if io_uring_on {
        assert_eq!(got[0], ("io_uring_setup".into(), "0".into()), "{out}");
    }
    // unshare(0) is a no-op the kernel allows; clone3 with no arguments is
    // EINVAL from the kernel, not the filter's ENOSYS.
    assert_eq!(got[1], ("unshare".into(), "0".into()), "{out}");
    assert_eq!(got[2].0, "clone3");
    assert_ne!(got[2].1, ENOSYS, "{out}");
}

/// getpid with `__X32_SYSCALL_BIT` (0x40000000 | 39): the filter kills the
/// caller (SIGSYS, 128 + 31); without it the kernel answers (ENOSYS where
/// it has no x32 ABI).
#[test]
fn an_x32_call_kills_the_process() {
    let env = TestEnv::new("scx32");
    let script = "import ctypes\n\
                  libc = ctypes.CDLL(None, use_errno=True)\n\
                  print('before', flush=True)\n\
                  libc.syscall(ctypes.c_long(0x40000000 | 39))\n\
                  print('after', flush=True)";
    let out = env.sbx(&["run", "--network", "none", "--", "python3", "-c", script]);
    assert_eq!(out.status.code(), Some(128 + 31), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "before\n");
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--security-opt",
        "seccomp=unconfined",
        "--",
        "python3",
        "-c",
        script,
    ]);
    assert_eq!(out, "before\nafter\n");
}
