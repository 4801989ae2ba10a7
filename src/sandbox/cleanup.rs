//! Removing what a sandbox left: its netns file (its veth goes with the
//! namespace), its cgroups, its lease (once nothing in the kernel can
//! still answer for its address) and its record.
//! Idempotent, so the waiting sbx, `prune`, `rm` and the next `run` can all
//! call it safely. Every step runs even when another failed, and the record
//! keeps naming what could not be released, so the next sweep, `prune` or
//! `rm` tries again instead of forgetting it.

use crate::net::netns;
use crate::state::{SandboxRecord, SandboxState, StateRoot};
use anyhow::Result;

/// Releases the kernel objects of an ended sandbox, then either marks its
/// record `exited` with `exit_code` (a detached sandbox, kept until
/// `sbx rm`) or removes it. If a kernel object could not be released, the
/// record is kept `exited` whatever the sandbox was, still naming it.
pub fn finish(root: &StateRoot, record: SandboxRecord, exit_code: Option<i32>) -> Result<()> {
    finish_with(root, record, exit_code, true)
}

/// [`finish`], with `patient` saying whether a busy cgroup is waited for
/// (just after the sandbox ended its last processes may still be leaving).
fn finish_with(
    root: &StateRoot,
    mut record: SandboxRecord,
    exit_code: Option<i32>,
    patient: bool,
) -> Result<()> {
    let mut errors = release_kernel(&mut record, patient);
    if errors.is_empty() {
        release_lease(root, &record, &mut errors);
    }
    let result = if record.kept_after_exit() || !errors.is_empty() {
        record.state = SandboxState::Exited;
        record.exit_code = exit_code;
        root.write_sandbox(&record)
    } else {
        root.remove_sandbox(&record.spec.name)
    };
    if let Err(e) = result {
        errors.push(format!("{e:#}"));
    }
    release_template(root);
    report(&record.spec.name, errors)
}

/// What the sweep does with a dead sandbox nobody cleaned up (its sbx was
/// killed): the same as its own ending, exit code unknown. A sandbox whose
/// cleanup already ran and left something (a cgroup a process escaped
/// into) gets one quick retry, so that every launch's sweep stays cheap.
pub fn sweep(root: &StateRoot, record: SandboxRecord) -> Result<()> {
    let code = record.exit_code;
    if record.state == SandboxState::Exited && record.netns.is_none() && record.cgroups.is_empty() {
        // Cleaned up but for its lease, if its sbx died in between.
        let mut errors = Vec::new();
        release_lease(root, &record, &mut errors);
        return report(&record.spec.name, errors);
    }
    let patient = record.state != SandboxState::Exited;
    finish_with(root, record, code, patient)
}

/// What `sbx ps` does with a dead sandbox nobody cleaned up: releases its
/// kernel objects and its lease, and keeps its record, marked `exited`,
/// for `sbx prune` or `sbx rm` to remove (so it is still listed and the
/// user learns it died). Never waits for a busy cgroup.
pub fn release_dead(root: &StateRoot, mut record: SandboxRecord) -> Result<()> {
    let mut errors = release_kernel(&mut record, false);
    if errors.is_empty() {
        release_lease(root, &record, &mut errors);
    }
    record.state = SandboxState::Exited;
    if let Err(e) = root.write_sandbox(&record) {
        errors.push(format!("{e:#}"));
    }
    report(&record.spec.name, errors)
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
pub fn remove(root: &StateRoot, record: &SandboxRecord) -> Result<()> {
    let mut record = record.clone();
    let mut errors = release_kernel(&mut record, true);
    if errors.is_empty() {
        release_lease(root, &record, &mut errors);
    }
    let result = if errors.is_empty() {
        root.remove_sandbox(&record.spec.name)
    } else {
        root.write_sandbox(&record)
    };
    if let Err(e) = result {
        errors.push(format!("{e:#}"));
    }
    release_template(root);
    report(&record.spec.name, errors)
}

/// Releases the netns file and the cgroups, dropping each from the record
/// once it is gone; returns the failures. The netns file is ours only if
/// our record names it: a file of that name made by another state root is
/// left alone.
fn release_kernel(record: &mut SandboxRecord, patient: bool) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(path) = &record.netns {
        match netns::unbind(path) {
            Ok(()) => record.netns = None,
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    record.cgroups.retain(|dir| {
        let removed = if patient {
            crate::cgroup::remove(std::slice::from_ref(dir))
        } else {
            match std::fs::remove_dir(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(anyhow::Error::new(e).context(format!("remove cgroup {}", dir.display())))
                }
                _ => Ok(()),
            }
        };
        match removed {
            Ok(()) => false,
            Err(e) => {
                errors.push(format!("{e:#}"));
                true
            }
        }
    });
    errors
}

/// The last sandbox of the state root takes the template mount namespace
/// with it (see `process::template`).
pub fn release_template(root: &StateRoot) {
    if let Err(e) = crate::process::template::release_if_idle(root.path()) {
        crate::log::warn(&format!("{e:#}"));
    }
}

/// Gives the sandbox's address back (its lease, if it still names it).
/// Called once its namespace is gone, so that nothing still answers for
/// the address when another sandbox gets it.
fn release_lease(root: &StateRoot, record: &SandboxRecord, errors: &mut Vec<String>) {
    if let (Some(network), Some(ip)) = (&record.spec.network, record.ip)
        && let Err(e) = root.release_lease(network, ip, &record.spec.name)
    {
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
