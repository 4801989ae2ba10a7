//! The plan over small made-up networks: order, tasks, blocked checks.
use super::*;
use crate::model::Subnet;
use std::net::IpAddr;

fn network(name: &str, third: u8) -> NetworkRecord {
    NetworkRecord {
        name: name.into(),
        bridge: format!("br-{name}"),
        subnet: Subnet::containing(Ipv4Addr::new(10, 9, third, 0), 24),
        gateway: Ipv4Addr::new(10, 9, third, 1),
        internal: false,
        mtu: None,
        created: 0,
        bridge_created: true,
        gateway_added: true,
        subnet6: None,
        gateway6: None,
        gateway6_added: false,
        labels: Default::default(),
        vxlan: None,
    }
}

fn member(name: &str, running: bool, links: &[(&str, u8, u8)]) -> Member {
    Member {
        name: name.into(),
        running,
        status: if running { "running" } else { "exited" }.into(),
        links: links
            .iter()
            .enumerate()
            .map(|(i, (net, third, last))| Link {
                network: (*net).into(),
                ip: Ipv4Addr::new(10, 9, *third, *last),
                ip6: None,
                veth: format!("sbx{name}{i}"),
                ifname: format!("eth{i}"),
            })
            .collect(),
        trusted: false,
    }
}

fn lines(plan: &Plan) -> Vec<String> {
    plan.probes
        .iter()
        .map(|p| format!("{:?} {} -> {}", p.kind, p.from_label, p.to_label))
        .collect()
}

#[test]
fn three_sandboxes_make_every_pair_both_ways_and_the_host_side() {
    let nets = [network("lan", 0)];
    let members = [
        member("c", true, &[("lan", 0, 4)]),
        member("a", true, &[("lan", 0, 2)]),
        member("b", true, &[("lan", 0, 3)]),
    ];
    let plan = build(&nets, &members, &[]);
    assert_eq!(
        lines(&plan),
        [
            "Icmp a -> b",
            "Icmp a -> c",
            "Icmp b -> a",
            "Icmp b -> c",
            "Icmp c -> a",
            "Icmp c -> b",
            "Icmp a -> gateway:lan",
            "Icmp b -> gateway:lan",
            "Icmp c -> gateway:lan",
            "Icmp host -> a",
            "Icmp host -> b",
            "Icmp host -> c",
            "Mtu a -> gateway:lan",
            "Mtu b -> gateway:lan",
            "Mtu c -> gateway:lan",
        ]
    );
    // 3 pair tasks (both directions each) and 3 host-side tasks.
    assert_eq!(plan.tasks.len(), 6);
    let mut covered: Vec<usize> = plan.tasks.iter().flat_map(|t| t.probes.clone()).collect();
    covered.sort();
    assert_eq!(
        covered,
        (0..15).collect::<Vec<_>>(),
        "each probe in one task"
    );
    let a_b = plan.tasks.iter().find(|t| t.probes.contains(&0)).unwrap();
    assert_eq!(a_b.probes.len(), 2);
    assert!(a_b.entries.contains(&Entry {
        place: Place::Sandbox(1),
        ifname: "eth0".into(),
        ip: Ipv4Addr::new(10, 9, 0, 3).into()
    }));
    assert_eq!(plan.probes[12].dst, Ipv4Addr::new(10, 9, 0, 1));
    assert!(plan.probes.iter().all(|p| p.family() == Family::Ipv4));
}

#[test]
fn a_stopped_peer_is_reported_not_probed() {
    let nets = [network("lan", 0)];
    let members = [
        member("a", true, &[("lan", 0, 2)]),
        member("z", false, &[("lan", 0, 3)]),
    ];
    let plan = build(&nets, &members, &[]);
    assert_eq!(
        lines(&plan),
        [
            "Icmp a -> z",
            "Icmp a -> gateway:lan",
            "Icmp host -> a",
            "Icmp host -> z",
            "Mtu a -> gateway:lan",
        ]
    );
    let blocked = plan.probes[0].blocked.as_deref().unwrap();
    assert!(
        blocked.starts_with("z is not running (exited)"),
        "{blocked}"
    );
    assert!(plan.probes[3].blocked.is_some());
    assert!(plan.tasks.iter().all(|t| !t.probes.contains(&0)));
}

#[test]
fn a_pair_on_two_networks_is_checked_once_and_each_gateway() {
    let nets = [network("one", 1), network("two", 2)];
    let members = [
        member("a", true, &[("one", 1, 2), ("two", 2, 2)]),
        member("b", true, &[("one", 1, 3), ("two", 2, 3)]),
    ];
    let plan = build(&nets, &members, &[]);
    let all = lines(&plan);
    assert_eq!(all.iter().filter(|l| *l == "Icmp a -> b").count(), 1);
    assert!(all.contains(&"Mtu b -> gateway:two".to_string()));
    assert_eq!(all.len(), 2 + 2 * (2 + 2 + 2));
}

