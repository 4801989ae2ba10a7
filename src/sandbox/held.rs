//! A launch held between the init's report and its release: OCI's
//! `create` (everything up to the release; the caller's stdio passed
//! through to the command) and `start` (the release), SPEC "OCI runtime".
//!
//! `create` forks a supervisor (double-forked and in its own session, like
//! `run -d`'s) that owns the launch: it launches up to the init's report,
//! records the sandbox with its init (state `creating` + a live init =
//! OCI's `created`), makes the fifo `start` in the sandbox's folder,
//! answers `ok PID`, and waits on the fifo and on the init. `start` writes
//! one byte to the fifo; the supervisor releases the init, records it
//! running, waits for it and cleans up like any detached sandbox, keeping
//! the record (`exited`, OCI's `stopped`) until `delete`.

use super::kernel::Host;
use super::launch::{self, Started};
use super::{cleanup, reserve, supervisor};
use crate::net::Netlink;
use crate::process::{self, EXIT_SBX_FAILED};
use crate::spec::SandboxSpec;
use crate::state::liveness::ProcessId;
use crate::state::{SandboxRecord, SandboxState, StateRoot};
use anyhow::{Context, Result, bail};
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::{ForkResult, fork, pipe2, setsid};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The runtime spec version sbx implements (what `state` says).
pub const OCI_VERSION: &str = "1.2.0";

/// runtime-spec's state of a container (plus runc's rootfs, created,
/// owner): what `state` prints and what hooks read on stdin.
pub fn state_json(record: &SandboxRecord) -> serde_json::Value {
    let status = OciStatus::of(record);
    let pid = match status {
        OciStatus::Created | OciStatus::Running => record.init.map_or(0, |p| p.pid),
        _ => 0,
    };
    serde_json::json!({
        "ociVersion": OCI_VERSION,
        "id": record.spec.name,
        "status": status.as_str(),
        "pid": pid,
        "bundle": record.spec.bundle.clone().unwrap_or_default(),
        "rootfs": record.spec.fs.rootfs.clone().unwrap_or_default(),
        "created": crate::timefmt::rfc3339(record.created),
        "owner": "",
        "annotations": record.spec.annotations,
    })
}

/// The fifo in a held sandbox's folder that `start` writes to.
const START_FIFO: &str = "start";

/// What OCI's `state` calls a sandbox's status (runtime-spec "State").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OciStatus {
    /// Being created: no init yet.
    Creating,
    /// The init waits for `start`.
    Created,
    /// The command was started and its init lives.
    Running,
    /// The init has ended (or never came).
    Stopped,
}

impl OciStatus {
    /// The runtime spec's word.
    pub fn as_str(self) -> &'static str {
        match self {
            OciStatus::Creating => "creating",
            OciStatus::Created => "created",
            OciStatus::Running => "running",
            OciStatus::Stopped => "stopped",
        }
    }

    /// From a record and the kernel: an init that has ended is `stopped`
    /// at once, even while its supervisor still cleans up.
    pub fn of(record: &SandboxRecord) -> Self {
        let init_alive = record.init.is_some_and(|p| p.is_alive());
        let owner_alive = record.owner.is_some_and(|p| p.is_alive());
        match record.state {
            SandboxState::Creating if init_alive => OciStatus::Created,
            SandboxState::Creating if record.init.is_none() && owner_alive => OciStatus::Creating,
            SandboxState::Running if init_alive => OciStatus::Running,
            _ => OciStatus::Stopped,
        }
    }
}

/// Reserves and launches `spec` up to the init's report, in a supervisor
/// of its own, and returns the init's PID once it waits for [`start`].
/// The command inherits this process's stdin, stdout and stderr, or, with
/// `console_socket`, gets a terminal of the container's own whose master
/// side is sent to that unix socket (runc's `--console-socket`). On
/// failure nothing of it is left and the error says why.
pub fn create(root: &StateRoot, spec: &SandboxSpec, console_socket: Option<&Path>) -> Result<i32> {
    let nonce = super::launch::nonce();
    let nl = Netlink::new()?;
    let reservation = reserve::reserve(root, &nl, spec, nonce)?;
    // The supervisor opens its own sockets (see `supervisor::detach`).
    drop(nl);
    let (from_supervisor, to_parent) = pipe2(OFlag::O_CLOEXEC).context("create a pipe")?;
    // SAFETY: single-threaded (no runtime is alive); the child only forks
    // again and then runs ordinary sbx code.
    match unsafe { fork() }.context("fork the supervisor")? {
        ForkResult::Parent { child } => {
            drop(to_parent);
            let _ = nix::sys::wait::waitpid(child, None);
            let mut answer = String::new();
            File::from(from_supervisor)
                .read_to_string(&mut answer)
                .context("read the supervisor's answer")?;
            match answer.strip_prefix("ok ") {
                Some(pid) => pid
                    .trim()
                    .parse()
                    .with_context(|| format!("the supervisor's answer {answer:?}")),
                None if answer.is_empty() => bail!(
                    "the supervisor of {} died while creating it; see 'sbx ps -a' and 'sbx prune'",
                    spec.name
                ),
                None => bail!("{answer}"),
            }
        }
        ForkResult::Child => {
            drop(from_supervisor);
            // Its own session, and no session leader (see `supervisor`).
            let _ = setsid();
            // SAFETY: as above, still single-threaded.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => std::process::exit(supervise(
                    root,
                    reservation,
                    spec,
                    to_parent,
                    console_socket,
                )),
                _ => std::process::exit(0),
            }
        }
    }
}

