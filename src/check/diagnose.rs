//! Why a probe failed: pure rules over the facts `facts` gathered from the
//! kernel, so each rule is unit-tested without a kernel. The causes are
//! those SPEC "Checks" names and DESIGN.md's list of top complaints
//! (rp_filter, MTU, another firewall's forward drop). Hard causes (an
//! interface down, an address, route or port missing, the anti-spoofing
//! filter, strict rp_filter against the route back, a partition, an MTU
//! mismatch on an MTU probe) are certain to stop
//! the probe, and when one is found only those are told; otherwise the
//! likely ones (another table's drop, sysctls, impairments) are.
//!
//! The rules are the same over IPv6 (issue 15), with IPv6's own places:
//! `ip6` tables beside `inet` and `bridge` ones, `bridge-nf-call-ip6tables`,
//! `net.ipv6.conf.all.forwarding`; IPv6 has no `rp_filter` sysctl.

use super::{Family, Kind};
use crate::firewall::observe::ForwardDrop;
use std::net::{IpAddr, Ipv4Addr};

/// An interface as read from the kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Iface {
    /// Its name.
    pub name: String,
    /// Administratively up.
    pub up: bool,
    /// Its MTU.
    pub mtu: u32,
    /// Its MAC.
    pub mac: Vec<u8>,
    /// Its addresses of the path's family (IPv6: not the link-local
    /// ones, which every interface has and no probe uses).
    pub addrs: Vec<IpAddr>,
    /// The name of the bridge it is a port of.
    pub master: Option<String>,
    /// Its root qdisc, when not the default one.
    pub qdisc: Option<String>,
    /// Effective `rp_filter` (the larger of `all` and its own).
    pub rp_filter: u8,
}

/// Where a side's route to the other side goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// Out of an interface, maybe via a gateway.
    Via {
        /// Output interface name.
        ifname: String,
        /// Next hop, when routed.
        gateway: Option<IpAddr>,
    },
    /// A local address.
    Local,
    /// No route: the kernel's reason.
    Missing(String),
}

/// One end of a probed path.
#[derive(Clone, Debug)]
pub struct Side {
    /// Its name in the report: a sandbox, `host`, `gateway:NET`.
    pub label: String,
    /// A sandbox (else the host or a gateway, which live on the host).
    pub sandbox: bool,
    /// Its interface on the path: a sandbox's `ethN`, the host's bridge.
    pub iface: Option<Iface>,
    /// The name that interface should have.
    pub ifname: String,
    /// A sandbox's host-side veth.
    pub veth: Option<Iface>,
    /// The name that veth should have.
    pub veth_name: String,
    /// Its address on the path, as recorded (of the path's family).
    pub ip: IpAddr,
    /// A sandbox's gateway on that network: its default route's next hop.
    pub gateway: Option<IpAddr>,
    /// The MAC sbx gave it.
    pub mac: Vec<u8>,
    /// `--allow-spoofing`, or a port the filter does not guard.
    pub unguarded: bool,
    /// What the anti-spoofing filter lets its port send from.
    pub allowed: Vec<([u8; 6], IpAddr)>,
    /// Its route towards the other side's address.
    pub route: Option<Route>,
    /// Impairments sbx keeps in the kernel for its interface besides
    /// qdiscs (loss chains), in words.
    pub impaired: Vec<String>,
    /// What `sbx impair set` asked for it, in words (`loss 30%`).
    pub impair_asked: Option<String>,
}

impl Default for Side {
    fn default() -> Self {
        Side {
            label: String::new(),
            sandbox: false,
            iface: None,
            ifname: String::new(),
            veth: None,
            veth_name: String::new(),
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            gateway: None,
            mac: Vec::new(),
            unguarded: false,
            allowed: Vec::new(),
            route: None,
            impaired: Vec::new(),
            impair_asked: None,
        }
    }
}

/// Everything the rules look at for one failed probe.
#[derive(Clone, Debug, Default)]
pub struct PathFacts {
    /// The check's kind.
    pub kind: Kind,
    /// Over IPv4 or IPv6.
    pub family: Family,
    /// Sender.
    pub from: Side,
    /// Receiver.
    pub to: Side,
    /// The network's bridge, when the path is on one network.
    pub bridge: Option<Iface>,
    /// Its name.
    pub bridge_name: String,
    /// Sandbox to sandbox on one bridge (through the bridge forward hook).
    pub bridged: bool,
    /// Through the host's IP forwarding (sandboxes of different networks).
    pub routed: bool,
    /// sbx's partition sets hold this pair.
    pub partitioned: bool,
    /// Other tables' forward chains that drop (any family: the rules
    /// keep those the path's packets meet).
    pub forward_drops: Vec<ForwardDrop>,
    /// `net.bridge.bridge-nf-call-iptables`, or `-ip6tables` over IPv6.
    pub br_nf_call: bool,
    /// `net.ipv4.ip_forward`, or `net.ipv6.conf.all.forwarding` over IPv6.
    pub forwarding: bool,
    /// Size of an MTU probe's IP packet.
    pub size: Option<usize>,
    /// The errno sending failed with.
    pub send_error: Option<String>,
    /// An ICMP error that came back instead of a reply.
    pub icmp_error: Option<String>,
    /// How long the probe waited for an answer.
    pub waited: String,
}

