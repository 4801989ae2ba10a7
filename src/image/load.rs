//! `sbx image load FILE|DIR` (SPEC "Images"): an OCI image layout (folder
//! or archive) or a `docker save` archive. Three phases, so a refusal at
//! any point leaves the store as it was: every blob is checked against its
//! digest; every missing layer is unpacked into `tmp/` (its uncompressed
//! stream checked against the config's diff_id on the way); only then are
//! layers, blobs and names moved into place, under the store's lock.

use super::digest::{Digest, HashingReader};
use super::docker::{docker, docker_tags, refuse_skopeo_dir};
use super::gc::{self, UsedBy};
use super::platform::pick_platform;
use super::reference;
use super::store::{self, Store, Temp};
use super::{source, unpack};
use anyhow::{Context, Result, bail};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// One image found in the input, every blob already verified.
pub(super) struct Candidate {
    /// `REPO:TAG`; `None`: the input names it nowhere (loaded unnamed,
    /// `<none>:<none>`, as `docker load` does).
    pub(super) name: Option<String>,
    manifest: Vec<u8>,
    config: Vec<u8>,
    /// (file, diff_id), bottom layer first.
    layers: Vec<(PathBuf, Digest)>,
}

/// Loads every image in `path` (`None`: a tar on stdin); returns their
/// names. An image that loses its last name to this load while a sandbox
/// runs it (`in_use`, read under the store's lock) stays, unnamed.
pub fn load(store: &Store, path: Option<&Path>, in_use: UsedBy) -> Result<Vec<Loaded>> {
    store.sweep();
    let src = source::open(store, path)?;
    let dir = &src.dir;
    let shown = path.map_or_else(|| "stdin".to_string(), |p| p.display().to_string());
    let candidates = if dir.join("index.json").is_file() {
        oci(dir)?
    } else if dir.join("manifest.json").is_file() {
        refuse_skopeo_dir(dir, &shown)?;
        docker(dir)?
    } else if path.is_none() && std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none()) {
        bail!(
            "nothing came on stdin: pipe an image archive in (sbx image load < image.tar) or name it (sbx image load FILE)"
        );
    } else {
        bail!(
            "{shown} holds neither index.json (OCI) nor manifest.json (docker save): nothing to load"
        );
    };
    for name in candidates.iter().filter_map(|c| c.name.as_ref()) {
        reference::check(name)?;
    }
    // Phase 2: unpack what the store lacks, nothing visible yet.
    let mut unpacked: BTreeMap<Digest, Temp> = BTreeMap::new();
    let mut sizes = BTreeMap::new();
    for c in &candidates {
        for (file, diff_id) in &c.layers {
            if unpacked.contains_key(diff_id) {
                continue;
            }
            if store.layer_dir(diff_id).is_dir() {
                // The store has it already, but this archive's blob must be
                // whole too: a broken one is refused whatever the store holds.
                check_uncompressed(file, diff_id)?;
                continue;
            }
            let temp = store.temp_dir("layer")?;
            unpack_checked(file, diff_id, temp.path())?;
            sizes.insert(diff_id.hex().to_string(), store::dir_size(temp.path()));
            unpacked.insert(diff_id.clone(), temp);
        }
    }
    // One flush of the store's filesystem before anything unpacked is
    // renamed into place: no trusted layer with unwritten files after a
    // power loss.
    if !unpacked.is_empty() {
        let dir = std::fs::File::open(store.dir()).context("open the image store")?;
        nix::unistd::syncfs(&dir).context("flush the image store")?;
    }
    crate::crash::point("image-unpacked");
    // Phase 3, under the store's lock (an `image rm` may have taken a
    // layer found above): into place, layers first, names last.
    let lock = store.lock()?;
    for c in &candidates {
        for (file, diff_id) in &c.layers {
            let dest = store.layer_dir(diff_id);
            let temp = match unpacked.remove(diff_id) {
                Some(temp) => temp,
                None if dest.is_dir() => continue,
                None => {
                    let temp = store.temp_dir("layer")?;
                    unpack_checked(file, diff_id, temp.path())?;
                    sizes.insert(diff_id.hex().to_string(), store::dir_size(temp.path()));
                    temp
                }
            };
            temp.commit(&dest)?;
        }
    }
    crate::crash::point("image-layers");
    let mut names = Vec::new();
    let mut entries = Vec::new();
    for c in &candidates {
        store.put_blob(&c.config)?;
        let digest = store.put_blob(&c.manifest)?;
        entries.push((c.name.clone(), digest, Digest::of_bytes(&c.config)));
    }
    let mut index = store.index()?;
    index.sizes.extend(sizes);
    let mut replaced_manifests: Vec<Option<Digest>> = Vec::new();
    for (name, digest, id) in &entries {
        let Some(name) = name else {
            // Unnamed: listed by its ID until tagged, unless a name has it.
            if index.names_of(&digest.to_string()).is_empty() {
                index.dangling.insert(digest.to_string());
            }
            replaced_manifests.push(None);
            names.push(Loaded {
                name: None,
                id: id.clone(),
                replaced: None,
                kept_for: Vec::new(),
            });
            continue;
        };
        index.dangling.remove(&digest.to_string());
        let previous = index.images.insert(name.clone(), digest.to_string());
        let replaced = match previous {
            Some(old) if old != digest.to_string() => Some(Digest::parse(&old)?),
            _ => None,
        };
        replaced_manifests.push(replaced.clone());
        // Its ID, as `image ls` showed it, read before it is collected
        // (its manifest's digest if its blobs are unreadable).
        let replaced_id = replaced.as_ref().map(|old| {
            store
                .read_image(super::NONE, old)
                .map_or_else(|_| old.clone(), |i| i.id)
        });
        names.push(Loaded {
            name: Some(name.clone()),
            id: id.clone(),
            replaced: replaced_id,
            kept_for: Vec::new(),
        });
    }
    if replaced_manifests.iter().any(Option::is_some) {
        let held = in_use()?;
        for (loaded, old) in names.iter_mut().zip(&replaced_manifests) {
            if let Some(old) = old {
                loaded.kept_for = gc::orphan(&mut index, &old.to_string(), &held);
            }
        }
        store.write_index(&lock, &index)?;
        gc::collect(store, &lock, &held.layers)?;
    } else {
        store.write_index(&lock, &index)?;
    }
    drop(lock);
    Ok(names)
}