/// The supervisor's life: launch held, answer, wait for `start` or the
/// init's end, release, wait, clean up (the record stays until `delete`).
fn supervise(
    root: &StateRoot,
    mut reservation: reserve::Reservation,
    spec: &SandboxSpec,
    report: OwnedFd,
    console_socket: Option<&Path>,
) -> i32 {
    let first = 3 + spec.process.preserve_fds as i32;
    supervisor::close_inherited_from(first, report.as_raw_fd());
    let mut report = Some(File::from(report));
    let fail = |report: &mut Option<File>, e: anyhow::Error| {
        if let Some(mut r) = report.take() {
            let _ = write!(r, "{e:#}");
        }
        EXIT_SBX_FAILED
    };
    reservation.record.owner = ProcessId::current();
    if let Err(e) = root.write_sandbox(&reservation.record) {
        let mut reserved = reservation.record;
        reserved.netns = None;
        let _ = cleanup::undo_launch(&Host, root, reserved, None, false);
        return fail(&mut report, e);
    }
    let nl = match Netlink::new() {
        Ok(nl) => nl,
        Err(e) => {
            let _ = cleanup::undo_launch(&Host, root, reservation.record, None, false);
            return fail(&mut report, e);
        }
    };
    let fifo = root.sandbox_dir(&spec.name).join(START_FIFO);
    let mut watch = None;
    let mut hold = |record: &SandboxRecord, master: Option<&OwnedFd>| {
        if let (Some(socket), Some(master)) = (console_socket, master) {
            process::pty::send_master(socket, master)?;
        }
        hold(root, record, &fifo, &mut report, &mut watch)
    };
    let terminal = console_socket.map(|_| process::pty::Stdio([true; 3]));
    let started = launch::start_held(root, reservation, spec, nl, terminal, Some(&mut hold));
    let Started { record, pid, .. } = match started {
        Ok(started) => started,
        Err(e) => return fail(&mut report, e),
    };
    let status = match (spec.init_adopted, &watch) {
        // Another process reaps it (see `SandboxSpec::init_adopted`).
        (true, Some(pidfd)) => process::wait_adopted(pidfd),
        _ => Some(process::wait_forwarding(pid, &process::wait_set())),
    };
    drop(watch);
    match cleanup::finish(&Host, root, record, status) {
        Ok(()) => 0,
        Err(_) => EXIT_SBX_FAILED,
    }
}

/// The hold itself: record the init, make the fifo, answer, leave the
/// caller's stdio to the command, wait for `start` or the init's end.
/// `watch` gets the pidfd of the init the supervisor then waits on (taken
/// while the init is held, so it cannot be another process's).
fn hold(
    root: &StateRoot,
    record: &SandboxRecord,
    fifo: &PathBuf,
    report: &mut Option<File>,
    watch: &mut Option<OwnedFd>,
) -> Result<bool> {
    root.write_sandbox(record)?;
    nix::unistd::mkfifo(fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .with_context(|| format!("make {}", fifo.display()))?;
    // Read-write: never an end-of-file before `start` has written.
    let fifo = nix::fcntl::open(
        fifo,
        OFlag::O_RDWR | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
        nix::sys::stat::Mode::empty(),
    )
    .with_context(|| format!("open {}", fifo.display()))?;
    let Some(init) = record.init else {
        bail!("the init's PID is unknown");
    };
    let pidfd = pidfd_open(init.pid).context("open a pidfd of the init")?;
    // createRuntime: the container exists, its command has not started;
    // the state says `created`.
    let hooks = &record.spec.hooks.create_runtime;
    if !hooks.is_empty() {
        super::hooks::run_all(hooks, &state_json(record), "createRuntime")?;
    }
    if let Some(mut r) = report.take() {
        write!(r, "ok {}", init.pid).context("answer create")?;
    }
    // Only the command keeps the caller's stdio (a pipe's reader sees its
    // end when the command's side closes, not this supervisor's).
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors, which this process owns.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("wait for start"),
            Ok(_) => {}
        }
        if fds[1].any().unwrap_or(false) {
            *watch = Some(pidfd);
            return Ok(false);
        }
        if fds[0].any().unwrap_or(false) {
            let mut byte = [0u8; 1];
            let _ = nix::unistd::read(&fifo, &mut byte);
            // prestart: `start` was called, the command has not run yet.
            let hooks = &record.spec.hooks.prestart;
            if !hooks.is_empty() {
                super::hooks::run_all(hooks, &state_json(record), "prestart")?;
            }
            *watch = Some(pidfd);
            return Ok(true);
        }
    }
}

/// A pidfd of `pid` (pidfd_open(2), Linux 5.3).
fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open(2) returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor owned by the caller.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// How long `start` waits for the supervisor to say the command runs.
const START_WAIT: Duration = Duration::from_secs(10);

