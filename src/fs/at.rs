//! Paths and mounts anchored at a directory file descriptor, so a rootfs
//! that changes under sbx (a neighbour sandbox sharing it swaps a path
//! component for a symlink to a host folder) can never make sbx create or
//! mount anything outside it (issue 8, item 2). Every lookup is an
//! `openat2(RESOLVE_IN_ROOT)` from the root's descriptor; every creation is
//! an `*at` call in the descriptor of its parent, found by a walk that
//! opens each component beneath the previous one without following links
//! (`RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS`); every mount ([`super::newmount`])
//! goes onto a descriptor, never onto a name resolved a second time.

use anyhow::{Context, Result, bail};
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, open, openat, openat2, readlinkat};
use nix::sys::stat::{Mode, fstat, mkdirat};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

/// Lookups inside a root: symlinks are followed as the sandbox would
/// follow them (absolute ones restart at the root, `..` stops there), and
/// `/proc` magic links, which could lead anywhere, are refused.
const IN_ROOT: ResolveFlag = ResolveFlag::RESOLVE_IN_ROOT.union(ResolveFlag::RESOLVE_NO_MAGICLINKS);

/// One step of a creating walk: the entry itself, beneath its parent,
/// following nothing.
const BENEATH: ResolveFlag = ResolveFlag::RESOLVE_BENEATH
    .union(ResolveFlag::RESOLVE_NO_SYMLINKS)
    .union(ResolveFlag::RESOLVE_NO_MAGICLINKS);

/// What a mount point must be: a bind of a folder and a filesystem need a
/// folder, a bind of a file needs a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// Anything else (a regular file, a device node, ...).
    File,
}

/// An `O_PATH` descriptor of the directory `path` (of the host), the anchor
/// for everything resolved under it.
pub fn open_root(path: &Path) -> Result<OwnedFd> {
    open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("open {}", path.display()))
}

/// Resolves `inside` (absolute, seen from the sandbox) under `root` to an
/// `O_PATH` descriptor; the kernel keeps every step inside `root`.
pub fn resolve(root: &OwnedFd, inside: &Path) -> nix::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(IN_ROOT);
    openat2(root, inside, how)
}

/// Opens the mount point `inside` under `root`, creating what is missing
/// when `create` (a rootfs; never on the host's own root): folder by
/// folder, each made with `mkdirat` in the descriptor of its parent and
/// opened beneath it, a missing file with `O_CREAT|O_EXCL|O_NOFOLLOW`, a
/// dangling symlink followed (inside `root`) to where it points. Whatever
/// races with it, the result is inside `root`. Errors name `inside` and say
/// what to do; the root itself is refused as a mount point.
pub fn ensure(root: &OwnedFd, inside: &Path, kind: Kind, create: bool) -> Result<OwnedFd> {
    let fd = match resolve(root, inside) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) if create => create_path(root, inside, kind)?,
        Err(e) => return Err(lookup_error(inside, e)),
    };
    if same_file(&fd, root)? {
        bail!(
            "{} is the sandbox's root: nothing can be mounted on /; use --rootfs to choose the root",
            inside.display()
        );
    }
    check_kind(fd, inside, kind)
}

/// The one-line reason a mount point cannot be used.
pub fn lookup_error(inside: &Path, e: Errno) -> anyhow::Error {
    match e {
        Errno::ENOENT => anyhow::anyhow!(
            "mount point {} does not exist on the host root: create it, or use --rootfs",
            inside.display()
        ),
        Errno::ENOTDIR => anyhow::anyhow!(
            "mount point {}: a part of the path is a file, not a directory: choose another target",
            inside.display()
        ),
        Errno::ELOOP => anyhow::anyhow!(
            "mount point {}: too many symbolic links: choose another target",
            inside.display()
        ),
        e => anyhow::anyhow!("mount point {}: {e}", inside.display()),
    }
}

