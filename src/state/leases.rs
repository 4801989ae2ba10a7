//! A network's lease index: `leases/NAME/ADDR`, one symbolic link
//! per address held, whose target is the holder's sandbox name. Creating a
//! symlink is atomic and fails with `EEXIST` when the name exists, so the
//! filesystem itself decides which of two launches gets an address, without
//! a lock and without reading any sandbox record. One listing of the folder
//! (names only, no file is opened) gives the taken addresses; one
//! `readlink` per entry gives their holders (the neighbours of /etc/hosts).
//!
//! Who may remove a lease (so that a lease is never removed from under its
//! holder): the holder's own sbx when its sandbox ends (it checks the link
//! still names it), and, under the state root's exclusive lock, whoever
//! found the holder gone or dead (see `sandbox::reserve`).

use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::fs;
use std::hash::Hash;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::str::FromStr;

/// An address a lease can hold: IPv4 or IPv6 (a dual-stack network's
/// sandboxes hold one of each, SPEC "IPv6"). Both kinds live in the same
/// folder: their spellings never parse as each other (`10.1.0.2` is no
/// IPv6 address, `fd42::2` no IPv4 one), so each listing sees only its own.
pub trait LeaseAddr: Copy + Ord + Hash + Display + FromStr {}
impl LeaseAddr for Ipv4Addr {}
impl LeaseAddr for Ipv6Addr {}

/// The lease folder of one network.
pub struct Leases {
    dir: PathBuf,
}

/// What [`Leases::take`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Take {
    /// The address is ours now.
    Taken,
    /// Someone holds it (the link's target, if it could be read).
    Held(Option<String>),
}

impl Leases {
    /// The index of the network whose folder is `dir` (`ROOT/leases/NAME`).
    pub fn at(dir: PathBuf) -> Self {
        Leases { dir }
    }

    /// Whether the index exists; a network written by an older sbx has none
    /// until its first launch builds it from the records (see `build`).
    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    /// Every lease: address -> holder name, in address order, from one
    /// listing: each lease has a twin entry `=ADDR=NAME` (see [`take`]), so
    /// no link is read; only a lease without its twin (made by an older
    /// sbx that crashed between the two) or with two (a twin left by a
    /// crash) is resolved by `readlink`. A twin without its lease (a crash
    /// between the two) is ignored. A link whose target cannot be read
    /// still holds its address (holder `"?"`).
    ///
    /// [`take`]: Leases::take
    pub fn list(&self) -> Result<BTreeMap<Ipv4Addr, String>> {
        self.list_of()
    }

    /// The IPv6 leases, as [`list`](Leases::list) gives the IPv4 ones.
    pub fn list6(&self) -> Result<BTreeMap<Ipv6Addr, String>> {
        self.list_of()
    }

    /// The leases of one address family (see [`LeaseAddr`]).
    pub fn list_of<A: LeaseAddr>(&self) -> Result<BTreeMap<A, String>> {
        // Run at every launch on its network: with 1000 sandboxes, 2000
        // entries, so nothing is allocated per entry but the holder names.
        let mut leased = Vec::new();
        let mut twins: HashMap<A, Option<String>> = HashMap::new();
        let entries =
            fs::read_dir(&self.dir).with_context(|| format!("read {}", self.dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("read {}", self.dir.display()))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some((ip, holder)) = name.strip_prefix('=').and_then(|n| n.split_once('=')) {
                if let Ok(ip) = ip.parse::<A>() {
                    twins
                        .entry(ip)
                        .and_modify(|seen| *seen = None)
                        .or_insert_with(|| Some(holder.to_string()));
                }
            } else if let Ok(ip) = name.parse::<A>() {
                leased.push(ip);
            }
        }
        let mut leases = BTreeMap::new();
        for ip in leased {
            let holder = match twins.remove(&ip) {
                Some(Some(name)) => name,
                _ => self.holder(ip).unwrap_or_else(|| "?".into()),
            };
            leases.insert(ip, holder);
        }
        Ok(leases)
    }

    /// The holder named by the lease of `ip`, if there is one.
    pub fn holder<A: LeaseAddr>(&self, ip: A) -> Option<String> {
        let target = fs::read_link(self.path(ip)).ok()?;
        target.into_os_string().into_string().ok()
    }

