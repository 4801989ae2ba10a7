//! The sandbox's view of the filesystem, set up by its init inside its
//! fresh mount namespace: private propagation; the host's root or
//! `--rootfs` (pivot_root, old root gone); its own /proc, a read-only /sys,
//! a minimal /dev with its own devpts (with a rootfs), private /dev/shm and
//! /dev/mqueue; volumes; its own /etc/hostname, hosts, resolv.conf; Docker's
//! masked and read-only paths; optionally a read-only root.

mod dev;
pub mod etc_files;
mod masks;
pub mod plan;

use anyhow::{Context, Result};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use plan::{FsPlan, resolve_in};
use std::path::Path;

/// Flags for kernel filesystems nothing should execute from.
const HARD: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// Runs in the sandbox's init, before the command starts.
pub fn setup(plan: &FsPlan, etc_dir: &Path) -> Result<()> {
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
    let root = plan.rootfs.as_deref().unwrap_or(Path::new("/"));
    if plan.rootfs.is_some() {
        bind(root, root, MsFlags::MS_REC).context("bind the rootfs on itself")?;
    }
    kernel_filesystems(root, plan.rootfs.is_some())?;
    for volume in &plan.volumes {
        let target = resolve_in(root, &volume.target)?;
        ensure_target(&target, volume.source.is_dir(), plan.rootfs.is_some())?;
        bind(&volume.source, &target, MsFlags::MS_REC)
            .with_context(|| format!("mount volume {}", volume.source.display()))?;
        if volume.read_only {
            remount_read_only(&target)
                .with_context(|| format!("make volume {} read-only", volume.target.display()))?;
        }
    }
    for dir in &plan.tmpfs {
        let target = resolve_in(root, dir)?;
        ensure_target(&target, true, plan.rootfs.is_some())?;
        mount(
            Some("tmpfs"),
            &target,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=1777"),
        )
        .with_context(|| format!("mount tmpfs on {}", dir.display()))?;
    }
    for file in etc_files::FILES {
        let target = resolve_in(root, &Path::new("/etc").join(file))?;
        if plan.rootfs.is_some() {
            ensure_target(&target, false, true)?;
        }
        if target.exists() {
            bind(&etc_dir.join(file), &target, MsFlags::empty())
                .with_context(|| format!("bind /etc/{file}"))?;
        }
    }
    if plan.rootfs.is_some() {
        pivot(root)?;
    }
    masks::apply()?;
    if plan.read_only {
        remount_read_only(Path::new("/")).context("make / read-only")?;
    }
    Ok(())
}

/// /proc, /sys (read-only), /dev (a minimal one with a rootfs), /dev/shm
/// and /dev/mqueue, under `root`.
fn kernel_filesystems(root: &Path, own_dev: bool) -> Result<()> {
    let proc = resolve_in(root, Path::new("/proc"))?;
    let sys = resolve_in(root, Path::new("/sys"))?;
    std::fs::create_dir_all(&proc).ok();
    std::fs::create_dir_all(&sys).ok();
    mount(Some("proc"), &proc, Some("proc"), HARD, None::<&str>).context("mount /proc")?;
    // A fresh sysfs shows this netns's interfaces, not the host's.
    mount(
        Some("sysfs"),
        &sys,
        Some("sysfs"),
        HARD | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .context("mount /sys")?;
    let dev = resolve_in(root, Path::new("/dev"))?;
    if own_dev {
        dev::populate(&dev)?;
    }
    let shm = dev.join("shm");
    if shm.is_dir() {
        mount(
            Some("shm"),
            &shm,
            Some("tmpfs"),
            HARD,
            Some("mode=1777,size=65536k"),
        )
        .context("mount /dev/shm")?;
    }
    let mqueue = dev.join("mqueue");
    if mqueue.is_dir() {
        mount(Some("mqueue"), &mqueue, Some("mqueue"), HARD, None::<&str>)
            .context("mount /dev/mqueue")?;
    }
    Ok(())
}

/// Makes `dir` the root: `pivot_root(".", ".")` stacks the old root on top
/// of the new one, and unmounting it (lazily) leaves no way back.
fn pivot(dir: &Path) -> Result<()> {
    nix::unistd::chdir(dir).context("enter the rootfs")?;
    nix::unistd::pivot_root(".", ".").context("pivot_root into the rootfs")?;
    umount2(".", MntFlags::MNT_DETACH).context("detach the old root")?;
    nix::unistd::chdir("/").context("chdir /")?;
    Ok(())
}

/// A bind mount.
fn bind(source: &Path, target: &Path, extra: MsFlags) -> Result<()> {
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND | extra,
        None::<&str>,
    )?;
    Ok(())
}

/// Remounts an existing bind mount read-only (the flag applies per mount).
fn remount_read_only(target: &Path) -> Result<()> {
    let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    mount(None::<&str>, target, None::<&str>, flags, None::<&str>)?;
    Ok(())
}

/// Creates a mount point inside a rootfs (a folder, or an empty file for a
/// file). On the host's own root nothing is created: a missing target is
/// an error there, so sbx never writes into the host's filesystem.
fn ensure_target(target: &Path, dir: bool, may_create: bool) -> Result<()> {
    if target.symlink_metadata().is_ok() {
        return Ok(());
    }
    if !may_create {
        anyhow::bail!(
            "mount point {} does not exist on the host root: create it, or use --rootfs",
            target.display()
        );
    }
    if dir {
        std::fs::create_dir_all(target)
    } else {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).ok();
        }
        std::fs::write(target, b"")
    }
    .with_context(|| format!("create mount point {}", target.display()))
}
