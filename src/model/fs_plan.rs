//! What the sandbox's filesystem should look like, parsed and checked in
//! the parent (pure), so a bad `-v` or `--rootfs` fails before any
//! namespace exists.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

/// One `-v SRC:DST[:ro]` (or an OCI bind mount, with its options).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Host path (absolute).
    pub source: PathBuf,
    /// Path inside the sandbox (absolute, no `..`).
    pub target: PathBuf,
    /// Mounted read-only.
    pub read_only: bool,
    /// Mount attributes beyond read-only (OCI mount options `nosuid`,
    /// `nodev`, `noexec`).
    #[serde(default)]
    pub attrs: MountAttrs,
    /// Only the source mount itself, not the mounts below it (OCI `bind`
    /// as opposed to `rbind`; `-v` is recursive).
    #[serde(default)]
    pub single: bool,
    /// Its place among the OCI config's mounts (volumes and kernel
    /// filesystems together), kept among mounts of the same depth; 0 for
    /// `sbx run`'s, which keep the order of their kind.
    #[serde(default)]
    pub order: u32,
}

/// mount_setattr(2)'s flags a mount may ask for, besides read-only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountAttrs {
    /// MOUNT_ATTR_NOSUID.
    pub nosuid: bool,
    /// MOUNT_ATTR_NODEV.
    pub nodev: bool,
    /// MOUNT_ATTR_NOEXEC.
    pub noexec: bool,
    /// MOUNT_ATTR_STRICTATIME.
    pub strictatime: bool,
    /// MOUNT_ATTR_NOATIME.
    pub noatime: bool,
}

/// A fresh kernel filesystem mounted at `target` (OCI mounts of type
/// tmpfs, proc, sysfs, mqueue, devpts elsewhere than sbx's own).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelMount {
    /// Filesystem type (fsopen(2) name).
    pub fstype: String,
    /// Path inside the sandbox.
    pub target: PathBuf,
    /// Filesystem options (`size=64m`, `mode=755`), passed to fsconfig(2).
    pub data: Vec<String>,
    /// Read-only.
    pub read_only: bool,
    /// nosuid, nodev, noexec.
    pub attrs: MountAttrs,
    /// Its place among the OCI config's mounts (see [`Volume::order`]).
    #[serde(default)]
    pub order: u32,
}

/// The whole filesystem request of a sandbox.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FsPlan {
    /// The sandbox's root; `None`: the host's root through a private mount namespace.
    pub rootfs: Option<PathBuf>,
    /// Bind mounts.
    pub volumes: Vec<Volume>,
    /// Root filesystem read-only.
    pub read_only: bool,
    /// Empty tmpfs mounts.
    pub tmpfs: Vec<PathBuf>,
    /// The image the sandbox runs (`--image`): for `image rm`'s refusal and
    /// `sbx inspect`.
    #[serde(default)]
    pub image: Option<ImageRef>,
    /// Read-only lower layers of an overlay root, topmost first (an image's
    /// layers, or `--rootfs` with `--rootfs-overlay`); empty: no overlay.
    /// The upper layer lives in the sandbox's folder and goes with it.
    #[serde(default)]
    pub overlay: Vec<PathBuf>,
    /// Fresh kernel filesystems mounted like tmpfs mounts (OCI `mounts`).
    #[serde(default)]
    pub mounts: Vec<KernelMount>,
    /// Paths hidden (files under /dev/null, folders under an empty
    /// read-only tmpfs); `None`: Docker's list (`fs::masks`).
    #[serde(default)]
    pub masked_paths: Option<Vec<PathBuf>>,
    /// Paths made read-only; `None`: Docker's list.
    #[serde(default)]
    pub readonly_paths: Option<Vec<PathBuf>>,
    /// The working directory, to be made (if missing) before a read-only
    /// root goes read-only, as Docker does; `None` when the root is
    /// writable (the command's start makes it then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<PathBuf>,
    /// Propagation types set once the root is in place, in order, by path
    /// inside the sandbox: OCI's `linux.rootfsPropagation` (on `/`) and a
    /// mount's `shared`/`private`/... option (mount(2) MS_SHARED,
    /// MS_PRIVATE, MS_SLAVE, MS_UNBINDABLE; an `r` prefix: recursively).
    /// Everything starts as a slave of the host's mounts, so even `shared`
    /// never propagates a sandbox's mounts back to the host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub propagation: Vec<(PathBuf, String)>,
}

/// The mount(2) flags of a propagation word (`shared`, `rslave`, ...).
pub fn propagation_flags(word: &str) -> Option<(bool, &'static str)> {
    let (recursive, kind) = match word.strip_prefix('r') {
        Some(k) if !k.is_empty() && ["shared", "private", "slave", "unbindable"].contains(&k) => {
            (true, k)
        }
        _ => (false, word),
    };
    let kind = match kind {
        "shared" => "shared",
        "private" => "private",
        "slave" => "slave",
        "unbindable" => "unbindable",
        _ => return None,
    };
    Some((recursive, kind))
}

/// Which image a sandbox runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    /// `REPO:TAG`, as the store names it.
    pub name: String,
    /// Its manifest's digest (`sha256:HEX`).
    pub digest: String,
    /// The uid and gid its config's User resolves to; `None`: root.
    #[serde(default)]
    pub user: Option<(u32, u32)>,
    /// That user's supplementary groups from the image's `/etc/group`
    /// (the groups listing its name), as Docker gives them.
    #[serde(default)]
    pub groups: Vec<u32>,
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
        let target = inside_path(target, "volume target")?;
        if is_root(&target) {
            bail!(
                "volume target {} is the sandbox's root: a volume cannot be mounted on /; to make {} the root, use --rootfs {}",
                target.display(),
                source.display(),
                source.display()
            );
        }
        Ok(Volume {
            source,
            target,
            read_only,
            ..Volume::default()
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

/// Whether `path` is strictly below one of `dirs` (by components): such a
/// mount point lies in a mount sbx makes, not in the root.
pub fn is_under_any(path: &Path, dirs: &[&Path]) -> bool {
    dirs.iter().any(|dir| path != *dir && path.starts_with(dir))
}

/// Whether `path` names the root itself (`/`, `/.`, `//`).
pub fn is_root(path: &Path) -> bool {
    path.components()
        .all(|c| matches!(c, Component::RootDir | Component::CurDir))
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
                read_only: true,
                ..Volume::default()
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
    fn the_root_is_no_volume_target() {
        let err = |t: &str| Volume::parse(t).unwrap_err().to_string();
        for target in ["/tmp:/", "/tmp:/.", "/tmp://", "/tmp:/./.", "/tmp:/:ro"] {
            assert!(
                err(target).contains(
                    "a volume cannot be mounted on /; to make /tmp the root, use --rootfs /tmp"
                ),
                "{target}"
            );
        }
        assert!(Volume::parse("/tmp:/x/.").is_ok());
    }

    #[test]
    fn nesting_is_by_components() {
        let dirs = [Path::new("/data"), Path::new("/dev")];
        assert!(is_under_any(Path::new("/data/x"), &dirs));
        assert!(!is_under_any(Path::new("/data"), &dirs));
        assert!(!is_under_any(Path::new("/database"), &dirs));
        assert!(is_under_any(Path::new("/dev/shm"), &dirs));
    }
}
