//! Each diagnosis rule over facts as a healthy network has them, with one
//! thing broken at a time.

use super::*;

const A_MAC: [u8; 6] = [0x0a, 0x53, 10, 9, 0, 2];
const B_MAC: [u8; 6] = [0x0a, 0x53, 10, 9, 0, 3];

fn iface(name: &str, mac: &[u8], addrs: &[[u8; 4]], master: Option<&str>) -> Iface {
    Iface {
        name: name.into(),
        up: true,
        mtu: 1500,
        mac: mac.to_vec(),
        addrs: addrs.iter().map(|a| IpAddr::from(*a)).collect(),
        master: master.map(String::from),
        qdisc: None,
        rp_filter: 0,
    }
}

fn sandbox(label: &str, mac: [u8; 6], last: u8) -> Side {
    let ip = Ipv4Addr::new(10, 9, 0, last);
    Side {
        label: label.into(),
        sandbox: true,
        iface: Some(iface("eth0", &mac, &[ip.octets()], None)),
        ifname: "eth0".into(),
        veth: Some(iface(&format!("sbx{label}"), &[2; 6], &[], Some("br0"))),
        veth_name: format!("sbx{label}"),
        ip: ip.into(),
        gateway: Some(Ipv4Addr::new(10, 9, 0, 1).into()),
        mac: mac.to_vec(),
        unguarded: false,
        allowed: vec![(mac, ip.into()), (mac, Ipv4Addr::UNSPECIFIED.into())],
        route: Some(Route::Via {
            ifname: "eth0".into(),
            gateway: None,
        }),
        impaired: Vec::new(),
        impair_asked: None,
    }
}

/// a -> b on bridge br0, everything as sbx made it.
fn healthy() -> PathFacts {
    PathFacts {
        kind: Kind::Icmp,
        family: Family::Ipv4,
        from: sandbox("a", A_MAC, 2),
        to: sandbox("b", B_MAC, 3),
        bridge: Some(iface("br0", &[2, 0, 0, 0, 0, 1], &[[10, 9, 0, 1]], None)),
        bridge_name: "br0".into(),
        bridged: true,
        routed: false,
        partitioned: false,
        forward_drops: Vec::new(),
        br_nf_call: true,
        forwarding: true,
        size: None,
        send_error: None,
        icmp_error: None,
        waited: "2 s".into(),
    }
}

fn foreign(family: &'static str, policy_drop: bool) -> ForwardDrop {
    ForwardDrop {
        family,
        table: "fw".into(),
        chain: "forward".into(),
        policy_drop,
        drop_rules: usize::from(!policy_drop),
    }
}

#[test]
fn nothing_found_says_so_and_what_was_seen() {
    let mut f = healthy();
    assert!(why(&f).starts_with("no answer within 2 s"), "{}", why(&f));
    f.icmp_error = Some("host unreachable (no ARP answer) from 10.9.0.2".into());
    assert!(why(&f).starts_with("host unreachable"));
}

#[test]
fn a_down_interface_is_named_at_either_end_and_at_the_bridge() {
    let mut f = healthy();
    f.to.iface.as_mut().unwrap().up = false;
    assert_eq!(why(&f), "interface eth0 of b is down");
    // Its routes went with it: not a cause of their own.
    f.to.route = Some(Route::Missing("Network is unreachable".into()));
    assert_eq!(why(&f), "interface eth0 of b is down");
    let mut f = healthy();
    f.from.veth.as_mut().unwrap().up = false;
    assert_eq!(why(&f), "the host end sbxa of a's eth0 is down");
    let mut f = healthy();
    f.bridge.as_mut().unwrap().up = false;
    assert_eq!(why(&f), "bridge br0 is down");
    // From the host, the route through a bridge that is down went with it.
    let mut f = healthy();
    f.bridged = false;
    f.from = Side {
        label: "host".into(),
        iface: f.bridge.clone().map(|b| Iface { up: false, ..b }),
        ifname: "br0".into(),
        ip: Ipv4Addr::new(10, 9, 0, 1).into(),
        route: Some(Route::Missing("Network is unreachable".into())),
        ..Side::default()
    };
    f.bridge.as_mut().unwrap().up = false;
    assert_eq!(why(&f), "bridge br0 is down");
    let mut f = healthy();
    f.to.veth.as_mut().unwrap().master = None;
    assert_eq!(why(&f), "b's port sbxb is not on bridge br0");
}

