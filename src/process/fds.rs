//! No host file descriptor may cross into a sandbox (runc's CVE-2024-21626):
//! the init closes what it inherited from sbx, and the command's process
//! marks everything above stdio close-on-exec. `close_range(2)` (Linux 5.9,
//! `CLOSE_RANGE_CLOEXEC` 5.11) does it in one call; where the kernel lacks
//! it (ENOSYS, or EINVAL for the flag), the descriptors are found by walking
//! `/proc/self/fd`. Both run after a fork, so neither allocates: the walk
//! reads `getdents64` records into a buffer on the stack.

use nix::errno::Errno;
use std::os::fd::RawFd;

/// What happens to each descriptor found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposal {
    /// Closed now (the init never execs).
    Close,
    /// Closed by the kernel at the next execve (the command's process).
    CloseOnExec,
}

/// Closes (or marks close-on-exec) every descriptor from `first` up, except
/// `keep`. `use_close_range` false forces the `/proc/self/fd` walk (what an
/// old kernel gets), so tests can run it on any kernel. Errors: the walk's
/// (e.g. /proc not mounted); a failing close_range falls back to the walk.
pub fn close_from(
    first: RawFd,
    keep: Option<RawFd>,
    how: Disposal,
    use_close_range: bool,
) -> Result<(), Errno> {
    if use_close_range && by_close_range(first, keep, how).is_ok() {
        return Ok(());
    }
    by_walking_proc(first, keep, how)
}

/// One or two `close_range` calls around `keep`.
fn by_close_range(first: RawFd, keep: Option<RawFd>, how: Disposal) -> Result<(), Errno> {
    let flags = match how {
        Disposal::Close => 0,
        Disposal::CloseOnExec => libc::CLOSE_RANGE_CLOEXEC,
    };
    let range = |low: RawFd, high: u32| -> Result<(), Errno> {
        // SAFETY: close_range only closes or flags descriptors.
        let rc = unsafe { libc::syscall(libc::SYS_close_range, low as u32, high, flags) };
        Errno::result(rc).map(drop)
    };
    match keep.filter(|&k| k >= first) {
        Some(keep) => {
            if keep > first {
                range(first, keep as u32 - 1)?;
            }
            range(keep + 1, u32::MAX)
        }
        None => range(first, u32::MAX),
    }
}

/// Size of the directory-read buffer, in u64 words (for the records' alignment).
const WORDS: usize = 256;

/// Walks `/proc/self/fd` with `getdents64`, without allocating.
fn by_walking_proc(first: RawFd, keep: Option<RawFd>, how: Disposal) -> Result<(), Errno> {
    // SAFETY: a plain open of a NUL-terminated path.
    let dir = unsafe {
        libc::open(
            c"/proc/self/fd".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    let dir = Errno::result(dir)?;
    let result = walk(dir, first, keep, how);
    // SAFETY: `dir` is ours.
    unsafe { libc::close(dir) };
    result
}

fn walk(dir: RawFd, first: RawFd, keep: Option<RawFd>, how: Disposal) -> Result<(), Errno> {
    let mut buf = [0u64; WORDS];
    // Closing while reading is safe for /proc/self/fd (its offsets are fd
    // numbers), but a second pass confirms nothing was missed.
    loop {
        // SAFETY: rewinding our own directory descriptor.
        Errno::result(unsafe { libc::lseek(dir, 0, libc::SEEK_SET) })?;
        let mut acted = false;
        loop {
            // SAFETY: the kernel writes at most size_of_val(&buf) bytes.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_getdents64,
                    dir,
                    buf.as_mut_ptr(),
                    std::mem::size_of_val(&buf),
                )
            };
            let n = Errno::result(n)? as usize;
            if n == 0 {
                break;
            }
            // SAFETY: viewing the initialised prefix of `buf` as bytes.
            let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
            let mut offset = 0;
            while offset + 19 < n {
                // struct linux_dirent64: ino u64, off i64, reclen u16, type u8, name.
                let reclen = u16::from_ne_bytes([bytes[offset + 16], bytes[offset + 17]]) as usize;
                if reclen == 0 {
                    break;
                }
                let end = (offset + reclen).min(n);
                let fd = parse_fd(&bytes[offset + 19..end]);
                offset += reclen;
                let Some(fd) = fd else { continue };
                if fd < first || fd == dir || Some(fd) == keep {
                    continue;
                }
                match how {
                    Disposal::Close => {
                        // SAFETY: closing a descriptor we inherited and do not use.
                        unsafe { libc::close(fd) };
                        acted = true;
                    }
                    Disposal::CloseOnExec => {
                        // SAFETY: fcntl on a descriptor number; a stale one gives EBADF.
                        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
                        if flags >= 0 {
                            // SAFETY: as above.
                            unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) };
                        }
                    }
                }
            }
        }
        if !acted {
            return Ok(());
        }
    }
}

