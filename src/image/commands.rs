//! `sbx image load|ls|inspect|rm` (SPEC "Images"): what they print.

use super::digest::Digest;
use super::{Image, Store};
use anyhow::{Context, Result, bail};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// `sbx image load FILE|DIR`: prints `Loaded image: NAME` per image.
pub fn load(store_dir: &Path, input: &Path, in_use: UsedBy) -> Result<()> {
    let store = Store::open(store_dir)?;
    let loaded = super::load(&store, input)?;
    announce(&store, "Loaded", &loaded, in_use)
}

/// `sbx image pull REF`: prints `Pulled image: NAME`.
pub fn pull(store_dir: &Path, reference: &str, insecure: bool, in_use: UsedBy) -> Result<()> {
    let loaded = super::pull::pull(store_dir, reference, insecure)?;
    announce(&Store::open(store_dir)?, "Pulled", &loaded, in_use)
}

/// Prints what a load or pull named; where a name moved to another image,
/// says which image lost it and collects what only that one needed (a
/// sandbox still running on it keeps its layers: see [`InUse`]).
fn announce(
    store: &Store,
    verb: &str,
    loaded: &[super::load::Loaded],
    in_use: UsedBy,
) -> Result<()> {
    let mut replaced_any = false;
    for image in loaded {
        match &image.replaced {
            Some(old) => {
                replaced_any = true;
                // Named by its ID, as `image ls` shows it (the manifest's
                // digest if its blobs cannot be read).
                let id = store.read_image(&image.name, old).map_or_else(
                    |_| old.hex()[..12].to_string(),
                    |i| i.id.hex()[..12].to_string(),
                );
                println!(
                    "{verb} image: {} (replaces {id}, which no longer has a name)",
                    image.name
                );
            }
            None => println!("{verb} image: {}", image.name),
        }
    }
    if replaced_any {
        let lock = store.lock()?;
        collect_garbage(store, &in_use()?.layers)?;
        drop(lock);
    }
    Ok(())
}

/// The summary `image ls --json` prints per image: name, id (the config's
/// digest), digest (the manifest's), size in bytes, created (RFC 3339, as
/// the config says; empty when it does not).
fn summary(image: &Image) -> serde_json::Value {
    json!({
        "name": image.name,
        "id": image.id.to_string(),
        "digest": image.digest.to_string(),
        "size": image.size(),
        "created": image.config.created().clone().unwrap_or_default(),
    })
}

/// `sbx image ls [--json]`.
pub fn ls(store_dir: &Path, as_json: bool) -> Result<()> {
    let images = match Store::existing(store_dir) {
        Some(store) => store.images()?,
        None => Vec::new(),
    };
    if as_json {
        let all: Vec<_> = images.iter().map(summary).collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    let mut lines = vec![vec![
        "NAME".to_string(),
        "ID".to_string(),
        "SIZE".to_string(),
        "CREATED".to_string(),
    ]];
    for image in &images {
        lines.push(vec![
            image.name.clone(),
            image.id.hex()[..12].to_string(),
            human_size(image.size()),
            image.config.created().clone().unwrap_or_default(),
        ]);
    }
    print!("{}", crate::table::format_columns(&lines));
    Ok(())
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1}GB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.1}MB", b as f64 / f64::from(1u32 << 20)),
        b if b >= 1 << 10 => format!("{:.1}kB", b as f64 / 1024.0),
        b => format!("{b}B"),
    }
}

