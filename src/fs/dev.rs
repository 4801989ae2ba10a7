//! A minimal /dev for a sandbox with its own root, as Docker and runc make
//! it: the harmless character devices, a devpts instance of its own, shm,
//! and the usual links into /proc.

use super::newmount;
use anyhow::{Context, Result};
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmodat, makedev, mkdirat, mknodat};
use nix::unistd::symlinkat;
use std::os::fd::OwnedFd;

/// The character devices: name, major, minor.
pub const DEVICES: [(&str, u64, u64); 6] = [
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

/// A new /dev for a rootfs: a tmpfs built and filled while detached, then
/// attached onto `target` (a descriptor), with its own devpts, shm and
/// mqueue. Returns nothing to undo: the mounts die with the namespace.
pub fn own(target: &OwnedFd) -> Result<()> {
    let dev = newmount::new_fs(
        "tmpfs",
        &["mode=755", "size=65536k"],
        newmount::NOSUID | newmount::STRICTATIME,
    )
    .context("mount /dev")?;
    for (name, major, minor) in DEVICES {
        mknodat(
            &dev,
            name,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(major, minor),
        )
        .with_context(|| format!("create /dev/{name}"))?;
        // mknod honours the umask; the nodes must be world-usable.
        fchmodat(
            &dev,
            name,
            Mode::from_bits_truncate(0o666),
            FchmodatFlags::FollowSymlink,
        )
        .with_context(|| format!("chmod /dev/{name}"))?;
    }
    for (name, target) in LINKS {
        symlinkat(target, &dev, name).with_context(|| format!("link /dev/{name}"))?;
    }
    for dir in ["pts", "shm", "mqueue"] {
        mkdirat(&dev, dir, Mode::from_bits_truncate(0o755))
            .with_context(|| format!("create /dev/{dir}"))?;
    }
    newmount::attach(&dev, target).context("mount /dev")?;
    let sub = |name: &str| {
        openat(
            &dev,
            name,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("open /dev/{name}"))
    };
    devpts(&sub("pts")?)?;
    shm_and_mqueue(Some(&sub("shm")?), Some(&sub("mqueue")?))
}

/// A devpts of its own on `pts`: the sandbox sees only its own terminals,
/// and /dev/ptmx (a link to pts/ptmx, or a bind of it) allocates from it.
/// Returns the new instance's root.
pub fn devpts(pts: &OwnedFd) -> Result<OwnedFd> {
    let mnt = newmount::new_fs(
        "devpts",
        &["newinstance", "ptmxmode=0666", "mode=0620"],
        newmount::NOSUID | newmount::NOEXEC,
    )
    .context("mount /dev/pts")?;
    newmount::attach(&mnt, pts).context("mount /dev/pts")?;
    Ok(mnt)
}

/// A private /dev/shm (POSIX shared memory) and /dev/mqueue (POSIX message
/// queues of the sandbox's IPC namespace).
/// Either is skipped when absent (a host /dev without it).
pub fn shm_and_mqueue(shm: Option<&OwnedFd>, mqueue: Option<&OwnedFd>) -> Result<()> {
    let hard = newmount::NOSUID | newmount::NODEV | newmount::NOEXEC;
    if let Some(shm) = shm {
        let fs = newmount::new_fs("tmpfs", &["source=shm", "mode=1777", "size=65536k"], hard)
            .context("mount /dev/shm")?;
        newmount::attach(&fs, shm).context("mount /dev/shm")?;
    }
    if let Some(mqueue) = mqueue {
        let fs = newmount::new_fs("mqueue", &[], hard).context("mount /dev/mqueue")?;
        newmount::attach(&fs, mqueue).context("mount /dev/mqueue")?;
    }
    Ok(())
}
