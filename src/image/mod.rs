//! The image store and its commands (SPEC "Images"): images loaded from
//! `docker save`/OCI archives and layouts or pulled from a registry, kept
//! as one unpacked folder per layer, shared by every image and sandbox
//! that has it. Below the core: `spec` asks it for an image's layers and
//! config; `fs` mounts the overlay.

pub mod commands;
pub mod config;
pub mod digest;
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

    /// Bytes of its layers and config, as its manifest gives them.
    pub fn size(&self) -> u64 {
        self.manifest.layers().iter().map(|l| l.size()).sum::<u64>() + self.manifest.config().size()
    }
}

impl Store {
    /// The image called `name` (`busybox` means `busybox:latest`,
    /// `docker.io/library/busybox` too), or, as in Docker, whose ID (its
    /// config's digest, `sha256:` optional) starts with `name`'s hex
    /// (at least 4 digits, naming one image).
    pub fn image(&self, name: &str) -> Result<Image> {
        let index = self.index()?;
        let full = reference::normalize(name);
        for key in [full.as_str(), name] {
            if let Some(digest) = index.images.get(key) {
                return self.read_image(key, &Digest::parse(digest)?);
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
                return self.read_image(&one.name, &one.digest);
            }
        }
        bail!(
            "no image {name} in the image store {}: load it with sbx image load or pull it with sbx image pull",
            self.dir().display()
        );
    }

    /// Every image of the index, by name.
    pub fn images(&self) -> Result<Vec<Image>> {
        self.index()?
            .images
            .iter()
            .map(|(name, digest)| self.read_image(name, &Digest::parse(digest)?))
            .collect()
    }

    fn read_image(&self, name: &str, digest: &Digest) -> Result<Image> {
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
