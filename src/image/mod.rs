//! The image store and its commands (SPEC "Images"): images loaded from
//! `docker save`/OCI archives and layouts or pulled from a registry, kept
//! as one unpacked folder per layer, shared by every image and sandbox
//! that has it. Below the core: `spec` asks it for an image's layers and
//! config; `fs` mounts the overlay.

pub mod commands;
pub mod config;
pub mod digest;
mod docker;
mod gc;
mod load;
mod paths;
mod platform;
pub mod pull;
pub mod reference;
mod source;
pub mod store;
mod unpack;

pub use load::load;
pub use store::Store;

use anyhow::{Context, Result, bail};
use digest::Digest;
use oci_spec::image::{ImageConfiguration, ImageManifest};
use std::path::PathBuf;

/// Checks, under the store's shared lock, that every layer folder of
/// `layers` (an image sandbox's overlay, topmost first, all in one store's
/// `layers/`) is still there. Call once the sandbox's record names them:
/// `image rm` and a reload read the records under the exclusive lock, so
/// they either saw this sandbox and kept its layers, or finished removing
/// them before this check, which then fails cleanly instead of mounting a
/// root with holes. Errors: a layer gone (the image was removed meanwhile).
pub fn check_layers(image: &str, layers: &[PathBuf]) -> Result<()> {
    let Some(store_dir) = layers
        .first()
        .and_then(|l| l.parent())
        .and_then(|l| l.parent())
    else {
        return Ok(());
    };
    let Some(store) = Store::existing(store_dir) else {
        bail!("image {image} was removed while this sandbox started: load or pull it again");
    };
    let _shared = store.lock_shared()?;
    if let Some(gone) = layers.iter().find(|l| !l.is_dir()) {
        bail!(
            "image {image} was removed while this sandbox started (its layer {} is gone): load or pull it again",
            gone.display()
        );
    }
    Ok(())
}

/// One image of the store, read and checked.
pub struct Image {
    /// `REPO:TAG`.
    pub name: String,
    /// Its manifest's digest (what the index names).
    pub digest: Digest,
    /// The manifest.
    pub manifest: ImageManifest,
    /// The config's digest: the image's id, as Docker shows it.
    pub id: Digest,
    /// The config: Entrypoint, Cmd, Env, WorkingDir, User, diff_ids.
    pub config: ImageConfiguration,
}

impl Image {
    /// The unpacked layer folders, topmost first (overlayfs's `lowerdir`
    /// order); an error names a missing one.
    pub fn layer_dirs(&self, store: &Store) -> Result<Vec<PathBuf>> {
        let mut dirs = Vec::new();
        for id in self.config.rootfs().diff_ids().iter().rev() {
            let dir = store.layer_dir(&Digest::parse(id)?);
            if !dir.is_dir() {
                bail!(
                    "image {}: layer {id} is missing from the image store: load the image again",
                    self.name
                );
            }
            dirs.push(dir);
        }
        Ok(dirs)
    }

    /// Bytes its layers take unpacked on disk (what `image ls` shows, as
    /// Docker shows the uncompressed size): as measured at unpack time,
    /// else measured now, else (a folder this user cannot read) the
    /// manifest's compressed size of that layer.
    pub fn disk_size(&self, store: &Store, index: &store::Index) -> u64 {
        let diff_ids = self.config.rootfs().diff_ids();
        let layers = self.manifest.layers();
        diff_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let Ok(d) = Digest::parse(id) else { return 0 };
                if let Some(size) = index.sizes.get(d.hex()) {
                    return *size;
                }
                let dir = store.layer_dir(&d);
                match std::fs::read_dir(&dir) {
                    Ok(_) => store::dir_size(&dir),
                    Err(_) => layers.get(i).map_or(0, |l| l.size()),
                }
            })
            .sum()
    }

    /// Whether it has no name (`<none>:<none>`, see `Index::dangling`).
    pub fn is_dangling(&self) -> bool {
        self.name == NONE
    }
}

