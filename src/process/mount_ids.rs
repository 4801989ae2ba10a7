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
    let mut ids = Vec::new();
    let mut buf = vec![0u64; 1024];
    loop {
        let req = MntIdReq {
            size: std::mem::size_of::<MntIdReq>() as u32,
            spare: 0,
            mnt_id: parent,
            param: ids.last().copied().unwrap_or(0),
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

/// A digest of the caller's mount table without the mounts below each of
/// `below_these` (mount IDs: /run/netns) and without `these` (the
/// template's pin). IDs are never reused, so any mount made or removed
/// elsewhere changes it. `None` when the kernel cannot list mounts (before
/// 6.8).
pub fn digest(below_these: &[u64], these: &[u64]) -> Result<Option<String>> {
    let Some(mut all) = below(LSMT_ROOT)? else {
        return Ok(None);
    };
    for &parent in below_these {
        let Some(under) = below(parent)? else {
            return Ok(None);
        };
        all.retain(|id| under.binary_search(id).is_err());
    }
    all.retain(|id| !these.contains(id));
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for id in &all {
        hash = (hash ^ id).wrapping_mul(0x0100_0000_01b3);
    }
    Ok(Some(format!("{} {:016x}", all.len(), hash)))
}
