//! Published ports over IPv6 (SPEC "Ports", "IPv6"), in a "host" of its
//! own (TESTING.md: a private network and mount namespace, private
//! /run/netns and state root). The host holds 2001:db8:2::1/64 on a veth
//! to a client namespace at 2001:db8:2::2 (another "machine").

mod common;
use common::*;
use std::process::{Command, Stdio};

const SCRIPT: &str = r#"
set -u
mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns || exit 90
# sysfs of this namespace (bridge ports are set there), the cgroups kept.
CG=$(mktemp -d) && mount --rbind /sys/fs/cgroup "$CG" || exit 90
mount -t sysfs sysfs /sys && mount --rbind "$CG" /sys/fs/cgroup || exit 90
ip link set lo up
ip netns add cl
ip link add tstu-p6 type veth peer name eth0 netns cl
ip link set tstu-p6 up && ip -6 addr add 2001:db8:2::1/64 dev tstu-p6 nodad || exit 90
ip -n cl link set lo up; ip -n cl link set eth0 up
ip -n cl -6 addr add 2001:db8:2::2/64 dev eth0 nodad || exit 90
trap 'for s in $("$SBX" ps -aq 2>/dev/null); do "$SBX" rm -f "$s" >/dev/null 2>&1; done' EXIT
ask() { timeout 5 socat -T2 - "$@" </dev/null 2>/dev/null; }
"$SBX" network create tst-p6 --subnet 10.254.8.0/24 --subnet6 fdb2:8::/64 --bridge tstb-p6 >/dev/null || exit 91
"$SBX" network create tst-p4 --subnet 10.254.10.0/24 --bridge tstb-p4 >/dev/null || exit 91
"$SBX" run -d --allow-spoofing --name tst-web --network tst-p6 --ip6 fdb2:8::80 -p 8080:80 -p '[::1]:8081:80' -- \
  socat TCP6-LISTEN:80,fork,reuseaddr 'SYSTEM:echo peer=$SOCAT_PEERADDR' >/dev/null || exit 92
sleep 0.5
echo "host_v6=$(ask 'TCP6:[2001:db8:2::1]:8080')"
echo "other_machine=$(ip netns exec cl socat -T2 - 'TCP6:[2001:db8:2::1]:8080' </dev/null 2>/dev/null)"
echo "v4=$(ask TCP4:127.0.0.1:8080)"
echo "hairpin=$("$SBX" run --rm --allow-spoofing --network tst-p6 -- socat -T2 - 'TCP6:[fdb2:8::1]:8080' </dev/null 2>/dev/null)"
echo "hairpin_self=$(ip netns exec sbx-tst-web socat -T2 - 'TCP6:[2001:db8:2::1]:8080' </dev/null 2>/dev/null)"
echo "knob=$(cat /proc/sys/net/bridge/bridge-nf-call-ip6tables 2>/dev/null)"
echo "warned=$("$SBX" run --rm --allow-spoofing --network tst-p6 -p '[::1]:9092:80' -- true 2>&1 | grep -c 'cannot answer while net.bridge.bridge-nf-call-ip6tables is 1')"
# ::1 needs the bridge's IPv6 kept from the ip6 hooks (see firewall::ports6).
echo 0 > /proc/sys/net/bridge/bridge-nf-call-ip6tables 2>/dev/null
echo "localhost=$(ask 'TCP6:[::1]:8080')"
echo "localhost_only=$(ask 'TCP6:[::1]:8081')"
echo "not_on_v6_address=$(ip netns exec cl socat -T2 - 'TCP6:[2001:db8:2::1]:8081' </dev/null 2>/dev/null)"
echo "ps=$("$SBX" ps --format '{{.Ports}}' 2>/dev/null || "$SBX" ps | grep tst-web)"
"$SBX" run --rm --network tst-p6 -p '[::]:8080:80' -- true 2>&1 >/dev/null; echo "clash=$?"
"$SBX" run --rm --network tst-p4 -p '[::1]:9090:80' -- true 2>&1 >/dev/null; echo "v4only=$?"
"$SBX" run --rm --network tst-p6 -p '[2001:db8:99::1]:9090:80' -- true 2>&1 >/dev/null; echo "foreign=$?"
# Another state root's sandbox: only the kernel's map knows the port.
R2="$SBX_ROOT-2"
SBX_ROOT="$R2" "$SBX" network create tst-q6 --subnet 10.254.11.0/24 --subnet6 fdb2:11::/64 --bridge tstb-q6 >/dev/null || exit 95
SBX_ROOT="$R2" "$SBX" run --rm --allow-spoofing --network tst-q6 -p '[::]:8080:80' -- true 2>&1 >/dev/null; echo "other_root=$?"
SBX_ROOT="$R2" "$SBX" network rm tst-q6 >/dev/null; rm -rf "$R2"
echo "elements=$(nft list table ip6 sbx | grep -c 'fdb2:8::80')"
"$SBX" rm -f tst-web >/dev/null
echo "elements_after=$(nft list table ip6 sbx | grep -c 'fdb2:8::80')"
echo "gone=$(ip netns exec cl socat -T2 - 'TCP6:[2001:db8:2::1]:8080' </dev/null 2>/dev/null)"
# A crash (supervisor and init killed): the elements stay until swept,
# the port goes to the next sandbox at once, and the sweep leaves its.
"$SBX" run -d --allow-spoofing --name tst-k1 --network tst-p6 --ip6 fdb2:8::91 -p 8090:80 -- sleep 60 >/dev/null || exit 93
pid=$("$SBX" inspect tst-k1 | grep -o '"pid": *[0-9]*' | head -1 | grep -o '[0-9]*$')
kill -9 "$(awk '{print $4}' /proc/$pid/stat)" "$pid"; sleep 0.5
echo "crashed=$(nft list map ip6 sbx ports-any | grep -c 'fdb2:8::91')"
"$SBX" run -d --allow-spoofing --name tst-k2 --network tst-p6 --ip6 fdb2:8::92 -p 8090:80 -- sleep 60 >/dev/null || exit 94
"$SBX" prune >/dev/null 2>&1
echo "taken_over=$(nft list map ip6 sbx ports-any | grep -c 'tcp . 8090 : fdb2:8::92 . 80')"
echo "stale=$(nft list map ip6 sbx ports-any | grep -c 'fdb2:8::91')"
"$SBX" rm -f tst-k2 >/dev/null
echo "swept=$(nft list map ip6 sbx ports-any | grep -c 8090)"
"$SBX" network rm tst-p6 tst-p4 >/dev/null
echo "table=$(nft list table ip6 sbx >/dev/null 2>&1 && echo yes || echo no)"
"#;

