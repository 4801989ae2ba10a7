//! A detached sandbox's log: its stdout and stderr kept apart, in order, with
//! the time each line arrived. The file is in the CRI log format that
//! Kubernetes' runtimes write, one record per line:
//!
//! ```text
//! 2026-11-24T20:01:02.123456789Z stdout F a whole line
//! 2026-11-24T20:01:02.223456789Z stderr P the start of a line ...
//! ```
//!
//! `F` ends a line (its newline is not stored), `P` is part of one (output
//! without a newline yet, or a line longer than [`MAX_RECORD`]). The
//! supervisor gives the command two pipes and a thread copies them into the
//! file (see [`Copier`]); `sbx logs` reads the records back ([`parse`]).

use crate::timefmt;
use anyhow::{Context, Result};
use nix::fcntl::OFlag;
use nix::unistd::{dup2_stderr, dup2_stdout, pipe2};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::thread::JoinHandle;

/// The longest record; longer lines are split into `P` records.
pub const MAX_RECORD: usize = 16 * 1024;

/// How long a partial line waits for its newline before it is written as
/// `P` (so `sbx logs -f` shows a prompt without a newline).
const PARTIAL_WAIT_MS: i32 = 100;

/// Which of the command's outputs a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// File descriptor 1.
    Stdout,
    /// File descriptor 2.
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One record read back from the log.
#[derive(Debug, PartialEq)]
pub struct Record<'a> {
    /// Nanoseconds since the epoch when the supervisor read it.
    pub time: i128,
    /// Its stream.
    pub stream: Stream,
    /// Whether it ends a line.
    pub ends_line: bool,
    /// The bytes, without the newline.
    pub content: &'a [u8],
}

/// Parses one line of the log (without its `\n`); `None` for a line that is
/// not a record (a log written by an older sbx holds plain output).
pub fn parse(line: &[u8]) -> Option<Record<'_>> {
    let mut fields = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(fields.next()?).ok()?;
    let stream = match fields.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let ends_line = match fields.next()? {
        b"F" => true,
        b"P" => false,
        _ => return None,
    };
    Some(Record {
        time: timefmt::parse_rfc3339(time)?,
        stream,
        ends_line,
        content: fields.next().unwrap_or_default(),
    })
}

/// Writes one record as one `write` (the file is opened `O_APPEND`, so a
/// reader never sees two records mixed).
pub fn write_record(log: &mut File, stream: Stream, ends_line: bool, content: &[u8]) {
    let mut line = Vec::with_capacity(content.len() + 48);
    line.extend_from_slice(timefmt::rfc3339_nanos(timefmt::now_nanos()).as_bytes());
    line.push(b' ');
    line.extend_from_slice(stream.as_str().as_bytes());
    line.extend_from_slice(if ends_line { b" F " } else { b" P " });
    line.extend_from_slice(content);
    line.push(b'\n');
    // Nobody could be told about a failed write: the sandbox runs on.
    let _ = log.write_all(&line);
}

/// The read ends of the command's two pipes, until the copier takes them.
pub struct Pipes {
    stdout: OwnedFd,
    stderr: OwnedFd,
}

/// Makes two pipes and puts their write ends on this process's stdout and
/// stderr, for the init (and so the command) to inherit.
pub fn redirect_stdio() -> Result<Pipes> {
    let (out_read, out_write) = pipe2(OFlag::O_CLOEXEC).context("create the stdout pipe")?;
    let (err_read, err_write) = pipe2(OFlag::O_CLOEXEC).context("create the stderr pipe")?;
    dup2_stdout(&out_write).context("redirect stdout")?;
    dup2_stderr(&err_write).context("redirect stderr")?;
    Ok(Pipes {
        stdout: out_read,
        stderr: err_read,
    })
}

/// The thread that copies the pipes into the log.
pub struct Copier {
    thread: JoinHandle<File>,
}

impl Pipes {
    /// Starts copying into `log`. Call only after the sandbox's init was
    /// cloned: a clone of a process with threads may deadlock in the child.
    pub fn start(self, log: File) -> Result<Copier> {
        let thread = std::thread::Builder::new()
            .name("sbx-log".into())
            .stack_size(64 * 1024)
            .spawn(move || copy(self, log))
            .context("start the log copier")?;
        Ok(Copier { thread })
    }
}

impl Copier {
    /// Waits until everything the sandbox wrote is in the log: points this
    /// process's own stdout and stderr (the pipes' last writers once the
    /// sandbox ended) at /dev/null, so the copier sees end of file. Returns
    /// the log for the supervisor's own last words.
    pub fn finish(self) -> Option<File> {
        if let Ok(null) = File::options().write(true).open("/dev/null") {
            let _ = dup2_stdout(&null);
            let _ = dup2_stderr(&null);
        }
        self.thread.join().ok()
    }
}

