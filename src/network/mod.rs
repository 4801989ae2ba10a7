//! sbx networks: a bridge with a gateway address, a subnet, and (unless
//! internal) NAT. Creating one is the only place bridges and NAT rules are
//! made; `sbx run` merely checks they are still there.

pub mod attach;
pub mod commands;
pub mod damaged;
pub mod v6;
pub mod vxlan;

use crate::firewall;
use crate::ipam::Subnet;
use crate::net::{Netlink, bridge, routes, sysctl};
use crate::state::{NetworkRecord, StateRoot};
use crate::undo::Undo;
use anyhow::{Result, bail};
use std::cell::RefCell;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The network `sbx run` joins when none is named.
pub const DEFAULT_NETWORK: &str = crate::model::DEFAULT_NETWORK;
/// Its subnet, as the SPEC fixes it.
pub const DEFAULT_SUBNET: &str = "10.11.0.0/16";

/// What `sbx network create` asks for; `None`s take defaults.
pub struct CreateRequest {
    /// Network name.
    pub name: String,
    /// Subnet; default: the first free 10.N.0.0/16.
    pub subnet: Option<Subnet>,
    /// Gateway; default: the subnet's first host.
    pub gateway: Option<Ipv4Addr>,
    /// `--subnet6`: makes the network dual-stack (SPEC "IPv6").
    pub subnet6: Option<crate::model::Subnet6>,
    /// `--gateway6`; default: the IPv6 subnet's first host. Only with
    /// `subnet6`.
    pub gateway6: Option<Ipv6Addr>,
    /// Bridge name; default: the network name.
    pub bridge: Option<String>,
    /// No NAT, no way out.
    pub internal: bool,
    /// Bridge and veth MTU.
    pub mtu: Option<u32>,
    /// Metadata kept in the record (`lab=NAME` for a lab's networks).
    pub labels: std::collections::BTreeMap<String, String>,
    /// `--driver vxlan`: the overlay's side (SPEC "Across hosts").
    pub vxlan: Option<vxlan::VxlanRequest>,
}

