//! A minimal /dev for a sandbox with its own root, as Docker and runc make
//! it: the harmless character devices, a devpts instance of its own, shm,
//! and the usual links into /proc.

use anyhow::{Context, Result};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use std::os::unix::fs::symlink;
use std::path::Path;

/// The character devices: name, major, minor.
const DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The links every program expects.
const LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// Mounts a tmpfs on `dev` and fills it.
pub fn populate(dev: &Path) -> Result<()> {
    std::fs::create_dir_all(dev).ok();
    mount(
        Some("tmpfs"),
        dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )
    .context("mount /dev")?;
    for (name, major, minor) in DEVICES {
        let path = dev.join(name);
        mknod(
            &path,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(major, minor),
        )
        .with_context(|| format!("create /dev/{name}"))?;
        // mknod honours the umask; the nodes must be world-usable.
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .with_context(|| format!("chmod /dev/{name}"))?;
    }
    for (name, target) in LINKS {
        symlink(target, dev.join(name)).with_context(|| format!("link /dev/{name}"))?;
    }
    for dir in ["pts", "shm", "mqueue"] {
        std::fs::create_dir(dev.join(dir)).with_context(|| format!("create /dev/{dir}"))?;
    }
    // A devpts of its own: the sandbox sees only its own terminals.
    mount(
        Some("devpts"),
        &dev.join("pts"),
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )
    .context("mount /dev/pts")?;
    Ok(())
}