/// One image `load` named.
pub struct Loaded {
    /// `REPO:TAG`; `None`: loaded unnamed (the input names it nowhere).
    pub name: Option<String>,
    /// Its ID (the config's digest).
    pub id: Digest,
    /// The ID (config digest) of the image the name pointed at before, when
    /// this load moved it to another image (Docker leaves that one unnamed;
    /// sbx collects it unless a sandbox uses it).
    pub replaced: Option<Digest>,
    /// The sandboxes still running the replaced image, which is kept,
    /// unnamed, until `image rm ID` or `image prune`; empty: collected.
    pub kept_for: Vec<String>,
}

/// Reads the layer blob `file` through, its uncompressed stream checked
/// against `diff_id`, unpacking nothing.
fn check_uncompressed(file: &Path, diff_id: &Digest) -> Result<()> {
    let reader = BufReader::with_capacity(
        unpack::COPY_BUFFER,
        File::open(file).with_context(|| format!("open {}", file.display()))?,
    );
    let mut hashing = HashingReader::new(source::decompress(reader)?);
    std::io::copy(&mut hashing, &mut std::io::sink())
        .map_err(anyhow::Error::from)
        .map_err(|e| layer_error(diff_id, e))?;
    let got = hashing.finish().context("read the layer")?;
    if got != *diff_id {
        bail!(
            "layer {diff_id} does not match its digest (its contents hash to {got}): refused, nothing loaded"
        );
    }
    Ok(())
}

/// A failure reading layer `diff_id`, in words: not a tar, truncated or
/// damaged (see [`unpack::Broken`]); otherwise the error, naming the layer.
fn layer_error(diff_id: &Digest, e: anyhow::Error) -> anyhow::Error {
    match unpack::broken(&e) {
        Some(b) => anyhow::anyhow!(
            "layer {diff_id} {b}: refused, nothing loaded; save or export the image again"
        ),
        None => e.context(format!("layer {diff_id}")),
    }
}

