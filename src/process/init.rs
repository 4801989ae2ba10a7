//! PID 1 of the sandbox: sbx's own code, never exec'd away. It finishes the
//! sandbox's setup, forks the command, then forwards signals to it and reaps
//! every orphan until the command ends, and exits with its status.

use super::{EXIT_SBX_FAILED, exec, wait_for_go};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

/// What the init sets up before it starts the command.
pub struct Plan {
    /// UTS hostname.
    pub hostname: String,
    /// Folder holding the private /etc files.
    pub etc_dir: PathBuf,
    /// Root, volumes, read-only root, tmpfs mounts.
    pub fs: crate::fs::plan::FsPlan,
    /// Capabilities the command keeps.
    pub caps: Vec<caps::Capability>,
}

/// The init's whole life; returns its exit status.
pub fn run(
    go: &OwnedFd,
    plan: &Plan,
    command: &exec::Command,
    cgroups: &crate::cgroup::Membership,
) -> i32 {
    // Into the sandbox's cgroups before anything else: from here on its
    // device list and limits hold.
    if let Err(e) = cgroups.join() {
        eprintln!("sbx: {e:#}");
        return EXIT_SBX_FAILED;
    }
    // Not dumpable: sandboxed processes cannot open /proc/1/exe (the sbx
    // binary) to overwrite it (runc's CVE-2019-5736).
    let _ = nix::sys::prctl::set_dumpable(false);
    // If `sbx run` dies, so does the sandbox; its leftovers are swept later.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    let _ = nix::sys::prctl::set_name(c"sbx-init");
    close_inherited_fds(go);
    // The sandbox's own view (hostname, mounts, capabilities) is set up
    // while the parent wires the network: on two cores the two overlap.
    // Only the command waits for the network.
    if let Err(e) = prepare(plan) {
        eprintln!("sbx: {e:#}");
        return EXIT_SBX_FAILED;
    }
    if !wait_for_go(go) {
        return EXIT_SBX_FAILED;
    }
    // SAFETY: this process is single-threaded (a clone of single-threaded sbx).
    let command_pid = match unsafe { fork() } {
        Ok(ForkResult::Child) => exec::exec(command),
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => {
            eprintln!("sbx: start the command: {e}");
            return EXIT_SBX_FAILED;
        }
    };
    supervise(command_pid)
}

/// The init is a copy of sbx and holds copies of all its descriptors
/// (netlink sockets, the supervisor's report pipe, a lock); it never execs,
/// so close-on-exec does not help: close all but stdio and the go pipe.
fn close_inherited_fds(go: &OwnedFd) {
    let keep = go.as_raw_fd() as u32;
    // SAFETY: close_range only closes descriptors; `go` is kept.
    unsafe {
        if keep > 3 {
            libc::syscall(libc::SYS_close_range, 3u32, keep - 1, 0u32);
        }
        libc::syscall(libc::SYS_close_range, keep + 1, u32::MAX, 0u32);
    }
}

fn prepare(plan: &Plan) -> anyhow::Result<()> {
    use anyhow::Context;
    nix::unistd::sethostname(&plan.hostname).context("set the hostname")?;
    crate::fs::setup(&plan.fs, &plan.etc_dir)?;
    super::caps::restrict_to(&plan.caps)
}

/// Forwards every signal to the command (as PID 1 it would otherwise
/// ignore most of them) and reaps everything until the command ends.
fn supervise(command: Pid) -> i32 {
    let signals = SigSet::all();
    if signals.thread_block().is_err() {
        return EXIT_SBX_FAILED;
    }
    loop {
        match signals.wait() {
            Ok(Signal::SIGCHLD) => {
                if let Some(code) = reap_all(command) {
                    return code;
                }
            }
            Ok(sig) => {
                let _ = kill(command, sig);
            }
            Err(_) => {}
        }
    }
}

/// Reaps every dead child (orphans are re-parented to PID 1); returns the
/// command's status once it is among them.
fn reap_all(command: Pid) -> Option<i32> {
    let mut result = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == command => result = Some(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == command => {
                result = Some(128 + sig as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return result,
            Ok(_) => {}
        }
    }
}
