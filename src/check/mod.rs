//! `sbx network check` (and `sbx lab check`): the reachability matrix of
//! networks, sent by sbx itself from inside each namespace, and a diagnosis
//! read from the kernel for every failure (SPEC "Checks").
//!
//! `plan` decides the probes from the records; `engine` opens a raw ICMP
//! and an rtnetlink socket in each namespace and sends them, many at once,
//! removing the neighbour entries it made as it goes; `facts` reads the
//! kernel for the failed ones and `diagnose` turns that into a `why`;
//! `report` prints.

mod diagnose;
mod engine;
mod facts;
mod icmp;
mod icmp6;
mod plan;
mod report;
mod rtnl;

pub use report::print_report;

use crate::state::StateRoot;
use crate::state::records::Status;
use anyhow::{Result, bail};
use plan::{Member, Place};
use serde::Serialize;
use std::path::Path;

/// An `expect` entry of a lab: `to` should (or, with `reach` false, should
/// not) answer an echo from `from`. Names are sandboxes, `host`, or
/// `gateway:NET`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// Sender.
    pub from: String,
    /// Receiver.
    pub to: String,
    /// Whether it should answer.
    pub reach: bool,
}

/// What a check tested (SPEC "Checks": `icmp`, `mtu`, `expect`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An echo of ping's size.
    #[default]
    Icmp,
    /// An echo filling the path's MTU, with DF.
    Mtu,
    /// A lab's expectation.
    Expect,
}

/// The IP version a check was sent over (issue 15: a dual-stack network
/// is checked over both; `--json` says which as `family`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// ICMP echo over IPv4.
    #[default]
    Ipv4,
    /// ICMPv6 echo over IPv6.
    Ipv6,
}

impl Family {
    /// The family of an address.
    pub fn of(ip: std::net::IpAddr) -> Self {
        match ip {
            std::net::IpAddr::V4(_) => Family::Ipv4,
            std::net::IpAddr::V6(_) => Family::Ipv6,
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        })
    }
}

/// One check's result, as the report and `--json` show it.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// Sender: a sandbox or `host`.
    pub from: String,
    /// Receiver: a sandbox, `host` or `gateway:NET`.
    pub to: String,
    /// What was tested.
    pub kind: Kind,
    /// Over IPv4 or IPv6.
    pub family: Family,
    /// Whether it passed.
    pub ok: bool,
    /// Round trip in milliseconds, when answered.
    pub rtt_ms: Option<f64>,
    /// The cause sbx found, for a failure.
    pub why: Option<String>,
}

/// Every check's outcome and the counts.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// In the order they are printed.
    pub checks: Vec<Outcome>,
    /// How many passed.
    pub passed: usize,
    /// How many failed (expectations included).
    pub failed: usize,
}

/// Checks `networks` of state root `root` (in the order given), then
/// `expectations`. Fails for an unknown network (a user error); a
/// sandbox that cannot be reached is a failed check, not an error.
pub fn check_networks(
    root: &Path,
    networks: &[String],
    expectations: &[Expectation],
) -> Result<Report> {
    let state = StateRoot::open(root)?;
    let mut nets = Vec::new();
    for name in networks {
        match state.network(name)? {
            Some(n) => nets.push(n),
            None => bail!("network {name} not found: see 'sbx network ls'"),
        }
    }
    let (records, _) = state.sandboxes()?;
    let mut members: Vec<Member> = Vec::new();
    let mut netns = Vec::new();
    for record in records {
        let on = record
            .links
            .iter()
            .any(|l| nets.iter().any(|n| n.name == l.network));
        let named = expectations
            .iter()
            .any(|e| e.from == record.spec.name || e.to == record.spec.name);
        if !on && !named {
            continue;
        }
        let status = record.status();
        let path = record.netns.clone().filter(|p| p.exists());
        let running = status == Status::Running && path.is_some();
        members.push(Member {
            name: record.spec.name.clone(),
            running,
            status: if status == Status::Running {
                "its namespace is gone"
            } else {
                status.as_str()
            }
            .into(),
            links: record.links.clone(),
            trusted: record.spec.allow_spoofing,
        });
        netns.push(path);
    }
    let mut places = vec![(Place::Host, None)];
    for (m, member) in members.iter().enumerate() {
        if member.running {
            places.push((Place::Sandbox(m), netns[m].clone()));
        }
    }
    // IPv6 sockets only when a dual-stack network is checked: a v4-only
    // check never depends on the kernel's IPv6.
    let v6 = nets.iter().any(|n| n.gateway6.is_some());
    let (mut spaces, gone) = engine::open(places, v6)?;
    for place in gone {
        if let Place::Sandbox(m) = place {
            members[m].running = false;
            members[m].status = "its namespace is gone".into();
        }
    }
    let plan = plan::build(&nets, &members, expectations);
    let sizes = payload_sizes(&plan, &nets, &members, &spaces);
    let results = engine::run(&plan, &mut spaces, &sizes);
    let mut gatherer = facts::Gatherer::new(&state, &nets, &members, &mut spaces);
    let mut checks = Vec::with_capacity(plan.probes.len());
    for (i, probe) in plan.probes.iter().enumerate() {
        let answered = results[i].rtt.is_some();
        let why = match verdict(probe, answered) {
            Verdict::Pass => None,
            Verdict::Fail(why) => Some(why),
            Verdict::Diagnose => {
                let size = (probe.kind == Kind::Mtu).then_some(sizes[i]);
                Some(diagnose::why(&gatherer.path(probe, &results[i], size)))
            }
        };
        let ok = why.is_none();
        checks.push(Outcome {
            from: probe.from_label.clone(),
            to: probe.to_label.clone(),
            kind: probe.kind,
            family: probe.family(),
            ok,
            rtt_ms: results[i].rtt.map(|d| d.as_secs_f64() * 1000.0),
            why,
        });
    }
    let passed = checks.iter().filter(|c| c.ok).count();
    let failed = checks.len() - passed;
    Ok(Report {
        checks,
        passed,
        failed,
    })
}

