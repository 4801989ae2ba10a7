//! SPEC "Trust" over IPv6 (issue 15): on a dual-stack network a sandbox,
//! even with NET_ADMIN, cannot send from another's IPv6 address, poison a
//! neighbour cache with a forged Neighbour Advertisement or give its
//! neighbours routes with a Router Advertisement, while honest IPv6 with
//! cold neighbour caches passes; `--allow-spoofing` lets each attempt
//! through (so the filter is what stopped it), and a v4-only network's
//! sandboxes still send no IPv6 at all.
//!
//! Everything runs in a private "host" (its own network and mount
//! namespaces, /run/netns and state root: TESTING.md), so a forged RA or
//! NA can only ever reach the test's own bridge, never the real host's.

mod common;
use common::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Sends forged Neighbour Discovery from inside a sandbox's netns, with a
/// raw ICMPv6 socket (the kernel fills in the checksum; hop limit 255 as
/// RFC 4861 requires): `nd.py KIND SRC DST [TARGET] [LLADDR]`, KIND `na`
/// (override flag, target link-layer option LLADDR) or `ra` (router
/// lifetime 1800 s, source link-layer option LLADDR).
const ND_PY: &str = r#"
import socket, struct, sys
kind, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
target = socket.inet_pton(socket.AF_INET6, sys.argv[4] if len(sys.argv) > 4 else "::")
ll = bytes.fromhex(sys.argv[5].replace(":", "")) if len(sys.argv) > 5 else b""
eth0 = socket.if_nametoindex("eth0")
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
s.bind((src, 0, 0, eth0))
if kind == "na":
    msg = struct.pack("!BBHI", 136, 0, 0, 0x20000000) + target
    if ll: msg += bytes([2, 1]) + ll
else:
    msg = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0)
    if ll: msg += bytes([1, 1]) + ll
for _ in range(3):
    s.sendto(msg, (dst, 0, 0, eth0))
"#;

/// The scenario, as `key=value` lines (0 = the ping answered).
const SCRIPT: &str = r#"
set -u
mount -t tmpfs tmpfs /run/netns || mount -t tmpfs tmpfs /run
mkdir -p /run/netns
ip link set lo up
ALL="v6sv v6so v6sm v6sr v6s4a v6s4b"
trap 'for s in $ALL; do "$SBX" rm -f $s >/dev/null 2>&1; done; "$SBX" network rm tst-v6s tst-v6s4 >/dev/null 2>&1' EXIT
BR=tstb-v6s
"$SBX" network create tst-v6s --subnet 10.193.1.0/24 --subnet6 fdb3:1::/64 \
    --gateway6 fdb3:1::1 --bridge $BR >/dev/null || exit 1
run() { name=$1; four=$2; six=$3; shift 3
    "$SBX" run -d --name $name --network tst-v6s --ip $four --ip6 $six "$@" -- sleep 300 >/dev/null || exit 1; }
