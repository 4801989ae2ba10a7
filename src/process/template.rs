//! The template mount namespace sandboxes are cloned from, so that a launch
//! does not pay for the other sandboxes.
//!
//! Every sandbox pins its netns with a bind mount on /run/netns/sbx-NAME in
//! the host's mount table (`ip netns exec` needs it there), and
//! `CLONE_NEWNS` copies the caller's whole table: with 1000 sandboxes, each
//! clone copied 1000 netns mounts, and each new pin then propagated into
//! every running sandbox's namespace (their /run/netns was a slave of the
//! host's shared one). The template is a copy of the host's namespace with
//! every mount a slave of the host's and /run/netns detached. A launch
//! clones its init from inside it (see [`Entered`]), so it copies a few
//! dozen mounts whatever the number of sandboxes, and no later pin reaches it.
//!
//! Fresh, not just propagated: where the host's mounts are private (a host
//! without systemd, a test's own mount namespace), nothing propagates, so
//! each launch checks the host's mount IDs (without the netns pins and the
//! template's pins: see `mount_ids::Snapshot`) against the ones the
//! template was copied from, and remakes the template when the host's
//! mounts changed. A sandbox thus sees the host's mounts as of its launch,
//! as it did when it copied the host's namespace itself.
//!
//! The template is pinned by a bind mount of its nsfs file at
//! `STATE/mntns/host-INODE` (INODE: the host mount namespace it was made
//! from, so a state root used from two mount namespaces never hands one's
//! view to the other), its digest beside it. `STATE/mntns` is a private
//! mount of its own, so the pin propagates nowhere (not into the template
//! itself, which would then hold itself alive). [`release_if_idle`] removes
//! both when the state root has no sandbox left.

use super::mount_ids;
use anyhow::{Context, Result, anyhow};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag, open};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::stat::Mode;
use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The private folder under the state root that holds the pins.
const DIR: &str = "mntns";
/// Serialises making and removing the template (never held by a launch
/// that finds the template in place).
const LOCK: &str = "mntns.lock";

/// Below this many netns pins on the host, copying the host's table costs
/// less than making a template (measured: BENCHMARKS.md, "Mount namespace
/// cost"), and the init is cloned from the host's namespace.
const WORTH_IT: usize = 32;

/// The template of `state_dir` for the caller's mount namespace, made (or
/// remade) if there is none or if the host's mounts changed since it was
/// copied (see `mount_ids`): the one time a launch copies the host's whole
/// table. The descriptor keeps the namespace alive even if it is released
/// meanwhile. `None` when the host has few netns pins and no template, or
/// on a kernel that cannot list mounts (before 6.8): the init is then
/// cloned from the host's namespace, as it always was.
pub fn open_or_make(state_dir: &Path) -> Result<Option<OwnedFd>> {
    let pin = pin_path(state_dir)?;
    if let Some(fd) = open_fresh(state_dir, &pin)? {
        return Ok(Some(fd));
    }
    let netns = Path::new(crate::net::netns::NETNS_DIR);
    // A kernel without unique mount IDs (before 6.8) fails here: no template.
    match mount_ids::count_below(netns) {
        Ok(Some(pins)) if pins >= WORTH_IT => {}
        _ => return Ok(None),
    }
    let _lock = lock(state_dir)?;
    if let Some(fd) = open_fresh(state_dir, &pin)? {
        return Ok(Some(fd));
    }
    if !make(state_dir, &pin)? {
        return Ok(None);
    }
    let fd = open_pin(&pin)?
        .ok_or_else(|| anyhow!("pin the template mount namespace at {}", pin.display()))?;
    Ok(Some(fd))
}

/// The pinned template, if there is one and the host's table is still the
/// one it was copied from.
fn open_fresh(state_dir: &Path, pin: &Path) -> Result<Option<OwnedFd>> {
    let Some(fd) = open_pin(pin)? else {
        return Ok(None);
    };
    let stored = std::fs::read_to_string(digest_path(pin)).unwrap_or_default();
    let Some(snapshot) = mount_ids::Snapshot::parse(&stored) else {
        return Ok(None);
    };
    let (netns, pinned) = excluded(state_dir, pin)?;
    match snapshot.check(netns, &pinned)? {
        None => Ok(None),
        Some(advanced) => {
            // The same table, seen up to now: later checks walk less. Best
            // effort, atomic (another launch may do the same at once).
            if let Some(advanced) = advanced {
                let _ = store_digest(pin, &advanced);
            }
            Ok(Some(fd))
        }
    }
}