/// `sbx image inspect NAME`: the summary, the layers (diff_ids, bottom
/// first, and their folders), the manifest and the config, as JSON.
pub fn inspect(store_dir: &Path, name: &str) -> Result<()> {
    let Some(store) = Store::existing(store_dir) else {
        bail!(
            "no image {name}: the image store {} is empty",
            store_dir.display()
        );
    };
    let image = store.image(name)?;
    let mut out = summary(&image);
    let dirs: Vec<String> = image
        .layer_dirs(&store)?
        .iter()
        .rev()
        .map(|d| d.display().to_string())
        .collect();
    out["layers"] = json!(image.config.rootfs().diff_ids());
    out["layer_dirs"] = json!(dirs);
    out["manifest"] = serde_json::to_value(&image.manifest)?;
    out["config"] = serde_json::to_value(&image.config)?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// Reads what sandboxes hold (the caller's, a floor up): called under the
/// store's lock, so no launch slips between the reading and the removal.
pub type UsedBy<'a> = &'a dyn Fn() -> Result<InUse>;

/// What sandboxes hold (read from their records by the caller, a floor up).
#[derive(Debug, Default)]
pub struct InUse {
    /// Image manifest digest (`sha256:HEX`) -> the sandboxes whose records
    /// run it: by digest, so that a sandbox on an image whose name has since
    /// moved to another image does not hold the name's new image.
    pub images: std::collections::BTreeMap<String, Vec<String>>,
    /// Every layer folder some sandbox's overlay stands on.
    pub layers: BTreeSet<PathBuf>,
}

/// `sbx image rm NAME...`: each image goes unless a sandbox uses it (see
/// [`InUse`]): its name, then every layer and blob no image of the store
/// needs any more (this one's, and those an image loaded again under its
/// name left behind), except layers a sandbox stands on. Every name is
/// tried, as Docker does; the error lists those that could not go.
pub fn rm(store_dir: &Path, names: &[String], in_use: UsedBy) -> Result<()> {
    let Some(store) = Store::existing(store_dir) else {
        bail!(
            "no image {}: the image store {} is empty",
            names.join(", "),
            store_dir.display()
        );
    };
    let mut failed = Vec::new();
    for name in names {
        match rm_one(&store, name, in_use) {
            Ok(removed) => println!("Untagged: {removed}"),
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    match failed.as_slice() {
        [] => Ok(()),
        [one] => bail!("{one}"),
        many => bail!("{} images not removed: {}", many.len(), many.join("; ")),
    }
}

/// Removes one image; returns its name.
fn rm_one(store: &Store, name: &str, in_use: UsedBy) -> Result<String> {
    // The records are read under the store's lock: a `run` of this image
    // either wrote its record before (and is named below) or checks its
    // layers after this removal (see `check_layers`), never in between.
    let lock = store.lock()?;
    let in_use = in_use()?;
    let image = store.image(name)?;
    let using = in_use
        .images
        .get(&image.digest.to_string())
        .cloned()
        .unwrap_or_default();
    match using.as_slice() {
        [] => {}
        [one] => bail!(
            "image {} is used by sandbox {one}: remove the sandbox first (sbx rm -f {one})",
            image.name
        ),
        many => bail!(
            "image {} is used by sandboxes {}: remove them first (sbx rm -f {})",
            image.name,
            many.join(", "),
            many.join(" ")
        ),
    }
    let mut index = store.index()?;
    index.images.remove(&image.name);
    store.write_index(&lock, &index)?;
    collect_garbage(store, &in_use.layers)?;
    drop(lock);
    Ok(image.name)
}

/// Removes every layer and blob no image of the index names, except the
/// layers in `in_use`. Call under the store's lock (loads commit under it).
fn collect_garbage(store: &Store, in_use: &BTreeSet<PathBuf>) -> Result<()> {
    let mut kept_layers = BTreeSet::new();
    let mut kept_blobs = BTreeSet::new();
    for other in store.images()? {
        kept_blobs.insert(other.digest.hex().to_string());
        kept_blobs.insert(other.id.hex().to_string());
        for id in other.config.rootfs().diff_ids() {
            kept_layers.insert(Digest::parse(id)?.hex().to_string());
        }
    }
    for (sub, kept) in [("layers", &kept_layers), ("blobs/sha256", &kept_blobs)] {
        let dir = store.dir().join(sub);
        let entries = std::fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if !kept.contains(&name) && !in_use.contains(&path) {
                store.discard(&path)?;
            }
        }
    }
    Ok(())
}
