//! Removing what a sandbox left: its netns file (its veth goes with the
//! namespace), its cgroups, its lease (once nothing in the kernel can
//! still answer for its address) and its record.
//! Idempotent, so the waiting sbx, `prune`, `rm` and the next `run` can all
//! call it safely. Every step runs even when another failed, and the record
//! keeps naming what could not be released, so the next sweep, `prune` or
//! `rm` tries again instead of forgetting it.

use super::kernel::Kernel;
use crate::fs::hosts::NetworkHosts;
use crate::state::{SandboxRecord, SandboxState, StateRoot};
use anyhow::Result;
use nix::unistd::Pid;

/// What becomes of a record once its sandbox's objects are released. If
/// one could not be released the record is kept, `exited`, still naming it,
/// whatever was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Disposal {
    /// Removed, folder and all.
    Remove,
    /// Kept, marked `exited` (until `sbx rm` or `sbx prune`).
    KeepExited,
}

/// Releases the kernel objects of an ended sandbox, then either marks its
/// record `exited` with `exit_code` (a detached sandbox, kept until
/// `sbx rm`) or removes it. If a kernel object could not be released, the
/// record is kept `exited` whatever the sandbox was, still naming it.
pub fn finish(
    k: &dyn Kernel,
    root: &StateRoot,
    mut record: SandboxRecord,
    exit_code: Option<i32>,
) -> Result<()> {
    record.exit_code = exit_code;
    let disposal = disposal_after_exit(&record);
    teardown(k, root, record, disposal, true)
}

/// Undoes a launch that failed after its reservation: the init (if one was
/// cloned) is stopped, then everything the record names is released like
/// any ending sandbox's, and the folder goes, unless `again` (a restart:
/// the sandbox and its log stay, its record exited again, without an exit
/// code) or something could not be removed (the record keeps naming it, so
/// `rm`/`prune` try again).
pub fn undo_launch(
    k: &dyn Kernel,
    root: &StateRoot,
    mut record: SandboxRecord,
    init: Option<Pid>,
    again: bool,
) -> Result<()> {
    if let Some(pid) = init {
        k.stop_init(pid);
    }
    record.exit_code = None;
    let disposal = if again {
        Disposal::KeepExited
    } else {
        Disposal::Remove
    };
    teardown(k, root, record, disposal, true)
}

/// What the sweep does with a dead sandbox nobody cleaned up (its sbx was
/// killed): the same as its own ending, exit code unknown (or the one it
/// recorded). A sandbox whose cleanup already ran is not waited for (a
/// cgroup a process escaped into gets one quick try), so that every
/// sweep stays cheap.
pub fn sweep(k: &dyn Kernel, root: &StateRoot, record: SandboxRecord) -> Result<()> {
    let patient = record.state != SandboxState::Exited;
    let disposal = disposal_after_exit(&record);
    teardown(k, root, record, disposal, patient)
}

/// What `sbx ps` does with a dead sandbox nobody cleaned up: releases its
/// kernel objects and its lease, and keeps its record, marked `exited`,
/// for `sbx prune` or `sbx rm` to remove (so it is still listed and the
/// user learns it died). Never waits for a busy cgroup.
pub fn release_dead(k: &dyn Kernel, root: &StateRoot, record: SandboxRecord) -> Result<()> {
    teardown(k, root, record, Disposal::KeepExited, false)
}

/// Whether an ended sandbox still holds something nobody will give back:
/// its own sbx is gone and it was never cleaned up (its lease, netns or
/// cgroups may remain).
pub fn left_over(record: &SandboxRecord) -> bool {
    let uncleaned = record.state != SandboxState::Exited
        || record.netns.is_some()
        || !record.cgroups.is_empty();
    uncleaned && !record.owner.is_some_and(|o| o.is_alive())
}

/// Removes an ended sandbox for good (`sbx rm`, `sbx prune`); if part of it
/// cannot be released, the record stays (rewritten to name only what
/// remains) and the error says so.
pub fn remove(k: &dyn Kernel, root: &StateRoot, record: &SandboxRecord) -> Result<()> {
    teardown(k, root, record.clone(), Disposal::Remove, true)
}

