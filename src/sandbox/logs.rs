//! `sbx logs`: a detached sandbox's output, its stdout to stdout and its
//! stderr to stderr, as Docker does; `--tail`, `--since`, `-t` and `-f`
//! work on the records of [`logfile`].

use super::{find, logfile, supervisor};
use crate::state::{Entry, SandboxState, StateRoot};
use crate::timefmt;
use anyhow::{Context, Result, bail};
use logfile::Stream;
use std::fs::File;
use std::io::{Read, Write};
use std::time::Duration;

/// How often `-f` looks for new output.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(50);

/// Which part of a detached sandbox's output to print, as a face asks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogsQuery {
    /// The sandbox's name.
    pub name: String,
    /// Keep printing new output until the sandbox exits.
    pub follow: bool,
    /// `--tail`: a number of lines or `all`, as typed.
    pub tail: String,
    /// `--since`: RFC 3339, Unix seconds or a duration ago, as typed.
    pub since: Option<String>,
    /// Prefix every line with its timestamp.
    pub timestamps: bool,
}

/// Prints the log; with `-f`, keeps printing until the sandbox has exited
/// and everything it wrote is out.
pub fn logs(root: &StateRoot, args: &LogsQuery) -> Result<()> {
    let name = args.name.as_str();
    let tail = parse_tail(&args.tail)?;
    let since = args
        .since
        .as_deref()
        .map(|s| parse_since(s, timefmt::now_nanos()))
        .transpose()?;
    crate::spec::check_name(name)?;
    let detached = match root.sandbox_entry(name) {
        // A damaged record does not damage the log beside it: read that by
        // name, and say why the record is not used.
        Entry::Unreadable(u) => {
            eprintln!(
                "sbx: the record of sandbox {name} cannot be read ({}): showing its log file as it is",
                u.reason
            );
            true
        }
        _ => find(root, name)?.spec.detach,
    };
    let path = supervisor::log_path(root, name);
    let mut file = match File::open(&path) {
        Ok(file) => file,
        Err(_) if !detached => {
            bail!(
                "sandbox {name} runs in the foreground: its output goes to its terminal, not to a log"
            )
        }
        Err(e) => return Err(e).with_context(|| format!("open {}", path.display())),
    };
    let mut printer = Printer::new(args.timestamps, since);
    let mut data = Vec::new();
    file.read_to_end(&mut data).context("read the log")?;
    let (lines, complete) = complete_lines(&data);
    let wanted: Vec<&[u8]> = lines.into_iter().filter(|l| printer.wanted(l)).collect();
    let first = tail.map_or(0, |n| tail_start(&wanted, n));
    for line in &wanted[first..] {
        printer.print(line)?;
    }
    printer.flush();
    if !args.follow {
        return Ok(());
    }
    let mut rest = data[complete..].to_vec();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).context("read the log")?;
        if n > 0 {
            rest.extend_from_slice(&buf[..n]);
            let (lines, complete) = complete_lines(&rest);
            for line in lines {
                if printer.wanted(line) {
                    printer.print(line)?;
                }
            }
            rest.drain(..complete);
            printer.flush();
            continue;
        }
        if !still_logging(root, name) {
            // Anything written between the last read and the end was read
            // by the loop above before this check; nothing more can come.
            if file.read(&mut buf).unwrap_or(0) == 0 {
                return Ok(());
            }
            continue;
        }
        std::thread::sleep(FOLLOW_INTERVAL);
    }
}

/// The whole lines of `data` (without their newlines) and how many bytes
/// they take; a last line still being written is left for later.
fn complete_lines(data: &[u8]) -> (Vec<&[u8]>, usize) {
    let complete = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut lines: Vec<&[u8]> = data[..complete].split(|b| *b == b'\n').collect();
    lines.pop();
    (lines, complete)
}

/// Whether the sandbox's supervisor may still add to the log: it writes
/// `exited` only after the last record (see `supervisor`).
fn still_logging(root: &StateRoot, name: &str) -> bool {
    root.sandbox(name)
        .ok()
        .flatten()
        .is_some_and(|r| r.state != SandboxState::Exited && r.owner.is_some_and(|o| o.is_alive()))
}

/// `--tail`: a number of lines, or `all`.
fn parse_tail(text: &str) -> Result<Option<usize>> {
    if text == "all" {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        anyhow::anyhow!("--tail {text:?} is not a number of lines: write e.g. --tail 10, or all")
    })
}

