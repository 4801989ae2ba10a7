//! Docker's masked and read-only paths: kernel interfaces a sandboxed root
//! must not read (kernel memory, keys, timers) or write (sysctls, sysrq).

use anyhow::{Context, Result};
use nix::mount::{MsFlags, mount};
use std::path::Path;

/// Hidden: files get /dev/null over them, folders an empty read-only tmpfs.
const MASKED: [&str; 10] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

/// Visible but read-only.
const READ_ONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Applies both lists to the sandbox's (already final) root; paths this
/// kernel does not have are skipped.
pub fn apply() -> Result<()> {
    for path in MASKED.map(Path::new) {
        let Ok(meta) = path.symlink_metadata() else {
            continue;
        };
        let result = if meta.is_dir() {
            mount(
                Some("tmpfs"),
                path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                Some("size=0"),
            )
        } else {
            mount(
                Some("/dev/null"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        };
        result.with_context(|| format!("mask {}", path.display()))?;
    }
    for path in READ_ONLY.map(Path::new) {
        if path.symlink_metadata().is_err() {
            continue;
        }
        mount(
            Some(path),
            path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .with_context(|| format!("bind {}", path.display()))?;
        let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
        mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
            .with_context(|| format!("make {} read-only", path.display()))?;
    }
    Ok(())
}
