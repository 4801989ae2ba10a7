//! `sbx impair` (SPEC "Impairments and partitions") against real kernel
//! objects: a rate caps TCP both ways (iperf3 between two sandboxes), loss
//! drops about half of the pings' round trips, `clear` restores both, the
//! options needing netem are refused cleanly on a kernel without it, and
//! an ending sandbox takes its loss rules with it.

mod common;
use common::*;

/// The host-side veth of a sandbox's interface `n` (0: eth0).
fn veth(env: &TestEnv, name: &str, n: usize) -> String {
    let info = env.inspect(name);
    info["networks"][n]["veth_host"]
        .as_str()
        .expect("veth_host")
        .to_string()
}

/// `tc qdisc show dev DEV`, on the host or in netns `ns`.
fn qdisc(ns: Option<&str>, dev: &str) -> String {
    let out = match ns {
        Some(ns) => host(
            "ip",
            &["netns", "exec", ns, "tc", "qdisc", "show", "dev", dev],
        ),
        None => host("tc", &["qdisc", "show", "dev", dev]),
    };
    assert!(out.status.success(), "tc: {}", text(&out.stderr));
    text(&out.stdout)
}

/// Throughput (Mbit/s) of a 2 s iperf3 transfer from sandbox `client` to
/// the server at `server_ip` (`reverse`: from the server to the client).
/// `iperf3 -s` serves one test at a time and may still be closing the last
/// one when the next begins ("the server is busy"): such a run is retried.
fn mbits(env: &TestEnv, client: &str, server_ip: &str, reverse: bool) -> f64 {
    let mut args = vec![
        "exec", client, "--", "iperf3", "-c", server_ip, "-t", "2", "-J",
    ];
    if reverse {
        args.push("-R");
    }
    let mut last = String::new();
    for _ in 0..10 {
        let out = env.sbx(&args);
        last = text(&out.stdout);
        let report: serde_json::Value = serde_json::from_str(&last).unwrap_or_default();
        if let Some(bits) = report["end"]["sum_received"]["bits_per_second"].as_f64() {
            return bits / 1e6;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    panic!("iperf3 gave no throughput after 10 tries; last report: {last}")
}

/// The percentage of lost round trips of `count` pings from `from` to `to`.
fn lost(env: &TestEnv, from: &str, to: &str, count: &str) -> f64 {
    let out = env.sbx(&[
        "exec", from, "--", "ping", "-q", "-c", count, "-i", "0.01", "-W", "1", to,
    ]);
    let report = text(&out.stdout);
    let line = report
        .lines()
        .find(|l| l.contains("packet loss"))
        .unwrap_or_else(|| panic!("no summary from ping: {report}"));
    let field = line
        .split(',')
        .find(|f| f.contains("packet loss"))
        .expect("loss field");
    field
        .trim()
        .split('%')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable loss: {line}"))
}

/// Makes `a` and `b` (sandbox name, address) know each other's MAC for
/// good, so that the loss measured is that of the pings alone: the loss
/// rules drop ARP too, and a lost ARP exchange stalls every ping queued
/// behind it (the round trips would look far more lost than 1 - 0.7²).
fn pin_neighbours(a: (&str, &str), b: (&str, &str)) {
    let mac = |name: &str| {
        let out = host(
            "ip",
            &[
                "netns",
                "exec",
                &format!("sbx-{name}"),
                "cat",
                "/sys/class/net/eth0/address",
            ],
        );
        text(&out.stdout).trim().to_string()
    };
    for ((me, _), (peer, peer_ip)) in [(a, b), (b, a)] {
        let out = host(
            "ip",
            &[
                "netns",
                "exec",
                &format!("sbx-{me}"),
                "ip",
                "neigh",
                "replace",
                peer_ip,
                "lladdr",
                &mac(peer),
                "dev",
                "eth0",
                "nud",
                "permanent",
            ],
        );
        assert!(out.status.success(), "ip neigh: {}", text(&out.stderr));
    }
}

/// `nft list table bridge sbx` (empty when there is none).
fn bridge_table() -> String {
    text(&host("nft", &["list", "table", "bridge", "sbx"]).stdout)
}

#[test]
fn a_rate_caps_tcp_both_ways_and_clear_restores_it() {
    let mut env = TestEnv::new("imprate");
    let net = env.network("tst-imprate", &["--subnet", "10.229.0.0/24"]);
    env.detach("tst-impra", &["--network", &net, "--", "sleep", "300"]);
    env.detach("tst-imprb", &["--network", &net, "--", "iperf3", "-s"]);
    let server = "10.229.0.3";
    std::thread::sleep(std::time::Duration::from_millis(300));

    let free = mbits(&env, "tst-impra", server, false);
    assert!(free > 50.0, "unimpaired TCP should be fast: {free} Mbit/s");

    env.ok(&["impair", "set", "tst-impra", "--rate", "10mbit"]);
    let port = veth(&env, "tst-impra", 0);
    assert!(qdisc(None, &port).contains("tbf"), "towards the sandbox");
    assert!(
        qdisc(Some("sbx-tst-impra"), "eth0").contains("rate 10Mbit"),
        "from the sandbox"
    );
    let up = mbits(&env, "tst-impra", server, false);
    let down = mbits(&env, "tst-impra", server, true);
    for (way, rate) in [("from the sandbox", up), ("to the sandbox", down)] {
        assert!(
            (5.0..=14.0).contains(&rate),
            "{way}: {rate} Mbit/s under a 10mbit limit"
        );
    }

    // A new rate replaces the old one in place, both ends.
    env.ok(&["impair", "set", "tst-impra", "--rate", "20mbit"]);
    assert!(qdisc(None, &port).contains("rate 20Mbit"));
    assert!(qdisc(Some("sbx-tst-impra"), "eth0").contains("rate 20Mbit"));
    env.ok(&["impair", "set", "tst-impra", "--rate", "10mbit"]);

    // show: the table and the JSON.
    let table = env.ok(&["impair", "show"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].starts_with("SANDBOX") && lines[0].contains("IMPAIRMENTS"));
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row, ["tst-impra", "eth0", "rate", "10mbit"]);
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["impair", "show", "tst-impra", "--json"])).expect("JSON");
    assert_eq!(json[0]["sandbox"], "tst-impra");
    assert_eq!(json[0]["iface"], "eth0");
    assert_eq!(json[0]["rate_bit"], 10_000_000);
    assert_eq!(json[0]["impairments"], "rate 10mbit");

    env.ok(&["impair", "clear", "tst-impra"]);
    assert!(!qdisc(None, &port).contains("tbf"));
    assert!(!qdisc(Some("sbx-tst-impra"), "eth0").contains("tbf"));
    let back = mbits(&env, "tst-impra", server, true);
    assert!(back > 50.0, "clear restores the speed: {back} Mbit/s");
    assert_eq!(
        env.ok(&["impair", "show"]).lines().count(),
        1,
        "header only"
    );
}

