//! Step 2 of a launch: claim the address and the name, make sure the
//! network is ready, and write the `creating` record. A launch reads no
//! record but the one of the name it wants (and, when a lease is in its
//! way, the holder's): the address is a `symlink` in the network's lease
//! index (see `state::leases`), the name a `mkdir`, each arbitrated by the
//! filesystem. Launches hold the state root's lock shared, so they never
//! wait for each other; only when something must be swept (a dead sandbox
//! holding the name or the address wanted), created (the network) or built
//! (the lease index of a network an older sbx made) does a launch start
//! over with the lock held exclusively. Dead sandboxes that are in nobody's
//! way are left to `sbx prune`. The lock is released before any namespace
//! is made.

use super::cleanup;
use super::damaged::{self, Damaged};
use super::kernel::{Host, Kernel};
use crate::ipam::{self, Holder};
use crate::net::{Netlink, netns, veth};
use crate::network::{self, Attachment};
use crate::spec::SandboxSpec;
use crate::state::liveness::ProcessId;
use crate::state::records::Status;
use crate::state::{
    Entry, Leases, Link, NetworkRecord, SandboxRecord, SandboxState, StateRoot, Take,
};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What the reservation produced: the record as written, and the networks
/// to plug into (in the record's link order) with their neighbours for
/// /etc/hosts.
pub struct Reservation {
    /// The `creating` record.
    pub record: SandboxRecord,
    /// Each network, its bridge, and our prefix/gateway.
    pub networks: Vec<(NetworkRecord, Attachment)>,
    /// The other holders of each network's leases, for /etc/hosts.
    pub neighbours: Vec<Vec<(String, Ipv4Addr)>>,
    /// `sbx restart` took over an exited sandbox's folder (and its log):
    /// a failed launch gives it back as it was, exited, not removed.
    pub again: bool,
}

/// Reserves name and address for `spec` atomically with respect to every
/// other sbx using the same state root.
pub fn reserve(
    root: &StateRoot,
    nl: &Netlink,
    spec: &SandboxSpec,
    nonce: u64,
) -> Result<Reservation> {
    reserve_as(root, nl, spec, nonce, false)
}

/// [`reserve`] for `sbx restart`: an exited sandbox of the same name is
/// taken over (its folder, and so its log, stays) instead of refused.
pub fn reserve_again(
    root: &StateRoot,
    nl: &Netlink,
    spec: &SandboxSpec,
    nonce: u64,
) -> Result<Reservation> {
    reserve_as(root, nl, spec, nonce, true)
}

fn reserve_as(
    root: &StateRoot,
    nl: &Netlink,
    spec: &SandboxSpec,
    nonce: u64,
    again: bool,
) -> Result<Reservation> {
    // A restart takes over a folder that exists: exclusively, so that two
    // restarts of one sandbox cannot both pass the check.
    let mut exclusive = again;
    loop {
        let _lock = if exclusive {
            root.lock()?
        } else {
            root.lock_shared()?
        };
        match attempt(root, nl, spec, nonce, again, exclusive)? {
            Some(reservation) => return Ok(reservation),
            // Something must be swept, built or created first: again, with
            // the lock held exclusively (the shared one is dropped first).
            None => exclusive = true,
        }
    }
}