    /// Takes `ip` for `holder`. The twin `=ADDR=NAME` (which only makes
    /// the holder readable from a listing) is made first, as a symbolic
    /// link to `holder`; the lease itself is a second name for that same
    /// link (`link(2)`), which the kernel makes atomically or refuses with
    /// `EEXIST`: the lease decides, and a launch makes one inode, not two
    /// (on ext4 each new inode was a measurable part of a launch:
    /// BENCHMARKS.md, issue 9). Readers see two symbolic links, as before.
    pub fn take<A: LeaseAddr>(&self, ip: A, holder: &str) -> Result<Take> {
        let twin = self.twin(ip, holder);
        let made_twin = match std::os::unix::fs::symlink(holder, &twin) {
            Ok(()) => true,
            // Ours from an earlier try (or a crash): it names us already.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => false,
            Err(e) => {
                return Err(e).with_context(|| format!("lease {ip} in {}", self.dir.display()));
            }
        };
        // `link` of a symbolic link links the link itself (no
        // AT_SYMLINK_FOLLOW), so the lease reads back as `holder`.
        let taken = fs::hard_link(&twin, self.path(ip));
        if taken.is_err() && made_twin {
            let _ = fs::remove_file(&twin);
        }
        match taken {
            Ok(()) => Ok(Take::Taken),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(Take::Held(self.holder(ip))),
            Err(e) => Err(e).with_context(|| format!("lease {ip} in {}", self.dir.display())),
        }
    }

    /// Gives `ip` back if `holder` holds it; a lease already gone, or held
    /// by another, is left as it is (so running it twice is harmless). The
    /// twin goes first, then the lease.
    pub fn release<A: LeaseAddr>(&self, ip: A, holder: &str) -> Result<()> {
        let _ = fs::remove_file(self.twin(ip, holder));
        if self.holder(ip).as_deref() != Some(holder) {
            return Ok(());
        }
        match fs::remove_file(self.path(ip)) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                Err(e).with_context(|| format!("release lease {ip} in {}", self.dir.display()))
            }
            _ => Ok(()),
        }
    }

    /// Writes a whole index at once (for a network that has none yet):
    /// built in a temporary folder, then renamed into place, so a reader
    /// sees no index or the complete one. The caller holds the exclusive
    /// lock.
    pub fn build(
        &self,
        leases: &BTreeMap<Ipv4Addr, String>,
        leases6: &BTreeMap<Ipv6Addr, String>,
    ) -> Result<()> {
        let name = self.dir.file_name().unwrap_or_default().to_string_lossy();
        let tmp = self
            .dir
            .with_file_name(format!(".{name}.new{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        let entries = (leases
            .iter()
            .map(|(ip, h)| (ip.to_string(), twin_name(*ip, h), h)))
        .chain(
            leases6
                .iter()
                .map(|(ip, h)| (ip.to_string(), twin_name(*ip, h), h)),
        );
        for (ip, twin, holder) in entries {
            std::os::unix::fs::symlink(holder, tmp.join(&ip))
                .and_then(|()| std::os::unix::fs::symlink(holder, tmp.join(twin)))
                .with_context(|| format!("write lease {ip} into {}", tmp.display()))?;
        }
        fs::rename(&tmp, &self.dir).with_context(|| format!("rename {} into place", tmp.display()))
    }

    /// An empty index, for a new network (an old one of that name is gone).
    pub fn create_empty(&self) -> Result<()> {
        self.remove()?;
        fs::create_dir_all(&self.dir).with_context(|| format!("create {}", self.dir.display()))
    }

    /// Removes the index (with its network); already gone is fine.
    pub fn remove(&self) -> Result<()> {
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                Err(e).with_context(|| format!("remove {}", self.dir.display()))
            }
            _ => Ok(()),
        }
    }

    fn path<A: LeaseAddr>(&self, ip: A) -> PathBuf {
        self.dir.join(ip.to_string())
    }

    fn twin<A: LeaseAddr>(&self, ip: A, holder: &str) -> PathBuf {
        self.dir.join(twin_name(ip, holder))
    }
}

