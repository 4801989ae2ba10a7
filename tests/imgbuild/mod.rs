//! Test images built offline from the host's busybox: layer tars written
//! entry by entry (names set raw, so hostile ones can be made too), and the
//! three forms `sbx image load` takes: an OCI layout folder, an OCI archive
//! and a `docker save` archive.
#![allow(dead_code)]

use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::io::Write;
use std::path::Path;

/// One tar entry of a layer.
pub enum Ent {
    /// A folder.
    Dir(&'static str),
    /// A regular file with contents and mode.
    File(String, Vec<u8>, u32),
    /// A symlink and its target.
    Symlink(String, String),
    /// A hard link to an earlier entry.
    Link(String, String),
}

/// `sha256:HEX` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    format!(
        "sha256:{}",
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn hex(d: &str) -> &str {
    d.strip_prefix("sha256:").unwrap()
}

/// A tar of `entries`, names written as given (no checks: hostile allowed).
pub fn tar(entries: &[Ent]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        let (name, kind, data, mode, link): (&str, tar::EntryType, &[u8], u32, Option<&str>) =
            match e {
                Ent::Dir(n) => (n, tar::EntryType::Directory, &[], 0o755, None),
                Ent::File(n, d, m) => (n, tar::EntryType::Regular, d, *m, None),
                Ent::Symlink(n, t) => (n, tar::EntryType::Symlink, &[], 0o777, Some(t)),
                Ent::Link(n, t) => (n, tar::EntryType::Link, &[], 0o644, Some(t)),
            };
        let raw = name.as_bytes();
        h.as_old_mut().name[..raw.len()].copy_from_slice(raw);
        if let Some(t) = link {
            h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// `bytes` gzip'd.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// An image: layers (uncompressed tar, stored gzip'd?) and its config.
pub struct Image {
    /// (uncompressed tar, gzip it in OCI forms).
    pub layers: Vec<(Vec<u8>, bool)>,
    /// The config's `config` object (Entrypoint, Cmd, Env, ...).
    pub run: serde_json::Value,
    /// Compress with zstd instead of gzip.
    pub zstd: bool,
    /// Cut the stored (compressed) blob of layer N short by this many
    /// bytes: its digest is that of the cut bytes, its diff_id the whole
    /// layer's (a broken archive whose digests agree).
    pub cut: Option<(usize, usize)>,
}

impl Image {
    /// Two layers from the host's busybox: the first with /bin/busybox,
    /// /bin/sh, /etc/passwd, /etc/doomed; the second deletes /etc/doomed by
    /// whiteout, adds /etc/added and /app. Entrypoint `/bin/sh -c`, a Cmd
    /// that prints what the tests look for, Env GREETING, WorkingDir /app.
    pub fn busybox() -> Self {
        let busybox = std::fs::read("/bin/busybox").expect("busybox-static at /bin/busybox");
        let base = tar(&[
            Ent::Dir("bin/"),
            Ent::File("bin/busybox".into(), busybox, 0o755),
            Ent::Symlink("bin/sh".into(), "busybox".into()),
            Ent::Link("bin/bb-link".into(), "bin/busybox".into()),
            Ent::Symlink("bin/cat".into(), "busybox".into()),
            Ent::Symlink("bin/id".into(), "busybox".into()),
            Ent::Symlink("bin/sleep".into(), "busybox".into()),
            Ent::Symlink("bin/stat".into(), "busybox".into()),
            Ent::Symlink("bin/ls".into(), "busybox".into()),
            Ent::Symlink("bin/echo".into(), "busybox".into()),
            Ent::Dir("etc/"),
            Ent::File(
                "etc/passwd".into(),
                b"root:x:0:0:root:/root:/bin/sh\nworker:x:1234:4321::/app:/bin/sh\n".to_vec(),
                0o644,
            ),
            Ent::File(
                "etc/group".into(),
                b"root:x:0:\nstaff:x:50:ann,worker\nops:x:60:worker\n".to_vec(),
                0o644,
            ),
            Ent::File("etc/doomed".into(), b"doomed\n".to_vec(), 0o644),
            Ent::Dir("tmp/"),
            Ent::Dir("opq/"),
            Ent::File("opq/old".into(), b"old\n".to_vec(), 0o644),
        ]);
        let top = tar(&[
            Ent::Dir("etc/"),
            Ent::File("etc/.wh.doomed".into(), Vec::new(), 0o644),
            Ent::File("etc/added".into(), b"added\n".to_vec(), 0o644),
            Ent::Dir("app/"),
            Ent::File("opq/.wh..wh..opq".into(), Vec::new(), 0o644),
            Ent::File("opq/new".into(), b"new\n".to_vec(), 0o644),
        ]);
        Image {
            layers: vec![(base, false), (top, true)],
            run: json!({
                "Entrypoint": ["/bin/sh", "-c"],
                "Cmd": ["echo cmd-ran $GREETING $(pwd) $(id -u); test -e /etc/doomed && echo doomed-present; cat /etc/added"],
                "Env": ["PATH=/bin", "GREETING=hello"],
                "WorkingDir": "/app"
            }),
            zstd: false,
            cut: None,
        }
    }

    /// The config JSON.
    pub fn config(&self) -> Vec<u8> {
        let diff_ids: Vec<String> = self.layers.iter().map(|(t, _)| digest(t)).collect();
        serde_json::to_vec(&json!({
            "created": "2026-12-01T00:00:00Z",
            "architecture": "amd64",
            "os": "linux",
            "config": self.run,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap()
    }

    /// Writes an OCI image layout to `dir`; `annotations` go on the
    /// manifest's descriptor in index.json. Returns the blobs written
    /// (digest, is a layer).
    pub fn oci_layout(&self, dir: &Path, annotations: serde_json::Value) -> Vec<(String, bool)> {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let mut written = Vec::new();
        let mut put = |bytes: &[u8], layer: bool| -> (String, usize) {
            let d = digest(bytes);
            std::fs::write(blobs.join(hex(&d)), bytes).unwrap();
            written.push((d.clone(), layer));
            (d, bytes.len())
        };
        let config = self.config();
        let (cd, cs) = put(&config, false);
        let mut layers = Vec::new();
        for (t, gz) in &self.layers {
            let (bytes, mt) = if *gz && self.zstd {
                (
                    ruzstd::encoding::compress_to_vec(
                        &t[..],
                        ruzstd::encoding::CompressionLevel::Fastest,
                    ),
                    "application/vnd.oci.image.layer.v1.tar+zstd",
                )
            } else if *gz {
                (gzip(t), "application/vnd.oci.image.layer.v1.tar+gzip")
            } else {
                (t.clone(), "application/vnd.oci.image.layer.v1.tar")
            };
            let mut bytes = bytes;
            if let Some((n, by)) = self.cut
                && layers.len() == n
            {
                bytes.truncate(bytes.len().saturating_sub(by));
            }
            let (d, s) = put(&bytes, true);
            layers.push(json!({"mediaType": mt, "digest": d, "size": s}));
        }
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
            "layers": layers,
        }))
        .unwrap();
        let (md, ms) = put(&manifest, false);
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": md, "size": ms, "annotations": annotations,
            }],
        });
        std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        written
    }

    /// Writes an OCI archive (a tar of the layout) to `file`.
    pub fn oci_archive(&self, file: &Path, annotations: serde_json::Value) {
        let dir = tempdir(file);
        self.oci_layout(&dir, annotations);
        tar_dir(&dir, file);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Writes a `docker save` archive (legacy layout: `HEX.json`,
    /// `N/layer.tar`, uncompressed) tagged `tag` to `file`.
    /// `tag`: one RepoTag, or several separated by commas.
    pub fn docker_archive(&self, file: &Path, tag: &str) {
        let dir = tempdir(file);
        let config = self.config();
        let cname = format!("{}.json", hex(&digest(&config)));
        std::fs::write(dir.join(&cname), &config).unwrap();
        let mut layers = Vec::new();
        for (i, (t, _)) in self.layers.iter().enumerate() {
            std::fs::create_dir_all(dir.join(format!("l{i}"))).unwrap();
            std::fs::write(dir.join(format!("l{i}/layer.tar")), t).unwrap();
            layers.push(format!("l{i}/layer.tar"));
        }
        let tags: Vec<&str> = tag.split(',').collect();
        let manifest = json!([{"Config": cname, "RepoTags": tags, "Layers": layers}]);
        std::fs::write(
            dir.join("manifest.json"),
            serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();
        tar_dir(&dir, file);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

fn tempdir(beside: &Path) -> std::path::PathBuf {
    let dir = beside.with_extension("d");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tar of the files under `dir` (paths relative to it).
pub fn tar_dir(dir: &Path, file: &Path) {
    let mut b = tar::Builder::new(std::fs::File::create(file).unwrap());
    b.append_dir_all(".", dir).unwrap();
    b.finish().unwrap();
}

/// Every path under `dir` with its size, sorted: a store's listing, to
/// compare before and after a refused load.
pub fn listing(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            out.push(format!(
                "{} {}",
                p.strip_prefix(base).unwrap().display(),
                m.len()
            ));
            if m.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