/// One pass of the reservation; `None` when it needs the exclusive lock
/// (a dead sandbox in the way, a network to create, an index to build).
fn attempt(
    root: &StateRoot,
    nl: &Netlink,
    spec: &SandboxSpec,
    nonce: u64,
    again: bool,
    exclusive: bool,
) -> Result<Option<Reservation>> {
    let again = match check_name(root, spec, again, exclusive)? {
        NameCheck::NeedExclusive => return Ok(None),
        NameCheck::Free => false,
        NameCheck::Again => true,
    };
    let netns_path = netns::path_for(&spec.name);
    if netns_path.exists() {
        bail!(
            "network namespace {} already exists (made outside this sbx state root): choose another --name",
            netns_path.display()
        );
    }
    // On each network: its record (the default one made if missing), its
    // lease index, an address.
    let mut taken: Vec<(NetworkRecord, Lease)> = Vec::new();
    let mut neighbours = Vec::new();
    for request in &spec.networks {
        let net = match root.network(&request.name)? {
            Some(record) => record,
            None if exclusive => find_or_create_network(root, nl, &request.name)?,
            None => return Ok(None),
        };
        let leases = root.leases(&net.name);
        if !leases.exists() {
            if !exclusive {
                return Ok(None);
            }
            build_index(root, nl, &net)?;
        }
        if request.ip6.is_some() && net.subnet6.is_none() {
            bail!(
                "network {} has no IPv6 (it was created without --subnet6): drop --ip6/ip6=, or use a dual-stack network",
                net.name
            );
        }
        let wanted = request.ip;
        let Some((ip, held)) = take_address(root, &leases, &net, wanted, spec, exclusive, again)?
        else {
            return Ok(None);
        };
        let mut lease = Lease {
            leases,
            ip,
            ip6: None,
            holder: &spec.name,
            armed: true,
        };
        if net.subnet6.is_some() {
            let taken6 = super::reserve6::take_address6(
                root,
                &lease.leases,
                &net,
                request.ip6,
                spec,
                exclusive,
                again,
            )?;
            let Some((ip6, _held6)) = taken6 else {
                return Ok(None);
            };
            lease.ip6 = Some(ip6);
        }
        neighbours.push(
            held.into_iter()
                .filter(|(held_ip, holder)| *held_ip != ip && *holder != spec.name && holder != "?")
                .map(|(held_ip, holder)| (holder, held_ip))
                .collect(),
        );
        taken.push((net, lease));
    }
    let (record, networks) = finish_reservation(root, nl, spec, nonce, again, &taken)?;
    for (_, lease) in &mut taken {
        lease.armed = false;
    }
    Ok(Some(Reservation {
        record,
        networks,
        neighbours,
        again,
    }))
}

/// A lease taken by this launch, given back if the launch fails before its
/// record names it.
struct Lease<'a> {
    leases: Leases,
    ip: Ipv4Addr,
    /// The IPv6 address taken on a dual-stack network.
    ip6: Option<Ipv6Addr>,
    holder: &'a str,
    /// Still to be given back on drop (cleared once the record names it).
    armed: bool,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.leases.release(self.ip, self.holder);
            if let Some(ip6) = self.ip6 {
                let _ = self.leases.release(ip6, self.holder);
            }
        }
    }
}

/// The steps after the addresses: the networks made ready, the name
/// claimed with `mkdir` (exclusive: the loser of a race learns it here),
/// the `creating` record written.
fn finish_reservation(
    root: &StateRoot,
    nl: &Netlink,
    spec: &SandboxSpec,
    nonce: u64,
    again: bool,
    taken: &[(NetworkRecord, Lease)],
) -> Result<(SandboxRecord, Vec<(NetworkRecord, Attachment)>)> {
    let mut attachments = Vec::with_capacity(taken.len());
    let mut links = Vec::with_capacity(taken.len());
    for (i, (net, lease)) in taken.iter().enumerate() {
        attachments.push((net.clone(), network::ensure_ready(nl, net)?));
        links.push(Link {
            network: net.name.clone(),
            ip: lease.ip,
            ip6: lease.ip6,
            veth: veth::host_name(&spec.name, nonce.wrapping_add(i as u64)),
            ifname: veth::sandbox_ifname(i),
        });
    }
    netns::ensure_dir()?;
    let mut record = SandboxRecord {
        spec: spec.clone(),
        links,
        created: crate::timefmt::now_unix(),
        state: SandboxState::Creating,
        owner: ProcessId::current(),
        init: None,
        netns: (spec.namespaces.own_network()).then(|| netns::path_for(&spec.name)),
        exit_code: None,
        cgroups: Vec::new(),
        nft_elements: true,
    };
    let dir = root.sandbox_dir(&spec.name);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && again => {
            root.clear_running(&spec.name)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "name {} is already in use by a sandbox: choose another --name",
            spec.name
        ),
        Err(e) => return Err(e).with_context(|| format!("create {}", dir.display())),
    }
    // Every sandbox: its cgroups hold its device allow list and its
    // limits. Made here so that the one record write names them before any
    // process is in them (a crash is swept with them).
    let leaf = format!("{}-{}", spec.name, std::process::id());
    let written = Host
        .create_cgroups(&leaf, &spec.limits)
        .and_then(|cgroups| {
            record.cgroups = cgroups;
            root.write_sandbox(&record)
        });
    if let Err(e) = written {
        // Nothing pinned yet; the lease goes with the caller's guard.
        record.netns = None;
        let _ = cleanup::undo_launch(&Host, root, record, None, again);
        return Err(e);
    }
    Ok((record, attachments))
}

