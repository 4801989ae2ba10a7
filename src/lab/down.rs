//! `sbx lab down`: the lab's sandboxes (those labelled `lab=NAME`, even
//! ones the file no longer lists) removed in parallel, then the networks
//! the lab created (labelled too: a network that existed before `up` never
//! is). Idempotent: a second `down` finds nothing and says so. A network
//! another sandbox still uses is left in place, with a warning.

use super::file::Lab;
use super::translate::is_ours;
use crate::sandbox::{control, network_rm};
use crate::state::StateRoot;
use anyhow::{Result, bail};

/// Takes a lab down and says what went.
pub fn down(root: &StateRoot, lab: &Lab) -> Result<()> {
    let sandboxes = sandboxes_of(root, &lab.name)?;
    // Each removal kills, waits for the supervisor's cleanup and takes the
    // lock briefly: threads let the waits overlap (no fork happens here).
    let results: Vec<(String, Result<()>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (sandboxes.iter())
            .map(|name| (name, s.spawn(|| control::rm(root, name, true))))
            .collect();
        handles
            .into_iter()
            .map(|(name, h)| {
                let result = h
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("removing sandbox {name} panicked")));
                (name.clone(), result)
            })
            .collect()
    });
    let mut errors = Vec::new();
    for (_, result) in &results {
        if let Err(e) = result {
            errors.push(format!("{e:#}"));
        }
    }
    let networks: Vec<String> = (root.networks()?.into_iter())
        .filter(|n| is_ours(&n.labels, &lab.name))
        .map(|n| n.name)
        .collect();
    let mut removed_networks = Vec::new();
    for name in &networks {
        match network_rm::rm_quietly(root, name) {
            Ok(()) => removed_networks.push(name.clone()),
            Err(e) if errors.is_empty() => crate::log::warn(&format!(
                "network {name} of lab {} left in place: {e:#}",
                lab.name
            )),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if !errors.is_empty() {
        bail!(
            "lab {}: {}; run 'sbx lab down' again",
            lab.name,
            errors.join("; ")
        );
    }
    if sandboxes.is_empty() && removed_networks.is_empty() {
        println!("lab {}: nothing to remove", lab.name);
    } else {
        println!(
            "lab {}: removed {} sandbox(es){}{}",
            lab.name,
            sandboxes.len(),
            if removed_networks.is_empty() {
                ""
            } else {
                " and network(s) "
            },
            removed_networks.join(", ")
        );
    }
    Ok(())
}

/// The names of the sandboxes labelled `lab=NAME`, sorted.
pub fn sandboxes_of(root: &StateRoot, lab: &str) -> Result<Vec<String>> {
    let (records, _) = root.sandboxes()?;
    let mut names: Vec<String> = (records.into_iter())
        .filter(|r| is_ours(&r.spec.labels, lab))
        .map(|r| r.spec.name)
        .collect();
    names.sort();
    Ok(names)
}