/// The twin of a lease: `=ADDR=NAME` (a sandbox name has no `=` nor `/`).
fn twin_name<A: LeaseAddr>(ip: A, holder: &str) -> String {
    format!("={ip}={holder}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(tag: &str) -> Leases {
        let dir =
            std::env::temp_dir().join(format!("sbx-unit-{tag}-{}.leases", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let leases = Leases::at(dir);
        leases.create_empty().unwrap();
        leases
    }

    #[test]
    fn an_address_is_taken_once_and_released_only_by_its_holder() {
        let leases = index("lease1");
        let ip: Ipv4Addr = "10.9.0.2".parse().unwrap();
        assert_eq!(leases.take(ip, "a").unwrap(), Take::Taken);
        assert_eq!(leases.take(ip, "b").unwrap(), Take::Held(Some("a".into())));
        leases.release(ip, "b").unwrap();
        assert_eq!(leases.holder(ip).as_deref(), Some("a"));
        leases.release(ip, "a").unwrap();
        leases.release(ip, "a").unwrap();
        assert_eq!(leases.holder(ip), None);
        assert_eq!(leases.take(ip, "b").unwrap(), Take::Taken);
        let list = leases.list().unwrap();
        assert_eq!(
            list.into_iter().collect::<Vec<_>>(),
            [(ip, "b".to_string())]
        );
        leases.remove().unwrap();
        assert!(!leases.exists());
    }

    #[test]
    fn racing_threads_never_share_an_address() {
        let leases = std::sync::Arc::new(index("lease2"));
        let ip: Ipv4Addr = "10.9.0.3".parse().unwrap();
        let winners: usize = (0..16)
            .map(|i| {
                let leases = leases.clone();
                std::thread::spawn(move || leases.take(ip, &format!("s{i}")).unwrap())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|t| *t == Take::Taken)
            .count();
        assert_eq!(winners, 1);
        leases.remove().unwrap();
    }

    #[test]
    fn holders_come_from_the_twins_or_else_from_the_links() {
        let leases = index("lease4");
        let (a, b): (Ipv4Addr, Ipv4Addr) =
            ("10.9.0.2".parse().unwrap(), "10.9.0.3".parse().unwrap());
        leases.take(a, "x").unwrap();
        leases.take(b, "y").unwrap();
        // A crash between `take`'s two links left a lease without its twin
        // (the only order sbx can leave: the twin goes first on release).
        fs::remove_file(leases.twin(a, "x")).unwrap();
        let list = leases.list().unwrap();
        assert_eq!(list[&a], "x");
        assert_eq!(list[&b], "y");
        assert!(leases.twin(b, "y").symlink_metadata().is_ok());
        leases.release(b, "y").unwrap();
        assert_eq!(leases.list().unwrap().len(), 1);
        leases.remove().unwrap();
    }

    #[test]
    fn a_lease_and_its_twin_are_one_inode_and_a_lone_twin_is_harmless() {
        use std::os::unix::fs::MetadataExt;
        let leases = index("lease5");
        let ip: Ipv4Addr = "10.9.0.4".parse().unwrap();
        assert_eq!(leases.take(ip, "a").unwrap(), Take::Taken);
        let lease = leases.path(ip).symlink_metadata().unwrap();
        let twin = leases.twin(ip, "a").symlink_metadata().unwrap();
        assert!(lease.file_type().is_symlink());
        assert_eq!((lease.ino(), lease.nlink()), (twin.ino(), 2));
        // The loser of a race leaves no twin behind.
        assert_eq!(leases.take(ip, "b").unwrap(), Take::Held(Some("a".into())));
        assert!(leases.twin(ip, "b").symlink_metadata().is_err());
        // A crash between the twin and the lease: the twin alone is no
        // lease, and the next take by that name reuses it.
        leases.release(ip, "a").unwrap();
        std::os::unix::fs::symlink("c", leases.twin(ip, "c")).unwrap();
        assert!(leases.list().unwrap().is_empty());
        assert_eq!(leases.take(ip, "c").unwrap(), Take::Taken);
        assert_eq!(leases.list().unwrap()[&ip], "c");
        // A stale twin of another name beside a lease: read from the link.
        std::os::unix::fs::symlink("d", leases.twin(ip, "d")).unwrap();
        assert_eq!(leases.list().unwrap()[&ip], "c");
        leases.remove().unwrap();
    }

    #[test]
    fn v4_and_v6_leases_share_a_folder_without_seeing_each_other() {
        let leases = index("lease6");
        let v4: Ipv4Addr = "10.9.0.2".parse().unwrap();
        let v6: Ipv6Addr = "fd42:1::2".parse().unwrap();
        assert_eq!(leases.take(v4, "a").unwrap(), Take::Taken);
        assert_eq!(leases.take(v6, "a").unwrap(), Take::Taken);
        assert_eq!(leases.take(v6, "b").unwrap(), Take::Held(Some("a".into())));
        assert_eq!(
            leases.list().unwrap().into_iter().collect::<Vec<_>>(),
            [(v4, "a".to_string())]
        );
        assert_eq!(
            leases.list6().unwrap().into_iter().collect::<Vec<_>>(),
            [(v6, "a".to_string())]
        );
        leases.release(v6, "b").unwrap();
        assert_eq!(leases.holder(v6).as_deref(), Some("a"));
        leases.release(v6, "a").unwrap();
        assert!(leases.list6().unwrap().is_empty());
        assert_eq!(leases.list().unwrap().len(), 1);
        leases.remove().unwrap();
    }

    #[test]
    fn a_built_index_appears_whole() {
        let leases = index("lease3");
        leases.remove().unwrap();
        let mut all = BTreeMap::new();
        all.insert("10.9.0.5".parse().unwrap(), "x".to_string());
        all.insert("10.9.0.2".parse().unwrap(), "y".to_string());
        let mut all6 = BTreeMap::new();
        all6.insert("fd42::5".parse().unwrap(), "x".to_string());
        leases.build(&all, &all6).unwrap();
        assert_eq!(leases.list().unwrap(), all);
        assert_eq!(leases.list6().unwrap(), all6);
        leases.remove().unwrap();
    }
}
