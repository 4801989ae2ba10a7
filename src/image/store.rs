//! The image store on disk (SPEC "Images", `--image-store`):
//!
//! ```text
//! DIR/lock                  flock'd around every change of the index
//! DIR/index.json            {"images": {"NAME": "sha256:MANIFEST"},
//!                            "dangling": ["sha256:MANIFEST"], "sizes": {"HEX": BYTES}}
//! DIR/blobs/sha256/HEX      manifests and configs, by digest
//! DIR/layers/HEX            one unpacked layer per diff_id, shared
//! DIR/tmp/PID-N-WHAT        work in progress; never trusted, swept
//! ```
//!
//! Nothing becomes visible under `blobs/` or `layers/` but by a rename of
//! a complete, verified copy from `tmp/`, and no name enters the index
//! before its manifest, config and layers are in place: a crash leaves at
//! most a stray `tmp/` entry, which a later run sweeps.

use super::digest::Digest;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The default `--image-store` (SPEC "Images").
pub const DEFAULT_DIR: &str = "/var/lib/sbx/images";

/// An open image store.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

/// The names the store knows: name -> manifest digest (`sha256:HEX`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Index {
    /// Image name (`REPO:TAG`) -> its manifest's digest.
    pub images: BTreeMap<String, String>,
    /// Manifest digests of images that lost their last name (to a later
    /// load or tag) while a sandbox still used them: listed as
    /// `<none>:<none>`, kept whole until `image rm ID` or `image prune`,
    /// as Docker keeps a dangling image. Never also a value of `images`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub dangling: std::collections::BTreeSet<String>,
    /// Unpacked size in bytes of each layer (by diff_id hex), measured on
    /// disk when it was unpacked: what `image ls` adds up.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sizes: BTreeMap<String, u64>,
}

impl Index {
    /// The names pointing at manifest `digest` (`sha256:HEX`).
    pub fn names_of(&self, digest: &str) -> Vec<String> {
        (self.images.iter())
            .filter(|(_, d)| d.as_str() == digest)
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// Bytes of the files (each inode once) and symlinks under `dir`, not
/// following links: a layer's unpacked size.
pub fn dir_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::BTreeSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_symlink() || (meta.is_file() && seen.insert((meta.dev(), meta.ino())))
            {
                total += meta.len();
            }
        }
    }
    total
}

/// The store's lock, held until dropped.
pub struct StoreLock {
    _file: File,
}

/// A folder or file under `tmp/`, removed when dropped unless kept.
pub struct Temp {
    path: PathBuf,
    keep: bool,
}

impl Temp {
    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves it to `dest` (which must not exist yet): the one step that
    /// makes it trusted. `Ok(false)` when `dest` appeared meanwhile (a
    /// concurrent load of the same content): this copy is then dropped.
    pub fn commit(mut self, dest: &Path) -> Result<bool> {
        match fs::rename(&self.path, dest) {
            Ok(()) => {
                self.keep = true;
                if let Some(parent) = dest.parent() {
                    sync_dir(parent);
                }
                Ok(true)
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST | libc::ENOTEMPTY)) => Ok(false),
            Err(e) => Err(e).with_context(|| format!("move into {}", dest.display())),
        }
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if self.path.is_dir() && !self.path.is_symlink() {
            let _ = fs::remove_dir_all(&self.path);
        } else {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Store {
    /// Opens the store at `dir`, making its folders when missing. `layers/`
    /// and `tmp/` are root's alone (0700): an image's set-id binaries and
    /// device nodes must not be reachable by the host's other users (in a
    /// sandbox they are defused by no_new_privs and nodev).
    pub fn open(dir: &Path) -> Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        for sub in ["blobs/sha256", "layers", "tmp"] {
            let path = dir.join(sub);
            fs::create_dir_all(&path)
                .with_context(|| format!("create the image store folder {}", path.display()))?;
            if sub != "blobs/sha256" {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o700))
                    .with_context(|| format!("make {} root's alone", path.display()))?;
            }
        }
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    /// Opens the store at `dir` without making anything (listing commands):
    /// `None` when there is no store there yet.
    pub fn existing(dir: &Path) -> Option<Self> {
        dir.join("blobs").is_dir().then(|| Store {
            dir: dir.to_path_buf(),
        })
    }

    /// The store's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the store's lock (exclusive flock on `DIR/lock`).
    pub fn lock(&self) -> Result<StoreLock> {
        self.lock_as(libc::LOCK_EX)
    }

