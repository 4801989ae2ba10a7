//! The sandbox's view of the filesystem, set up inside its fresh mount
//! namespace: private propagation, its own /proc and /sys, private
//! /dev/shm and /dev/mqueue, and its own /etc/hostname, hosts, resolv.conf.

pub mod etc_files;

use anyhow::{Context, Result};
use nix::mount::{MsFlags, mount};
use std::path::Path;

/// Runs in the sandbox's init, before the command starts.
pub fn setup(etc_dir: &Path) -> Result<()> {
    // Nothing mounted here may propagate back to the host; host mounts still
    // propagate in (slave), as with Docker's default.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .context("make / a slave mount")?;
    let hard = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("proc"), "/proc", Some("proc"), hard, None::<&str>).context("mount /proc")?;
    // A fresh sysfs shows this netns's interfaces, not the host's.
    mount(
        Some("sysfs"),
        "/sys",
        Some("sysfs"),
        hard | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .context("mount /sys")?;
    if Path::new("/dev/shm").is_dir() {
        mount(
            Some("shm"),
            "/dev/shm",
            Some("tmpfs"),
            hard,
            Some("mode=1777,size=65536k"),
        )
        .context("mount /dev/shm")?;
    }
    if Path::new("/dev/mqueue").is_dir() {
        mount(
            Some("mqueue"),
            "/dev/mqueue",
            Some("mqueue"),
            hard,
            None::<&str>,
        )
        .context("mount /dev/mqueue")?;
    }
    for file in etc_files::FILES {
        let target = Path::new("/etc").join(file);
        if target.exists() {
            let source = etc_dir.join(file);
            mount(
                Some(&source),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .with_context(|| format!("bind {} over {}", source.display(), target.display()))?;
        }
    }
    Ok(())
}
