//! Which device nodes a sandbox may use, as Docker (runc's default
//! allow list) has it: any node may be made (`mknod` needs CAP_MKNOD,
//! which the sandbox keeps), but only the standard ones can be opened:
//! null, zero, full, random, urandom, tty, console, ptmx and the
//! terminals of devpts. Everything else (the host's disks, loop devices,
//! hardware RNG, ttys, /dev/mem, ...) fails to open with EPERM, whether
//! sbx made the node, the sandbox did, or it is the host's own /dev.
//!
//! The kernel enforces the list through the devices controller on cgroup
//! v1 (`devices.deny` / `devices.allow`, see the kernel's
//! admin-guide/cgroup-v1/devices.rst) or, on cgroup v2, a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program ([`super::device_bpf`]).

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

/// Device type, as both interfaces name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A character device (`c`).
    Char,
    /// A block device (`b`).
    Block,
}

/// Access bits (the same in both interfaces: `BPF_DEVCG_ACC_*` in
/// linux/bpf.h, and `m`, `r`, `w` of devices.allow).
pub const MKNOD: u32 = 1;
/// Open for reading.
pub const READ: u32 = 2;
/// Open for writing.
pub const WRITE: u32 = 4;
/// All three.
pub const RWM: u32 = MKNOD | READ | WRITE;

/// One allowed (type, major, minor, access); `None` is any number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Character or block.
    pub kind: Kind,
    /// Major number, or any.
    pub major: Option<u32>,
    /// Minor number, or any.
    pub minor: Option<u32>,
    /// The access this rule grants (a request must be a subset).
    pub access: u32,
}

const fn char_dev(major: u32, minor: Option<u32>) -> Rule {
    Rule {
        kind: Kind::Char,
        major: Some(major),
        minor,
        access: RWM,
    }
}

/// The allow list; everything else is denied.
pub const ALLOWED: [Rule; 11] = [
    // mknod of any node (opening it is another matter).
    Rule {
        kind: Kind::Char,
        major: None,
        minor: None,
        access: MKNOD,
    },
    Rule {
        kind: Kind::Block,
        major: None,
        minor: None,
        access: MKNOD,
    },
    char_dev(1, Some(3)), // null
    char_dev(1, Some(5)), // zero
    char_dev(1, Some(7)), // full
    char_dev(1, Some(8)), // random
    char_dev(1, Some(9)), // urandom
    char_dev(5, Some(0)), // tty
    char_dev(5, Some(1)), // console
    char_dev(5, Some(2)), // ptmx
    char_dev(136, None),  // pts/N (UNIX98_PTY_SLAVE_MAJOR)
];

impl Rule {
    /// The rule as a `devices.allow` line: `c 1:3 rwm`, `b *:* m`.
    pub fn v1_line(&self) -> String {
        let kind = match self.kind {
            Kind::Char => 'c',
            Kind::Block => 'b',
        };
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        let mut access = String::new();
        for (bit, letter) in [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')] {
            if self.access & bit != 0 {
                access.push(letter);
            }
        }
        format!("{kind} {}:{} {access}", num(self.major), num(self.minor))
    }

    /// Whether this rule grants `access` to the device (the reference the
    /// BPF program and the v1 lines are tested against).
    pub fn allows(&self, kind: Kind, major: u32, minor: u32, access: u32) -> bool {
        self.kind == kind
            && self.major.is_none_or(|m| m == major)
            && self.minor.is_none_or(|m| m == minor)
            && access & !self.access == 0
    }
}

/// Whether the v1 cgroup at `dir` has exactly the allow list (its
/// `devices.list`, which the kernel prints in the form of [`Rule::v1_line`]).
pub fn v1_holds(dir: &Path) -> bool {
    let Ok(list) = std::fs::read_to_string(dir.join("devices.list")) else {
        return false;
    };
    let mut have: Vec<&str> = list.lines().collect();
    let mut want: Vec<String> = ALLOWED.iter().map(Rule::v1_line).collect();
    have.sort_unstable();
    want.sort_unstable();
    have == want
}

/// Writes the allow list to the v1 cgroup at `dir`: deny all (which also
/// drops what it inherited), then each rule, one write each on one open
/// `devices.allow`.
pub fn apply_v1(dir: &Path) -> Result<()> {
    std::fs::write(dir.join("devices.deny"), "a")
        .with_context(|| format!("deny all devices in {}", dir.display()))?;
    let mut allow = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("devices.allow"))
        .with_context(|| format!("open {}/devices.allow", dir.display()))?;
    for rule in ALLOWED {
        allow
            .write_all(rule.v1_line().as_bytes())
            .with_context(|| format!("allow {} in {}", rule.v1_line(), dir.display()))?;
    }
    Ok(())
}

/// Whether the allow list grants `access` to the device (also what an OCI
/// bundle's `linux.resources.devices` may allow).
pub fn allowed(kind: Kind, major: u32, minor: u32, access: u32) -> bool {
    ALLOWED.iter().any(|r| r.allows(kind, major, minor, access))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_lines_read_as_docker_writes_them() {
        let lines: Vec<String> = ALLOWED.iter().map(Rule::v1_line).collect();
        assert_eq!(lines[0], "c *:* m");
        assert_eq!(lines[1], "b *:* m");
        assert_eq!(lines[2], "c 1:3 rwm");
        assert_eq!(lines[10], "c 136:* rwm");
    }

    #[test]
    fn standard_devices_open_others_only_mknod() {
        for (major, minor) in [
            (1, 3),
            (1, 5),
            (1, 7),
            (1, 8),
            (1, 9),
            (5, 0),
            (5, 2),
            (136, 7),
        ] {
            assert!(allowed(Kind::Char, major, minor, READ | WRITE));
        }
        for (kind, major, minor) in [
            (Kind::Char, 10, 183), // hwrng
            (Kind::Block, 7, 0),   // loop0
            (Kind::Char, 4, 1),    // tty1
            (Kind::Char, 1, 1),    // mem
            (Kind::Char, 10, 200), // net/tun
            (Kind::Block, 1, 3),   // not /dev/null: a block device 1:3
        ] {
            assert!(
                !allowed(kind, major, minor, READ),
                "{kind:?} {major}:{minor}"
            );
            assert!(allowed(kind, major, minor, MKNOD));
        }
    }
}
