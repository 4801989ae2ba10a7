//! An overlayfs root (SPEC "Images"): read-only lower layers (an image's
//! unpacked layers from the store, or a `--rootfs` with `--rootfs-overlay`)
//! shared by every sandbox, under an upper layer of the sandbox's own in
//! its state folder, so the lower layers are never written and the upper
//! one goes when the sandbox's folder is removed with its record.

use super::newmount;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The overlay's folders in a sandbox's state folder: (upper, work, merged).
pub fn dirs(sandbox_dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let base = sandbox_dir.join("rootfs");
    (base.join("upper"), base.join("work"), base.join("merged"))
}

/// Makes the overlay's folders in the sandbox's state folder (the parent
/// does it, before the clone). A restart reuses the upper layer, but its
/// work folder is made anew: the last instance, mounted `volatile`, left
/// `work/incompat/volatile` there, and overlayfs refuses to mount over it.
/// Its sandbox is gone by then, so no overlay uses that folder any more.
pub fn prepare(sandbox_dir: &Path) -> Result<()> {
    let (upper, work, merged) = dirs(sandbox_dir);
    match std::fs::remove_dir_all(&work) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("remove {}", work.display()));
        }
        _ => {}
    }
    for dir in [upper, work, merged] {
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    }
    Ok(())
}

/// In the sandbox's init: mounts the overlay of `lowers` (topmost first) on
/// the sandbox's `merged` folder and returns that path. Each lower layer is
/// its own `lowerdir+` option (Linux 6.8), so no option string outgrows
/// fsconfig's 256-byte limit however many layers an image has.
///
/// With `read_only` (`--read-only`) nothing is written to disk: the upper
/// layer is a small tmpfs mounted over `upper` in the sandbox's own mount
/// namespace, holding only the mount points sbx makes before the root
/// turns read-only (an image need not have /proc, /dev or /etc/hosts).
pub fn mount(lowers: &[PathBuf], sandbox_dir: &Path, read_only: bool) -> Result<PathBuf> {
    let (mut upper, mut work, merged) = dirs(sandbox_dir);
    if read_only {
        let fs = newmount::new_fs(
            "tmpfs",
            &["size=1m", "mode=0755"],
            newmount::NOSUID | newmount::NODEV,
        )
        .context("mount the read-only root's tmpfs")?;
        newmount::attach(&fs, &super::at::open_root(&upper)?)
            .context("mount the read-only root's tmpfs")?;
        let base = upper.clone();
        (upper, work) = (base.join("upper"), base.join("work"));
        for dir in [&upper, &work] {
            std::fs::create_dir(dir).with_context(|| format!("create {}", dir.display()))?;
        }
    }
    let mut options: Vec<String> = lowers
        .iter()
        .map(|l| format!("lowerdir+={}", l.display()))
        .collect();
    options.push(format!("upperdir={}", upper.display()));
    options.push(format!("workdir={}", work.display()));
    // No syncs of the upper layer (at unmount above all): it dies with the
    // sandbox, or is kept only while the host stays up (a restart).
    options.push("volatile".to_string());
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let fs = newmount::new_fs("overlay", &options, 0).context("mount the overlay root")?;
    let target = super::at::open_root(&merged)?;
    newmount::attach(&fs, &target).context("mount the overlay root")?;
    Ok(merged)
}
