//! IPv6 dual-stack (issue 15, SPEC "IPv6"), the core: a network made with
//! `--subnet6` gives every sandbox an IPv6 address (lowest free or
//! `--ip6`) with a default route via the gateway6 on the bridge, and they
//! reach each other, the gateway and the host over IPv6; names, `ps`,
//! `inspect` and the errors cover IPv6; an IPv4-only network is unchanged.
//! Test ranges: fdb1:N::/64 with 10.200.N.0/24 (never the host's own
//! fd00::/64).

mod common;
use common::*;
use std::collections::HashSet;
use std::process::Stdio;

/// Sandboxes are run with `--allow-spoofing` until the anti-spoofing
/// filter knows IPv6 (branch v6-spoof, issue 15): today it drops every
/// IPv6 frame a guarded port sends.
const TRUST: &str = "--allow-spoofing";

/// `ping -6` once from inside sandbox `name` (`sbx exec`).
fn ping6_from(env: &TestEnv, name: &str, addr: &str) -> bool {
    env.sbx(&["exec", name, "--", "ping", "-6", "-c1", "-W2", addr])
        .status
        .success()
}

/// `ping -6` once from the host.
fn ping6_host(addr: &str) -> bool {
    host("ping", &["-6", "-c1", "-W2", addr]).status.success()
}

/// The IPv6 addresses of `dev` (on the host, or in netns `ns`).
fn addrs6(ns: Option<&str>, dev: &str) -> String {
    let out = match ns {
        Some(ns) => host("ip", &["-n", ns, "-6", "addr", "show", "dev", dev]),
        None => host("ip", &["-6", "addr", "show", "dev", dev]),
    };
    text(&out.stdout)
}

/// Runs sbx expecting a user error: exit 125, one line `sbx: ...` holding
/// `says`.
fn refused(env: &TestEnv, args: &[&str], says: &str) {
    let out = env.sbx(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "sbx {args:?}: {err}");
    assert!(
        err.starts_with("sbx: ") && err.trim_end().lines().count() == 1,
        "one line: {err}"
    );
    assert!(
        err.contains(says),
        "sbx {args:?} should say {says:?}: {err}"
    );
}

/// The lease file names of network `net` (addresses and their twins).
fn leases(env: &TestEnv, net: &str) -> Vec<String> {
    let mut names = list(&env.root.join("leases").join(net));
    names.sort();
    names
}

