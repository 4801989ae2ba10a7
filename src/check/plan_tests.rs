//! The plan over small made-up networks: order, tasks, blocked checks.
use super::*;
use crate::model::Subnet;

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
        ip: Ipv4Addr::new(10, 9, 0, 3)
    }));
    assert_eq!(plan.probes[12].dst, Ipv4Addr::new(10, 9, 0, 1));
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
    assert!(!tail[0].reach && tail[0].kind == Kind::Expect);
    assert_eq!(tail[1].to, Target::Gateway(0));
    assert_eq!(tail[2].dst, Ipv4Addr::new(10, 9, 0, 1));
    assert!(tail[3].blocked.as_deref().unwrap().contains("nosuch"));
}