#[test]
fn a_foreign_address_or_mac_is_the_anti_spoofing_filter() {
    let mut f = healthy();
    f.to.iface.as_mut().unwrap().addrs = vec![Ipv4Addr::new(10, 9, 0, 9).into()];
    let text = why(&f);
    assert!(
        text.starts_with("address 10.9.0.9 of b is not its own (anti-spoofing)"),
        "{text}"
    );
    assert!(
        text.contains("b's eth0 lacks its address 10.9.0.3"),
        "{text}"
    );
    // A sandbox allowed to spoof is not filtered.
    f.to.unguarded = true;
    assert!(!why(&f).contains("anti-spoofing"));
    let mut f = healthy();
    f.from.iface.as_mut().unwrap().mac = vec![2, 2, 2, 2, 2, 2];
    assert_eq!(
        why(&f),
        "MAC 02:02:02:02:02:02 of a's eth0 is not its own 0a:53:0a:09:00:02 (anti-spoofing)"
    );
}

#[test]
fn a_missing_or_wrong_route_is_named() {
    let mut f = healthy();
    f.from.route = Some(Route::Missing("Network is unreachable".into()));
    assert_eq!(
        why(&f),
        "a has no route to 10.9.0.3 (Network is unreachable)"
    );
    let mut f = healthy();
    f.to.route = Some(Route::Via {
        ifname: "eth1".into(),
        gateway: None,
    });
    assert_eq!(why(&f), "b's route to 10.9.0.2 goes out eth1, not eth0");
}

#[test]
fn a_partition_names_both_sides_and_the_undo() {
    let mut f = healthy();
    f.partitioned = true;
    assert_eq!(
        why(&f),
        "partition set by sbx between a and b (sbx partition rm a b)"
    );
}

#[test]
fn an_mtu_probe_names_both_values() {
    let mut f = healthy();
    f.kind = Kind::Mtu;
    f.size = Some(1500);
    f.to = Side {
        label: "gateway:lan".into(),
        iface: f.bridge.clone(),
        ifname: "br0".into(),
        ip: Ipv4Addr::new(10, 9, 0, 1).into(),
        ..Side::default()
    };
    f.bridged = false;
    f.from.iface.as_mut().unwrap().mtu = 1400;
    assert_eq!(
        why(&f),
        "MTU mismatch: a's eth0 has MTU 1400, its host end sbxa has 1500: the 1500-byte DF packet did not pass"
    );
}

#[test]
fn another_tables_forward_drop_counts_where_the_path_meets_it() {
    let mut f = healthy();
    f.forward_drops = vec![foreign("inet", true)];
    assert_eq!(
        why(&f),
        "net.bridge.bridge-nf-call-iptables=1 sends bridged traffic through another table's forward hook: table inet fw chain forward has policy drop"
    );
    // Without br_netfilter, bridged frames never meet an inet forward hook.
    f.br_nf_call = false;
    assert!(why(&f).starts_with("no answer"));
    // A bridge-family forward chain sees them anyway.
    f.forward_drops = vec![foreign("bridge", false)];
    assert_eq!(
        why(&f),
        "another table's forward hook drops: table bridge fw chain forward has 1 drop rule(s)"
    );
    // A hard cause outranks it.
    f.to.iface.as_mut().unwrap().up = false;
    assert_eq!(why(&f), "interface eth0 of b is down");
}

