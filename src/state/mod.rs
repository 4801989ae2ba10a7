//! The state root: one folder per sandbox and per network plus a lock file.
//! Records are written atomically (temp file + rename) and never trusted for
//! liveness on their own: that comes from the kernel (see `liveness`).

pub mod cni;
pub mod leases;
mod legacy;
pub mod liveness;
pub mod pidfs;
pub mod ports;
pub mod ps_index;
pub mod records;

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub use leases::{Leases, Take};
use liveness::ProcessId;
pub use records::{Link, NetworkRecord, SandboxRecord, SandboxState, VxlanRecord};

/// A record file that exists (or a sandbox folder whose record is missing)
/// but cannot be read: set aside, never taken for a dead sandbox or an
/// absent network, so the kernel objects it stands for are not reused.
#[derive(Clone, Debug)]
pub struct Unreadable {
    /// The sandbox or network name (its folder or file name).
    pub name: String,
    /// Why it cannot be read, for `sbx ps -a` and `sbx network ls`.
    pub reason: String,
    /// The folder has no record file at all: a launch that died between
    /// making the folder and its first write (both happen under the lock).
    pub missing: bool,
}

/// What the state root holds under one name.
pub enum Entry<T> {
    /// Nothing by that name.
    Absent,
    /// A record that parsed.
    Found(T),
    /// A record that exists but cannot be read.
    Unreadable(Unreadable),
}

/// A state root such as `/run/sbx`; two roots never see each other's records.
pub struct StateRoot {
    dir: PathBuf,
}

/// Held while names and addresses are reserved; dropping it unlocks.
pub struct Lock {
    _flock: Flock<File>,
}

