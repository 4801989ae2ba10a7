//! The IPv6 side of a dual-stack network's firewall (SPEC "IPv6"): its
//! chain, isolation elements and port maps in sbx's `ip6` table (see
//! `firewall::ip6`), IPv6 forwarding while it has NAT (see
//! `net::forwarding6`), and the bridge's refusal of router advertisements.
//! Nothing for an IPv4-only network: no `ip6` table is made for it.

use crate::firewall::ip6::{self, NetworkRules6};
use crate::net::{Netlink, forwarding6, loopback6};
use crate::state::NetworkRecord;
use anyhow::Result;

/// The network's `ip6` rules, if it is dual-stack.
fn rules(record: &NetworkRecord) -> Option<NetworkRules6<'_>> {
    Some(NetworkRules6 {
        bridge: &record.bridge,
        subnet: record.subnet6?,
        masquerade: !record.internal,
    })
}

/// Makes (idempotently) the network's IPv6 rules and, with NAT, turns
/// IPv6 forwarding on: what `network create` does after the IPv4 rules.
pub fn ensure(record: &NetworkRecord) -> Result<()> {
    let Some(rules) = rules(record) else {
        return Ok(());
    };
    forwarding6::refuse_router_advertisements(&record.bridge)?;
    ip6::ensure_network(&rules)?;
    if !record.internal {
        turn_on_forwarding(record)?;
    }
    Ok(())
}

/// Turns IPv6 forwarding on if it is off, recording that sbx did (the
/// mark first: a crash between leaves a mark for forwarding that is off,
/// which the last network's removal writes off once more, harmlessly).
/// Returns whether it was off.
fn turn_on_forwarding(record: &NetworkRecord) -> Result<bool> {
    if forwarding6::is_on()? {
        return Ok(false);
    }
    ip6::mark_forwarding()?;
    forwarding6::turn_on(&[&record.bridge])
}

/// What `sbx run` checks of the IPv6 side on every launch (SPEC
/// "Networks": it verifies the rules and forwarding and restores what was
/// lost, saying so): one dump of the network's `ip6` chain and one read
/// of `all.forwarding`; writes only what drifted, one warning each. Also
/// keeps the bridge's route for `::1` (see `net::loopback6`).
pub fn repair(nl: &Netlink, record: &NetworkRecord, bridge_index: u32) -> Result<()> {
    let Some(rules) = rules(record) else {
        return Ok(());
    };
    if !ip6::network_intact(&rules)? {
        forwarding6::refuse_router_advertisements(&record.bridge)?;
        ip6::ensure_network(&rules)?;
        crate::log::warn(&format!(
            "the IPv6 firewall rules of network {} (nf_tables chain {}) were missing or changed: restored them",
            record.name,
            ip6::chain_of(&record.bridge, !record.internal)
        ));
    }
    if !record.internal {
        if turn_on_forwarding(record)? {
            crate::log::warn(&format!(
                "net.ipv6.conf.all.forwarding was 0, so sandboxes of network {} could not reach the outside over IPv6: turned it back on",
                record.name
            ));
        }
        nl.block_on(loopback6::ensure(nl.host(), bridge_index))?;
    }
    Ok(())
}

/// After a network's rules are gone (`firewall::remove_network`, which
/// takes its `ip6` chain): turns IPv6 forwarding off again if sbx had
/// turned it on and no NAT network of any state root is left, then drops
/// the mark (and the `ip6` table if that was all that was left).
pub fn release_forwarding() -> Result<()> {
    if ip6::forwarding_unneeded()? {
        forwarding6::turn_off()?;
        ip6::unmark_forwarding()?;
    }
    Ok(())
}
