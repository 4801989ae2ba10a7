//! Unpacking one layer tar into a fresh folder, safely: every entry is made
//! with an `*at` call in the descriptor of its parent folder, found from
//! the layer's root by `openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)`, so a
//! symlink the layer made earlier is never followed (a layer whose entry
//! goes through one is refused, naming the entry), nor is anything outside
//! the folder reached. OCI whiteouts become overlayfs's (see [`paths`]).
//! Mode, owner, mtime and xattrs are kept (sbx runs as root); xattrs in
//! overlayfs's own `trusted.overlay.` namespace are not, since they would
//! steer the overlay.

use super::paths::{self, Whiteout};
use anyhow::{Context, Result, bail};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::{Mode, SFlag, fstatat, mkdirat, mknodat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchownat, linkat, symlinkat, unlinkat};
use std::ffi::{CString, OsString};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Each step beneath its parent, following no symlink at all.
const BENEATH: ResolveFlag = ResolveFlag::RESOLVE_BENEATH
    .union(ResolveFlag::RESOLVE_NO_SYMLINKS)
    .union(ResolveFlag::RESOLVE_NO_MAGICLINKS);

/// Why a layer stream could not be read as a tar (the caller names the
/// layer): said in words, never with the bytes the tar reader choked on.
#[derive(Debug, PartialEq, Eq)]
pub enum Broken {
    /// The first header does not parse: not a tar at all.
    NotTar,
    /// The stream ends early (a cut file, a truncated gzip).
    Truncated,
    /// A later header or the compressed stream is damaged.
    Damaged,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Broken::NotTar => "is not a tar archive",
            Broken::Truncated => "is truncated",
            Broken::Damaged => "is damaged (a tar header or its compression does not parse)",
        })
    }
}

impl std::error::Error for Broken {}

/// What `err` (from reading a layer stream) says about the stream:
/// truncated when an I/O error in its chain is an unexpected end of file.
pub fn broken(err: &anyhow::Error) -> Option<Broken> {
    if let Some(b) = err.downcast_ref::<Broken>() {
        return Some(match b {
            Broken::NotTar => Broken::NotTar,
            Broken::Truncated => Broken::Truncated,
            Broken::Damaged => Broken::Damaged,
        });
    }
    let eof = err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::UnexpectedEof)
    });
    eof.then_some(Broken::Truncated)
}

/// A read error of the tar stream at entry number `seen` (0: the first).
fn tar_error(e: std::io::Error, seen: usize) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Broken::Truncated.into()
    } else if seen == 0 {
        Broken::NotTar.into()
    } else {
        Broken::Damaged.into()
    }
}

