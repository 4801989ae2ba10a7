//! The path rules of a layer's tar entries, pure: what a name may be, and
//! what an OCI whiteout means (image-spec layer.md, "Whiteouts").

use anyhow::{Result, bail};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

/// A tar entry name split into its components inside the layer: `./` and
/// `.` parts dropped; an absolute name or one with `..` is refused, naming
/// it (a layer that could write outside itself is hostile). Empty: the
/// layer's root.
pub fn components(name: &Path) -> Result<Vec<OsString>> {
    let mut parts = Vec::new();
    for c in name.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_os_string()),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                bail!(
                    "layer entry {} is an absolute path: refused (a layer may only write inside itself)",
                    name.display()
                )
            }
            Component::ParentDir => bail!(
                "layer entry {} climbs out with '..': refused (a layer may only write inside itself)",
                name.display()
            ),
        }
    }
    Ok(parts)
}

/// What an entry's last component means to overlayfs.
#[derive(Debug, PartialEq, Eq)]
pub enum Whiteout {
    /// An ordinary entry.
    None,
    /// `.wh..wh..opq`: the folder hides everything below it in lower layers
    /// (overlayfs: xattr `trusted.overlay.opaque=y` on the folder).
    Opaque,
    /// `.wh.NAME`: NAME is deleted (overlayfs: a 0/0 character device NAME).
    Delete(OsString),
    /// Another `.wh..wh.` entry (AUFS hard-link bookkeeping): skipped.
    Ignored,
}

/// Classifies the last component `name` of `entry`; a whiteout naming no
/// entry of its own folder (`.wh.`, `.wh..`, `.wh...`) is refused, naming
/// the entry: it would delete a path outside the layer's folder.
pub fn whiteout(entry: &Path, name: &OsString) -> Result<Whiteout> {
    let bytes = name.as_bytes();
    if bytes == b".wh..wh..opq" {
        return Ok(Whiteout::Opaque);
    }
    if bytes.starts_with(b".wh..wh.") {
        return Ok(Whiteout::Ignored);
    }
    let Some(target) = bytes.strip_prefix(b".wh.") else {
        return Ok(Whiteout::None);
    };
    if target.is_empty() || target == b"." || target == b".." || target.contains(&b'/') {
        bail!(
            "layer entry {} is a whiteout for a path outside the layer: refused",
            entry.display()
        );
    }
    Ok(Whiteout::Delete(
        std::ffi::OsStr::from_bytes(target).to_os_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_inside() {
        let ok = |p: &str| components(Path::new(p)).unwrap();
        assert_eq!(ok("./etc/passwd"), vec!["etc", "passwd"]);
        assert_eq!(ok("etc/./x/"), vec!["etc", "x"]);
        assert!(ok("./").is_empty());
        let err = |p: &str| components(Path::new(p)).unwrap_err().to_string();
        assert!(err("/etc/passwd").contains("/etc/passwd is an absolute path"));
        assert!(err("../x").contains("../x climbs out"));
        assert!(err("a/../../x").contains("climbs out"));
    }

    #[test]
    fn whiteouts_convert() {
        let w = |n: &str| whiteout(Path::new(n), &OsString::from(n));
        assert_eq!(w("file").unwrap(), Whiteout::None);
        assert_eq!(w(".wh..wh..opq").unwrap(), Whiteout::Opaque);
        assert_eq!(w(".wh..wh.plnk").unwrap(), Whiteout::Ignored);
        assert_eq!(w(".wh.gone").unwrap(), Whiteout::Delete("gone".into()));
        for bad in [".wh.", ".wh..", ".wh..."] {
            assert!(
                w(bad)
                    .unwrap_err()
                    .to_string()
                    .contains("outside the layer")
            );
        }
    }
}
