//! A cheaper "is it still that process?" than `/proc/PID/stat`, for the
//! one command that asks it of every sandbox at once (`sbx ps`).
//!
//! Since Linux 6.9 a pidfd is a file of `pidfs`, and its inode number is
//! the process's own: 64 bits, handed out once per boot and never reused
//! (fs/pidfs.c). So once a process has been identified by its start time
//! (see `liveness`), its pidfs inode identifies it for the rest of the
//! boot: `pidfd_open` + `fstat` + a zero-timeout `poll` + `close`, about
//! 10 µs on the CI VM, against 16-21 µs for opening, formatting (the
//! kernel's `do_task_stat`) and parsing `/proc/PID/stat`
//! (BENCHMARKS.md, issue 9). Only meaningful within one boot: whoever
//! keeps such an inode across runs keeps the boot ID with it.

use super::liveness::ProcessId;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `PID_FS_MAGIC` (include/uapi/linux/magic.h): the file system of pidfds.
const PIDFS_MAGIC: i64 = 0x5049_4446;

/// A pidfd of `pid`, or `None` when no such process exists (or the kernel
/// has no pidfds).
fn open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open(2) returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    // SAFETY: a fresh descriptor this function owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The pidfs inode of the process behind `fd`, if it has not exited (a
/// zombie has: a pidfd polls readable once its process has exited,
/// the same as `ProcessId::is_alive` taking a zombie for gone).
fn running_inode(fd: &OwnedFd) -> Option<u64> {
    // SAFETY: fstat writes one `struct stat`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return None;
    }
    let mut poll = [libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: one valid pollfd, no waiting.
    let ready = unsafe { libc::poll(poll.as_mut_ptr(), 1, 0) };
    (ready == 0).then_some(st.st_ino)
}

/// The pidfs inode of `process` while it runs: the pidfd is opened first,
/// then the start time is checked, so the inode is that very process's.
/// `None` if it is gone, or on a kernel whose pidfds are not on pidfs
/// (before 6.9: every pidfd shares one anonymous inode, no identity).
pub fn identify(process: ProcessId) -> Option<u64> {
    let fd = open(process.pid)?;
    // SAFETY: fstatfs writes one `struct statfs`.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut fs) } != 0 || fs.f_type as i64 != PIDFS_MAGIC {
        return None;
    }
    if !process.is_alive() {
        return None;
    }
    running_inode(&fd)
}

/// Whether the process with pidfs inode `inode` (from [`identify`], this
/// boot) still runs as `pid`: a reused PID has another inode.
pub fn still_runs(pid: i32, inode: u64) -> bool {
    open(pid).is_some_and(|fd| running_inode(&fd) == Some(inode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_keeps_its_identity_and_loses_it_at_its_end() {
        let me = ProcessId::current().expect("own stat readable");
        let Some(inode) = identify(me) else {
            // A kernel before pidfs (6.9): nothing to check here; the
            // caller then falls back to /proc.
            return;
        };
        assert!(still_runs(me.pid, inode));
        assert!(
            !still_runs(me.pid, inode + 1),
            "another inode, another process"
        );
        let fake = ProcessId {
            pid: me.pid,
            start: me.start + 1,
        };
        assert_eq!(identify(fake), None, "a wrong start time is no identity");

        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        let id = ProcessId::of(pid).expect("the child runs");
        let inode = identify(id).expect("a running child has an inode");
        assert_ne!(inode, identify(me).unwrap_or_default());
        assert!(still_runs(pid, inode));
        // A zombie has ended: not running, though its PID still exists.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let gone = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(5));
            !still_runs(pid, inode)
        });
        assert!(gone, "a killed (zombie) child no longer runs");
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "still a zombie"
        );
        child.wait().expect("reap");
        assert!(!still_runs(pid, inode));
    }
}
