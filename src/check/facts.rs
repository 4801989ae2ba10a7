//! Gathering what the diagnosis rules look at, for failed probes only (a
//! healthy check reads nothing more than its probes need): links,
//! addresses, root qdiscs and route lookups in each namespace of the path
//! over its rtnetlink socket, sysctls, and the nf_tables ruleset (other
//! tables' forward hooks, sbx's anti-spoofing and partition sets), for
//! the family of the failed probe.

use super::Family;
use super::diagnose::{Iface, PathFacts, Route, Side};
use super::engine::{self, Namespace};
use super::plan::{Member, Place, Probe, Target, gateway_ip};
use super::rtnl::RouteLookup;
use crate::firewall::observe::{self, ForwardDrop, Partitions, Spoofing};
use crate::state::{Link, NetworkRecord, StateRoot};
use std::collections::HashMap;
use std::net::IpAddr;

/// What a namespace holds besides its links, read on first need (IPv6
/// addresses only when an IPv6 probe failed).
#[derive(Default)]
struct Extra {
    addrs: HashMap<Family, HashMap<u32, Vec<IpAddr>>>,
    qdiscs: HashMap<u32, String>,
}

/// The host-wide facts, read once.
struct HostWide {
    drops: Vec<ForwardDrop>,
    spoofing: Spoofing,
    partitions: Partitions,
    br_nf_call_iptables: bool,
    br_nf_call_ip6tables: bool,
    ip_forward: bool,
    ipv6_forwarding: bool,
    default_qdisc: String,
    bridge_chains: std::collections::HashSet<String>,
}

/// Reads facts for failed probes, each thing once.
pub struct Gatherer<'a> {
    root: &'a StateRoot,
    networks: &'a [NetworkRecord],
    members: &'a [Member],
    spaces: &'a mut HashMap<Place, Namespace>,
    extra: HashMap<Place, Extra>,
    host: Option<HostWide>,
}

fn sysctl(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|v| v.trim().to_string())
}

fn report<T: Default>(what: &str, result: anyhow::Result<T>) -> T {
    result.unwrap_or_else(|e| {
        crate::log::warn(&format!("the check could not read {what}: {e:#}"));
        T::default()
    })
}

impl<'a> Gatherer<'a> {
    /// A gatherer over the check's networks, members and sockets.
    pub fn new(
        root: &'a StateRoot,
        networks: &'a [NetworkRecord],
        members: &'a [Member],
        spaces: &'a mut HashMap<Place, Namespace>,
    ) -> Self {
        Gatherer {
            root,
            networks,
            members,
            spaces,
            extra: HashMap::new(),
            host: None,
        }
    }

    fn host_wide(&mut self) -> &HostWide {
        self.host.get_or_insert_with(|| HostWide {
            drops: report("the nf_tables chains", observe::forward_drops()),
            spoofing: report("the anti-spoofing sets", observe::spoofing()),
            partitions: report("the partition sets", observe::partitions()),
            br_nf_call_iptables: sysctl("/proc/sys/net/bridge/bridge-nf-call-iptables")
                .is_some_and(|v| v == "1"),
            br_nf_call_ip6tables: sysctl("/proc/sys/net/bridge/bridge-nf-call-ip6tables")
                .is_some_and(|v| v == "1"),
            ip_forward: sysctl("/proc/sys/net/ipv4/ip_forward").is_some_and(|v| v == "1"),
            ipv6_forwarding: sysctl("/proc/sys/net/ipv6/conf/all/forwarding")
                .is_some_and(|v| v == "1"),
            default_qdisc: sysctl("/proc/sys/net/core/default_qdisc").unwrap_or_default(),
            bridge_chains: report("sbx's bridge table", observe::bridge_chains()),
        })
    }

    fn extra(&mut self, place: Place, family: Family) -> &Extra {
        let spaces = &mut *self.spaces;
        let extra = self.extra.entry(place).or_insert_with(|| {
            let mut extra = Extra::default();
            if let Some(space) = spaces.get_mut(&place) {
                extra.qdiscs = report("qdiscs", space.rtnl.root_qdiscs())
                    .into_iter()
                    .collect();
            }
            extra
        });
        if let std::collections::hash_map::Entry::Vacant(slot) = extra.addrs.entry(family) {
            let mut addrs: HashMap<u32, Vec<IpAddr>> = HashMap::new();
            if let Some(space) = spaces.get_mut(&place) {
                for (index, ip, _) in report("addresses", space.rtnl.addresses(family)) {
                    if !is_link_local(ip) {
                        addrs.entry(index).or_default().push(ip);
                    }
                }
            }
            slot.insert(addrs);
        }
        extra
    }

