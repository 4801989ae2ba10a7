//! `sbx image load|ls|inspect|rm|tag|prune` (SPEC "Images"): what they
//! print, with Docker's behaviour where sbx's SPEC says nothing.

use super::digest::Digest;
use super::{Image, NONE, Store, gc};
use anyhow::{Result, bail};
use serde_json::json;
use std::path::Path;

pub use gc::{InUse, UsedBy};

/// `sbx image load [FILE|DIR]`: prints `Loaded image: NAME` per image;
/// `None` reads a tar from stdin.
pub fn load(store_dir: &Path, input: Option<&Path>, in_use: UsedBy) -> Result<()> {
    let store = Store::open(store_dir)?;
    let loaded = super::load(&store, input, in_use)?;
    announce("Loaded", &loaded);
    Ok(())
}

/// `sbx image pull REF`: prints `Pulled image: NAME`.
pub fn pull(store_dir: &Path, reference: &str, insecure: bool, in_use: UsedBy) -> Result<()> {
    let loaded = super::pull::pull(store_dir, reference, insecure, in_use)?;
    announce("Pulled", &loaded);
    Ok(())
}

/// Prints what a load or pull named; where a name moved to another image,
/// says which image lost it and whether it was collected or, used by a
/// sandbox, kept as `<none>:<none>`.
fn announce(verb: &str, loaded: &[super::load::Loaded]) {
    for image in loaded {
        let Some(name) = &image.name else {
            // As `docker load` says it of an image without a tag.
            println!("{verb} image ID: {}", image.id);
            continue;
        };
        let Some(old) = &image.replaced else {
            println!("{verb} image: {name}");
            continue;
        };
        let id = &old.hex()[..12];
        match image.kept_for.as_slice() {
            [] => println!("{verb} image: {name} (replaces {id}, which no longer has a name)"),
            users => println!(
                "{verb} image: {name} (replaces {id}, kept as <none>:<none> while sandbox {} uses it; remove it then with sbx image rm {id} or sbx image prune)",
                users.join(", ")
            ),
        }
    }
}

/// The summary `image ls --json` prints per image: name, id (the config's
/// digest), digest (the manifest's), size in bytes (unpacked, on disk),
/// created (RFC 3339, as the config says; empty when it does not).
fn summary(image: &Image, size: u64) -> serde_json::Value {
    json!({
        "name": image.name,
        "id": image.id.to_string(),
        "digest": image.digest.to_string(),
        "size": size,
        "created": image.config.created().clone().unwrap_or_default(),
    })
}

/// `sbx image ls [--json] [-q]` (and `sbx images`): `-q` prints IDs only,
/// one per listed image, as `docker images -q`.
pub fn ls(store_dir: &Path, as_json: bool, quiet: bool) -> Result<()> {
    let (images, index, store) = match Store::existing(store_dir) {
        Some(store) => (store.images()?, store.index()?, Some(store)),
        None => (Vec::new(), Default::default(), None),
    };
    let size = |i: &Image| store.as_ref().map_or(0, |s| i.disk_size(s, &index));
    if quiet {
        for image in &images {
            println!("{}", &image.id.hex()[..12]);
        }
        return Ok(());
    }
    if as_json {
        let all: Vec<_> = images.iter().map(|i| summary(i, size(i))).collect();
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
            human_size(size(image)),
            image.config.created().clone().unwrap_or_default(),
        ]);
    }
    print!("{}", crate::table::format_columns(&lines));
    Ok(())
}

/// Bytes as Docker's CLI prints an image size: decimal units (kB = 1000
/// bytes), three significant digits (`4.26MB`, `123kB`, `512B`), as
/// go-units' `HumanSizeWithPrecision(size, 3)` does.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    // Three significant digits, trailing zeros dropped (Go's %.3g); a
    // value that rounds up to 1000 moves to the next unit.
    let decimals = match value {
        v if v < 9.995 => 2,
        v if v < 99.95 => 1,
        _ => 0,
    };
    let mut text = format!("{value:.decimals$}");
    if text == "1000" && unit + 1 < UNITS.len() {
        text = "1".to_string();
        unit += 1;
    }
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{text}{}", UNITS[unit])
}