#[test]
fn dual_stack_sandboxes_reach_each_other_the_gateway_and_the_host_over_ipv6() {
    let mut env = TestEnv::new("v6pair");
    let net = env.network(
        "h1-v6a",
        &[
            "--subnet",
            "10.200.1.0/24",
            "--subnet6",
            "fdb1:1::/64",
            "--internal",
        ],
    );
    let bridge = addrs6(None, &net);
    assert!(
        bridge.contains("fdb1:1::1/64"),
        "gateway6 on the bridge: {bridge}"
    );
    assert!(bridge.contains("nodad"), "no DAD on the gateway6: {bridge}");
    let names = ["h1a", "h1b", "h1c"];
    for name in &names[..2] {
        env.ok(&[
            "run",
            "-d",
            TRUST,
            "--name",
            name,
            "--network",
            &net,
            "--",
            "sleep",
            "120",
        ]);
    }
    env.ok(&[
        "run",
        "-d",
        TRUST,
        "--name",
        "h1c",
        "--network",
        &net,
        "--ip6",
        "fdb1:1::99",
        "--",
        "sleep",
        "120",
    ]);
    let v6 = ["fdb1:1::2", "fdb1:1::3", "fdb1:1::99"];
    let v4 = ["10.200.1.2", "10.200.1.3", "10.200.1.4"];
    for (name, ip6) in names.iter().zip(v6) {
        let ns = format!("sbx-{name}");
        let inside = addrs6(Some(&ns), "eth0");
        assert!(inside.contains(&format!("{ip6}/64")), "{name}: {inside}");
        assert!(!inside.contains("tentative"), "usable at once: {inside}");
        let routes = text(&host("ip", &["-n", &ns, "-6", "route"]).stdout);
        assert!(
            routes.contains("default via fdb1:1::1 dev eth0"),
            "{name}: {routes}"
        );
    }
    // All pairs both ways, each to the gateway6, the host to each.
    for from in names {
        for (to, ip6) in names.iter().zip(v6) {
            if from != *to {
                assert!(ping6_from(&env, from, ip6), "{from} -> {to} ({ip6})");
            }
        }
        assert!(ping6_from(&env, from, "fdb1:1::1"), "{from} -> gateway6");
    }
    for ip6 in v6 {
        assert!(ping6_host(ip6), "host -> {ip6}");
    }

    // /etc/hosts: both addresses of itself and of its neighbours.
    let hosts = env.ok(&["exec", "h1a", "--", "cat", "/etc/hosts"]);
    for ((name, ip6), ip) in names.iter().zip(v6).zip(v4) {
        assert!(
            hosts.contains(&format!("{ip}\t{name}\n")),
            "{name} v4: {hosts}"
        );
        assert!(
            hosts.contains(&format!("{ip6}\t{name}\n")),
            "{name} v6: {hosts}"
        );
    }
    // A neighbour that goes leaves with both lines.
    env.ok(&["rm", "-f", "h1b"]);
    let hosts = env.ok(&["exec", "h1a", "--", "cat", "/etc/hosts"]);
    assert!(!hosts.contains("h1b"), "{hosts}");
    assert!(
        !leases(&env, &net)
            .iter()
            .any(|l| l.contains("h1b") || l == "fdb1:1::3")
    );
    // Its IPv6 address is free again: the lowest one goes to the next.
    env.ok(&[
        "run",
        "-d",
        TRUST,
        "--name",
        "h1b",
        "--network",
        &net,
        "--",
        "sleep",
        "120",
    ]);

    // ps / inspect / network inspect / network ls.
    let ps = env.ps_json();
    let ip6_of = |name: &str| {
        ps.iter()
            .find(|s| s["name"] == name)
            .map(|s| s["ip6"].clone())
            .unwrap()
    };
    assert_eq!(ip6_of("h1a"), "fdb1:1::2");
    assert_eq!(ip6_of("h1b"), "fdb1:1::3");
    assert_eq!(ip6_of("h1c"), "fdb1:1::99");
    let ps_table = env.ok(&["ps"]);
    let header: Vec<&str> = ps_table
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(&header[3..5], ["IP", "IP6"], "{ps_table}");
    let row = ps_table.lines().find(|l| l.starts_with("h1c ")).unwrap();
    assert!(
        row.contains(" 10.200.1.4 ") && row.contains(" fdb1:1::99 "),
        "{row}"
    );
    let table = env.ok(&["ps", "--format", "{{.Name}} {{.IP}} {{.IP6}}"]);
    assert!(table.contains("h1c 10.200.1.4 fdb1:1::99"), "{table}");
    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "h1c"])).unwrap();
    assert_eq!(inspect["network"]["ip6"], "fdb1:1::99");
    assert_eq!(inspect["network"]["gateway6"], "fdb1:1::1");
    assert_eq!(inspect["network"]["prefix6"], 64);
    let net_json: serde_json::Value =
        serde_json::from_str(&env.ok(&["network", "inspect", &net])).unwrap();
    assert_eq!(net_json["subnet6"], "fdb1:1::/64");
    assert_eq!(net_json["gateway6"], "fdb1:1::1");
    assert_eq!(net_json["gateway6_added"], true);
    let ls = env.ok(&["network", "ls"]);
    assert!(ls.lines().next().unwrap().contains("SUBNET6"), "{ls}");
    assert!(ls.contains("fdb1:1::/64"), "{ls}");

    // restart keeps both addresses.
    env.ok(&["restart", "-t", "1", "h1c"]);
    let again = addrs6(Some("sbx-h1c"), "eth0");
    assert!(again.contains("fdb1:1::99/64"), "{again}");
    assert!(
        ping6_from(&env, "h1a", "fdb1:1::99"),
        "h1a -> h1c after its restart"
    );

    // network connect --ip6: a second dual-stack interface.
    let net2 = env.network(
        "h1-v6b",
        &[
            "--subnet",
            "10.200.2.0/24",
            "--subnet6",
            "fdb1:2::/64",
            "--gateway6",
            "fdb1:2::fe",
            "--internal",
        ],
    );
    env.ok(&["network", "connect", "--ip6", "fdb1:2::7", &net2, "h1a"]);
    let eth1 = addrs6(Some("sbx-h1a"), "eth1");
    assert!(eth1.contains("fdb1:2::7/64"), "{eth1}");
    assert!(
        ping6_from(&env, "h1a", "fdb1:2::fe"),
        "h1a -> gateway6 of {net2}"
    );
    env.ok(&["network", "disconnect", &net2, "h1a"]);
    assert!(leases(&env, &net2).is_empty(), "{:?}", leases(&env, &net2));

    // A bridge someone deleted comes back, gateway6 included, with the
    // next launch.
    assert!(host("ip", &["link", "del", &net2]).status.success());
    env.ok(&[
        "run",
        "-d",
        TRUST,
        "--name",
        "h1d",
        "--network",
        &net2,
        "--",
        "sleep",
        "120",
    ]);
    assert!(
        addrs6(None, &net2).contains("fdb1:2::fe/64"),
        "{}",
        addrs6(None, &net2)
    );
    assert!(
        ping6_from(&env, "h1d", "fdb1:2::fe"),
        "h1d -> the recreated gateway6"
    );
    env.ok(&["rm", "-f", "h1d"]);

    // network rm takes gateway6 and bridge with it.
    for name in names {
        env.ok(&["rm", "-f", name]);
    }
    assert!(leases(&env, &net).is_empty(), "{:?}", leases(&env, &net));
    env.ok(&["network", "rm", &net, &net2]);
    assert!(!link_exists(&net) && !link_exists(&net2));
}

