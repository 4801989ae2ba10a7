//! Firewall drift (issue 8, item 16; SPEC "Networks"): `sbx run` verifies a
//! network's rules and IPv4 forwarding, restores what was lost, and says so
//! on stderr, once.

mod common;
use common::*;
use std::process::{Command, Stdio};

fn chain(name: &str) -> String {
    text(&host("nft", &["list", "chain", "ip", "sbx", name]).stdout)
}

fn warnings(stderr: &[u8], about: &str) -> usize {
    text(stderr)
        .lines()
        .filter(|l| l.starts_with("sbx: ") && l.contains(about))
        .count()
}

#[test]
fn a_flushed_nat_chain_is_restored_by_the_next_run_and_nat_works() {
    let upstream = HandNetns::new(
        "tst-up-drf",
        "tstu-drf",
        "198.51.100.1/24",
        "198.51.100.2/24",
    );
    let listener = listen_in(&upstream.name, "198.51.100.2:8080");
    let mut env = TestEnv::new("drift");
    let net = env.network(
        "tst-drf",
        &["--subnet", "10.251.1.0/24", "--bridge", "tstb-drf"],
    );
    let rule = "ip saddr 10.251.1.0/24 oifname != \"tstb-drf\" masquerade";
    assert!(chain("post-tstb-drf").contains(rule));

    // All is well: no word about the firewall.
    let quiet = env.sbx(&["run", "--rm", "--network", &net, "--", "true"]);
    assert!(quiet.status.success(), "{}", text(&quiet.stderr));
    assert_eq!(
        warnings(&quiet.stderr, "restored"),
        0,
        "{}",
        text(&quiet.stderr)
    );

    let flush = host("nft", &["flush", "chain", "ip", "sbx", "post-tstb-drf"]);
    assert!(flush.status.success(), "{}", text(&flush.stderr));
    assert!(!chain("post-tstb-drf").contains("masquerade"), "flushed");

    let client = {
        let cmd = env.cmd(&[
            "run",
            "--rm",
            "--network",
            &net,
            "--",
            "busybox",
            "nc",
            "-w",
            "3",
            "198.51.100.2",
            "8080",
        ]);
        std::thread::spawn(move || {
            let mut cmd = cmd;
            cmd.stdin(Stdio::null()).output().expect("run sbx")
        })
    };
    let source = accept_source(&listener);
    let out = client.join().expect("client thread");
    assert_eq!(
        warnings(&out.stderr, "restored"),
        1,
        "one line says the rules were restored: {}",
        text(&out.stderr)
    );
    assert!(
        chain("post-tstb-drf").contains(rule),
        "{}",
        chain("post-tstb-drf")
    );
    assert_eq!(
        source,
        Some("198.51.100.1".parse().unwrap()),
        "the connection is masqueraded again"
    );
    assert_eq!(text(&out.stdout).trim(), "hello from upstream");

    let again = env.sbx(&["run", "--rm", "--network", &net, "--", "true"]);
    assert_eq!(
        warnings(&again.stderr, "restored"),
        0,
        "{}",
        text(&again.stderr)
    );
    // Its two rules (outward and the published ports' hairpin), once each.
    assert_eq!(chain("post-tstb-drf").matches("masquerade").count(), 2);
}

#[test]
fn a_flushed_internal_chain_is_restored_by_the_next_run() {
    let mut env = TestEnv::new("driftin");
    let net = env.network(
        "tst-dri",
        &[
            "--subnet",
            "10.251.2.0/24",
            "--bridge",
            "tstb-dri",
            "--internal",
        ],
    );
    let drop = "iifname \"tstb-dri\" oifname != \"tstb-dri\" drop";
    assert!(chain("fwd-tstb-dri").contains(drop));
    host("nft", &["flush", "chain", "ip", "sbx", "fwd-tstb-dri"]);
    assert!(!chain("fwd-tstb-dri").contains("drop"));
    let out = env.sbx(&["run", "--rm", "--network", &net, "--", "true"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        warnings(&out.stderr, "restored"),
        1,
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        chain("fwd-tstb-dri").matches(" drop").count(),
        2,
        "{}",
        chain("fwd-tstb-dri")
    );
}

/// Forwarding is host-global, so this runs in a "host" of its own
/// (TESTING.md): a private network namespace with a private /run/netns,
/// where the test turns ip_forward off without disturbing anyone.
#[test]
fn forwarding_turned_off_is_turned_back_on_with_a_warning() {
    let env = TestEnv::new("driftfw");
    let script = r#"
set -u
mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns || exit 90
ip link set lo up
ip netns add up
ip link add tstu-fwd type veth peer name eth0 netns up
ip addr add 198.51.100.1/24 dev tstu-fwd && ip link set tstu-fwd up
ip -n up addr add 198.51.100.2/24 dev eth0 && ip -n up link set eth0 up
"$SBX" network create tst-fwd --subnet 10.251.4.0/24 --bridge tstb-fwd >/dev/null || exit 91
"$SBX" run --rm --network tst-fwd -- ping -c1 -W2 198.51.100.2 >/dev/null 2>&1 || exit 92
echo 0 > /proc/sys/net/ipv4/ip_forward
"$SBX" run --rm --network tst-fwd -- ping -c1 -W2 198.51.100.2 >/dev/null; echo "first=$?"
echo "forward=$(cat /proc/sys/net/ipv4/ip_forward)"
"$SBX" run --rm --network tst-fwd -- true; echo "second=$?"
"$SBX" network rm tst-fwd >/dev/null
"#;
    let out = Command::new("unshare")
        .args(["--net", "--mount", "sh", "-c", script])
        .env("SBX", SBX)
        .env("SBX_ROOT", &env.root)
        .env_remove("SBX_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run unshare");
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(
        out.status.success(),
        "setup failed ({:?}): {stderr}",
        out.status.code()
    );
    assert!(
        stdout.contains("first=0"),
        "the sandbox reaches upstream: {stdout} {stderr}"
    );
    assert!(
        stdout.contains("forward=1"),
        "forwarding is back on: {stdout}"
    );
    assert!(stdout.contains("second=0"), "{stdout}");
    assert_eq!(
        warnings(&out.stderr, "ip_forward"),
        1,
        "one line about forwarding, from the first run only: {stderr}"
    );
}
