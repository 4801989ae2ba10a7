//! The init is a clone of sbx, never exec'd: its argument and environment
//! memory still hold the host's `sbx run ...` command line (host paths,
//! options) and sbx's environment (SBX_ROOT, ...), which the sandbox would
//! read in /proc/1/cmdline and /proc/1/environ. `PR_SET_MM` could point the
//! kernel elsewhere but needs CAP_SYS_RESOURCE, which root lacks here, so
//! the memory itself is overwritten in place.
//!
//! How the kernel reads it back (fs/proc/base.c, `get_mm_cmdline`): the
//! range `arg_start..arg_end` as is, unless the range's last byte is not
//! NUL; then (setproctitle(3) style) from `arg_start` up to and including
//! the first NUL. So the title goes first, a NUL after it, and the range's
//! last byte is made non-NUL: /proc/1/cmdline reads `sbx-init\0`, exactly
//! what a process exec'd as `sbx-init` shows.

use anyhow::{Context, Result, bail};

/// The four addresses from /proc/self/stat (fields 48-51, proc(5)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranges {
    /// Start of the argument strings.
    pub arg_start: usize,
    /// One past their end.
    pub arg_end: usize,
    /// Start of the environment strings.
    pub env_start: usize,
    /// One past their end.
    pub env_end: usize,
}

/// Rewrites this process's argument memory to read `title` and clears its
/// environment memory. Nothing may use `std::env::args`/`var` afterwards.
pub fn set(title: &[u8]) -> Result<()> {
    write(read_ranges()?, title);
    Ok(())
}

/// This process's argument and environment ranges, from /proc/self/stat.
/// A forked child has the same ranges: `sbx exec` reads them before it
/// forks and joins the sandbox (through the host's /proc, not the
/// sandbox's), and the child calls [`write`] with no allocation.
pub fn read_ranges() -> Result<Ranges> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("read /proc/self/stat")?;
    parse_stat(&stat)
}

/// [`set`] with ranges read earlier by [`read_ranges`] in this process or
/// in the parent it was forked from. Allocates nothing: safe after fork.
pub fn write(ranges: Ranges, title: &[u8]) {
    let args = ranges.arg_end - ranges.arg_start;
    let env = ranges.env_end - ranges.env_start;
    // SAFETY: the kernel reports these ranges as this process's (or, after
    // fork, its parent's identical) argument and environment strings, at the
    // top of its (writable) stack; nothing in this process reads them after
    // this point (clap parsed the arguments, the command's environment was
    // built before).
    unsafe {
        let argv = std::slice::from_raw_parts_mut(
            std::ptr::with_exposed_provenance_mut::<u8>(ranges.arg_start),
            args,
        );
        fill(argv, title);
        let environ = std::slice::from_raw_parts_mut(
            std::ptr::with_exposed_provenance_mut::<u8>(ranges.env_start),
            env,
        );
        environ.fill(0);
    }
}

/// Lays `title` out in an argument range as described in the module doc.
fn fill(range: &mut [u8], title: &[u8]) {
    range.fill(0);
    let shown = title.len().min(range.len().saturating_sub(1));
    range[..shown].copy_from_slice(&title[..shown]);
    // Past the title's NUL, a non-NUL last byte switches the kernel to
    // "up to the first NUL", hiding the zeros that follow.
    if range.len() > shown + 1
        && let Some(last) = range.last_mut()
    {
        *last = b' ';
    }
}

/// Fields 48 to 51 of a /proc/PID/stat line. The command name (field 2) is
/// in parentheses and may itself contain spaces and parentheses, so fields
/// are counted from the last `)`.
fn parse_stat(stat: &str) -> Result<Ranges> {
    let Some((_, rest)) = stat.rsplit_once(')') else {
        bail!("/proc/self/stat has no command name");
    };
    // `rest` starts at field 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Result<usize> {
        let text = fields
            .get(n - 3)
            .with_context(|| format!("/proc/self/stat has no field {n}"))?;
        text.parse()
            .with_context(|| format!("/proc/self/stat field {n} is {text:?}"))
    };
    let ranges = Ranges {
        arg_start: field(48)?,
        arg_end: field(49)?,
        env_start: field(50)?,
        env_end: field(51)?,
    };
    if ranges.arg_start == 0
        || ranges.arg_end < ranges.arg_start
        || ranges.env_end < ranges.env_start
    {
        bail!("/proc/self/stat gives no argument range: {ranges:?}");
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_48_to_51_are_read_past_a_tricky_name() {
        let mut line = String::from("42 (a) b) (c) S");
        for n in 4..=52 {
            line.push_str(&format!(" {n}"));
        }
        let r = parse_stat(&line).unwrap();
        assert_eq!(
            (r.arg_start, r.arg_end, r.env_start, r.env_end),
            (48, 49, 50, 51)
        );
    }

    #[test]
    fn this_process_has_ranges() {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let r = parse_stat(&stat).unwrap();
        assert!(r.arg_end > r.arg_start && r.env_end >= r.env_start);
        assert!(parse_stat("1 (x) S 0").is_err());
    }

    #[test]
    fn the_title_is_followed_by_one_nul_and_a_non_nul_last_byte() {
        let mut range = *b"/usr/bin/sbx\0run\0--rootfs\0/home/x\0";
        fill(&mut range, b"sbx-init");
        assert_eq!(&range[..9], b"sbx-init\0");
        assert!(range[9..range.len() - 1].iter().all(|&b| b == 0));
        assert_ne!(range[range.len() - 1], 0);
        // What the kernel shows: up to and including the first NUL.
        let shown = &range[..=range.iter().position(|&b| b == 0).unwrap()];
        assert_eq!(shown, b"sbx-init\0");
    }

    #[test]
    fn a_short_range_keeps_its_last_nul() {
        let mut range = *b"sbx\0";
        fill(&mut range, b"sbx-init");
        assert_eq!(&range, b"sbx\0");
        let mut exact = [1u8; 9];
        fill(&mut exact, b"sbx-init");
        assert_eq!(&exact, b"sbx-init\0");
    }
}