#[test]
fn expectations_resolve_names_and_addresses() {
    let nets = [network("lan", 0)];
    let members = [
        member("a", true, &[("lan", 0, 2)]),
        member("b", true, &[("lan", 0, 3)]),
    ];
    let e = |from: &str, to: &str, reach| Expectation {
        from: from.into(),
        to: to.into(),
        reach,
    };
    let expectations = [
        e("a", "b", false),
        e("a", "gateway:lan", true),
        e("a", "host", true),
        e("a", "nosuch", true),
    ];
    let plan = build(&nets, &members, &expectations);
    let tail = &plan.probes[plan.probes.len() - 4..];
    assert_eq!(tail[0].dst, Ipv4Addr::new(10, 9, 0, 3));
    assert_eq!(
        plan.probes.len(),
        8 + 4,
        "no IPv6 twin on a v4-only network"
    );
    assert!(!tail[0].reach && tail[0].kind == Kind::Expect);
    assert_eq!(tail[1].to, Target::Gateway(0));
    assert_eq!(tail[2].dst, IpAddr::from(Ipv4Addr::new(10, 9, 0, 1)));
    assert!(tail[3].blocked.as_deref().unwrap().contains("nosuch"));
}

/// `network` made dual-stack on fdb4:THIRD::/64, its members' links with
/// `fdb4:THIRD::LAST`.
fn dual(mut net: NetworkRecord, third: u8) -> NetworkRecord {
    net.subnet6 = Some(format!("fdb4:{third}::/64").parse().unwrap());
    net.gateway6 = Some(format!("fdb4:{third}::1").parse().unwrap());
    net
}

fn with_ip6(mut m: Member) -> Member {
    for link in &mut m.links {
        let [_, _, third, last] = link.ip.octets();
        link.ip6 = Some(format!("fdb4:{third}::{last}").parse().unwrap());
    }
    m
}

