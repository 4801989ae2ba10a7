//! `sbx network check` (SPEC "Checks") against real sandboxes: all pass on a
//! healthy network, and each fault made for real (a foreign nf_tables
//! forward drop, an interface down, an MTU mismatch, a spoofed address, a
//! stopped peer, a partition, an impairment, strict rp_filter inside a
//! sandbox) fails the checks it breaks with a `why` naming it.
//! `ip_forward` is a host-wide sysctl other tests depend on, and only a
//! routed path (a lab's expectation between networks) needs it: that rule
//! is unit-tested only (src/check/diagnose_tests.rs).

mod common;
use common::*;
use std::process::Output;

/// A network `tst-ID` on 10.230.THIRD.0/24 with sandboxes `tst-ID-a`,
/// `-b`, ... (detached, `sleep 300`).
fn lab(env: &mut TestEnv, third: u8, count: usize) -> (String, Vec<String>) {
    let id = env.id.clone();
    let net = env.network(
        &format!("tst-{id}"),
        &[
            "--subnet",
            &format!("10.230.{third}.0/24"),
            "--bridge",
            &format!("tstb-{id}"),
        ],
    );
    let names: Vec<String> = (0..count)
        .map(|i| format!("tst-{id}-{}", (b'a' + i as u8) as char))
        .collect();
    for name in &names {
        env.detach(name, &["--network", &net, "--", "sleep", "300"]);
    }
    (net, names)
}

fn check(env: &TestEnv, net: &str) -> Output {
    env.sbx(&["network", "check", net])
}

/// The `why` under `[FAIL] LINE`, if that line failed.
fn why(out: &Output, line: &str) -> Option<String> {
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let at = lines.iter().position(|l| *l == format!("[FAIL] {line}"))?;
    lines.get(at + 1)?.strip_prefix("  why: ").map(String::from)
}

/// Whether `[PASS] LINE (N ms)` is there.
fn passed(out: &Output, line: &str) -> bool {
    text(&out.stdout)
        .lines()
        .any(|l| l.starts_with(&format!("[PASS] {line} (")) && l.ends_with(" ms)"))
}

/// `ip netns exec sbx-NAME ip ARGS`, insisting it worked.
fn ip_in(name: &str, args: &[&str]) {
    let mut full = vec!["netns", "exec", &format!("sbx-{name}")]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    full.push("ip".into());
    full.extend(args.iter().map(|a| a.to_string()));
    let full: Vec<&str> = full.iter().map(String::as_str).collect();
    let out = host("ip", &full);
    assert!(out.status.success(), "ip {full:?}: {}", text(&out.stderr));
}

/// The IPv4 neighbour entries in a sandbox's namespace.
fn neighbours(name: &str) -> Vec<String> {
    let out = host("ip", &["-n", &format!("sbx-{name}"), "-4", "neigh", "show"]);
    text(&out.stdout).lines().map(String::from).collect()
}

/// "neighbor table overflow" lines in the kernel log so far.
fn overflow_lines() -> usize {
    let out = host("dmesg", &[]);
    text(&out.stdout)
        .lines()
        .filter(|l| l.contains("neighbor table overflow"))
        .count()
}

/// The host end of a sandbox's eth0.
fn veth_of(env: &TestEnv, name: &str) -> String {
    env.inspect(name)["network"]["veth_host"]
        .as_str()
        .expect("inspect names the veth")
        .to_string()
}

