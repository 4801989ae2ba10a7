//! SPEC "Trust": isolation between networks and anti-spoofing, with real
//! namespaces, bridges and nf_tables sets. Each test proves the filter is
//! what stops the traffic by showing the same traffic passing where the
//! filter does not apply (a sandbox with --allow-spoofing, or the gateway).

mod common;
use common::*;

/// `sbx exec NAME -- sh -c SCRIPT` succeeded.
fn exec_ok(env: &TestEnv, name: &str, script: &str) -> bool {
    env.sbx(&["exec", name, "--", "sh", "-c", script])
        .status
        .success()
}

/// The MAC the neighbour table of netns `ns` holds for `ip` (if any).
fn neighbour_mac(ns: &str, ip: &str) -> Option<String> {
    let out = text(&host("ip", &["-n", ns, "neigh", "show", ip]).stdout);
    let words: Vec<&str> = out.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "lladdr")?;
    words.get(at + 1).map(|w| w.to_string())
}

#[test]
fn sandboxes_of_two_networks_cannot_reach_each_other_but_reach_every_gateway() {
    let mut env = TestEnv::new("iso");
    let a = env.network(
        "tst-isoa",
        &["--subnet", "10.216.0.0/24", "--bridge", "tstb-isoa"],
    );
    let b = env.network(
        "tst-isob",
        &["--subnet", "10.216.1.0/24", "--bridge", "tstb-isob"],
    );
    let sleep = ["--", "sleep", "120"];
    let on = |net: &str, ip: &'static str| -> Vec<String> {
        ["--network", net, "--ip", ip]
            .iter()
            .chain(sleep.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let args_a = on(&a, "10.216.0.10");
    let args_b = on(&b, "10.216.1.10");
    env.detach(
        "tst-isoa1",
        &args_a.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    );
    env.detach(
        "tst-isob1",
        &args_b.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    );

    // Each reaches its own gateway and the other network's (host addresses).
    assert!(ping(Some("sbx-tst-isoa1"), "10.216.0.1"));
    assert!(ping(Some("sbx-tst-isoa1"), "10.216.1.1"));
    assert!(ping(Some("sbx-tst-isob1"), "10.216.0.1"));
    // Neither reaches the other sandbox: the host does not forward between
    // sbx bridges, either way.
    assert!(!ping(Some("sbx-tst-isoa1"), "10.216.1.10"));
    assert!(!ping(Some("sbx-tst-isob1"), "10.216.0.10"));

    // What stops it is sbx's isolation rule: with it gone, they reach.
    let listing = text(&host("nft", &["list", "set", "ip", "sbx", "same"]).stdout);
    assert!(
        listing.contains("\"tstb-isoa\" . \"tstb-isoa\""),
        "{listing}"
    );
    let out = host(
        "nft",
        &[
            "delete",
            "element",
            "ip",
            "sbx",
            "bridges",
            "{ \"tstb-isob\" }",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(ping(Some("sbx-tst-isoa1"), "10.216.1.10"));
    // `network create` (here of a third network) writes the elements of
    // its own bridge only; removing the networks leaves no element behind.
    env.ok(&["rm", "-f", "tst-isoa1", "tst-isob1"]);
    env.ok(&["network", "rm", &a]);
    let listing = text(&host("nft", &["list", "table", "ip", "sbx"]).stdout);
    assert!(!listing.contains("tstb-isoa"), "{listing}");
}

#[test]
fn a_sandbox_cannot_take_a_neighbours_address_or_change_its_mac() {
    let mut env = TestEnv::new("spoof");
    let net = env.network(
        "tst-spoof",
        &["--subnet", "10.216.2.0/24", "--bridge", "tstb-spoof"],
    );
    let run = |name: &str, ip: &str, extra: &[&str]| {
        let mut args = vec!["--network", net.as_str(), "--ip", ip];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "sleep", "120"]);
        env.detach(name, &args);
    };
    run("tst-spfv", "10.216.2.10", &[]);
    run("tst-spfo", "10.216.2.30", &[]);
    run("tst-spfm", "10.216.2.20", &["--cap-add", "NET_ADMIN"]);
    run(
        "tst-spfr",
        "10.216.2.40",
        &["--cap-add", "NET_ADMIN", "--allow-spoofing"],
    );
    assert!(
        ping(Some("sbx-tst-spfm"), "10.216.2.30"),
        "honest traffic passes"
    );
    let victim_mac = env.inspect("tst-spfv")["network"]["mac"]
        .as_str()
        .expect("mac in inspect")
        .to_string();

    // Takeover: the attacker adds the victim's address and pings from it.
    for (name, spoofer) in [("tst-spfm", false), ("tst-spfr", true)] {
        assert!(exec_ok(&env, name, "ip addr add 10.216.2.10/32 dev eth0"));
        let from_victim = exec_ok(
            &env,
            name,
            "ping -c1 -W2 -I 10.216.2.10 10.216.2.30 >/dev/null",
        );
        assert_eq!(
            from_victim, spoofer,
            "{name}: ping from a neighbour's address"
        );
        let poisoned =
            neighbour_mac("sbx-tst-spfo", "10.216.2.10").is_some_and(|mac| mac != victim_mac);
        assert_eq!(poisoned, spoofer, "{name}: the observer's ARP cache");
        assert!(exec_ok(&env, name, "ip addr del 10.216.2.10/32 dev eth0"));
        let _ = host(
            "ip",
            &["-n", "sbx-tst-spfo", "neigh", "flush", "dev", "eth0"],
        );
    }

    // A changed MAC with its own address: dropped too, unless trusted.
    for (name, ip, spoofer) in [
        ("tst-spfm", "10.216.2.20", false),
        ("tst-spfr", "10.216.2.40", true),
    ] {
        assert!(exec_ok(
            &env,
            name,
            "ip link set eth0 down && ip link set eth0 address 0a:53:01:02:03:04 && ip link set eth0 up"
        ));
        let reached = exec_ok(&env, name, "ping -c1 -W2 10.216.2.30 >/dev/null");
        assert_eq!(reached, spoofer, "{name} ({ip}) with a forged MAC");
    }

    // A gratuitous ARP announcement (RFC 5227: a request whose sender and
    // target address are the victim's) with a forged sender MAC: no cache
    // takes it, unless the sender is trusted.
    let garp = r#"
import socket, struct
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
mac = bytes.fromhex("0a5301020304"); ip = socket.inet_aton("10.216.2.10")
arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, ip, b"\0"*6, ip)
for _ in range(3): s.send(b"\xff"*6 + mac + b"\x08\x06" + arp)
"#;
    let _ = host(
        "ip",
        &[
            "-n",
            "sbx-tst-spfo",
            "neigh",
            "replace",
            "10.216.2.10",
            "lladdr",
            &victim_mac,
            "dev",
            "eth0",
            "nud",
            "stale",
        ],
    );
    for (name, spoofer) in [("tst-spfm", false), ("tst-spfr", true)] {
        let out = host(
            "ip",
            &[
                "netns",
                "exec",
                &format!("sbx-{name}"),
                "python3",
                "-c",
                garp,
            ],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        std::thread::sleep(std::time::Duration::from_millis(300));
        let cached = neighbour_mac("sbx-tst-spfo", "10.216.2.10");
        let poisoned = cached.as_deref() == Some("0a:53:01:02:03:04");
        assert_eq!(poisoned, spoofer, "{name}: gratuitous ARP left {cached:?}");
    }

    // The elements go with the sandboxes.
    env.ok(&["rm", "-f", "tst-spfv", "tst-spfo", "tst-spfm", "tst-spfr"]);
    let listing = text(&host("nft", &["list", "table", "bridge", "sbx"]).stdout);
    assert!(!listing.contains("10.216.2."), "{listing}");
}

/// `/etc/hosts` as sandbox `name` sees it.
fn hosts_of(env: &TestEnv, name: &str) -> String {
    text(&env.sbx(&["exec", name, "--", "cat", "/etc/hosts"]).stdout)
}

#[test]
fn names_appear_and_disappear_in_every_neighbours_hosts_file() {
    let mut env = TestEnv::new("names");
    let net = env.network(
        "tst-names",
        &["--subnet", "10.216.3.0/24", "--bridge", "tstb-names"],
    );
    let run = |name: &str, ip: &str, extra: &[&str]| {
        let mut args = vec!["--network", net.as_str(), "--ip", ip];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "sleep", "120"]);
        env.detach(name, &args);
    };
    run("tst-nama", "10.216.3.10", &[]);
    run("tst-namb", "10.216.3.20", &["--hostname", "bee.lab"]);
    // The first one learns of the second, started after it.
    let a = hosts_of(&env, "tst-nama");
    assert!(a.contains("10.216.3.20\tbee.lab bee tst-namb\n"), "{a}");
    assert!(a.contains("10.216.3.10\ttst-nama\n"), "{a}");
    assert!(
        exec_ok(&env, "tst-nama", "ping -c1 -W2 tst-namb >/dev/null"),
        "the name resolves and answers"
    );
    let b = hosts_of(&env, "tst-namb");
    assert!(b.contains("10.216.3.10\ttst-nama\n"), "{b}");
    // A sandbox cannot rename its neighbours.
    assert!(!exec_ok(
        &env,
        "tst-namb",
        "echo '10.216.3.99 tst-nama' >> /etc/hosts"
    ));
    // A foreground run joins and leaves too.
    let out = env.ok(&[
        "run",
        "--network",
        &net,
        "--name",
        "tst-namc",
        "--",
        "cat",
        "/etc/hosts",
    ]);
    assert!(
        out.contains("tst-nama") && out.contains("tst-namc"),
        "{out}"
    );
    // Leaving: gone from the others' file at once.
    env.ok(&["rm", "-f", "tst-namb"]);
    let a = hosts_of(&env, "tst-nama");
    assert!(!a.contains("tst-namb") && !a.contains("tst-namc"), "{a}");
    // A sandbox on no network keeps a file of its own.
    let alone = env.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "tst-namd",
        "--",
        "cat",
        "/etc/hosts",
    ]);
    assert!(
        alone.contains("127.0.1.1\ttst-namd\n") && !alone.contains("tst-nama"),
        "{alone}"
    );
    env.ok(&["rm", "-f", "tst-nama"]);
}

