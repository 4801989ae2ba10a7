use super::*;

fn sample() -> Graph {
    let iface = |ifname: &str, network: &str, ip: &str| {
        let (ip, ip6) = match ip.split_once(',') {
            Some((v4, v6)) => (v4, Some(v6.to_string())),
            None => (ip, None),
        };
        Iface {
            ifname: ifname.into(),
            network: network.into(),
            ip: ip.into(),
            ip6,
            impair: None,
        }
    };
    Graph {
        title: "lab seed000".into(),
        networks: vec![
            Net {
                name: "br0".into(),
                bridge: "br0".into(),
                subnet: "172.16.0.0/24".into(),
                gateway: "172.16.0.1".into(),
                subnet6: None,
                gateway6: None,
            },
            Net {
                name: "wan".into(),
                bridge: "wanbr".into(),
                subnet: "10.250.0.0/24".into(),
                gateway: "10.250.0.1".into(),
                subnet6: Some("fd42:250::/64".into()),
                gateway6: Some("fd42:250::1".into()),
            },
        ],
        sandboxes: vec![
            Node {
                name: "netns1".into(),
                status: "running".into(),
                interfaces: vec![
                    iface("eth0", "br0", "172.16.0.2"),
                    iface("eth1", "wan", "10.250.0.9,fd42:250::9"),
                ],
            },
            Node {
                name: "netns2".into(),
                status: "running".into(),
                interfaces: vec![iface("eth0", "br0", "172.16.0.3")],
            },
            Node {
                name: "lonely".into(),
                status: "exited".into(),
                interfaces: vec![],
            },
        ],
    }
}

#[test]
fn text_draws_each_network_with_its_sandboxes() {
    let out = render(&sample(), Format::Text).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "lab seed000");
    assert_eq!(lines[1], format!("┌{}┐", "─".repeat(52)));
    assert_eq!(
        lines[2],
        "│ br0: bridge br0, 172.16.0.0/24, gateway 172.16.0.1 │"
    );
    assert_eq!(lines[3], format!("└─┬{}┘", "─".repeat(50)));
    assert_eq!(lines[4], "  ├── eth0 172.16.0.2 ── netns1 (running)");
    assert_eq!(lines[5], "  └── eth0 172.16.0.3 ── netns2 (running)");
    assert!(
        out.contains("  └── eth1 10.250.0.9,fd42:250::9 ── netns1 (running)"),
        "{out}"
    );
    assert!(
        out.contains(
            "│ wan: bridge wanbr, 10.250.0.0/24, gateway 10.250.0.1, fd42:250::/64, gateway6 fd42:250::1 │"
        ),
        "{out}"
    );
    assert!(
        out.contains("no network (loopback only): lonely (exited)"),
        "{out}"
    );
    // Every box line is as wide as its top.
    for block in out.lines().collect::<Vec<_>>().windows(2) {
        if block[0].starts_with('┌') {
            assert_eq!(block[0].chars().count(), block[1].chars().count(), "{out}");
        }
    }
}

#[test]
fn dot_has_a_node_per_network_and_sandbox_and_an_edge_per_interface() {
    let out = render(&sample(), Format::Dot).unwrap();
    assert!(out.starts_with("graph \"lab seed000\" {"), "{out}");
    assert!(out.trim_end().ends_with('}'), "{out}");
    for node in [
        "\"network br0\" [shape=box",
        "\"network wan\" [shape=box",
        "\"sandbox netns1\" [shape=ellipse",
        "\"sandbox lonely\"",
    ] {
        assert!(out.contains(node), "{node}: {out}");
    }
    assert!(
        out.contains(
            "\"sandbox netns1\" -- \"network wan\" [label=\"eth1 10.250.0.9,fd42:250::9\"];"
        ),
        "{out}"
    );
    assert_eq!(out.matches(" -- ").count(), 3, "{out}");
    assert!(out.contains("172.16.0.0/24\\ngateway 172.16.0.1"), "{out}");
}

#[test]
fn json_has_the_spec_keys() {
    let out = render(&sample(), Format::Json).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["networks"][1]["bridge"], "wanbr");
    assert_eq!(v["networks"][0]["gateway"], "172.16.0.1");
    assert_eq!(v["sandboxes"][0]["interfaces"][1]["ip"], "10.250.0.9");
    assert_eq!(v["sandboxes"][0]["interfaces"][1]["ip6"], "fd42:250::9");
    assert!(v["sandboxes"][0]["interfaces"][0].get("ip6").is_none());
    assert_eq!(v["networks"][1]["subnet6"], "fd42:250::/64");
    assert!(v["networks"][0].get("subnet6").is_none());
    assert_eq!(v["sandboxes"][0]["interfaces"][1]["network"], "wan");
    assert_eq!(v["sandboxes"][2]["status"], "exited");
    assert!(v["sandboxes"][0]["interfaces"][0].get("impair").is_none());
}
