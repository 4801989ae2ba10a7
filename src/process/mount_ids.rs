//! The host's mount table as a set of unique mount IDs (listmount(2), Linux
//! 6.8+), cheap enough to take at every launch: no text, no parsing, about
//! a microsecond per thousand mounts in the kernel's walk. The template
//! mount namespace is fresh while the host's mounts, apart from the netns
//! pins and the template's own pins, are the ones it was copied from.

use anyhow::{Context, Result};
use std::path::Path;

/// listmount(2)'s number (the same on every architecture sbx builds for:
/// asm-generic/unistd.h and arch/x86/entry/syscalls/syscall_64.tbl).
const SYS_LISTMOUNT: libc::c_long = 458;
/// "The root of the caller's mount namespace" (uapi linux/mount.h).
const LSMT_ROOT: u64 = u64::MAX;
/// statx: ask for the 64-bit unique mount ID (uapi linux/stat.h, 6.8+).
const STATX_MNT_ID_UNIQUE: u32 = 0x4000;

/// uapi `struct mnt_id_req`, first version (MNT_ID_REQ_SIZE_VER0).
#[repr(C)]
struct MntIdReq {
    size: u32,
    spare: u32,
    mnt_id: u64,
    param: u64,
}

/// IDs of the mounts below `parent` (all of the namespace for
/// [`LSMT_ROOT`]), ascending; `None` when the kernel has no listmount.
fn below(parent: u64) -> Result<Option<Vec<u64>>> {
    below_after(parent, 0)
}

/// [`below`], only the IDs above `after`. The kernel walks the namespace's
/// mounts in ID order from `after` on, so this costs what it returns.
fn below_after(parent: u64, after: u64) -> Result<Option<Vec<u64>>> {
    let mut ids = Vec::new();
    let mut buf = vec![0u64; 1024];
    loop {
        let req = MntIdReq {
            size: std::mem::size_of::<MntIdReq>() as u32,
            spare: 0,
            mnt_id: parent,
            param: ids.last().copied().unwrap_or(after),
        };
        // SAFETY: the kernel reads `req` and writes at most `buf.len()` IDs.
        let n = unsafe {
            libc::syscall(
                SYS_LISTMOUNT,
                &req as *const MntIdReq,
                buf.as_mut_ptr(),
                buf.len(),
                0u64,
            )
        };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ENOSYS) {
                return Ok(None);
            }
            return Err(err).context("list the host's mounts (listmount)");
        }
        let n = n as usize;
        ids.extend_from_slice(&buf[..n]);
        if n < buf.len() {
            return Ok(Some(ids));
        }
    }
}

/// The unique ID of the mount `path` is on (its top mount, if stacked).
pub fn of(path: &Path) -> Result<u64> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .with_context(|| format!("path {}", path.display()))?;
    // SAFETY: statx writes at most one `struct statx` into `buf`.
    let mut buf: libc::statx = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statx(libc::AT_FDCWD, c.as_ptr(), 0, STATX_MNT_ID_UNIQUE, &mut buf) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("statx {}", path.display()));
    }
    anyhow::ensure!(
        buf.stx_mask & STATX_MNT_ID_UNIQUE != 0,
        "the kernel gave no unique mount ID for {}",
        path.display()
    );
    Ok(buf.stx_mnt_id)
}

/// How many mounts are below `path`'s mount; `None` without listmount.
pub fn count_below(path: &Path) -> Result<Option<usize>> {
    Ok(below(of(path)?)?.map(|ids| ids.len()))
}

/// The host's mount table as a template was copied from it: the IDs of
/// its mounts other than the netns pins and the template's own pins
/// (`kept`), and the highest mount ID the table had then or was last
/// checked against (`seen`). IDs are never reused and grow, so the table
/// is unchanged (but for pins) while every kept mount still exists and
/// every mount with an ID above `seen` is a pin. Checking that costs a
/// `statmount` per kept mount (a few dozen) and a walk of the mounts made
/// since `seen`, not a walk of the whole table: with 1000 sandboxes the
/// two whole walks the check was before cost 0.9 ms of every launch
/// (BENCHMARKS.md, issue 9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    kept: Vec<u64>,
    seen: u64,
}

/// After this many pins made since `seen`, a check that finds the table
/// unchanged moves `seen` up, so the walk stays short.
const ADVANCE_AFTER: usize = 64;

impl Snapshot {
    /// Takes the caller's table now, without the mounts below `netns` and
    /// without `these`. `None` when the kernel cannot list mounts (before
    /// 6.8).
    pub fn take(netns: u64, these: &[u64]) -> Result<Option<Self>> {
        let Some(all) = below(LSMT_ROOT)? else {
            return Ok(None);
        };
        let Some(under) = below(netns)? else {
            return Ok(None);
        };
        let seen = all.last().copied().unwrap_or(0);
        let kept = all
            .into_iter()
            .filter(|id| under.binary_search(id).is_err() && !these.contains(id))
            .collect();
        Ok(Some(Snapshot { kept, seen }))
    }

