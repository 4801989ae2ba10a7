//! The sandbox's processes. `spawn` clones the init (PID 1 of fresh net,
//! mount, UTS, IPC and PID namespaces), which sets up its view of the
//! system while the parent wires its network, reports ready (or why not)
//! and waits for the go over a typed channel (`channel`), starts the
//! command, and stays as a tiny init that forwards signals and reaps.

pub mod caps;
pub mod channel;
pub mod exec;
pub mod fds;
mod init;
mod mount_ids;
mod mount_in;
pub mod pty;
pub mod relay;
pub mod seccomp;
mod seccomp_profile;
pub mod settings;
mod syscalls;
pub mod template;
mod title;

use crate::spec::SandboxSpec;
use anyhow::{Context, Result, anyhow};
use channel::{Channel, ToInit, ToParent};
pub use mount_in::mount_in;
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

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

/// A cloned init: it sets itself up, reports, and waits for
/// [`Child::release`] before it starts the command.
pub struct Child {
    /// Its PID in the host's PID namespace.
    pub pid: Pid,
    channel: Channel,
    /// Its report was read (so [`Child::explain`] has nothing to wait for).
    reported: bool,
    /// A pidfd of it, kept open by the sbx that waits for it (see
    /// [`Child::release`]).
    pidfd: Option<OwnedFd>,
}

/// Exit status when sbx itself failed, per the SPEC.
pub const EXIT_SBX_FAILED: i32 = 125;

/// Clones the init; with `terminal`, it gives the command a pty of the
/// sandbox's own (see `pty`). The init joins `cgroups` first of all. Its
/// mount namespace is a copy of `template` (see `template`), not of the
/// host's (when there is one). The caller must have blocked [`wait_set`] and must be
/// single-threaded (a current-thread runtime starts no threads).
pub fn spawn(
    spec: &SandboxSpec,
    template: Option<&OwnedFd>,
    etc_dir: &Path,
    terminal: Option<pty::Stdio>,
    cgroups: &crate::cgroup::Membership,
) -> Result<Child> {
    let (parent_end, init_end) = channel::pair()?;
    let command = exec::Command::new(spec)?;
    let namespaces = &spec.namespaces;
    let plan = init::Plan {
        hostname: (namespaces.makes("uts") && !spec.hostname.is_empty())
            .then(|| spec.hostname.clone()),
        etc_dir: etc_dir.to_path_buf(),
        fs: spec.fs.clone(),
        caps: spec.caps.clone(),
        terminal,
        settings: spec.process.clone(),
        sysctl: spec.sysctl.clone(),
        joined: settings::open_joined(namespaces)?,
        own_cgroup: namespaces.own_cgroup,
    };
    // The mount namespace always; the others unless shared or joined.
    let mut flags = CloneFlags::CLONE_NEWNS;
    for kind in ["network", "uts", "ipc", "pid"] {
        if namespaces.makes(kind) {
            flags |= settings::clone_flag(kind).unwrap_or(CloneFlags::empty());
        }
    }
    if spec.init_adopted {
        flags |= CloneFlags::CLONE_PARENT;
    }
    // The stack is only reserved address space until the child touches it.
    let mut stack = vec![0u8; 1 << 20];
    let child_main = Box::new(|| {
        let code = init::run(&init_end, &plan, &command, cgroups);
        code as isize
    });
    // Cloned from inside the template, so CLONE_NEWNS copies its few
    // mounts; sbx itself is back in the host's namespace right after.
    let entered = template.map(template::Entered::new).transpose()?;
    // SAFETY: the child gets a copy-on-write copy of this single-threaded
    // process (no CLONE_VM) and runs `child_main` on its own copy of `stack`.
    let cloned = unsafe { nix::sched::clone(child_main, &mut stack, flags, Some(libc::SIGCHLD)) };
    drop(entered);
    let pid = cloned.context("create the sandbox's namespaces (clone)")?;
    drop(init_end);
    Ok(Child {
        pid,
        channel: parent_end,
        reported: false,
        pidfd: open_pidfd(pid),
    })
}

/// How long a failed launch waits for the init's own reason.
const EXPLAIN_WAIT: Duration = Duration::from_secs(2);

impl Child {
    /// Waits for the init's report: `Ok` with the terminal's master side
    /// (when one was asked for), or the init's reason as the error.
    pub fn wait_ready(&mut self) -> Result<Option<OwnedFd>> {
        self.reported = true;
        match self.channel.recv::<ToParent>() {
            Ok(Some((ToParent::Ready, master))) => Ok(master),
            Ok(Some((ToParent::Failed { message }, _))) => Err(anyhow!(message)),
            Ok(None) => Err(anyhow!(
                "the sandbox's init ended during its setup without a word (killed?)"
            )),
            Err(e) => Err(e).context("hear from the sandbox's init"),
        }
    }

