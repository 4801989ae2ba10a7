//! Network namespaces as files under /run/netns, so `ip netns exec sbx-NAME`
//! works and the namespace's life is tied to a mount sbx can remove.

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

pub use crate::model::NETNS_DIR;

/// The netns file of a sandbox.
pub fn path_for(sandbox: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(format!("sbx-{sandbox}"))
}

/// Makes /run/netns a shared mount on itself (what `ip netns add` does the
/// first time), so a netns bind mount removed on the host also disappears
/// from mount namespaces cloned while it existed, and the netns can die.
pub fn ensure_dir() -> Result<()> {
    // Already so (every launch after the first): nothing to do. Making it
    // shared again (`MS_REC`) walked every pin below it, 0.5-0.9 ms a
    // launch with 1000 sandboxes (BENCHMARKS.md, issue 9); a pin made
    // below a shared mount is shared itself, so the first time is enough.
    if is_shared_mount(Path::new(NETNS_DIR)) {
        return Ok(());
    }
    std::fs::create_dir_all(NETNS_DIR).with_context(|| format!("create {NETNS_DIR}"))?;
    let shared = || {
        mount(
            None::<&str>,
            NETNS_DIR,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match shared() {
        Ok(()) => Ok(()),
        Err(Errno::EINVAL) => {
            mount(
                Some(NETNS_DIR),
                NETNS_DIR,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .with_context(|| format!("bind {NETNS_DIR} on itself"))?;
            shared().with_context(|| format!("make {NETNS_DIR} a shared mount"))
        }
        Err(e) => Err(e).with_context(|| format!("make {NETNS_DIR} a shared mount")),
    }
}

/// Pins the netns of process `pid` at `path`. Refuses to replace an existing
/// file: that name belongs to a sandbox of another state root.
pub fn bind(pid: i32, path: &Path) -> Result<()> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("create netns file {}", path.display()))?;
    let source = format!("/proc/{pid}/ns/net");
    if let Err(e) = mount(
        Some(source.as_str()),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    ) {
        let _ = std::fs::remove_file(path);
        return Err(e).with_context(|| format!("bind {source} to {}", path.display()));
    }
    Ok(())
}

/// Unpins and deletes a netns file; the kernel then removes the namespace
/// (and the veth in it) in the background once no process is left inside.
/// Idempotent: a file already gone is fine.
pub fn unbind(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(e).with_context(|| format!("unmount {}", path.display())),
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// statmount(2)'s number (asm-generic/unistd.h and syscall_64.tbl agree).
const SYS_STATMOUNT: libc::c_long = 457;
/// statx(2): ask for the 64-bit unique mount ID (uapi linux/stat.h, 6.8+).
const STATX_MNT_ID_UNIQUE: u32 = 0x4000;
/// statx(2): the path is the root of a mount (uapi linux/stat.h).
const STATX_ATTR_MOUNT_ROOT: u64 = 0x2000;
/// statmount(2): the mount's IDs, attributes and propagation (uapi
/// linux/mount.h).
const STATMOUNT_MNT_BASIC: u64 = 0x2;
/// Byte offset of `mnt_propagation` in uapi `struct statmount`.
const MNT_PROPAGATION_AT: usize = 72;

/// uapi `struct mnt_id_req`, first version (MNT_ID_REQ_SIZE_VER0).
#[repr(C)]
struct MntIdReq {
    size: u32,
    spare: u32,
    mnt_id: u64,
    param: u64,
}

/// Whether `path` is the root of a mount whose propagation is shared: one
/// statx(2) and one statmount(2) (Linux 6.8+), no walk of the mount table.
/// False whenever the kernel cannot tell (older kernels): the caller then
/// does what it always did.
fn is_shared_mount(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statx writes at most one `struct statx` into `stx`.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statx(libc::AT_FDCWD, c.as_ptr(), 0, STATX_MNT_ID_UNIQUE, &mut stx) };
    let root = stx.stx_attributes_mask & stx.stx_attributes & STATX_ATTR_MOUNT_ROOT != 0;
    if rc != 0 || stx.stx_mask & STATX_MNT_ID_UNIQUE == 0 || !root {
        return false;
    }
    let req = MntIdReq {
        size: std::mem::size_of::<MntIdReq>() as u32,
        spare: 0,
        mnt_id: stx.stx_mnt_id,
        param: STATMOUNT_MNT_BASIC,
    };
    // `struct statmount` without its strings is 512 bytes (6.8-6.18).
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
    let mask = buf[1];
    let propagation = buf[MNT_PROPAGATION_AT / 8];
    rc == 0 && mask & STATMOUNT_MNT_BASIC != 0 && propagation & libc::MS_SHARED != 0
}

/// Turns IPv6 on for `ifname` inside the network namespace `netns` when it
/// is off (`disable_ipv6`, Documentation/networking/ip-sysctl.rst): a new
/// namespace takes its defaults from the kernel's, which a host booted
/// with `ipv6.disable_ipv6=1` sets to off, and a dual-stack sandbox's
/// `eth0` must take its IPv6 address. The thread enters the namespace only
/// for the read (and the write, if needed): `/proc/sys/net` shows the
/// namespace of the thread that opens it. A kernel without IPv6 has no
/// knob: nothing to do here (the address request then says why it fails).
pub fn ensure_ipv6_on(netns: &std::fs::File, ifname: &str) -> Result<()> {
    use nix::sched::{CloneFlags, setns};
    let home = std::fs::File::open("/proc/thread-self/ns/net").context("open own netns")?;
    setns(netns, CloneFlags::CLONE_NEWNET).context("enter the sandbox's netns")?;
    let knob = format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6");
    let result = match std::fs::read_to_string(&knob) {
        Ok(v) if v.trim() == "1" => {
            std::fs::write(&knob, "0").with_context(|| format!("turn on IPv6 on {ifname}"))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("read {knob}")),
    };
    setns(&home, CloneFlags::CLONE_NEWNET).context("return to the host netns")?;
    result
}

#[cfg(test)]
mod tests {
    /// The kernel's word (statmount) agrees with /proc/self/mountinfo's
    /// `shared:N` for every mount point listed there (the topmost mount
    /// of a path is the one a path lookup finds).
    #[test]
    fn shared_mounts_are_told_as_mountinfo_tells_them() {
        let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let mut top = std::collections::BTreeMap::new();
        for line in info.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let (Some(point), Some(dash)) = (fields.get(4), fields.iter().position(|f| *f == "-"))
            else {
                continue;
            };
            if point.contains('\\') {
                continue;
            }
            let shared = fields[6..dash].iter().any(|f| f.starts_with("shared:"));
            top.insert(point.to_string(), shared);
        }
        assert!(!top.is_empty());
        for (point, shared) in top {
            assert_eq!(
                super::is_shared_mount(std::path::Path::new(&point)),
                shared,
                "{point}"
            );
        }
        assert!(!super::is_shared_mount(std::path::Path::new("/proc/self")));
    }
}