/// Detached sandboxes (without `--rm`) stay listed after they end.
fn disposal_after_exit(record: &SandboxRecord) -> Disposal {
    if record.kept_after_exit() {
        Disposal::KeepExited
    } else {
        Disposal::Remove
    }
}

/// The one teardown every ending goes through: the kernel objects the
/// record names are released, then its lease (once nothing in the kernel
/// can still answer for its address), then the record is disposed of; the
/// template goes with the state root's last sandbox. Every step runs even
/// when another failed; the errors are reported together.
fn teardown(
    k: &dyn Kernel,
    root: &StateRoot,
    mut record: SandboxRecord,
    disposal: Disposal,
    patient: bool,
) -> Result<()> {
    let mut errors = release_kernel(k, &mut record, patient);
    if errors.is_empty() {
        release_lease(root, &record, &mut errors);
    }
    let result = if disposal == Disposal::KeepExited || !errors.is_empty() {
        record.state = SandboxState::Exited;
        root.write_sandbox(&record)
    } else {
        root.remove_sandbox(&record.spec.name)
    };
    if let Err(e) = result {
        errors.push(format!("{e:#}"));
    }
    release_template(k, root);
    report(&record.spec.name, errors)
}

/// Releases the netns pin, the port's anti-spoofing elements and the
/// cgroups, dropping the pin and each cgroup from the record once gone
/// (the elements are forgotten idempotently); returns the failures. The netns file is ours only if
/// our record names it: a file of that name made by another state root is
/// left alone.
fn release_kernel(k: &dyn Kernel, record: &mut SandboxRecord, patient: bool) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(path) = &record.netns {
        match k.unpin_netns(path) {
            Ok(()) => record.netns = None,
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if let Some(port) = port_of(record)
        && let Err(e) = k.unguard_port(&port)
    {
        errors.push(format!("{e:#}"));
    }
    if !record.spec.ports.is_empty()
        && let Err(e) = k.unpublish(&record.spec.ports)
    {
        errors.push(format!("{e:#}"));
    }
    record
        .cgroups
        .retain(|dir| match k.remove_cgroup(dir, patient) {
            Ok(()) => false,
            Err(e) => {
                errors.push(format!("{e:#}"));
                true
            }
        });
    errors
}

/// The sandbox's port as the anti-spoofing filter knows it, if it has one
/// (`None` with `--network none`).
pub fn port_of(record: &SandboxRecord) -> Option<super::kernel::Port<'_>> {
    match (&record.veth, record.ip) {
        (Some(ifname), Some(ip)) => Some(super::kernel::Port {
            ifname,
            mac: crate::net::veth::sandbox_mac(ip),
            ip,
            trusted: record.spec.allow_spoofing,
        }),
        _ => None,
    }
}

/// The last sandbox of the state root takes the template mount namespace
/// with it (see `process::template`).
pub fn release_template(k: &dyn Kernel, root: &StateRoot) {
    if let Err(e) = k.release_template(root.path()) {
        crate::log::warn(&format!("{e:#}"));
    }
}

/// Gives the sandbox's address back (its lease, if it still names it) and
/// its line in the network's hosts file.
/// Called once its namespace is gone, so that nothing still answers for
/// the address when another sandbox gets it.
fn release_lease(root: &StateRoot, record: &SandboxRecord, errors: &mut Vec<String>) {
    let (Some(network), Some(ip)) = (&record.spec.network, record.ip) else {
        return;
    };
    // Its host ports go to whoever asks next; its neighbours stop
    // resolving its name; then the address is free.
    let hosts = NetworkHosts::at(root.network_hosts(network));
    let name = &record.spec.name;
    let released = (root.ports().release(name, &record.spec.ports))
        .and_then(|()| hosts.leave(ip, name))
        .and_then(|()| root.release_lease(network, ip, name));
    if let Err(e) = released {
        errors.push(format!("{e:#}"));
    }
}

fn report(name: &str, errors: Vec<String>) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "cleaning up sandbox {name}: {}; its record is kept, so 'sbx rm {name}' or 'sbx prune' tries again",
            errors.join("; ")
        )
    }
}

#[cfg(test)]
#[path = "cleanup_tests.rs"]
mod tests;
