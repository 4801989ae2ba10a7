//! Sandboxes whose record cannot be read (truncated, garbage, or missing):
//! what the kernel still holds for them. Such a sandbox is never taken for
//! a dead one: its netns file and the processes living in that namespace
//! decide (issue 8), and its addresses are read from inside the namespace so
//! that they are not handed out again. Only the rare damaged record pays for
//! these reads; the launch path of healthy state roots never does.

use crate::net::{Netlink, netns};
use crate::state::Unreadable;
use crate::state::liveness::ProcessId;
use anyhow::{Context, Result};
use futures::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{InfoKind, LinkAttribute, LinkInfo};
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A sandbox folder whose record cannot be read, with what the kernel says.
pub struct Damaged {
    /// The sandbox name (its folder's name).
    pub name: String,
    /// Why its record cannot be read.
    pub reason: String,
    /// The folder has no record file at all.
    pub missing: bool,
    /// Where its netns file would be (`/run/netns/sbx-NAME`).
    pub netns: PathBuf,
    /// That file exists (pinned namespace or not: a file is never ignored).
    pub netns_exists: bool,
    /// Host PIDs of the processes living in that namespace or in the
    /// sandbox's cgroups (every sandbox has one: its device list), so a
    /// sandbox whose netns file was removed by hand is still found.
    pub processes: Vec<i32>,
}

impl Damaged {
    /// Asks the kernel about an unreadable folder: a stat of the netns file
    /// and, when it pins a namespace, one pass over `/proc`; then the
    /// members of the cgroups sbx made for that name.
    pub fn probe(unreadable: Unreadable) -> Self {
        let netns = netns::path_for(&unreadable.name);
        let netns_exists = netns.symlink_metadata().is_ok();
        let mut processes = pinned_namespace(&netns)
            .map(processes_in)
            .unwrap_or_default();
        processes.extend(cgroup_members(&cgroups_of(&unreadable.name)));
        processes.sort_unstable();
        processes.dedup();
        Damaged {
            name: unreadable.name,
            reason: unreadable.reason,
            missing: unreadable.missing,
            netns,
            netns_exists,
            processes,
        }
    }

    /// Whether anything of it is left in the kernel; a folder without a
    /// record and without kernel objects is a launch that died before its
    /// first write, the only kind the sweep may remove.
    pub fn in_kernel(&self) -> bool {
        self.netns_exists || !self.processes.is_empty()
    }

    /// The sandbox's init: the process in the namespace that is PID 1 of
    /// its own PID namespace (the last `NSpid` of `/proc/PID/status`).
    pub fn init(&self) -> Option<i32> {
        self.processes
            .iter()
            .copied()
            .find(|pid| innermost_pid(*pid) == Some(1))
    }

    /// The sbx waiting for the sandbox (the init's parent), if any.
    pub fn owner(&self) -> Option<ProcessId> {
        self.init()
            .and_then(crate::state::liveness::parent_of)
            .filter(|p| *p > 1)
            .and_then(ProcessId::of)
    }

    /// What the kernel holds, in words: "its network namespace
    /// /run/netns/sbx-a exists and 2 processes of it live".
    pub fn kernel_words(&self) -> String {
        let ns = if self.netns_exists {
            format!("its network namespace {} exists", self.netns.display())
        } else {
            format!("no network namespace {} exists", self.netns.display())
        };
        match self.processes.len() {
            0 => format!("{ns} and no process of it lives"),
            1 => format!("{ns} and 1 process of it lives"),
            n => format!("{ns} and {n} processes of it live"),
        }
    }
}

/// The cgroup folders sbx may have made for sandbox `name` (cgroup v2:
/// `/sys/fs/cgroup/sbx/NAME-PID`; v1: the same under each hierarchy, see
/// `cgroup::create`): how `rm -f` finds them without the record, when the
/// sbx that would have removed them is gone too.
pub fn cgroups_of(name: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut parents = vec![root.join("sbx")];
    if let Ok(entries) = std::fs::read_dir(root) {
        parents.extend(entries.filter_map(|e| Some(e.ok()?.path().join("sbx"))));
    }
    let mut found = Vec::new();
    for parent in parents {
        let Ok(entries) = std::fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let leaf = entry.file_name();
            let Some(leaf) = leaf.to_str() else { continue };
            let ours = leaf
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
            if ours {
                found.push(entry.path());
            }
        }
    }
    found
}

