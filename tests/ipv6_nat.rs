//! NAT66, IPv6 forwarding, the internal drop and isolation over IPv6
//! (SPEC "IPv6", "Networks", "Trust"), each in a "host" of its own
//! (TESTING.md): a private network and mount namespace with a private
//! /run/netns and state root, since IPv6 forwarding is host-wide. The
//! outside is a fake upstream namespace holding 2001:db8:2::2/64
//! (documentation range), reached through a veth whose host end holds
//! 2001:db8:2::1/64.

mod common;
use common::*;
use std::process::{Command, Stdio};

/// The upstream, a TCP listener on it that answers with the peer's
/// address, and two veths (`keep0`, `keep1`) standing for the host's other
/// interfaces, `keep1` a router on its link (own `forwarding` 1).
const SETUP: &str = r#"
set -u
mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns || exit 90
ip link set lo up
ip link add keep0 type veth peer name keep1 && ip link set keep0 up || exit 90
echo 1 > /proc/sys/net/ipv6/conf/keep1/forwarding || exit 90
ip netns add up
ip link add tstu-6 type veth peer name eth0 netns up
ip link set tstu-6 up && ip -6 addr add 2001:db8:2::1/64 dev tstu-6 nodad || exit 90
ip -n up link set lo up; ip -n up link set eth0 up
ip -n up -6 addr add 2001:db8:2::2/64 dev eth0 nodad || exit 90
ip netns exec up socat -T3 TCP6-LISTEN:8080,fork,reuseaddr SYSTEM:'echo peer=$SOCAT_PEERADDR' &
LISTENER=$!
trap 'kill $LISTENER 2>/dev/null; for s in $("$SBX" ps -aq 2>/dev/null); do "$SBX" rm -f "$s" >/dev/null 2>&1; done' EXIT
fwd() { echo "all=$(cat /proc/sys/net/ipv6/conf/all/forwarding) keep0=$(cat /proc/sys/net/ipv6/conf/keep0/forwarding) keep1=$(cat /proc/sys/net/ipv6/conf/keep1/forwarding) default=$(cat /proc/sys/net/ipv6/conf/default/forwarding)"; }
table6() { nft list table ip6 sbx >/dev/null 2>&1 && echo yes || echo no; }
sleep 0.3
"#;