/// Creates a network: validates everything first, then bridge, gateway and
/// firewall, each undone if a later one fails. The caller holds the lock.
pub fn create(root: &StateRoot, nl: &Netlink, req: CreateRequest) -> Result<NetworkRecord> {
    crate::spec::check_name(&req.name)?;
    if req.name == crate::spec::NO_NETWORK {
        bail!("network name \"none\" is reserved (it means no network): choose another");
    }
    match root.network_entry(&req.name) {
        crate::state::Entry::Absent => {}
        crate::state::Entry::Found(_) => bail!(
            "network {} already exists: use it, or remove it first with 'sbx network rm {}'",
            req.name,
            req.name
        ),
        crate::state::Entry::Unreadable(u) => bail!(
            "network {} already exists but its record cannot be read ({}): remove it first with 'sbx network rm {}'",
            req.name,
            u.reason,
            req.name
        ),
    }
    let bridge_name = req.bridge.clone().unwrap_or_else(|| req.name.clone());
    check_ifname(&bridge_name)?;
    damaged::refuse_bridge_of_damaged(root, &bridge_name)?;
    let others = root.networks()?;
    if let Some(other) = others.iter().find(|n| n.bridge == bridge_name) {
        bail!(
            "bridge {bridge_name} is already used by network {}: pick another --bridge",
            other.name
        );
    }
    let existing = nl.block_on(bridge::find(nl.host(), &bridge_name))?;
    if existing.as_ref().is_some_and(|l| !l.is_bridge) {
        bail!("interface {bridge_name} exists and is not a bridge: pick another --bridge");
    }
    if req.vxlan.is_some() && existing.is_some() {
        bail!(
            "bridge {bridge_name} exists: a VXLAN network makes its own bridge (for the overlay MTU); pick another --bridge"
        );
    }
    let host_routes = nl.block_on(routes::host_routes(nl.host()))?;
    let adopted_index = existing.as_ref().map(|l| l.index);
    let foreign_route = |s: &Subnet| {
        host_routes
            .iter()
            .find(|r| r.subnet.overlaps(s) && (r.oif.is_none() || r.oif != adopted_index))
    };
    let subnet = match req.subnet {
        Some(subnet) => subnet,
        None => pick_free_subnet(&others, |s| foreign_route(s).is_some())?,
    };
    if let Some(other) = others.iter().find(|n| n.subnet.overlaps(&subnet)) {
        bail!(
            "subnet {subnet} overlaps network {} ({}): pick another --subnet",
            other.name,
            other.subnet
        );
    }
    if let Some(route) = foreign_route(&subnet) {
        bail!(
            "subnet {subnet} overlaps the host's route to {}: pick another --subnet",
            route.subnet
        );
    }
    let gateway = req.gateway.unwrap_or_else(|| subnet.first_host());
    if !subnet.contains(gateway) || gateway == subnet.network() || gateway == subnet.broadcast() {
        bail!("gateway {gateway} is not a host address of subnet {subnet}: pick one inside it");
    }
    let v6 = check_v6(nl, &req, &others, adopted_index, &subnet.to_string())?;
    let underlay = match &req.vxlan {
        Some(v) => Some((
            v,
            vxlan::prepare(nl, v, &subnet, req.gateway, &others, req.mtu)?,
        )),
        None => None,
    };
    let mtu = underlay.as_ref().map(|(_, u)| u.mtu).or(req.mtu);

    // What is made so far, written down as it is made: a failure undoes
    // it with the very teardown `network rm` uses.
    let made = RefCell::new(NetworkRecord {
        name: req.name,
        bridge: bridge_name,
        subnet,
        gateway,
        internal: req.internal,
        mtu,
        created: crate::timefmt::now_unix(),
        bridge_created: false,
        gateway_added: false,
        subnet6: v6.map(|(s, _)| s),
        gateway6: v6.map(|(_, g)| g),
        gateway6_added: false,
        labels: req.labels,
        vxlan: None,
    });
    // The rules are this network's only once it made them: an adopted
    // bridge may carry another state root's.
    let rules_made = std::cell::Cell::new(false);
    let mut undo = Undo::new();
    undo.push("tear the network down", || {
        release_objects(nl, &made.borrow(), rules_made.get())
    });
    let link = match existing {
        Some(link) => {
            nl.block_on(bridge::set_up(nl.host(), link.index))?;
            link
        }
        None => {
            let name = made.borrow().bridge.clone();
            let link = nl.block_on(bridge::create(nl.host(), &name, mtu))?;
            made.borrow_mut().bridge_created = true;
            link
        }
    };
    let gateway_added = nl.block_on(bridge::add_address(
        nl.host(),
        link.index,
        gateway,
        subnet.prefix(),
    ))?;
    made.borrow_mut().gateway_added = gateway_added;
    if let Some((subnet6, gateway6)) = v6 {
        let bridge_name = made.borrow().bridge.clone();
        bridge::enable_ipv6(&bridge_name)?;
        let added = nl.block_on(bridge::add_address6(
            nl.host(),
            link.index,
            gateway6,
            subnet6.prefix(),
        ))?;
        made.borrow_mut().gateway6_added = added;
    }
    if let Some((v, under)) = &underlay {
        let bridge_name = made.borrow().bridge.clone();
        vxlan::setup(nl, link.index, &bridge_name, v, under, |record| {
            made.borrow_mut().vxlan = Some(record)
        })?;
    }
    let record = made.borrow().clone();
    rules_made.set(true);
    ensure_firewall(&record)?;
    crate::crash::fail_point("network-record")?;
    root.write_network(&record)?;
    undo.commit();
    warn_about_forward_drops(&record);
    let how = if record.bridge_created {
        "created"
    } else {
        "adopted"
    };
    crate::log::info(&format!(
        "network {}: {how} bridge {}, subnet {}",
        record.name, record.bridge, record.subnet
    ));
    Ok(record)
}

