//! One `mounts` entry of `config.json`: sbx's own (the default set every
//! generator writes), a bind mount, a fresh kernel filesystem, or cgroup.

use super::linux::{bind, is_own, kernel, options};
use crate::model::SandboxSpec;
use anyhow::{Result, bail};
use oci_spec::runtime::Mount;
use std::path::Path;

/// Adds `mount` to the spec's filesystem plan.
pub fn add(spec: &mut SandboxSpec, mount: &Mount, bundle: &Path) -> Result<()> {
    let destination = mount.destination();
    let fstype = mount.typ().clone().unwrap_or_default();
    let words = mount.options().clone().unwrap_or_default();
    if is_own(destination, &fstype) {
        if destination == Path::new("/sys") && !words.iter().any(|w| w == "ro") {
            bail!(
                "config.json: mounts /sys: sbx mounts sysfs read-only; add \"ro\" to its options"
            );
        }
        return Ok(());
    }
    let opts = options(mount)?;
    if let Some(word) = &opts.propagation {
        let target = crate::model::fs_plan::inside_path(
            &destination.to_string_lossy(),
            "config.json: mounts destination",
        )?;
        spec.fs.propagation.push((target, word.clone()));
    }
    if opts.bind.is_some() || fstype == "bind" {
        return bind(spec, mount, bundle, opts);
    }
    match fstype.as_str() {
        "tmpfs" | "proc" | "sysfs" | "mqueue" | "devpts" => kernel(spec, mount, &fstype, opts),
        // The cgroup v2 hierarchy (rooted at the container's own cgroup
        // when it has a cgroup namespace).
        "cgroup" | "cgroup2" => kernel(spec, mount, "cgroup2", opts),
        other => bail!(
            "config.json: mounts {}: type {other:?} is not supported by sbx yet",
            destination.display()
        ),
    }
}