fn mac_text(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Links down or missing along the path.
fn links(f: &PathFacts, out: &mut Vec<String>) {
    for side in [&f.from, &f.to] {
        if !side.sandbox {
            continue;
        }
        match &side.iface {
            None => out.push(format!("{} has no interface {}", side.label, side.ifname)),
            Some(i) if !i.up => out.push(format!("interface {} of {} is down", i.name, side.label)),
            _ => {}
        }
        match &side.veth {
            None => out.push(format!(
                "the host end {} of {}'s {} is missing",
                side.veth_name, side.label, side.ifname
            )),
            Some(v) if !v.up => out.push(format!(
                "the host end {} of {}'s {} is down",
                v.name, side.label, side.ifname
            )),
            Some(v) if f.bridge.is_some() && v.master.as_deref() != Some(&f.bridge_name) => out
                .push(format!(
                    "{}'s port {} is not on bridge {}",
                    side.label, v.name, f.bridge_name
                )),
            _ => {}
        }
    }
    match &f.bridge {
        Some(b) if !b.up => out.push(format!("bridge {} is down", b.name)),
        None if !f.routed => out.push(format!("bridge {} is missing", f.bridge_name)),
        _ => {}
    }
}

/// The anti-spoofing filter: an address or MAC a sandbox uses that is not
/// its own is dropped at its port.
fn spoofing(f: &PathFacts, out: &mut Vec<String>) {
    for side in [&f.from, &f.to] {
        let (true, false, Some(iface)) = (side.sandbox, side.unguarded, &side.iface) else {
            continue;
        };
        let own: Vec<IpAddr> = side.allowed.iter().map(|(_, ip)| *ip).collect();
        for addr in iface.addrs.iter().filter(|a| !own.contains(a)) {
            out.push(format!(
                "address {addr} of {} is not its own (anti-spoofing): its port lets only {} through",
                side.label, side.ip
            ));
        }
        let macs: Vec<&[u8]> = side.allowed.iter().map(|(m, _)| &m[..]).collect();
        if !macs.is_empty() && !macs.contains(&&iface.mac[..]) {
            out.push(format!(
                "MAC {} of {}'s {} is not its own {} (anti-spoofing)",
                mac_text(&iface.mac),
                side.label,
                iface.name,
                mac_text(macs[0])
            ));
        }
    }
}

/// Addresses and routes missing where they should be.
fn addressing(f: &PathFacts, out: &mut Vec<String>) {
    for side in [&f.from, &f.to] {
        if let Some(iface) = &side.iface
            && !iface.addrs.contains(&side.ip)
        {
            let whose = if side.sandbox {
                format!("{}'s {}", side.label, iface.name)
            } else {
                format!("bridge {}", iface.name)
            };
            out.push(format!("{whose} lacks its address {}", side.ip));
        }
    }
    for (side, other) in [(&f.from, &f.to), (&f.to, &f.from)] {
        // A route through an interface that is down or gone went with it:
        // that is the cause already named.
        if !side.iface.as_ref().is_some_and(|i| i.up) {
            continue;
        }
        let expected = side.iface.as_ref().map(|i| i.name.as_str());
        match &side.route {
            Some(Route::Missing(why)) => out.push(match side.gateway {
                Some(gateway) if f.routed && side.sandbox => format!(
                    "{} has no route to {} ({why}): its default route via {gateway} is missing",
                    side.label, other.ip
                ),
                _ => format!("{} has no route to {} ({why})", side.label, other.ip),
            }),
            // With strict rp_filter that is what drops it: said there.
            Some(Route::Via { ifname, .. })
                if !f.routed
                    && Some(ifname.as_str()) != expected
                    && side.iface.as_ref().is_none_or(|i| i.rp_filter != 1) =>
            {
                out.push(format!(
                    "{}'s route to {} goes out {ifname}, not {}",
                    side.label,
                    other.ip,
                    expected.unwrap_or(&side.ifname)
                ))
            }
            _ => {}
        }
    }
}

/// Strict reverse-path filtering (`rp_filter` = 1) drops what arrives on
/// an interface other than the one the route back goes out of.
fn rp_filter(f: &PathFacts, out: &mut Vec<String>) {
    for (side, other) in [(&f.to, &f.from), (&f.from, &f.to)] {
        if let (Some(iface), Some(Route::Via { ifname, .. })) = (&side.iface, &side.route)
            && iface.rp_filter == 1
            && *ifname != iface.name
        {
            out.push(format!(
                "strict rp_filter (net.ipv4.conf.{}.rp_filter=1) on {}: its route back to {} goes out {ifname}",
                iface.name, side.label, other.ip
            ));
        }
    }
}

/// The MTUs along a sandbox's side: its interface, its port, the bridge.
fn mtu_mismatch(f: &PathFacts) -> Option<String> {
    let side = [&f.from, &f.to].into_iter().find(|s| s.sandbox)?;
    let iface = side.iface.as_ref()?;
    let mut others = Vec::new();
    if let Some(v) = &side.veth {
        others.push((format!("its host end {}", v.name), v.mtu));
    }
    if let Some(b) = &f.bridge {
        others.push((format!("bridge {}", b.name), b.mtu));
    }
    let (name, mtu) = others.into_iter().find(|(_, m)| *m != iface.mtu)?;
    Some(format!(
        "MTU mismatch: {}'s {} has MTU {}, {name} has {mtu}",
        side.label, iface.name, iface.mtu
    ))
}

/// The causes that surely stop the probe.
fn hard(f: &PathFacts) -> Vec<String> {
    let mut out = Vec::new();
    links(f, &mut out);
    spoofing(f, &mut out);
    addressing(f, &mut out);
    rp_filter(f, &mut out);
    if f.partitioned {
        out.push(format!(
            "partition set by sbx between {} and {} (sbx partition rm {} {})",
            f.from.label, f.to.label, f.from.label, f.to.label
        ));
    }
    if f.kind == Kind::Mtu
        && let Some(m) = mtu_mismatch(f)
    {
        match f.size {
            Some(size) => out.push(format!("{m}: the {size}-byte DF packet did not pass")),
            None => out.push(m),
        }
    }
    out
}

/// The causes that likely stop it.
fn soft(f: &PathFacts) -> Vec<String> {
    let mut out = Vec::new();
    let (ip_table, br_sysctl, forwarding) = match f.family {
        Family::Ipv4 => ("ip", "bridge-nf-call-iptables", "net.ipv4.ip_forward"),
        Family::Ipv6 => (
            "ip6",
            "bridge-nf-call-ip6tables",
            "net.ipv6.conf.all.forwarding",
        ),
    };
    for drop in &f.forward_drops {
        // An `ip` table never sees IPv6, an `ip6` table never IPv4.
        if ![ip_table, "inet", "bridge"].contains(&drop.family) {
            continue;
        }
        let ip_family = drop.family != "bridge";
        let applies = if f.routed {
            ip_family
        } else {
            f.bridged && (!ip_family || f.br_nf_call)
        };
        if !applies {
            continue;
        }
        let what = if drop.policy_drop {
            "has policy drop".to_string()
        } else {
            format!("has {} drop rule(s)", drop.drop_rules)
        };
        let via = if f.bridged && ip_family {
            format!(
                "net.bridge.{br_sysctl}=1 sends bridged traffic through another table's forward hook: "
            )
        } else {
            "another table's forward hook drops: ".to_string()
        };
        out.push(format!(
            "{via}table {} {} chain {} {what}",
            drop.family, drop.table, drop.chain
        ));
    }
    if f.routed && !f.forwarding {
        out.push(format!(
            "{forwarding}=0 on the host: traffic routed between networks is dropped"
        ));
    }
    for side in [&f.from, &f.to].into_iter().filter(|s| s.sandbox) {
        let mut seen: Vec<String> = [&side.iface, &side.veth]
            .into_iter()
            .flatten()
            .filter_map(|i| i.qdisc.as_ref().map(|kind| format!("{kind} on {}", i.name)))
            .collect();
        seen.extend(side.impaired.iter().cloned());
        if seen.is_empty() && side.impair_asked.is_none() {
            continue;
        }
        let what = match &side.impair_asked {
            Some(asked) if !seen.is_empty() => format!("{asked}: {}", seen.join(", ")),
            Some(asked) => asked.clone(),
            None => seen.join(", "),
        };
        out.push(format!(
            "impairment set by sbx on {}'s {} ({what}; see 'sbx impair show {}')",
            side.label, side.ifname, side.label
        ));
    }
    if f.kind != Kind::Mtu
        && let Some(m) = mtu_mismatch(f)
    {
        out.push(m);
    }
    out
}

/// The `why` of a failed probe: its causes joined by "; ", or what was
/// seen when sbx found none.
pub fn why(f: &PathFacts) -> String {
    let mut causes = hard(f);
    if causes.is_empty() {
        causes = soft(f);
    }
    if causes.is_empty() {
        causes.push(match (&f.send_error, &f.icmp_error) {
            (Some(e), _) => format!("sending failed: {e}; sbx found no cause in the kernel"),
            (None, Some(e)) => format!("{e}; sbx found no other cause in the kernel"),
            (None, None) => format!(
                "no answer within {}; links, addresses, routes, firewall and sysctls look right",
                f.waited
            ),
        });
    }
    causes.join("; ")
}

#[cfg(test)]
#[path = "diagnose_tests.rs"]
mod tests;