impl StateRoot {
    /// Opens (creating if needed, mode 0700) the state root and its two folders.
    pub fn open(dir: &Path) -> Result<Self> {
        // A root sbx makes is root's alone (records hold `-e` values); one
        // that exists keeps the mode its admin gave it.
        if !dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("create state root {}", dir.display()))?;
        }
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

    /// Takes the root's lock exclusively: for what changes networks or
    /// removes what others hold (network create/rm, building a lease index,
    /// sweeping a dead sandbox, `prune`, `rm`). While it is held no launch
    /// is between its first look and its last reservation, so a lease or a
    /// folder without a live owner is truly left over.
    pub fn lock(&self) -> Result<Lock> {
        self.lock_as(FlockArg::LockExclusive)
    }

    /// Takes the root's lock shared: what a launch holds while it reserves
    /// its name and address. Launches never wait for each other (the
    /// filesystem arbitrates between them: `mkdir` for names, `symlink` for
    /// addresses), only for an exclusive holder.
    pub fn lock_shared(&self) -> Result<Lock> {
        self.lock_as(FlockArg::LockShared)
    }

    /// Takes one sandbox's own lock: `network connect`/`disconnect` hold it
    /// while they change its links, and its cleanup while it reads them
    /// for the last time, so neither loses the other's change.
    pub fn lock_sandbox(&self, name: &str) -> Result<Lock> {
        let path = self.sandbox_dir(name).join("lock");
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

    /// The exclusive lock if it is free now, else `None` (for `sbx ps`,
    /// which sweeps only when that costs it no wait).
    pub fn try_lock(&self) -> Option<Lock> {
        self.lock_as(FlockArg::LockExclusiveNonblock).ok()
    }

    fn lock_as(&self, how: FlockArg) -> Result<Lock> {
        let path = self.dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .with_context(|| format!("open lock file {}", path.display()))?;
        let flock = Flock::lock(file, how)
            .map_err(|(_, errno)| errno)
            .with_context(|| format!("lock {}", path.display()))?;
        Ok(Lock { _flock: flock })
    }

    /// The state root's folder (the template mount namespace's pins live
    /// under it: see `process::template`).
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The folder holding one sandbox's record and its private /etc files.
    pub fn sandbox_dir(&self, name: &str) -> PathBuf {
        self.dir.join("sandboxes").join(name)
    }

    fn network_file(&self, name: &str) -> PathBuf {
        self.dir.join("networks").join(format!("{name}.json"))
    }

    /// The lease index of network `name` (see [`Leases`]):
    /// `ROOT/leases/NAME/`, beside (not inside) the network records.
    pub fn leases(&self, network: &str) -> Leases {
        Leases::at(self.dir.join("leases").join(network))
    }

    /// The CNI plugin's store of network configuration `name` (see
    /// [`cni::CniStore`]): `ROOT/cni/NAME/`, as the SPEC's "CNI plugin" says.
    pub fn cni(&self, name: &str) -> cni::CniStore {
        cni::CniStore::at(self.dir.join("cni").join(name))
    }

    /// The registry of published host ports (see [`ports::PortRegistry`]).
    pub fn ports(&self) -> ports::PortRegistry {
        ports::PortRegistry::at(self.dir.join("ports"))
    }

    /// The hosts file shared by the sandboxes of network `name` (see
    /// `fs::hosts`): `ROOT/hosts/NAME`, on the state root's filesystem so
    /// each sandbox's `hosts` can be a hard link to it.
    pub fn network_hosts(&self, name: &str) -> PathBuf {
        self.dir.join("hosts").join(name)
    }

    /// Gives back the address a sandbox held on its network, if its lease
    /// still names it (see [`Leases::release`]).
    pub fn release_lease(&self, network: &str, ip: std::net::Ipv4Addr, holder: &str) -> Result<()> {
        self.leases(network).release(ip, holder)
    }

    /// Reads one sandbox record; `None` when there is none by that name. A
    /// record that cannot be read is an error that names the way out.
    pub fn sandbox(&self, name: &str) -> Result<Option<SandboxRecord>> {
        match self.sandbox_entry(name) {
            Entry::Absent => Ok(None),
            Entry::Found(record) => Ok(Some(record)),
            Entry::Unreadable(u) => anyhow::bail!(
                "the record of sandbox {name} cannot be read ({}): see 'sbx ps -a'; 'sbx rm -f {name}' removes it",
                u.reason
            ),
        }
    }

    /// One sandbox's folder, sorted into absent, readable or not: a folder
    /// whose record is missing or damaged is `Unreadable`.
    pub fn sandbox_entry(&self, name: &str) -> Entry<SandboxRecord> {
        let dir = self.sandbox_dir(name);
        let path = dir.join("sandbox.json");
        match std::fs::read(&path) {
            Ok(bytes) => match SandboxRecord::from_json(&bytes) {
                Ok(mut record) if record.spec.name == name => {
                    // A held launch (OCI `created`) wrote its init into the
                    // record already; the link says it was released since.
                    if let Some(init) = read_init(&dir)
                        && record.init.is_none_or(|i| i == init)
                    {
                        record.init = Some(init);
                        if record.state == SandboxState::Creating {
                            record.state = SandboxState::Running;
                        }
                    }
                    Entry::Found(record)
                }
                Ok(record) => Entry::Unreadable(Unreadable {
                    name: name.into(),
                    reason: format!(
                        "{} names another sandbox, {:?}",
                        path.display(),
                        record.spec.name
                    ),
                    missing: false,
                }),
                Err(e) => Entry::Unreadable(Unreadable {
                    name: name.into(),
                    reason: format!("{} is damaged: {e}", path.display()),
                    missing: false,
                }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if dir.is_dir() {
                    Entry::Unreadable(Unreadable {
                        name: name.into(),
                        reason: format!("{} is missing", path.display()),
                        missing: true,
                    })
                } else {
                    Entry::Absent
                }
            }
            Err(e) => Entry::Unreadable(Unreadable {
                name: name.into(),
                reason: format!("cannot read {}: {e}", path.display()),
                missing: false,
            }),
        }
    }

    /// Writes a sandbox record atomically into its (existing) folder.
    pub fn write_sandbox(&self, record: &SandboxRecord) -> Result<()> {
        write_json(
            &self.sandbox_dir(&record.spec.name).join("sandbox.json"),
            record,
        )
    }

    /// Gives back every lease, on every network, that names `holder`: for
    /// `sbx rm -f` of a sandbox whose record (and so its address) cannot be
    /// read. Reads every lease index: rare, never on a launch.
    pub fn release_leases_of(&self, holder: &str) -> Result<()> {
        for network in self.networks()? {
            let leases = self.leases(&network.name);
            if !leases.exists() {
                continue;
            }
            for (ip, name) in leases.list()? {
                if name == holder {
                    leases.release(ip, holder)?;
                }
            }
            for (ip, name) in leases.list6()? {
                if name == holder {
                    leases.release(ip, holder)?;
                }
            }
        }
        Ok(())
    }

    /// Records that the sandbox's init runs, without rewriting the record:
    /// one `symlink(2)` named `init` whose target is `PID:START` (see
    /// `liveness`). Whether the sandbox runs is then the kernel's answer
    /// about that process; the record read back carries it as `init`, with
    /// the state `running`.
    pub fn mark_running(&self, name: &str, init: ProcessId) -> Result<()> {
        let path = self.sandbox_dir(name).join(INIT_LINK);
        let target = format!("{}:{}", init.pid, init.start);
        let made = match std::os::unix::fs::symlink(&target, &path) {
            // An earlier run's (a restart clears it first; this is a retry).
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                fs::remove_file(&path).and_then(|()| std::os::unix::fs::symlink(&target, &path))
            }
            other => other,
        };
        made.with_context(|| format!("write {}", path.display()))
    }

    /// Forgets an earlier run's init (before `sbx restart` launches again).
    pub fn clear_running(&self, name: &str) -> Result<()> {
        let path = self.sandbox_dir(name).join(INIT_LINK);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("remove {}", path.display()))
            }
            _ => Ok(()),
        }
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

    /// Every readable sandbox record, and the folders whose record is
    /// missing or damaged (for the caller to check against the kernel: see
    /// `sandbox::damaged`); one bad record never hides the others.
    pub fn sandboxes(&self) -> Result<(Vec<SandboxRecord>, Vec<Unreadable>)> {
        let mut records = Vec::new();
        let mut unreadable = Vec::new();
        for name in list_dir(&self.dir.join("sandboxes"))? {
            match self.sandbox_entry(&name) {
                Entry::Found(record) => records.push(record),
                Entry::Unreadable(u) => unreadable.push(u),
                Entry::Absent => {}
            }
        }
        records.sort_by(|a, b| (a.created, &a.spec.name).cmp(&(b.created, &b.spec.name)));
        Ok((records, unreadable))
    }

    /// Reads one network record; `None` when there is none by that name. A
    /// record that cannot be read is an error that names the way out.
    pub fn network(&self, name: &str) -> Result<Option<NetworkRecord>> {
        match self.network_entry(name) {
            Entry::Absent => Ok(None),
            Entry::Found(record) => Ok(Some(record)),
            Entry::Unreadable(u) => anyhow::bail!(
                "the record of network {name} cannot be read ({}): 'sbx network rm {name}' removes it",
                u.reason
            ),
        }
    }

    /// One network record, sorted into absent, readable or not. A record
    /// that parses but names no valid bridge counts as damaged: no kernel
    /// lookup could ever succeed with it.
    pub fn network_entry(&self, name: &str) -> Entry<NetworkRecord> {
        let path = self.network_file(name);
        let damaged = |reason: String| {
            Entry::Unreadable(Unreadable {
                name: name.into(),
                reason,
                missing: false,
            })
        };
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<NetworkRecord>(&bytes) {
                Ok(record) if record.name != name => damaged(format!(
                    "{} names another network, {:?}",
                    path.display(),
                    record.name
                )),
                Ok(record) if !records::valid_ifname(&record.bridge) => damaged(format!(
                    "{} names bridge {:?}, which is no interface name",
                    path.display(),
                    record.bridge
                )),
                Ok(record) => Entry::Found(record),
                Err(e) => damaged(format!("{} is damaged: {e}", path.display())),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Entry::Absent,
            Err(e) => damaged(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// The raw bytes of a network record, so `network rm` of a damaged one
    /// can salvage the bridge name it may still hold.
    pub fn network_bytes(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.network_file(name)).unwrap_or_default()
    }

    /// Writes a network record atomically. A new network gets an empty
    /// lease index first (any index left of an earlier network of that name
    /// goes), so its launches never need to build one.
    pub fn write_network(&self, record: &NetworkRecord) -> Result<()> {
        let path = self.network_file(&record.name);
        if !path.exists() {
            self.leases(&record.name).create_empty()?;
        }
        write_json(&path, record)
    }

    /// Deletes a network record and its lease index; already gone is fine,
    /// so a retried `network rm` finishes what the first one began. The
    /// index goes first: a record without one is rebuilt from the sandbox
    /// records, an index without a record would be stale.
    pub fn remove_network(&self, name: &str) -> Result<()> {
        self.leases(name).remove()?;
        let hosts = self.network_hosts(name);
        match fs::remove_file(&hosts) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("remove {}", hosts.display()));
            }
            _ => {}
        }
        // Its registrations of sandboxes on several networks (see
        // `fs::hosts`): none is left once no sandbox uses the network.
        let members = hosts.with_extension("multi");
        match fs::remove_dir_all(&members) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("remove {}", members.display()));
            }
            _ => {}
        }
        let path = self.network_file(name);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("remove {}", path.display()))
            }
            _ => Ok(()),
        }
    }

    /// Every readable network record, sorted by name; damaged ones are
    /// left out (see [`StateRoot::network_entries`]), so one bad file never
    /// stops the commands that concern other networks.
    pub fn networks(&self) -> Result<Vec<NetworkRecord>> {
        Ok(self.network_entries()?.0)
    }

    /// Every network record, readable (sorted by name) and damaged.
    pub fn network_entries(&self) -> Result<(Vec<NetworkRecord>, Vec<Unreadable>)> {
        let mut networks = Vec::new();
        let mut damaged = Vec::new();
        for file in list_dir(&self.dir.join("networks"))? {
            let Some(name) = file.strip_suffix(".json") else {
                continue;
            };
            match self.network_entry(name) {
                Entry::Found(record) => networks.push(record),
                Entry::Unreadable(u) => damaged.push(u),
                Entry::Absent => {}
            }
        }
        networks.sort_by(|a, b| a.name.cmp(&b.name));
        damaged.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((networks, damaged))
    }
}

