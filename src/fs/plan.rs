//! What the sandbox's filesystem should look like, parsed and checked in
//! the parent (pure), so a bad `-v` or `--rootfs` fails before any
//! namespace exists.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// One `-v SRC:DST[:ro]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Host path (absolute).
    pub source: PathBuf,
    /// Path inside the sandbox (absolute, no `..`).
    pub target: PathBuf,
    /// Mounted read-only.
    pub read_only: bool,
}

/// The whole filesystem request of a sandbox.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FsPlan {
    /// The sandbox's root; `None`: the host's root through a private mount namespace.
    pub rootfs: Option<PathBuf>,
    /// Bind mounts.
    pub volumes: Vec<Volume>,
    /// Root filesystem read-only.
    pub read_only: bool,
    /// Empty tmpfs mounts.
    pub tmpfs: Vec<PathBuf>,
}

impl Volume {
    /// Parses `SRC:DST[:ro|:rw]`; SRC must exist on the host.
    pub fn parse(text: &str) -> Result<Self> {
        let parts: Vec<&str> = text.split(':').collect();
        let (source, target, read_only) = match parts.as_slice() {
            [s, t] => (*s, *t, false),
            [s, t, "ro"] => (*s, *t, true),
            [s, t, "rw"] => (*s, *t, false),
            _ => bail!("volume {text:?} is not SRC:DST or SRC:DST:ro"),
        };
        let source = PathBuf::from(source);
        if !source.is_absolute() {
            bail!("volume source {} is not an absolute path", source.display());
        }
        if !source.exists() {
            bail!(
                "volume source {} does not exist on the host",
                source.display()
            );
        }
        Ok(Volume {
            source,
            target: inside_path(target, "volume target")?,
            read_only,
        })
    }
}

/// An absolute path inside the sandbox with no `..`: it can never climb out
/// of the root it is joined to.
pub fn inside_path(text: &str, what: &str) -> Result<PathBuf> {
    let path = PathBuf::from(text);
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        bail!("{what} {text:?} must be an absolute path without '..'");
    }
    Ok(path)
}

/// Joins `inside` under `root` the way the sandbox will see it: symlinks
/// met on the way are followed *within* `root` (an absolute target starts
/// again at `root`, `..` never climbs above it). A rootfs can therefore not
/// make sbx mount onto, or create mount points at, paths of the host.
pub fn resolve_in(root: &Path, inside: &Path) -> Result<PathBuf> {
    const MAX_LINKS: u32 = 40;
    let mut resolved = PathBuf::new();
    let mut pending: VecDeque<OsString> = parts(inside);
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&part);
        let full = root.join(&candidate);
        match std::fs::symlink_metadata(&full) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    bail!(
                        "too many symbolic links under {} resolving {}",
                        root.display(),
                        inside.display()
                    );
                }
                let target = std::fs::read_link(&full)?;
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                let mut next = parts(&target);
                next.extend(pending);
                pending = next;
            }
            _ => resolved = candidate,
        }
    }
    Ok(root.join(resolved))
}

/// A path's normal and `..` components, in order.
fn parts(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_parse() {
        let v = Volume::parse("/tmp:/data:ro").unwrap();
        assert_eq!(
            v,
            Volume {
                source: "/tmp".into(),
                target: "/data".into(),
                read_only: true
            }
        );
        assert!(!Volume::parse("/tmp:/data").unwrap().read_only);
        let err = |t: &str| Volume::parse(t).unwrap_err().to_string();
        assert!(err("/tmp").contains("is not SRC:DST"));
        assert!(err("/tmp:/d:rx").contains("is not SRC:DST"));
        assert!(err("rel:/d").contains("not an absolute path"));
        assert!(err("/no/such/dir/sbx:/d").contains("does not exist"));
        assert!(err("/tmp:d").contains("must be an absolute path"));
        assert!(err("/tmp:/a/../../etc").contains("without '..'"));
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let root = std::env::temp_dir().join(format!("sbx-unit-resolve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../tmp/x", root.join("climb")).unwrap();
        std::os::unix::fs::symlink("etc", root.join("rel")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        let r = |p: &str| resolve_in(&root, Path::new(p));
        assert_eq!(r("/abs/hostname").unwrap(), root.join("etc/hostname"));
        assert_eq!(r("/climb").unwrap(), root.join("tmp/x"));
        assert_eq!(r("/rel/hosts").unwrap(), root.join("etc/hosts"));
        assert_eq!(r("/missing/dir").unwrap(), root.join("missing/dir"));
        assert!(r("/loop").is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
