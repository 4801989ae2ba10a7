//! The IPv6 half of a launch's address reservation on a dual-stack network
//! (SPEC "IPv6"): the same lease index and the same arbitration as IPv4's
//! (see `reserve` and `state::leases`: one `link(2)` per try decides, so no
//! address is ever handed out twice, even to launches started at the same
//! moment), with IPv6's rules from `ipam::v6`.

use super::reserve::{Verdict, judge, reclaim};
use crate::ipam::v6::{self, Holder6};
use crate::spec::SandboxSpec;
use crate::state::{Leases, NetworkRecord, StateRoot, Take};
use anyhow::{Result, bail};
use std::collections::BTreeMap;
use std::net::Ipv6Addr;

/// The IPv6 leases of a network: address -> holder.
pub type Held6 = BTreeMap<Ipv6Addr, String>;

/// Takes the requested IPv6 address, or the lowest free one, on the
/// dual-stack network `net`. Returns it with the network's other IPv6
/// leases (for /etc/hosts), or `None` when a lease in the way must be
/// reclaimed first (which needs the exclusive lock). A network without
/// IPv6 is refused (the caller checks first; this only guards).
pub(super) fn take_address6(
    root: &StateRoot,
    leases: &Leases,
    net: &NetworkRecord,
    wanted: Option<Ipv6Addr>,
    spec: &SandboxSpec,
    exclusive: bool,
    again: bool,
) -> Result<Option<(Ipv6Addr, Held6)>> {
    let (Some(subnet6), Some(gateway6)) = (net.subnet6, net.gateway6) else {
        bail!(
            "network {} has no IPv6 (it was created without --subnet6): drop --ip6/ip6=, or use a dual-stack network",
            net.name
        );
    };
    let mut held = leases.list6()?;
    if let Some(wanted) = wanted {
        v6::check_requested6(&subnet6, gateway6, &net.name, wanted, &[])?;
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
                let name = &spec.name;
                bail!(
                    "sandbox {name} cannot restart on its IPv6 address {wanted}: sandbox {holder} took it after {name} exited; remove {holder}, or 'sbx rm {name}' and run it again with another address"
                );
            }
            let holders = [Holder6 {
                ip: wanted,
                name: &holder,
            }];
            v6::check_requested6(&subnet6, gateway6, &net.name, wanted, &holders)?;
        }
    }
    loop {
        let holders: Vec<Holder6> = held
            .iter()
            .map(|(ip, name)| Holder6 { ip: *ip, name })
            .collect();
        let candidate = match v6::lowest_free6(&subnet6, gateway6, &net.name, &holders) {
            Ok(ip) => ip,
            Err(full) => {
                // Every address has a lease: some may be a dead sandbox's.
                if !exclusive {
                    return Ok(None);
                }
                return match reclaim_lowest6(root, leases, net, &held, &spec.name)? {
                    Some(ip) => Ok(Some((ip, leases.list6()?))),
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

/// On a network with no IPv6 address left (the exclusive lock held): the
/// lowest one whose lease is not really held, reclaimed and taken.
fn reclaim_lowest6(
    root: &StateRoot,
    leases: &Leases,
    net: &NetworkRecord,
    held: &Held6,
    me: &str,
) -> Result<Option<Ipv6Addr>> {
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