/// How a probe ended, before the kernel is read.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// It passed.
    Pass,
    /// It failed for a reason known without the kernel.
    Fail(String),
    /// Unanswered though it should be: read the kernel for why.
    Diagnose,
}

/// Pass when the answer is what the check wants: an echo answered, or for
/// an expectation with `reach = false` none (SPEC "Checks"); a probe that
/// could not be sent (a peer not running) fails with its reason.
fn verdict(probe: &plan::Probe, answered: bool) -> Verdict {
    match (&probe.blocked, answered, probe.reach) {
        (Some(blocked), _, _) => Verdict::Fail(blocked.clone()),
        (None, true, true) | (None, false, false) => Verdict::Pass,
        (None, true, false) => Verdict::Fail(format!(
            "{} answered, but the expectation is reach = false",
            probe.to_label
        )),
        (None, false, true) => Verdict::Diagnose,
    }
}

/// An errno in words, without Rust's "(os error N)" tail.
fn strerror(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.find(" (os error") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

/// The IP and echo headers of a probe of `family`: what an MTU-sized
/// probe leaves for its payload.
fn headers(family: Family) -> usize {
    match family {
        Family::Ipv4 => icmp::HEADERS,
        Family::Ipv6 => icmp6::HEADERS,
    }
}

/// The payload of each probe: ping's 56 bytes, or for an MTU probe the
/// largest MTU on the sandbox's side of the path (its interface, its host
/// end, the bridge) less the IP and ICMP headers of its family: the packet
/// fills the path, so a smaller MTU anywhere on it stops it.
fn payload_sizes(
    plan: &plan::Plan,
    nets: &[crate::state::NetworkRecord],
    members: &[Member],
    spaces: &std::collections::HashMap<Place, engine::Namespace>,
) -> Vec<usize> {
    plan.probes
        .iter()
        .map(|probe| {
            let (Kind::Mtu, Place::Sandbox(m), Some(n)) = (probe.kind, probe.from, probe.network)
            else {
                return icmp::PAYLOAD;
            };
            let net = &nets[n];
            let Some(link) = members[m].links.iter().find(|l| l.network == net.name) else {
                return icmp::PAYLOAD;
            };
            let mtu = |place: Place, name: &str| {
                spaces
                    .get(&place)
                    .and_then(|s| s.link(name))
                    .map_or(0, |l| l.mtu)
            };
            let largest = mtu(probe.from, &link.ifname)
                .max(mtu(Place::Host, &link.veth))
                .max(mtu(Place::Host, &net.bridge));
            (largest as usize)
                .saturating_sub(headers(probe.family()))
                .max(icmp::PAYLOAD)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(reach: bool, blocked: Option<&str>) -> plan::Probe {
        plan::Probe {
            from: Place::Host,
            to: plan::Target::Host,
            network: None,
            dst: std::net::Ipv4Addr::UNSPECIFIED.into(),
            kind: Kind::Expect,
            reach,
            from_label: "a".into(),
            to_label: "b".into(),
            blocked: blocked.map(String::from),
        }
    }

    #[test]
    fn an_expectation_of_no_reach_passes_without_an_answer() {
        assert_eq!(verdict(&probe(true, None), true), Verdict::Pass);
        assert_eq!(verdict(&probe(true, None), false), Verdict::Diagnose);
        assert_eq!(verdict(&probe(false, None), false), Verdict::Pass);
        assert_eq!(
            verdict(&probe(false, None), true),
            Verdict::Fail("b answered, but the expectation is reach = false".into())
        );
        assert_eq!(
            verdict(&probe(false, Some("b is not running (exited)")), false),
            Verdict::Fail("b is not running (exited)".into())
        );
    }

    #[test]
    fn errno_texts_lose_rusts_tail() {
        assert_eq!(strerror(libc::ENETUNREACH), "Network is unreachable");
    }
}

#[cfg(test)]
mod kernel_tests;
