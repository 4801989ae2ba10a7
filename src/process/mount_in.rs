//! Mounting a host file over a path inside a running sandbox: a detached
//! copy of the file is taken here (where the host path is visible), then a
//! forked child joins the sandbox's mount namespace (which also moves it to
//! that namespace's root) and attaches the copy on top of the path there.
//! `sbx network connect` needs it when a sandbox's /etc/hosts must change
//! file.

use crate::fs::{at, newmount};
use anyhow::{Context, Result, bail};
use nix::sched::{CloneFlags, setns};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};
use std::fs::File;
use std::path::Path;

/// Mounts `source` (a host file) read-only over `target` (a path inside the
/// sandbox whose init is `init`), on top of what is mounted there.
pub fn mount_in(init: i32, source: &Path, target: &Path) -> Result<()> {
    let tree = newmount::clone_path(source, false)?;
    newmount::set_attrs(&tree, newmount::RDONLY, false)
        .with_context(|| format!("make {} read-only", source.display()))?;
    let mnt =
        File::open(format!("/proc/{init}/ns/mnt")).context("open the sandbox's mount namespace")?;
    // SAFETY: the child only makes syscalls and exits with _exit; this
    // process runs no other thread (the netlink runtime is current-thread).
    match unsafe { fork() }.context("fork")? {
        ForkResult::Child => {
            let step = || -> Result<()> {
                setns(&mnt, CloneFlags::CLONE_NEWNS).context("setns")?;
                let root = at::open_root(Path::new("/"))?;
                let fd = at::resolve(&root, target).context("resolve")?;
                newmount::attach(&tree, &fd).context("attach")?;
                Ok(())
            };
            let ok = step().is_ok();
            // SAFETY: _exit skips this process's destructors and buffers,
            // which belong to the parent.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        ForkResult::Parent { child } => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, 0)) => Ok(()),
            _ => bail!(
                "cannot mount {} over {} inside the sandbox",
                source.display(),
                target.display()
            ),
        },
    }
}
