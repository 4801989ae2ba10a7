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

/// What the OCI face asks of `exec` beyond `sbx exec`'s request (runc's
/// `exec`, SPEC "OCI runtime"); the defaults are `sbx exec`'s behaviour.
#[derive(Debug, Default)]
pub struct ExecOptions {
    /// The whole environment (OCI `process.env`) instead of the sandbox's
    /// plus the request's additions.
    pub env: Option<Vec<String>>,
    /// User, groups and capability sets (OCI `process.user`,
    /// `process.capabilities`, `noNewPrivileges`).
    pub settings: Option<crate::model::process::ProcessSettings>,
    /// Return once the command runs, leaving it to be reaped by this
    /// process's subreaper (conmon, which waits for it by PID).
    pub detach: bool,
    /// Where to write the command's host PID (no newline).
    pub pid_file: Option<std::path::PathBuf>,
    /// A terminal of the sandbox's own whose master side is sent to this
    /// unix socket (`--console-socket`, see `process::pty::send_master`).
    pub console_socket: Option<std::path::PathBuf>,
    /// runc's rule for terminals: one only with `console_socket`, never
    /// because stdin is a terminal (`sbx exec`'s rule).
    pub oci: bool,
}

/// Runs the command and returns its exit status.
pub fn exec(root: &StateRoot, args: &ExecRequest) -> Result<i32> {
    let record = find(root, &args.name)?;
    exec_in(record, args, &ExecOptions::default())
}

/// OCI's `exec`: the same, in container `args.name` (an OCI id), with
/// `options`.
pub fn exec_oci(root: &StateRoot, args: &ExecRequest, options: &ExecOptions) -> Result<i32> {
    let record = super::held::find(root, &args.name)?;
    exec_in(record, args, options)
}

fn exec_in(
    record: crate::state::SandboxRecord,
    args: &ExecRequest,
    options: &ExecOptions,
) -> Result<i32> {
    let Some(init) = record.init.filter(|_| record.status() == Status::Running) else {
        bail!(
            "sandbox {} is not running: start a new one with 'sbx run'",
            args.name
        );
    };
    let tty = match options.oci {
        true => options.console_socket.is_some(),
        false => std::io::stdin().is_terminal(),
    };
    let mut env = record.spec.env.clone();
    let host_env = |k: &str| std::env::var(k).ok();
    let extra = crate::spec::build_env(&record.spec.hostname, &args.env, host_env, tty)?;
    // The sandbox's environment, then exec's own additions (and TERM).
    for entry in extra.iter().filter(|e| args_or_term(e, &args.env)) {
        let key = entry.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(entry.clone());
    }
    if let Some(given) = &options.env {
        env = given.clone();
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
    let mut command = Command::from_parts(&args.command, &env, &workdir, record.spec.seccomp)?
        .run_as(crate::process::exec::command_user(
            record.spec.process.user.as_ref(),
            record.spec.fs.image.as_ref(),
        ))
        .hiding_sbx_command_line()?;
    if let Some(settings) = &options.settings {
        command = command.with_settings(settings.clone());
    }
    // OCI's sets replace the sandbox's (the bounding set stays the
    // sandbox's: no exec may hold more than its init could).
    let own_sets = options
        .settings
        .as_ref()
        .is_some_and(|s| s.cap_sets.is_some());
    let allow_new_privileges = options
        .settings
        .as_ref()
        .is_some_and(|s| s.allow_new_privileges);
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
    let pid_file = options.pid_file.as_deref().map(PidFile::open).transpose()?;
    let console = (options.console_socket.as_deref())
        .map(process::pty::connect_console)
        .transpose()?;
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
    let on_terminal = match (&options.console_socket, options.oci) {
        (Some(_), _) => Some(process::pty::Stdio([true; 3])),
        (None, true) => None,
        (None, false) => process::pty::Stdio::of_sbx(),
    };
    let terminal = match on_terminal {
        Some(on) => Some((process::pty::open_in("/dev/ptmx")?, on)),
        None => None,
    };
    if let Some((pty, _)) = &terminal {
        match &console {
            Some(socket) => process::pty::send_master_on(socket, &pty.master)?,
            None => process::pty::copy_window_size_from_stdin(&pty.master),
        }
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
            let restricted = if own_sets {
                caps::restrict_bounding(&keep, allow_new_privileges)
            } else {
                caps::restrict_to(&keep, allow_new_privileges)
            };
            if let Err(e) = restricted {
                eprintln!("sbx: {e:#}");
                std::process::exit(process::EXIT_SBX_FAILED);
            }
            process::exec::exec(&command)
        }
        ForkResult::Parent { child } if options.detach || options.console_socket.is_some() => {
            if let Some(file) = &pid_file {
                file.write(child.as_raw())?;
            }
            if options.detach {
                return Ok(0);
            }
            // The terminal is the socket's reader's: wait without relaying.
            drop(terminal);
            Ok(process::wait_forwarding(child, &signals))
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

/// A `--pid-file` whose folder was opened in the host's mount namespace,
/// to be written from inside the sandbox's (where the path means
/// something else, or nothing).
struct PidFile {
    dir: std::os::fd::OwnedFd,
    name: std::ffi::OsString,
    path: std::path::PathBuf,
}

impl PidFile {
    /// Opens the folder of `path`.
    fn open(path: &std::path::Path) -> Result<Self> {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let Some(name) = path.file_name() else {
            bail!("--pid-file {} names no file", path.display());
        };
        let dir = nix::fcntl::open(
            &parent,
            nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .with_context(|| format!("open the folder of --pid-file {}", path.display()))?;
        Ok(PidFile {
            dir,
            name: name.to_os_string(),
            path: path.to_path_buf(),
        })
    }

    /// Writes `pid` atomically (a temporary file renamed), no newline, as
    /// runc's `--pid-file`.
    fn write(&self, pid: i32) -> Result<()> {
        use nix::fcntl::{OFlag, openat, renameat};
        let mut tmp = self.name.clone();
        tmp.push(".sbx-tmp");
        let written = openat(
            &self.dir,
            tmp.as_os_str(),
            OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_TRUNC | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .and_then(|fd| nix::unistd::write(&fd, pid.to_string().as_bytes()).map(|_| ()))
        .and_then(|()| renameat(&self.dir, tmp.as_os_str(), &self.dir, self.name.as_os_str()));
        written.with_context(|| format!("write --pid-file {}", self.path.display()))
    }
}

/// Keeps exec's own `-e` entries and TERM from the defaults list.
fn args_or_term(entry: &str, user: &[String]) -> bool {
    let key = entry.split('=').next().unwrap_or_default();
    key == "TERM" || user.iter().any(|u| u.split('=').next() == Some(key))
}