#[test]
fn a_sandbox_on_two_networks_reaches_both_and_knows_both_neighbourhoods() {
    let mut env = TestEnv::new("multi");
    let a = env.network(
        "tst-mula",
        &["--subnet", "10.216.4.0/24", "--bridge", "tstb-mula"],
    );
    let b = env.network(
        "tst-mulb",
        &["--subnet", "10.216.5.0/24", "--bridge", "tstb-mulb"],
    );
    env.detach("tst-mua", &["--network", &a, "--", "sleep", "120"]);
    env.detach("tst-mub", &["--network", &b, "--", "sleep", "120"]);
    let long = format!("name={b},ip=10.216.5.50");
    env.detach(
        "tst-muboth",
        &[
            "--network",
            &a,
            "--ip",
            "10.216.4.40",
            "--network",
            &long,
            "--",
            "sleep",
            "120",
        ],
    );
    let inside = env.ok(&[
        "exec",
        "tst-muboth",
        "--",
        "sh",
        "-c",
        "ip -o -4 addr show; ip route show default",
    ]);
    assert!(inside.contains("eth0    inet 10.216.4.40/24"), "{inside}");
    assert!(inside.contains("eth1    inet 10.216.5.50/24"), "{inside}");
    assert!(
        inside.contains("default via 10.216.4.1 dev eth0"),
        "{inside}"
    );
    assert!(!inside.contains("default via 10.216.5.1"), "{inside}");
    // It reaches both, by name; each network still cannot reach the other.
    assert!(exec_ok(
        &env,
        "tst-muboth",
        "ping -c1 -W2 tst-mua >/dev/null"
    ));
    assert!(exec_ok(
        &env,
        "tst-muboth",
        "ping -c1 -W2 tst-mub >/dev/null"
    ));
    assert!(!ping(Some("sbx-tst-mua"), "10.216.5.2"));
    let both = hosts_of(&env, "tst-muboth");
    assert!(
        both.contains("10.216.4.2\ttst-mua\n") && both.contains("10.216.5.2\ttst-mub\n"),
        "{both}"
    );
    assert!(hosts_of(&env, "tst-mub").contains("10.216.5.50\ttst-muboth\n"));
    assert!(
        !hosts_of(&env, "tst-mua").contains("\ttst-mub\n"),
        "no leak across networks"
    );
    // Its own file is read-only too.
    assert!(!exec_ok(
        &env,
        "tst-muboth",
        "echo '10.216.4.99 x' >> /etc/hosts"
    ));
    // Its own file follows a join on either network.
    env.detach("tst-mua2", &["--network", &a, "--", "sleep", "120"]);
    assert!(hosts_of(&env, "tst-muboth").contains("tst-mua2"));
    // ps lists both networks; inspect has each interface.
    let row = env.ok(&["ps"]);
    let row = row.lines().find(|l| l.starts_with("tst-muboth")).unwrap();
    assert!(
        row.contains("tst-mula,tst-mulb") && row.contains("10.216.4.40,10.216.5.50"),
        "{row}"
    );
    let info = env.inspect("tst-muboth");
    assert_eq!(info["networks"][1]["veth_sandbox"], "eth1");
    assert_eq!(info["network"]["ip"], "10.216.4.40");
    // Leaving frees both addresses and both lines.
    env.ok(&["rm", "-f", "tst-muboth"]);
    assert!(!hosts_of(&env, "tst-mub").contains("tst-muboth"));
    env.detach("tst-muagain", &["--network", &long, "--", "sleep", "1"]);
    env.ok(&["rm", "-f", "tst-mua", "tst-mub", "tst-mua2", "tst-muagain"]);
}