#[test]
fn loss_drops_about_half_the_round_trips_and_goes_with_the_sandbox() {
    let mut env = TestEnv::new("imploss");
    let net = env.network("tst-imploss", &["--subnet", "10.229.1.0/24"]);
    env.detach("tst-implsa", &["--network", &net, "--", "sleep", "300"]);
    env.detach("tst-implsb", &["--network", &net, "--", "sleep", "300"]);
    let a = "10.229.1.2";
    let port = veth(&env, "tst-implsa", 0);
    pin_neighbours(("tst-implsa", a), ("tst-implsb", "10.229.1.3"));

    env.ok(&["impair", "set", "tst-implsa", "--loss", "30%"]);
    let rules = bridge_table();
    assert!(
        rules.contains(&format!("loss-in-{port}")) && rules.contains(&format!("loss-out-{port}")),
        "{rules}"
    );
    // 30 % each way: 1 - 0.7² = 51 % of round trips lost.
    let loss = lost(&env, "tst-implsb", a, "200");
    assert!((25.0..=75.0).contains(&loss), "{loss}% lost");

    // set replaces: a rate alone leaves no loss behind.
    env.ok(&["impair", "set", "tst-implsa", "--rate", "100mbit"]);
    let chain = format!("loss-in-{port}");
    assert!(!bridge_table().contains(&chain), "the loss rules went");
    assert_eq!(lost(&env, "tst-implsb", a, "50"), 0.0);

    env.ok(&["impair", "set", "tst-implsa", "--loss", "30%"]);
    env.ok(&["impair", "clear", "tst-implsa"]);
    assert!(!bridge_table().contains(&chain));
    assert!(
        !qdisc(None, &port).contains("tbf"),
        "clear took the rate too"
    );
    assert_eq!(lost(&env, "tst-implsb", a, "50"), 0.0, "clear restores");

    // The sandbox ending removes its rules.
    env.ok(&["impair", "set", "tst-implsa", "--loss", "10%"]);
    assert!(bridge_table().contains(&chain));
    env.ok(&["rm", "-f", "tst-implsa"]);
    let rules = bridge_table();
    assert!(!rules.contains("loss-"), "{rules}");
}