    /// An interface of `place` by name, with its addresses of `family`,
    /// qdisc, rp_filter (IPv4's: IPv6 has none).
    fn iface(&mut self, place: Place, name: &str, family: Family) -> Option<Iface> {
        let default_qdisc = self.host_wide().default_qdisc.clone();
        let space = self.spaces.get(&place)?;
        let link = space.link(name)?.clone();
        let rp_filter = match family {
            Family::Ipv4 => space.rp_filter.get(name).copied().unwrap_or(0),
            Family::Ipv6 => 0,
        };
        let master = link.master.and_then(|m| {
            space
                .links
                .iter()
                .find(|l| l.index == m)
                .map(|l| l.name.clone())
        });
        let extra = self.extra(place, family);
        let addrs = (extra.addrs.get(&family))
            .and_then(|a| a.get(&link.index))
            .cloned()
            .unwrap_or_default();
        let qdisc = extra.qdiscs.get(&link.index).cloned().filter(|kind| {
            !["noqueue", "pfifo_fast", "none", default_qdisc.as_str()].contains(&kind.as_str())
        });
        Some(Iface {
            name: link.name,
            up: link.up,
            mtu: link.mtu,
            mac: link.mac,
            addrs,
            master,
            qdisc,
            rp_filter,
        })
    }

    fn route(&mut self, place: Place, dst: IpAddr) -> Option<Route> {
        let space = self.spaces.get_mut(&place)?;
        let lookup = match space.rtnl.route_to(dst) {
            Ok(l) => l,
            Err(e) => return Some(Route::Missing(format!("{e:#}"))),
        };
        Some(match lookup {
            RouteLookup::Local => Route::Local,
            RouteLookup::Unreachable(errno) => Route::Missing(super::strerror(errno)),
            RouteLookup::Via { oif, gateway } => Route::Via {
                ifname: space
                    .links
                    .iter()
                    .find(|l| l.index == oif)
                    .map(|l| l.name.clone())
                    .unwrap_or_else(|| format!("interface {oif}")),
                gateway,
            },
        })
    }

    /// One side of a path over `family`: a sandbox (on network `net`, or
    /// its first with an address of the family), or the host / a gateway
    /// on network `net`.
    fn side(&mut self, place: Place, label: &str, net: Option<usize>, family: Family) -> Side {
        let mut side = Side {
            label: label.to_string(),
            ..Side::default()
        };
        match place {
            Place::Sandbox(m) => {
                let member = &self.members[m];
                let link = match net {
                    Some(n) => member
                        .links
                        .iter()
                        .find(|l| l.network == self.networks[n].name),
                    None => member.links.iter().find(|l| ip_of(l, family).is_some()),
                };
                let Some(link) = link.cloned() else {
                    return side;
                };
                let Some(ip) = ip_of(&link, family) else {
                    return side;
                };
                side.sandbox = true;
                side.ip = ip;
                side.gateway = (self.networks.iter())
                    .find(|n| n.name == link.network)
                    .and_then(|n| gateway_ip(n, family));
                let mac = crate::net::veth::sandbox_mac(link.ip);
                side.mac = mac.to_vec();
                side.iface = self.iface(place, &link.ifname, family);
                side.ifname = link.ifname.clone();
                side.veth = self.iface(Place::Host, &link.veth, family);
                side.veth_name = link.veth.clone();
                let trusted = member.trusted;
                let spoofing = &self.host_wide().spoofing;
                side.unguarded = trusted || !spoofing.guarded.contains(&link.veth);
                side.allowed = match family {
                    Family::Ipv4 => (spoofing.allowed.get(&link.veth))
                        .map(|pairs| pairs.iter().map(|(m, ip)| (*m, (*ip).into())).collect())
                        .unwrap_or_default(),
                    // What a guarded port may send from over IPv6 is the
                    // address sbx gave it (issue 15; SPEC "Trust"), with
                    // its MAC: taken from the record, as the filter is
                    // built from it.
                    Family::Ipv6 => vec![(mac, ip)],
                };
                let chains = &self.host_wide().bridge_chains;
                let loss: Vec<String> = ["in", "out"]
                    .iter()
                    .map(|way| format!("loss-{way}-{}", link.veth))
                    .filter(|chain| chains.contains(chain))
                    .collect();
                if !loss.is_empty() {
                    side.impaired
                        .push(format!("nf_tables loss chains {}", loss.join(", ")));
                }
                let name = self.members[m].name.clone();
                side.impair_asked = asked(self.root, &name, &link.ifname);
            }
            Place::Host => {
                if let Some(n) = net
                    && let Some(ip) = gateway_ip(&self.networks[n], family)
                {
                    let bridge = self.networks[n].bridge.clone();
                    side.ip = ip;
                    side.iface = self.iface(Place::Host, &bridge, family);
                    side.ifname = bridge;
                }
            }
        }
        side
    }