#[test]
fn published_ports_answer_on_ipv6_host_addresses_localhost_and_by_hairpin() {
    let root = std::env::temp_dir().join(format!("sbx-tst-p6-{}", std::process::id()));
    let out = Command::new("unshare")
        .args([
            "--net",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            SCRIPT,
        ])
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
        "{:?}: {stdout}\n{stderr}",
        out.status.code()
    );
    let line = |key: &str| -> String {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key}= in: {stdout}\n{stderr}"))
            .to_string()
    };
    let all = format!("{stdout}\n{stderr}");
    assert!(
        line("host_v6").starts_with("peer=["),
        "the host's own IPv6 address: {all}"
    );
    assert_eq!(
        line("other_machine"),
        "peer=[2001:0db8:0002:0000:0000:0000:0000:0002]",
        "a client from another machine is seen with its real address: {all}"
    );
    assert_eq!(
        line("v4"),
        "peer=[0000:0000:0000:0000:0000:ffff:0afe:0801]",
        "IPv4 unchanged (127.0.0.1 masqueraded to the gateway 10.254.8.1): {all}"
    );
    assert!(
        line("hairpin").starts_with("peer=["),
        "hairpin through the gateway: {all}"
    );
    assert!(
        line("hairpin_self").starts_with("peer=["),
        "the publisher itself: {all}"
    );
    assert_eq!(
        line("localhost"),
        "peer=[fdb2:0008:0000:0000:0000:0000:0000:0001]",
        "::1, masqueraded to the gateway: {all}"
    );
    assert!(
        line("localhost_only").starts_with("peer="),
        "[::1]:8081: {all}"
    );
    assert_eq!(line("not_on_v6_address"), "", "[::1]:8081 is ::1 only");
    assert!(line("ps").contains("[::1]:8081->80/tcp"), "{all}");
    assert!(line("ps").contains("0.0.0.0:8080->80/tcp"), "{all}");
    assert_eq!(line("clash"), "125", "[::] clashes with 0.0.0.0: {all}");
    assert!(
        all.contains("host port [::]:8080/tcp is already published by sandbox tst-web"),
        "{all}"
    );
    assert_eq!(line("other_root"), "125");
    assert!(
        all.contains(
            "host port [::]:8080/tcp is already published by a sandbox of another sbx state root"
        ),
        "{all}"
    );
    assert_eq!(line("v4only"), "125");
    assert!(
        all.contains("-p [::1]:9090: network tst-p4 has no IPv6 subnet"),
        "{all}"
    );
    assert_eq!(line("foreign"), "125");
    assert!(
        all.contains("2001:db8:99::1 is not an address of this host"),
        "{all}"
    );
    assert_eq!(line("elements"), "2", "one element per port: {all}");
    assert_eq!(line("elements_after"), "0", "gone with the sandbox");
    assert_eq!(line("gone"), "");
    assert_eq!(line("crashed"), "1", "left until swept: {all}");
    assert_eq!(line("taken_over"), "1", "{all}");
    assert_eq!(line("stale"), "0", "{all}");
    assert_eq!(line("swept"), "0", "{all}");
    assert_eq!(line("table"), "no");
}
