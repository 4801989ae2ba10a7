//! `sbx image pull REF` (SPEC "Images"): the OCI distribution API through
//! `oci-client` (rustls with the ring provider: the binary is static and
//! links no OpenSSL), on a current-thread runtime. Plain HTTP only to
//! localhost/127.0.0.1/::1, or anywhere with `--insecure`. The manifest,
//! config and layers are written as an OCI image layout into the store's
//! `tmp/`, then loaded from there by [`super::load`], so a pulled image
//! goes through exactly the checks of a loaded one (every digest, every
//! layer entry) and the same all-or-nothing commit.

use super::digest::Digest;
use super::{Store, reference};
use anyhow::{Context, Result, bail};
use futures::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE, OciDescriptor,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use serde_json::json;
use std::io::Write;
use std::path::Path;

/// The manifest types asked for: OCI's and Docker's, single or multi-platform.
const ACCEPTED: [&str; 4] = [
    OCI_IMAGE_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];

/// Pulls `text` into the store at `store_dir`; prints the name loaded.
pub fn pull(store_dir: &Path, text: &str, insecure: bool) -> Result<()> {
    let parsed = reference::parse(text)?;
    let name = reference::normalize(text);
    let image: Reference = text
        .parse()
        .map_err(|e| anyhow::anyhow!("{text:?} is not an image reference: {e}"))?;
    let protocol = if plain_http_allowed(&parsed.registry, insecure) {
        ClientProtocol::HttpsExcept(vec![parsed.registry.clone()])
    } else {
        ClientProtocol::Https
    };
    // The one crypto provider rustls gets (ring: builds without cmake).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = Client::new(ClientConfig {
        protocol,
        ..Default::default()
    });
    let store = Store::open(store_dir)?;
    store.sweep();
    let layout = store.temp_dir("pull")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the pull's runtime")?;
    runtime
        .block_on(fetch(&client, &image, &name, layout.path()))
        .with_context(|| format!("pull {text}"))?;
    drop(runtime);
    for loaded in super::load(&store, layout.path())? {
        println!("Pulled image: {loaded}");
    }
    Ok(())
}

/// Writes the image `image` as an OCI layout into `dir`, its index naming
/// it `name`. Digests are checked here too (the loader checks them again).
async fn fetch(client: &Client, image: &Reference, name: &str, dir: &Path) -> Result<()> {
    let auth = RegistryAuth::Anonymous;
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;
    let (mut bytes, mut digest) = client
        .pull_manifest_raw(image, &auth, &ACCEPTED)
        .await
        .context("fetch the manifest")?;
    check(&bytes, &digest)?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).context("parse the manifest")?;
    if value.get("manifests").is_some() {
        let index: ImageIndex = serde_json::from_slice(&bytes).context("parse the index")?;
        let chosen =
            super::load::pick_platform(index.manifests()).context("the index lists no image")?;
        let by_digest = Reference::with_digest(
            image.registry().to_string(),
            image.repository().to_string(),
            chosen.digest().to_string(),
        );
        (bytes, digest) = client
            .pull_manifest_raw(&by_digest, &auth, &ACCEPTED)
            .await
            .context("fetch the platform's manifest")?;
        check(&bytes, &digest)?;
    }
    let manifest: ImageManifest = serde_json::from_slice(&bytes).context("parse the manifest")?;
    let media_type = manifest
        .media_type()
        .as_ref()
        .map_or(OCI_IMAGE_MEDIA_TYPE.to_string(), |m| m.to_string());
    let wanted: Vec<&Descriptor> = std::iter::once(manifest.config())
        .chain(manifest.layers())
        .collect();
    for d in wanted {
        let expected = Digest::parse(d.digest().as_ref())?;
        let descriptor = OciDescriptor {
            media_type: d.media_type().to_string(),
            digest: expected.to_string(),
            size: d.size() as i64,
            ..Default::default()
        };
        let mut stream = client
            .pull_blob_stream(image, &descriptor)
            .await
            .with_context(|| format!("fetch blob {expected}"))?;
        let path = blobs.join(expected.hex());
        let mut file = std::fs::File::create(&path)?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.with_context(|| format!("fetch blob {expected}"))?;
            file.write_all(&chunk)?;
        }
    }
    let manifest_digest = Digest::of_bytes(&bytes);
    std::fs::write(blobs.join(manifest_digest.hex()), &bytes)?;
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": media_type,
            "digest": manifest_digest.to_string(),
            "size": bytes.len(),
            "annotations": {"io.containerd.image.name": name},
        }],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index)?)?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    Ok(())
}

/// Whether `registry` (`HOST[:PORT]`) may be spoken to in plain HTTP: the
/// SPEC allows it for localhost, 127.0.0.1 and ::1, or with `--insecure`.
fn plain_http_allowed(registry: &str, insecure: bool) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => registry,
    };
    insecure || matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// A manifest must hash to the digest the registry gave for it.
fn check(bytes: &[u8], digest: &str) -> Result<()> {
    let got = Digest::of_bytes(bytes);
    if got.to_string() != digest {
        bail!("the manifest does not match its digest {digest} (it hashes to {got}): refused");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback_or_when_insecure() {
        assert!(plain_http_allowed("127.0.0.1:5000", false));
        assert!(plain_http_allowed("localhost", false));
        assert!(plain_http_allowed("[::1]:5000", false));
        assert!(!plain_http_allowed("registry.example.com", false));
        assert!(!plain_http_allowed("127.0.0.1.example.com:5000", false));
        assert!(!plain_http_allowed("10.0.0.1:5000", false));
        assert!(plain_http_allowed("10.0.0.1:5000", true));
    }
}
