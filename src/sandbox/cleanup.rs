//! Removing what a sandbox left: its netns file (its veth goes with the
//! namespace), its address reservation and its record. Idempotent, so the
//! waiting sbx, `prune`, `rm` and the next `run` can all call it safely.

use crate::net::netns;
use crate::state::{SandboxRecord, SandboxState, StateRoot};
use anyhow::Result;

/// Releases the kernel objects of an ended sandbox, then either marks its
/// record `exited` with `exit_code` (a detached sandbox, kept until
/// `sbx rm`) or removes it. Keeps going past failures and reports them all.
pub fn finish(root: &StateRoot, mut record: SandboxRecord, exit_code: Option<i32>) -> Result<()> {
    let mut errors = Vec::new();
    if let Err(e) = release_kernel(&record) {
        errors.push(format!("{e:#}"));
    }
    let result = if record.kept_after_exit() {
        record.state = SandboxState::Exited;
        record.exit_code = exit_code;
        record.netns = None;
        record.cgroups.clear();
        root.write_sandbox(&record)
    } else {
        root.remove_sandbox(&record.name)
    };
    if let Err(e) = result {
        errors.push(format!("{e:#}"));
    }
    report(&record.name, errors)
}

/// What the sweep does with a dead sandbox nobody cleaned up (its sbx was
/// killed): the same as its own ending, exit code unknown.
pub fn sweep(root: &StateRoot, record: SandboxRecord) -> Result<()> {
    let code = record.exit_code;
    if record.state == SandboxState::Exited && record.netns.is_none() && record.cgroups.is_empty() {
        return Ok(());
    }
    finish(root, record, code)
}

/// Removes an ended sandbox for good (`sbx rm`, `sbx prune`).
pub fn remove(root: &StateRoot, record: &SandboxRecord) -> Result<()> {
    let mut errors = Vec::new();
    if let Err(e) = release_kernel(record) {
        errors.push(format!("{e:#}"));
    }
    if let Err(e) = root.remove_sandbox(&record.name) {
        errors.push(format!("{e:#}"));
    }
    report(&record.name, errors)
}

/// The netns file is ours only if our record names it: a file of that name
/// made by another state root is left alone.
fn release_kernel(record: &SandboxRecord) -> Result<()> {
    let netns = match &record.netns {
        Some(path) => netns::unbind(path),
        None => Ok(()),
    };
    let cgroups = crate::cgroup::remove(&record.cgroups);
    netns.and(cgroups)
}

fn report(name: &str, errors: Vec<String>) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("cleaning up sandbox {name}: {}", errors.join("; "))
    }
}