#[test]
fn network_connect_and_disconnect_change_a_running_sandboxs_interfaces() {
    let mut env = TestEnv::new("connect");
    let a = env.network(
        "tst-cona",
        &["--subnet", "10.216.6.0/24", "--bridge", "tstb-cona"],
    );
    let b = env.network(
        "tst-conb",
        &["--subnet", "10.216.7.0/24", "--bridge", "tstb-conb"],
    );
    env.detach("tst-conx", &["--network", &a, "--", "sleep", "120"]);
    env.detach("tst-cony", &["--network", &b, "--", "sleep", "120"]);
    assert!(!exec_ok(
        &env,
        "tst-conx",
        "ping -c1 -W1 10.216.7.2 >/dev/null"
    ));

    env.ok(&["network", "connect", "--ip", "10.216.7.70", &b, "tst-conx"]);
    let inside = env.ok(&[
        "exec",
        "tst-conx",
        "--",
        "sh",
        "-c",
        "ip -o -4 addr show; ip route show default",
    ]);
    assert!(inside.contains("eth1    inet 10.216.7.70/24"), "{inside}");
    assert!(
        inside.contains("default via 10.216.6.1 dev eth0"),
        "the default route stays: {inside}"
    );
    assert!(
        exec_ok(&env, "tst-conx", "ping -c1 -W2 tst-cony >/dev/null"),
        "names and reach"
    );
    assert!(hosts_of(&env, "tst-cony").contains("10.216.7.70\ttst-conx\n"));
    assert!(hosts_of(&env, "tst-conx").contains("10.216.6.2\ttst-conx\n"));
    let info = env.inspect("tst-conx");
    assert_eq!(info["networks"][1]["name"], "tst-conb");
    // Errors: already on it, not on it, unknown network, not running.
    let refused = |args: &[&str], says: &str| {
        let out = env.sbx(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    };
    refused(
        &["network", "connect", &b, "tst-conx"],
        "already on network",
    );
    refused(
        &["network", "connect", "tst-nonet", "tst-conx"],
        "not found",
    );
    refused(
        &["network", "disconnect", "tst-nonet", "tst-cony"],
        "not on network",
    );

    env.ok(&["network", "disconnect", &b, "tst-conx"]);
    let inside = env.ok(&["exec", "tst-conx", "--", "ip", "-o", "-4", "addr", "show"]);
    assert!(!inside.contains("eth1"), "{inside}");
    assert!(!hosts_of(&env, "tst-cony").contains("tst-conx"));
    assert!(!hosts_of(&env, "tst-conx").contains("tst-cony"));
    // Its address on b is free again.
    env.detach(
        "tst-conz",
        &["--network", &b, "--ip", "10.216.7.70", "--", "sleep", "120"],
    );
    // Leaving its first network, a sandbox keeps a way out through its
    // next one; a sandbox of no network gets its route from its first.
    env.ok(&["network", "connect", &b, "tst-conx"]);
    env.ok(&["network", "disconnect", &a, "tst-conx"]);
    let route = env.ok(&["exec", "tst-conx", "--", "ip", "route", "show", "default"]);
    assert!(route.contains("default via 10.216.7.1"), "{route}");
    env.ok(&["network", "disconnect", &b, "tst-conx"]);
    env.ok(&["network", "connect", &a, "tst-conx"]);
    let route = env.ok(&["exec", "tst-conx", "--", "ip", "route", "show", "default"]);
    assert!(route.contains("default via 10.216.6.1"), "{route}");
    // A connected sandbox's extra link goes when it ends, too.
    env.ok(&["network", "connect", &b, "tst-conx"]);
    env.ok(&["rm", "-f", "tst-conx"]);
    let leases = env.root.join("leases").join(&b);
    let held = list(&leases);
    assert_eq!(
        held.iter().filter(|l| !l.starts_with('=')).count(),
        2,
        "{held:?}"
    );
    env.ok(&["rm", "-f", "tst-cony", "tst-conz"]);
}

/// A namespace wired to an sbx bridge by hand, through a port named like
/// sbx's own (`sbx*`), removed on drop.
struct HandPort {
    netns: &'static str,
    port: &'static str,
}

impl Drop for HandPort {
    fn drop(&mut self) {
        let _ = host("ip", &["link", "del", self.port]);
        let _ = host("ip", &["netns", "del", self.netns]);
    }
}

#[test]
fn a_port_sbx_did_not_guard_is_left_alone() {
    let mut env = TestEnv::new("unguard");
    let net = env.network(
        "tst-ugd",
        &["--subnet", "10.216.8.0/24", "--bridge", "tstb-ugd"],
    );
    env.detach("tst-ugdsb", &["--network", &net, "--", "sleep", "120"]);
    // As a sandbox an older sbx launched would be: on the bridge, named
    // like sbx's ports, with no element in the anti-spoofing sets.
    let hand = HandPort {
        netns: "tst-ugdns",
        port: "sbxugd00001",
    };
    let steps: [&[&str]; 6] = [
        &["netns", "add", hand.netns],
        &[
            "link", "add", hand.port, "type", "veth", "peer", "name", "eth0", "netns", hand.netns,
        ],
        &["link", "set", hand.port, "master", "tstb-ugd", "up"],
        &[
            "-n",
            hand.netns,
            "addr",
            "add",
            "10.216.8.99/24",
            "dev",
            "eth0",
        ],
        &["-n", hand.netns, "link", "set", "eth0", "up"],
        &["-n", hand.netns, "link", "set", "lo", "up"],
    ];
    for step in steps {
        let out = host("ip", step);
        assert!(out.status.success(), "ip {step:?}: {}", text(&out.stderr));
    }
    assert!(
        wait_until(5, || ping(Some(hand.netns), "10.216.8.2")),
        "its traffic still flows"
    );
    drop(hand);
    env.ok(&["rm", "-f", "tst-ugdsb"]);
}