    /// The facts of one failed probe.
    pub fn path(
        &mut self,
        probe: &Probe,
        outcome: &engine::Outcome,
        size: Option<usize>,
    ) -> PathFacts {
        let family = probe.family();
        let from = self.side(probe.from, &probe.from_label, probe.network, family);
        let to_place = match probe.to {
            Target::Sandbox(m) => Place::Sandbox(m),
            Target::Host | Target::Gateway(_) => Place::Host,
        };
        let mut to = self.side(to_place, &probe.to_label, probe.network, family);
        if let Target::Gateway(n) = probe.to {
            // A gateway of another network than the path's (an expectation).
            to.ip = probe.dst;
            debug_assert_eq!(Some(probe.dst), gateway_ip(&self.networks[n], family));
        }
        let mut from = from;
        from.route = self.route(probe.from, probe.dst);
        if to_place != probe.from {
            to.route = self.route(to_place, from.ip);
        }
        let (bridge, bridge_name) = match probe.network {
            Some(n) => {
                let name = self.networks[n].bridge.clone();
                (self.iface(Place::Host, &name, family), name)
            }
            None => (None, String::new()),
        };
        let bridged = from.sandbox && to.sandbox && probe.network.is_some();
        let routed = probe.network.is_none()
            || matches!(
                from.route,
                Some(Route::Via {
                    gateway: Some(_),
                    ..
                })
            );
        let host = self.host_wide();
        let ports = &host.partitions.ports;
        let addresses = &host.partitions.addresses;
        // The port pairs hold every frame, IPv6 too; the address pairs
        // are IPv4's only (table `ip sbx`).
        let pair = match (from.ip, to.ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => Some((a, b)),
            _ => None,
        };
        let partitioned = ports.contains(&(from.veth_name.clone(), to.veth_name.clone()))
            || ports.contains(&(to.veth_name.clone(), from.veth_name.clone()))
            || pair
                .is_some_and(|(a, b)| addresses.contains(&(a, b)) || addresses.contains(&(b, a)));
        let (br_nf_call, forwarding) = match family {
            Family::Ipv4 => (host.br_nf_call_iptables, host.ip_forward),
            Family::Ipv6 => (host.br_nf_call_ip6tables, host.ipv6_forwarding),
        };
        PathFacts {
            kind: probe.kind,
            family,
            bridge,
            bridge_name,
            bridged,
            routed,
            partitioned,
            forward_drops: host.drops.clone(),
            br_nf_call,
            forwarding,
            size: size.map(|s| s + super::headers(family)),
            send_error: outcome.send_error.clone(),
            icmp_error: outcome.icmp_error.clone(),
            waited: format!("{} s", engine::GIVE_UP.as_secs()),
            from,
            to,
        }
    }
}

/// The address of `link` in `family`.
fn ip_of(link: &Link, family: Family) -> Option<IpAddr> {
    match family {
        Family::Ipv4 => Some(IpAddr::V4(link.ip)),
        Family::Ipv6 => link.ip6.map(IpAddr::V6),
    }
}

/// IPv6 link-local (fe80::/10): every IPv6 interface has one, the kernel
/// makes it, and no probe is sent from or to it.
fn is_link_local(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

/// What `sbx impair set` recorded for `ifname` of sandbox `name`
/// (`impair.json` in its folder: per interface `delay_us`, `jitter_us`,
/// `loss_percent`, `rate_bit`, `corrupt_percent`, `duplicate_percent`).
fn asked(root: &StateRoot, name: &str, ifname: &str) -> Option<String> {
    let bytes = std::fs::read(root.sandbox_dir(name).join("impair.json")).ok()?;
    let all: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    describe(all.get(ifname)?)
}

/// One interface's recorded impairments in `sbx impair`'s words.
fn describe(value: &serde_json::Value) -> Option<String> {
    let duration = |us: u64| {
        if us.is_multiple_of(1000) {
            format!("{}ms", us / 1000)
        } else {
            format!("{us}us")
        }
    };
    let rate = |bit: u64| match bit {
        b if b.is_multiple_of(1_000_000_000) => format!("{}gbit", b / 1_000_000_000),
        b if b.is_multiple_of(1_000_000) => format!("{}mbit", b / 1_000_000),
        b if b.is_multiple_of(1000) => format!("{}kbit", b / 1000),
        b => format!("{b}bit"),
    };
    let mut parts = Vec::new();
    for (key, word) in [
        ("delay_us", "delay"),
        ("jitter_us", "jitter"),
        ("loss_percent", "loss"),
        ("rate_bit", "rate"),
        ("corrupt_percent", "corrupt"),
        ("duplicate_percent", "duplicate"),
    ] {
        let Some(v) = value.get(key) else { continue };
        let text = match key {
            "delay_us" | "jitter_us" => v.as_u64().map(duration),
            "rate_bit" => v.as_u64().map(rate),
            _ => v.as_f64().map(|p| format!("{p}%")),
        };
        if let Some(text) = text {
            parts.push(format!("{word} {text}"));
        }
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

#[cfg(test)]
mod tests {
    #[test]
    fn recorded_impairments_read_as_sbx_impair_writes_them() {
        let value =
            serde_json::json!({"delay_us": 20000, "loss_percent": 30.0, "rate_bit": 10000000});
        assert_eq!(
            super::describe(&value).as_deref(),
            Some("delay 20ms loss 30% rate 10mbit")
        );
        assert_eq!(super::describe(&serde_json::json!({})), None);
    }
}
