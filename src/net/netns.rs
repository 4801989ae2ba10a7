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
