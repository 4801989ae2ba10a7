//! Published ports (SPEC "Ports"): kernel-only DNAT through two maps in
//! sbx's `ip` table, one element per port, so neither the cost per packet
//! nor per new connection grows with the number of published ports:
//!
//! ```text
//! map ports-ip  { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service }
//! map ports-any { type inet_proto . inet_service : ipv4_addr . inet_service }
//! chain ports-pre  { type nat hook prerouting priority dstnat;
//!     fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports-ip
//!     fib daddr type local dnat ip to meta l4proto . th dport map @ports-any }
//! chain ports-out  { type nat hook output priority -100; (the same two rules) }
//! chain ports-post { type nat hook postrouting priority srcnat;
//!     ct status dnat ip saddr 127.0.0.0/8 masquerade }
//! chain post-BRIDGE { ...; (each NAT network's own chain, see `super`)
//!     ct status dnat ip saddr SUBNET oifname BRIDGE masquerade }
//! ```
//!
//! `ports-pre` serves other machines (the client's address is kept) and
//! sandboxes (through a host address or their gateway); `ports-out` the
//! host itself. Two paths need a masquerade, and only they get one: the
//! host's `127.0.0.1` (with `route_localnet` on the bridge, so a loopback
//! source may leave through it), and the hairpin, where a sandbox reaches
//! a port of its own bridge (the reply must come back through the host).

use super::TABLE;
use super::nft::{self, Attrs, Batch, Expr, Reg, SetSpec, Socket, attr, base};
use crate::model::ports::PortMapping;
use anyhow::{Result, bail};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The chains, for the last network's removal.
pub const CHAINS: [&str; 3] = ["ports-pre", "ports-out", "ports-post"];

/// Ports published on one host address.
pub const BY_ADDRESS: SetSpec = SetSpec {
    name: "ports-ip",
    fields: &[
        (nft::datatype::IPV4_ADDR, 4),
        (nft::datatype::INET_PROTO, 1),
        (nft::datatype::INET_SERVICE, 2),
    ],
    data: TARGET,
};

/// Ports published on every host address.
pub const ANY_ADDRESS: SetSpec = SetSpec {
    name: "ports-any",
    fields: &[
        (nft::datatype::INET_PROTO, 1),
        (nft::datatype::INET_SERVICE, 2),
    ],
    data: TARGET,
};

/// What a port maps to: the sandbox's address and port.
const TARGET: &[(u32, u32)] = &[
    (nft::datatype::IPV4_ADDR, 4),
    (nft::datatype::INET_SERVICE, 2),
];

const NF_INET_PRE_ROUTING: u32 = 0;
const NF_INET_LOCAL_OUT: u32 = 3;
const NF_INET_POST_ROUTING: u32 = 4;
const NFT_META_L4PROTO: u32 = 16;
/// `RTN_LOCAL` (linux/rtnetlink.h): an address of this host.
const RTN_LOCAL: u32 = 2;
/// `IPS_DST_NAT` (linux/netfilter/nf_conntrack_common.h).
const IPS_DST_NAT: u32 = 1 << 5;

/// Adds to `batch` (idempotently) the maps, chains and rules, the rules
/// flushed and written again.
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
        (CHAINS[2], NF_INET_POST_ROUTING, 100, masquerade_rules()),
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

/// Publishes `ports` to the sandbox at `ip` (and, for a sandbox with an
/// IPv6 address, those that answer on IPv6 to `ip6`, in sbx's `ip6` table:
/// see `ports6`): one element each, added in one transaction (all or
/// none). A port already in a map (published by a sandbox of another
/// state root) is refused, naming where it leads.
pub fn publish(ports: &[PortMapping], ip: Ipv4Addr, ip6: Option<Ipv6Addr>) -> Result<()> {
    let elements = elements(ports, ip, ip6);
    if elements.is_empty() {
        return Ok(());
    }
    let socket = Socket::open()?;
    let mut batch = Batch::new(&socket);
    for (family, map, group) in &elements {
        // A few hundred elements per message: one answer each, and a
        // message well under what a netlink socket takes.
        for chunk in group.chunks(ELEMENTS_PER_MESSAGE) {
            let pairs: Vec<(Vec<u8>, Option<Vec<u8>>)> = (chunk.iter())
                .map(|e| (e.key.clone(), Some(e.target.clone())))
                .collect();
            batch.add_in(
                *family,
                nft::NFT_MSG_NEWSETELEM,
                nft::NLM_F_CREATE | nft::NLM_F_EXCL,
                &nft::map_element_list(TABLE, map, &pairs),
                format!("publish {} ports in map {map}", chunk.len()),
            );
        }
    }
    for (what, errno) in batch.commit(&socket)? {
        match errno {
            0 => {}
            libc::EEXIST => {
                let taken = taken_by_others(&socket, &elements)?;
                bail!(
                    "host port {taken} is already published by a sandbox of another sbx state root: pick another host port"
                )
            }
            errno => bail!("{what}: {}", std::io::Error::from_raw_os_error(errno)),
        }
    }
    Ok(())
}

