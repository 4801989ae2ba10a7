//! Whether a recorded process is still the one we started: a PID alone can be
//! reused, so a record pairs it with the kernel's start time of that process.

use serde::{Deserialize, Serialize};

/// A process identity that survives PID reuse: PID plus its start time in
/// clock ticks since boot (field 22 of `/proc/PID/stat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    /// The PID in the host's PID namespace.
    pub pid: i32,
    /// When the kernel started it; a reused PID has a different one.
    pub start: u64,
}

impl ProcessId {
    /// Identifies a live process now; `None` if it is already gone.
    pub fn of(pid: i32) -> Option<Self> {
        start_time(pid).map(|start| ProcessId { pid, start })
    }

    /// This process itself.
    pub fn current() -> Option<Self> {
        Self::of(std::process::id() as i32)
    }

    /// True while the very process recorded still exists (a zombie counts as
    /// gone: it will never run again).
    pub fn is_alive(&self) -> bool {
        match read_stat(self.pid) {
            Some(stat) => parse_stat(&stat)
                .is_some_and(|(state, start)| start == self.start && state != 'Z' && state != 'X'),
            None => false,
        }
    }
}

impl ProcessId {
    /// Waits up to `timeout` for the process to end; true once it is gone.
    /// Uses a pidfd, so no polling and no PID-reuse race: the pidfd is taken
    /// first, then the start time is checked against the record.
    pub fn wait_gone(&self, timeout: std::time::Duration) -> bool {
        // SAFETY: pidfd_open(2) returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, self.pid, 0) } as i32;
        if fd < 0 {
            return true;
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        if !self.is_alive() {
            return true;
        }
        let mut poll = [libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(&fd),
            events: libc::POLLIN,
            revents: 0,
        }];
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(poll.as_mut_ptr(), 1, ms) };
        ready > 0 || !self.is_alive()
    }
}

/// `/proc/PID/stat` in one read: procfs reports no size, so the usual
/// read-to-string probes in small steps, and `sbx ps` and every launch call
/// this once per sandbox.
fn read_stat(pid: i32) -> Option<String> {
    use std::io::Read;
    let mut buf = [0u8; 1024];
    let mut file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let n = file.read(&mut buf).ok()?;
    String::from_utf8(buf[..n].to_vec()).ok()
}

fn start_time(pid: i32) -> Option<u64> {
    parse_stat(&read_stat(pid)?).map(|(_, start)| start)
}

/// The parent PID of a live process (field 4 of `/proc/PID/stat`).
pub fn parent_of(pid: i32) -> Option<i32> {
    stat_fields(&read_stat(pid)?).map(|f| f.ppid)
}

/// Fields sbx reads from a `/proc/PID/stat` line (proc(5)).
struct StatFields {
    state: char,
    ppid: i32,
    start: u64,
}

/// The command name may hold spaces and parentheses, so fields are counted
/// after the last ')'.
fn stat_fields(stat: &str) -> Option<StatFields> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    // After the ppid (field 4) come fields 5..; starttime is field 22.
    let start = fields.nth(22 - 5)?.parse().ok()?;
    Some(StatFields { state, ppid, start })
}

/// Returns (state, starttime) from a `/proc/PID/stat` line.
fn parse_stat(stat: &str) -> Option<(char, u64)> {
    stat_fields(stat).map(|f| (f.state, f.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let line = "1234 (a b) c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 100 18446744073709551615";
        assert_eq!(parse_stat(line), Some(('S', 98765)));
        assert_eq!(stat_fields(line).map(|f| f.ppid), Some(1));
    }

    #[test]
    fn knows_itself_alive_and_a_fake_start_dead() {
        let me = ProcessId::current().expect("own stat readable");
        assert!(me.is_alive());
        assert!(
            !ProcessId {
                pid: me.pid,
                start: me.start + 1
            }
            .is_alive()
        );
    }
}
