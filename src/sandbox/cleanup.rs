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
    // `network connect`/`disconnect` may have changed its links since the
    // launch: read them under the sandbox's lock, which they hold.
    let _lock = root.lock_sandbox(&record.spec.name);
    if let Ok(Some(fresh)) = root.sandbox(&record.spec.name)
        && fresh.created == record.created
    {
        record.links = fresh.links;
        record.spec.networks = fresh.spec.networks;
    }
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
/// its own sbx is gone and it was never cleaned up (its lease, netns,
/// cgroups or set elements may remain).
pub fn left_over(record: &SandboxRecord) -> bool {
    let uncleaned = record.state != SandboxState::Exited
        || record.netns.is_some()
        || !record.cgroups.is_empty()
        || record.nft_elements;
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
    release_impairments(k, root, &record, &mut errors);
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

/// Releases the netns pin, the port's anti-spoofing elements, the
/// published ports and the cgroups, dropping each from the record once gone
/// (the pin, each cgroup, `nft_elements`); returns the failures. The netns file is ours only if
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
    if record.nft_elements {
        let before = errors.len();
        for port in ports_of(record) {
            if let Err(e) = k.unguard_port(&port) {
                errors.push(format!("{e:#}"));
            }
        }
        if let Some(link) = record.primary()
            && !record.spec.ports.is_empty()
            && let Err(e) = k.unpublish(&record.spec.ports, link.ip)
        {
            errors.push(format!("{e:#}"));
        }
        // Gone: a later teardown of this record (`sbx rm` after the
        // supervisor's) need not ask the kernel again.
        record.nft_elements = errors.len() > before;
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

/// Removes the loss rules and partition elements of the sandbox's ports,
/// if `sbx impair`/`sbx partition` recorded any for it, then what was
/// recorded (SPEC "Impairments and partitions": they vanish with a
/// sandbox that ends). A record that cannot be rewritten is only warned
/// about: the kernel's part, which matters, is gone.
fn release_impairments(
    k: &dyn Kernel,
    root: &StateRoot,
    record: &SandboxRecord,
    errors: &mut Vec<String>,
) {
    let name = &record.spec.name;
    let mut release = |recorded: bool, undo: &dyn Fn(&super::kernel::Port) -> Result<()>| {
        let failed: Vec<String> = (ports_of(record).filter(|_| recorded))
            .filter_map(|port| undo(&port).err())
            .map(|e| format!("{e:#}"))
            .collect();
        let released = recorded && failed.is_empty();
        errors.extend(failed);
        released
    };
    if release(super::impair::recorded(root, name), &|p| k.unimpair_port(p))
        && let Err(e) = super::impair::forget(root, name, None)
    {
        crate::log::warn(&format!("{e:#}"));
    }
    if release(super::partition::named(root, name), &|p| {
        k.unpartition_port(p)
    }) && let Err(e) = super::partition::forget(root, name)
    {
        crate::log::warn(&format!("{e:#}"));
    }
}

/// The sandbox's bridge ports as the anti-spoofing filter knows them,
/// one per network (none with `--network none`).
pub fn ports_of(record: &SandboxRecord) -> impl Iterator<Item = super::kernel::Port<'_>> {
    record.links.iter().map(|link| port_of(record, link))
}

/// One link's bridge port as the anti-spoofing filter knows it.
pub fn port_of<'a>(
    record: &SandboxRecord,
    link: &'a crate::state::Link,
) -> super::kernel::Port<'a> {
    port_of_link(link, record.spec.allow_spoofing)
}

/// [`port_of`] for a link alone; `trusted`: `--allow-spoofing`.
pub fn port_of_link(link: &crate::state::Link, trusted: bool) -> super::kernel::Port<'_> {
    super::kernel::Port {
        ifname: &link.veth,
        mac: crate::net::veth::sandbox_mac(link.ip),
        ip: link.ip,
        trusted,
    }
}

/// The last sandbox of the state root takes the template mount namespace
/// with it (see `process::template`).
pub fn release_template(k: &dyn Kernel, root: &StateRoot) {
    if let Err(e) = k.release_template(root.path()) {
        crate::log::warn(&format!("{e:#}"));
    }
}

/// Gives the sandbox's host ports back, then on each network its line in
/// the hosts file and its address (its lease, if it still names it).
/// Called once its namespace is gone, so that nothing still answers for
/// an address when another sandbox gets it.
fn release_lease(root: &StateRoot, record: &SandboxRecord, errors: &mut Vec<String>) {
    let name = &record.spec.name;
    if let Err(e) = root.ports().release(name, &record.spec.ports) {
        errors.push(format!("{e:#}"));
    }
    for link in &record.links {
        let hosts = NetworkHosts::at(root.network_hosts(&link.network));
        let released = (hosts.leave(link.ip, name))
            .and_then(|()| root.release_lease(&link.network, link.ip, name))
            .and_then(|()| match link.ip6 {
                Some(ip6) => root.leases(&link.network).release(ip6, name),
                None => Ok(()),
            });
        if let Err(e) = released {
            errors.push(format!("{e:#}"));
        }
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