/// `--since`: RFC 3339, Unix seconds (with a fraction), or a duration ago
/// (`10m`, `1h30m`), as Docker takes it. Returns nanoseconds since the epoch.
fn parse_since(text: &str, now: i128) -> Result<i128> {
    if let Some(t) = timefmt::parse_rfc3339(text) {
        return Ok(t);
    }
    if let Some(d) = timefmt::parse_duration(text) {
        return Ok(now - d);
    }
    if let Ok(secs) = text.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Ok((secs * 1e9) as i128);
    }
    bail!(
        "--since {text:?} is not a time: write RFC 3339 (2026-12-01T10:00:00Z), Unix seconds, or a duration ago like 10m or 1h30m"
    )
}

/// The index of the first record of the last `n` lines. A line ends with an
/// `F` record; a trailing partial line counts as one.
fn tail_start(lines: &[&[u8]], n: usize) -> usize {
    if n == 0 {
        return lines.len();
    }
    let mut seen = 0;
    for i in (0..lines.len()).rev() {
        let ends = logfile::parse(lines[i]).is_none_or(|r| r.ends_line);
        if ends || i + 1 == lines.len() {
            if seen == n {
                return i + 1;
            }
            if ends || seen == 0 {
                seen += 1;
            }
        }
    }
    0
}

/// Writes records to the right stream, with `-t` prefixes at line starts.
struct Printer {
    timestamps: bool,
    since: Option<i128>,
    /// Per stream: the next byte starts a line.
    at_line_start: [bool; 2],
    out: std::io::Stdout,
    err: std::io::Stderr,
}

impl Printer {
    fn new(timestamps: bool, since: Option<i128>) -> Self {
        Printer {
            timestamps,
            since,
            at_line_start: [true, true],
            out: std::io::stdout(),
            err: std::io::stderr(),
        }
    }

    /// Whether `--since` keeps this line (plain-text lines of an older log
    /// have no time and are always kept).
    fn wanted(&self, line: &[u8]) -> bool {
        match (logfile::parse(line), self.since) {
            (Some(r), Some(since)) => r.time >= since,
            _ => true,
        }
    }

    fn print(&mut self, line: &[u8]) -> Result<()> {
        let Some(record) = logfile::parse(line) else {
            self.out.write_all(line).context("write to stdout")?;
            return self.out.write_all(b"\n").context("write to stdout");
        };
        let i = record.stream as usize;
        let mut text = Vec::with_capacity(record.content.len() + 40);
        if self.timestamps && self.at_line_start[i] {
            text.extend_from_slice(timefmt::rfc3339_nanos(record.time).as_bytes());
            text.push(b' ');
        }
        text.extend_from_slice(record.content);
        if record.ends_line {
            text.push(b'\n');
        }
        self.at_line_start[i] = record.ends_line;
        match record.stream {
            Stream::Stdout => {
                self.err.flush().ok();
                self.out.write_all(&text).context("write to stdout")
            }
            Stream::Stderr => {
                self.out.flush().ok();
                self.err.write_all(&text).context("write to stderr")
            }
        }
    }

    fn flush(&mut self) {
        self.out.flush().ok();
        self.err.flush().ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_counts_lines_not_records() {
        let lines: Vec<&[u8]> = vec![
            b"2026-01-01T00:00:00.000000001Z stdout F one",
            b"2026-01-01T00:00:00.000000002Z stdout P tw",
            b"2026-01-01T00:00:00.000000003Z stdout F o",
            b"2026-01-01T00:00:00.000000004Z stderr F three",
            b"2026-01-01T00:00:00.000000005Z stdout P four",
        ];
        assert_eq!(tail_start(&lines, 1), 4);
        assert_eq!(tail_start(&lines, 2), 3);
        assert_eq!(tail_start(&lines, 3), 1);
        assert_eq!(tail_start(&lines, 4), 0);
        assert_eq!(tail_start(&lines, 9), 0);
        assert_eq!(tail_start(&lines, 0), 5);
        assert_eq!(tail_start(&lines[..4], 1), 3);
    }

    #[test]
    fn since_takes_docker_forms() {
        let now = 1_000 * 1_000_000_000;
        assert_eq!(parse_since("10s", now).unwrap(), 990 * 1_000_000_000);
        assert_eq!(
            parse_since("1970-01-01T00:00:05Z", now).unwrap(),
            5_000_000_000
        );
        assert_eq!(parse_since("5.5", now).unwrap(), 5_500_000_000);
        assert!(
            parse_since("yesterday", now)
                .unwrap_err()
                .to_string()
                .contains("not a time")
        );
        assert_eq!(parse_tail("all").unwrap(), None);
        assert_eq!(parse_tail("3").unwrap(), Some(3));
        assert!(parse_tail("-1").is_err());
    }
}