#[test]
fn netem_options_are_refused_cleanly_without_netem_and_targets_are_checked() {
    let mut env = TestEnv::new("impnet");
    let one = env.network("tst-impnet1", &["--subnet", "10.229.2.0/24"]);
    let two = env.network("tst-impnet2", &["--subnet", "10.229.3.0/24"]);
    env.detach(
        "tst-impn",
        &["--network", &one, "--network", &two, "--", "sleep", "300"],
    );
    // An interface of a second network.
    env.ok(&["impair", "set", "tst-impn:eth1", "--rate", "20mbit"]);
    let second = veth(&env, "tst-impn", 1);
    assert!(qdisc(None, &second).contains("rate 20Mbit"));
    assert!(qdisc(Some("sbx-tst-impn"), "eth1").contains("rate 20Mbit"));
    assert!(!qdisc(Some("sbx-tst-impn"), "eth0").contains("tbf"));

    // Does this kernel have netem? Asked of it directly, in a scratch netns.
    let probe = host(
        "unshare",
        &[
            "-n", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms",
        ],
    );
    let before = (
        qdisc(None, &second),
        qdisc(Some("sbx-tst-impn"), "eth1"),
        bridge_table(),
        env.ok(&["impair", "show", "--json"]),
    );
    let out = env.sbx(&["impair", "set", "tst-impn:eth1", "--delay", "50ms"]);
    if probe.status.success() {
        // A kernel with netem: the delay shows in the round trip.
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(qdisc(None, &second).contains("netem"));
    } else {
        assert_eq!(out.status.code(), Some(125));
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("sbx: --delay needs the kernel's netem qdisc")
                && err.contains("sch_netem"),
            "{err}"
        );
        let after = (
            qdisc(None, &second),
            qdisc(Some("sbx-tst-impn"), "eth1"),
            bridge_table(),
            env.ok(&["impair", "show", "--json"]),
        );
        assert_eq!(before, after, "a refusal changes nothing");
    }

    for (args, says) in [
        (
            vec!["impair", "set", "tst-impn:eth7", "--rate", "1mbit"],
            "has no interface eth7",
        ),
        (
            vec!["impair", "set", "tst-nosuch", "--rate", "1mbit"],
            "no such sandbox: tst-nosuch",
        ),
        (vec!["impair", "set", "tst-impn", "--rate", "10"], "10mbit"),
        (vec!["impair", "set", "tst-impn"], "sbx impair clear"),
        (vec!["impair", "clear", "tst-impn:eth9"], "eth9"),
    ] {
        let out = env.sbx(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
        assert!(
            err.starts_with("sbx: ") && err.contains(says),
            "{args:?}: {err}"
        );
    }
}