/// The smallest MTU IPv6 runs on (RFC 8200 §5); the kernel turns IPv6 off
/// on an interface below it.
const MIN_MTU6: u32 = 1280;

/// The IPv6 side of `network create` checked before anything is made
/// (SPEC "IPv6", "Networks"): `--gateway6` only with `--subnet6`; the
/// subnet overlaps no other network's IPv6 subnet and no host IPv6 route
/// (link-local and multicast ones aside, see `routes::host_routes6`; a
/// route through the adopted bridge itself is its own); the gateway is a
/// host address inside it. `None` for an IPv4-only network.
fn check_v6(
    nl: &Netlink,
    req: &CreateRequest,
    others: &[NetworkRecord],
    adopted_index: Option<u32>,
    subnet: &str,
) -> Result<Option<(crate::model::Subnet6, Ipv6Addr)>> {
    let Some(subnet6) = req.subnet6 else {
        if let Some(g) = req.gateway6 {
            bail!("--gateway6 {g} needs --subnet6 CIDR: add the IPv6 subnet, or drop --gateway6");
        }
        return Ok(None);
    };
    if req.vxlan.is_some() {
        bail!(
            "--subnet6 is not supported on VXLAN networks yet: drop --subnet6, or use --driver bridge"
        );
    }
    if let Some(unusable) = subnet6.unusable_scope() {
        bail!(
            "--subnet6 {subnet6} is {unusable}, not a subnet for hosts: use a unique local (fd00::/8) or global one, e.g. fd42:1::/64"
        );
    }
    if let Some(mtu) = req.mtu.filter(|m| *m < MIN_MTU6) {
        bail!(
            "--mtu {mtu} is below IPv6's minimum of {MIN_MTU6} (RFC 8200 §5), so a dual-stack network cannot have it: raise --mtu or drop --subnet6"
        );
    }
    if let Some(other) = others
        .iter()
        .find(|n| n.subnet6.is_some_and(|s| s.overlaps(&subnet6)))
    {
        bail!(
            "IPv6 subnet {subnet6} overlaps network {} ({}): pick another --subnet6",
            other.name,
            other.subnet6.map(|s| s.to_string()).unwrap_or_default()
        );
    }
    let host_routes = nl.block_on(routes::host_routes6(nl.host()))?;
    if let Some(route) = host_routes
        .iter()
        .find(|r| r.subnet.overlaps(&subnet6) && (r.oif.is_none() || r.oif != adopted_index))
    {
        bail!(
            "IPv6 subnet {subnet6} overlaps the host's route to {}: pick another --subnet6",
            route.subnet
        );
    }
    let gateway6 = req.gateway6.unwrap_or_else(|| subnet6.first_host());
    if !subnet6.contains(gateway6) || gateway6 == subnet6.network() {
        bail!(
            "IPv6 gateway {gateway6} is not a host address of {subnet6}: pick one inside it (network {} has IPv4 subnet {subnet})",
            req.name
        );
    }
    Ok(Some((subnet6, gateway6)))
}

/// Tells the user, once per network, about another firewall that will drop
/// this network's forwarded traffic (the top complaint against Docker and
/// Podman networking): a warning, since sbx must not touch its rules.
fn warn_about_forward_drops(record: &NetworkRecord) {
    let Ok(chains) = firewall::foreign_forward_drops() else {
        return;
    };
    for chain in chains {
        crate::log::warn(&format!(
            "nf_tables chain {chain} drops forwarded packets by default: sandboxes on {} may not reach the outside (or each other, with bridge-nf-call-iptables=1); allow the bridge {} there (see the README's troubleshooting)",
            record.name, record.bridge
        ));
    }
}