/// The copier's loop: poll both pipes, write whole lines as `F` records,
/// and a partial line as `P` once it waited [`PARTIAL_WAIT_MS`] or grew to
/// [`MAX_RECORD`]. Ends when both pipes are closed.
fn copy(pipes: Pipes, mut log: File) -> File {
    let fds = [
        (pipes.stdout, Stream::Stdout),
        (pipes.stderr, Stream::Stderr),
    ];
    let mut pending: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut open = [true, true];
    let mut buf = vec![0u8; 64 * 1024];
    while open.iter().any(|o| *o) {
        let mut polls: Vec<libc::pollfd> = fds
            .iter()
            .map(|(fd, _)| libc::pollfd {
                fd: fd.as_fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        for (i, p) in polls.iter_mut().enumerate() {
            if !open[i] {
                p.fd = -1;
            }
        }
        let waiting = pending.iter().any(|p| !p.is_empty());
        let timeout = if waiting { PARTIAL_WAIT_MS } else { -1 };
        // SAFETY: two valid pollfd entries (a negative fd is ignored).
        let ready = unsafe { libc::poll(polls.as_mut_ptr(), 2, timeout) };
        if ready < 0 {
            continue; // EINTR
        }
        if ready == 0 {
            for (i, (_, stream)) in fds.iter().enumerate() {
                flush_partial(&mut log, *stream, &mut pending[i]);
            }
            continue;
        }
        for (i, (fd, stream)) in fds.iter().enumerate() {
            if !open[i] || polls[i].revents == 0 {
                continue;
            }
            match nix::unistd::read(fd, &mut buf) {
                Ok(0) | Err(nix::errno::Errno::EBADF) => {
                    open[i] = false;
                    flush_partial(&mut log, *stream, &mut pending[i]);
                }
                Ok(n) => {
                    pending[i].extend_from_slice(&buf[..n]);
                    write_lines(&mut log, *stream, &mut pending[i]);
                }
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(_) => {
                    open[i] = false;
                    flush_partial(&mut log, *stream, &mut pending[i]);
                }
            }
        }
    }
    log
}

/// Writes every whole line of `pending` (and pieces of an overlong one),
/// keeping the unfinished rest.
fn write_lines(log: &mut File, stream: Stream, pending: &mut Vec<u8>) {
    let mut start = 0;
    while let Some(newline) = pending[start..].iter().position(|b| *b == b'\n') {
        let end = start + newline;
        let line = &pending[start..end];
        if line.is_empty() {
            write_record(log, stream, true, b"");
        }
        let mut chunks = line.chunks(MAX_RECORD).peekable();
        while let Some(chunk) = chunks.next() {
            write_record(log, stream, chunks.peek().is_none(), chunk);
        }
        start = end + 1;
    }
    pending.drain(..start);
    while pending.len() >= MAX_RECORD {
        write_record(log, stream, false, &pending[..MAX_RECORD]);
        pending.drain(..MAX_RECORD);
    }
}

fn flush_partial(log: &mut File, stream: Stream, pending: &mut Vec<u8>) {
    if !pending.is_empty() {
        write_record(log, stream, false, pending);
        pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn records_of(text: &[u8]) -> Vec<(Stream, bool, Vec<u8>)> {
        text.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let r = parse(l).expect("a record");
                (r.stream, r.ends_line, r.content.to_vec())
            })
            .collect()
    }

    #[test]
    fn lines_become_records() {
        let path = std::env::temp_dir().join(format!("sbx-logfile-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut log = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let mut pending = b"one\n\ntwo words\nhalf".to_vec();
        write_lines(&mut log, Stream::Stderr, &mut pending);
        assert_eq!(pending, b"half");
        flush_partial(&mut log, Stream::Stdout, &mut pending);
        let mut long = vec![b'x'; MAX_RECORD + 5];
        long.push(b'\n');
        write_lines(&mut log, Stream::Stdout, &mut long);
        let mut text = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut text).unwrap();
        std::fs::remove_file(&path).unwrap();
        let x = |n| vec![b'x'; n];
        assert_eq!(
            records_of(&text),
            vec![
                (Stream::Stderr, true, b"one".to_vec()),
                (Stream::Stderr, true, b"".to_vec()),
                (Stream::Stderr, true, b"two words".to_vec()),
                (Stream::Stdout, false, b"half".to_vec()),
                (Stream::Stdout, false, x(MAX_RECORD)),
                (Stream::Stdout, true, x(5)),
            ]
        );
    }

    #[test]
    fn parses_records_and_refuses_plain_text() {
        let r = parse(b"2026-11-24T20:01:02.000000007Z stdout F a b").unwrap();
        assert_eq!(r.time, 1_795_550_462_000_000_007);
        assert_eq!(
            (r.stream, r.ends_line, r.content),
            (Stream::Stdout, true, &b"a b"[..])
        );
        let r = parse(b"2026-11-24T20:01:02.000000007Z stderr P").unwrap();
        assert_eq!(
            (r.stream, r.ends_line, r.content),
            (Stream::Stderr, false, &b""[..])
        );
        assert!(parse(b"hello world").is_none());
        assert!(parse(b"2026-11-24T20:01:02Z stdin F x").is_none());
    }
}