/// Releases a created sandbox's command and returns once its record says
/// it runs (or it has already ended).
pub fn start(root: &StateRoot, name: &str) -> Result<()> {
    let record = find(root, name)?;
    let status = OciStatus::of(&record);
    if status != OciStatus::Created {
        bail!(
            "container {name} is {}, not created: only a created container can be started",
            status.as_str()
        );
    }
    let path = root.sandbox_dir(name).join(START_FIFO);
    let fifo = nix::fcntl::open(
        &path,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .with_context(|| {
        format!(
            "container {name} is not waiting to start ({})",
            path.display()
        )
    })?;
    nix::unistd::write(&fifo, b"s").context("start the container")?;
    let deadline = Instant::now() + START_WAIT;
    while Instant::now() < deadline {
        let record = find(root, name)?;
        if OciStatus::of(&record) != OciStatus::Created {
            let hooks = &record.spec.hooks.poststart;
            if !hooks.is_empty()
                && let Some(init) = record.init
            {
                await_exec(init.pid, deadline);
            }
            if let Err(e) = super::hooks::run_all(hooks, &state_json(&record), "poststart") {
                crate::log::warn(&format!("{e:#}"));
            }
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    bail!("container {name} did not start within {START_WAIT:?}")
}

/// Waits (until `deadline`) for the init's command to have exec'd: a
/// child of the init whose name is no longer the init's (`sbx-init`, which
/// a forked child keeps until its execve), or the init's end.
fn await_exec(init: i32, deadline: Instant) {
    let children = format!("/proc/{init}/task/{init}/children");
    while Instant::now() < deadline {
        let Ok(list) = std::fs::read_to_string(&children) else {
            return;
        };
        let exec_done = list.split_whitespace().any(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() != "sbx-init")
        });
        if exec_done {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A held or OCI sandbox's record by name (OCI ids may be longer than
/// `sbx run`'s names), or the error naming it.
pub fn find(root: &StateRoot, name: &str) -> Result<SandboxRecord> {
    crate::spec::check_id(name)?;
    match root.sandbox(name)? {
        Some(record) => Ok(record),
        None => bail!("container {name} does not exist"),
    }
}

/// Waits until the sandbox's supervisor has finished (the command ended
/// and its cleanup ran), and returns its exit status.
pub fn wait(root: &StateRoot, name: &str) -> Result<i32> {
    let record = find(root, name)?;
    if let Some(owner) = record.owner {
        while owner.is_alive() {
            owner.wait_gone(Duration::from_secs(3600));
        }
    }
    let record = find(root, name)?;
    Ok(record.exit_code.unwrap_or(EXIT_SBX_FAILED))
}

/// Sends `signal` to a created or running container's init (which passes
/// it to the command), or with `all` to every process in its cgroups.
pub fn kill(
    root: &StateRoot,
    name: &str,
    signal: nix::sys::signal::Signal,
    all: bool,
) -> Result<()> {
    let record = find(root, name)?;
    let status = OciStatus::of(&record);
    let Some(init) = record
        .init
        .filter(|_| matches!(status, OciStatus::Created | OciStatus::Running))
    else {
        bail!(
            "container {name} is {}: there is no process to signal",
            status.as_str()
        );
    };
    let mut pids = vec![init.pid];
    if all {
        pids.extend(processes(&record));
    }
    for pid in pids {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
    }
    Ok(())
}

/// The PIDs in a sandbox's cgroups (cgroup.procs of each), sorted, once.
pub fn processes(record: &SandboxRecord) -> Vec<i32> {
    let mut pids: Vec<i32> = (record.cgroups.iter())
        .filter_map(|dir| std::fs::read_to_string(dir.join("cgroup.procs")).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Deletes a container and everything it holds. A running one is refused
/// unless `force` (then killed); a created one is killed (it never ran);
/// with `force`, one that does not exist is no error.
pub fn delete(root: &StateRoot, name: &str, force: bool) -> Result<()> {
    crate::spec::check_id(name)?;
    let record = match root.sandbox(name)? {
        Some(record) => record,
        None if force => return Ok(()),
        None => bail!("container {name} does not exist"),
    };
    let status = OciStatus::of(&record);
    // runtime-spec "delete": only a stopped container, unless forced.
    if matches!(
        status,
        OciStatus::Running | OciStatus::Created | OciStatus::Creating
    ) && !force
    {
        bail!(
            "container {name} is {}, not stopped: stop it first (kill), or use delete --force",
            status.as_str()
        );
    }
    if status == OciStatus::Created
        && let Some(init) = record.init
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(init.pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        init.wait_gone(Duration::from_secs(5));
    }
    super::control::rm(root, name, true)?;
    let hooks = &record.spec.hooks.poststop;
    if !hooks.is_empty() {
        let mut state = state_json(&record);
        state["status"] = "stopped".into();
        state["pid"] = 0.into();
        if let Err(e) = super::hooks::run_all(hooks, &state, "poststop") {
            crate::log::warn(&format!("{e:#}"));
        }
    }
    Ok(())
}
