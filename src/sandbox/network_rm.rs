//! `sbx network rm`: removing a network means dealing with the sandboxes
//! on it first (exited ones are swept, live ones refuse it, and so does one
//! whose record cannot be read but whose interfaces are on the network).
//! That needs the sandbox lifecycle, so it lives here, above `network`,
//! which only knows bridges, addresses and firewall chains.

use super::cleanup;
use super::kernel::Host;
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

/// Removes one network as `network rm` does, printing nothing: for faces
/// that report in their own words (`sbx lab down`).
pub fn rm_quietly(root: &StateRoot, name: &str) -> Result<()> {
    let nl = Netlink::new()?;
    let _lock = root.lock()?;
    rm_one(root, &nl, name)
}

fn rm_one(root: &StateRoot, nl: &Netlink, name: &str) -> Result<()> {
    let network = match root.network_entry(name) {
        Entry::Absent => bail!("network {name} not found: see 'sbx network ls'"),
        Entry::Unreadable(damaged) => return remove_damaged(root, nl, damaged),
        Entry::Found(network) => network,
    };
    let (records, unreadable) = root.sandboxes()?;
    let damaged =
        attached_unreadable(nl, name, &network.bridge, Some(&network.subnet), unreadable)?;
    let users = live_users(root, &records, name)?;
    if !users.is_empty() || !damaged.is_empty() {
        bail!("{}", in_use(name, &users, &damaged));
    }
    network::remove(root, nl, &network)
}

/// The live sandboxes on network `name`, by name; its exited ones are
/// swept on the way.
fn live_users(
    root: &StateRoot,
    records: &[crate::state::SandboxRecord],
    name: &str,
) -> Result<Vec<String>> {
    let mut users = Vec::new();
    for record in records.iter().filter(|r| r.link_on(name).is_some()) {
        if record.status() == Status::Exited {
            cleanup::sweep(&Host, root, record.clone())?;
        } else {
            users.push(record.spec.name.clone());
        }
    }
    Ok(users)
}

/// Why network `network` stays: every sandbox on it named, the healthy
/// `users` and the `damaged` ones (name, why its record cannot be read),
/// with what to do about each kind.
fn in_use(network: &str, users: &[String], damaged: &[(String, String)]) -> String {
    let all: Vec<&str> = users
        .iter()
        .map(String::as_str)
        .chain(damaged.iter().map(|(n, _)| n.as_str()))
        .collect();
    let noun = if all.len() == 1 {
        "sandbox"
    } else {
        "sandboxes"
    };
    let mut text = format!("network {network} is in use by {noun} {}", all.join(", "));
    for (name, reason) in damaged {
        text.push_str(&format!(
            "; {name}'s record cannot be read ({reason}): see 'sbx ps -a'; 'sbx rm -f {name}' removes it"
        ));
    }
    match users.len() {
        0 => {}
        1 if damaged.is_empty() => text.push_str(&format!(
            ": stop it first, or take it off with 'sbx network disconnect {network} {}'",
            users[0]
        )),
        _ if damaged.is_empty() => {
            text.push_str(": stop them first, or take each off with 'sbx network disconnect'")
        }
        _ => text.push_str(&format!("; stop {} first", users.join(", "))),
    }
    text
}

/// `network rm` of a network whose record cannot be read: its exited
/// sandboxes are swept and live ones refuse it, as for any network; then
/// `network::damaged::remove` removes what it can tell is the network's,
/// asking first whether a sandbox with an unreadable record is attached.
fn remove_damaged(root: &StateRoot, nl: &Netlink, damaged: Unreadable) -> Result<()> {
    let name = damaged.name.clone();
    let (records, unreadable) = root.sandboxes()?;
    let users = live_users(root, &records, &name)?;
    // The bridge (and so who else is on it) may not be known: live users
    // refuse it first, whatever happens to the bridge.
    if !users.is_empty() {
        bail!("{}", in_use(&name, &users, &[]));
    }
    network::damaged::remove(root, nl, damaged, |bridge| {
        let damaged = attached_unreadable(nl, &name, bridge, None, unreadable)?;
        if !damaged.is_empty() {
            bail!("{}", in_use(&name, &[], &damaged));
        }
        Ok(())
    })
}

/// The sandboxes with an unreadable record attached to a network (its
/// bridge `bridge`, its `subnet` when known): one of their addresses lies
/// in the subnet, or one of their veths' peers is a port of the bridge;
/// each with why its record cannot be read. If what one holds cannot be
/// read, it may be attached, and the network stays too (an error).
fn attached_unreadable(
    nl: &Netlink,
    network: &str,
    bridge: &str,
    subnet: Option<&Subnet>,
    unreadable: Vec<Unreadable>,
) -> Result<Vec<(String, String)>> {
    let ports = network::damaged::port_indexes(bridge);
    let mut attached_ones = Vec::new();
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
            attached_ones.push((name.clone(), damaged.reason.clone()));
        }
    }
    Ok(attached_ones)
}

#[cfg(test)]
mod tests {
    use super::in_use;

    #[test]
    fn every_user_is_named_healthy_and_damaged() {
        let users = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            in_use("n", &users(&["a"]), &[]),
            "network n is in use by sandbox a: stop it first, or take it off with 'sbx network disconnect n a'"
        );
        assert_eq!(
            in_use("n", &users(&["a", "b"]), &[]),
            "network n is in use by sandboxes a, b: stop them first, or take each off with 'sbx network disconnect'"
        );
        let bad = [("d".to_string(), "sandbox.json is damaged".to_string())];
        assert_eq!(
            in_use("n", &[], &bad),
            "network n is in use by sandbox d; d's record cannot be read (sandbox.json is damaged): see 'sbx ps -a'; 'sbx rm -f d' removes it"
        );
        let text = in_use("n", &users(&["a", "b"]), &bad);
        assert!(
            text.starts_with("network n is in use by sandboxes a, b, d; "),
            "{text}"
        );
        assert!(text.ends_with("; stop a, b first"), "{text}");
    }
}
