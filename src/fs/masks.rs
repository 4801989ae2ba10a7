//! Docker's masked and read-only paths: kernel interfaces a sandboxed root
//! must not read (kernel memory, keys, timers) or write (sysctls, sysrq).

use anyhow::{Context, Result};
use nix::mount::{MsFlags, mount};
use std::path::{Path, PathBuf};

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
/// kernel does not have are skipped. `masked`/`read_only`: the lists an
/// OCI bundle gave (`linux.maskedPaths`, `linux.readonlyPaths`), else
/// Docker's above.
pub fn apply(masked: Option<&[PathBuf]>, read_only: Option<&[PathBuf]>) -> Result<()> {
    let masked: Vec<&Path> = match masked {
        Some(list) => list.iter().map(PathBuf::as_path).collect(),
        None => MASKED.iter().map(Path::new).collect(),
    };
    let read_only: Vec<&Path> = match read_only {
        Some(list) => list.iter().map(PathBuf::as_path).collect(),
        None => READ_ONLY.iter().map(Path::new).collect(),
    };
    for path in masked {
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
    for path in read_only {
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