/// One port's element: its key and what it maps to.
struct Element<'a> {
    port: &'a PortMapping,
    key: Vec<u8>,
    target: Vec<u8>,
}

/// One map's elements: (family, map name, elements).
type MapElements<'a> = (u8, &'static str, Vec<Element<'a>>);

/// The elements of `ports` per map: the `ip` maps for ports on IPv4, the
/// `ip6` maps (with `ip6`) for ports on IPv6.
fn elements(ports: &[PortMapping], ip: Ipv4Addr, ip6: Option<Ipv6Addr>) -> Vec<MapElements<'_>> {
    let mut out = Vec::new();
    for map in [&BY_ADDRESS, &ANY_ADDRESS] {
        let group: Vec<Element> = (ports.iter())
            .filter_map(|port| {
                let (m, key) = element(port)?;
                (m.name == map.name).then(|| Element {
                    port,
                    key,
                    target: target(port, ip),
                })
            })
            .collect();
        if !group.is_empty() {
            out.push((nft::NFPROTO_IPV4, map.name, group));
        }
    }
    if let Some(ip6) = ip6 {
        for map in [&super::ports6::BY_ADDRESS, &super::ports6::ANY_ADDRESS] {
            let group: Vec<Element> = (ports.iter())
                .filter_map(|port| {
                    let (m, key) = super::ports6::element(port)?;
                    (m.name == map.name).then(|| Element {
                        port,
                        key,
                        target: super::ports6::target(port, ip6),
                    })
                })
                .collect();
            if !group.is_empty() {
                out.push((nft::NFPROTO_IPV6, map.name, group));
            }
        }
    }
    out
}

/// How many elements one message carries.
const ELEMENTS_PER_MESSAGE: usize = 256;

/// What a port maps to: the sandbox's address and port.
fn target(port: &PortMapping, ip: Ipv4Addr) -> Vec<u8> {
    ANY_ADDRESS.value(&[&ip.octets(), &port.port.to_be_bytes()])
}

/// The first wanted port whose element exists and leads elsewhere, for
/// the refusal (`[::1]:8080/tcp`).
fn taken_by_others(socket: &Socket, wanted: &[MapElements]) -> Result<String> {
    for (family, map, group) in wanted {
        let present = socket.dump_set_elements(*family, TABLE, map)?;
        for e in group {
            if present.iter().any(|(k, v)| *k == e.key && *v != e.target) {
                let p = e.port;
                return Ok(format!(
                    "{}:{}/{}",
                    crate::model::ports::HostIp(p.host_ip),
                    p.host_port,
                    p.proto.as_str()
                ));
            }
        }
    }
    Ok("(one of them)".into())
}

/// Forgets those of `ports`' elements that lead to the sandbox at `ip`
/// (and `ip6`): an element of that key leading elsewhere is another
/// sandbox's (one that took the port over, or of another state root) and
/// stays. Ones already gone are fine.
pub fn unpublish(ports: &[PortMapping], ip: Ipv4Addr, ip6: Option<Ipv6Addr>) -> Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    let wanted = elements(ports, ip, ip6);
    let socket = Socket::open()?;
    let mut mine: Vec<(u8, &str, Vec<u8>)> = Vec::new();
    for (family, map, group) in &wanted {
        let present = socket.dump_set_elements(*family, TABLE, map)?;
        for e in group {
            if present.iter().any(|(k, v)| *k == e.key && *v == e.target) {
                mine.push((*family, map, e.key.clone()));
            }
        }
    }
    drop(socket);
    for family in [nft::NFPROTO_IPV4, nft::NFPROTO_IPV6] {
        let of_family: Vec<(&str, Vec<u8>)> = (mine.iter())
            .filter(|(f, _, _)| *f == family)
            .map(|(_, map, key)| (*map, key.clone()))
            .collect();
        super::delete_elements(family, TABLE, &of_family)?;
    }
    // Connections still tracked to it would keep their translation.
    super::conntrack::forget(ip)?;
    if let Some(ip6) = ip6 {
        super::conntrack::forget(ip6)?;
    }
    Ok(())
}

