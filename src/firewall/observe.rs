//! Read-only views of the nf_tables ruleset for `sbx network check`'s
//! diagnosis (SPEC "Checks"): other tables' forward-hook chains that drop,
//! the anti-spoofing elements of each port (`spoofing`), and the pairs a
//! partition separates (the layout agreed for `sbx partition`: set
//! `partitioned` of `ifname . ifname` in table `bridge sbx`, and of
//! `ipv4_addr . ipv4_addr` in table `ip sbx`). Nothing here writes.

use super::nft::{self, Socket, attr, parse_attrs};
use anyhow::Result;
use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};

/// `NFPROTO_INET`: the inet family (linux/netfilter.h).
const NFPROTO_INET: u8 = 1;
/// `NFPROTO_IPV6`: the ip6 family (linux/netfilter.h).
const NFPROTO_IPV6: u8 = 10;
/// The forward hook: `NF_INET_FORWARD` and `NF_BR_FORWARD` are both 2.
const HOOK_FORWARD: u32 = 2;
/// `NF_DROP` (linux/netfilter.h), as a policy or a verdict code.
const NF_DROP: u32 = 0;
/// `NFTA_IMMEDIATE_DATA`.
const IMMEDIATE_DATA: u16 = 2;

/// A forward-hook chain of a table that is not sbx's, which drops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardDrop {
    /// `ip`, `ip6`, `inet` or `bridge`.
    pub family: &'static str,
    /// Its table.
    pub table: String,
    /// The chain.
    pub chain: String,
    /// Its policy is drop.
    pub policy_drop: bool,
    /// How many of its rules end in `drop` or `reject`.
    pub drop_rules: usize,
}

fn family_name(family: u8) -> Option<&'static str> {
    match family {
        nft::NFPROTO_IPV4 => Some("ip"),
        NFPROTO_INET => Some("inet"),
        NFPROTO_IPV6 => Some("ip6"),
        nft::NFPROTO_BRIDGE => Some("bridge"),
        _ => None,
    }
}

/// Every forward-hook chain of the ip, ip6, inet and bridge families,
/// except in sbx's own tables (`ip sbx`, `ip6 sbx`, `bridge sbx`), whose policy is drop or that
/// holds a rule ending in drop or reject.
pub fn forward_drops() -> Result<Vec<ForwardDrop>> {
    let socket = Socket::open()?;
    let mut found = Vec::new();
    for chain in socket.dump_chains()? {
        let Some(family) = family_name(chain.family) else {
            continue;
        };
        let ours = chain.table == super::TABLE && family != "inet";
        if ours || chain.hook != Some(HOOK_FORWARD) {
            continue;
        }
        let rules = socket.dump_rules_in(chain.family, &chain.table, &chain.name)?;
        let drop_rules = rules
            .iter()
            .filter(|r| nft::rule_expressions(r).is_some_and(ends_in_drop))
            .count();
        let policy_drop = chain.policy == Some(NF_DROP);
        if policy_drop || drop_rules > 0 {
            found.push(ForwardDrop {
                family,
                table: chain.table,
                chain: chain.name,
                policy_drop,
                drop_rules,
            });
        }
    }
    Ok(found)
}

/// The chains of sbx's bridge table: `sbx impair --loss` keeps a
/// sandbox's loss in chains `loss-in-PORT` and `loss-out-PORT` there.
pub fn bridge_chains() -> Result<HashSet<String>> {
    Ok(Socket::open()?
        .dump_chains()?
        .into_iter()
        .filter(|c| c.family == nft::NFPROTO_BRIDGE && c.table == super::spoofing::TABLE)
        .map(|c| c.name)
        .collect())
}

/// Whether a rule's expression list has a `reject` or an immediate `drop`
/// verdict (`NFTA_IMMEDIATE_DATA` > `NFTA_DATA_VERDICT` > code 0).
fn ends_in_drop(list: &[u8]) -> bool {
    parse_attrs(list).into_iter().any(|(_, elem)| {
        let attrs = parse_attrs(elem);
        let name = attrs
            .iter()
            .find(|(k, _)| *k == attr::EXPR_NAME)
            .map(|(_, v)| v.split(|b| *b == 0).next().unwrap_or_default());
        let data = attrs.iter().find(|(k, _)| *k == attr::EXPR_DATA);
        match (name, data) {
            (Some(b"reject"), _) => true,
            (Some(b"immediate"), Some((_, data))) => parse_attrs(data)
                .into_iter()
                .filter(|(k, _)| *k == IMMEDIATE_DATA)
                .flat_map(|(_, d)| parse_attrs(d))
                .filter(|(k, _)| *k == attr::DATA_VERDICT)
                .flat_map(|(_, v)| parse_attrs(v))
                .any(|(k, code)| {
                    k == attr::VERDICT_CODE && code.get(..4) == Some(&NF_DROP.to_be_bytes()[..])
                }),
            _ => false,
        }
    })
}

/// The anti-spoofing filter as the kernel holds it: the ports it checks,
/// and per port the (MAC, address) pairs it lets through.
#[derive(Debug, Default)]
pub struct Spoofing {
    /// Ports (host-side veths) in set `guarded`.
    pub guarded: HashSet<String>,
    /// Set `allow`, by port.
    pub allowed: HashMap<String, Vec<([u8; 6], Ipv4Addr)>>,
    /// Set `allow6`, by port: the IPv6 sources (its address, its
    /// link-local one, `::`) with the MAC. A guarded port without any
    /// sends no IPv6 at all (a v4-only network): `network check` can name
    /// an IPv6 address a sandbox uses that is not among them.
    #[allow(dead_code)] // until `network check` reads it (issue 15)
    pub allowed6: HashMap<String, Vec<([u8; 6], Ipv6Addr)>>,
}

