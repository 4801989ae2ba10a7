//! `sbx exec`: a command inside a running sandbox, joining all five of its
//! namespaces, with the sandbox's capabilities, environment and working
//! directory rules; its exit status passes through.

use super::find;
use crate::process::{self, caps, exec::Command};
use crate::state::StateRoot;
use crate::state::records::Status;
use anyhow::{Context, Result, bail};
use nix::sched::{CloneFlags, setns};
use nix::unistd::{ForkResult, fork};
use std::fs::File;
use std::io::IsTerminal;
use std::os::fd::AsRawFd;

/// The namespaces joined, in the order they are entered: the mount
/// namespace last, since entering it changes what paths mean.
const NAMESPACES: [(&str, CloneFlags); 5] = [
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// What a face asks `exec` to run, as the user wrote it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecRequest {
    /// The sandbox's name.
    pub name: String,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// `-e KEY=VALUE` or `-e KEY`, added to the sandbox's environment.
    pub env: Vec<String>,
    /// `-w`; `None`: the sandbox's own working directory.
    pub workdir: Option<String>,
}

/// Runs the command and returns its exit status.
pub fn exec(root: &StateRoot, args: &ExecRequest) -> Result<i32> {
    let record = find(root, &args.name)?;
    let Some(init) = record.init.filter(|_| record.status() == Status::Running) else {
        bail!(
            "sandbox {} is not running: start a new one with 'sbx run'",
            args.name
        );
    };
    let tty = std::io::stdin().is_terminal();
    let mut env = record.spec.env.clone();
    let host_env = |k: &str| std::env::var(k).ok();
    let extra = crate::spec::build_env(&record.spec.hostname, &args.env, host_env, tty)?;
    // The sandbox's environment, then exec's own additions (and TERM).
    for entry in extra.iter().filter(|e| args_or_term(e, &args.env)) {
        let key = entry.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(entry.clone());
    }
    let workdir = args
        .workdir
        .clone()
        .unwrap_or_else(|| record.spec.workdir.clone());
    let workdir = if workdir.is_empty() {
        "/".to_string()
    } else {
        workdir
    };
    if !workdir.starts_with('/') {
        bail!("--workdir {workdir:?} is not an absolute path: start it with /");
    }
    let command = Command::from_parts(&args.command, &env, &workdir, record.spec.seccomp)?
        .run_as(crate::process::exec::command_user(
            record.spec.process.user.as_ref(),
            record.spec.fs.image.as_ref(),
        ))
        .hiding_sbx_command_line()?;
    let pause = crate::crash::pause_requested("exec-child");
    // Exactly the sandbox's own set: an empty one (`--cap-drop ALL`) is
    // empty here too, never Docker's default.
    let keep: Vec<::caps::Capability> = record.spec.caps.clone();

    // Open every namespace before entering any, then check the process is
    // still the sandbox's init (a reused PID would be someone else's).
    let mut files = Vec::new();
    for (name, flag) in NAMESPACES {
        let path = format!("/proc/{}/ns/{name}", init.pid);
        let file = File::open(&path).with_context(|| format!("open {path}"))?;
        files.push((file, flag, name));
    }
    if !init.is_alive() {
        bail!(
            "sandbox {} is not running: start a new one with 'sbx run'",
            args.name
        );
    }
    // Not dumpable while inside: the sandbox must not open /proc/PID/exe
    // of this sbx process to reach the binary (runc's CVE-2019-5736).
    nix::sys::prctl::set_dumpable(false).context("make sbx exec non-dumpable")?;
    let signals = process::wait_set();
    signals.thread_block().context("block signals")?;
    // Into the sandbox's cgroups first (their paths are the host's): its
    // limits cover exec'd work too.
    crate::cgroup::join_self(&record.cgroups)?;
    for (file, flag, name) in &files {
        setns(file, *flag).with_context(|| format!("join the sandbox's {name} namespace"))?;
    }
    drop(files);
    // With a terminal, one of the sandbox's own: its /dev/ptmx, opened now
    // that this process is in the sandbox's mount namespace.
    let on_terminal = process::pty::Stdio::of_sbx();
    let terminal = match on_terminal {
        Some(on) => Some((process::pty::open_in("/dev/ptmx")?, on)),
        None => None,
    };
    if let Some((pty, _)) = &terminal {
        process::pty::copy_window_size_from_stdin(&pty.master);
    }
    // SAFETY: sbx exec is single-threaded (no runtime was started).
    match unsafe { fork() }.context("start the command")? {
        ForkResult::Child => {
            process::exec::hide_sbx_command_line(&command);
            if pause {
                std::thread::sleep(std::time::Duration::from_secs(3));
            }
            if let Some((pty, on)) = &terminal
                && let Err(e) = process::pty::attach(pty.slave.as_raw_fd(), *on)
            {
                eprintln!("sbx: make the sandbox's terminal the command's: {e}");
                std::process::exit(process::EXIT_SBX_FAILED);
            }
            if let Err(e) = caps::restrict_to(&keep, false) {
                eprintln!("sbx: {e:#}");
                std::process::exit(process::EXIT_SBX_FAILED);
            }
            process::exec::exec(&command)
        }
        ForkResult::Parent { child } => match terminal {
            Some((pty, on)) => {
                drop(pty.slave);
                Ok(process::relay::relay(child, pty.master, on, &signals))
            }
            None => Ok(process::wait_forwarding(child, &signals)),
        },
    }
}

/// Keeps exec's own `-e` entries and TERM from the defaults list.
fn args_or_term(entry: &str, user: &[String]) -> bool {
    let key = entry.split('=').next().unwrap_or_default();
    key == "TERM" || user.iter().any(|u| u.split('=').next() == Some(key))
}
