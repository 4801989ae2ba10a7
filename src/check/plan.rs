//! Which probes a check sends (SPEC "Checks"), decided from the records
//! alone, as a pure function: every pair of sandboxes on each network both
//! ways, each sandbox to its gateway, the host to each sandbox, an MTU-sized
//! DF packet from each sandbox to its gateway, then the expectations.
//! Probes are grouped in tasks that share neighbour entries, so the engine
//! can remove a task's entries once all its probes are done (see `engine`).

use super::{Expectation, Kind};
use crate::state::{Link, NetworkRecord};
use std::collections::HashSet;
use std::net::Ipv4Addr;

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
    /// The address the echo goes to.
    pub dst: Ipv4Addr,
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
    /// The neighbour's address.
    pub ip: Ipv4Addr,
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
/// `members`, then `expectations`.
pub fn build(networks: &[NetworkRecord], members: &[Member], expectations: &[Expectation]) -> Plan {
    let mut plan = Plan::default();
    let mut paired: HashSet<(usize, usize)> = HashSet::new();
    for (n, net) in networks.iter().enumerate() {
        let mut on: Vec<usize> = (0..members.len())
            .filter(|m| members[*m].link_on(&net.name).is_some())
            .collect();
        on.sort_by(|a, b| members[*a].name.cmp(&members[*b].name));
        let ip = |m: usize| {
            members[m]
                .link_on(&net.name)
                .map(|l| l.ip)
                .unwrap_or(net.gateway)
        };
        let ifname = |m: usize| {
            members[m]
                .link_on(&net.name)
                .map(|l| l.ifname.clone())
                .unwrap_or_default()
        };
        // Pairs, both ways, once per pair even when they share networks.
        let mut pair_probe = std::collections::HashMap::new();
        for &a in on.iter().filter(|a| members[**a].running) {
            for &b in on.iter().filter(|b| **b != a) {
                if !paired.insert((a, b)) {
                    continue;
                }
                pair_probe.insert((a, b), plan.probes.len());
                plan.probes.push(Probe {
                    from: Place::Sandbox(a),
                    to: Target::Sandbox(b),
                    network: Some(n),
                    dst: ip(b),
                    kind: Kind::Icmp,
                    reach: true,
                    from_label: members[a].name.clone(),
                    to_label: members[b].name.clone(),
                    blocked: (!members[b].running).then(|| not_running(&members[b])),
                });
            }
        }
        for (&(a, b), &probe) in &pair_probe {
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
                            ip: net.gateway,
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
                plan.probes.push(Probe {
                    from: Place::Sandbox(m),
                    to: Target::Gateway(n),
                    network: Some(n),
                    dst: net.gateway,
                    kind,
                    reach: true,
                    from_label: members[m].name.clone(),
                    to_label: gateway.clone(),
                    blocked: None,
                });
            }
            if kind == Kind::Mtu {
                break;
            }
            for &m in &on {
                let blocked = (!members[m].running).then(|| not_running(&members[m]));
                if blocked.is_none() {
                    task_of(m, plan.probes.len(), &mut host_tasks);
                }
                plan.probes.push(Probe {
                    from: Place::Host,
                    to: Target::Sandbox(m),
                    network: Some(n),
                    dst: ip(m),
                    kind: Kind::Icmp,
                    reach: true,
                    from_label: "host".into(),
                    to_label: members[m].name.clone(),
                    blocked,
                });
            }
        }
        plan.tasks.extend(host_tasks.into_iter().map(|(_, t)| t));
    }
    for expectation in expectations {
        expect(&mut plan, networks, members, expectation);
    }
    plan
}

/// Adds one expectation's probe (and its task).
fn expect(plan: &mut Plan, networks: &[NetworkRecord], members: &[Member], e: &Expectation) {
    let find = |name: &str| members.iter().position(|m| m.name == name);
    let mut probe = Probe {
        from: Place::Host,
        to: Target::Host,
        network: None,
        dst: Ipv4Addr::UNSPECIFIED,
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
    // The sender.
    let from_member = if e.from == "host" {
        None
    } else {
        match find(&e.from) {
            Some(m) if members[m].running => {
                probe.from = Place::Sandbox(m);
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
    let shared = |links: &[Link]| {
        networks.iter().position(|n| {
            links.iter().any(|l| l.network == n.name)
                && from_member.is_none_or(|f| members[f].link_on(&n.name).is_some())
        })
    };
    if let Some(net) = e.to.strip_prefix("gateway:") {
        match networks.iter().position(|n| n.name == net) {
            Some(n) => {
                probe.to = Target::Gateway(n);
                probe.dst = networks[n].gateway;
                probe.network = from_member
                    .is_none_or(|f| members[f].link_on(net).is_some())
                    .then_some(n);
            }
            None => probe.blocked = probe.blocked.or(Some(unknown(&e.to))),
        }
    } else if e.to == "host" {
        // The host as the sender sees it: the gateway of its first network.
        let first = from_member.and_then(|f| members[f].links.first());
        match first.and_then(|l| networks.iter().position(|n| n.name == l.network)) {
            Some(n) => {
                probe.to = Target::Host;
                probe.dst = networks[n].gateway;
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
                probe.network = shared(&member.links);
                let link = match probe.network {
                    Some(n) => member.link_on(&networks[n].name),
                    None => member.links.first(),
                };
                match link {
                    Some(link) => probe.dst = link.ip,
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
            if let (Some(fl), Some(tl)) = (members[f].link_on(net), members[t].link_on(net)) {
                task.entries = vec![
                    Entry {
                        place: probe.from,
                        ifname: fl.ifname.clone(),
                        ip: tl.ip,
                    },
                    Entry {
                        place: Place::Sandbox(t),
                        ifname: tl.ifname.clone(),
                        ip: fl.ip,
                    },
                ];
            }
        }
        plan.tasks.push(task);
    }
    plan.probes.push(probe);
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
