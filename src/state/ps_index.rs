//! `sbx ps`'s index of running sandboxes: `ROOT/ps.index`, so that a `ps`
//! among 1000 sandboxes does not open, read and parse 1000 records and
//! format 1000 `/proc/PID/stat` files (54 ms at 1000 on the CI VM; the
//! SPEC's budget is 20 ms: BENCHMARKS.md, issue 9).
//!
//! What `ps` shows of a running sandbox (name, network, address, creation
//! time, command, limits) never changes while the same init runs: sbx
//! rewrites a record only before its init exists or after it has ended. So
//! an entry keeps those facts with the record file's stat (inode, size,
//! mtime, ctime) and the init's identity (PID and pidfs inode, taken after
//! its start time was checked: see `pidfs`). An entry is used only while
//! both still hold: one `fstatat` of the record and one pidfd look at the
//! init. Anything else (a record rewritten, removed, damaged by hand, a
//! sandbox that is not running, an init that ended, a PID reused) falls
//! back to reading the record as `ps` always did; so an entry can only ever
//! be unused, never wrong, and a crash, `kill -9`, `rm`, `prune`, `restart`
//! or an older sbx writing the root need no care. The file is written by
//! `ps` alone (never on a launch's path), atomically, when its entries
//! changed; without it (an older root, a root `ps` may not write) `ps`
//! reads every record. Its first line holds the boot ID: pidfs inodes are
//! only unique within one boot.

use super::liveness::ProcessId;
use super::records::{SandboxRecord, Status};
use super::{Entry, StateRoot, Unreadable};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The index's file name under the state root.
pub const FILE: &str = "ps.index";
/// The layout of the file; another number is ignored (and rewritten).
const VERSION: u32 = 2;

/// What `sbx ps` shows of a sandbox, as its record says (the status and
/// the PID come from the kernel).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shown {
    /// The sandbox's name.
    pub name: String,
    /// Its interfaces, one per network (none for `--network none`).
    pub links: Vec<super::Link>,
    /// Its published ports.
    pub ports: Vec<crate::model::ports::PortMapping>,
    /// The exit code recorded, if any.
    pub exit_code: Option<i32>,
    /// Unix seconds when its launch began.
    pub created: u64,
    /// Command and arguments.
    pub command: Vec<String>,
    /// Its cgroup limits (`--json` shows them).
    pub limits: crate::model::Limits,
}

impl Shown {
    /// The facts `ps` shows, taken from a record.
    pub fn of(record: &SandboxRecord) -> Self {
        Shown {
            name: record.spec.name.clone(),
            links: record.links.clone(),
            ports: record.spec.ports.clone(),
            exit_code: record.exit_code,
            created: record.created,
            command: record.spec.command.clone(),
            limits: record.spec.limits.clone(),
        }
    }
}

/// One sandbox as `ps` found it.
pub enum Seen {
    /// Running, by the index: its record unchanged since it was indexed,
    /// its init the same process, alive.
    Indexed {
        /// What its record says.
        shown: Shown,
        /// Its init's PID.
        pid: i32,
    },
    /// Read from its record, its status asked of the kernel.
    Read {
        /// The record.
        record: Box<SandboxRecord>,
        /// Its status now.
        status: Status,
    },
}

impl Seen {
    fn order(&self) -> (u64, &str) {
        match self {
            Seen::Indexed { shown, .. } => (shown.created, &shown.name),
            Seen::Read { record, .. } => (record.created, &record.spec.name),
        }
    }
}

/// Every sandbox folder of a state root, sorted by creation time and name,
/// and those whose record cannot be read.
pub struct Scan {
    /// The sandboxes with a readable record.
    pub seen: Vec<Seen>,
    /// Folders whose record is missing or damaged (never taken for dead).
    pub unreadable: Vec<Unreadable>,
}

/// The stat of a record file when it was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    ino: u64,
    size: i64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// When an entry holds: its record's stat when the entry was made, and
/// its init's PID and pidfs inode (see `pidfs`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Key {
    record: Stamp,
    pid: i32,
    pidfs: u64,
}

/// One running sandbox in the index, as read.
#[derive(Deserialize)]
struct Indexed {
    key: Key,
    shown: Shown,
}

/// The same, to write (borrowing what `ps` shows).
#[derive(Serialize)]
struct IndexedRef<'a> {
    key: Key,
    shown: &'a Shown,
}

/// The file's first line.
#[derive(Serialize, Deserialize)]
struct Header {
    version: u32,
    boot: String,
}

