//! The CNI plugin's store of one network configuration (SPEC "CNI
//! plugin"): `ROOT/cni/NAME/`. Its top level is a lease index like any
//! sbx network's ([`Leases`], holders `CONTAINERID:IFNAME`), so parallel
//! ADDs are arbitrated by the filesystem (`link(2)` fails with `EEXIST`)
//! and never share an address. `attachments/CONTAINERID:IFNAME` records,
//! one symbolic link each (made atomically, refused if it exists), what
//! DEL and GC need to undo an ADD after its netns is gone: the host veth,
//! the address and where it came from. `:` cannot appear in an interface
//! name (the kernel's `dev_valid_name`) nor in a CNI container ID (the
//! CNI spec: letters, digits, `_`, `.`, `-`), so the key splits back.

use super::Leases;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// One configuration's store.
pub struct CniStore {
    dir: PathBuf,
}

/// What an ADD made, as DEL, CHECK and GC need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The host end of the veth, on the bridge.
    pub veth: String,
    /// The container's address.
    pub ip: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// The default route's next hop.
    pub gateway: Ipv4Addr,
    /// Whether the address is a lease of this store (false: the delegated
    /// `ipam` plugin's).
    pub leased: bool,
    /// Whether an anti-spoofing element was added for the port.
    pub guarded: bool,
}

impl CniStore {
    /// The store at `dir` (`ROOT/cni/NAME`).
    pub fn at(dir: PathBuf) -> Self {
        CniStore { dir }
    }

    /// Creates the folders if they are missing (every ADD: two `mkdir`s
    /// at most).
    pub fn ensure(&self) -> Result<()> {
        let att = self.dir.join("attachments");
        fs::create_dir_all(&att).with_context(|| format!("create {}", att.display()))
    }

    /// The lease index (holders are attachment keys).
    pub fn leases(&self) -> Leases {
        Leases::at(self.dir.clone())
    }

    /// The key of one attachment.
    pub fn key(container: &str, ifname: &str) -> String {
        format!("{container}:{ifname}")
    }

    /// Records `att` under `key`; `Ok(false)` when that key is recorded
    /// already (an ADD without DEL in between).
    pub fn record(&self, key: &str, att: &Attachment) -> Result<bool> {
        let text = serde_json::to_string(att)?;
        match std::os::unix::fs::symlink(&text, self.path(key)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e).with_context(|| format!("record attachment {key}")),
        }
    }

    /// The attachment recorded under `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Attachment>> {
        match fs::read_link(self.path(key)) {
            Ok(target) => {
                let text = target.to_string_lossy();
                let att = serde_json::from_str(&text)
                    .with_context(|| format!("read attachment record {key}"))?;
                Ok(Some(att))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("read attachment record {key}")),
        }
    }

    /// Forgets `key`'s record; already gone is fine.
    pub fn forget(&self, key: &str) -> Result<()> {
        match fs::remove_file(self.path(key)) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                Err(e).with_context(|| format!("remove attachment record {key}"))
            }
            _ => Ok(()),
        }
    }

    /// Every recorded key (a missing store has none).
    pub fn keys(&self) -> Result<Vec<String>> {
        let dir = self.dir.join("attachments");
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("read {}", dir.display())),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("read {}", dir.display()))?;
            if let Some(name) = entry.file_name().to_str() {
                keys.push(name.to_string());
            }
        }
        keys.sort();
        Ok(keys)
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join("attachments").join(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attachment_is_recorded_once_and_reads_back() {
        let dir = std::env::temp_dir().join(format!("sbx-unit-cni-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = CniStore::at(dir.clone());
        store.ensure().unwrap();
        let att = Attachment {
            veth: "sbx01234567".into(),
            ip: "10.9.0.2".parse().unwrap(),
            prefix: 24,
            gateway: "10.9.0.1".parse().unwrap(),
            leased: true,
            guarded: true,
        };
        let key = CniStore::key("c1", "eth0");
        assert!(store.record(&key, &att).unwrap());
        assert!(!store.record(&key, &att).unwrap());
        assert_eq!(store.get(&key).unwrap(), Some(att));
        assert_eq!(store.keys().unwrap(), ["c1:eth0"]);
        store.forget(&key).unwrap();
        store.forget(&key).unwrap();
        assert_eq!(store.get(&key).unwrap(), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
