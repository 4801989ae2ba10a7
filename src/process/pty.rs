//! A terminal of the sandbox's own: when sbx's stdin is a terminal, the
//! command gets a pseudo-terminal allocated in the sandbox's devpts (its
//! `/dev/ptmx`), as runc and Docker do, so its name (`/dev/pts/N`) exists
//! inside the sandbox. The slave becomes the command's controlling terminal
//! and stdio; the master goes to the waiting sbx, which relays it to its
//! own terminal (see `relay`).

use anyhow::{Context, Result, bail};
use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Which of sbx's stdin, stdout and stderr are terminals. The command gets
/// the sandbox's pty in exactly those places; the others it gets as they
/// are, so `sbx run -- cmd > file` still writes the file and `2>/dev/null`
/// still hides errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stdio(pub [bool; 3]);

impl Stdio {
    /// Sbx's own: `Some` when stdin is a terminal (the rule for giving the
    /// command one) and sbx is in its foreground (`sbx run ... &` keeps the
    /// plain pass-through: a background job may not set the terminal's modes
    /// or read it), `None` otherwise.
    pub fn of_sbx() -> Option<Stdio> {
        use std::io::IsTerminal;
        let stdin = std::io::stdin();
        let foreground = nix::unistd::tcgetpgrp(stdin.as_fd())
            .is_ok_and(|group| group == nix::unistd::getpgrp());
        (stdin.is_terminal() && foreground).then(|| {
            Stdio([
                true,
                std::io::stdout().is_terminal(),
                std::io::stderr().is_terminal(),
            ])
        })
    }
}

/// Both sides of a pseudo-terminal, close-on-exec.
pub struct Pty {
    /// The side sbx reads and writes.
    pub master: OwnedFd,
    /// The side the command gets as its terminal.
    pub slave: OwnedFd,
}

/// Opens a new pseudo-terminal through `ptmx` (the sandbox's `/dev/ptmx`,
/// resolved in the caller's mount namespace). Refuses anything that is
/// not a pty master: the path lies inside the sandbox's reach.
pub fn open_in(ptmx: &str) -> Result<Pty> {
    let master = open(
        ptmx,
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("open {ptmx} for the sandbox's terminal"))?;
    let raw = master.as_raw_fd();
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int; it fails on a non-master.
    if unsafe { libc::ioctl(raw, libc::TIOCGPTN, &mut number) } < 0 {
        bail!("{ptmx} is not a pseudo-terminal multiplexer");
    }
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int (0: unlock the slave).
    Errno::result(unsafe { libc::ioctl(raw, libc::TIOCSPTLCK, &unlock) })
        .with_context(|| format!("unlock pts {number}"))?;
    // TIOCGPTPEER (Linux 4.13) opens the slave of this very master, in
    // the master's devpts instance, without a path lookup.
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes open flags and returns a new descriptor.
    let slave = Errno::result(unsafe { libc::ioctl(raw, libc::TIOCGPTPEER, flags) })
        .with_context(|| format!("open pts {number}"))?;
    // SAFETY: a fresh descriptor the kernel just gave us.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    Ok(Pty { master, slave })
}

/// In the command's process, after the fork: a new session whose
/// controlling terminal is `slave`, which also becomes the stdio
/// descriptors `on` names. Allocation-free (it runs in a forked child).
pub fn attach(slave: RawFd, on: Stdio) -> Result<(), Errno> {
    nix::unistd::setsid()?;
    // SAFETY: TIOCSCTTY with 0: take the terminal (it has no session yet).
    Errno::result(unsafe { libc::ioctl(slave, libc::TIOCSCTTY, 0) })?;
    for (target, wanted) in on.0.into_iter().enumerate() {
        if wanted {
            // SAFETY: dup2 onto stdio; the copies are not close-on-exec.
            Errno::result(unsafe { libc::dup2(slave, target as RawFd) })?;
        }
    }
    if slave > 2 {
        // SAFETY: the original is no longer needed.
        unsafe { libc::close(slave) };
    }
    Ok(())
}

/// Copies the window size (rows, columns) of terminal `from` to `to`; the
/// kernel then sends SIGWINCH to `to`'s foreground process group. A `from`
/// that is no terminal changes nothing.
pub fn copy_window_size(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), Errno> {
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ fills a winsize.
    Errno::result(unsafe { libc::ioctl(from.as_raw_fd(), libc::TIOCGWINSZ, &mut size) })?;
    // SAFETY: TIOCSWINSZ reads a winsize.
    Errno::result(unsafe { libc::ioctl(to.as_raw_fd(), libc::TIOCSWINSZ, &size) })?;
    Ok(())
}

/// The window size of sbx's own terminal (stdin) onto the sandbox's.
pub fn copy_window_size_from_stdin(master: &OwnedFd) {
    let _ = copy_window_size(std::io::stdin().as_fd(), master.as_fd());
}

/// Sends a terminal's master side to the unix socket at `socket`
/// (`--console-socket`), as runc does: one `SCM_RIGHTS` message whose
/// payload is a name for it; conmon or containerd's shim reads it and
/// relays the terminal. The descriptor stays open here too (the caller
/// closes its copy).
pub fn send_master(socket: &std::path::Path, master: &OwnedFd) -> Result<()> {
    send_master_on(&connect_console(socket)?, master)
}

/// Connects to a `--console-socket` (before entering a sandbox's mount
/// namespace, where its path means nothing).
pub fn connect_console(socket: &std::path::Path) -> Result<std::os::unix::net::UnixStream> {
    std::os::unix::net::UnixStream::connect(socket)
        .with_context(|| format!("connect to --console-socket {}", socket.display()))
}

/// [`send_master`] on a connected socket.
pub fn send_master_on(stream: &std::os::unix::net::UnixStream, master: &OwnedFd) -> Result<()> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    let fds = [master.as_raw_fd()];
    let payload = [std::io::IoSlice::new(b"/dev/ptmx")];
    sendmsg::<()>(
        stream.as_raw_fd(),
        &payload,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .context("send the terminal to --console-socket")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pty_pair_carries_bytes_and_sizes() {
        let pty = open_in("/dev/ptmx").unwrap();
        nix::unistd::write(&pty.slave, b"hi\n").unwrap();
        let mut buf = [0u8; 16];
        let n = nix::unistd::read(&pty.master, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hi\r\n", "the slave's line discipline (ONLCR)");
        let size = libc::winsize {
            ws_row: 33,
            ws_col: 101,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize.
        unsafe { libc::ioctl(pty.slave.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        let other = open_in("/dev/ptmx").unwrap();
        copy_window_size(pty.slave.as_fd(), other.master.as_fd()).unwrap();
        let mut got: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ fills a winsize.
        unsafe { libc::ioctl(other.slave.as_raw_fd(), libc::TIOCGWINSZ, &mut got) };
        assert_eq!((got.ws_row, got.ws_col), (33, 101));
    }

    #[test]
    fn something_else_is_refused() {
        let err = open_in("/dev/null").err().expect("refused");
        assert!(err.to_string().contains("not a pseudo-terminal"), "{err}");
    }
}