/// `sbx image inspect NAME`: the summary, the layers (diff_ids, bottom
/// first, and their folders), the manifest and the config, as JSON.
pub fn inspect(store_dir: &Path, name: &str) -> Result<()> {
    let Some(store) = Store::existing(store_dir) else {
        if name.is_empty() {
            bail!("empty image name: give REPO[:TAG] or an image ID (see sbx image ls)");
        }
        bail!(
            "no image {name}: the image store {} is empty",
            store_dir.display()
        );
    };
    let image = store.image(name)?;
    let mut out = summary(&image, image.disk_size(&store, &store.index()?));
    let dirs: Vec<String> = image
        .layer_dirs(&store)?
        .iter()
        .rev()
        .map(|d| d.display().to_string())
        .collect();
    out["names"] = json!(store.index()?.names_of(&image.digest.to_string()));
    out["layers"] = json!(image.config.rootfs().diff_ids());
    out["layer_dirs"] = json!(dirs);
    out["manifest"] = serde_json::to_value(&image.manifest)?;
    out["config"] = serde_json::to_value(&image.config)?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// `sbx image tag SRC NEW`: NEW names SRC's image too (Docker's). The
/// image NEW named before, if another, loses that name: collected when
/// nothing else names or uses it, else kept (see [`gc::orphan`]).
pub fn tag(store_dir: &Path, source: &str, target: &str, in_use: UsedBy) -> Result<()> {
    super::reference::check(target)?;
    let Some(store) = Store::existing(store_dir) else {
        bail!(
            "no image {source}: the image store {} is empty",
            store_dir.display()
        );
    };
    let lock = store.lock()?;
    let image = store.image(source)?;
    let name = super::reference::normalize(target);
    let digest = image.digest.to_string();
    let mut index = store.index()?;
    index.dangling.remove(&digest);
    let previous = index.images.insert(name, digest.clone());
    match previous {
        Some(old) if old != digest => {
            let held = in_use()?;
            gc::orphan(&mut index, &old, &held);
            store.write_index(&lock, &index)?;
            gc::collect(&store, &lock, &held.layers)?;
        }
        _ => store.write_index(&lock, &index)?,
    }
    Ok(())
}

/// `sbx image rm [-f] NAME...`: each image goes unless a sandbox uses it
/// (see [`InUse`]): its name, then every layer and blob no image of the
/// store needs any more, except layers a sandbox stands on. As in Docker:
/// a name of an image with other names only untags; an ID naming an image
/// with several names needs `-f`, which removes them all; `-f` also takes
/// the names of an image only stopped sandboxes use (it stays, unnamed,
/// while they hold it), never of one a running sandbox uses. Every name is
/// tried; the error lists those that could not go.
pub fn rm(store_dir: &Path, names: &[String], force: bool, in_use: UsedBy) -> Result<()> {
    let Some(store) = Store::existing(store_dir) else {
        bail!(
            "no image {}: the image store {} is empty",
            names.join(", "),
            store_dir.display()
        );
    };
    let mut failed = Vec::new();
    for name in names {
        match rm_one(&store, name, force, in_use) {
            Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    match failed.as_slice() {
        [] => Ok(()),
        [one] => bail!("{one}"),
        many => bail!("{} images not removed: {}", many.len(), many.join("; ")),
    }
}

/// Removes one image (or one of its names); returns the lines to print.
fn rm_one(store: &Store, name: &str, force: bool, in_use: UsedBy) -> Result<Vec<String>> {
    // The records are read under the store's lock: a `run` of this image
    // either wrote its record before (and is named below) or checks its
    // layers after this removal (see `check_layers`), never in between.
    let lock = store.lock()?;
    let in_use = in_use()?;
    let (image, by_name) = store.find(name)?;
    let digest = image.digest.to_string();
    let mut index = store.index()?;
    let names = index.names_of(&digest);
    let short = &image.id.hex()[..12];
    if by_name && names.len() > 1 {
        index.images.remove(&image.name);
        store.write_index(&lock, &index)?;
        return Ok(vec![format!("Untagged: {}", image.name)]);
    }
    if names.len() > 1 && !force {
        bail!(
            "image {short} has several names ({}): remove them one by one, or all with sbx image rm -f {name}",
            names.join(", ")
        );
    }
    let using = in_use.images.get(&digest).cloned().unwrap_or_default();
    let running: Vec<String> = (using.iter())
        .filter(|u| in_use.running.contains(*u))
        .cloned()
        .collect();
    let what = if image.is_dangling() {
        short.to_string()
    } else {
        image.name.clone()
    };
    match (force, running.as_slice(), using.as_slice()) {
        (_, [], []) => {}
        (true, [], _) => {}
        (true, [one], _) => bail!(
            "image {what} is used by running sandbox {one}: remove the sandbox first (sbx rm -f {one})"
        ),
        (true, many, _) => bail!(
            "image {what} is used by running sandboxes {}: remove them first (sbx rm -f {})",
            many.join(", "),
            many.join(" ")
        ),
        (false, _, [one]) => bail!(
            "image {what} is used by sandbox {one}: remove the sandbox first (sbx rm -f {one})"
        ),
        (false, _, many) => bail!(
            "image {what} is used by sandboxes {}: remove them first (sbx rm -f {})",
            many.join(", "),
            many.join(" ")
        ),
    }
    let mut lines: Vec<String> = names.iter().map(|n| format!("Untagged: {n}")).collect();
    for n in &names {
        index.images.remove(n);
    }
    index.dangling.remove(&digest);
    if !using.is_empty() {
        // -f with only stopped users: unnamed, kept while they hold it.
        index.dangling.insert(digest);
        store.write_index(&lock, &index)?;
        return Ok(lines);
    }
    store.write_index(&lock, &index)?;
    gc::collect(store, &lock, &in_use.layers)?;
    drop(lock);
    lines.push(format!("Deleted: {}", image.id));
    Ok(lines)
}

/// `sbx image prune`: removes every image without a name that no sandbox
/// uses, then every layer and blob no image needs (also those an older
/// sbx left behind); prints what went and the bytes freed.
pub fn prune(store_dir: &Path, in_use: UsedBy) -> Result<()> {
    let Some(store) = Store::existing(store_dir) else {
        println!("Total reclaimed space: 0B");
        return Ok(());
    };
    store.sweep();
    let lock = store.lock()?;
    let held = in_use()?;
    let mut index = store.index()?;
    let mut deleted = Vec::new();
    for digest in index.dangling.clone() {
        if held.images.get(&digest).is_some_and(|u| !u.is_empty()) {
            continue;
        }
        if let Ok(image) = store.read_image(NONE, &Digest::parse(&digest)?) {
            deleted.push(image.id.to_string());
        }
        index.dangling.remove(&digest);
    }
    store.write_index(&lock, &index)?;
    let freed = gc::collect(&store, &lock, &held.layers)?;
    drop(lock);
    for id in &deleted {
        println!("Deleted: {id}");
    }
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_read_as_docker_prints_them() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(4_261_234), "4.26MB");
        assert_eq!(human_size(1_000), "1kB");
        assert_eq!(human_size(123_456), "123kB");
        assert_eq!(human_size(12_345_678), "12.3MB");
        assert_eq!(human_size(999_999), "1MB");
        assert_eq!(human_size(1_500_000_000), "1.5GB");
    }
}