/// The name of the link that says which init a sandbox runs under.
const INIT_LINK: &str = "init";

/// The init recorded by [`StateRoot::mark_running`] in folder `dir`.
fn read_init(dir: &Path) -> Option<ProcessId> {
    let target = fs::read_link(dir.join(INIT_LINK)).ok()?;
    let (pid, start) = target.to_str()?.split_once(':')?;
    Some(ProcessId {
        pid: pid.parse().ok()?,
        start: start.parse().ok()?,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn root(tag: &str) -> (PathBuf, StateRoot) {
        let dir = std::env::temp_dir().join(format!("sbx-unit-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let root = StateRoot::open(&dir).expect("open a state root");
        (dir, root)
    }

    #[test]
    fn unreadable_sandbox_records_are_reported_never_hidden() {
        let (dir, root) = root("sbxrec");
        for (name, content) in [
            ("garbage", Some(&b"\x00 not json"[..])),
            ("truncated", Some(&br#"{"name":"truncated","netw"#[..])),
            ("missing", None),
        ] {
            fs::create_dir(root.sandbox_dir(name)).unwrap();
            if let Some(content) = content {
                fs::write(root.sandbox_dir(name).join("sandbox.json"), content).unwrap();
            }
        }
        let (records, unreadable) = root.sandboxes().unwrap();
        assert!(records.is_empty());
        let mut seen: Vec<(String, bool)> = unreadable
            .iter()
            .map(|u| (u.name.clone(), u.missing))
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("garbage".to_string(), false),
                ("missing".to_string(), true),
                ("truncated".to_string(), false)
            ]
        );
        assert!(matches!(root.sandbox_entry("nope"), Entry::Absent));
        let err = root.sandbox("garbage").unwrap_err().to_string();
        assert!(err.contains("sbx rm -f garbage"), "{err}");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn damaged_network_records_are_set_apart() {
        let (dir, root) = root("netrec");
        let file = |name: &str| dir.join("networks").join(format!("{name}.json"));
        fs::write(file("bad"), b"{\"name\":\"bad\",").unwrap();
        let good = br#"{"name":"good","bridge":"br-good","subnet":"10.9.0.0/24","gateway":"10.9.0.1","internal":false,"mtu":null,"created":1,"bridge_created":true,"gateway_added":true}"#;
        fs::write(file("good"), good).unwrap();
        let odd = String::from_utf8_lossy(good).replace("br-good", "a/very/long/bridge");
        fs::write(file("odd"), odd.replace("\"good\"", "\"odd\"")).unwrap();
        let (networks, damaged) = root.network_entries().unwrap();
        assert_eq!(networks.len(), 1);
        assert_eq!(networks[0].name, "good");
        let names: Vec<&str> = damaged.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["bad", "odd"]);
        assert!(damaged[1].reason.contains("no interface name"));
        assert_eq!(root.networks().unwrap().len(), 1);
        assert!(root.network("bad").is_err());
        root.remove_network("bad").unwrap();
        root.remove_network("bad").unwrap();
        let _ = fs::remove_dir_all(dir);
    }
}
