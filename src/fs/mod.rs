//! The sandbox's view of the filesystem, set up by its init inside its
//! fresh mount namespace: private propagation; the host's root or
//! `--rootfs` (pivot_root, old root gone); its own /proc, a read-only /sys,
//! a minimal /dev with its own devpts (with a rootfs), private /dev/shm and
//! /dev/mqueue; volumes; its own /etc/hostname, hosts, resolv.conf; Docker's
//! masked and read-only paths; optionally a read-only root.

pub mod at;
pub mod check;
mod dev;
/// The device nodes of a rootfs's own /dev: (name, major, minor), character devices.
pub use dev::DEVICES as DEV_NODES;
pub mod etc_files;
pub mod hosts;
mod masks;
pub mod newmount;
pub mod overlay;
pub mod resolv;

/// The filesystem plan (a plain value that records keep) lives in `model`.
pub use crate::model::fs_plan as plan;

use anyhow::{Context, Result};
use at::Kind;
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use plan::FsPlan;
use std::os::fd::OwnedFd;
use std::path::Path;

/// Attributes of kernel filesystems nothing should execute from.
const HARD: u64 = newmount::NOSUID | newmount::NODEV | newmount::NOEXEC;

/// Runs in the sandbox's init, before the command starts. Every mount
/// point is found and made through descriptors anchored at the root
/// ([`at`]) and mounted on by descriptor ([`newmount`]), so a rootfs shared
/// with a running sandbox cannot redirect sbx to a host path.
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
    // Other sandboxes' netns pins are the host's business: without them
    // here, none made later propagates in (a sandbox cloned from the
    // template has none already: see `process::template`).
    match umount2(crate::model::NETNS_DIR, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(e).context("unmount the host's /run/netns"),
    }
    // Every source is taken now, as the host shows it: a --tmpfs or volume
    // mounted below cannot hide it (a state root under /tmp, say).
    let volume_trees = plan
        .volumes
        .iter()
        .map(|v| {
            newmount::clone_path(&v.source, !v.single)
                .with_context(|| format!("mount volume {}", v.source.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let etc_trees = etc_files::FILES
        .iter()
        .map(|f| {
            newmount::clone_path(&etc_dir.join(f), false).with_context(|| format!("bind /etc/{f}"))
        })
        .collect::<Result<Vec<_>>>()?;
    // An image (or --rootfs-overlay): the overlay is the root.
    let overlay_root = (!plan.overlay.is_empty())
        .then(|| overlay::mount(&plan.overlay, etc_dir, plan.read_only))
        .transpose()?;
    let in_rootfs = plan.rootfs.is_some() || overlay_root.is_some();
    let root_path = (overlay_root.as_deref())
        .or(plan.rootfs.as_deref())
        .unwrap_or(Path::new("/"));
    if in_rootfs && overlay_root.is_none() {
        // The rootfs path is the user's own host path, named on the command
        // line; everything under it is looked up through `root` below.
        mount(
            Some(root_path),
            root_path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .context("bind the rootfs on itself")?;
    }
    let root = at::open_root(root_path)?;
    if in_rootfs {
        // Its /dev is a tmpfs of its own: the rootfs needs no device nodes.
        newmount::set_attrs(&root, newmount::NODEV, true).context("make the rootfs nodev")?;
    }
    if plan.read_only {
        if in_rootfs {
            make_mount_points(&root, plan)?;
        }
        // Recursively: submounts of the root are read-only too. What sbx
        // mounts next (/proc, /dev, volumes, tmpfs) keeps its own flags.
        newmount::set_attrs(&root, newmount::RDONLY, true).context("make / read-only")?;
    }
    kernel_filesystems(&root, in_rootfs)?;
    // Volumes and tmpfs mounts, parents first (a stable sort by depth, as
    // runc does), so one nested in another is mounted inside it, not hidden
    // under it: `-v X:/data/sub --tmpfs /data` keeps the volume visible.
    let mut mounts: Vec<(&Path, u32, Planned)> = plan
        .volumes
        .iter()
        .zip(volume_trees)
        .map(|(v, tree)| (v.target.as_path(), v.order, Planned::Volume(v, tree)))
        .chain(plan.tmpfs.iter().map(|t| (t.as_path(), 0, Planned::Tmpfs)))
        .chain((plan.mounts.iter()).map(|m| (m.target.as_path(), m.order, Planned::Kernel(m))))
        .collect();
    // Among the same depth, an OCI config's own order (runtime-spec
    // config.md: mounts "in the listed order").
    mounts.sort_by_key(|(target, order, _)| (target.components().count(), *order));
    for (target_path, _, mount) in mounts {
        match mount {
            Planned::Kernel(m) => kernel_mount(&root, m, in_rootfs)?,
            Planned::Volume(volume, tree) => {
                // mountinfo lists a namespace's mounts by creation (mount
                // ID): an OCI config's are copied again now, so they are
                // listed in its order (runtime-spec config.md "Mounts"); the
                // early copy only pinned the source.
                let tree = if volume.order > 0 {
                    newmount::clone_fd(&tree, !volume.single)
                        .with_context(|| format!("mount volume {}", volume.source.display()))?
                } else {
                    tree
                };
                let kind = if at::is_dir(&tree)? {
                    Kind::Dir
                } else {
                    Kind::File
                };
                let target = at::ensure(&root, target_path, kind, in_rootfs)?;
                let attrs = attr_bits(volume.read_only, volume.attrs);
                newmount::bind_tree(tree, &volume.source, &target, attrs)
                    .with_context(|| format!("mount volume {}", volume.source.display()))?;
            }
            Planned::Tmpfs => {
                let target = at::ensure(&root, target_path, Kind::Dir, in_rootfs)?;
                let fs =
                    newmount::new_fs("tmpfs", &["mode=1777"], newmount::NOSUID | newmount::NODEV)
                        .with_context(|| format!("mount tmpfs on {}", target_path.display()))?;
                newmount::attach(&fs, &target)
                    .with_context(|| format!("mount tmpfs on {}", target_path.display()))?;
            }
        }
    }
    for (file, tree) in etc_files::FILES.iter().zip(etc_trees) {
        let inside = Path::new("/etc").join(file);
        if plan.volumes.iter().any(|v| v.target == inside) {
            continue; // the user's own file wins, as with Docker
        }
        // A mount point is made only in the rootfs itself, never in a
        // volume over /etc: that folder is the user's, on the host.
        let in_volume = plan.volumes.iter().any(|v| inside.starts_with(&v.target));
        let target = if in_rootfs && !in_volume {
            at::ensure(&root, &inside, Kind::File, true)?
        } else {
            match at::resolve(&root, &inside) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => continue,
                Err(e) => return Err(at::lookup_error(&inside, e)),
            }
        };
        // /etc/hosts is read-only: a network's is shared (hard-linked,
        // see `hosts`) or rewritten from the networks' files, and a sandbox
        // must neither rename its neighbours nor grow a file of the state
        // root past --read-only.
        let source = etc_dir.join(file);
        let attrs = if *file == "hosts" {
            newmount::RDONLY
        } else {
            0
        };
        newmount::bind_tree(tree, &source, &target, attrs)
            .with_context(|| format!("bind /etc/{file}"))?;
    }
    if in_rootfs {
        pivot(&root)?;
    }
    masks::apply(plan.masked_paths.as_deref(), plan.readonly_paths.as_deref())?;
    for (path, word) in &plan.propagation {
        let Some((recursive, kind)) = crate::model::fs_plan::propagation_flags(word) else {
            anyhow::bail!(
                "mount propagation {word:?} is not one of shared, private, slave, unbindable (r...)"
            );
        };
        let mut flags = match kind {
            "shared" => MsFlags::MS_SHARED,
            "private" => MsFlags::MS_PRIVATE,
            "slave" => MsFlags::MS_SLAVE,
            _ => MsFlags::MS_UNBINDABLE,
        };
        if recursive {
            flags |= MsFlags::MS_REC;
        }
        mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
            .with_context(|| format!("make {} {word}", path.display()))?;
    }
    Ok(())
}

/// One mount of the depth-sorted list: a volume (with its source taken
/// early), a `--tmpfs`, or another fresh kernel filesystem.
enum Planned<'a> {
    Volume(&'a plan::Volume, OwnedFd),
    Tmpfs,
    Kernel(&'a plan::KernelMount),
}

/// mount_setattr(2) bits for a mount's read-only flag and attributes.
fn attr_bits(read_only: bool, attrs: plan::MountAttrs) -> u64 {
    let mut bits = 0;
    for (on, bit) in [
        (read_only, newmount::RDONLY),
        (attrs.nosuid, newmount::NOSUID),
        (attrs.nodev, newmount::NODEV),
        (attrs.noexec, newmount::NOEXEC),
        (attrs.strictatime, newmount::STRICTATIME),
        (attrs.noatime, newmount::NOATIME),
    ] {
        if on {
            bits |= bit;
        }
    }
    bits
}

/// A fresh filesystem of `m.fstype` (tmpfs, proc, sysfs, mqueue, devpts,
/// cgroup2) on its target, made in the rootfs when missing.
fn kernel_mount(root: &OwnedFd, m: &plan::KernelMount, in_rootfs: bool) -> Result<()> {
    let what = || format!("mount {} on {}", m.fstype, m.target.display());
    let target = at::ensure(root, &m.target, Kind::Dir, in_rootfs).with_context(what)?;
    let data: Vec<&str> = m.data.iter().map(String::as_str).collect();
    let fs =
        newmount::new_fs(&m.fstype, &data, attr_bits(m.read_only, m.attrs)).with_context(what)?;
    newmount::attach(&fs, &target).with_context(what)
}

/// Before a read-only root is made read-only, the mount points sbx needs
/// in it are made (those under another mount sbx makes are made later,
/// in that mount).
fn make_mount_points(root: &OwnedFd, plan: &FsPlan) -> Result<()> {
    let mut targets: Vec<(&Path, Kind)> = vec![
        (Path::new("/proc"), Kind::Dir),
        (Path::new("/sys"), Kind::Dir),
        (Path::new("/dev"), Kind::Dir),
    ];
    for v in &plan.volumes {
        let kind = if v.source.is_dir() {
            Kind::Dir
        } else {
            Kind::File
        };
        targets.push((&v.target, kind));
    }
    targets.extend(plan.tmpfs.iter().map(|t| (t.as_path(), Kind::Dir)));
    targets.extend(plan.mounts.iter().map(|m| (m.target.as_path(), Kind::Dir)));
    let covers: Vec<&Path> = targets.iter().map(|(p, _)| *p).collect();
    let etc: Vec<_> = etc_files::FILES
        .iter()
        .map(|f| Path::new("/etc").join(f))
        .collect();
    targets.extend(etc.iter().map(|p| (p.as_path(), Kind::File)));
    // The working directory, which the command could not make in a
    // read-only root (Docker makes it too).
    targets.extend(plan.workdir.iter().map(|w| (w.as_path(), Kind::Dir)));
    for (target, kind) in targets {
        if !plan::is_under_any(target, &covers) {
            at::ensure(root, target, kind, true)?;
        }
    }
    Ok(())
}

/// /proc, /sys (read-only), /dev (a minimal one with a rootfs, else the
/// host's with a devpts of its own), /dev/shm and /dev/mqueue, under `root`.
fn kernel_filesystems(root: &OwnedFd, in_rootfs: bool) -> Result<()> {
    let proc = at::ensure(root, Path::new("/proc"), Kind::Dir, in_rootfs)?;
    let fs = newmount::new_fs("proc", &[], HARD).context("mount /proc")?;
    newmount::attach(&fs, &proc).context("mount /proc")?;
    // /dev before /sys: the order of runc's and the OCI default mounts.
    let dev = at::ensure(root, Path::new("/dev"), Kind::Dir, in_rootfs)?;
    if in_rootfs {
        dev::own(&dev)?;
    } else {
        host_dev(root)?;
    }
    // A fresh sysfs shows this netns's interfaces, not the host's.
    let sys = at::ensure(root, Path::new("/sys"), Kind::Dir, in_rootfs)?;
    let fs = newmount::new_fs("sysfs", &[], HARD | newmount::RDONLY).context("mount /sys")?;
    newmount::attach(&fs, &sys).context("mount /sys")
}

/// The host's /dev in a sandbox on the host's root: its own devpts, ptmx,
/// /dev/shm and /dev/mqueue.
fn host_dev(root: &OwnedFd) -> Result<()> {
    // The host's /dev, but its terminals stay the host's: a devpts of the
    // sandbox's own on /dev/pts, and /dev/ptmx allocating from it.
    let existing = |inside: &str| {
        at::resolve(root, Path::new(inside))
            .ok()
            .filter(|fd| at::is_dir(fd).unwrap_or(false))
    };
    if let Some(pts) = existing("/dev/pts") {
        let instance = dev::devpts(&pts)?;
        let ptmx = at::ensure(root, Path::new("/dev/ptmx"), Kind::File, false)?;
        let source = nix::fcntl::openat(
            &instance,
            "ptmx",
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_NOFOLLOW
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .context("open /dev/pts/ptmx")?;
        newmount::bind_fd(&source, Path::new("/dev/pts/ptmx"), &ptmx, 0)?;
    }
    dev::shm_and_mqueue(
        existing("/dev/shm").as_ref(),
        existing("/dev/mqueue").as_ref(),
    )
}

/// Makes `root` the root: `pivot_root(".", ".")` stacks the old root on top
/// of the new one, and unmounting it (lazily) leaves no way back.
fn pivot(root: &OwnedFd) -> Result<()> {
    nix::unistd::fchdir(root).context("enter the rootfs")?;
    nix::unistd::pivot_root(".", ".").context("pivot_root into the rootfs")?;
    umount2(".", MntFlags::MNT_DETACH).context("detach the old root")?;
    nix::unistd::chdir("/").context("chdir /")?;
    Ok(())
}