#[test]
fn an_adopted_bridge_loses_only_the_gateway6_sbx_added() {
    let mut env = TestEnv::new("v6adopt");
    let bridge = "h1-v6brk";
    let made = host("ip", &["link", "add", bridge, "type", "bridge"]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    struct Del(&'static str);
    impl Drop for Del {
        fn drop(&mut self) {
            let _ = host("ip", &["link", "del", self.0]);
        }
    }
    let _del = Del("h1-v6brk");
    // The admin turned IPv6 off on it: sbx needs it on for the gateway6.
    std::fs::write(
        format!("/proc/sys/net/ipv6/conf/{bridge}/disable_ipv6"),
        "1",
    )
    .unwrap();
    env.network(
        "h1-v6ad",
        &[
            "--bridge",
            bridge,
            "--subnet",
            "10.200.3.0/24",
            "--subnet6",
            "fdb1:3::/64",
            "--internal",
        ],
    );
    assert!(addrs6(None, bridge).contains("fdb1:3::1/64"));
    env.ok(&["network", "rm", "h1-v6ad"]);
    assert!(link_exists(bridge), "the admin's bridge stays");
    let left = addrs6(None, bridge);
    assert!(!left.contains("fdb1:3::"), "gateway6 removed: {left}");
}

#[test]
fn every_ipv6_mistake_exits_125_and_leaves_nothing() {
    let mut env = TestEnv::new("v6err");
    let dual = env.network(
        "h1-v6e",
        &[
            "--subnet",
            "10.200.4.0/24",
            "--subnet6",
            "fdb1:4::/64",
            "--internal",
        ],
    );
    let v4only = env.network("h1-v4e", &["--subnet", "10.200.5.0/24"]);
    env.ok(&[
        "run",
        "-d",
        TRUST,
        "--name",
        "h1holder",
        "--network",
        &dual,
        "--",
        "sleep",
        "120",
    ]);
    let before = leases(&env, &dual);
    for (args, says) in [
        (
            vec!["--network", v4only.as_str(), "--ip6", "fdb1:5::2"],
            "has no IPv6",
        ),
        (
            vec!["--network", "name=h1-v4e,ip6=fdb1:5::2"],
            "has no IPv6",
        ),
        (
            vec!["--network", dual.as_str(), "--ip6", "fdb1:9::2"],
            "outside network h1-v6e's IPv6 subnet",
        ),
        (
            vec!["--network", dual.as_str(), "--ip6", "fdb1:4::"],
            "network address",
        ),
        (
            vec!["--network", dual.as_str(), "--ip6", "fdb1:4::1"],
            "IPv6 gateway",
        ),
        (
            vec!["--network", dual.as_str(), "--ip6", "fdb1:4::2"],
            "in use by sandbox h1holder",
        ),
        (
            vec!["--network", dual.as_str(), "--ip6", "fdb1:4::2/64"],
            "is not an IPv6 address",
        ),
        (
            vec!["--network", "name=h1-v6e,ip6=10.200.4.9"],
            "is not an IPv6 address",
        ),
    ] {
        let mut full = vec!["run", "--name", "h1bad"];
        full.extend(args);
        full.extend(["--", "true"]);
        refused(&env, &full, says);
        assert!(!env.records().contains(&"h1bad".to_string()), "no record");
        assert!(
            !std::path::Path::new("/run/netns/sbx-h1bad").exists(),
            "no netns"
        );
        assert_eq!(leases(&env, &dual), before, "no lease");
        assert!(leases(&env, &v4only).is_empty(), "no lease");
    }
    // network connect: the same checks.
    for (args, says) in [
        (vec!["--ip6", "fdb1:5::2", v4only.as_str()], "has no IPv6"),
        (
            vec!["--ip6", "fdb1:4::2", dual.as_str()],
            "in use by sandbox h1holder",
        ),
        (
            vec!["--ip6", "nope", dual.as_str()],
            "is not an IPv6 address",
        ),
    ] {
        env.ok(&[
            "run",
            "-d",
            TRUST,
            "--name",
            "h1conn",
            "--network",
            "none",
            "--",
            "sleep",
            "120",
        ]);
        let mut full = vec!["network", "connect"];
        full.extend(args);
        full.push("h1conn");
        refused(&env, &full, says);
        assert!(
            env.inspect("h1conn")["networks"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        assert_eq!(leases(&env, &dual), before, "no lease");
        assert!(leases(&env, &v4only).is_empty(), "no lease");
        env.ok(&["rm", "-f", "h1conn"]);
    }
    for (args, says) in [
        (vec!["--gateway6", "fdb1:6::1"], "needs --subnet6"),
        (
            vec!["--subnet6", "fdb1:6::/64", "--gateway6", "fdb1:7::1"],
            "not a host address",
        ),
        (
            vec!["--subnet6", "fdb1:6::/64", "--gateway6", "fdb1:6::"],
            "not a host address",
        ),
        (
            vec!["--subnet6", "fdb1:6::/64", "--gateway6", "nope"],
            "is not an IPv6 address",
        ),
        (
            vec!["--subnet6", "fdb1:4:0:0:1::/80"],
            "overlaps network h1-v6e",
        ),
        (
            vec!["--subnet6", "fd00::/48"],
            "overlaps the host's route to fd00::/64",
        ),
        (vec!["--subnet6", "fdb1:6::1/64"], "host bits set"),
        (vec!["--subnet6", "fdb1:6::/127"], "too small"),
        (vec!["--subnet6", "fe80::/64"], "is link-local"),
        (vec!["--subnet6", "ff00::/64"], "is multicast"),
        (vec!["--subnet6", "::/64"], "unspecified/loopback"),
        (vec!["--subnet6", "::ffff:10.0.0.0/120"], "IPv4-mapped"),
        (
            vec!["--subnet6", "fdb1:6::/64", "--mtu", "1279"],
            "below IPv6's minimum of 1280",
        ),
    ] {
        let mut full = vec!["network", "create", "h1-v6x", "--subnet", "10.200.6.0/24"];
        full.extend(args);
        refused(&env, &full, says);
        assert!(!link_exists("h1-v6x"), "no bridge");
        assert!(
            !env.root.join("networks").join("h1-v6x.json").exists(),
            "no record"
        );
    }
}

/// Below IPv6's minimum MTU the kernel gives an interface no IPv6 at all:
/// an IPv4-only network of such an MTU still runs sandboxes (a fresh-user
/// review found `--mtu 1279` refused at `bring up eth0`).
#[test]
fn an_ipv4_only_network_below_ipv6s_minimum_mtu_runs_sandboxes() {
    let mut env = TestEnv::new("v6mtu");
    let net = env.network(
        "h1-v4mtu",
        &["--subnet", "10.200.14.0/24", "--mtu", "1279", "--internal"],
    );
    env.detach("h1mtu", &["--network", &net, "--", "sleep", "120"]);
    let ping = env.sbx(&["exec", "h1mtu", "--", "ping", "-c1", "-W2", "10.200.14.1"]);
    assert!(ping.status.success(), "{}", text(&ping.stdout));
}

#[test]
fn an_ipv4_only_network_beside_a_dual_stack_one_is_unchanged() {
    let mut env = TestEnv::new("v6v4");
    let v4only = env.network("h1-v4o", &["--subnet", "10.200.7.0/24"]);
    env.network(
        "h1-v6o",
        &[
            "--subnet",
            "10.200.8.0/24",
            "--subnet6",
            "fdb1:8::/64",
            "--internal",
        ],
    );
    env.ok(&[
        "run",
        "-d",
        "--name",
        "h1p",
        "--network",
        &v4only,
        "--",
        "sleep",
        "120",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "h1q",
        "--network",
        &v4only,
        "--",
        "sleep",
        "120",
    ]);
    assert!(ping(Some("sbx-h1p"), "10.200.7.3"), "v4 works as before");
    assert!(ping(Some("sbx-h1p"), "10.200.7.1"), "v4 gateway");
    // No IPv6 on the bridge, none global in the sandbox, no v6 route.
    assert!(!addrs6(None, &v4only).contains("scope global"));
    let inside = addrs6(Some("sbx-h1p"), "eth0");
    assert!(inside.trim().is_empty(), "no IPv6 at all on eth0: {inside}");
    let routes = text(&host("ip", &["-n", "sbx-h1p", "-6", "route"]).stdout);
    assert!(!routes.contains("default"), "{routes}");
    let ps = env.ps_json();
    assert!(ps.iter().all(|s| s["ip6"].is_null()), "{ps:?}");
    let ps_table = env.ok(&["ps"]);
    assert!(
        !ps_table.contains("IP6"),
        "no IP6 column without IPv6: {ps_table}"
    );
    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "h1p"])).unwrap();
    assert!(inspect["network"]["ip6"].is_null());
    let hosts = env.ok(&["exec", "h1p", "--", "cat", "/etc/hosts"]);
    assert!(!hosts.contains("fdb1"), "{hosts}");
    let record = std::fs::read_to_string(env.root.join("sandboxes/h1p/sandbox.json")).unwrap();
    assert!(
        !record.contains("ip6"),
        "v4-only records keep their old form: {record}"
    );
}

#[test]
fn twenty_parallel_runs_on_a_dual_stack_network_get_distinct_ipv6_addresses() {
    let mut env = TestEnv::new("v6par");
    let net = env.network(
        "h1-v6par",
        &[
            "--subnet",
            "10.200.10.0/24",
            "--subnet6",
            "fdb1:10::/64",
            "--internal",
        ],
    );
    let children: Vec<_> = (0..20)
        .map(|i| {
            env.cmd(&[
                "run",
                TRUST,
                "--network",
                &net,
                "--name",
                &format!("h1p{i}"),
                "--",
                "sleep",
                "120",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn sbx run")
        })
        .collect();
    struct Stop(Vec<std::process::Child>);
    impl Drop for Stop {
        fn drop(&mut self) {
            for child in &self.0 {
                signal(child.id(), libc::SIGTERM);
            }
            for child in self.0.drain(..) {
                wait_or_kill(child);
            }
        }
    }
    let guard = Stop(children);
    for i in 0..20 {
        env.wait_running(&format!("h1p{i}"));
    }
    let ps = env.ps_json();
    assert_eq!(ps.len(), 20);
    let ips: HashSet<String> = ps
        .iter()
        .map(|s| s["ip6"].as_str().expect("ip6").to_string())
        .collect();
    assert_eq!(ips.len(), 20, "20 distinct IPv6 addresses: {ips:?}");
    assert!(
        !ips.contains("fdb1:10::1") && !ips.contains("fdb1:10::"),
        "{ips:?}"
    );
    for ip in &ips {
        assert!(ping6_host(ip), "host -> {ip}");
    }
    drop(guard);
    assert!(env.records().is_empty(), "all records removed");
    assert!(
        leases(&env, &net).is_empty(),
        "every lease given back: {:?}",
        leases(&env, &net)
    );
}

#[test]
fn a_dead_holders_ipv6_lease_is_swept_when_wanted_and_by_prune() {
    let mut env = TestEnv::new("v6dead");
    let net = env.network(
        "h1-v6dd",
        &[
            "--subnet",
            "10.200.11.0/24",
            "--subnet6",
            "fdb1:11::/64",
            "--internal",
        ],
    );
    // Two dead holders (their sbx crashed once they ran): fdb1:11::5, ::6.
    for (name, ip6) in [("h1da", "fdb1:11::5"), ("h1db", "fdb1:11::6")] {
        let out = env
            .cmd(&[
                "run",
                "-d",
                "--name",
                name,
                "--network",
                &net,
                "--ip6",
                ip6,
                "--",
                "sleep",
                "300",
            ])
            .env("SBX_CRASH_AT", "running")
            .stdin(Stdio::null())
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    }
    assert!(leases(&env, &net).contains(&"fdb1:11::5".to_string()));
    // Asking for ::5 sweeps its dead holder (both its leases), only it.
    env.detach(
        "h1dc",
        &[
            "--network",
            &net,
            "--ip6",
            "fdb1:11::5",
            "--",
            "sleep",
            "300",
        ],
    );
    assert_eq!(env.inspect("h1dc")["network"]["ip6"], "fdb1:11::5");
    assert!(!std::path::Path::new("/run/netns/sbx-h1da").exists());
    assert!(std::path::Path::new("/run/netns/sbx-h1db").exists());
    let held = leases(&env, &net);
    assert!(!held.iter().any(|l| l.contains("h1da")), "{held:?}");
    assert!(held.contains(&"=fdb1:11::6=h1db".to_string()), "{held:?}");
    // prune gives the other one's IPv6 lease back too.
    let out = env.ok(&["prune"]);
    assert!(out.contains("h1db"), "{out}");
    let held = leases(&env, &net);
    assert!(!held.iter().any(|l| l.contains("h1db")), "{held:?}");
    env.detach(
        "h1dd",
        &[
            "--network",
            &net,
            "--ip6",
            "fdb1:11::6",
            "--",
            "sleep",
            "300",
        ],
    );
}

#[test]
fn a_lab_file_makes_a_dual_stack_network_and_its_sandboxes_addresses() {
    let env = TestEnv::new("v6lab");
    let dir = env.root.with_extension("lab");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("v6.toml");
    std::fs::write(
        &path,
        r#"
[networks.h1-v6lab]
subnet = "10.200.12.0/24"
subnet6 = "fdb1:12::/64"
gateway6 = "fdb1:12::fe"
internal = true

[sandboxes.h1la]
networks = { h1-v6lab = "10.200.12.5,fdb1:12::5" }
allow_spoofing = true

[sandboxes.h1lb]
networks = { h1-v6lab = "fdb1:12::6" }
allow_spoofing = true
"#,
    )
    .unwrap();
    let file = path.to_str().unwrap();
    struct Down<'a>(&'a TestEnv, &'a str, std::path::PathBuf);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = self.0.sbx(&["lab", "down", self.1]);
            let _ = std::fs::remove_dir_all(&self.2);
        }
    }
    let _down = Down(&env, file, dir.clone());
    env.ok(&["lab", "up", file]);
    assert_eq!(env.inspect("h1la")["network"]["ip"], "10.200.12.5");
    assert_eq!(env.inspect("h1la")["network"]["ip6"], "fdb1:12::5");
    assert_eq!(env.inspect("h1lb")["network"]["ip6"], "fdb1:12::6");
    assert!(addrs6(None, "h1-v6lab").contains("fdb1:12::fe/64"));
    assert!(ping6_from(&env, "h1la", "fdb1:12::6"), "h1la -> h1lb");
    let graph = env.ok(&["lab", "graph", file]);
    assert!(
        graph.contains("eth0 10.200.12.5,fdb1:12::5 ── h1la"),
        "{graph}"
    );
    assert!(
        graph.contains("fdb1:12::/64, gateway6 fdb1:12::fe"),
        "{graph}"
    );
    // A second `lab up` finds everything as the file says.
    env.ok(&["lab", "up", file]);
    env.ok(&["lab", "down", file]);
    assert!(!link_exists("h1-v6lab"));
}

#[test]
fn ipv6_is_turned_on_for_a_dual_stack_interface_where_new_ones_start_without() {
    let mut env = TestEnv::new("v6off");
    let net = env.network(
        "h1-v6off",
        &[
            "--subnet",
            "10.200.13.0/24",
            "--subnet6",
            "fdb1:13::/64",
            "--internal",
        ],
    );
    env.ok(&[
        "run",
        "-d",
        TRUST,
        "--name",
        "h1off",
        "--network",
        "none",
        "--",
        "sleep",
        "120",
    ]);
    // In this sandbox's namespace only (as on a host booted with
    // ipv6.disable_ipv6=1): new interfaces start with IPv6 off.
    let off = host(
        "ip",
        &[
            "netns",
            "exec",
            "sbx-h1off",
            "sysctl",
            "-qw",
            "net.ipv6.conf.default.disable_ipv6=1",
        ],
    );
    assert!(off.status.success(), "{}", text(&off.stderr));
    env.ok(&["network", "connect", &net, "h1off"]);
    assert!(addrs6(Some("sbx-h1off"), "eth0").contains("fdb1:13::2/64"));
    assert!(ping6_from(&env, "h1off", "fdb1:13::1"), "h1off -> gateway6");
}
