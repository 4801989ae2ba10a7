//! Step 2 of a launch: under the state root's lock, sweep what dead
//! sandboxes left, make sure the network is ready, and claim the name and
//! the address by writing a `creating` record. The lock is released before
//! any namespace is made, so launches run in parallel.

use super::cleanup;
use super::damaged::{self, Damaged};
use crate::ipam::{self, Holder};
use crate::net::{Netlink, netns};
use crate::network::{self, Attachment};
use crate::spec::SandboxSpec;
use crate::state::liveness::ProcessId;
use crate::state::records::Status;
use crate::state::{NetworkRecord, SandboxRecord, SandboxState, StateRoot};
use anyhow::{Context, Result, bail};
use std::net::Ipv4Addr;

/// What the reservation produced: the record as written, and the network to
/// plug into (if any) with the neighbours for /etc/hosts.
pub struct Reservation {
    /// The `creating` record.
    pub record: SandboxRecord,
    /// The network, its bridge, and our prefix/gateway.
    pub network: Option<(NetworkRecord, Attachment)>,
    /// Other sandboxes on the same network, for /etc/hosts.
    pub neighbours: Vec<(String, Ipv4Addr)>,
}

/// Reserves name and address for `spec` atomically with respect to every
/// other sbx using the same state root.
pub fn reserve(
    root: &StateRoot,
    nl: &Netlink,
    spec: &SandboxSpec,
    veth: String,
) -> Result<Reservation> {
    reserve_as(root, nl, spec, veth, false)
}

/// [`reserve`] for `sbx restart`: an exited sandbox of the same name is
/// taken over (its folder, and so its log, stays) instead of refused.
pub fn reserve_again(
    root: &StateRoot,
    nl: &Netlink,
    spec: &SandboxSpec,
    veth: String,
) -> Result<Reservation> {
    reserve_as(root, nl, spec, veth, true)
}

fn reserve_as(
    root: &StateRoot,
    nl: &Netlink,
    spec: &SandboxSpec,
    veth: String,
    again: bool,
) -> Result<Reservation> {
    let _lock = root.lock()?;
    let Swept {
        live,
        exited,
        damaged,
    } = sweep_dead(root)?;
    if let Some(d) = damaged.iter().find(|d| d.name == spec.name) {
        bail!(
            "name {} is in use by a sandbox whose record cannot be read ({}): see 'sbx ps -a'; 'sbx rm -f {}' removes it, or choose another --name",
            spec.name,
            d.reason,
            spec.name
        );
    }
    let again = again && exited.contains(&spec.name);
    if exited.contains(&spec.name) && !again {
        bail!(
            "name {} is already in use by an exited sandbox: remove it with 'sbx rm {}' or choose another --name",
            spec.name,
            spec.name
        );
    }
    if live.iter().any(|r| r.name == spec.name) {
        bail!(
            "name {} is already in use by a sandbox: choose another --name",
            spec.name
        );
    }
    let netns_path = netns::path_for(&spec.name);
    if netns_path.exists() {
        bail!(
            "network namespace {} already exists (made outside this sbx state root): choose another --name",
            netns_path.display()
        );
    }
    let network = match &spec.network {
        None => None,
        Some(name) => Some(find_or_create_network(root, nl, name)?),
    };
    let mut neighbours = Vec::new();
    let mut ip = None;
    if let Some(net) = &network {
        neighbours = live
            .iter()
            .filter(|r| r.network.as_deref() == Some(net.name.as_str()))
            .filter_map(|r| r.ip.map(|ip| (r.name.clone(), ip)))
            .collect();
        let held_by_damaged = damaged_holders(nl, &damaged, &net.subnet)?;
        let holders: Vec<Holder> = neighbours
            .iter()
            .chain(&held_by_damaged)
            .map(|(name, ip)| Holder { ip: *ip, name })
            .collect();
        ip = Some(match spec.ip {
            Some(wanted) => {
                ipam::check_requested(&net.subnet, net.gateway, &net.name, wanted, &holders)?;
                wanted
            }
            None => ipam::lowest_free(&net.subnet, net.gateway, &net.name, &holders)?,
        });
    }
    let attachment = match network {
        Some(net) => {
            let attachment = network::ensure_ready(nl, &net)?;
            Some((net, attachment))
        }
        None => None,
    };
    netns::ensure_dir()?;
    let record = SandboxRecord {
        name: spec.name.clone(),
        network: attachment.as_ref().map(|(n, _)| n.name.clone()),
        ip,
        hostname: spec.hostname.clone(),
        command: spec.command.clone(),
        created: crate::timefmt::now_unix(),
        state: SandboxState::Creating,
        owner: ProcessId::current(),
        init: None,
        netns: Some(netns_path),
        veth: attachment.as_ref().map(|_| veth),
        exit_code: None,
        env: spec.env.clone(),
        workdir: spec.workdir.clone(),
        detached: spec.detach,
        auto_remove: spec.auto_remove,
        mac: None,
        capabilities: spec.caps.iter().map(|c| c.to_string()).collect(),
        fs: spec.fs.clone(),
        seccomp_unconfined: !spec.seccomp,
        limits: spec.limits.clone(),
        cgroups: Vec::new(),
    };
    let dir = root.sandbox_dir(&spec.name);
    match std::fs::create_dir(&dir) {
        Err(e) if !(again && e.kind() == std::io::ErrorKind::AlreadyExists) => {
            return Err(e).with_context(|| format!("create {}", dir.display()));
        }
        _ => {}
    }
    if let Err(e) = root.write_sandbox(&record) {
        let _ = root.remove_sandbox(&spec.name);
        return Err(e);
    }
    Ok(Reservation {
        record,
        network: attachment,
        neighbours,
    })
}