/// The creating walk of [`ensure`]: component by component, each opened
/// beneath the descriptor of its parent without following anything
/// (`RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS`), so what it finds cannot be
/// swapped out from under it. A symlink is read and its target walked in
/// its place (an absolute one from `root`); `..` stops at `root`; a missing
/// component is made in its parent's descriptor and opened again. A racer
/// can make a step repeat, never leave `root`.
fn create_path(root: &OwnedFd, inside: &Path, kind: Kind) -> Result<OwnedFd> {
    const MAX_LINKS: u32 = 40;
    const MAX_STEPS: u32 = 4096;
    let reopen = |fd: &OwnedFd| resolve(fd, Path::new("/"));
    let mut pending: VecDeque<OsString> = parts(inside);
    let mut parent = reopen(root).map_err(|e| lookup_error(inside, e))?;
    let (mut links, mut steps) = (0, 0);
    while let Some(name) = pending.pop_front() {
        steps += 1;
        if steps > MAX_STEPS {
            bail!(
                "mount point {}: changes too often to be made",
                inside.display()
            );
        }
        let last = pending.is_empty();
        if name == ".." {
            if !same_file(&parent, root)? {
                parent = openat(
                    &parent,
                    "..",
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| lookup_error(inside, e))?;
            }
            continue;
        }
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
            .resolve(BENEATH);
        let fd = match openat2(&parent, name.as_os_str(), how) {
            Ok(fd) => fd,
            Err(Errno::ELOOP) => {
                // A symlink: walk its target instead, inside the root.
                let Ok(target) = readlinkat(&parent, name.as_os_str()) else {
                    pending.push_front(name); // no longer a link: look again
                    continue;
                };
                links += 1;
                if links > MAX_LINKS {
                    return Err(lookup_error(inside, Errno::ELOOP));
                }
                let target = PathBuf::from(target);
                if target.is_absolute() {
                    parent = reopen(root).map_err(|e| lookup_error(inside, e))?;
                }
                let mut next = parts(&target);
                next.extend(pending);
                pending = next;
                continue;
            }
            Err(Errno::ENOENT) => {
                let made = if last && kind == Kind::File {
                    openat(
                        &parent,
                        name.as_os_str(),
                        OFlag::O_CREAT
                            | OFlag::O_EXCL
                            | OFlag::O_NOFOLLOW
                            | OFlag::O_WRONLY
                            | OFlag::O_CLOEXEC,
                        Mode::from_bits_truncate(0o644),
                    )
                    .map(drop)
                } else {
                    mkdirat(&parent, name.as_os_str(), Mode::from_bits_truncate(0o755))
                };
                match made {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => bail!("create mount point {}: {e}", inside.display()),
                }
                pending.push_front(name); // open what is there now
                continue;
            }
            Err(e) => return Err(lookup_error(inside, e)),
        };
        if !last && !is_dir(&fd)? {
            return Err(lookup_error(inside, Errno::ENOTDIR));
        }
        parent = fd;
    }
    Ok(parent)
}

/// A path's normal and `..` components, in order (`..` is kept: the
/// kernel stops it at the root).
fn parts(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// Whether two descriptors name the same file (device and inode).
pub fn same_file(a: &OwnedFd, b: &OwnedFd) -> Result<bool> {
    let a = fstat(a).context("stat a mount point")?;
    let b = fstat(b).context("stat the root")?;
    Ok(a.st_dev == b.st_dev && a.st_ino == b.st_ino)
}

/// Refuses a folder where a file is needed and the other way round (the
/// kernel would say only ENOTDIR).
pub fn check_kind(fd: OwnedFd, inside: &Path, kind: Kind) -> Result<OwnedFd> {
    let dir = is_dir(&fd)?;
    match (kind, dir) {
        (Kind::Dir, false) => bail!(
            "mount point {} is a file, but a directory is mounted on it: choose another target",
            inside.display()
        ),
        (Kind::File, true) => bail!(
            "mount point {} is a directory, but a file is mounted on it: choose another target",
            inside.display()
        ),
        _ => Ok(fd),
    }
}

/// Whether `fd` is a directory.
pub fn is_dir(fd: &OwnedFd) -> Result<bool> {
    let stat = fstat(fd).context("stat a mount point")?;
    Ok(stat.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_and_creation_stay_inside_the_root() {
        let base = std::env::temp_dir().join(format!("sbx-unit-at-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root_dir = base.join("root");
        let outside = base.join("outside");
        std::fs::create_dir_all(root_dir.join("etc")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root_dir.join("etc/hosts"), "").unwrap();
        // Absolute and climbing links that would lead out if followed on the host.
        std::os::unix::fs::symlink(&outside, root_dir.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../outside", root_dir.join("climb")).unwrap();
        std::os::unix::fs::symlink("/", root_dir.join("toroot")).unwrap();
        // A dangling absolute link is followed inside the root, as the sandbox would.
        std::os::unix::fs::symlink(outside.join("hostname"), root_dir.join("etc/hostname"))
            .unwrap();
        let root = open_root(&root_dir).unwrap();
        ensure(&root, Path::new("/etc/hostname"), Kind::File, true).unwrap();
        let inner = root_dir.join(outside.strip_prefix("/").unwrap());
        assert!(inner.join("hostname").is_file());

        ensure(&root, Path::new("/abs/new/dir"), Kind::Dir, true).unwrap();
        ensure(&root, Path::new("/climb/file"), Kind::File, true).unwrap();
        assert!(inner.join("new/dir").is_dir());
        assert!(
            root_dir.join("outside/file").is_file(),
            "../.. stops at the root"
        );
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "nothing outside"
        );

        let err = |p: &str, k| {
            ensure(&root, Path::new(p), k, true)
                .unwrap_err()
                .to_string()
        };
        assert!(err("/etc/hosts", Kind::Dir).contains("is a file"));
        assert!(err("/etc", Kind::File).contains("is a directory"));
        assert!(err("/etc/hosts/x", Kind::Dir).contains("is a file, not a directory"));
        assert!(err("/toroot", Kind::Dir).contains("the sandbox's root"));
        assert!(err("/toroot/.", Kind::Dir).contains("the sandbox's root"));
        let missing = ensure(&root, Path::new("/nope"), Kind::Dir, false).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("does not exist on the host root")
        );
        assert!(!root_dir.join("nope").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