    /// Takes the store's lock shared: for a launch checking its layers
    /// (see [`super::check_layers`]), which many may do at once.
    pub fn lock_shared(&self) -> Result<StoreLock> {
        self.lock_as(libc::LOCK_SH)
    }

    fn lock_as(&self, operation: libc::c_int) -> Result<StoreLock> {
        let path = self.dir.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("open {}", path.display()))?;
        // SAFETY: flock on a descriptor we own.
        let rc = unsafe { libc::flock(file.as_raw_fd(), operation) };
        nix::errno::Errno::result(rc).with_context(|| format!("lock {}", path.display()))?;
        Ok(StoreLock { _file: file })
    }

    /// A fresh temporary folder under `tmp/`, removed when dropped.
    pub fn temp_dir(&self, what: &str) -> Result<Temp> {
        let path = self.temp_path(what);
        fs::create_dir(&path).with_context(|| format!("create {}", path.display()))?;
        Ok(Temp { path, keep: false })
    }

    fn temp_path(&self, what: &str) -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        self.dir
            .join("tmp")
            .join(format!("{}-{nanos}{n}-{what}", std::process::id()))
    }

    /// Removes what dead loads and pulls left in `tmp/` (an entry whose
    /// PID is gone); returns how many entries went.
    pub fn sweep(&self) -> usize {
        let Ok(entries) = fs::read_dir(self.dir.join("tmp")) else {
            return 0;
        };
        let mut swept = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let pid = name
                .to_string_lossy()
                .split('-')
                .next()
                .and_then(|p| p.parse::<i32>().ok());
            let alive = pid.is_some_and(|p| {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None)
                    != Err(nix::errno::Errno::ESRCH)
            });
            if !alive {
                let path = entry.path();
                crate::log::info(&format!("image store: sweeping {}", path.display()));
                if fs::remove_dir_all(&path)
                    .or_else(|_| fs::remove_file(&path))
                    .is_ok()
                {
                    swept += 1;
                }
            }
        }
        swept
    }

    /// Where the unpacked layer with diff_id `digest` lives.
    pub fn layer_dir(&self, digest: &Digest) -> PathBuf {
        self.dir.join("layers").join(digest.hex())
    }

    /// Where the blob `digest` lives.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.hex())
    }

    /// Stores `bytes` as a blob (fsync'd, renamed into place); its digest.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of_bytes(bytes);
        let dest = self.blob_path(&digest);
        if dest.exists() {
            return Ok(digest);
        }
        let path = self.temp_path("blob");
        write_synced(&path, bytes)?;
        Temp { path, keep: false }.commit(&dest)?;
        Ok(digest)
    }

    /// A stored blob, checked against its digest once more (a damaged store
    /// must not feed a sandbox).
    pub fn blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let bytes = fs::read(&path)
            .with_context(|| format!("read {digest} from the image store: load the image again"))?;
        if Digest::of_bytes(&bytes) != *digest {
            bail!(
                "the image store's copy of {digest} is damaged: remove the image and load it again"
            );
        }
        Ok(bytes)
    }

    /// The index; empty when none was written yet.
    pub fn index(&self) -> Result<Index> {
        let path = self.dir.join("index.json");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is damaged", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
        }
    }

    /// Replaces the index (write, fsync, rename). Call under [`Store::lock`].
    pub fn write_index(&self, _lock: &StoreLock, index: &Index) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(index)?;
        let path = self.temp_path("index");
        write_synced(&path, &bytes)?;
        let dest = self.dir.join("index.json");
        fs::rename(&path, &dest).with_context(|| format!("replace {}", dest.display()))?;
        sync_dir(&self.dir);
        Ok(())
    }

    /// Removes a trusted entry (layer folder or blob): first renamed out of
    /// sight into `tmp/`, so a crash midway leaves nothing half-deleted that
    /// looks whole.
    pub fn discard(&self, path: &Path) -> Result<()> {
        let tmp = self.temp_path("rm");
        match fs::rename(path, &tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("remove {}", path.display())),
        }
        drop(Temp {
            path: tmp,
            keep: false,
        });
        Ok(())
    }
}

/// Writes `bytes` to a new file at `path` and fsyncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create_new(path).with_context(|| format!("create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("write {}", path.display()))
}

/// Fsyncs a folder, so a rename in it survives a crash; best effort.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