#[test]
fn forwarding_off_matters_for_routed_paths_only() {
    let mut f = healthy();
    f.forwarding = false;
    assert!(why(&f).starts_with("no answer"), "bridged: not needed");
    f.routed = true;
    f.bridged = false;
    assert_eq!(
        why(&f),
        "net.ipv4.ip_forward=0 on the host: traffic routed between networks is dropped"
    );
}

#[test]
fn strict_rp_filter_matters_where_the_way_back_differs() {
    let mut f = healthy();
    f.to.iface.as_mut().unwrap().rp_filter = 1;
    assert!(why(&f).starts_with("no answer"), "symmetric: harmless");
    f.routed = true;
    f.to.route = Some(Route::Via {
        ifname: "eth1".into(),
        gateway: Some(Ipv4Addr::new(10, 8, 0, 1).into()),
    });
    assert_eq!(
        why(&f),
        "strict rp_filter (net.ipv4.conf.eth0.rp_filter=1) on b: its route back to 10.9.0.2 goes out eth1"
    );
    // On one network: the rp_filter is the cause, not the route as such.
    f.routed = false;
    f.to.route = Some(Route::Via {
        ifname: "eth1".into(),
        gateway: None,
    });
    assert_eq!(
        why(&f),
        "strict rp_filter (net.ipv4.conf.eth0.rp_filter=1) on b: its route back to 10.9.0.2 goes out eth1"
    );
    // Loose mode (2) accepts any route back.
    f.to.iface.as_mut().unwrap().rp_filter = 2;
    assert_eq!(why(&f), "b's route to 10.9.0.2 goes out eth1, not eth0");
}

#[test]
fn an_impairment_is_named_with_its_qdisc() {
    let mut f = healthy();
    f.to.veth.as_mut().unwrap().qdisc = Some("netem".into());
    assert_eq!(
        why(&f),
        "impairment set by sbx on b's eth0 (netem on sbxb; see 'sbx impair show b')"
    );
}

#[test]
fn an_impairment_says_what_was_asked_and_where_the_kernel_holds_it() {
    let mut f = healthy();
    f.from.impaired = vec!["loss chains loss-in-sbxa, loss-out-sbxa".into()];
    f.from.impair_asked = Some("loss 30%".into());
    assert_eq!(
        why(&f),
        "impairment set by sbx on a's eth0 (loss 30%: loss chains loss-in-sbxa, loss-out-sbxa; see 'sbx impair show a')"
    );
}

// IPv6 (issue 15): the same rules over IPv6 facts.

fn v6(text: &str) -> IpAddr {
    text.parse().expect("an IPv6 address")
}

fn sandbox6(label: &str, mac: [u8; 6], last: &str) -> Side {
    let ip = v6(&format!("fdb4:9::{last}"));
    let mut side = sandbox(label, mac, 2);
    side.ip = ip;
    side.gateway = Some(v6("fdb4:9::1"));
    side.iface.as_mut().unwrap().addrs = vec![ip];
    side.allowed = vec![(mac, ip)];
    side
}

/// a -> b over IPv6 on bridge br0, everything as sbx made it.
fn healthy6() -> PathFacts {
    let mut f = healthy();
    f.family = Family::Ipv6;
    f.from = sandbox6("a", A_MAC, "2");
    f.to = sandbox6("b", B_MAC, "3");
    f.bridge.as_mut().unwrap().addrs = vec![v6("fdb4:9::1")];
    f
}

#[test]
fn ipv6_a_missing_address_is_named() {
    let f = healthy6();
    assert!(why(&f).starts_with("no answer"), "{}", why(&f));
    let mut f = healthy6();
    f.to.iface.as_mut().unwrap().addrs.clear();
    assert_eq!(why(&f), "b's eth0 lacks its address fdb4:9::3");
}