/// What `image ls` calls an image without a name, as Docker does.
pub const NONE: &str = "<none>:<none>";

impl Store {
    /// The image called `name` (`busybox` means `busybox:latest`,
    /// `docker.io/library/busybox` too), or, as in Docker, whose ID (its
    /// config's digest, `sha256:` optional) starts with `name`'s hex
    /// (at least 4 digits, naming one image).
    pub fn image(&self, name: &str) -> Result<Image> {
        self.find(name).map(|(image, _)| image)
    }

    /// [`Store::image`], and whether `name` was one of its names (`false`:
    /// found by its ID). Errors: an empty or malformed name (the rule
    /// said), an ambiguous ID, no such image.
    pub fn find(&self, name: &str) -> Result<(Image, bool)> {
        if name.is_empty() {
            bail!("empty image name: give REPO[:TAG] or an image ID (see sbx image ls)");
        }
        let index = self.index()?;
        let full = reference::normalize(name);
        for key in [full.as_str(), name] {
            if let Some(digest) = index.images.get(key) {
                return Ok((self.read_image(key, &Digest::parse(digest)?)?, true));
            }
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if hex.len() >= 4 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            let matching: Vec<Image> = self
                .images()?
                .into_iter()
                .filter(|i| i.id.hex().starts_with(&hex.to_ascii_lowercase()))
                .collect();
            if let [one, rest @ ..] = matching.as_slice() {
                // One image, maybe under several names: the first name.
                if let Some(other) = rest.iter().find(|i| i.id != one.id) {
                    bail!(
                        "image ID {name} is ambiguous: it starts the IDs of {} and {}; give more digits or a name",
                        one.name,
                        other.name
                    );
                }
                return Ok((self.read_image(&one.name, &one.digest)?, false));
            }
        }
        reference::check(name)?;
        bail!(
            "no image {name} in the image store {}: load it with sbx image load or pull it with sbx image pull",
            self.dir().display()
        );
    }

    /// Every image of the index: by name, then those without one
    /// (named [`NONE`]).
    pub fn images(&self) -> Result<Vec<Image>> {
        let index = self.index()?;
        let named = index.images.iter().map(|(n, d)| (n.as_str(), d));
        let dangling = index.dangling.iter().map(|d| (NONE, d));
        named
            .chain(dangling)
            .map(|(name, digest)| self.read_image(name, &Digest::parse(digest)?))
            .collect()
    }

    /// One image by its manifest digest, called `name`.
    pub(crate) fn read_image(&self, name: &str, digest: &Digest) -> Result<Image> {
        let manifest: ImageManifest = serde_json::from_slice(&self.blob(digest)?)
            .with_context(|| format!("parse the manifest of {name}"))?;
        let id = Digest::parse(manifest.config().digest().as_ref())?;
        let config: ImageConfiguration = serde_json::from_slice(&self.blob(&id)?)
            .with_context(|| format!("parse the config of {name}"))?;
        Ok(Image {
            name: name.to_string(),
            digest: digest.clone(),
            manifest,
            id,
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launch_finds_out_that_its_layers_went() {
        let dir = std::env::temp_dir().join(format!("sbx-layers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let layers: Vec<PathBuf> = ["aa", "bb"]
            .iter()
            .map(|h| dir.join("layers").join(h))
            .collect();
        for l in &layers {
            std::fs::create_dir_all(l).expect("layer folder");
        }
        std::fs::create_dir_all(dir.join("blobs")).expect("a store");
        check_layers("t:1", &layers).expect("all there");
        std::fs::remove_dir(&layers[1]).expect("remove one");
        let e = check_layers("t:1", &layers).unwrap_err().to_string();
        assert!(
            e.contains("image t:1 was removed") && e.contains("bb"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
        // No layers (not an image sandbox): nothing to check.
        check_layers("t:1", &[]).expect("nothing");
    }
}