#[test]
fn a_healthy_network_passes_every_check_in_the_spec_format() {
    let mut env = TestEnv::new("chkok");
    let (net, names) = lab(&mut env, 1, 3);
    let out = check(&env, &net);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    let gw = format!("gateway:{net}");
    let mut expected = Vec::new();
    for a in &names {
        for b in names.iter().filter(|b| *b != a) {
            expected.push(format!("{a} -> {b}"));
        }
    }
    expected.extend(names.iter().map(|a| format!("{a} -> {gw}")));
    expected.extend(names.iter().map(|a| format!("host -> {a}")));
    expected.extend(names.iter().map(|a| format!("{a} -> {gw} mtu")));
    assert_eq!(lines.len(), expected.len() + 1, "{stdout}");
    for (line, want) in lines.iter().zip(&expected) {
        let rest = line
            .strip_prefix(&format!("[PASS] {want} ("))
            .unwrap_or_else(|| panic!("{line:?} is not a PASS of {want}"));
        let ms = rest.strip_suffix(" ms)").expect("a round trip in ms");
        let (whole, frac) = ms.split_once('.').expect("two decimals");
        assert!(whole.parse::<u32>().is_ok() && frac.len() == 2, "{line}");
    }
    assert_eq!(lines.last(), Some(&"15 passed, 0 failed"));
    // The entries the probes made are gone again.
    for name in &names {
        assert_eq!(neighbours(name), Vec::<String>::new(), "{name}");
    }

    let json = env.sbx(&["network", "check", &net, "--json"]);
    assert_eq!(json.status.code(), Some(0));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(
        (value["passed"].as_u64(), value["failed"].as_u64()),
        (Some(15), Some(0))
    );
    let checks = value["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 15);
    for check in checks {
        let keys: Vec<&str> = check
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 7, "{check}");
        for key in ["from", "to", "kind", "family", "ok", "rtt_ms", "why"] {
            assert!(check.get(key).is_some(), "{key} in {check}");
        }
        assert_eq!(check["family"], "ipv4", "a v4-only network: {check}");
        assert_eq!(check["ok"], true);
        assert!(check["rtt_ms"].as_f64().is_some_and(|ms| ms > 0.0));
        assert!(check["why"].is_null());
    }
    assert_eq!(checks[0]["kind"], "icmp");
    assert_eq!(checks[9]["from"], "host");
    assert_eq!(checks[14]["kind"], "mtu");
    assert_eq!(checks[14]["to"], gw.as_str());

    // A network that does not exist is a user error.
    let missing = env.sbx(&["network", "check", "tst-chkok-none"]);
    assert_eq!(missing.status.code(), Some(125));
    assert_eq!(
        text(&missing.stderr),
        "sbx: network tst-chkok-none not found: see 'sbx network ls'\n"
    );
}

/// An nf_tables table made by a test, deleted on drop.
struct NftTable(String);

impl Drop for NftTable {
    fn drop(&mut self) {
        let _ = host("nft", &["delete", "table", "inet", &self.0]);
    }
}

#[test]
fn another_tables_forward_drop_is_named_with_its_table_and_chain() {
    let mut env = TestEnv::new("chkfw");
    let (net, names) = lab(&mut env, 2, 2);
    let bridge = "tstb-chkfw";
    let table = NftTable(format!("chkfw{}", std::process::id()));
    // Policy drop, but only this test's bridge is left to it: other
    // tests' traffic meets an accept first.
    let t = &table.0;
    for script in [
        format!("add table inet {t}"),
        format!(
            "add chain inet {t} chkforward {{ type filter hook forward priority 0; policy drop; }}"
        ),
        format!("add rule inet {t} chkforward iifname != \"{bridge}\" accept"),
    ] {
        let out = host("nft", &[&script]);
        assert!(out.status.success(), "nft {script}: {}", text(&out.stderr));
    }
    let out = check(&env, &net);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let (a, b) = (&names[0], &names[1]);
    let why_ab = why(&out, &format!("{a} -> {b}")).expect("a -> b fails");
    assert!(
        why_ab.contains(&format!(
            "table inet {} chain chkforward has policy drop",
            table.0
        )),
        "{why_ab}"
    );
    assert!(why_ab.contains("bridge-nf-call-iptables"), "{why_ab}");
    assert!(why(&out, &format!("{b} -> {a}")).is_some());
    // The host and the gateway are not forwarded to: they pass.
    assert!(passed(&out, &format!("host -> {a}")));
    assert!(passed(&out, &format!("{a} -> gateway:{net}")));
    assert!(text(&out.stdout).ends_with("6 passed, 2 failed\n"));
    drop(table);
    assert_eq!(
        check(&env, &net).status.code(),
        Some(0),
        "passes once it is gone"
    );
}

#[test]
fn an_interface_down_is_named() {
    let mut env = TestEnv::new("chkdown");
    let (net, names) = lab(&mut env, 3, 2);
    let (a, b) = (&names[0], &names[1]);
    ip_in(b, &["link", "set", "eth0", "down"]);
    let out = check(&env, &net);
    assert_eq!(out.status.code(), Some(1));
    let expected = format!("interface eth0 of {b} is down");
    for line in [
        format!("{a} -> {b}"),
        format!("{b} -> {a}"),
        format!("host -> {b}"),
        format!("{b} -> gateway:{net}"),
        format!("{b} -> gateway:{net} mtu"),
    ] {
        assert_eq!(
            why(&out, &line).as_deref(),
            Some(expected.as_str()),
            "{line}"
        );
    }
    assert!(passed(&out, &format!("host -> {a}")));
    assert!(text(&out.stdout).ends_with("3 passed, 5 failed\n"));
}