/// Lists the sandboxes of `root` the way `ps` shows them: from the index
/// where it still holds, else from the records (and the index is brought
/// up to date, when the root is writable). One bad record never hides the
/// others.
pub fn scan(root: &StateRoot) -> Result<Scan> {
    let dir = root.path().join("sandboxes");
    let folder = std::fs::File::open(&dir)
        .with_context(|| format!("read {}", dir.display()))
        .map(OwnedFd::from)?;
    let names = super::list_dir(&dir)?;
    let boot = boot_id();
    let file = root.path().join(FILE);
    let mut old = boot
        .as_deref()
        .map(|boot| load(&file, boot))
        .unwrap_or_default();
    let listed = old.len();
    // Parallel to `scan.seen`: the index key of each sandbox to keep in
    // the index (taken from it, or made now), `None` for the others.
    let mut keys: Vec<Option<Key>> = Vec::with_capacity(names.len());
    let mut kept = 0;
    let mut made = 0;
    let mut scan = Scan {
        seen: Vec::with_capacity(names.len()),
        unreadable: Vec::new(),
    };
    for name in names {
        if let Some(entry) = old.remove(&name)
            && stamp(&folder, &name) == Some(entry.key.record)
            && super::pidfs::still_runs(entry.key.pid, entry.key.pidfs)
        {
            scan.seen.push(Seen::Indexed {
                pid: entry.key.pid,
                shown: entry.shown,
            });
            keys.push(Some(entry.key));
            kept += 1;
            continue;
        }
        let before = stamp(&folder, &name);
        match root.sandbox_entry(&name) {
            Entry::Found(record) => {
                let status = record.status();
                let key = index_key(&record, status, before, &folder);
                made += usize::from(key.is_some());
                keys.push(key);
                scan.seen.push(Seen::Read {
                    record: Box::new(record),
                    status,
                });
            }
            Entry::Unreadable(u) => scan.unreadable.push(u),
            Entry::Absent => {}
        }
    }
    if (made > 0 || kept < listed)
        && let Some(boot) = boot
    {
        // Best effort: a root this user may not write keeps its index as
        // it is (or none); `ps` is then as slow as it always was.
        let _ = store(&file, &boot, scan.seen.iter().zip(&keys));
    }
    scan.seen.sort_by(|a, b| a.order().cmp(&b.order()));
    Ok(scan)
}

/// The index key for a record read now, if its sandbox runs under an init
/// with a pidfs identity and the record did not change while it was read
/// (`before`: its stat taken before the read).
fn index_key(
    record: &SandboxRecord,
    status: Status,
    before: Option<Stamp>,
    folder: &OwnedFd,
) -> Option<Key> {
    let init: ProcessId = record.init.filter(|_| status == Status::Running)?;
    let before = before?;
    let pidfs = super::pidfs::identify(init)?;
    (stamp(folder, &record.spec.name) == Some(before)).then_some(Key {
        record: before,
        pid: init.pid,
        pidfs,
    })
}

/// The stat of `NAME/sandbox.json` below the `sandboxes` folder.
fn stamp(folder: &OwnedFd, name: &str) -> Option<Stamp> {
    let path = CString::new(format!("{name}/sandbox.json")).ok()?;
    // SAFETY: fstatat writes one `struct stat`; the path is NUL-terminated.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let rc = unsafe {
        libc::fstatat(
            folder.as_raw_fd(),
            path.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    (rc == 0).then_some(Stamp {
        ino: st.st_ino,
        size: st.st_size,
        mtime: (st.st_mtime, st.st_mtime_nsec),
        ctime: (st.st_ctime, st.st_ctime_nsec),
    })
}

/// This boot's ID (proc(5): `/proc/sys/kernel/random/boot_id`).
fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_string()).filter(|id| !id.is_empty())
}

/// The entries of the index at `file` made during boot `boot`; none when
/// the file is missing, of another boot or layout, or damaged.
fn load(file: &Path, boot: &str) -> HashMap<String, Indexed> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return HashMap::new();
    };
    let mut lines = text.lines();
    let header = lines
        .next()
        .and_then(|line| serde_json::from_str::<Header>(line).ok());
    if !header.is_some_and(|h| h.version == VERSION && h.boot == boot) {
        return HashMap::new();
    }
    let mut entries = HashMap::new();
    for line in lines {
        match serde_json::from_str::<Indexed>(line) {
            Ok(entry) => {
                entries.insert(entry.shown.name.clone(), entry);
            }
            Err(_) => return HashMap::new(),
        }
    }
    entries
}