/// Unpacks the layer blob `file` into `dest`, its uncompressed stream
/// checked against `diff_id`.
fn unpack_checked(file: &Path, diff_id: &Digest, dest: &Path) -> Result<()> {
    let reader = BufReader::with_capacity(
        unpack::COPY_BUFFER,
        File::open(file).with_context(|| format!("open {}", file.display()))?,
    );
    let mut hashing = HashingReader::new(source::decompress(reader)?);
    unpack::unpack(&mut hashing, dest).map_err(|e| layer_error(diff_id, e))?;
    let got = hashing
        .finish()
        .map_err(anyhow::Error::from)
        .map_err(|e| layer_error(diff_id, e))?;
    if got != *diff_id {
        bail!(
            "layer {diff_id} does not match its digest (its contents hash to {got}): refused, nothing loaded"
        );
    }
    Ok(())
}

/// Reads the file `path` and checks it against `expected`.
pub(super) fn verified(path: &Path, expected: &Digest) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("read blob {expected}"))?;
    let got = Digest::of_bytes(&bytes);
    if got != *expected {
        bail!(
            "blob {expected} does not match its digest (it hashes to {got}): refused, nothing loaded"
        );
    }
    Ok(bytes)
}

/// Checks the (large) file `path` against `expected`, streaming.
pub(super) fn verify_file(path: &Path, expected: &Digest) -> Result<()> {
    let file = File::open(path).with_context(|| format!("read blob {expected}"))?;
    let got = Digest::of_reader(file).with_context(|| format!("read blob {expected}"))?;
    if got != *expected {
        bail!(
            "blob {expected} does not match its digest (it hashes to {got}): refused, nothing loaded"
        );
    }
    Ok(())
}

fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs/sha256").join(digest.hex())
}

fn descriptor_digest(d: &Descriptor) -> Result<Digest> {
    Digest::parse(d.digest().as_ref())
}

/// The blob a descriptor names, checked against the descriptor's size
/// before it is read (image-spec descriptor.md: the size is the blob's
/// exact length, and lets a reader refuse an oversized blob unread).
fn described_blob(dir: &Path, d: &Descriptor) -> Result<(PathBuf, Digest)> {
    let digest = descriptor_digest(d)?;
    let path = blob_path(dir, &digest);
    let len = std::fs::metadata(&path)
        .with_context(|| format!("blob {digest} is missing from the image"))?
        .len();
    if len != d.size() {
        bail!(
            "blob {digest} is {len} bytes but its descriptor says {}: refused, nothing loaded",
            d.size()
        );
    }
    Ok((path, digest))
}

/// An OCI image layout: index.json, every manifest it names (one level of
/// nested index, the platform matching this host chosen).
fn oci(dir: &Path) -> Result<Vec<Candidate>> {
    let index_bytes = std::fs::read(dir.join("index.json")).context("read index.json")?;
    check_digests(&index_bytes, "index.json")?;
    let index: ImageIndex = serde_json::from_slice(&index_bytes).context("parse index.json")?;
    let docker_tags = docker_tags(dir);
    let mut out = Vec::new();
    for d in index.manifests() {
        let annotations = d.annotations().clone().unwrap_or_default();
        let (path, mut digest) = described_blob(dir, d)?;
        let listed = digest.clone();
        let mut bytes = verified(&path, &digest)?;
        if is_index(d.media_type(), &bytes) {
            check_digests(&bytes, &format!("index {digest}"))?;
            let nested: ImageIndex =
                serde_json::from_slice(&bytes).with_context(|| format!("parse index {digest}"))?;
            let chosen = pick_platform(nested.manifests())
                .with_context(|| format!("index {digest} lists no image"))?;
            let path;
            (path, digest) = described_blob(dir, chosen)?;
            bytes = verified(&path, &digest)?;
        }
        check_digests(&bytes, &format!("manifest {digest}"))?;
        let manifest: ImageManifest =
            serde_json::from_slice(&bytes).with_context(|| format!("parse manifest {digest}"))?;
        let (config_path, config_digest) = described_blob(dir, manifest.config())?;
        let config = verified(&config_path, &config_digest)?;
        let tags = docker_tags
            .get(config_digest.hex())
            .cloned()
            .unwrap_or_default();
        let name = reference::resolve_name(
            annotations
                .get("io.containerd.image.name")
                .map(String::as_str),
            annotations
                .get("org.opencontainers.image.ref.name")
                .map(String::as_str),
            &tags,
        );
        if let Some(name) = &name {
            check_pinned(name, &[&listed, &digest])?;
        }
        let layers = manifest
            .layers()
            .iter()
            .map(|l| {
                let (path, digest) = described_blob(dir, l)?;
                verify_file(&path, &digest)?;
                Ok((path, digest))
            })
            .collect::<Result<Vec<_>>>()?;
        out.push(candidate(name, bytes, config, layers)?);
    }
    if out.is_empty() {
        bail!("index.json lists no image: nothing to load");
    }
    Ok(out)
}

