//! `docker save` archives for `sbx image load` (SPEC "Images"): their
//! manifest.json (Config, RepoTags, Layers), the RepoTags Docker 25+ also
//! writes beside an OCI index, and skopeo's `dir:` layout, which looks
//! like one and is refused.

use super::digest::Digest;
use super::load::{Candidate, candidate, verified, verify_file};
use super::reference;
use anyhow::{Context, Result, bail};
use oci_spec::image::{Descriptor, ImageConfiguration, MediaType};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One entry of `docker save`'s manifest.json.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// skopeo's `dir:` layout (a `version` file, one manifest.json object,
/// blobs by bare hex) looks like `docker save` at first sight: refused in
/// words, naming the forms that work.
pub(super) fn refuse_skopeo_dir(dir: &Path, shown: &str) -> Result<()> {
    let version = std::fs::read(dir.join("version")).unwrap_or_default();
    let single_manifest = std::fs::read(dir.join("manifest.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.is_object());
    if version.starts_with(b"Directory Transport Version") || single_manifest {
        bail!(
            "{shown} is a skopeo dir: layout, which is not supported: use oci: or docker-archive: (skopeo copy SRC oci:DIR:NAME:TAG, or docker-archive:FILE:NAME:TAG)"
        );
    }
    Ok(())
}

/// RepoTags of a manifest.json beside index.json (Docker 25+ writes both),
/// by config hex.
pub(super) fn docker_tags(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let Ok(bytes) = std::fs::read(dir.join("manifest.json")) else {
        return BTreeMap::new();
    };
    let entries: Vec<DockerEntry> = serde_json::from_slice(&bytes).unwrap_or_default();
    entries
        .into_iter()
        .filter_map(|e| {
            let hex = hex_in_path(&e.config)?;
            Some((hex, e.repo_tags.unwrap_or_default()))
        })
        .collect()
}

/// The digest hex a `docker save` path carries: `blobs/sha256/HEX` or `HEX.json`.
fn hex_in_path(path: &str) -> Option<String> {
    let last = path.rsplit('/').next()?;
    let hex = last.strip_suffix(".json").unwrap_or(last);
    Digest::from_hex(hex).map(|d| d.hex().to_string())
}

/// A `docker save` archive: manifest.json with Config, RepoTags, Layers.
/// Layers are checked against the digest their path carries, else their
/// diff_id (they are uncompressed tars); a manifest is made for the store.
pub(super) fn docker(dir: &Path) -> Result<Vec<Candidate>> {
    let bytes = std::fs::read(dir.join("manifest.json")).context("read manifest.json")?;
    let entries: Vec<DockerEntry> =
        serde_json::from_slice(&bytes).context("parse manifest.json")?;
    let inside = |p: &str| -> Result<PathBuf> {
        let parts = super::paths::components(Path::new(p))?;
        Ok(parts.iter().fold(dir.to_path_buf(), |acc, c| acc.join(c)))
    };
    let mut out = Vec::new();
    for e in entries {
        let config_path = inside(&e.config)?;
        let config = match hex_in_path(&e.config).and_then(|h| Digest::from_hex(&h)) {
            Some(d) => verified(&config_path, &d)?,
            None => std::fs::read(&config_path).with_context(|| format!("read {}", e.config))?,
        };
        let parsed: ImageConfiguration =
            serde_json::from_slice(&config).with_context(|| format!("parse {}", e.config))?;
        let tags = e.repo_tags.unwrap_or_default();
        let label = reference::resolve_name(None, None, &tags)
            .unwrap_or_else(|| format!("image {}", e.config));
        let diff_ids = parsed.rootfs().diff_ids();
        if diff_ids.len() != e.layers.len() {
            bail!(
                "{label}: {} layers but {} diff_ids in its config: refused",
                e.layers.len(),
                diff_ids.len()
            );
        }
        let mut layers = Vec::new();
        let mut descriptors = Vec::new();
        for (layer, id) in e.layers.iter().zip(diff_ids) {
            let path = inside(layer)?;
            let expected = match hex_in_path(layer).and_then(|h| Digest::from_hex(&h)) {
                Some(d) => d,
                None => Digest::parse(id)?,
            };
            verify_file(&path, &expected)?;
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            descriptors.push(Descriptor::new(
                MediaType::ImageLayer,
                size,
                oci_digest(&expected)?,
            ));
            layers.push((path, expected));
        }
        let config_desc = Descriptor::new(
            MediaType::ImageConfig,
            config.len() as u64,
            oci_digest(&Digest::of_bytes(&config))?,
        );
        let manifest = oci_spec::image::ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(config_desc)
            .layers(descriptors)
            .build()
            .context("make a manifest")?;
        let manifest = serde_json::to_vec(&manifest)?;
        // Every tag names the image, as `docker load` loads them all.
        let mut names: Vec<String> = Vec::new();
        for tag in (tags.iter())
            .filter(|t| !t.is_empty())
            .map(|t| reference::normalize(t))
        {
            if !names.contains(&tag) {
                names.push(tag);
            }
        }
        // No RepoTags (`docker save` of an image by ID): loaded unnamed.
        let names: Vec<Option<String>> = if names.is_empty() {
            vec![None]
        } else {
            names.into_iter().map(Some).collect()
        };
        for n in names {
            out.push(candidate(
                n,
                manifest.clone(),
                config.clone(),
                layers.clone(),
            )?);
        }
    }
    if out.is_empty() {
        bail!("manifest.json lists no image: nothing to load");
    }
    Ok(out)
}

fn oci_digest(d: &Digest) -> Result<oci_spec::image::Digest> {
    d.to_string()
        .parse()
        .map_err(|e| anyhow::anyhow!("digest {d}: {e}"))
}
