//! `sbx run -d`: a small supervisor (this same binary, double-forked and
//! detached from the terminal) launches the sandbox, waits for it, writes
//! its output to a log file, records the exit code and cleans the network
//! up. The `sbx run` that started it waits only for "launched" or the error.

use super::kernel::Host;
use super::launch::{self, Started};
use super::{cleanup, logfile, reserve::Reservation};
use crate::net::Netlink;
use crate::process::{self, EXIT_SBX_FAILED};
use crate::spec::SandboxSpec;
use crate::state::StateRoot;
use crate::state::liveness::ProcessId;
use anyhow::{Context, Result, bail};
use nix::fcntl::OFlag;
use nix::unistd::{ForkResult, dup2_stdin, fork, pipe2, setsid};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The log file of a sandbox: its command's stdout and stderr, as records
/// (see `logfile`).
pub fn log_path(root: &StateRoot, name: &str) -> PathBuf {
    root.sandbox_dir(name).join("output.log")
}

/// Starts the supervisor and returns once it says the sandbox runs (print
/// the name, exit 0) or why it could not start (exit 125).
pub fn detach(root: &StateRoot, reservation: Reservation, spec: &SandboxSpec) -> Result<i32> {
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
            match answer.strip_prefix("ok") {
                Some(_) => {
                    // The sandbox runs whether or not anyone reads this.
                    let _ = writeln!(std::io::stdout(), "{}", spec.name);
                    Ok(0)
                }
                None if answer.is_empty() => {
                    bail!(
                        "the supervisor of {} died while launching it; see 'sbx ps -a' and 'sbx prune'",
                        spec.name
                    )
                }
                None => bail!("{answer}"),
            }
        }
        ForkResult::Child => {
            drop(from_supervisor);
            // A new session, then a second fork: the supervisor is no
            // session leader, so it can never acquire a controlling terminal.
            let _ = setsid();
            // SAFETY: as above, still single-threaded.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => {
                    let code = supervise(root, reservation, spec, to_parent);
                    std::process::exit(code)
                }
                _ => std::process::exit(0),
            }
        }
    }
}

/// The supervisor's life: take ownership of the record, point stdio at the
/// log, launch, report, wait, clean up.
fn supervise(
    root: &StateRoot,
    mut reservation: Reservation,
    spec: &SandboxSpec,
    report: OwnedFd,
) -> i32 {
    let mut report = File::from(report);
    // Give back the heap `sbx run` used to read every record: this process
    // and the sandbox's init (cloned from it) would otherwise keep it
    // resident for the sandbox's whole life.
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe { libc::malloc_trim(0) };
    close_inherited(report.as_raw_fd());
    let mut output = None;
    let reserved = reservation.record.clone();
    let again = reservation.again;
    // `launch::start` undoes its own failures (the reservation included);
    // only a failure before it is this function's to undo.
    let mut started_launch = false;
    let started = adopt(root, &mut reservation).and_then(|log| {
        output = Some(log);
        crate::crash::point("supervisor");
        let nl = Netlink::new()?;
        started_launch = true;
        launch::start(root, reservation, spec, nl, None)
    });
    let Started { record, pid, .. } = match started {
        Ok(started) => started,
        Err(e) => {
            if !started_launch {
                // Nothing was pinned yet: a netns file of its name is not its.
                let mut reserved = reserved;
                reserved.netns = None;
                let _ = cleanup::undo_launch(&Host, root, reserved, None, again);
            }
            let _ = write!(report, "{e:#}");
            return EXIT_SBX_FAILED;
        }
    };
    let _ = report.write_all(b"ok");
    drop(report);
    // The init exists now, so a thread may start (after the answer, off the
    // launch's path): copy the command's output into the log. Without it
    // the sandbox still runs; its output waits in the pipes until they fill.
    let copier = output.and_then(|(pipes, log)| pipes.start(log).ok());
    let status = process::wait_forwarding(pid, &process::wait_set());
    crate::crash::point("exited");
    // Every record is in the log before the record says `exited`, so
    // `sbx logs -f` can stop at that word without missing the end.
    let mut log = copier.and_then(logfile::Copier::finish);
    match cleanup::finish(&Host, root, record, Some(status)) {
        Ok(()) => 0,
        Err(e) => {
            if let Some(log) = log.as_mut() {
                let line = format!("sbx: {e:#}");
                logfile::write_record(log, logfile::Stream::Stderr, true, line.as_bytes());
            }
            EXIT_SBX_FAILED
        }
    }
}

/// Makes this process the record's owner (so the sandbox is not taken for
/// dead when `sbx run` exits) and its stdout and stderr two pipes, which the
/// command inherits and a thread later copies into the log (see `logfile`).
fn adopt(root: &StateRoot, reservation: &mut Reservation) -> Result<(logfile::Pipes, File)> {
    reservation.record.owner = ProcessId::current();
    root.write_sandbox(&reservation.record)?;
    let path = log_path(root, &reservation.record.spec.name);
    // Not world-readable: the command's output may hold secrets; a group
    // the admin gives the state root may read it.
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path)
        .with_context(|| format!("open log {}", path.display()))?;
    let null = File::open("/dev/null").context("open /dev/null")?;
    dup2_stdin(&null).context("redirect stdin")?;
    let pipes = logfile::redirect_stdio()?;
    std::env::set_current_dir(Path::new("/")).context("chdir /")?;
    Ok((pipes, log))
}

/// Closes every descriptor above stderr that this process inherited from
/// whoever ran `sbx run -d` (a build's jobserver pipes, a shell's saved
/// fds), except `keep`: the supervisor lives as long as the sandbox and
/// holds only what it opens itself (the log, its pipes).
pub(super) fn close_inherited(keep: RawFd) {
    close_inherited_from(3, keep);
}

/// The same from descriptor `first` on: those below it besides stdio are
/// the command's (`--preserve-fds`).
pub(super) fn close_inherited_from(first: RawFd, keep: RawFd) {
    use crate::process::fds::{Disposal, close_from};
    let _ = close_from(first, Some(keep), Disposal::Close, true);
}