/// A NUL-terminated decimal name as a descriptor number ("." and ".." are not).
fn parse_fd(name: &[u8]) -> Option<RawFd> {
    let mut value: RawFd = 0;
    let mut digits = 0;
    for &b in name.iter().take_while(|&&b| b != 0) {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(RawFd::from(b - b'0'))?;
        digits += 1;
    }
    (digits > 0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// Puts a copy of a pipe end at each of `numbers`.
    fn place(numbers: &[RawFd]) -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
        let (r, w) = nix::unistd::pipe().unwrap();
        for &n in numbers {
            // SAFETY: dup2 onto numbers no other test uses.
            assert_eq!(unsafe { libc::dup2(r.as_raw_fd(), n) }, n);
        }
        (r, w)
    }

    fn is_open(fd: RawFd) -> bool {
        // SAFETY: F_GETFD only queries.
        unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
    }

    fn cloexec(fd: RawFd) -> bool {
        // SAFETY: F_GETFD only queries.
        unsafe { libc::fcntl(fd, libc::F_GETFD) & libc::FD_CLOEXEC != 0 }
    }

    // Descriptors far above what the test harness uses, one range per test.
    fn closes_all_but_keep(use_close_range: bool, base: RawFd) {
        let fds = [base, base + 1, base + 3, base + 40];
        let _pipe = place(&fds);
        close_from(base, Some(base + 1), Disposal::Close, use_close_range).unwrap();
        assert!(!is_open(base));
        assert!(is_open(base + 1), "the kept one stays");
        assert!(!is_open(base + 3));
        assert!(!is_open(base + 40));
        // SAFETY: closing what this test placed.
        unsafe { libc::close(base + 1) };
    }

    fn marks_close_on_exec(use_close_range: bool, base: RawFd) {
        let fds = [base, base + 2];
        let _pipe = place(&fds);
        assert!(!cloexec(base));
        close_from(base, None, Disposal::CloseOnExec, use_close_range).unwrap();
        assert!(is_open(base) && cloexec(base));
        assert!(is_open(base + 2) && cloexec(base + 2));
        // SAFETY: closing what this test placed.
        unsafe {
            libc::close(base);
            libc::close(base + 2);
        }
    }

    // One test: each case closes everything above its base, so they must
    // not run in parallel with one another.
    #[test]
    fn both_ways_close_or_flag_all_but_the_kept_one() {
        closes_all_but_keep(false, 600);
        closes_all_but_keep(true, 700);
        marks_close_on_exec(false, 800);
        marks_close_on_exec(true, 900);
    }

    #[test]
    fn names_are_parsed_as_numbers_only() {
        assert_eq!(parse_fd(b"17\0"), Some(17));
        assert_eq!(parse_fd(b".\0"), None);
        assert_eq!(parse_fd(b"..\0"), None);
        assert_eq!(parse_fd(b"\0"), None);
        assert_eq!(parse_fd(b"99999999999\0"), None);
    }
}