    /// Whether the caller's table is still this one, but for mounts below
    /// `netns` and `these`: `Some(fresh)` with, when the walk grew long, a
    /// snapshot to keep instead (the same table, seen up to now); `None`
    /// when it changed (or cannot be told).
    pub fn check(&self, netns: u64, these: &[u64]) -> Result<Option<Option<Snapshot>>> {
        for &id in &self.kept {
            if !exists(id)? {
                return Ok(None);
            }
        }
        let Some(new) = below_after(LSMT_ROOT, self.seen)? else {
            return Ok(None);
        };
        let Some(pins) = below_after(netns, self.seen)? else {
            return Ok(None);
        };
        if new
            .iter()
            .any(|id| pins.binary_search(id).is_err() && !these.contains(id))
        {
            return Ok(None);
        }
        let advanced = (new.len() >= ADVANCE_AFTER).then(|| Snapshot {
            kept: self.kept.clone(),
            seen: new.last().copied().unwrap_or(self.seen),
        });
        Ok(Some(advanced))
    }

    /// As stored beside the template: `v2 SEEN ID...`.
    pub fn to_text(&self) -> String {
        let mut text = format!("v2 {}", self.seen);
        for id in &self.kept {
            text.push_str(&format!(" {id}"));
        }
        text
    }

    /// Reads [`Snapshot::to_text`]; anything else (an older sbx's digest)
    /// is `None`, which makes the template stale once.
    pub fn parse(text: &str) -> Option<Self> {
        let mut words = text.split_whitespace();
        (words.next()? == "v2").then_some(())?;
        let seen = words.next()?.parse().ok()?;
        let kept = words
            .map(|w| w.parse().ok())
            .collect::<Option<Vec<u64>>>()?;
        Some(Snapshot { kept, seen })
    }
}

/// statmount(2)'s number (asm-generic/unistd.h, syscall_64.tbl).
const SYS_STATMOUNT: libc::c_long = 457;
/// statmount(2): the mount's IDs and attributes (uapi linux/mount.h).
const STATMOUNT_MNT_BASIC: u64 = 0x2;

/// Whether the mount with unique ID `id` is still in the caller's
/// namespace (one statmount(2): ENOENT once it is unmounted).
fn exists(id: u64) -> Result<bool> {
    let req = MntIdReq {
        size: std::mem::size_of::<MntIdReq>() as u32,
        spare: 0,
        mnt_id: id,
        param: STATMOUNT_MNT_BASIC,
    };
    // `struct statmount` without strings: 512 bytes (6.8-6.18).
    let mut buf = [0u64; 64];
    // SAFETY: the kernel reads `req` and writes at most `size_of_val(&buf)` bytes.
    let rc = unsafe {
        libc::syscall(
            SYS_STATMOUNT,
            &req as *const MntIdReq,
            buf.as_mut_ptr(),
            std::mem::size_of_val(&buf),
            0u32,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ENOENT) => Ok(false),
        _ => Err(err).context("look up a mount (statmount)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_read_back_and_older_digests_do_not() {
        let snap = Snapshot {
            kept: vec![3, 17, 40],
            seen: 99,
        };
        assert_eq!(Snapshot::parse(&snap.to_text()), Some(snap));
        assert_eq!(Snapshot::parse("21 00ab12cd34ef5678"), None);
        assert_eq!(Snapshot::parse("v2 x 1"), None);
        assert_eq!(Snapshot::parse(""), None);
    }

    #[test]
    fn the_callers_table_is_fresh_against_itself_and_stale_when_a_mount_goes() {
        let root = of(Path::new("/")).expect("the root's mount ID");
        // No netns folder needed: nothing is below the root's own mount ID
        // but everything, so take `netns` as a mount with nothing below:
        // the newest mount (or, in a test without listmount, stop).
        let Ok(Some(all)) = below(LSMT_ROOT) else {
            return;
        };
        let leaf = *all.last().unwrap_or(&root);
        let snap = Snapshot::take(leaf, &[]).expect("take").expect("listmount");
        assert_eq!(snap.check(leaf, &[]).expect("check"), Some(None));
        let mut gone = snap.clone();
        gone.kept.push(u64::MAX - 1);
        assert_eq!(gone.check(leaf, &[]).expect("check"), None);
        // A mount "made" after the snapshot that is no pin: stale.
        let mut older = snap.clone();
        older.seen = older.kept.iter().rev().nth(1).copied().unwrap_or(0);
        older.kept.retain(|id| *id <= older.seen);
        if older.kept.len() < snap.kept.len() {
            assert_eq!(older.check(leaf, &[]).expect("check"), None);
        }
    }
}