/// Checks every descriptor's `digest` in the JSON document `bytes` (an
/// index or a manifest) before it is parsed as one, so that a crafted
/// digest is refused with the rule (image-spec descriptor.md, "Digests")
/// rather than the parser's words. Text that is no JSON is left to the
/// parser's error.
fn check_digests(bytes: &[u8], what: &str) -> Result<()> {
    fn walk(v: &serde_json::Value, what: &str) -> Result<()> {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(d) = map.get("digest").and_then(|d| d.as_str()) {
                    Digest::parse(d).with_context(|| what.to_string())?;
                }
                map.values().try_for_each(|x| walk(x, what))
            }
            serde_json::Value::Array(items) => items.iter().try_for_each(|x| walk(x, what)),
            _ => Ok(()),
        }
    }
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(v) => walk(&v, what),
        Err(_) => Ok(()),
    }
}

/// A name pinned to a digest (`REPO@sha256:HEX`) must name this image: its
/// index entry's digest (an index's, when pulled by it) or its manifest's.
/// Otherwise a later `run --image REPO@sha256:HEX` would run other content
/// than the digest promises.
fn check_pinned(name: &str, digests: &[&Digest]) -> Result<()> {
    let Some((_, pinned)) = name.split_once('@') else {
        return Ok(());
    };
    if digests.iter().any(|d| d.to_string() == pinned) {
        return Ok(());
    }
    bail!(
        "image {name} is pinned to a digest its content does not have (it is {}): refused, nothing loaded; fix its name annotation",
        digests.last().map(|d| d.to_string()).unwrap_or_default()
    );
}

/// Pairs each verified layer file with its diff_id from `config`.
pub(super) fn candidate(
    name: Option<String>,
    manifest: Vec<u8>,
    config: Vec<u8>,
    layers: Vec<(PathBuf, Digest)>,
) -> Result<Candidate> {
    let shown = name.as_ref().map_or_else(
        || format!("image {}", Digest::of_bytes(&config)),
        |n| format!("image {n}"),
    );
    let parsed: ImageConfiguration =
        serde_json::from_slice(&config).with_context(|| format!("parse the config of {shown}"))?;
    let diff_ids = parsed.rootfs().diff_ids();
    if diff_ids.len() != layers.len() {
        bail!(
            "{shown}: {} layers but {} diff_ids in its config: refused",
            layers.len(),
            diff_ids.len()
        );
    }
    let layers = layers
        .into_iter()
        .zip(diff_ids)
        .map(|((path, _), id)| Ok((path, Digest::parse(id)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Candidate {
        name,
        manifest,
        config,
        layers,
    })
}

fn is_index(media_type: &MediaType, bytes: &[u8]) -> bool {
    match media_type {
        MediaType::ImageIndex => true,
        MediaType::Other(t) => t.contains("manifest.list"),
        _ => serde_json::from_slice::<serde_json::Value>(bytes)
            .is_ok_and(|v| v.get("manifests").is_some()),
    }
}