/// Runs `script` (after [`SETUP`]) in a private host; its stdout and
/// stderr.
fn in_private_host(id: &str, script: &str) -> (String, String) {
    let root = std::env::temp_dir().join(format!("sbx-tst-{id}-{}", std::process::id()));
    let out = Command::new("unshare")
        .args(["--net", "--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!("{SETUP}\n{script}"))
        .env("SBX", SBX)
        .env("SBX_ROOT", &root)
        .env_remove("SBX_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run unshare");
    let _ = std::fs::remove_dir_all(&root);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(
        out.status.success(),
        "setup failed ({:?}): {stdout}\n{stderr}",
        out.status.code()
    );
    (stdout, stderr)
}

/// `key=...` of the script's output.
fn line<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in: {stdout}"))
}

#[test]
fn a_dual_stack_sandbox_reaches_the_outside_masqueraded_and_forwarding_goes_back() {
    let (stdout, stderr) = in_private_host(
        "n6nat",
        r#"
"$SBX" network create tst-v4only --subnet 10.254.9.0/24 --bridge tstb-v4o >/dev/null || exit 91
echo "v4table=$(table6)"
echo "v4fwd=$(fwd)"
"$SBX" network rm tst-v4only >/dev/null
echo "before=$(fwd)"
"$SBX" network create tst-n6 --subnet 10.254.1.0/24 --subnet6 fdb2:1::/64 --bridge tstb-n6 >/dev/null || exit 92
echo "during=$(fwd) bridge=$(cat /proc/sys/net/ipv6/conf/tstb-n6/forwarding) accept_ra=$(cat /proc/sys/net/ipv6/conf/tstb-n6/accept_ra)"
echo "rules=$(nft list chain ip6 sbx post-tstb-n6 | grep -c 'ip6 saddr fdb2:1::/64 oifname != "tstb-n6" masquerade')"
echo "reply=$("$SBX" run --rm --allow-spoofing --network tst-n6 -- busybox nc -w 3 2001:db8:2::2 8080 </dev/null)"
nft flush chain ip6 sbx post-tstb-n6
# Someone turns forwarding off (which writes every interface's value too)
# and puts keep1's back.
echo 0 > /proc/sys/net/ipv6/conf/all/forwarding
echo 1 > /proc/sys/net/ipv6/conf/keep1/forwarding
echo "repaired=$("$SBX" run --rm --allow-spoofing --network tst-n6 -- busybox nc -w 3 2001:db8:2::2 8080 </dev/null)"
echo "again=$(fwd)"
"$SBX" network rm tst-n6 >/dev/null || exit 93
echo "after=$(fwd)"
echo "table=$(table6)"
"#,
    );
    assert_eq!(
        line(&stdout, "v4table"),
        "no",
        "a v4-only network makes no ip6 table"
    );
    let before = "all=0 keep0=0 keep1=1 default=0";
    assert_eq!(
        line(&stdout, "v4fwd"),
        before,
        "nor touches IPv6 forwarding"
    );
    assert_eq!(line(&stdout, "before"), before);
    assert_eq!(
        line(&stdout, "during"),
        "all=1 keep0=0 keep1=1 default=0 bridge=1 accept_ra=0",
        "forwarding on, every other interface's own value as it was"
    );
    assert_eq!(line(&stdout, "rules"), "1", "{stdout}");
    assert_eq!(
        line(&stdout, "reply"),
        "peer=[2001:0db8:0002:0000:0000:0000:0000:0001]",
        "the upstream sees the host's address, not fdb2:1::2"
    );
    assert_eq!(
        line(&stdout, "repaired"),
        "peer=[2001:0db8:0002:0000:0000:0000:0000:0001]",
        "{stderr}"
    );
    assert!(
        stderr.contains("IPv6 firewall rules of network tst-n6 (nf_tables chain ip6 sbx post-tstb-n6) were missing or changed: restored them"),
        "{stderr}"
    );
    assert!(
        stderr.contains("net.ipv6.conf.all.forwarding was 0, so sandboxes of network tst-n6 could not reach the outside over IPv6: turned it back on"),
        "{stderr}"
    );
    assert_eq!(line(&stdout, "again"), "all=1 keep0=0 keep1=1 default=0");
    assert_eq!(
        line(&stdout, "after"),
        before,
        "forwarding off again, keep1 still a router"
    );
    assert_eq!(
        line(&stdout, "table"),
        "no",
        "the ip6 table goes with the last network"
    );
}

#[test]
fn forwarding_sbx_did_not_turn_on_stays_on_and_a_second_network_keeps_it() {
    let (stdout, _) = in_private_host(
        "n6keep",
        r#"
"$SBX" network create tst-k1 --subnet 10.254.2.0/24 --subnet6 fdb2:2::/64 --bridge tstb-k1 >/dev/null || exit 91
"$SBX" network create tst-k2 --subnet 10.254.3.0/24 --subnet6 fdb2:3::/64 --bridge tstb-k2 >/dev/null || exit 91
"$SBX" network rm tst-k1 >/dev/null
echo "one=$(fwd) table=$(table6)"
"$SBX" network rm tst-k2 >/dev/null
echo "none=$(fwd) table=$(table6)"
echo 1 > /proc/sys/net/ipv6/conf/all/forwarding
"$SBX" network create tst-k3 --subnet 10.254.4.0/24 --subnet6 fdb2:4::/64 --bridge tstb-k3 >/dev/null || exit 91
"$SBX" network rm tst-k3 >/dev/null
echo "admin=$(cat /proc/sys/net/ipv6/conf/all/forwarding) table=$(table6)"
"#,
    );
    assert_eq!(
        line(&stdout, "one"),
        "all=1 keep0=0 keep1=1 default=0 table=yes"
    );
    assert_eq!(
        line(&stdout, "none"),
        "all=0 keep0=0 keep1=1 default=0 table=no"
    );
    assert_eq!(
        line(&stdout, "admin"),
        "1 table=no",
        "forwarding the admin turned on is left on"
    );
}

#[test]
fn an_internal_dual_stack_network_has_no_way_out_over_ipv6() {
    let (stdout, _) = in_private_host(
        "n6int",
        r#"
# The upstream could answer directly and the host forwards: only sbx's
# drop keeps the sandbox in.
ip -n up -6 route add fdb2:5::/64 via 2001:db8:2::1 || exit 90
echo 1 > /proc/sys/net/ipv6/conf/all/forwarding
"$SBX" network create tst-i6 --internal --subnet 10.254.5.0/24 --subnet6 fdb2:5::/64 --bridge tstb-i6 >/dev/null || exit 91
echo "masq=$(nft list table ip6 sbx | grep -c masquerade)"
echo "drops=$(nft list chain ip6 sbx fwd-tstb-i6 | grep -c drop)"
echo "out=$("$SBX" run --rm --allow-spoofing --network tst-i6 -- busybox nc -w 2 2001:db8:2::2 8080 </dev/null)"
"$SBX" run --rm --allow-spoofing --network tst-i6 -- ping -6 -c1 -W2 fdb2:5::1 >/dev/null; echo "gateway=$?"
"$SBX" network rm tst-i6 >/dev/null
echo "table=$(table6)"
"#,
    );
    assert_eq!(
        line(&stdout, "masq"),
        "1",
        "only ports-post's ::1 rule: {stdout}"
    );
    assert_eq!(line(&stdout, "drops"), "2");
    assert_eq!(
        line(&stdout, "out"),
        "",
        "nothing leaves an internal network"
    );
    assert_eq!(line(&stdout, "gateway"), "0", "its gateway is reachable");
    assert_eq!(line(&stdout, "table"), "no");
}

#[test]
fn two_dual_stack_networks_cannot_reach_each_other_over_ipv6() {
    let (stdout, _) = in_private_host(
        "n6iso",
        r#"
"$SBX" network create tst-a6 --subnet 10.254.6.0/24 --subnet6 fdb2:6::/64 --bridge tstb-a6 >/dev/null || exit 91
"$SBX" network create tst-b6 --subnet 10.254.7.0/24 --subnet6 fdb2:7::/64 --bridge tstb-b6 >/dev/null || exit 91
"$SBX" run -d --allow-spoofing --name tst-b --network tst-b6 --ip6 fdb2:7::20 -- sleep 60 >/dev/null || exit 92
"$SBX" run --rm --allow-spoofing --network tst-a6 -- ping -6 -c1 -W2 fdb2:7::20 >/dev/null; echo "across=$?"
"$SBX" run --rm --allow-spoofing --network tst-a6 -- ping -6 -c1 -W2 fdb2:6::1 >/dev/null; echo "gateway_a=$?"
ip netns exec sbx-tst-b ping -6 -c1 -W2 fdb2:7::1 >/dev/null; echo "gateway_b=$?"
ip netns exec sbx-tst-b ping -6 -c1 -W2 2001:db8:2::2 >/dev/null; echo "outside_b=$?"
"$SBX" run --rm --allow-spoofing --network tst-a6 -- ping -6 -c1 -W2 fdb2:6::1 >/dev/null
"$SBX" rm -f tst-b >/dev/null
"$SBX" network rm tst-a6 tst-b6 >/dev/null
echo "table=$(table6)"
"#,
    );
    assert_eq!(line(&stdout, "across"), "1", "isolated: {stdout}");
    assert_eq!(line(&stdout, "gateway_a"), "0");
    assert_eq!(line(&stdout, "gateway_b"), "0");
    assert_eq!(line(&stdout, "outside_b"), "0", "NAT66 still works");
    assert_eq!(line(&stdout, "table"), "no");
}