/// The host PIDs in `cgroups` (their `cgroup.procs`, read from the host's
/// PID namespace). A folder that cannot be read adds nothing.
fn cgroup_members(cgroups: &[PathBuf]) -> Vec<i32> {
    cgroups
        .iter()
        .filter_map(|dir| std::fs::read_to_string(dir.join("cgroup.procs")).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| l.trim().parse::<i32>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Removes what a launch that died before its first record write left:
/// its lease (taken before its folder), its cgroups, its folder. The
/// caller holds the exclusive lock, so no launch is half-way.
pub fn remove_dead_launch(root: &crate::state::StateRoot, name: &str) -> Result<()> {
    root.release_leases_of(name)?;
    remove_orphan_cgroups(name);
    root.remove_sandbox(name)
}

/// Removes the cgroups a launch that died before its first record write
/// may have left (see [`cgroups_of`]); one still in use (a process in it)
/// is left alone, never waited for.
pub fn remove_orphan_cgroups(name: &str) {
    for dir in cgroups_of(name) {
        let _ = std::fs::remove_dir(dir);
    }
}

/// Every unreadable folder, probed.
pub fn probe_all(unreadable: Vec<Unreadable>) -> Vec<Damaged> {
    unreadable.into_iter().map(Damaged::probe).collect()
}

/// What a damaged sandbox holds in its namespace, read over netlink from
/// inside it: its IPv4 addresses (loopback excluded), its global IPv6 ones
/// (on a dual-stack network; loopback and link-local excluded), and the host-side
/// interface indexes of its veths' peers (the bridge ports it occupies).
#[derive(Default)]
pub struct Footprint {
    /// Addresses on its interfaces.
    pub addrs: Vec<Ipv4Addr>,
    /// Its global IPv6 addresses.
    pub addrs6: Vec<std::net::Ipv6Addr>,
    /// `IFLA_LINK` of each veth in it: the peer's index on the host.
    pub peers: Vec<u32>,
}

/// Reads a damaged sandbox's [`Footprint`]. A netns file that pins no
/// namespace (a plain file) holds nothing. The netlink socket opened inside
/// is dropped before returning, so it keeps no namespace alive.
pub fn footprint(nl: &Netlink, damaged: &Damaged) -> Result<Footprint> {
    if pinned_namespace(&damaged.netns).is_none() {
        return Ok(Footprint::default());
    }
    let file = std::fs::File::open(&damaged.netns)
        .with_context(|| format!("open {}", damaged.netns.display()))?;
    let inside = nl.handle_in(&file)?;
    let (addrs, links) = nl
        .block_on(async {
            let addrs: Vec<_> = inside.address().get().execute().try_collect().await?;
            let links: Vec<_> = inside.link().get().execute().try_collect().await?;
            Ok::<_, rtnetlink::Error>((addrs, links))
        })
        .map_err(crate::net::describe)
        .with_context(|| format!("list the interfaces in {}", damaged.netns.display()))?;
    drop(inside);
    let mut print = Footprint::default();
    for msg in &addrs {
        for attr in &msg.attributes {
            if let AddressAttribute::Local(IpAddr::V4(ip))
            | AddressAttribute::Address(IpAddr::V4(ip)) = attr
                && !ip.is_loopback()
                && !print.addrs.contains(ip)
            {
                print.addrs.push(*ip);
            }
            if let AddressAttribute::Address(IpAddr::V6(ip)) = attr
                && !ip.is_loopback()
                && !ip.is_unicast_link_local()
                && !print.addrs6.contains(ip)
            {
                print.addrs6.push(*ip);
            }
        }
    }
    for msg in &links {
        let is_veth = msg.attributes.iter().any(|a| match a {
            LinkAttribute::LinkInfo(infos) => infos
                .iter()
                .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Veth))),
            _ => false,
        });
        if let Some(peer) = msg.attributes.iter().find_map(|a| match a {
            LinkAttribute::Link(index) => Some(*index),
            _ => None,
        }) && is_veth
        {
            print.peers.push(peer);
        }
    }
    Ok(print)
}

/// The (device, inode) of the namespace a netns file pins; `None` for a
/// missing file or a plain one (a bind mount that never happened).
fn pinned_namespace(path: &Path) -> Option<(u64, u64)> {
    let fs = nix::sys::statfs::statfs(path).ok()?;
    if fs.filesystem_type() != nix::sys::statfs::NSFS_MAGIC {
        return None;
    }
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.dev(), meta.ino()))
}

/// Host PIDs whose network namespace is `ns` (compared by device and inode,
/// as `ip netns identify` does).
fn processes_in(ns: (u64, u64)) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/net")).is_ok_and(|m| (m.dev(), m.ino()) == ns)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// A process's PID in its own (innermost) PID namespace.
fn innermost_pid(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
    line.split_whitespace().last()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_itself_in_its_own_namespace() {
        let ns =
            pinned_namespace(Path::new("/proc/self/ns/net")).expect("own netns is an nsfs file");
        let me = std::process::id() as i32;
        assert!(processes_in(ns).contains(&me));
        assert_eq!(
            crate::state::liveness::parent_of(me),
            Some(nix::unistd::getppid().as_raw())
        );
    }

    #[test]
    fn a_plain_file_pins_nothing() {
        assert!(pinned_namespace(Path::new("/proc/self/stat")).is_none());
        assert!(pinned_namespace(Path::new("/nonexistent/sbx")).is_none());
    }
}
