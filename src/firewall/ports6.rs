//! Published ports over IPv6 (SPEC "Ports", "IPv6"): the same kernel-only
//! DNAT as `ports`, in sbx's `ip6` table, for sandboxes with an IPv6
//! address. A port on `0.0.0.0` (no HOST_IP) or `[::]` gets an element of
//! `ports-any`, one on an IPv6 HOST_IP one of `ports-ip`:
//!
//! ```text
//! map ports-ip  { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service }
//! map ports-any { type inet_proto . inet_service : ipv6_addr . inet_service }
//! chain ports-pre  { type nat hook prerouting priority dstnat;
//!     fib daddr type local dnat ip6 to ip6 daddr . meta l4proto . th dport map @ports-ip
//!     fib daddr type local dnat ip6 to meta l4proto . th dport map @ports-any }
//! chain ports-out  { type nat hook output priority -100; (the same two rules) }
//! chain ports-post { type nat hook postrouting priority srcnat;
//!     ct status dnat ip6 saddr ::1 masquerade }
//! ```
//!
//! Other machines keep their source address; the hairpin is masqueraded
//! by the network's `post-BRIDGE` chain (see `ip6`).
//!
//! `::1` (RFC 4291 2.5.3 forbids it on the wire) needs more of the kernel
//! than IPv4's `127.0.0.1`, which `route_localnet` enables: measured on
//! Linux 6.18 in a private netns, the DNAT in `ports-out` and the
//! masquerade in `ports-post` take the connection to the sandbox, but the
//! reply, translated back to `::1` in prerouting, is dropped (a) by the
//! input route lookup, which for a loopback destination is strict about
//! the interface (`rt6_need_strict`): sbx adds a route `local ::1 dev
//! BRIDGE metric 1024` to the bridge (see `net::loopback6`), and (b) by
//! `ip6_rcv_core`'s loopback check when `br_netfilter` passes the
//! bridge's IPv6 traffic to the ip6 hooks (`bridge-nf-call-ip6tables=1`):
//! it translates the reply before the IPv6 input sees it. There is no
//! knob for (b); `-p` on `::1` answers only where that sysctl is 0.

use super::TABLE;
use super::nft::{self, Attrs, Batch, Expr, Reg, SetSpec, attr, base};
use crate::model::ports::PortMapping;
use std::net::{IpAddr, Ipv6Addr};

/// The chains, for the last network's removal.
pub const CHAINS: [&str; 3] = super::ports::CHAINS;

/// Ports published on one IPv6 host address.
pub const BY_ADDRESS: SetSpec = SetSpec {
    name: "ports-ip",
    fields: &[
        (nft::datatype::IPV6_ADDR, 16),
        (nft::datatype::INET_PROTO, 1),
        (nft::datatype::INET_SERVICE, 2),
    ],
    data: TARGET,
};

/// Ports published on every IPv6 host address.
pub const ANY_ADDRESS: SetSpec = SetSpec {
    name: "ports-any",
    fields: &[
        (nft::datatype::INET_PROTO, 1),
        (nft::datatype::INET_SERVICE, 2),
    ],
    data: TARGET,
};

/// What a port maps to: the sandbox's IPv6 address and port.
const TARGET: &[(u32, u32)] = &[
    (nft::datatype::IPV6_ADDR, 16),
    (nft::datatype::INET_SERVICE, 2),
];

const NF_INET_PRE_ROUTING: u32 = 0;
const NF_INET_LOCAL_OUT: u32 = 3;
const NF_INET_POST_ROUTING: u32 = 4;
const NFT_META_L4PROTO: u32 = 16;
/// `RTN_LOCAL` (linux/rtnetlink.h): an address of this host.
const RTN_LOCAL: u32 = 2;

/// Adds to `batch` (made for the `ip6` family) the maps, chains and
/// rules, the rules flushed and written again.
pub fn ensure(batch: &mut Batch) {
    for map in [&BY_ADDRESS, &ANY_ADDRESS] {
        batch.add(
            nft::NFT_MSG_NEWSET,
            nft::NLM_F_CREATE,
            &nft::set_attrs(TABLE, map),
            format!("create map {}", map.name),
        );
    }
    let chains: [(&str, u32, i32, Vec<Vec<Expr>>); 3] = [
        (CHAINS[0], NF_INET_PRE_ROUTING, -100, dnat_rules()),
        (CHAINS[1], NF_INET_LOCAL_OUT, -100, dnat_rules()),
        (CHAINS[2], NF_INET_POST_ROUTING, 100, vec![localhost_rule()]),
    ];
    for (name, hook, priority, rules) in chains {
        let mut chain = Attrs::default();
        chain
            .string(attr::CHAIN_TABLE, TABLE)
            .string(attr::CHAIN_NAME, name);
        chain.nest(attr::CHAIN_HOOK, |h| {
            h.u32(attr::HOOK_HOOKNUM, hook)
                .u32(attr::HOOK_PRIORITY, priority as u32);
        });
        chain
            .u32(attr::CHAIN_POLICY, 1)
            .string(attr::CHAIN_TYPE, "nat");
        batch.add(
            nft::NFT_MSG_NEWCHAIN,
            nft::NLM_F_CREATE,
            &chain,
            format!("create chain {name}"),
        );
        let mut flush = Attrs::default();
        flush
            .string(attr::RULE_TABLE, TABLE)
            .string(attr::RULE_CHAIN, name);
        batch.add(
            nft::NFT_MSG_DELRULE,
            0,
            &flush,
            format!("flush chain {name}"),
        );
        for exprs in rules {
            let mut rule = Attrs::default();
            rule.string(attr::RULE_TABLE, TABLE)
                .string(attr::RULE_CHAIN, name);
            rule.nest(attr::RULE_EXPRESSIONS, nft::expressions(&exprs));
            batch.add(
                nft::NFT_MSG_NEWRULE,
                nft::NLM_F_CREATE | nft::NLM_F_APPEND,
                &rule,
                format!("add rule to chain {name}"),
            );
        }
    }
}