/// What the state root says about the name a launch wants.
enum NameCheck {
    /// Nobody has it.
    Free,
    /// An exited sandbox of that name, which `sbx restart` takes over.
    Again,
    /// A dead sandbox (or a launch that died) must be swept first.
    NeedExclusive,
}

/// Checks the wanted name against the folder of that name, if any: only
/// that one record is read. A dead sandbox's leftovers are swept (with the
/// exclusive lock), a live or damaged one refuses the name.
fn check_name(
    root: &StateRoot,
    spec: &SandboxSpec,
    again: bool,
    exclusive: bool,
) -> Result<NameCheck> {
    let name = &spec.name;
    let damaged_refusal = |reason: &str| {
        anyhow::anyhow!(
            "name {name} is in use by a sandbox whose record cannot be read ({reason}): see 'sbx ps -a'; 'sbx rm -f {name}' removes it, or choose another --name"
        )
    };
    match root.sandbox_entry(name) {
        Entry::Absent => Ok(NameCheck::Free),
        Entry::Unreadable(u) if u.missing => {
            // Under the shared lock this may be a launch between its mkdir
            // and its record; under the exclusive one it is a dead launch,
            // unless the kernel still holds something of it.
            if !exclusive {
                return Ok(NameCheck::NeedExclusive);
            }
            let d = Damaged::probe(u);
            if d.in_kernel() {
                return Err(damaged_refusal(&d.reason));
            }
            damaged::remove_dead_launch(root, name)?;
            Ok(NameCheck::Free)
        }
        Entry::Unreadable(u) => Err(damaged_refusal(&u.reason)),
        Entry::Found(record) => {
            if record.status() != Status::Exited {
                bail!("name {name} is already in use by a sandbox: choose another --name");
            }
            if record.kept_after_exit() {
                if again {
                    if !exclusive {
                        return Ok(NameCheck::NeedExclusive);
                    }
                    sweep_one(root, record)?;
                    return Ok(NameCheck::Again);
                }
                bail!(
                    "name {name} is already in use by an exited sandbox: remove it with 'sbx rm {name}' or choose another --name"
                );
            }
            if !exclusive {
                return Ok(NameCheck::NeedExclusive);
            }
            sweep_one(root, record)?;
            match root.sandbox_entry(name) {
                Entry::Absent => Ok(NameCheck::Free),
                _ if again => Ok(NameCheck::Again),
                _ => bail!(
                    "name {name} is still held by an ended sandbox whose cleanup did not finish: see 'sbx prune', or choose another --name"
                ),
            }
        }
    }
}