    /// A launch step failed after the clone, perhaps only as a consequence
    /// of the init's failure (its netns gone, ...): the init's own reason
    /// when it reported one, else `err`.
    pub fn explain(&mut self, err: anyhow::Error) -> anyhow::Error {
        if self.reported || !self.channel.readable_within(EXPLAIN_WAIT) {
            return err;
        }
        self.reported = true;
        match self.channel.recv::<ToParent>() {
            Ok(Some((ToParent::Failed { message }, _))) => anyhow!(message),
            _ => err,
        }
    }

    /// Lets the init start the command: the network is wired and the
    /// record written.
    pub fn release(self) -> Result<()> {
        self.channel
            .send(&ToInit::Go, None)
            .context("start the sandbox's command")?;
        // Held until this process ends, which is when the sandbox has
        // ended: while a pidfd of the init is open, the kernel keeps its
        // pidfs inode, so each `sbx ps` that looks at the init (see
        // `state::pidfs`) opens a pidfd without making and freeing an
        // inode (about half the cost, BENCHMARKS.md issue 9). Never
        // inherited: pidfds are close-on-exec, and the init was cloned
        // before it was opened.
        if let Some(fd) = self.pidfd {
            let _ = std::os::fd::IntoRawFd::into_raw_fd(fd);
        }
        Ok(())
    }
}

/// A pidfd of `pid`, if the kernel has pidfds (5.3+).
fn open_pidfd(pid: Pid) -> Option<OwnedFd> {
    // SAFETY: pidfd_open(2) returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) } as i32;
    // SAFETY: a fresh descriptor owned by the caller.
    (fd >= 0).then(|| unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

/// Kills an init that was never released and reaps it (the launch failed).
/// An init adopted by another process (see `SandboxSpec::init_adopted`)
/// is not ours to reap: then this waits (5 s at most) through a pidfd
/// until it has ended, so that its cgroups can go.
pub fn abort(pid: Pid) {
    let pidfd = open_pidfd(pid);
    let _ = kill(pid, Signal::SIGKILL);
    if waitpid(pid, None) == Err(nix::errno::Errno::ECHILD)
        && let Some(fd) = pidfd
    {
        use std::os::fd::AsRawFd;
        let mut poll = [libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(poll.as_mut_ptr(), 1, 5000) };
    }
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

/// Waits for an init this process did not clone as its child (see
/// `SandboxSpec::init_adopted`) to end, through its pidfd, and returns its
/// exit status when the kernel tells it: `PIDFD_GET_INFO` with
/// `PIDFD_INFO_EXIT` (linux/pidfd.h, Linux 6.15), which it fills once its
/// adopter has reaped it; `None` when that does not come within a second
/// (an older kernel, or an adopter that does not reap).
pub fn wait_adopted(pidfd: &OwnedFd) -> Option<i32> {
    use std::os::fd::AsRawFd;
    let mut poll = [libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    loop {
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(poll.as_mut_ptr(), 1, -1) };
        if n > 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        if let Some(status) = pidfd_exit_status(pidfd) {
            return Some(status);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `struct pidfd_info` up to `exit_code` (`PIDFD_INFO_SIZE_VER0`, 64 bytes).
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    ids: [u32; 11],
    exit_code: i32,
}

/// `PIDFD_INFO_EXIT` (linux/pidfd.h).
const PIDFD_INFO_EXIT: u64 = 1 << 3;
/// `_IOWR(PIDFS_IOCTL_MAGIC 0xFF, 11, 64 bytes)`: `PIDFD_GET_INFO`.
const PIDFD_GET_INFO: u64 = (3 << 30) | (64 << 16) | (0xFF << 8) | 11;

/// The ended process's status as sbx reports it (its code, 128+N for
/// signal N), once the kernel has it.
fn pidfd_exit_status(pidfd: &OwnedFd) -> Option<i32> {
    use std::os::fd::AsRawFd;
    let mut info = PidfdInfo {
        mask: PIDFD_INFO_EXIT,
        ..PidfdInfo::default()
    };
    // SAFETY: the ioctl writes at most the 64 bytes its number declares.
    let r = unsafe { libc::ioctl(pidfd.as_raw_fd(), PIDFD_GET_INFO as _, &mut info) };
    if r != 0 || info.mask & PIDFD_INFO_EXIT == 0 {
        return None;
    }
    let status = info.exit_code;
    Some(if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    })
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