#[test]
fn ipv6_a_missing_default_route_is_named_on_a_routed_path() {
    let mut f = healthy6();
    f.routed = true;
    f.bridged = false;
    f.to = sandbox6("b", B_MAC, "3");
    f.to.ip = v6("fdb4:8::3");
    f.to.iface.as_mut().unwrap().addrs = vec![v6("fdb4:8::3")];
    f.to.allowed = vec![(B_MAC, v6("fdb4:8::3"))];
    f.from.route = Some(Route::Missing("Network is unreachable".into()));
    assert_eq!(
        why(&f),
        "a has no route to fdb4:8::3 (Network is unreachable): its default route via fdb4:9::1 is missing"
    );
    // On one network the on-link route is what is missing.
    let mut f = healthy6();
    f.from.route = Some(Route::Missing("Network is unreachable".into()));
    assert_eq!(
        why(&f),
        "a has no route to fdb4:9::3 (Network is unreachable)"
    );
}

#[test]
fn ipv6_meets_ip6_inet_and_bridge_tables_but_not_ip_ones() {
    let mut f = healthy6();
    f.forward_drops = vec![foreign("ip", true)];
    assert!(
        why(&f).starts_with("no answer"),
        "an ip table never sees IPv6"
    );
    f.forward_drops = vec![foreign("ip6", true)];
    assert_eq!(
        why(&f),
        "net.bridge.bridge-nf-call-ip6tables=1 sends bridged traffic through another table's forward hook: table ip6 fw chain forward has policy drop"
    );
    f.forward_drops = vec![foreign("inet", false)];
    assert!(why(&f).ends_with("table inet fw chain forward has 1 drop rule(s)"));
    // Without bridge-nf-call-ip6tables, bridged IPv6 meets no ip6 hook.
    f.br_nf_call = false;
    assert!(why(&f).starts_with("no answer"));
    f.routed = true;
    f.bridged = false;
    f.forward_drops = vec![foreign("ip6", false)];
    assert_eq!(
        why(&f),
        "another table's forward hook drops: table ip6 fw chain forward has 1 drop rule(s)"
    );
    // And over IPv4 an ip6 table is never the cause.
    let mut f = healthy();
    f.forward_drops = vec![foreign("ip6", true)];
    assert!(why(&f).starts_with("no answer"));
}

#[test]
fn ipv6_forwarding_off_names_the_ipv6_sysctl() {
    let mut f = healthy6();
    f.forwarding = false;
    assert!(why(&f).starts_with("no answer"), "bridged: not needed");
    f.routed = true;
    f.bridged = false;
    assert_eq!(
        why(&f),
        "net.ipv6.conf.all.forwarding=0 on the host: traffic routed between networks is dropped"
    );
}

#[test]
fn ipv6_an_address_not_its_own_is_the_anti_spoofing_filter() {
    let mut f = healthy6();
    f.from.iface.as_mut().unwrap().addrs = vec![v6("fdb4:9::99")];
    let text = why(&f);
    assert!(
        text.starts_with(
            "address fdb4:9::99 of a is not its own (anti-spoofing): its port lets only fdb4:9::2 through"
        ),
        "{text}"
    );
    f.from.unguarded = true;
    assert!(!why(&f).contains("anti-spoofing"));
}

#[test]
fn ipv6_mtu_partition_and_impairment_read_as_over_ipv4() {
    let mut f = healthy6();
    f.kind = Kind::Mtu;
    f.size = Some(1500);
    f.from.iface.as_mut().unwrap().mtu = 1400;
    assert_eq!(
        why(&f),
        "MTU mismatch: a's eth0 has MTU 1400, its host end sbxa has 1500: the 1500-byte DF packet did not pass"
    );
    let mut f = healthy6();
    f.partitioned = true;
    assert_eq!(
        why(&f),
        "partition set by sbx between a and b (sbx partition rm a b)"
    );
    let mut f = healthy6();
    f.to.veth.as_mut().unwrap().qdisc = Some("tbf".into());
    assert_eq!(
        why(&f),
        "impairment set by sbx on b's eth0 (tbf on sbxb; see 'sbx impair show b')"
    );
    let mut f = healthy6();
    f.to.iface.as_mut().unwrap().up = false;
    assert_eq!(why(&f), "interface eth0 of b is down");
}