/// The map and key of a port in the `ip6` table, if it answers on IPv6.
pub fn element(port: &PortMapping) -> Option<(&'static SetSpec<'static>, Vec<u8>)> {
    if !port.on_ipv6() {
        return None;
    }
    let proto = [port.proto.number()];
    let host_port = port.host_port.to_be_bytes();
    match port.host_ip {
        IpAddr::V6(ip) if !ip.is_unspecified() => Some((
            &BY_ADDRESS,
            BY_ADDRESS.key(&[&ip.octets(), &proto, &host_port]),
        )),
        _ => Some((&ANY_ADDRESS, ANY_ADDRESS.key(&[&proto, &host_port]))),
    }
}

/// What a port maps to: the sandbox's IPv6 address and port.
pub fn target(port: &PortMapping, ip6: Ipv6Addr) -> Vec<u8> {
    ANY_ADDRESS.value(&[&ip6.octets(), &port.port.to_be_bytes()])
}

/// `fib daddr type local`, then DNAT through each map. Keys from register
/// 0, the target (16-byte address, then the port) from register 8.
fn dnat_rules() -> Vec<Vec<Expr>> {
    let (addr, port) = (Reg(8), Reg(12));
    let local = || {
        [
            Expr::fib_daddr_type(Reg(0)),
            Expr::cmp_eq(Reg(0), &RTN_LOCAL.to_ne_bytes()),
        ]
    };
    let daddr = Reg(0);
    let proto = daddr.after(16);
    let dport = proto.after(1);
    let mut by_address = Vec::from(local());
    by_address.extend([
        Expr::payload_into(base::NETWORK, 24, 16, daddr),
        Expr::meta_into(NFT_META_L4PROTO, proto),
        Expr::payload_into(base::TRANSPORT, 2, 2, dport),
        Expr::map(BY_ADDRESS.name, daddr, addr),
        Expr::dnat6(addr, port),
    ]);
    let mut any = Vec::from(local());
    any.extend([
        Expr::meta_into(NFT_META_L4PROTO, Reg(0)),
        Expr::payload_into(base::TRANSPORT, 2, 2, Reg(1)),
        Expr::map(ANY_ADDRESS.name, Reg(0), addr),
        Expr::dnat6(addr, port),
    ]);
    vec![by_address, any]
}

/// `ct status dnat ip6 saddr ::1 masquerade`: the host's own `::1` path.
fn localhost_rule() -> Vec<Expr> {
    let mut exprs = Vec::from(super::ports::dnat_status());
    exprs.extend([
        Expr::payload_into(base::NETWORK, 8, 16, Reg(4)),
        Expr::cmp_eq(Reg(4), &Ipv6Addr::LOCALHOST.octets()),
        Expr::masquerade(),
    ]);
    exprs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ports::Proto;

    fn port(ip: &str) -> PortMapping {
        PortMapping {
            host_ip: ip.parse().unwrap(),
            host_port: 8080,
            port: 80,
            proto: Proto::Tcp,
        }
    }

    #[test]
    fn every_address_and_the_ipv6_any_address_use_ports_any_and_one_address_ports_ip() {
        let (map, key) = element(&port("0.0.0.0")).unwrap();
        assert_eq!(
            (map.name, key),
            ("ports-any", vec![6, 0, 0, 0, 0x1f, 0x90, 0, 0])
        );
        assert_eq!(element(&port("::")).unwrap().0.name, "ports-any");
        let (map, key) = element(&port("::1")).unwrap();
        assert_eq!(map.name, "ports-ip");
        assert_eq!(key.len(), 24);
        assert_eq!(key[15], 1);
        assert!(element(&port("127.0.0.1")).is_none(), "IPv4 only");
        let value = target(&port("::"), "fdb2:1::2".parse().unwrap());
        assert_eq!(value.len(), 20);
        assert_eq!(&value[16..], [0, 80, 0, 0]);
    }
}
