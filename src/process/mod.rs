//! The sandbox's processes. `spawn` clones the init (PID 1 of fresh net,
//! mount, UTS, IPC and PID namespaces), which sets up its view of the
//! system while the parent wires its network, waits for the go, starts the
//! command, and stays as a tiny init that forwards signals and reaps.

pub mod caps;
pub mod exec;
mod init;
pub mod seccomp;

use crate::spec::SandboxSpec;
use anyhow::{Context, Result};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{Pid, pipe2, read, write};
use std::os::fd::OwnedFd;
use std::path::Path;

/// Signals `sbx run` passes on to the command (SIGCHLD is how it learns the
/// sandbox ended). They stay blocked in sbx's processes and are taken with
/// `sigwait`, so no handler ever runs in a forked child.
pub const FORWARDED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// The set a waiting sbx process sleeps on: the forwarded signals + SIGCHLD.
pub fn wait_set() -> SigSet {
    let mut set = SigSet::empty();
    for sig in FORWARDED {
        set.add(sig);
    }
    set.add(Signal::SIGCHLD);
    set
}

/// A cloned init that waits for [`Child::release`] before doing anything.
pub struct Child {
    /// Its PID in the host's PID namespace.
    pub pid: Pid,
    go: OwnedFd,
}

/// Exit status when sbx itself failed, per the SPEC.
pub const EXIT_SBX_FAILED: i32 = 125;

/// Clones the init. The caller must have blocked [`wait_set`] and must be
/// single-threaded (a current-thread runtime starts no threads).
pub fn spawn(
    spec: &SandboxSpec,
    etc_dir: &Path,
    cgroups: &crate::cgroup::Membership,
) -> Result<Child> {
    let (go_read, go_write) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("create sync pipe")?;
    let command = exec::Command::new(spec)?;
    let plan = init::Plan {
        hostname: spec.hostname.clone(),
        etc_dir: etc_dir.to_path_buf(),
        fs: spec.fs.clone(),
        caps: spec.caps.clone(),
    };
    let flags = CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWPID;
    // The stack is only reserved address space until the child touches it.
    let mut stack = vec![0u8; 1 << 20];
    let child_main = Box::new(|| {
        let code = init::run(&go_read, &plan, &command, cgroups);
        code as isize
    });
    // SAFETY: the child gets a copy-on-write copy of this single-threaded
    // process (no CLONE_VM) and runs `child_main` on its own copy of `stack`.
    let pid = unsafe { nix::sched::clone(child_main, &mut stack, flags, Some(libc::SIGCHLD)) }
        .context("create the sandbox's namespaces (clone)")?;
    Ok(Child { pid, go: go_write })
}

impl Child {
    /// Lets the init proceed: the network is wired and the record written.
    /// Fails if the init already gave up (it said why on stderr).
    pub fn release(self) -> Result<()> {
        write(&self.go, &[1]).context("the sandbox's init failed to set up")?;
        Ok(())
    }
}

/// Kills an init that was never released and reaps it (the launch failed).
pub fn abort(pid: Pid) {
    let _ = kill(pid, Signal::SIGKILL);
    let _ = waitpid(pid, None);
}

/// Waits for the init to end, passing the signals in [`FORWARDED`] to it,
/// and returns the exit status `sbx run` should report.
pub fn wait_forwarding(pid: Pid, signals: &SigSet) -> i32 {
    loop {
        match signals.wait() {
            Ok(Signal::SIGCHLD) => {
                if let Some(code) = reap(pid) {
                    return code;
                }
            }
            Ok(sig) => {
                let _ = kill(pid, sig);
            }
            Err(_) => {}
        }
    }
}

/// Collects `pid` if it ended: its exit code, or 128+N for signal N.
fn reap(pid: Pid) -> Option<i32> {
    match waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Some(code),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(128 + sig as i32),
        Ok(_) => None,
        Err(_) => Some(EXIT_SBX_FAILED),
    }
}

/// Reads the one-byte go signal; false if the parent gave up (EOF).
fn wait_for_go(go: &OwnedFd) -> bool {
    let mut byte = [0u8];
    loop {
        match read(go, &mut byte) {
            Ok(1) => return true,
            Err(nix::errno::Errno::EINTR) => continue,
            _ => return false,
        }
    }
}