/// The map and key of one port in the `ip` table, if it answers on IPv4.
fn element(port: &PortMapping) -> Option<(&'static SetSpec<'static>, Vec<u8>)> {
    let proto = [port.proto.number()];
    let host_port = port.host_port.to_be_bytes();
    match port.host_ip {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            Some((&ANY_ADDRESS, ANY_ADDRESS.key(&[&proto, &host_port])))
        }
        IpAddr::V4(ip) => Some((
            &BY_ADDRESS,
            BY_ADDRESS.key(&[&ip.octets(), &proto, &host_port]),
        )),
        IpAddr::V6(_) => None,
    }
}

/// `fib daddr type local`, then DNAT through each map.
fn dnat_rules() -> Vec<Vec<Expr>> {
    let (k0, k1, k2) = (Reg(0), Reg(1), Reg(2));
    let (addr, port) = (Reg(4), Reg(5));
    let local = || {
        [
            Expr::fib_daddr_type(k0),
            Expr::cmp_eq(k0, &RTN_LOCAL.to_ne_bytes()),
        ]
    };
    let mut by_address = Vec::from(local());
    by_address.extend([
        Expr::payload_into(base::NETWORK, 16, 4, k0),
        Expr::meta_into(NFT_META_L4PROTO, k1),
        Expr::payload_into(base::TRANSPORT, 2, 2, k2),
        Expr::map(BY_ADDRESS.name, k0, addr),
        Expr::dnat(addr, port),
    ]);
    let mut any = Vec::from(local());
    any.extend([
        Expr::meta_into(NFT_META_L4PROTO, k0),
        Expr::payload_into(base::TRANSPORT, 2, 2, k1),
        Expr::map(ANY_ADDRESS.name, k0, addr),
        Expr::dnat(addr, port),
    ]);
    vec![by_address, any]
}

/// `ct status dnat`: the connection was sent to a published port.
pub fn dnat_status() -> [Expr; 3] {
    let status = Reg(0);
    [
        Expr::ct_status(status),
        Expr::and(status, &IPS_DST_NAT.to_ne_bytes()),
        Expr::cmp_ne(status, &0u32.to_ne_bytes()),
    ]
}

/// The host's own `127.0.0.1` path needs its source translated (the
/// hairpin's rule is per network, in its `post-BRIDGE` chain: the input
/// interface is unknown in postrouting).
fn masquerade_rules() -> Vec<Vec<Expr>> {
    let mut localhost = Vec::from(dnat_status());
    localhost.extend([
        Expr::payload_into(base::NETWORK, 12, 4, Reg(1)),
        Expr::and(Reg(1), &[255, 0, 0, 0]),
        Expr::cmp_eq(Reg(1), &[127, 0, 0, 0]),
        Expr::masquerade(),
    ]);
    vec![localhost]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ports::Proto;

    #[test]
    fn a_port_on_every_address_and_one_on_a_single_address_use_their_maps() {
        let any = PortMapping {
            host_ip: Ipv4Addr::UNSPECIFIED.into(),
            host_port: 8080,
            port: 80,
            proto: Proto::Tcp,
        };
        let (map, key) = element(&any).unwrap();
        assert_eq!(map.name, "ports-any");
        assert_eq!(key, [6, 0, 0, 0, 0x1f, 0x90, 0, 0]);
        let one = PortMapping {
            host_ip: Ipv4Addr::LOCALHOST.into(),
            proto: Proto::Udp,
            ..any
        };
        let (map, key) = element(&one).unwrap();
        assert_eq!(map.name, "ports-ip");
        assert_eq!(key, [127, 0, 0, 1, 17, 0, 0, 0, 0x1f, 0x90, 0, 0]);
        let value = target(&one, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(value, [10, 0, 0, 2, 0, 80, 0, 0]);
    }
}