#[test]
fn an_mtu_mismatch_names_both_values() {
    let mut env = TestEnv::new("chkmtu");
    let (net, names) = lab(&mut env, 4, 3);
    let (a, b) = (&names[0], &names[1]);
    ip_in(a, &["link", "set", "eth0", "mtu", "1400"]);
    ip_in(b, &["link", "set", "eth0", "mtu", "1600"]);
    let out = check(&env, &net);
    assert_eq!(out.status.code(), Some(1));
    let lower = why(&out, &format!("{a} -> gateway:{net} mtu")).expect("a's MTU probe fails");
    assert!(
        lower.starts_with(&format!(
            "MTU mismatch: {a}'s eth0 has MTU 1400, its host end "
        )) && lower.contains(" has 1500: the 1500-byte DF packet did not pass"),
        "{lower}"
    );
    let higher = why(&out, &format!("{b} -> gateway:{net} mtu")).expect("b's MTU probe fails");
    assert!(
        higher.contains("has MTU 1600") && higher.contains(" has 1500: the 1600-byte DF packet"),
        "{higher}"
    );
    assert!(passed(&out, &format!("{} -> gateway:{net} mtu", names[2])));
    assert!(passed(&out, &format!("{a} -> {b}")), "small packets pass");
    assert!(text(&out.stdout).ends_with("13 passed, 2 failed\n"));
}

#[test]
fn a_spoofed_address_is_the_anti_spoofing_filter() {
    let mut env = TestEnv::new("chkspf");
    let (net, names) = lab(&mut env, 5, 2);
    let (a, b) = (&names[0], &names[1]);
    ip_in(a, &["addr", "del", "10.230.5.2/24", "dev", "eth0"]);
    ip_in(a, &["addr", "add", "10.230.5.77/24", "dev", "eth0"]);
    let out = check(&env, &net);
    assert_eq!(out.status.code(), Some(1));
    let text_ab = why(&out, &format!("{a} -> {b}")).expect("a -> b fails");
    assert!(
        text_ab.starts_with(&format!(
            "address 10.230.5.77 of {a} is not its own (anti-spoofing)"
        )),
        "{text_ab}"
    );
    assert!(why(&out, &format!("host -> {a}")).is_some_and(|w| w.contains("anti-spoofing")));
    assert!(passed(&out, &format!("host -> {b}")));
}

#[test]
fn a_stopped_peer_is_named_not_running() {
    let mut env = TestEnv::new("chkstop");
    let (net, names) = lab(&mut env, 6, 2);
    let (a, b) = (&names[0], &names[1]);
    env.ok(&["stop", "-t", "1", b]);
    let out = check(&env, &net);
    assert_eq!(out.status.code(), Some(1));
    let expected = format!("{b} is not running (exited): start it again with 'sbx restart {b}'");
    assert_eq!(
        why(&out, &format!("{a} -> {b}")).as_deref(),
        Some(expected.as_str())
    );
    assert_eq!(
        why(&out, &format!("host -> {b}")).as_deref(),
        Some(expected.as_str())
    );
    assert!(passed(&out, &format!("{a} -> gateway:{net}")));
    // Nothing is sent from a sandbox that does not run.
    assert!(!text(&out.stdout).contains(&format!("] {b} -> ")));
    assert!(text(&out.stdout).ends_with("3 passed, 2 failed\n"));
}

/// Elements and a chain added to sbx's bridge table, as `sbx partition`
/// lays them out (set `partitioned`, `ifname . ifname`), removed on drop.
struct Partition {
    elements: String,
}

impl Drop for Partition {
    fn drop(&mut self) {
        let _ = host("nft", &["delete", "chain", "bridge", "sbx", "tstchkpart"]);
        let _ = host(
            "nft",
            &[
                "delete",
                "element",
                "bridge",
                "sbx",
                "partitioned",
                &self.elements,
            ],
        );
        // Refused (and kept) while a chain of `sbx partition` uses it.
        let _ = host("nft", &["delete", "set", "bridge", "sbx", "partitioned"]);
    }
}

