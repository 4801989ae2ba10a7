//! PID 1 of the sandbox: sbx's own code, never exec'd away. It finishes the
//! sandbox's setup, forks the command, then forwards signals to it and reaps
//! every orphan until the command ends, and exits with its status.

use super::channel::{Channel, ToInit, ToParent};
use super::fds::{Disposal, close_from};
use super::{EXIT_SBX_FAILED, exec, pty};
use anyhow::Context;
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;

/// What the init sets up before it starts the command.
pub struct Plan {
    /// UTS hostname; `None`: left alone (the UTS namespace is not its own).
    pub hostname: Option<String>,
    /// Folder holding the private /etc files.
    pub etc_dir: PathBuf,
    /// Root, volumes, read-only root, tmpfs mounts.
    pub fs: crate::fs::plan::FsPlan,
    /// Capabilities the command keeps.
    pub caps: Vec<caps::Capability>,
    /// Give the command a pty of the sandbox's own, on these stdio places.
    pub terminal: Option<pty::Stdio>,
    /// Rlimits, OOM score, new privileges (OCI `process`).
    pub settings: crate::model::process::ProcessSettings,
    /// Namespaced sysctls to set.
    pub sysctl: crate::model::process::Sysctls,
    /// Namespaces to join, opened by the parent.
    pub joined: Vec<(nix::sched::CloneFlags, std::os::fd::OwnedFd)>,
    /// Make a cgroup namespace once in its cgroups.
    pub own_cgroup: bool,
}

/// The name the init shows in /proc/1/comm and /proc/1/cmdline.
const TITLE: &str = "sbx-init";

/// The init's whole life; returns its exit status.
pub fn run(
    channel: &Channel,
    plan: &Plan,
    command: &exec::Command,
    cgroups: &crate::cgroup::Membership,
) -> i32 {
    // Into the sandbox's cgroups before anything else: from here on its
    // device list and limits hold.
    let joined = cgroups
        .join()
        .and_then(|()| super::settings::enter_namespaces(&plan.joined, plan.own_cgroup));
    if let Err(e) = joined {
        let message = format!("{e:#}");
        let _ = channel.send(&ToParent::Failed { message }, None);
        return EXIT_SBX_FAILED;
    }
    // Not dumpable: sandboxed processes cannot open /proc/1/exe (the sbx
    // binary) to overwrite it (runc's CVE-2019-5736).
    let _ = nix::sys::prctl::set_dumpable(false);
    // If `sbx run` dies, so does the sandbox; its leftovers are swept later.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    let _ = nix::sys::prctl::set_name(c"sbx-init");
    // The sandbox's own view (hostname, mounts, capabilities) is set up
    // while the parent wires the network: on two cores the two overlap.
    // Only the command waits for the network. A failure is reported, not
    // printed: `sbx run` says it as its one line.
    let terminal = match setup(channel, plan) {
        Ok(terminal) => terminal,
        Err(e) => {
            let message = format!("{e:#}");
            let _ = channel.send(&ToParent::Failed { message }, None);
            return EXIT_SBX_FAILED;
        }
    };
    // The command will have all its stdio on the terminal: the caller's
    // (conmon's, a console socket's owner's) are not the init's to hold
    // open, or a reader of them would never see their end (runc's init
    // too is on its terminal from here).
    if plan.terminal == Some(pty::Stdio([true; 3])) {
        release_stdio();
    }
    let master = terminal.as_ref().map(|t| t.master.as_fd());
    if channel.send(&ToParent::Ready, master).is_err() {
        return EXIT_SBX_FAILED;
    }
    let slave = terminal.map(|t| t.slave);
    // The parent closing its end means it gave up: end quietly.
    if !matches!(channel.recv::<ToInit>(), Ok(Some((ToInit::Go, _)))) {
        return EXIT_SBX_FAILED;
    }
    // SAFETY: this process is single-threaded (a clone of single-threaded sbx).
    let command_pid = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            if let (Some(slave), Some(on)) = (&slave, plan.terminal)
                && let Err(e) = pty::attach(slave.as_raw_fd(), on)
            {
                eprintln!("sbx: make the sandbox's terminal the command's: {e}");
                // SAFETY: ends this forked process without unwinding.
                unsafe { libc::_exit(EXIT_SBX_FAILED) }
            }
            exec::exec(command)
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => {
            eprintln!("sbx: start the command: {e}");
            return EXIT_SBX_FAILED;
        }
    };
    // Only the command holds the terminal now, so it hangs up when the
    // command's side is all closed.
    drop(slave);
    supervise(command_pid)
}

/// Points stdin, stdout and stderr at /dev/null (the sandbox's own).
fn release_stdio() {
    if let Ok(null) = nix::fcntl::open(
        c"/dev/null",
        nix::fcntl::OFlag::O_RDWR,
        nix::sys::stat::Mode::empty(),
    ) {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors, which this process owns.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}

/// Everything before the report: no inherited descriptors, the sandbox's
/// view, no trace of sbx's host command line, the terminal.
fn setup(channel: &Channel, plan: &Plan) -> anyhow::Result<Option<pty::Pty>> {
    // The init is a copy of sbx and holds copies of all its descriptors
    // (netlink sockets, the supervisor's report pipe, a lock); it never
    // execs, so close-on-exec does not help: close all but stdio and the
    // channel.
    // Those the command is to get (`--preserve-fds`) stay, at their numbers.
    let first = 3 + plan.settings.preserve_fds as i32;
    close_from(
        first,
        Some(channel.as_fd().as_raw_fd()),
        Disposal::Close,
        true,
    )
    .context("close the descriptors sbx inherited")?;
    crate::crash::fail_point("init")?;
    if let Some(hostname) = &plan.hostname {
        nix::unistd::sethostname(hostname).context("set the hostname")?;
    }
    // Through the host's /proc, still mounted: its net and IPC sysctls are
    // those of this process's (new) namespaces.
    super::settings::apply_in_init(&plan.settings, &plan.sysctl)?;
    crate::fs::setup(&plan.fs, &plan.etc_dir)?;
    let allow = plan.settings.allow_new_privileges;
    match &plan.settings.cap_sets {
        Some(sets) => {
            super::settings::check_caps_available(sets)?;
            super::caps::restrict_bounding(&plan.caps, allow)?
        }
        None => super::caps::restrict_to(&plan.caps, allow)?,
    }
    // Last use of the environment was the fail point above.
    super::title::set(TITLE.as_bytes()).context("hide sbx's command line from the sandbox")?;
    if plan.terminal.is_none() {
        return Ok(None);
    }
    // Out of sbx's session: the host's terminal is sbx's business, and its
    // signals (SIGWINCH, ...) reach the command through the sandbox's.
    let _ = nix::unistd::setsid();
    pty::open_in("/dev/ptmx").map(Some)
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