run v6sv 10.193.1.10 fdb3:1::10
run v6so 10.193.1.30 fdb3:1::30
run v6sm 10.193.1.20 fdb3:1::20 --cap-add NET_ADMIN
run v6sr 10.193.1.40 fdb3:1::40 --cap-add NET_ADMIN --allow-spoofing
inns() { ns=$1; shift; ip netns exec sbx-$ns "$@"; }
pings() { ns=$1; shift; inns $ns ping -c1 -W2 "$@" >/dev/null 2>&1; echo $?; }
mac() { ip -n sbx-$1 -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }
cached() { ip -n sbx-$1 -6 neigh show $2 | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p'; }
gwcached() { ip -6 neigh show $1 dev $BR | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p'; }
flush() { for s in v6sv v6so v6sm v6sr; do ip -n sbx-$s neigh flush all; done; ip neigh flush dev $BR; }
eui64() { python3 -c 'import sys,ipaddress; m=bytes.fromhex(sys.argv[1].replace(":","")); print(ipaddress.IPv6Address(bytes([0xfe,0x80]+[0]*6+[m[0]^2,m[1],m[2],0xff,0xfe,m[3],m[4],m[5]])))' $1; }
V=$(mac v6sv); M=$(mac v6sm); R=$(mac v6sr)
echo "macs=$V $M $R"

# Honest IPv6 with cold neighbour caches: ND from global addresses.
flush
echo "honest_o_v=$(pings v6so fdb3:1::10)"
echo "honest_v_o=$(pings v6sv fdb3:1::30)"
echo "honest_m_o=$(pings v6sm fdb3:1::30)"
echo "honest_o_gw=$(pings v6so fdb3:1::1)"
ping -c1 -W2 fdb3:1::20 >/dev/null 2>&1; echo "honest_host_m=$?"
echo "honest_o_cache=$(cached v6so fdb3:1::10)"
echo "honest_big=$(pings v6so -s 3000 fdb3:1::10)"

# Takeover: the attacker adds the victim's address and sends from it.
for a in v6sm v6sr; do
    "$SBX" exec $a -- ip -6 addr add fdb3:1::10/128 dev eth0 nodad; echo "added_$a=$?"
    flush
    echo "takeover_${a}_o=$(pings $a -I fdb3:1::10 fdb3:1::30)"
    echo "takeover_${a}_gw=$(pings $a -I fdb3:1::10 fdb3:1::1)"
    echo "takeover_${a}_cache=$(cached v6so fdb3:1::10)"
    "$SBX" exec $a -- ip -6 addr del fdb3:1::10/128 dev eth0
done

# Forged Neighbour Advertisements (override), to all nodes and to the
# observer and the gateway directly: the victim's address with the
# attacker's MAC; then the attacker's own address with the victim's MAC.
for a in v6sm v6sr; do
    own=$( [ $a = v6sm ] && echo fdb3:1::20 || echo fdb3:1::40 )
    amac=$( [ $a = v6sm ] && echo $M || echo $R )
    flush
    pings v6so fdb3:1::10 >/dev/null; ping -c1 -W2 fdb3:1::10 >/dev/null 2>&1
    pings v6so $own >/dev/null
    echo "primed_${a}=$(cached v6so fdb3:1::10) $(gwcached fdb3:1::10) $(cached v6so $own)"
    for dst in ff02::1 fdb3:1::30 fdb3:1::1; do
        inns $a python3 "$ND" na $own $dst fdb3:1::10 $amac
        inns $a python3 "$ND" na $own $dst $own $V
    done
    sleep 0.3
    echo "na_${a}=$(cached v6so fdb3:1::10) $(gwcached fdb3:1::10) $(cached v6so $own)"
done

# A forged Router Advertisement from the attacker's own link-local address
# (sbx gives sandboxes none; NET_ADMIN adds the EUI-64 one, which the
# filter counts as its own).
for a in v6sm v6sr; do
    amac=$( [ $a = v6sm ] && echo $M || echo $R )
    ll=$(eui64 $amac)
    "$SBX" exec $a -- ip -6 addr add $ll/64 dev eth0 nodad
    inns $a python3 "$ND" ra $ll ff02::1 :: $amac
    inns $a python3 "$ND" ra $ll fdb3:1::10 :: $amac
    sleep 0.3
    echo "ra_${a}=$(ip -n sbx-v6sv -6 route show default proto ra | grep -c .)"
    ip -n sbx-v6sv -6 route flush proto ra
done

# One allow6 element per source (address, link-local, ::) per guarded
# dual-stack port; a trusted port has none; constant rules.
echo "ll_elements=$(nft list set bridge sbx allow6 | grep -o fe80:: | grep -c .)"
rules() { nft -a list chain bridge sbx $1 | grep -c 'handle'; }
before="$(rules sandbox) $(rules sandbox6)"

# A v4-only network: its sandboxes' IPv6 is dropped, as before IPv6 came.
"$SBX" network create tst-v6s4 --subnet 10.193.2.0/24 --bridge tstb-v6s4 >/dev/null || exit 1
"$SBX" run -d --name v6s4a --network tst-v6s4 --ip 10.193.2.10 -- sleep 300 >/dev/null || exit 1
"$SBX" run -d --name v6s4b --network tst-v6s4 --ip 10.193.2.20 -- sleep 300 >/dev/null || exit 1
inns v6s4a ip -6 addr add fdb3:2::10/64 dev eth0 nodad
inns v6s4b ip -6 addr add fdb3:2::20/64 dev eth0 nodad
echo "v4only_v4=$(pings v6s4a 10.193.2.20)"
echo "v4only_v6=$(pings v6s4a fdb3:2::20)"
echo "v4only_ll_elements=$(nft list set bridge sbx allow6 | grep -o fe80:: | grep -c .)"
"$SBX" rm -f v6sv >/dev/null
echo "after_rm_ll_elements=$(nft list set bridge sbx allow6 | grep -o fe80:: | grep -c .)"
echo "rules_same=$([ "$before" = "$(rules sandbox) $(rules sandbox6)" ] && echo yes || echo "no: $before")"
"#;

#[test]
fn ipv6_spoofing_reaches_nobody_and_honest_ipv6_passes() {
    let root = PathBuf::from(format!("/tmp/sbx-tst-v6spoof-{}", std::process::id()));
    std::fs::create_dir_all(&root).expect("state root");
    let nd = root.join("nd.py");
    std::fs::write(&nd, ND_PY).expect("write nd.py");
    let out = Command::new("unshare")
        .args([
            "--net",
            "--mount",
            "--propagation",
            "private",
            "bash",
            "-c",
            SCRIPT,
        ])
        .env("SBX", SBX)
        .env("SBX_ROOT", &root)
        .env("ND", &nd)
        .env_remove("SBX_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run unshare");
    let _ = std::fs::remove_dir_all(&root);
    let stdout = text(&out.stdout);
    let all = format!("{stdout}\n{}", text(&out.stderr));
    let facts: HashMap<&str, &str> = stdout.lines().filter_map(|l| l.split_once('=')).collect();
    let fact = |key: &str| -> &str {
        facts
            .get(key)
            .copied()
            .unwrap_or_else(|| panic!("no {key} in:\n{all}"))
    };
    let macs: Vec<&str> = fact("macs").split(' ').collect();
    let [v, m, r] = macs[..] else {
        panic!("three MACs: {all}")
    };

    for key in [
        "honest_o_v",
        "honest_v_o",
        "honest_m_o",
        "honest_o_gw",
        "honest_host_m",
        "honest_big",
    ] {
        assert_eq!(fact(key), "0", "{key}: honest IPv6 passes\n{all}");
    }
    assert_eq!(fact("honest_o_cache"), v, "{all}");

    // Takeover of the victim's address: nobody answers the guarded one.
    assert_eq!(fact("added_v6sm"), "0", "NET_ADMIN adds addresses\n{all}");
    assert_eq!(fact("takeover_v6sm_o"), "1", "{all}");
    assert_eq!(fact("takeover_v6sm_gw"), "1", "{all}");
    assert_ne!(fact("takeover_v6sm_cache"), m, "{all}");
    assert_eq!(fact("takeover_v6sr_o"), "0", "--allow-spoofing: {all}");
    assert_eq!(fact("takeover_v6sr_cache"), r, "{all}");

    // Forged NAs: the caches keep the truth, unless the sender is trusted.
    assert_eq!(fact("primed_v6sm"), format!("{v} {v} {m}"), "{all}");
    assert_eq!(fact("na_v6sm"), format!("{v} {v} {m}"), "{all}");
    assert_eq!(fact("primed_v6sr"), format!("{v} {v} {r}"), "{all}");
    assert_eq!(fact("na_v6sr"), format!("{r} {r} {v}"), "{all}");

    // A forged RA gives the victim no default route, unless trusted.
    assert_eq!(fact("ra_v6sm"), "0", "{all}");
    assert_eq!(fact("ra_v6sr"), "1", "the victim accepts RAs: {all}");

    // v, o and m each have their link-local source; r (trusted) none; a
    // v4-only network adds none and keeps its IPv6 from passing.
    assert_eq!(fact("ll_elements"), "3", "{all}");
    assert_eq!(fact("v4only_v4"), "0", "{all}");
    assert_eq!(fact("v4only_v6"), "1", "{all}");
    assert_eq!(fact("v4only_ll_elements"), "3", "{all}");
    assert_eq!(fact("after_rm_ll_elements"), "2", "{all}");
    assert_eq!(fact("rules_same"), "yes", "{all}");
}
