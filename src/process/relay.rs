//! The waiting sbx with a terminal: its own terminal in raw mode (restored
//! on every way out), bytes copied both ways between it and the sandbox's
//! pty master, the window size copied on SIGWINCH, the other forwarded
//! signals passed to the init, until the init ends. Signals arrive on a
//! signalfd so one `poll` waits for all three sources.

use super::pty::{Stdio, copy_window_size_from_stdin};
use super::{EXIT_SBX_FAILED, reap};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};
use nix::unistd::Pid;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// sbx's terminal in raw mode for as long as this lives: keys (^C, ^Z
/// included) go to the sandbox's terminal, whose line discipline acts on
/// them. Dropping it restores the saved settings.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter(tty: BorrowedFd<'_>) -> Option<RawMode> {
        let saved = tcgetattr(tty).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(tty, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// Relays until the init `pid` ends; returns the status `sbx run` (or
/// `sbx exec`, with the command's pid) reports. `signals` must be blocked.
/// What the sandbox's terminal shows goes to sbx's terminal: stdout, or
/// stderr when only that one is a terminal (`on`, as given to the command).
pub fn relay(pid: Pid, master: OwnedFd, on: Stdio, signals: &SigSet) -> i32 {
    let Ok(signal_fd) = SignalFd::with_flags(signals, SfdFlags::SFD_CLOEXEC) else {
        return super::wait_forwarding(pid, signals);
    };
    let stdin = std::io::stdin();
    let out = match on.0 {
        [_, false, true] => libc::STDERR_FILENO,
        _ => libc::STDOUT_FILENO,
    };
    // SAFETY: stdout and stderr stay open for the life of this process.
    let stdout = unsafe { BorrowedFd::borrow_raw(out) };
    let _raw = RawMode::enter(stdin.as_fd());
    // The master never blocks sbx: typed bytes the sandbox has not taken
    // yet wait in `pending` (and stdin is not read meanwhile), so a command
    // that neither reads nor stops writing cannot stall the relay.
    let _ = nix::fcntl::fcntl(
        &master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    let mut pending: Vec<u8> = Vec::new();
    let mut stdin_open = true;
    let mut master_open = true;
    let mut buf = [0u8; 8192];
    loop {
        let mut fds = vec![PollFd::new(signal_fd.as_fd(), PollFlags::POLLIN)];
        let master_at = master_open.then(|| {
            let mut events = PollFlags::POLLIN;
            if !pending.is_empty() {
                events |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(master.as_fd(), events));
            fds.len() - 1
        });
        let stdin_at = (stdin_open && master_open && pending.is_empty()).then(|| {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return EXIT_SBX_FAILED,
        }
        let events = |at: Option<usize>| {
            at.and_then(|i| fds.get(i))
                .and_then(|f| f.revents())
                .unwrap_or(PollFlags::empty())
        };
        let (signal_ready, master_events, stdin_events) = (
            !events(Some(0)).is_empty(),
            events(master_at),
            events(stdin_at),
        );
        drop(fds);
        if master_events.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
            && !copy(master.as_fd(), stdout, &mut buf)
        {
            master_open = false;
            pending.clear();
        }
        if master_open && master_events.contains(PollFlags::POLLOUT) {
            flush(master.as_fd(), &mut pending);
        }
        if !stdin_events.is_empty() {
            match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(0) => stdin_open = false,
                Ok(n) => {
                    pending.extend_from_slice(&buf[..n]);
                    flush(master.as_fd(), &mut pending);
                }
                Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
                Err(_) => stdin_open = false,
            }
        }
        if signal_ready && let Ok(Some(info)) = signal_fd.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) => {
                    if let Some(code) = reap(pid) {
                        if master_open {
                            drain(&master, stdout, &mut buf);
                        }
                        return code;
                    }
                }
                Ok(Signal::SIGWINCH) => copy_window_size_from_stdin(&master),
                Ok(sig) => {
                    let _ = kill(pid, sig);
                }
                Err(_) => {}
            }
        }
    }
}

/// One read from `from`, written whole to `to`; false once `from` is done
/// (end of file, or EIO: a master whose slaves are all closed).
fn copy(from: BorrowedFd<'_>, to: BorrowedFd<'_>, buf: &mut [u8]) -> bool {
    match nix::unistd::read(from, buf) {
        Ok(0) => false,
        Ok(n) => {
            write_all(to, &buf[..n]);
            true
        }
        Err(Errno::EINTR) | Err(Errno::EAGAIN) => true,
        Err(_) => false,
    }
}

/// Writes what the master takes now; the rest stays pending. An error other
/// than "full" drops it all (the sandbox's terminal is gone).
fn flush(master: BorrowedFd<'_>, pending: &mut Vec<u8>) {
    while !pending.is_empty() {
        match nix::unistd::write(master, pending) {
            Ok(n) => {
                pending.drain(..n);
            }
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => return,
            Err(_) => {
                pending.clear();
                return;
            }
        }
    }
}

/// Writes everything, or gives up on an error (a reader that went away).
fn write_all(to: BorrowedFd<'_>, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match nix::unistd::write(to, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// After the sandbox ended: what it wrote last and sbx has not relayed
/// yet. Non-blocking, so an outside holder of the slave cannot stall us.
fn drain(master: &OwnedFd, to: BorrowedFd<'_>, buf: &mut [u8]) {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    if fcntl(master, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).is_err() {
        return;
    }
    loop {
        match nix::unistd::read(master.as_fd(), buf) {
            Ok(0) => return,
            Ok(n) => write_all(to, &buf[..n]),
            Err(Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}