/// Writes the index atomically (temp file, then rename), one line for
/// each sandbox with a key.
fn store<'a>(
    file: &Path,
    boot: &str,
    entries: impl Iterator<Item = (&'a Seen, &'a Option<Key>)>,
) -> Result<()> {
    let header = Header {
        version: VERSION,
        boot: boot.to_string(),
    };
    let mut text = serde_json::to_vec(&header)?;
    text.push(b'\n');
    for (seen, key) in entries {
        let shown = match seen {
            Seen::Indexed { shown, .. } => shown,
            Seen::Read { .. } if key.is_none() => continue,
            Seen::Read { record, .. } => &Shown::of(record),
        };
        if let Some(key) = *key {
            serde_json::to_writer(&mut text, &IndexedRef { key, shown })?;
            text.push(b'\n');
        }
    }
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&text))
        .and_then(|()| std::fs::rename(&tmp, file));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("write {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(tag: &str) -> (std::path::PathBuf, StateRoot) {
        let dir = std::env::temp_dir().join(format!("sbx-unit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = StateRoot::open(&dir).expect("open a state root");
        (dir, root)
    }

    /// A record of a sandbox whose init is `init` (running: this test).
    fn record(name: &str, init: ProcessId) -> SandboxRecord {
        let flat = serde_json::json!({
            "name": name, "network": "n", "ip": "10.9.0.2", "hostname": name,
            "command": ["sleep", "1"], "created": 7, "state": "creating", "owner": null,
            "init": null, "netns": null, "veth": "sbxunit0", "exit_code": null,
        });
        let mut r =
            SandboxRecord::from_json(flat.to_string().as_bytes()).expect("a minimal record parses");
        r.init = Some(init);
        r
    }

    fn indexed(scan: &Scan) -> Vec<&str> {
        scan.seen
            .iter()
            .filter_map(|s| match s {
                Seen::Indexed { shown, .. } => Some(shown.name.as_str()),
                Seen::Read { .. } => None,
            })
            .collect()
    }

    #[test]
    fn entries_are_used_only_while_record_and_init_are_unchanged() {
        let me = ProcessId::current().expect("own stat readable");
        if super::super::pidfs::identify(me).is_none() {
            return; // no pidfs (before 6.9): ps reads every record
        }
        let (dir, root) = root("psidx");
        for name in ["a", "b"] {
            std::fs::create_dir(root.sandbox_dir(name)).unwrap();
            root.write_sandbox(&record(name, me)).unwrap();
        }
        let first = scan(&root).unwrap();
        assert!(
            indexed(&first).is_empty(),
            "the first scan reads the records"
        );
        assert!(dir.join(FILE).exists(), "and writes the index");
        let second = scan(&root).unwrap();
        assert_eq!(indexed(&second), ["a", "b"]);
        match &second.seen[0] {
            Seen::Indexed { shown, pid } => {
                assert_eq!(*shown, Shown::of(&record("a", me)));
                assert_eq!(*pid, me.pid);
            }
            Seen::Read { .. } => unreachable!(),
        }

        // A record rewritten (another state), damaged, or of another init.
        let mut exited = record("a", me);
        exited.exit_code = Some(3);
        root.write_sandbox(&exited).unwrap();
        std::fs::write(root.sandbox_dir("b").join("sandbox.json"), b"{").unwrap();
        let third = scan(&root).unwrap();
        assert!(indexed(&third).is_empty());
        assert_eq!(third.unreadable.len(), 1, "damaged: unknown, not running");
        assert!(matches!(&third.seen[0], Seen::Read { record, .. } if record.exit_code == Some(3)));

        // A dead init is never taken from the index.
        let dead = ProcessId {
            pid: me.pid,
            start: me.start + 1,
        };
        root.write_sandbox(&record("b", dead)).unwrap();
        let fourth = scan(&root).unwrap();
        assert_eq!(indexed(&fourth), ["a"], "a is indexed again, b never");
        assert!(matches!(&fourth.seen[1], Seen::Read { status, .. } if *status != Status::Running));

        // Another boot's index, or a damaged one, is not used.
        let text = std::fs::read_to_string(dir.join(FILE)).unwrap();
        let (_, rest) = text.split_once('\n').unwrap();
        let other = format!("{{\"version\":1,\"boot\":\"x\"}}\n{rest}");
        std::fs::write(dir.join(FILE), other).unwrap();
        assert!(indexed(&scan(&root).unwrap()).is_empty());
        std::fs::write(dir.join(FILE), "garbage").unwrap();
        assert!(indexed(&scan(&root).unwrap()).is_empty());
        assert_eq!(indexed(&scan(&root).unwrap()), ["a"], "rewritten whole");

        // A removed sandbox leaves the index.
        root.remove_sandbox("a").unwrap();
        let last = scan(&root).unwrap();
        assert!(last.seen.iter().all(|s| s.order().1 != "a"));
        assert!(
            !std::fs::read_to_string(dir.join(FILE))
                .unwrap()
                .contains("\"a\"")
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