/// The first 10.N.0.0/16 (N from 12) that overlaps neither another network
/// nor a host route: what `network create` without `--subnet` gets.
fn pick_free_subnet(
    others: &[NetworkRecord],
    host_has: impl Fn(&Subnet) -> bool,
) -> Result<Subnet> {
    (12..=254u8)
        .filter_map(|n| Subnet::new(Ipv4Addr::new(10, n, 0, 0), 16).ok())
        .find(|s| !others.iter().any(|o| o.subnet.overlaps(s)) && !host_has(s))
        .ok_or_else(|| anyhow::anyhow!("no free 10.N.0.0/16 subnet is left: pass --subnet"))
}

/// Interface names are at most 15 bytes and may not hold '/', ':' or spaces.
fn check_ifname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok {
        bail!(
            "bridge name {name:?} is not a valid interface name: at most 15 letters, digits, '_', '.', '-'; pass --bridge"
        );
    }
    Ok(())
}

fn rules(record: &NetworkRecord) -> firewall::NetworkRules<'_> {
    firewall::NetworkRules {
        bridge: &record.bridge,
        subnet: record.subnet.network(),
        prefix: record.subnet.prefix(),
        masquerade: !record.internal,
    }
}

fn ensure_firewall(record: &NetworkRecord) -> Result<()> {
    firewall::ensure_network(&rules(record))?;
    if !record.internal {
        sysctl::ensure(sysctl::IP_FORWARD, "1")?;
    }
    v6::ensure(record)
}

/// What `sbx run` checks of a network's firewall on every launch (SPEC
/// "Networks": it verifies the rules and forwarding and restores what was
/// lost, saying so): one dump of the network's own chain and one read of
/// `ip_forward`; writes only when something drifted, one warning each.
fn repair_firewall(record: &NetworkRecord) -> Result<()> {
    let started = std::time::Instant::now();
    let rules = rules(record);
    if !firewall::network_intact(&rules)? {
        firewall::ensure_network(&rules)?;
        crate::log::warn(&format!(
            "the firewall rules of network {} (nf_tables chain {}) were missing or changed: restored them",
            record.name,
            firewall::chain_of(&record.bridge, !record.internal)
        ));
    }
    if !record.internal && sysctl::ensure(sysctl::IP_FORWARD, "1")? {
        crate::log::warn(&format!(
            "net.ipv4.ip_forward was 0, so sandboxes of network {} could not reach the outside: turned it back on",
            record.name
        ));
    }
    if crate::log::debug_enabled() {
        crate::log::debug(&format!(
            "network {}: firewall and forwarding verified in {:?}",
            record.name,
            started.elapsed()
        ));
    }
    Ok(())
}

/// The default network's definition, created on first use.
pub fn default_request() -> Result<CreateRequest> {
    Ok(CreateRequest {
        name: DEFAULT_NETWORK.into(),
        subnet: Some(DEFAULT_SUBNET.parse()?),
        gateway: None,
        subnet6: None,
        gateway6: None,
        bridge: None,
        internal: false,
        mtu: None,
        labels: Default::default(),
        vxlan: None,
    })
}

/// What a launch needs to plug into a network's bridge.
pub struct Attachment {
    /// Bridge interface index.
    pub bridge_index: u32,
    /// The bridge's MTU, copied to the veth.
    pub mtu: u32,
}