/// How long a sweep waits for a dead sandbox's own sbx (still alive, so
/// cleaning up itself) before it cleans up in its place.
const OWNER_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Sweeps one ended sandbox (the exclusive lock held): its own sbx gets a
/// moment to finish first, then what is left is released (kernel objects,
/// lease) and its record removed or marked exited.
fn sweep_one(root: &StateRoot, record: SandboxRecord) -> Result<()> {
    if let Some(owner) = record.owner.filter(|o| o.is_alive()) {
        owner.wait_gone(OWNER_GRACE);
    }
    let Some(Err(dead)) = confirm_exited(root, record) else {
        return Ok(());
    };
    cleanup::sweep(&Host, root, dead)
}

/// Who holds a lease, as far as the state root can tell.
pub(super) enum Verdict {
    /// A live sandbox, one being launched, or one whose record cannot be
    /// read (never taken for dead).
    Held,
    /// Nobody: its holder is gone or now holds another address.
    Stale,
    /// An ended sandbox that nobody cleaned up yet.
    Dead(Box<SandboxRecord>),
}

/// Judges the lease of `ip` on `net` held by `holder`. Only meaningful
/// with the exclusive lock for `Stale` (no launch is between its lease and
/// its record then); `Held` is safe to act on under either lock.
pub(super) fn judge(
    root: &StateRoot,
    net: &NetworkRecord,
    ip: impl Into<IpAddr>,
    holder: &str,
    me: &str,
) -> Verdict {
    let ip = ip.into();
    if holder == "?" {
        return Verdict::Held;
    }
    if holder == me {
        // Our name is ours alone by now (or we are before our mkdir and
        // will learn otherwise there): a lease naming it is an earlier
        // life's.
        return Verdict::Stale;
    }
    match root.sandbox_entry(holder) {
        Entry::Absent => Verdict::Stale,
        Entry::Unreadable(_) => Verdict::Held,
        Entry::Found(record) => {
            let holds = record.link_on(&net.name).is_some_and(|l| match ip {
                IpAddr::V4(v4) => l.ip == v4,
                IpAddr::V6(v6) => l.ip6 == Some(v6),
            });
            if !holds {
                Verdict::Stale
            } else if record.status() == Status::Exited {
                Verdict::Dead(Box::new(record))
            } else {
                Verdict::Held
            }
        }
    }
}

/// Frees a lease that is not held (the exclusive lock held): a dead
/// holder is swept (which gives its lease back), a stale lease removed.
pub(super) fn reclaim<A: crate::state::leases::LeaseAddr>(
    root: &StateRoot,
    leases: &Leases,
    ip: A,
    holder: &str,
    verdict: Verdict,
) {
    let result = match verdict {
        Verdict::Held => Ok(()),
        Verdict::Stale => leases.release(ip, holder),
        Verdict::Dead(record) => sweep_one(root, *record),
    };
    if let Err(e) = result {
        crate::log::warn(&format!("{e:#}"));
    }
}