#[test]
fn a_partition_is_named_with_its_undo() {
    let mut env = TestEnv::new("chkpart");
    let (net, names) = lab(&mut env, 8, 3);
    let (a, b) = (&names[0], &names[1]);
    let (va, vb) = (veth_of(&env, a), veth_of(&env, b));
    let guard = Partition {
        elements: format!("{{ \"{va}\" . \"{vb}\", \"{vb}\" . \"{va}\" }}"),
    };
    for script in [
        "add set bridge sbx partitioned { type ifname . ifname; }".to_string(),
        "add chain bridge sbx tstchkpart { type filter hook forward priority 0; }".to_string(),
        "add rule bridge sbx tstchkpart iifname . oifname @partitioned drop".to_string(),
        format!("add element bridge sbx partitioned {}", guard.elements),
    ] {
        let out = host("nft", &[&script]);
        assert!(out.status.success(), "nft {script}: {}", text(&out.stderr));
    }
    let out = check(&env, &net);
    assert_eq!(out.status.code(), Some(1));
    let expected = format!("partition set by sbx between {a} and {b} (sbx partition rm {a} {b})");
    assert_eq!(
        why(&out, &format!("{a} -> {b}")).as_deref(),
        Some(expected.as_str())
    );
    assert!(
        why(&out, &format!("{b} -> {a}")).is_some_and(|w| w.starts_with("partition set by sbx"))
    );
    assert!(passed(&out, &format!("{a} -> {}", names[2])));
    assert!(text(&out.stdout).ends_with("13 passed, 2 failed\n"));
}

#[test]
fn an_impairment_is_named_with_its_qdisc() {
    let mut env = TestEnv::new("chkimp");
    let (net, names) = lab(&mut env, 9, 2);
    let (a, b) = (&names[0], &names[1]);
    let vb = veth_of(&env, b);
    // A token bucket smaller than any packet: everything towards b is lost.
    let out = host(
        "tc",
        &[
            "qdisc", "add", "dev", &vb, "root", "tbf", "rate", "8kbit", "burst", "64", "limit",
            "64",
        ],
    );
    assert!(out.status.success(), "tc: {}", text(&out.stderr));
    let out = check(&env, &net);
    assert_eq!(out.status.code(), Some(1));
    let text_ab = why(&out, &format!("{a} -> {b}")).expect("a -> b fails");
    assert_eq!(
        text_ab,
        format!("impairment set by sbx on {b}'s eth0 (tbf on {vb}; see 'sbx impair show {b}')")
    );
    assert!(why(&out, &format!("host -> {b}")).is_some());
    assert!(passed(&out, &format!("host -> {a}")));
}

#[test]
fn twelve_sandboxes_check_clean_without_overflowing_neighbour_tables() {
    let mut env = TestEnv::new("chk12");
    let (net, names) = lab(&mut env, 7, 12);
    let overflows = overflow_lines();
    let out = check(&env, &net);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).ends_with("168 passed, 0 failed\n"));
    assert_eq!(overflow_lines(), overflows, "no 'neighbor table overflow'");
    for name in &names {
        assert_eq!(
            neighbours(name),
            Vec::<String>::new(),
            "entries left in {name}"
        );
    }
}

#[test]
fn strict_rp_filter_against_the_route_back_is_named() {
    let mut env = TestEnv::new("chkrp");
    let one = env.network(
        "tst-chkrp1",
        &["--subnet", "10.230.10.0/24", "--bridge", "tstb-chkrp1"],
    );
    let two = env.network(
        "tst-chkrp2",
        &["--subnet", "10.230.11.0/24", "--bridge", "tstb-chkrp2"],
    );
    let b = "tst-chkrp-b";
    env.detach(
        b,
        &["--network", &one, "--network", &two, "--", "sleep", "300"],
    );
    assert!(check(&env, &two).status.success(), "healthy first");
    // In b's own namespace (its sysctls are its own): strict reverse-path
    // filtering, and the way back to the second gateway through eth0.
    let out = host(
        "ip",
        &[
            "netns",
            "exec",
            &format!("sbx-{b}"),
            "sh",
            "-c",
            "echo 1 > /proc/sys/net/ipv4/conf/all/rp_filter",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    ip_in(b, &["route", "add", "10.230.11.1/32", "dev", "eth0"]);
    let out = check(&env, &two);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert_eq!(
        why(&out, &format!("host -> {b}")).as_deref(),
        Some(
            format!(
                "strict rp_filter (net.ipv4.conf.eth1.rp_filter=1) on {b}: its route back to 10.230.11.1 goes out eth0"
            )
            .as_str()
        )
    );
}
