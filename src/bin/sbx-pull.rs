//! sbx-pull: the registry half of `sbx image pull` (SPEC "Images"), a
//! binary of its own so that sbx itself, started for every sandbox, does
//! not carry an HTTP and TLS stack (`oci-client`, reqwest, rustls: twice
//! the binary, +0.85 ms per launch in startup relocations and page faults).
//!
//!     sbx-pull [--insecure] REF NAME DIR
//!
//! writes the image REF as an OCI image layout into the empty folder DIR
//! (its index naming it NAME); `sbx image pull` then loads DIR with every
//! check of `sbx image load`. Speaks the OCI distribution API through
//! `oci-client` (rustls with the ring provider: no OpenSSL, no cmake) on a
//! current-thread runtime; plain HTTP only to localhost/127.0.0.1/::1, or
//! anywhere with `--insecure`. Errors: one line on stderr, exit 125.

#[path = "../image/platform.rs"]
mod platform;
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
use platform::pick_platform;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::io::Write;
use std::path::Path;

/// The manifest types asked for: OCI's and Docker's, single or multi-platform.
const ACCEPTED: [&str; 4] = [
    OCI_IMAGE_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let insecure = args.first().is_some_and(|a| a == "--insecure");
    if insecure {
        args.remove(0);
    }
    let [reference, name, dir] = args.as_slice() else {
        eprintln!("sbx: usage: sbx-pull [--insecure] REF NAME DIR (sbx image pull runs it)");
        std::process::exit(125);
    };
    if let Err(e) = pull(reference, name, Path::new(dir), insecure) {
        eprintln!(
            "sbx: pull {reference}: {}",
            format!("{e:#}").replace('\n', " ")
        );
        std::process::exit(125);
    }
}

/// Fetches `text` into the layout folder `dir`.
fn pull(text: &str, name: &str, dir: &Path, insecure: bool) -> Result<()> {
    let image: Reference = text
        .parse()
        .map_err(|e| anyhow::anyhow!("{text:?} is not an image reference: {e}"))?;
    let registry = image.resolve_registry().to_string();
    let protocol = if plain_http_allowed(&registry, insecure) {
        ClientProtocol::HttpsExcept(vec![registry])
    } else {
        ClientProtocol::Https
    };
    // The one crypto provider rustls gets (ring: builds without cmake).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = Client::new(ClientConfig {
        protocol,
        ..Default::default()
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the pull's runtime")?;
    runtime.block_on(fetch(&client, &image, name, dir))
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

/// `sha256:HEX` of `bytes`.
fn sha256(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The 64 hex digits of a `sha256:` digest, safe as a file name.
fn hex_of(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(h),
        _ => bail!("digest {digest:?} is not sha256:HEX"),
    }
}

/// Writes the image as an OCI layout into `dir`, its index naming it
/// `name`. Manifests are checked here; blobs by `sbx image load` after.
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
        let chosen = pick_platform(index.manifests()).context("the index lists no image")?;
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
        let expected = d.digest().to_string();
        let descriptor = OciDescriptor {
            media_type: d.media_type().to_string(),
            digest: expected.clone(),
            size: d.size() as i64,
            ..Default::default()
        };
        let mut stream = client
            .pull_blob_stream(image, &descriptor)
            .await
            .with_context(|| format!("fetch blob {expected}"))?;
        let mut file = std::fs::File::create(blobs.join(hex_of(&expected)?))?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.with_context(|| format!("fetch blob {expected}"))?;
            file.write_all(&chunk)?;
        }
    }
    let manifest_digest = sha256(&bytes);
    std::fs::write(blobs.join(hex_of(&manifest_digest)?), &bytes)?;
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": media_type,
            "digest": manifest_digest,
            "size": bytes.len(),
            "annotations": {"io.containerd.image.name": name},
        }],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index)?)?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    Ok(())
}

/// A manifest must hash to the digest the registry gave for it.
fn check(bytes: &[u8], digest: &str) -> Result<()> {
    let got = sha256(bytes);
    if got != digest {
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

    #[test]
    fn digests_become_file_names_only_when_sha256_hex() {
        assert_eq!(
            sha256(b""),
            format!(
                "sha256:{}",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            )
        );
        assert!(hex_of("sha256:../../x").is_err());
        assert!(hex_of(&sha256(b"x")).is_ok());
    }
}