/// Takes the requested address, or the lowest free one, with one
/// `symlink` per try. Returns it with the other leases of the network (for
/// /etc/hosts), or `None` when a lease in the way must be reclaimed first
/// (which needs the exclusive lock).
pub(super) fn take_address(
    root: &StateRoot,
    leases: &Leases,
    net: &NetworkRecord,
    wanted: Option<Ipv4Addr>,
    spec: &SandboxSpec,
    exclusive: bool,
    again: bool,
) -> Result<Option<(Ipv4Addr, BTreeMap<Ipv4Addr, String>)>> {
    let mut held = leases.list()?;
    if let Some(wanted) = wanted {
        ipam::check_requested(
            &net.subnet,
            net.ip_range().as_ref(),
            net.gateway,
            &net.name,
            wanted,
            &[],
        )?;
        let mut reclaimed = false;
        loop {
            let holder = match leases.take(wanted, &spec.name)? {
                Take::Taken => return Ok(Some((wanted, held))),
                Take::Held(holder) => holder.unwrap_or_else(|| "?".into()),
            };
            match judge(root, net, wanted, &holder, &spec.name) {
                Verdict::Held => {}
                _ if !exclusive => return Ok(None),
                verdict if !reclaimed => {
                    reclaim(root, leases, wanted, &holder, verdict);
                    reclaimed = true;
                    continue;
                }
                _ => {}
            }
            if again {
                // A restart has no --ip to pick another: say it its way.
                let name = &spec.name;
                bail!(
                    "sandbox {name} cannot restart on its address {wanted}: sandbox {holder} took it after {name} exited; remove {holder}, or 'sbx rm {name}' and run it again with another address"
                );
            }
            let holders = [Holder {
                ip: wanted,
                name: &holder,
            }];
            ipam::check_requested(
                &net.subnet,
                net.ip_range().as_ref(),
                net.gateway,
                &net.name,
                wanted,
                &holders,
            )?;
        }
    }
    loop {
        let holders: Vec<Holder> = held
            .iter()
            .map(|(ip, name)| Holder { ip: *ip, name })
            .collect();
        let candidate = match ipam::lowest_free(
            &net.subnet,
            net.ip_range().as_ref(),
            net.gateway,
            &net.name,
            &holders,
        ) {
            Ok(ip) => ip,
            Err(full) => {
                // Every address has a lease: some may be a dead sandbox's.
                if !exclusive {
                    return Ok(None);
                }
                return match reclaim_lowest(root, leases, net, &held, &spec.name)? {
                    Some(ip) => Ok(Some((ip, leases.list()?))),
                    None => Err(full),
                };
            }
        };
        match leases.take(candidate, &spec.name)? {
            Take::Taken => return Ok(Some((candidate, held))),
            Take::Held(holder) => {
                held.insert(candidate, holder.unwrap_or_else(|| "?".into()));
            }
        }
    }
}

/// On a full network (the exclusive lock held): the lowest address whose
/// lease is not really held, reclaimed and taken.
fn reclaim_lowest(
    root: &StateRoot,
    leases: &Leases,
    net: &NetworkRecord,
    held: &BTreeMap<Ipv4Addr, String>,
    me: &str,
) -> Result<Option<Ipv4Addr>> {
    for (ip, holder) in held {
        let verdict = judge(root, net, *ip, holder, me);
        if matches!(verdict, Verdict::Held) {
            continue;
        }
        reclaim(root, leases, *ip, holder, verdict);
        if leases.take(*ip, me)? == Take::Taken {
            return Ok(Some(*ip));
        }
    }
    Ok(None)
}

/// Builds the lease index of a network written by an earlier sbx (the
/// exclusive lock held): every sandbox record on it that may still hold
/// its address (not yet cleaned up) gets its lease, and so does every
/// address found inside the namespace of a sandbox whose record cannot be
/// read. Read once per network, never again.
pub(super) fn build_index(root: &StateRoot, nl: &Netlink, net: &NetworkRecord) -> Result<()> {
    let (records, unreadable) = root.sandboxes()?;
    let mut leases = BTreeMap::new();
    let mut leases6 = BTreeMap::new();
    for record in records {
        let cleaned = record.state == SandboxState::Exited && record.netns.is_none();
        if let (Some(link), false) = (record.link_on(&net.name), cleaned) {
            leases.entry(link.ip).or_insert(record.spec.name.clone());
            if let Some(ip6) = link.ip6 {
                leases6.entry(ip6).or_insert(record.spec.name.clone());
            }
        }
    }
    let damaged: Vec<Damaged> = damaged::probe_all(unreadable);
    for (name, ip) in damaged_holders(nl, &damaged, &net.subnet)? {
        leases.entry(ip).or_insert(name);
    }
    crate::log::info(&format!(
        "network {}: built its lease index from the records ({} leases)",
        net.name,
        leases.len()
    ));
    root.leases(&net.name).build(&leases, &leases6)
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
    let fresh = root.sandbox(&record.spec.name).ok()??;
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