/// The addresses in `subnet` that sandboxes with unreadable records still
/// hold, read from their namespaces: never handed out again. If one cannot
/// be read, no address is safe to give: the launch fails naming the way out.
fn damaged_holders(
    nl: &Netlink,
    damaged: &[Damaged],
    subnet: &crate::ipam::Subnet,
) -> Result<Vec<(String, Ipv4Addr)>> {
    let mut held = Vec::new();
    for d in damaged.iter().filter(|d| d.in_kernel()) {
        let print = damaged::footprint(nl, d).with_context(|| {
            format!(
                "cannot tell which address sandbox {} holds (its record cannot be read: {}); 'sbx rm -f {}' removes it",
                d.name, d.reason, d.name
            )
        })?;
        held.extend(
            print
                .addrs
                .into_iter()
                .filter(|ip| subnet.contains(*ip))
                .map(|ip| (d.name.clone(), ip)),
        );
    }
    Ok(held)
}

/// What the sweep found: live records, the names of exited sandboxes whose
/// records stay until `sbx rm`, and the sandboxes whose records cannot be
/// read (set aside, never taken for dead).
pub struct Swept {
    /// Records of sandboxes still running or being launched.
    pub live: Vec<SandboxRecord>,
    /// Exited sandboxes kept until `sbx rm`.
    pub exited: Vec<String>,
    /// Unreadable records, with what the kernel still holds for them.
    pub damaged: Vec<Damaged>,
}

/// Removes the leftovers of every sandbox whose processes are gone (a crash,
/// a `kill -9`) and sorts the rest (see [`Swept`]). One broken record never
/// stops the sweep, and is never swept itself: liveness comes from the
/// kernel, so a damaged record of a running sandbox keeps its address and
/// its network. Called with the lock held.
pub fn sweep_dead(root: &StateRoot) -> Result<Swept> {
    let (records, unreadable) = root.sandboxes()?;
    let mut damaged = Vec::new();
    for d in damaged::probe_all(unreadable) {
        // Folders are created and first written under this lock, so one
        // without a record file and without a namespace is a launch that
        // died in between. Anything else is set aside.
        if d.missing && !d.in_kernel() {
            let _ = root.remove_sandbox(&d.name);
        } else {
            damaged.push(d);
        }
    }
    let mut live = Vec::with_capacity(records.len());
    let mut exited = Vec::new();
    for record in records {
        let Some(record) = confirm_exited(root, record) else {
            continue;
        };
        match record {
            Ok(live_record) => live.push(live_record),
            Err(dead) => {
                if dead.kept_after_exit() {
                    exited.push(dead.name.clone());
                }
                if let Err(e) = cleanup::sweep(root, dead) {
                    crate::log::warn(&format!("{e:#}"));
                }
            }
        }
    }
    Ok(Swept {
        live,
        exited,
        damaged,
    })
}

/// Sorts a record into live (`Ok`) or ended (`Err`), safely against the
/// launches that write records without the lock. A record that looks dead
/// is read again after that verdict: its sbx writes every step before it
/// lets go (the `sbx run -d` waiting on a supervisor exits only after the
/// supervisor recorded the sandbox running), so a fresh read after its
/// death shows the newest state. `None`: the record vanished meanwhile.
pub fn confirm_exited(
    root: &StateRoot,
    record: SandboxRecord,
) -> Option<std::result::Result<SandboxRecord, SandboxRecord>> {
    if record.status() != Status::Exited {
        return Some(Ok(record));
    }
    let fresh = root.sandbox(&record.name).ok()??;
    if fresh.status() == Status::Exited {
        Some(Err(fresh))
    } else {
        Some(Ok(fresh))
    }
}

fn find_or_create_network(root: &StateRoot, nl: &Netlink, name: &str) -> Result<NetworkRecord> {
    if let Some(record) = root.network(name)? {
        return Ok(record);
    }
    if name == network::DEFAULT_NETWORK {
        let request = network::default_request()?;
        if let Some(subnet) = &request.subnet
            && let Some(owner) = root
                .networks()?
                .into_iter()
                .find(|n| n.subnet.overlaps(subnet))
        {
            bail!(
                "the default network {name} ({subnet}) cannot be created: network {} already holds {}: pass --network {} to use it, or remove it with 'sbx network rm {}'",
                owner.name,
                owner.subnet,
                owner.name,
                owner.name
            );
        }
        return network::create(root, nl, request).map_err(|e| {
            // The cause's own remedy names options of `network create`
            // that this `sbx run` was never given: keep only the cause.
            let cause = format!("{e:#}");
            let cause = cause.split(": pick another").next().unwrap_or(&cause);
            anyhow::anyhow!(
                "the default network {name} cannot be created ({cause}): make another with 'sbx network create NAME' and pass --network NAME"
            )
        });
    }
    bail!(
        "network {name} not found: create it with 'sbx network create {name}' or pick another --network"
    )
}
