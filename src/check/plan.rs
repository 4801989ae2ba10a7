//! Which probes a check sends (SPEC "Checks"), decided from the records
//! alone, as a pure function: every pair of sandboxes on each network both
//! ways, each sandbox to its gateway, the host to each sandbox, an MTU-sized
//! DF packet from each sandbox to its gateway, then the expectations; on a
//! dual-stack network all of it over IPv6 too (issue 15).
//! Probes are grouped in tasks that share neighbour entries, so the engine
//! can remove a task's entries once all its probes are done (see `engine`).

use super::{Expectation, Family, Kind};
use crate::state::{Link, NetworkRecord};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

/// Where a probe leaves from: the host's namespace or a sandbox's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Place {
    /// The namespace sbx runs in.
    Host,
    /// A sandbox, by its index in the members.
    Sandbox(usize),
}

/// A sandbox of the checked networks, as its record tells.
#[derive(Clone, Debug)]
pub struct Member {
    /// Its name.
    pub name: String,
    /// Whether it runs (init alive and its netns pinned).
    pub running: bool,
    /// Its status word when it does not (`exited`, `creating`).
    pub status: String,
    /// Its links, one per network.
    pub links: Vec<Link>,
    /// `--allow-spoofing`: the anti-spoofing filter leaves it alone.
    pub trusted: bool,
}

impl Member {
    fn link_on(&self, network: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.network == network)
    }
}

/// Whom a probe is sent to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The host itself (its address on a network).
    Host,
    /// A network's gateway (on the host), by network index.
    Gateway(usize),
    /// A sandbox, by member index.
    Sandbox(usize),
}

/// One probe, or one check that cannot be probed.
#[derive(Clone, Debug)]
pub struct Probe {
    /// Sender.
    pub from: Place,
    /// Receiver.
    pub to: Target,
    /// The network the path is on (None: routed, or unresolved).
    pub network: Option<usize>,
    /// The address the echo goes to; its family is the probe's.
    pub dst: IpAddr,
    /// What kind of check it is.
    pub kind: Kind,
    /// Whether an answer is what passes (false: `reach = false`).
    pub reach: bool,
    /// Names for the report.
    pub from_label: String,
    /// Names for the report.
    pub to_label: String,
    /// Why it is not sent at all (a peer not running): then it fails.
    pub blocked: Option<String>,
}

/// A neighbour entry a task may create: in `place`, on its interface
/// `ifname`, for address `ip`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Whose table.
    pub place: Place,
    /// The interface there.
    pub ifname: String,
    /// The neighbour's address (an ARP or an IPv6 neighbour entry).
    pub ip: IpAddr,
}

/// Probes sent together, and the neighbour entries they make.
#[derive(Clone, Debug, Default)]
pub struct Task {
    /// Indexes into the plan's probes.
    pub probes: Vec<usize>,
    /// Entries to remove afterwards (if they did not exist before).
    pub entries: Vec<Entry>,
}

/// Everything a check does, in report order.
#[derive(Debug, Default)]
pub struct Plan {
    /// The probes, in the order they are reported.
    pub probes: Vec<Probe>,
    /// Groups of probes (blocked ones are in none).
    pub tasks: Vec<Task>,
}

impl Probe {
    /// IPv4 or IPv6, as its destination is.
    pub fn family(&self) -> Family {
        Family::of(self.dst)
    }
}

/// The gateway's name in reports: `gateway:NET`.
pub fn gateway_label(network: &str) -> String {
    format!("gateway:{network}")
}

fn not_running(member: &Member) -> String {
    format!(
        "{} is not running ({}): start it again with 'sbx restart {}'",
        member.name, member.status, member.name
    )
}

/// Builds the plan over `networks` (in the order given) and their
/// `members`, then `expectations`. A dual-stack network is checked over
/// IPv4, then over IPv6 (issue 15); an expectation is tried over IPv6 too
/// when both of its ends have an IPv6 address to use.
pub fn build(networks: &[NetworkRecord], members: &[Member], expectations: &[Expectation]) -> Plan {
    let mut plan = Plan::default();
    let mut paired: HashSet<(usize, usize, Family)> = HashSet::new();
    for (n, net) in networks.iter().enumerate() {
        network(&mut plan, &mut paired, n, net, members, Family::Ipv4);
        if net.gateway6.is_some() {
            network(&mut plan, &mut paired, n, net, members, Family::Ipv6);
        }
    }
    for expectation in expectations {
        expect(&mut plan, networks, members, expectation, Family::Ipv4);
        let v4 = plan.probes.last().is_some_and(|p| p.blocked.is_none());
        if v4 {
            expect(&mut plan, networks, members, expectation, Family::Ipv6);
            // Unresolvable over IPv6 (a v4-only end): no IPv6 check at all.
            if plan.probes.last().is_some_and(|p| p.blocked.is_some()) {
                plan.probes.pop();
            }
        }
    }
    plan
}

