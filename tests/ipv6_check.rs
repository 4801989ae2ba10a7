//! `sbx network check` over IPv6 (issue 15; SPEC "Checks" and "IPv6")
//! against real dual-stack sandboxes: every IPv4 check as on a v4-only
//! network, then the same over IPv6 (`over IPv6` on the line, `family` in
//! JSON), and each IPv6 fault made for real (its address or default route
//! removed, a foreign `ip6` table's forward drop, a lowered MTU) fails the
//! IPv6 checks it breaks with a `why` naming it. Test ranges: fdb4:N::/64
//! with 10.194.N.0/24 (never the host's own fd00::/64).

mod common;
use common::*;
use std::process::Output;
use std::time::Instant;

/// Sandboxes run with `--allow-spoofing` until the anti-spoofing filter
/// knows IPv6 (branch v6-spoof, issue 15): the v4-only filter drops every
/// IPv6 frame a guarded port sends.
const TRUST: &str = "--allow-spoofing";

/// A dual-stack network `h3-ID` on 10.194.N.0/24 and fdb4:N::/64 with
/// sandboxes `h3Ns00`, `h3Ns01`, ... (detached, `sleep 300`).
fn lab(env: &mut TestEnv, n: u8, count: usize) -> (String, Vec<String>) {
    let id = env.id.clone();
    let net = env.network(
        &format!("h3-{id}"),
        &[
            "--subnet",
            &format!("10.194.{n}.0/24"),
            "--subnet6",
            &format!("fdb4:{n}::/64"),
        ],
    );
    let names: Vec<String> = (0..count).map(|i| format!("h3{n}s{i:02}")).collect();
    for name in &names {
        env.detach(name, &[TRUST, "--network", &net, "--", "sleep", "300"]);
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

/// `ip -n sbx-NAME ARGS`, insisting it worked.
fn ip_in(name: &str, args: &[&str]) {
    let ns = format!("sbx-{name}");
    let mut full = vec!["-n", ns.as_str()];
    full.extend_from_slice(args);
    let out = host("ip", &full);
    assert!(out.status.success(), "ip {full:?}: {}", text(&out.stderr));
}

/// The IPv6 neighbour entries for this test's addresses in `name`'s
/// namespace.
fn neighbours6(name: &str, prefix: &str) -> Vec<String> {
    let out = host("ip", &["-n", &format!("sbx-{name}"), "-6", "neigh", "show"]);
    text(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(String::from)
        .collect()
}

/// The lines a healthy network of `names` prints, in order, for one
/// family (`suffix` "" or " over IPv6").
fn expected(net: &str, names: &[String], suffix: &str) -> Vec<String> {
    let gw = format!("gateway:{net}");
    let mut lines = Vec::new();
    for a in names {
        for b in names.iter().filter(|b| *b != a) {
            lines.push(format!("{a} -> {b}{suffix}"));
        }
    }
    lines.extend(names.iter().map(|a| format!("{a} -> {gw}{suffix}")));
    lines.extend(names.iter().map(|a| format!("host -> {a}{suffix}")));
    lines.extend(names.iter().map(|a| format!("{a} -> {gw} mtu{suffix}")));
    lines
}

#[test]
fn a_healthy_dual_stack_network_passes_over_ipv4_then_ipv6() {
    let mut env = TestEnv::new("h3ok");
    let (net, names) = lab(&mut env, 1, 3);
    let out = check(&env, &net);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    let mut want = expected(&net, &names, "");
    want.extend(expected(&net, &names, " over IPv6"));
    assert_eq!(lines.len(), want.len() + 1, "{stdout}");
    for (line, want) in lines.iter().zip(&want) {
        let rest = line
            .strip_prefix(&format!("[PASS] {want} ("))
            .unwrap_or_else(|| panic!("{line:?} is not a PASS of {want}"));
        let ms = rest.strip_suffix(" ms)").expect("a round trip in ms");
        let (whole, frac) = ms.split_once('.').expect("two decimals");
        assert!(whole.parse::<u32>().is_ok() && frac.len() == 2, "{line}");
    }
    assert_eq!(lines.last(), Some(&"30 passed, 0 failed"));
    // The IPv6 neighbour entries the probes made are gone again.
    for name in &names {
        assert_eq!(neighbours6(name, "fdb4:1:"), Vec::<String>::new(), "{name}");
    }

    let json = env.sbx(&["network", "check", &net, "--json"]);
    assert_eq!(json.status.code(), Some(0));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(
        (value["passed"].as_u64(), value["failed"].as_u64()),
        (Some(30), Some(0))
    );
    let checks = value["checks"].as_array().expect("checks");
    let family = |f: &str| checks.iter().filter(|c| c["family"] == f).count();
    assert_eq!((family("ipv4"), family("ipv6")), (15, 15));
    for check in checks {
        for key in ["from", "to", "kind", "family", "ok", "rtt_ms", "why"] {
            assert!(check.get(key).is_some(), "{key} in {check}");
        }
        assert!(check["rtt_ms"].as_f64().is_some_and(|ms| ms > 0.0));
    }
    assert_eq!(checks[15]["family"], "ipv6");
    assert_eq!(checks[15]["from"], names[0].as_str());
    assert_eq!(checks[29]["kind"], "mtu");
    assert_eq!(checks[29]["to"], format!("gateway:{net}"));
}

#[test]
fn a_removed_ipv6_address_is_named() {
    let mut env = TestEnv::new("h3addr");
    let (net, names) = lab(&mut env, 2, 2);
    let (a, b) = (&names[0], &names[1]);
    ip_in(b, &["-6", "addr", "del", "fdb4:2::3/64", "dev", "eth0"]);
    let out = check(&env, &net);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let expected = format!("{b}'s eth0 lacks its address fdb4:2::3");
    for line in [
        format!("{a} -> {b} over IPv6"),
        format!("host -> {b} over IPv6"),
    ] {
        assert_eq!(
            why(&out, &line).as_deref(),
            Some(expected.as_str()),
            "{line}"
        );
    }
    // IPv4 is untouched.
    assert!(passed(&out, &format!("{a} -> {b}")));
    assert!(passed(&out, &format!("host -> {b}")));
}

#[test]
fn a_removed_ipv6_default_route_is_named_on_a_routed_expectation() {
    let mut env = TestEnv::new("h3route");
    let one = env.network(
        "h3-route1",
        &["--subnet", "10.194.3.0/24", "--subnet6", "fdb4:3::/64"],
    );
    let two = env.network(
        "h3-route2",
        &["--subnet", "10.194.4.0/24", "--subnet6", "fdb4:4::/64"],
    );
    let (a, b) = ("h3ra", "h3rb");
    env.detach(a, &[TRUST, "--network", &one, "--", "sleep", "300"]);
    env.detach(b, &[TRUST, "--network", &two, "--", "sleep", "300"]);
    ip_in(a, &["-6", "route", "del", "default"]);
    let file = env.root.join("lab.toml");
    std::fs::create_dir_all(&env.root).expect("state root");
    std::fs::write(
        &file,
        format!(
            "name = \"h3route\"\n[networks.{one}]\nsubnet = \"10.194.3.0/24\"\n\
             [networks.{two}]\nsubnet = \"10.194.4.0/24\"\n\
             [sandboxes.{a}]\nnetworks = {{ {one} = \"10.194.3.2\" }}\n\
             [sandboxes.{b}]\nnetworks = {{ {two} = \"10.194.4.2\" }}\n\
             [[expect]]\nfrom = \"{a}\"\nto = \"{b}\"\nreach = true\n"
        ),
    )
    .expect("lab file");
    let out = env.sbx(&["lab", "check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert_eq!(
        why(&out, &format!("{a} -> {b} expect over IPv6")).as_deref(),
        Some(
            format!(
                "{a} has no route to fdb4:4::2 (Network is unreachable): its default route via fdb4:3::1 is missing"
            )
            .as_str()
        ),
        "{}",
        text(&out.stdout)
    );
    // Each network's own checks pass: on-link, no default route needed.
    assert!(passed(&out, &format!("{a} -> gateway:{one} over IPv6")));
    assert!(passed(&out, &format!("host -> {a} over IPv6")));
}

/// An nf_tables table made by a test, deleted on drop.
struct NftTable(String);

impl Drop for NftTable {
    fn drop(&mut self) {
        let _ = host("nft", &["delete", "table", "ip6", &self.0]);
    }
}

#[test]
fn a_foreign_ip6_tables_forward_drop_is_named_and_spares_ipv4() {
    let bridge_nf = std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-ip6tables");
    if bridge_nf.map(|v| v.trim() != "1").unwrap_or(true) {
        eprintln!("skipped: bridged IPv6 meets ip6 tables only with bridge-nf-call-ip6tables=1");
        return;
    }
    let mut env = TestEnv::new("h3fw");
    let (net, names) = lab(&mut env, 5, 2);
    let table = NftTable(format!("h3fw{}", std::process::id()));
    let t = &table.0;
    // Policy drop, but only this test's bridge is left to it.
    for script in [
        format!("add table ip6 {t}"),
        format!(
            "add chain ip6 {t} h3forward {{ type filter hook forward priority 0; policy drop; }}"
        ),
        format!("add rule ip6 {t} h3forward iifname != \"{net}\" accept"),
    ] {
        let out = host("nft", &[&script]);
        assert!(out.status.success(), "nft {script}: {}", text(&out.stderr));
    }
    let out = check(&env, &net);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let (a, b) = (&names[0], &names[1]);
    let why_ab = why(&out, &format!("{a} -> {b} over IPv6")).expect("a -> b over IPv6 fails");
    assert_eq!(
        why_ab,
        format!(
            "net.bridge.bridge-nf-call-ip6tables=1 sends bridged traffic through another table's forward hook: table ip6 {t} chain h3forward has policy drop"
        )
    );
    assert!(why(&out, &format!("{b} -> {a} over IPv6")).is_some());
    // IPv4 never meets an ip6 table; the host and gateway are not forwarded to.
    assert!(passed(&out, &format!("{a} -> {b}")));
    assert!(passed(&out, &format!("host -> {a} over IPv6")));
    assert!(passed(&out, &format!("{a} -> gateway:{net} over IPv6")));
    assert!(text(&out.stdout).ends_with("14 passed, 2 failed\n"));
    drop(table);
    assert_eq!(check(&env, &net).status.code(), Some(0), "passes once gone");
}

#[test]
fn a_lowered_mtu_fails_the_ipv6_mtu_probe_naming_both_values() {
    let mut env = TestEnv::new("h3mtu");
    let (net, names) = lab(&mut env, 6, 2);
    let a = &names[0];
    ip_in(a, &["link", "set", "eth0", "mtu", "1400"]);
    let out = check(&env, &net);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let lower = why(&out, &format!("{a} -> gateway:{net} mtu over IPv6")).expect("fails");
    assert!(
        lower.starts_with(&format!(
            "MTU mismatch: {a}'s eth0 has MTU 1400, its host end "
        )) && lower.ends_with(" has 1500: the 1500-byte DF packet did not pass"),
        "{lower}"
    );
    assert!(passed(&out, &format!("{a} -> {} over IPv6", names[1])));
    assert!(passed(
        &out,
        &format!("{} -> gateway:{net} mtu over IPv6", names[1])
    ));
    // Both MTU probes of a (IPv4's and IPv6's) fail, nothing else.
    assert!(text(&out.stdout).ends_with("14 passed, 2 failed\n"));
}

/// SPEC "Checks": 50 sandboxes in under 5 s, here over IPv4 and IPv6
/// together (2 × 2,600 probes), leaving no neighbour entry behind.
#[test]
fn fifty_dual_stack_sandboxes_check_in_under_five_seconds() {
    let mut env = TestEnv::new("h3fifty");
    let (net, names) = lab(&mut env, 7, 50);
    let started = Instant::now();
    let out = check(&env, &net);
    let took = started.elapsed();
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        &stdout[stdout.len().saturating_sub(2000)..]
    );
    assert!(stdout.ends_with("5200 passed, 0 failed\n"));
    eprintln!("50 dual-stack sandboxes checked in {took:?}");
    assert!(took.as_secs_f64() < 5.0, "took {took:?}");
    for name in &names {
        assert_eq!(neighbours6(name, "fdb4:7:"), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn a_partition_holds_ipv6_too_and_is_named() {
    let mut env = TestEnv::new("h3part");
    let (net, names) = lab(&mut env, 8, 3);
    let (a, b, c) = (&names[0], &names[1], &names[2]);
    env.ok(&["partition", "add", a, b]);
    let out = check(&env, &net);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let expected = format!("partition set by sbx between {a} and {b} (sbx partition rm {a} {b})");
    for line in [format!("{a} -> {b}"), format!("{a} -> {b} over IPv6")] {
        assert_eq!(
            why(&out, &line).as_deref(),
            Some(expected.as_str()),
            "{line}"
        );
    }
    assert!(passed(&out, &format!("{a} -> {c} over IPv6")));
    // a <-> b both ways, over both families.
    assert!(text(&out.stdout).ends_with("26 passed, 4 failed\n"));
    env.ok(&["partition", "clear"]);
}

#[test]
fn a_stopped_peer_is_named_over_ipv6_too() {
    let mut env = TestEnv::new("h3stop");
    let (net, names) = lab(&mut env, 9, 2);
    let (a, b) = (&names[0], &names[1]);
    env.ok(&["stop", "-t", "1", b]);
    let out = check(&env, &net);
    assert_eq!(out.status.code(), Some(1));
    let expected = format!("{b} is not running (exited): start it again with 'sbx restart {b}'");
    for line in [
        format!("{a} -> {b} over IPv6"),
        format!("host -> {b} over IPv6"),
    ] {
        assert_eq!(
            why(&out, &line).as_deref(),
            Some(expected.as_str()),
            "{line}"
        );
    }
    assert!(passed(&out, &format!("{a} -> gateway:{net} over IPv6")));
    assert!(text(&out.stdout).ends_with("6 passed, 4 failed\n"));
}

/// Guarded sandboxes (no `--allow-spoofing`): the anti-spoofing filter
/// passes their own IPv6 addresses, and one that is not theirs is named.
#[test]
fn an_ipv6_address_not_its_own_is_the_anti_spoofing_filter() {
    let mut env = TestEnv::new("h3spf");
    let net = env.network(
        "h3-h3spf",
        &["--subnet", "10.194.10.0/24", "--subnet6", "fdb4:10::/64"],
    );
    let (a, b) = ("h3spfa", "h3spfb");
    for name in [a, b] {
        env.detach(name, &["--network", &net, "--", "sleep", "300"]);
    }
    if !host("nft", &["list", "set", "bridge", "sbx", "allow6"])
        .status
        .success()
    {
        eprintln!("skipped: this sbx's anti-spoofing filter has no IPv6 set (branch v6-spoof)");
        return;
    }
    let out = check(&env, &net);
    assert_eq!(out.status.code(), Some(0), "guarded: {}", text(&out.stdout));
    ip_in(a, &["-6", "addr", "del", "fdb4:10::2/64", "dev", "eth0"]);
    ip_in(
        a,
        &[
            "-6",
            "addr",
            "add",
            "fdb4:10::77/64",
            "dev",
            "eth0",
            "nodad",
        ],
    );
    let out = check(&env, &net);
    assert_eq!(out.status.code(), Some(1));
    let text_ab = why(&out, &format!("{a} -> {b} over IPv6")).expect("a -> b over IPv6 fails");
    assert!(
        text_ab.starts_with(&format!(
            "address fdb4:10::77 of {a} is not its own (anti-spoofing): its port lets only fdb4:10::2 through"
        )),
        "{text_ab}"
    );
    assert!(
        why(&out, &format!("host -> {a} over IPv6")).is_some_and(|w| w.contains("anti-spoofing"))
    );
    assert!(passed(&out, &format!("host -> {b} over IPv6")));
    assert!(passed(&out, &format!("{a} -> {b}")), "IPv4 is its own");
}