/// Checks, on every `sbx run`, that the network's bridge, gateway, firewall
/// rules and forwarding are still in the kernel, and repairs them if someone
/// removed them (one link lookup, one dump of the network's chain and one
/// sysctl read when all is well).
pub fn ensure_ready(nl: &Netlink, record: &NetworkRecord) -> Result<Attachment> {
    let link = match nl.block_on(bridge::find(nl.host(), &record.bridge))? {
        Some(link) if link.is_bridge => link,
        Some(_) => bail!(
            "interface {} of network {} is no longer a bridge: remove the network and create it again",
            record.bridge,
            record.name
        ),
        None if record.bridge_created => {
            let link = nl.block_on(bridge::create(nl.host(), &record.bridge, record.mtu))?;
            nl.block_on(bridge::add_address(
                nl.host(),
                link.index,
                record.gateway,
                record.subnet.prefix(),
            ))?;
            if let (Some(subnet6), Some(gateway6)) = (record.subnet6, record.gateway6) {
                bridge::enable_ipv6(&record.bridge)?;
                nl.block_on(bridge::add_address6(
                    nl.host(),
                    link.index,
                    gateway6,
                    subnet6.prefix(),
                ))?;
            }
            link
        }
        None => bail!(
            "bridge {} of network {} is gone: create it again or remove the network",
            record.bridge,
            record.name
        ),
    };
    vxlan::ensure(nl, record, link.index, record.mtu.unwrap_or(link.mtu))?;
    repair_firewall(record)?;
    v6::repair(nl, record, link.index)?;
    Ok(Attachment {
        bridge_index: link.index,
        mtu: link.mtu,
    })
}

/// Removes a network: firewall rules first, then what sbx added to the
/// bridge, then the bridge if sbx made it, then the record. Every step runs
/// even when an earlier one failed, and every failure is reported; the
/// record stays until the kernel objects are gone (a failed lookup counts
/// as not gone), so a second `network rm` retries. An interface of the
/// bridge's name that is no longer a bridge is someone else's: left in
/// place, with a warning. The caller holds the lock and has checked that no
/// sandbox uses the network.
pub fn remove(root: &StateRoot, nl: &Netlink, record: &NetworkRecord) -> Result<()> {
    let mut errors = match release_objects(nl, record, true) {
        Ok(()) => Vec::new(),
        Err(e) => vec![format!("{e:#}")],
    };
    if errors.is_empty()
        && let Err(e) = root.remove_network(&record.name)
    {
        errors.push(format!("{e:#}"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        bail!(
            "removing network {}: {}; its record is kept, so 'sbx network rm {}' tries again",
            record.name,
            errors.join("; "),
            record.name
        )
    }
}

/// The network's kernel objects torn down (the record's flags say what sbx
/// made): its firewall rules (with `rules`), then the gateway address sbx
/// added or the bridge sbx created. Every step runs; the failures come back
/// together. Used by `network rm` and by a `network create` that failed
/// part-way.
fn release_objects(nl: &Netlink, record: &NetworkRecord, rules: bool) -> Result<()> {
    let mut errors = Vec::new();
    if rules && let Err(e) = firewall::remove_network(&record.bridge) {
        errors.push(format!("{e:#}"));
    }
    if rules
        && record.subnet6.is_some()
        && let Err(e) = v6::release_forwarding()
    {
        errors.push(format!("{e:#}"));
    }
    if let Some(v) = &record.vxlan
        && let Err(e) = vxlan::teardown(nl, v)
    {
        errors.push(format!("{e:#}"));
    }
    match nl.block_on(bridge::find(nl.host(), &record.bridge)) {
        Err(e) => errors.push(format!("{e:#}")),
        Ok(None) => {}
        Ok(Some(link)) if !link.is_bridge => crate::log::warn(&format!(
            "interface {} of network {} is no longer a bridge: left in place",
            record.bridge, record.name
        )),
        Ok(Some(link)) => {
            let result = if record.bridge_created {
                nl.block_on(bridge::delete(nl.host(), &record.bridge, link.index))
            } else {
                let mut result = Ok(());
                if record.gateway_added {
                    result = nl.block_on(bridge::remove_address(
                        nl.host(),
                        link.index,
                        record.gateway,
                        record.subnet.prefix(),
                    ));
                }
                if let (true, Some(subnet6), Some(gateway6)) =
                    (record.gateway6_added, record.subnet6, record.gateway6)
                {
                    let removed = nl.block_on(bridge::remove_address(
                        nl.host(),
                        link.index,
                        gateway6,
                        subnet6.prefix(),
                    ));
                    result = result.and(removed);
                }
                result
            };
            if let Err(e) = result {
                errors.push(format!("{e:#}"));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        bail!("{}", errors.join("; "))
    }
}