fn v6(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn a_dual_stack_network_is_checked_over_ipv4_then_ipv6() {
    let nets = [dual(network("lan", 0), 0)];
    let members = [
        with_ip6(member("b", true, &[("lan", 0, 3)])),
        with_ip6(member("a", true, &[("lan", 0, 2)])),
    ];
    let plan = build(&nets, &members, &[]);
    let all = lines(&plan);
    let v4 = [
        "Icmp a -> b",
        "Icmp b -> a",
        "Icmp a -> gateway:lan",
        "Icmp b -> gateway:lan",
        "Icmp host -> a",
        "Icmp host -> b",
        "Mtu a -> gateway:lan",
        "Mtu b -> gateway:lan",
    ];
    assert_eq!(all[..8], v4, "IPv4 first, as on a v4-only network");
    assert_eq!(all[8..], v4, "then the same over IPv6");
    assert!(plan.probes[..8].iter().all(|p| p.family() == Family::Ipv4));
    assert!(plan.probes[8..].iter().all(|p| p.family() == Family::Ipv6));
    assert_eq!(plan.probes[8].dst, v6("fdb4:0::3"), "a -> b");
    assert_eq!(plan.probes[10].dst, v6("fdb4:0::1"), "the IPv6 gateway");
    assert_eq!(plan.probes[15].kind, Kind::Mtu);
    assert_eq!(plan.probes[15].dst, v6("fdb4:0::1"));
    // IPv6's tasks clean IPv6 neighbour entries: a's for b and the
    // gateway, the host's (bridge) for a.
    let task = |probe: usize| {
        plan.tasks
            .iter()
            .find(|t| t.probes.contains(&probe))
            .unwrap()
    };
    let mut both = task(8).probes.clone();
    both.sort();
    assert_eq!(both, [8, 9], "a pair's two ways share a task");
    assert!(task(8).entries.contains(&Entry {
        place: Place::Sandbox(1),
        ifname: "eth0".into(),
        ip: v6("fdb4:0::3"),
    }));
    assert_eq!(
        task(10).entries,
        [
            Entry {
                place: Place::Sandbox(1),
                ifname: "eth0".into(),
                ip: v6("fdb4:0::1"),
            },
            Entry {
                place: Place::Host,
                ifname: "br-lan".into(),
                ip: v6("fdb4:0::2"),
            },
        ]
    );
    let mut covered: Vec<usize> = plan.tasks.iter().flat_map(|t| t.probes.clone()).collect();
    covered.sort();
    assert_eq!(covered, (0..16).collect::<Vec<_>>());
}

#[test]
fn only_dual_stack_networks_get_ipv6_checks() {
    let nets = [network("four", 1), dual(network("both", 2), 2)];
    let members = [
        with_ip6(member("a", true, &[("four", 1, 2), ("both", 2, 2)])),
        with_ip6(member("b", true, &[("four", 1, 3), ("both", 2, 3)])),
    ];
    // A v4-only network's links carry no ip6 even when the sandbox has one
    // elsewhere.
    let members = members.map(|mut m| {
        m.links[0].ip6 = None;
        m
    });
    let plan = build(&nets, &members, &[]);
    let six: Vec<String> = plan
        .probes
        .iter()
        .filter(|p| p.family() == Family::Ipv6)
        .map(|p| format!("{:?} {} -> {}", p.kind, p.from_label, p.to_label))
        .collect();
    assert_eq!(
        six,
        [
            "Icmp a -> b",
            "Icmp b -> a",
            "Icmp a -> gateway:both",
            "Icmp b -> gateway:both",
            "Icmp host -> a",
            "Icmp host -> b",
            "Mtu a -> gateway:both",
            "Mtu b -> gateway:both",
        ]
    );
    // Each pair once per family: on "four" over IPv4 only.
    assert_eq!(
        plan.probes
            .iter()
            .filter(|p| p.from_label == "a" && p.to_label == "b")
            .count(),
        2
    );
}

#[test]
fn a_stopped_peer_blocks_its_ipv6_checks_too() {
    let nets = [dual(network("lan", 0), 0)];
    let members = [
        with_ip6(member("a", true, &[("lan", 0, 2)])),
        with_ip6(member("z", false, &[("lan", 0, 3)])),
    ];
    let plan = build(&nets, &members, &[]);
    let blocked: Vec<(Family, String)> = plan
        .probes
        .iter()
        .filter(|p| p.blocked.is_some())
        .map(|p| (p.family(), format!("{} -> {}", p.from_label, p.to_label)))
        .collect();
    assert_eq!(
        blocked,
        [
            (Family::Ipv4, "a -> z".to_string()),
            (Family::Ipv4, "host -> z".to_string()),
            (Family::Ipv6, "a -> z".to_string()),
            (Family::Ipv6, "host -> z".to_string()),
        ]
    );
}

#[test]
fn expectations_get_an_ipv6_twin_where_both_ends_have_ipv6() {
    let nets = [
        dual(network("one", 1), 1),
        dual(network("two", 2), 2),
        network("old", 3),
    ];
    let members = [
        with_ip6(member("a", true, &[("one", 1, 2)])),
        with_ip6(member("b", true, &[("two", 2, 3)])),
        member("c", true, &[("old", 3, 4)]),
    ];
    let e = |from: &str, to: &str, reach| Expectation {
        from: from.into(),
        to: to.into(),
        reach,
    };
    let expectations = [
        e("a", "b", true),
        e("a", "c", false),
        e("b", "gateway:one", true),
        e("a", "host", true),
        e("host", "b", true),
        e("a", "nosuch", true),
    ];
    let plan = build(&nets, &members, &expectations);
    let tail: Vec<(Family, String)> = plan
        .probes
        .iter()
        .filter(|p| p.kind == Kind::Expect)
        .map(|p| (p.family(), format!("{} -> {}", p.from_label, p.to_label)))
        .collect();
    let four = |t: &str| (Family::Ipv4, t.to_string());
    let six = |t: &str| (Family::Ipv6, t.to_string());
    assert_eq!(
        tail,
        [
            four("a -> b"),
            six("a -> b"),
            four("a -> c"),
            four("b -> gateway:one"),
            six("b -> gateway:one"),
            four("a -> host"),
            six("a -> host"),
            four("host -> b"),
            six("host -> b"),
            four("a -> nosuch"),
        ]
    );
    let twin = |at: usize| {
        let mut expect = plan.probes.iter().filter(|p| p.kind == Kind::Expect);
        expect.nth(at).unwrap().clone()
    };
    // Across networks: routed (no network), to b's IPv6 address.
    assert_eq!(twin(1).dst, v6("fdb4:2::3"));
    assert_eq!(twin(1).network, None);
    assert_eq!(twin(4).dst, v6("fdb4:1::1"));
    assert_eq!(twin(6).dst, v6("fdb4:1::1"), "the host by a's gateway");
    assert_eq!(twin(8).dst, v6("fdb4:2::3"));
    assert!(
        plan.probes
            .iter()
            .all(|p| p.blocked.is_none() || p.family() == Family::Ipv4)
    );
}