/// What a snapshot of the host's table leaves out: the mounts below
/// /run/netns (its ID), and the template's pin (one mount, known by its
/// path; none while it is being made).
fn excluded(state_dir: &Path, pin: &Path) -> Result<(u64, Vec<u64>)> {
    let netns = mount_ids::of(Path::new(crate::net::netns::NETNS_DIR))?;
    let dir = mount_ids::of(&state_dir.join(DIR))?;
    let pinned: Vec<u64> = match mount_ids::of(pin) {
        Ok(id) if id != dir => vec![id],
        _ => Vec::new(),
    };
    Ok((netns, pinned))
}

/// Writes the snapshot beside the template (temp file, then rename).
fn store_digest(pin: &Path, snapshot: &mount_ids::Snapshot) -> Result<()> {
    let path = digest_path(pin);
    let tmp = path.with_extension(format!("digest.tmp{}", std::process::id()));
    std::fs::write(&tmp, snapshot.to_text())
        .and_then(|()| std::fs::rename(&tmp, &path))
        .with_context(|| format!("write {}", path.display()))
}

/// Where the digest of the table a template was copied from is kept.
fn digest_path(pin: &Path) -> PathBuf {
    pin.with_extension("digest")
}

/// Removes the template's pins and their private mount when the state root
/// holds no sandbox (its `sandboxes` folder is empty): called when a sandbox
/// is cleaned up, so the last one to go takes the template with it. A
/// launch reserves its folder before it opens the template, so a launch in
/// flight always keeps it.
pub fn release_if_idle(state_dir: &Path) -> Result<()> {
    let dir = state_dir.join(DIR);
    if !dir.exists() || has_entries(&state_dir.join("sandboxes")) {
        return Ok(());
    }
    let _lock = lock(state_dir)?;
    if has_entries(&state_dir.join("sandboxes")) {
        return Ok(());
    }
    release(state_dir)
}