/// The address of `link` in `family` (None: a v4-only network's link).
fn link_ip(link: &Link, family: Family) -> Option<IpAddr> {
    match family {
        Family::Ipv4 => Some(IpAddr::V4(link.ip)),
        Family::Ipv6 => link.ip6.map(IpAddr::V6),
    }
}

/// The gateway of `net` in `family`.
pub fn gateway_ip(net: &NetworkRecord, family: Family) -> Option<IpAddr> {
    match family {
        Family::Ipv4 => Some(IpAddr::V4(net.gateway)),
        Family::Ipv6 => net.gateway6.map(IpAddr::V6),
    }
}

/// The probes and tasks of network `n` over `family`: every pair of its
/// sandboxes both ways (once per pair and family, even when they share
/// networks), each sandbox to the gateway, the host to each, and the MTU
/// probe.
fn network(
    plan: &mut Plan,
    paired: &mut HashSet<(usize, usize, Family)>,
    n: usize,
    net: &NetworkRecord,
    members: &[Member],
    family: Family,
) {
    let Some(gateway_ip) = gateway_ip(net, family) else {
        return;
    };
    let ip = |m: usize| {
        members[m]
            .link_on(&net.name)
            .and_then(|l| link_ip(l, family))
    };
    let mut on: Vec<usize> = (0..members.len()).filter(|m| ip(*m).is_some()).collect();
    on.sort_by(|a, b| members[*a].name.cmp(&members[*b].name));
    let ip = |m: usize| ip(m).unwrap_or(gateway_ip);
    let ifname = |m: usize| {
        members[m]
            .link_on(&net.name)
            .map(|l| l.ifname.clone())
            .unwrap_or_default()
    };
    let probe =
        |from: Place, to: Target, dst: IpAddr, kind: Kind, labels: (String, String)| Probe {
            from,
            to,
            network: Some(n),
            dst,
            kind,
            reach: true,
            from_label: labels.0,
            to_label: labels.1,
            blocked: None,
        };
    // Pairs, both ways.
    let mut pair_probe = std::collections::HashMap::new();
    for &a in on.iter().filter(|a| members[**a].running) {
        for &b in on.iter().filter(|b| **b != a) {
            if !paired.insert((a, b, family)) {
                continue;
            }
            pair_probe.insert((a, b), plan.probes.len());
            let labels = (members[a].name.clone(), members[b].name.clone());
            plan.probes.push(Probe {
                blocked: (!members[b].running).then(|| not_running(&members[b])),
                ..probe(
                    Place::Sandbox(a),
                    Target::Sandbox(b),
                    ip(b),
                    Kind::Icmp,
                    labels,
                )
            });
        }
    }
    let mut pairs: Vec<(&(usize, usize), &usize)> = pair_probe.iter().collect();
    pairs.sort();
    for (&(a, b), &probe) in pairs {
        if a > b && pair_probe.contains_key(&(b, a)) {
            continue;
        }
        if plan.probes[probe].blocked.is_some() {
            continue;
        }
        let mut task = Task {
            probes: vec![probe],
            entries: vec![
                Entry {
                    place: Place::Sandbox(a),
                    ifname: ifname(a),
                    ip: ip(b),
                },
                Entry {
                    place: Place::Sandbox(b),
                    ifname: ifname(b),
                    ip: ip(a),
                },
            ],
        };
        if let Some(back) = pair_probe.get(&(b, a)) {
            task.probes.push(*back);
        }
        plan.tasks.push(task);
    }
    // Each sandbox and the host's side of the network: to the gateway,
    // from the host, and the MTU-sized packet; one task per sandbox.
    let gateway = gateway_label(&net.name);
    let mut host_tasks: Vec<(usize, Task)> = Vec::new();
    let task_of = |m: usize, probe: usize, tasks: &mut Vec<(usize, Task)>| match tasks
        .iter_mut()
        .find(|(owner, _)| *owner == m)
    {
        Some((_, task)) => task.probes.push(probe),
        None => tasks.push((
            m,
            Task {
                probes: vec![probe],
                entries: vec![
                    Entry {
                        place: Place::Sandbox(m),
                        ifname: ifname(m),
                        ip: gateway_ip,
                    },
                    Entry {
                        place: Place::Host,
                        ifname: net.bridge.clone(),
                        ip: ip(m),
                    },
                ],
            },
        )),
    };
    for kind in [Kind::Icmp, Kind::Mtu] {
        for &m in on.iter().filter(|m| members[**m].running) {
            task_of(m, plan.probes.len(), &mut host_tasks);
            let labels = (members[m].name.clone(), gateway.clone());
            plan.probes.push(probe(
                Place::Sandbox(m),
                Target::Gateway(n),
                gateway_ip,
                kind,
                labels,
            ));
        }
        if kind == Kind::Mtu {
            break;
        }
        for &m in &on {
            let blocked = (!members[m].running).then(|| not_running(&members[m]));
            if blocked.is_none() {
                task_of(m, plan.probes.len(), &mut host_tasks);
            }
            let labels = ("host".to_string(), members[m].name.clone());
            plan.probes.push(Probe {
                blocked,
                ..probe(Place::Host, Target::Sandbox(m), ip(m), Kind::Icmp, labels)
            });
        }
    }
    plan.tasks.extend(host_tasks.into_iter().map(|(_, t)| t));
}

