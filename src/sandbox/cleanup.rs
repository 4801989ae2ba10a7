//! Removing what a sandbox left: its netns file (its veth goes with the
//! namespace), its address reservation and its record. Idempotent, so the
//! waiting sbx, `prune` and the next `run` can all call it safely.

use crate::net::netns;
use crate::state::{SandboxRecord, StateRoot};
use anyhow::Result;

/// Tears a sandbox down, continuing past failures and reporting them all.
pub fn teardown(root: &StateRoot, record: &SandboxRecord) -> Result<()> {
    let mut errors = Vec::new();
    let netns_path = record
        .netns
        .clone()
        .unwrap_or_else(|| netns::path_for(&record.name));
    // The netns file is ours only if our record names it: a file of that name
    // made by another state root must be left alone.
    if record.netns.is_some()
        && let Err(e) = netns::unbind(&netns_path)
    {
        errors.push(format!("{e:#}"));
    }
    if let Err(e) = root.remove_sandbox(&record.name) {
        errors.push(format!("{e:#}"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("cleaning up sandbox {}: {}", record.name, errors.join("; "))
    }
}
