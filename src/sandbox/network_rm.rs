//! `sbx network rm`: removing a network means dealing with the sandboxes
//! on it first (exited ones are swept, live ones refuse it, and so does one
//! whose record cannot be read but whose interfaces are on the network).
//! That needs the sandbox lifecycle, so it lives here, above `network`,
//! which only knows bridges, addresses and firewall chains.

use super::cleanup;
use crate::ipam::Subnet;
use crate::net::Netlink;
use crate::network;
use crate::state::records::Status;
use crate::state::{Entry, StateRoot, Unreadable};
use anyhow::{Result, bail};

/// Removes each named network, going on past failures like `docker network
/// rm`; any failure makes the whole command fail.
pub fn rm(root: &StateRoot, names: &[String]) -> Result<()> {
    let nl = Netlink::new()?;
    let _lock = root.lock()?;
    crate::batch::each(names, |name| rm_one(root, &nl, name))
}

fn rm_one(root: &StateRoot, nl: &Netlink, name: &str) -> Result<()> {
    let network = match root.network_entry(name) {
        Entry::Absent => bail!("network {name} not found: see 'sbx network ls'"),
        Entry::Unreadable(damaged) => return remove_damaged(root, nl, damaged),
        Entry::Found(network) => network,
    };
    let (records, unreadable) = root.sandboxes()?;
    refuse_if_attached(nl, name, &network.bridge, Some(&network.subnet), unreadable)?;
    let mut users = Vec::new();
    for record in records
        .iter()
        .filter(|r| r.network.as_deref() == Some(name))
    {
        if record.status() == Status::Exited {
            cleanup::sweep(root, record.clone())?;
        } else {
            users.push(record.name.clone());
        }
    }
    if !users.is_empty() {
        let (noun, them) = if users.len() == 1 {
            ("sandbox", "it")
        } else {
            ("sandboxes", "them")
        };
        bail!(
            "network {name} is in use by {noun} {}: stop {them} first",
            users.join(", ")
        );
    }
    network::remove(root, nl, &network)
}

/// `network rm` of a network whose record cannot be read: its exited
/// sandboxes are swept and live ones refuse it, as for any network; then
/// `network::damaged::remove` removes what it can tell is the network's,
/// asking first whether a sandbox with an unreadable record is attached.
fn remove_damaged(root: &StateRoot, nl: &Netlink, damaged: Unreadable) -> Result<()> {
    let name = damaged.name.clone();
    let (records, unreadable) = root.sandboxes()?;
    let mut users = Vec::new();
    for record in records
        .iter()
        .filter(|r| r.network.as_deref() == Some(name.as_str()))
    {
        if record.status() == Status::Exited {
            cleanup::sweep(root, record.clone())?;
        } else {
            users.push(record.name.clone());
        }
    }
    if !users.is_empty() {
        bail!(
            "network {name} is in use by sandbox {}: stop it first",
            users.join(", ")
        );
    }
    network::damaged::remove(root, nl, damaged, |bridge| {
        refuse_if_attached(nl, &name, bridge, None, unreadable)
    })
}

/// Refuses to remove a network (its bridge `bridge`, its `subnet` when
/// known) while a sandbox with an unreadable record is attached to it: one
/// of its addresses lies in the subnet, or one of its veths' peers is a port
/// of the bridge. If what it holds cannot be read, it may be attached, and
/// the network stays too.
fn refuse_if_attached(
    nl: &Netlink,
    network: &str,
    bridge: &str,
    subnet: Option<&Subnet>,
    unreadable: Vec<Unreadable>,
) -> Result<()> {
    let ports = network::damaged::port_indexes(bridge);
    for damaged in super::damaged::probe_all(unreadable) {
        if !damaged.in_kernel() {
            continue;
        }
        let name = &damaged.name;
        let attached = match super::damaged::footprint(nl, &damaged) {
            Ok(print) => {
                print
                    .addrs
                    .iter()
                    .any(|ip| subnet.is_some_and(|s| s.contains(*ip)))
                    || print.peers.iter().any(|p| ports.contains(p))
            }
            Err(e) => bail!(
                "network {network} may be in use by sandbox {name}, whose record cannot be read ({}) and whose interfaces cannot be listed ({e:#}): remove it with 'sbx rm -f {name}'",
                damaged.reason
            ),
        };
        if attached {
            bail!(
                "network {network} is in use by sandbox {name}, whose record cannot be read ({}): see 'sbx ps -a'; 'sbx rm -f {name}' removes it",
                damaged.reason
            );
        }
    }
    Ok(())
}