/// Reads table `bridge sbx`'s sets `guarded`, `allow` and `allow6`; empty
/// when the table is not there (and `allowed6` when its set is not: a
/// table an sbx without IPv6 made).
pub fn spoofing() -> Result<Spoofing> {
    let socket = Socket::open()?;
    let mut found = Spoofing::default();
    let table = super::spoofing::TABLE;
    for (key, _) in socket.dump_set_elements(nft::NFPROTO_BRIDGE, table, "guarded")? {
        found.guarded.insert(ifname_of(&key));
    }
    // PORT (16) . MAC (6, padded to 8) . IPv4 (4).
    for (key, _) in socket.dump_set_elements(nft::NFPROTO_BRIDGE, table, "allow")? {
        if key.len() < 28 {
            continue;
        }
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&key[16..22]);
        let ip = Ipv4Addr::new(key[24], key[25], key[26], key[27]);
        found
            .allowed
            .entry(ifname_of(&key[..16]))
            .or_default()
            .push((mac, ip));
    }
    let allow6 = socket.dump_set_elements(nft::NFPROTO_BRIDGE, table, "allow6");
    for (key, _) in allow6? {
        if let Some((port, mac, ip6)) = allow6_key(&key) {
            found.allowed6.entry(port).or_default().push((mac, ip6));
        }
    }
    Ok(found)
}

/// An `allow6` key: PORT (16) . MAC (6, padded to 8) . IPv6 (16).
fn allow6_key(key: &[u8]) -> Option<(String, [u8; 6], Ipv6Addr)> {
    let mac: [u8; 6] = key.get(16..22)?.try_into().ok()?;
    let ip6: [u8; 16] = key.get(24..40)?.try_into().ok()?;
    Some((ifname_of(&key[..16]), mac, Ipv6Addr::from(ip6)))
}

/// Partitions as sbx keeps them: pairs of host-side veths (bridge table)
/// and pairs of addresses (ip table), each direction its own element.
#[derive(Debug, Default)]
pub struct Partitions {
    /// `iifname . oifname` pairs of set `partitioned` in `bridge sbx`.
    pub ports: HashSet<(String, String)>,
    /// `saddr . daddr` pairs of set `partitioned` in `ip sbx`.
    pub addresses: HashSet<(Ipv4Addr, Ipv4Addr)>,
}

/// Reads both `partitioned` sets; none when they do not exist (no
/// partition was ever made).
pub fn partitions() -> Result<Partitions> {
    let socket = Socket::open()?;
    let mut found = Partitions::default();
    let bridge =
        socket.dump_set_elements(nft::NFPROTO_BRIDGE, super::spoofing::TABLE, "partitioned");
    for (key, _) in bridge.unwrap_or_default() {
        if key.len() >= 32 {
            found
                .ports
                .insert((ifname_of(&key[..16]), ifname_of(&key[16..32])));
        }
    }
    let ip = socket.dump_set_elements(nft::NFPROTO_IPV4, super::TABLE, "partitioned");
    for (key, _) in ip.unwrap_or_default() {
        if key.len() >= 8 {
            found.addresses.insert((
                Ipv4Addr::new(key[0], key[1], key[2], key[3]),
                Ipv4Addr::new(key[4], key[5], key[6], key[7]),
            ));
        }
    }
    Ok(found)
}

/// An interface name from its 16 NUL-padded bytes.
fn ifname_of(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::nft::{Attrs, Expr, expressions};

    #[test]
    fn a_drop_verdict_is_found_and_an_accept_is_not() {
        let mut with_drop = Attrs::default();
        expressions(&[Expr::meta(6), Expr::cmp(true, &[1]), Expr::drop()])(&mut with_drop);
        assert!(ends_in_drop(with_drop.as_bytes()));
        let mut masquerade = Attrs::default();
        expressions(&[Expr::meta(7), Expr::masquerade()])(&mut masquerade);
        assert!(!ends_in_drop(masquerade.as_bytes()));
    }

    #[test]
    fn an_allow6_key_reads_back_as_port_mac_and_address() {
        let mac = [0x0a, 0x53, 10, 193, 1, 2];
        let ip6: Ipv6Addr = "fdb3:1::2".parse().unwrap();
        let mut key = crate::firewall::ifname("sbx0a1b2c3d").to_vec();
        key.extend_from_slice(&mac);
        key.extend_from_slice(&[0, 0]);
        key.extend_from_slice(&ip6.octets());
        let (port, read_mac, read_ip6) = allow6_key(&key).expect("a 40-byte key");
        assert_eq!(
            (port.as_str(), read_mac, read_ip6),
            ("sbx0a1b2c3d", mac, ip6)
        );
        assert!(allow6_key(&key[..39]).is_none(), "short keys are skipped");
    }

    #[test]
    fn interface_names_lose_their_padding() {
        assert_eq!(
            ifname_of(&crate::firewall::ifname("sbx0a1b2c3d")),
            "sbx0a1b2c3d"
        );
    }
}