/// Unpacks the tar stream `reader` into the empty folder `dest`.
/// Errors: [`Broken`] for a stream that is no (whole) tar; a refusal
/// naming the entry for one that would write outside the layer.
pub fn unpack(reader: impl Read, dest: &Path) -> Result<()> {
    let root = nix::fcntl::open(
        dest,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("open {}", dest.display()))?;
    let mut archive = tar::Archive::new(reader);
    let mut dir_times: Vec<(Vec<OsString>, u64)> = Vec::new();
    let mut buf = vec![0u8; COPY_BUFFER];
    let entries = archive.entries().map_err(|e| tar_error(e, 0))?;
    for (seen, entry) in entries.enumerate() {
        let mut entry = entry.map_err(|e| tar_error(e, seen))?;
        let name = PathBuf::from(std::ffi::OsStr::from_bytes(&entry.path_bytes()));
        let mut parts = paths::components(&name)?;
        let Some(last) = parts.pop() else {
            continue; // the layer's root itself: the store's folder stays as made
        };
        let parent = open_dir(&root, &parts, &name)?;
        match paths::whiteout(&name, &last)? {
            Whiteout::Ignored => continue,
            Whiteout::Opaque => {
                set_xattr(&parent, "trusted.overlay.opaque", b"y")
                    .with_context(|| format!("mark {} opaque", name.display()))?;
                continue;
            }
            Whiteout::Delete(target) => {
                clear(&parent, &target, false, &name)?;
                mknodat(
                    &parent,
                    target.as_os_str(),
                    SFlag::S_IFCHR,
                    Mode::empty(),
                    0,
                )
                .with_context(|| format!("make the whiteout {}", name.display()))?;
                continue;
            }
            Whiteout::None => {}
        }
        let header = entry.header().clone();
        let kind = header.entry_type();
        let mode = Mode::from_bits_truncate(header.mode().unwrap_or(0o644) & 0o7777);
        let uid = header.uid().unwrap_or(0) as u32;
        let gid = header.gid().unwrap_or(0) as u32;
        let mtime = header.mtime().unwrap_or(0);
        let xattrs = xattrs(&mut entry)?;
        let made = |what: &str| format!("unpack {} ({what})", name.display());
        let fd = match kind {
            tar::EntryType::Directory => {
                clear(&parent, &last, true, &name)?;
                match mkdirat(&parent, last.as_os_str(), Mode::from_bits_truncate(0o700)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e).with_context(|| made("folder")),
                }
                let mut full = parts.clone();
                full.push(last.clone());
                dir_times.push((full, mtime));
                Some(step(
                    &parent,
                    &last,
                    OFlag::O_DIRECTORY | OFlag::O_RDONLY,
                    &name,
                )?)
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                clear(&parent, &last, false, &name)?;
                let fd = openat(
                    &parent,
                    last.as_os_str(),
                    OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_WRONLY
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .with_context(|| made("file"))?;
                let mut file = std::fs::File::from(fd);
                copy_all(&mut entry, &mut file, &mut buf).with_context(|| made("contents"))?;
                Some(OwnedFd::from(file))
            }
            tar::EntryType::Symlink => {
                clear(&parent, &last, false, &name)?;
                let target = entry
                    .link_name_bytes()
                    .map(|b| b.into_owned())
                    .unwrap_or_default();
                symlinkat(
                    std::ffi::OsStr::from_bytes(&target),
                    &parent,
                    last.as_os_str(),
                )
                .with_context(|| made("symlink"))?;
                fchownat(
                    &parent,
                    last.as_os_str(),
                    Some(Uid::from_raw(uid)),
                    Some(Gid::from_raw(gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .with_context(|| made("owner"))?;
                let t = TimeSpec::new(mtime as i64, 0);
                nix::sys::stat::utimensat(
                    &parent,
                    last.as_os_str(),
                    &t,
                    &t,
                    nix::sys::stat::UtimensatFlags::NoFollowSymlink,
                )
                .with_context(|| made("mtime"))?;
                None
            }
            tar::EntryType::Link => {
                let target_bytes = entry
                    .link_name_bytes()
                    .map(|b| b.into_owned())
                    .unwrap_or_default();
                let target = PathBuf::from(std::ffi::OsStr::from_bytes(&target_bytes));
                let mut tparts = paths::components(&target).with_context(|| {
                    format!("hard link {} to {}", name.display(), target.display())
                })?;
                let Some(tlast) = tparts.pop() else {
                    bail!(
                        "hard link {} names the layer's root: refused",
                        name.display()
                    );
                };
                let tparent = open_dir(&root, &tparts, &target)?;
                clear(&parent, &last, false, &name)?;
                // Without AT_SYMLINK_FOLLOW: a link to a symlink links the
                // symlink itself, never what it points at.
                linkat(
                    &tparent,
                    tlast.as_os_str(),
                    &parent,
                    last.as_os_str(),
                    AtFlags::empty(),
                )
                .with_context(|| {
                    format!(
                        "hard link {} to {} (which must be earlier in the same layer)",
                        name.display(),
                        target.display()
                    )
                })?;
                continue; // the link shares its target's metadata
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                clear(&parent, &last, false, &name)?;
                let (sflag, dev) = match kind {
                    tar::EntryType::Char => (SFlag::S_IFCHR, device(&header)),
                    tar::EntryType::Block => (SFlag::S_IFBLK, device(&header)),
                    _ => (SFlag::S_IFIFO, 0),
                };
                mknodat(&parent, last.as_os_str(), sflag, mode, dev)
                    .with_context(|| made("device node"))?;
                Some(step(&parent, &last, OFlag::O_PATH, &name)?)
            }
            _ => continue, // pax/GNU metadata entries: the crate applies them
        };
        if let Some(fd) = fd {
            finish(&fd, kind, uid, gid, mode, mtime, &xattrs).with_context(|| made("metadata"))?;
        }
    }
    // Folder mtimes last: every entry made in one changed it.
    for (parts, mtime) in dir_times.iter().rev() {
        let fd = open_dir(
            &root,
            parts,
            Path::new(&parts.join(std::ffi::OsStr::new("/"))),
        )?;
        let t = TimeSpec::new(*mtime as i64, 0);
        nix::sys::stat::futimens(&fd, &t, &t).context("set a folder's mtime")?;
    }
    Ok(())
}

/// Bytes moved per read and write when a file's contents are copied: 1 MiB
/// rather than `io::copy`'s 8 KiB, so a large layer costs a few hundred
/// system calls per 100 MB instead of tens of thousands.
pub const COPY_BUFFER: usize = 1 << 20;

/// Copies everything `from` yields into `to` through `buf`.
pub fn copy_all(
    from: &mut impl Read,
    to: &mut impl std::io::Write,
    buf: &mut [u8],
) -> std::io::Result<u64> {
    let mut total = 0;
    loop {
        let n = match from.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// Owner, then mode (a chown clears set-id bits), xattrs, mtime.
fn finish(
    fd: &OwnedFd,
    kind: tar::EntryType,
    uid: u32,
    gid: u32,
    mode: Mode,
    mtime: u64,
    xattrs: &[(String, Vec<u8>)],
) -> Result<()> {
    if matches!(
        kind,
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo
    ) {
        // An O_PATH descriptor: chown through the empty path, mode was set
        // by mknodat (less the umask: set it again the same way).
        fchownat(
            fd,
            "",
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::AT_EMPTY_PATH,
        )?;
        return Ok(());
    }
    nix::unistd::fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))?;
    nix::sys::stat::fchmod(fd, mode)?;
    for (key, value) in xattrs {
        set_xattr(fd, key, value)?;
    }
    let t = TimeSpec::new(mtime as i64, 0);
    nix::sys::stat::futimens(fd, &t, &t)?;
    Ok(())
}

/// The entry's xattrs (pax `SCHILY.xattr.NAME`), less overlayfs's own.
fn xattrs(entry: &mut tar::Entry<impl Read>) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    if let Some(exts) = entry.pax_extensions().context("read pax headers")? {
        for ext in exts {
            let ext = ext.context("read a pax header")?;
            let Ok(key) = ext.key() else { continue };
            if let Some(name) = key.strip_prefix("SCHILY.xattr.")
                && !name.starts_with("trusted.overlay.")
            {
                out.push((name.to_string(), ext.value_bytes().to_vec()));
            }
        }
    }
    Ok(out)
}

fn device(header: &tar::Header) -> u64 {
    let major = header.device_major().ok().flatten().unwrap_or(0);
    let minor = header.device_minor().ok().flatten().unwrap_or(0);
    nix::sys::stat::makedev(u64::from(major), u64::from(minor))
}

fn set_xattr(fd: &impl AsFd, key: &str, value: &[u8]) -> Result<()> {
    let key_c = CString::new(key).context("an xattr name with a NUL byte")?;
    // SAFETY: a valid descriptor, a NUL-terminated name, a buffer alive for the call.
    let rc = unsafe {
        libc::fsetxattr(
            fd.as_fd().as_raw_fd(),
            key_c.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(rc).with_context(|| format!("set xattr {key}"))?;
    Ok(())
}

/// Opens one component beneath `parent`, following nothing.
fn step(parent: &OwnedFd, name: &OsString, flags: OFlag, entry: &Path) -> Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
        .resolve(BENEATH);
    match openat2(parent, name.as_os_str(), how) {
        Ok(fd) => Ok(fd),
        Err(Errno::ELOOP) => bail!(
            "layer entry {} goes through a symlink ({}): refused (a layer may only write inside itself)",
            entry.display(),
            name.to_string_lossy()
        ),
        Err(e) => Err(e).with_context(|| format!("open {}", entry.display())),
    }
}

/// The folder `parts` below `root`, made (0755, root's) where missing; a
/// symlink or a non-folder on the way refuses `entry`.
fn open_dir(root: &OwnedFd, parts: &[OsString], entry: &Path) -> Result<OwnedFd> {
    let mut dir = nix::unistd::dup(root).context("dup the layer's folder")?;
    for part in parts {
        match mkdirat(&dir, part.as_os_str(), Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => {
                return Err(e).with_context(|| format!("make the folder of {}", entry.display()));
            }
        }
        if fstatat(&dir, part.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
            .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK)
        {
            bail!(
                "layer entry {} goes through the symlink {} (an earlier entry): refused (a layer may only write inside itself; write the path without the symlink)",
                entry.display(),
                parts_up_to(parts, part).display()
            );
        }
        dir = match step(&dir, part, OFlag::O_DIRECTORY | OFlag::O_RDONLY, entry) {
            Ok(fd) => fd,
            Err(e) if e.root_cause().to_string().contains("ENOTDIR") => bail!(
                "layer entry {}: {} is not a folder",
                entry.display(),
                part.to_string_lossy()
            ),
            Err(e) => return Err(e),
        };
    }
    Ok(dir)
}

/// The path of `parts` up to and including `last` (a component of it).
fn parts_up_to(parts: &[OsString], last: &OsString) -> PathBuf {
    let mut path = PathBuf::new();
    for p in parts {
        path.push(p);
        if std::ptr::eq(p, last) {
            break;
        }
    }
    path
}

/// Makes room for a new entry `name` in `parent`: an earlier entry of the
/// same name goes (a folder stays when a folder comes again).
fn clear(parent: &OwnedFd, name: &OsString, dir_again: bool, entry: &Path) -> Result<()> {
    let stat = match fstatat(parent, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(s) => s,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("look at {}", entry.display())),
    };
    let is_dir = stat.st_mode & libc::S_IFMT == libc::S_IFDIR;
    if is_dir && dir_again {
        return Ok(());
    }
    let flag = if is_dir {
        UnlinkatFlags::RemoveDir
    } else {
        UnlinkatFlags::NoRemoveDir
    };
    unlinkat(parent, name.as_os_str(), flag)
        .with_context(|| format!("replace {} (an earlier entry)", entry.display()))
}
