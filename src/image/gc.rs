//! What the store keeps and what it collects (SPEC "Images"): an image
//! that lost its last name while a sandbox still runs it stays, unnamed
//! (`<none>:<none>`, as Docker leaves a dangling image), until `image rm
//! ID` or `image prune`; every layer and blob no image of the index needs
//! and no sandbox stands on goes.

use super::Store;
use super::digest::Digest;
use super::store::{Index, StoreLock};
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Reads what sandboxes hold (the caller's, a floor up): called under the
/// store's lock, so no launch slips between the reading and the removal.
pub type UsedBy<'a> = &'a dyn Fn() -> Result<InUse>;

/// What sandboxes hold (read from their records by the caller, a floor up).
#[derive(Debug, Default)]
pub struct InUse {
    /// Image manifest digest (`sha256:HEX`) -> the sandboxes whose records
    /// run it: by digest, so that a sandbox on an image whose name has since
    /// moved to another image does not hold the name's new image.
    pub images: BTreeMap<String, Vec<String>>,
    /// Every layer folder some sandbox's overlay stands on.
    pub layers: BTreeSet<PathBuf>,
    /// The sandboxes (of those in `images`) whose init runs now.
    pub running: BTreeSet<String>,
}

/// After a name moved off the image `digest` (a load, a tag, an rm -f):
/// when no other name has it and a sandbox uses it, it becomes dangling
/// and the users are returned; otherwise nothing changes (a nameless,
/// unused image is collected by [`collect`]).
pub fn orphan(index: &mut Index, digest: &str, in_use: &InUse) -> Vec<String> {
    if !index.names_of(digest).is_empty() {
        return Vec::new();
    }
    let users = in_use.images.get(digest).cloned().unwrap_or_default();
    if !users.is_empty() {
        index.dangling.insert(digest.to_string());
    }
    users
}

/// Removes every layer and blob no image of the index (named or dangling)
/// names, except the layers in `in_use`, and the recorded sizes of layers
/// gone; returns the bytes the removed layers held. Under the store's lock
/// (`lock`: loads commit under it).
pub fn collect(store: &Store, lock: &StoreLock, in_use: &BTreeSet<PathBuf>) -> Result<u64> {
    let mut kept_layers = BTreeSet::new();
    let mut kept_blobs = BTreeSet::new();
    for other in store.images()? {
        kept_blobs.insert(other.digest.hex().to_string());
        kept_blobs.insert(other.id.hex().to_string());
        for id in other.config.rootfs().diff_ids() {
            kept_layers.insert(Digest::parse(id)?.hex().to_string());
        }
    }
    let sizes = store.index()?.sizes;
    let mut freed = 0;
    for (sub, kept) in [("layers", &kept_layers), ("blobs/sha256", &kept_blobs)] {
        let dir = store.dir().join(sub);
        let entries = std::fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if !kept.contains(&name) && !in_use.contains(&path) {
                if sub == "layers" {
                    freed += sizes
                        .get(&name)
                        .copied()
                        .unwrap_or_else(|| super::store::dir_size(&path));
                }
                store.discard(&path)?;
            }
        }
    }
    let mut index = store.index()?;
    let before = index.sizes.len();
    index
        .sizes
        .retain(|hex, _| store.dir().join("layers").join(hex).is_dir());
    if index.sizes.len() != before {
        store.write_index(lock, &index)?;
    }
    Ok(freed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nameless_image_is_kept_only_while_used() {
        let mut index = Index::default();
        index.images.insert("a:1".into(), "sha256:new".into());
        index.images.insert("b:1".into(), "sha256:shared".into());
        let mut in_use = InUse::default();
        in_use
            .images
            .insert("sha256:old".into(), vec!["s1".into(), "s2".into()]);
        in_use
            .images
            .insert("sha256:shared".into(), vec!["s3".into()]);
        // Used, and no name left: kept, its users said.
        assert_eq!(orphan(&mut index, "sha256:old", &in_use), ["s1", "s2"]);
        assert!(index.dangling.contains("sha256:old"));
        // Still named elsewhere: nothing to keep.
        assert!(orphan(&mut index, "sha256:shared", &in_use).is_empty());
        assert!(!index.dangling.contains("sha256:shared"));
        // Unused: left to the collector.
        assert!(orphan(&mut index, "sha256:gone", &in_use).is_empty());
        assert_eq!(index.dangling.len(), 1);
    }
}
