//! The state root: one folder per sandbox and per network plus a lock file.
//! Records are written atomically (temp file + rename) and never trusted for
//! liveness on their own: that comes from the kernel (see `liveness`).

pub mod liveness;
pub mod records;

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub use records::{NetworkRecord, SandboxRecord, SandboxState};

/// A state root such as `/run/sbx`; two roots never see each other's records.
pub struct StateRoot {
    dir: PathBuf,
}

/// Held while names and addresses are reserved; dropping it unlocks.
pub struct Lock {
    _flock: Flock<File>,
}

impl StateRoot {
    /// Opens (creating if needed) the state root and its two folders.
    pub fn open(dir: &Path) -> Result<Self> {
        for sub in ["sandboxes", "networks"] {
            let path = dir.join(sub);
            fs::create_dir_all(&path)
                .with_context(|| format!("create state folder {}", path.display()))?;
        }
        Ok(StateRoot {
            dir: dir.to_path_buf(),
        })
    }

    /// Opens an existing state root without creating or writing anything,
    /// for read-only commands run by a user other than root. Fails with the
    /// folder and the reason (missing, permission denied) when one of its
    /// two folders cannot be listed.
    pub fn open_read_only(dir: &Path) -> Result<Self> {
        for sub in ["sandboxes", "networks"] {
            let path = dir.join(sub);
            if let Err(e) = fs::read_dir(&path) {
                anyhow::bail!(
                    "cannot read state folder {}: {e}: run as root, or make the state root readable to this user (see --root)",
                    path.display()
                );
            }
        }
        Ok(StateRoot {
            dir: dir.to_path_buf(),
        })
    }

    /// Takes the root's one lock. It is held only while reserving (names,
    /// addresses, networks), never during a launch, so launches run in parallel.
    pub fn lock(&self) -> Result<Lock> {
        let path = self.dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .with_context(|| format!("open lock file {}", path.display()))?;
        let flock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| errno)
            .with_context(|| format!("lock {}", path.display()))?;
        Ok(Lock { _flock: flock })
    }

    /// The folder holding one sandbox's record and its private /etc files.
    pub fn sandbox_dir(&self, name: &str) -> PathBuf {
        self.dir.join("sandboxes").join(name)
    }

    fn network_file(&self, name: &str) -> PathBuf {
        self.dir.join("networks").join(format!("{name}.json"))
    }

    /// Reads one sandbox record; `None` when there is none by that name.
    pub fn sandbox(&self, name: &str) -> Result<Option<SandboxRecord>> {
        read_json(&self.sandbox_dir(name).join("sandbox.json"))
    }

    /// Writes a sandbox record atomically into its (existing) folder.
    pub fn write_sandbox(&self, record: &SandboxRecord) -> Result<()> {
        write_json(&self.sandbox_dir(&record.name).join("sandbox.json"), record)
    }

    /// Deletes a sandbox's folder and record; already gone is fine, so
    /// cleanup can run twice.
    pub fn remove_sandbox(&self, name: &str) -> Result<()> {
        let dir = self.sandbox_dir(name);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("remove {}", dir.display()))
            }
            _ => Ok(()),
        }
    }

    /// Every readable sandbox record. A folder without a readable record
    /// (a launch killed before its first write) is reported by name so the
    /// caller can sweep it; one bad record never hides the others.
    pub fn sandboxes(&self) -> Result<(Vec<SandboxRecord>, Vec<String>)> {
        let mut records = Vec::new();
        let mut unreadable = Vec::new();
        for name in list_dir(&self.dir.join("sandboxes"))? {
            match self.sandbox(&name) {
                Ok(Some(record)) => records.push(record),
                _ => unreadable.push(name),
            }
        }
        records.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
        Ok((records, unreadable))
    }

    /// Reads one network record; `None` when there is none by that name.
    pub fn network(&self, name: &str) -> Result<Option<NetworkRecord>> {
        read_json(&self.network_file(name))
    }

    /// Writes a network record atomically.
    pub fn write_network(&self, record: &NetworkRecord) -> Result<()> {
        write_json(&self.network_file(&record.name), record)
    }

    /// Deletes a network record.
    pub fn remove_network(&self, name: &str) -> Result<()> {
        let path = self.network_file(name);
        fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))
    }

    /// Every network record, sorted by name.
    pub fn networks(&self) -> Result<Vec<NetworkRecord>> {
        let mut networks = Vec::new();
        for file in list_dir(&self.dir.join("networks"))? {
            if let Some(name) = file.strip_suffix(".json")
                && let Some(record) = self.network(name)?
            {
                networks.push(record);
            }
        }
        networks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(networks)
    }
}

fn list_dir(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let entry = entry.with_context(|| format!("read {}", dir.display()))?;
        if let Ok(name) = entry.file_name().into_string()
            && !name.starts_with('.')
        {
            names.push(name);
        }
    }
    Ok(names)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("parse {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}

/// Writes to a temp file in the same folder, then renames over the target:
/// a reader sees the old record or the new one, never half of one.
fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let bytes = serde_json::to_vec(value).context("serialize record")?;
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&tmp)
        .with_context(|| format!("write {}", tmp.display()))?;
    file.write_all(&bytes)
        .with_context(|| format!("write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("rename {} into place", tmp.display()))
}