/// Adds one expectation's probe over `family` (and its task). Over IPv6,
/// the ends are their IPv6 addresses, gateways and networks: one without
/// any makes the probe blocked (and the caller drops it).
fn expect(
    plan: &mut Plan,
    networks: &[NetworkRecord],
    members: &[Member],
    e: &Expectation,
    family: Family,
) {
    let find = |name: &str| members.iter().position(|m| m.name == name);
    let mut probe = Probe {
        from: Place::Host,
        to: Target::Host,
        network: None,
        dst: unspecified(family),
        kind: Kind::Expect,
        reach: e.reach,
        from_label: e.from.clone(),
        to_label: e.to.clone(),
        blocked: None,
    };
    let unknown = |name: &str| {
        format!(
            "{name} is neither 'host', a 'gateway:NET' of the checked networks, nor a sandbox on them"
        )
    };
    // A member's links that have an address of the family.
    let links = |m: usize| -> Vec<&Link> {
        members[m]
            .links
            .iter()
            .filter(|l| link_ip(l, family).is_some())
            .collect()
    };
    let on = |m: usize, net: &str| links(m).into_iter().find(|l| l.network == net);
    // The sender.
    let from_member = if e.from == "host" {
        None
    } else {
        match find(&e.from) {
            Some(m) if members[m].running => {
                probe.from = Place::Sandbox(m);
                if links(m).is_empty() {
                    probe.blocked = Some(format!("{} has no {family} address", e.from));
                }
                Some(m)
            }
            Some(m) => {
                probe.blocked = Some(not_running(&members[m]));
                Some(m)
            }
            None => {
                probe.blocked = Some(unknown(&e.from));
                None
            }
        }
    };
    // The receiver and its address, on a network the sender shares if any.
    let shared = |target: usize| {
        networks.iter().position(|n| {
            on(target, &n.name).is_some() && from_member.is_none_or(|f| on(f, &n.name).is_some())
        })
    };
    if let Some(net) = e.to.strip_prefix("gateway:") {
        match networks.iter().position(|n| n.name == net) {
            Some(n) => {
                probe.to = Target::Gateway(n);
                match gateway_ip(&networks[n], family) {
                    Some(ip) => probe.dst = ip,
                    None => probe.blocked = probe.blocked.or(Some(format!("{net} is IPv4 only"))),
                }
                probe.network = from_member
                    .is_none_or(|f| on(f, net).is_some())
                    .then_some(n);
            }
            None => probe.blocked = probe.blocked.or(Some(unknown(&e.to))),
        }
    } else if e.to == "host" {
        // The host as the sender sees it: the gateway of its first network.
        let first = from_member.and_then(|f| links(f).first().copied());
        let n = first.and_then(|l| networks.iter().position(|n| n.name == l.network));
        match n.and_then(|n| Some((n, gateway_ip(&networks[n], family)?))) {
            Some((n, ip)) => {
                probe.to = Target::Host;
                probe.dst = ip;
                probe.network = Some(n);
            }
            None => {
                probe.blocked = probe.blocked.or(Some(format!(
                    "{} has no network among the checked ones to reach the host by",
                    e.from
                )))
            }
        }
    } else {
        match find(&e.to) {
            Some(t) => {
                let member = &members[t];
                probe.to = Target::Sandbox(t);
                probe.network = shared(t);
                let link = match probe.network {
                    Some(n) => on(t, &networks[n].name),
                    None => links(t).first().copied(),
                };
                match link.and_then(|l| link_ip(l, family)) {
                    Some(ip) => probe.dst = ip,
                    None => probe.blocked = probe.blocked.or(Some(unknown(&e.to))),
                }
                if !member.running {
                    probe.blocked = probe.blocked.or(Some(not_running(member)));
                }
            }
            None => probe.blocked = probe.blocked.or(Some(unknown(&e.to))),
        }
    }
    let index = plan.probes.len();
    if probe.blocked.is_none() {
        let mut task = Task {
            probes: vec![index],
            entries: Vec::new(),
        };
        if let (Place::Sandbox(f), Target::Sandbox(t), Some(n)) =
            (probe.from, probe.to, probe.network)
        {
            let net = &networks[n].name;
            if let (Some(fl), Some(tl)) = (on(f, net), on(t, net))
                && let (Some(fip), Some(tip)) = (link_ip(fl, family), link_ip(tl, family))
            {
                task.entries = vec![
                    Entry {
                        place: probe.from,
                        ifname: fl.ifname.clone(),
                        ip: tip,
                    },
                    Entry {
                        place: Place::Sandbox(t),
                        ifname: tl.ifname.clone(),
                        ip: fip,
                    },
                ];
            }
        }
        plan.tasks.push(task);
    }
    plan.probes.push(probe);
}

/// The unspecified address of `family`: where a probe that is never sent
/// points.
fn unspecified(family: Family) -> IpAddr {
    match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::Ipv6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