/// Removes every pin and the private mount under `state_dir`, whatever
/// runs (a launch holding the template's descriptor keeps it alive).
/// Idempotent.
pub fn release(state_dir: &Path) -> Result<()> {
    let dir = state_dir.join(DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("list {}", dir.display())),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        detach(&path)?;
        std::fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?;
    }
    detach(&dir)?;
    match std::fs::remove_dir(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("remove {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// While it lives, this single-threaded process is in the template's mount
/// namespace: a `CLONE_NEWNS` clone made now copies the template, not the
/// host. Dropping it returns to the host's namespace and working directory.
pub struct Entered {
    host: OwnedFd,
    cwd: OwnedFd,
}

impl Entered {
    /// Enters `template`. The caller must be single-threaded (the kernel
    /// refuses `setns` of a mount namespace otherwise: EINVAL).
    pub fn new(template: &OwnedFd) -> Result<Self> {
        let (host, cwd) = here()?;
        setns(template, CloneFlags::CLONE_NEWNS)
            .context("enter the template mount namespace (is sbx single-threaded?)")?;
        Ok(Entered { host, cwd })
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        back(&self.host, &self.cwd);
    }
}

/// The caller's mount namespace and working directory, to come back to.
fn here() -> Result<(OwnedFd, OwnedFd)> {
    let host = open(
        "/proc/self/ns/mnt",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context("open sbx's mount namespace")?;
    let cwd = open(
        ".",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context("open sbx's working directory")?;
    Ok((host, cwd))
}

/// Back to the host's namespace (setns resets the working directory to
/// the namespace's root, hence the fchdir). Failing here would leave sbx
/// without /run/netns: nothing sensible is left to do but end.
fn back(host: &OwnedFd, cwd: &OwnedFd) {
    if let Err(e) = setns(host, CloneFlags::CLONE_NEWNS) {
        eprintln!("sbx: return to the host's mount namespace: {e}");
        std::process::exit(super::EXIT_SBX_FAILED);
    }
    let _ = nix::unistd::fchdir(cwd);
}

/// `STATE/mntns/host-INODE` for the caller's mount namespace.
fn pin_path(state_dir: &Path) -> Result<PathBuf> {
    let ino = std::fs::metadata("/proc/self/ns/mnt")
        .context("stat sbx's mount namespace")?
        .ino();
    Ok(state_dir.join(DIR).join(format!("host-{ino}")))
}

/// The pinned namespace, or `None` when nothing (or only the bare file of
/// a pin being made or removed) is there.
fn open_pin(pin: &Path) -> Result<Option<OwnedFd>> {
    let fd = match open(pin, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("open {}", pin.display())),
    };
    let fs = nix::sys::statfs::fstatfs(&fd).with_context(|| format!("statfs {}", pin.display()))?;
    Ok((fs.filesystem_type() == nix::sys::statfs::NSFS_MAGIC).then_some(fd))
}

/// Makes the template and pins it (in place of a stale one): the one copy
/// of the host's whole table. The caller holds the lock and is
/// single-threaded. `false` when the kernel cannot list mounts.
fn make(state_dir: &Path, pin: &Path) -> Result<bool> {
    crate::net::netns::ensure_dir()?;
    let dir = state_dir.join(DIR);
    ensure_private_dir(&dir)?;
    // Taken before the copy: a mount made in between only makes the
    // template look stale once more.
    let (netns, pinned) = excluded(state_dir, pin)?;
    let Some(snapshot) = mount_ids::Snapshot::take(netns, &pinned)? else {
        return Ok(false);
    };
    let (host, cwd) = here()?;
    unshare(CloneFlags::CLONE_NEWNS).context("make the template mount namespace")?;
    let made = shape(&dir).and_then(|()| {
        File::open("/proc/self/ns/mnt").context("open the template mount namespace")
    });
    back(&host, &cwd);
    let template = made?;
    detach(pin)?;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_CLOEXEC)
        .open(pin)
        .with_context(|| format!("create {}", pin.display()))?;
    let source = format!("/proc/self/fd/{}", template.as_raw_fd());
    mount(
        Some(source.as_str()),
        pin,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("pin the template mount namespace at {}", pin.display()))?;
    store_digest(pin, &snapshot)?;
    Ok(true)
}

/// Inside the new template: everything a slave of the host (host mounts
/// propagate in, nothing propagates out), no netns pins, no template pins.
fn shape(pins: &Path) -> Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .context("make the template's mounts slaves of the host's")?;
    detach(Path::new(crate::net::netns::NETNS_DIR))?;
    detach(pins)
}

/// Lazily unmounts `path`; not a mount point (or gone) is fine.
fn detach(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("unmount {}", path.display())),
    }
}

/// Makes `dir` a private mount of its own (bound on itself the first time).
fn ensure_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let private = || {
        mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
    };
    if is_mount_point(dir)? {
        return private().with_context(|| format!("make {} private", dir.display()));
    }
    mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .with_context(|| format!("bind {} on itself", dir.display()))?;
    private().with_context(|| format!("make {} private", dir.display()))
}

/// Whether `dir` is the root of a mount (its mount is not its parent's).
fn is_mount_point(dir: &Path) -> Result<bool> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    Ok(mount_ids::of(dir)? != mount_ids::of(parent)?)
}

/// Whether `dir` lists anything (a missing folder lists nothing). Asked
/// at every sandbox's end, so a full folder answers from one `stat`: a
/// link count above 2 means subfolders (ext4, tmpfs, xfs count them; one
/// `getdents` of a folder of 1000 sandboxes took 0.6 ms on ext4). Only a
/// count of 2 or less (empty, or a file system that does not count) is
/// answered by listing.
fn has_entries(dir: &Path) -> bool {
    if std::fs::metadata(dir).is_ok_and(|m| m.nlink() > 2) {
        return true;
    }
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
}

/// The template's lock, held while it is made or removed.
fn lock(state_dir: &Path) -> Result<Flock<File>> {
    let path = state_dir.join(LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path)
        .with_context(|| format!("open lock file {}", path.display()))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| errno)
        .with_context(|| format!("lock {}", path.display()))
}
