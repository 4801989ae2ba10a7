//! sbx's firewall: one nf_tables table, `ip sbx`, holding one base chain
//! per network. NAT networks get `post-BRIDGE` (masquerade what leaves the
//! subnet through any other interface); internal ones get `fwd-BRIDGE`
//! (drop whatever would cross between the bridge and anything else).
//! The same table isolates networks from each other (`isolation`), and a
//! `bridge sbx` table keeps sandboxes from spoofing (`spoofing`); both
//! also hold `sbx impair`'s loss chains (`loss`) and `sbx partition`'s
//! sets (`partition`). A dual-stack network has the same in a table `ip6
//! sbx` (`ip6`, `ports6`), made only for such networks. Nobody
//! else's tables are touched; removing a network is one chain deletion and
//! two set elements, and the last one takes the tables.

pub mod conntrack;
pub mod ip6;
pub mod isolation;
pub mod loss;
mod nft;
pub mod observe;
pub mod partition;
pub mod ports;
pub mod ports6;
mod removal;
pub mod spoofing;

use anyhow::{Result, bail};
use nft::{Attrs, Batch, Expr, Socket, attr};
pub(crate) use removal::delete_elements;
use removal::{Removal, check_removal, remove_chains, remove_table_if_unused};
use std::net::Ipv4Addr;

/// sbx's table name (family ip).
pub const TABLE: &str = "sbx";

const NF_INET_FORWARD: u32 = 2;
const NF_INET_POST_ROUTING: u32 = 4;
const NF_ACCEPT: u32 = 1;
const NFT_META_IIFNAME: u32 = 6;
const NFT_META_OIFNAME: u32 = 7;
/// Source address: 4 bytes at offset 12 of the IPv4 header.
const IPV4_SADDR_OFFSET: u32 = 12;

/// What sbx wants in the kernel firewall for one network; the bridge name
/// identifies it host-wide (two sbx state roots never share a bridge).
pub struct NetworkRules<'a> {
    /// The network's bridge.
    pub bridge: &'a str,
    /// Subnet address.
    pub subnet: Ipv4Addr,
    /// Subnet prefix length.
    pub prefix: u8,
    /// NAT to the outside (true), or an internal network kept in (false).
    pub masquerade: bool,
}

/// The chain name of a network, e.g. `post-sbx0`.
fn chain_name(bridge: &str, masquerade: bool) -> String {
    if masquerade {
        format!("post-{bridge}")
    } else {
        format!("fwd-{bridge}")
    }
}

/// Creates (idempotently) the table, the network's chain and its rules in
/// one transaction: the chain is flushed and refilled, so running this
/// twice leaves exactly one copy of the rules.
pub fn ensure_network(rules: &NetworkRules) -> Result<()> {
    let socket = Socket::open()?;
    let mut batch = Batch::new(&socket);
    add_network(&mut batch, rules.bridge, rules.masquerade, rule_set(rules));
    isolation::ensure(&mut batch, rules.bridge);
    ports::ensure(&mut batch);
    spoofing::ensure(&mut batch);
    commit(batch, &socket, "ip")
}

/// Adds to `batch` (for its family's `sbx` table) the table, the
/// network's chain (`post-BRIDGE`, nat postrouting, or `fwd-BRIDGE`,
/// filter forward), its flush and `rules`.
fn add_network(batch: &mut Batch, bridge: &str, masquerade: bool, rules: Vec<Vec<Expr>>) {
    let chain = chain_name(bridge, masquerade);
    let mut table = Attrs::default();
    table.string(attr::TABLE_NAME, TABLE);
    batch.add(
        nft::NFT_MSG_NEWTABLE,
        nft::NLM_F_CREATE,
        &table,
        format!("create table {TABLE}"),
    );
    let (hook, priority, kind) = if masquerade {
        (NF_INET_POST_ROUTING, 100u32, "nat")
    } else {
        (NF_INET_FORWARD, 0, "filter")
    };
    let mut chain_attrs = Attrs::default();
    chain_attrs
        .string(attr::CHAIN_TABLE, TABLE)
        .string(attr::CHAIN_NAME, &chain);
    chain_attrs.nest(attr::CHAIN_HOOK, |h| {
        h.u32(attr::HOOK_HOOKNUM, hook)
            .u32(attr::HOOK_PRIORITY, priority);
    });
    chain_attrs
        .u32(attr::CHAIN_POLICY, NF_ACCEPT)
        .string(attr::CHAIN_TYPE, kind);
    batch.add(
        nft::NFT_MSG_NEWCHAIN,
        nft::NLM_F_CREATE,
        &chain_attrs,
        format!("create {kind} chain {chain}"),
    );
    let mut flush = Attrs::default();
    flush
        .string(attr::RULE_TABLE, TABLE)
        .string(attr::RULE_CHAIN, &chain);
    batch.add(
        nft::NFT_MSG_DELRULE,
        0,
        &flush,
        format!("flush chain {chain}"),
    );
    for exprs in rules {
        let mut rule = Attrs::default();
        rule.string(attr::RULE_TABLE, TABLE)
            .string(attr::RULE_CHAIN, &chain);
        rule.nest(attr::RULE_EXPRESSIONS, nft::expressions(&exprs));
        batch.add(
            nft::NFT_MSG_NEWRULE,
            nft::NLM_F_CREATE | nft::NLM_F_APPEND,
            &rule,
            format!("add rule to chain {chain}"),
        );
    }
}

/// Sends `batch`; the first refusal is the error, naming the table
/// (`family` as nft writes it: `ip`, `ip6`).
fn commit(batch: Batch, socket: &Socket, family: &str) -> Result<()> {
    for (what, errno) in batch.commit(socket)? {
        if errno != 0 {
            bail!(
                "{what} in table {family} {TABLE}: {}",
                std::io::Error::from_raw_os_error(errno)
            );
        }
    }
    Ok(())
}

/// The rules of a network's chain, as expression lists.
fn rule_set(rules: &NetworkRules) -> Vec<Vec<Expr>> {
    if rules.masquerade {
        let mask = if rules.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - rules.prefix)
        };
        let network = u32::from(rules.subnet) & mask;
        masquerade_set(
            IPV4_SADDR_OFFSET,
            &network.to_be_bytes(),
            &mask.to_be_bytes(),
            rules.bridge,
        )
    } else {
        internal_set(rules.bridge)
    }
}

/// A NAT network's two rules, for a source address of `network.len()`
/// bytes at `saddr_offset` of the network header (IPv4 or IPv6).
fn masquerade_set(saddr_offset: u32, network: &[u8], mask: &[u8], bridge: &str) -> Vec<Vec<Expr>> {
    let bridge = ifname(bridge);
    let from_subnet = || {
        [
            Expr::payload_network(saddr_offset, network.len() as u32),
            Expr::bitwise_mask(mask),
            Expr::cmp(true, network),
            Expr::meta(NFT_META_OIFNAME),
        ]
    };
    // ip saddr SUBNET oifname != BRIDGE masquerade
    let mut outward = Vec::from(from_subnet());
    outward.extend([Expr::cmp(false, &bridge), Expr::masquerade()]);
    // ct status dnat ip saddr SUBNET oifname BRIDGE masquerade: the
    // hairpin to a published port (see `ports`), whose reply must come
    // back through the host.
    let mut hairpin = Vec::from(ports::dnat_status());
    hairpin.extend(from_subnet());
    hairpin.extend([Expr::cmp(true, &bridge), Expr::masquerade()]);
    vec![outward, hairpin]
}

/// An internal network's two drops: `iifname BRIDGE oifname != BRIDGE
/// drop`, and the way back in (family-independent).
fn internal_set(bridge: &str) -> Vec<Vec<Expr>> {
    let bridge = ifname(bridge);
    let crossing = |from: u32, to: u32| {
        vec![
            Expr::meta(from),
            Expr::cmp(true, &bridge),
            Expr::meta(to),
            Expr::cmp(false, &bridge),
            Expr::drop(),
        ]
    };
    vec![
        crossing(NFT_META_IIFNAME, NFT_META_OIFNAME),
        crossing(NFT_META_OIFNAME, NFT_META_IIFNAME),
    ]
}

/// Base chains of other tables that drop forwarded IPv4 traffic by default
/// (Docker's `FORWARD` policy, firewalld, ufw): whatever sbx accepts, their
/// drop wins, and sandboxes lose the outside (and, with
/// bridge-nf-call-iptables, each other). Named so users need not guess.
pub fn foreign_forward_drops() -> Result<Vec<String>> {
    const NFPROTO_INET: u8 = 1;
    const NF_DROP: u32 = 0;
    let chains = Socket::open()?.dump_chains()?;
    Ok(chains
        .into_iter()
        .filter(|c| c.family == nft::NFPROTO_IPV4 || c.family == NFPROTO_INET)
        .filter(|c| {
            c.hook == Some(NF_INET_FORWARD) && c.policy == Some(NF_DROP) && c.table != TABLE
        })
        .map(|c| {
            let family = if c.family == NFPROTO_INET {
                "inet"
            } else {
                "ip"
            };
            format!("{family} {} {}", c.table, c.name)
        })
        .collect())
}

/// Whether the network's chain holds exactly its rules: one dump of that
/// chain (a few hundred µs), so `sbx run` notices a chain someone flushed,
/// deleted or edited (SPEC "Networks": it restores what was lost) without
/// rewriting the rules on every launch. A rule matches when it has the
/// same expressions with at least the attributes sbx sets (the kernel adds
/// some of its own, e.g. the bitwise operation).
pub fn network_intact(rules: &NetworkRules) -> Result<bool> {
    let chain = chain_name(rules.bridge, rules.masquerade);
    chain_intact(nft::NFPROTO_IPV4, &chain, &rule_set(rules))
}

/// Whether `chain` of the `family` table holds exactly `wanted` (see
/// [`network_intact`]).
fn chain_intact(family: u8, chain: &str, wanted: &[Vec<Expr>]) -> Result<bool> {
    let found = Socket::open()?.dump_rules_in(family, TABLE, chain)?;
    Ok(found.len() == wanted.len()
        && found.iter().zip(wanted).all(|(rule, exprs)| {
            let mut expected = Attrs::default();
            nft::expressions(exprs)(&mut expected);
            nft::rule_expressions(rule)
                .is_some_and(|actual| nft::same_expressions(expected.as_bytes(), actual))
        }))
}

/// The chain a network's rules live in, as `nft list chain ip sbx NAME`
/// names it, for messages.
pub fn chain_of(bridge: &str, masquerade: bool) -> String {
    format!("ip {TABLE} {}", chain_name(bridge, masquerade))
}

/// Removes the network's chain(s) and its isolation elements (already
/// gone is fine), then, if no other network is left in it (another state
/// root's may be), the table with its isolation chain and sets, and the
/// anti-spoofing table: one transaction whose table deletion carries
/// `NLM_F_NONREC`, so EBUSY (a chain of another network remains) keeps it
/// all.
pub fn remove_network(bridge: &str) -> Result<()> {
    let socket = Socket::open()?;
    remove_chains(&socket, nft::NFPROTO_IPV4, bridge)?;
    delete_elements(nft::NFPROTO_IPV4, TABLE, &isolation::elements(bridge))?;
    remove_table_if_unused(
        &socket,
        nft::NFPROTO_IPV4,
        vec![
            Removal::Chain(isolation::CHAIN),
            Removal::Chain(ports::CHAINS[0]),
            Removal::Chain(ports::CHAINS[1]),
            Removal::Chain(ports::CHAINS[2]),
            Removal::Set(ports::BY_ADDRESS.name),
            Removal::Set(ports::ANY_ADDRESS.name),
            Removal::Set(isolation::BRIDGES.name),
            Removal::Set(isolation::SAME.name),
            Removal::Chain(partition::CHAIN),
            Removal::Set(partition::SET),
            Removal::SpoofingTable,
            Removal::Table,
        ],
    )?;
    ip6::remove_network(&socket, bridge)
}

/// An interface name as `meta iifname/oifname` loads it: 16 bytes, NUL-padded.
pub(crate) fn ifname(name: &str) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    let len = name.len().min(15);
    bytes[..len].copy_from_slice(&name.as_bytes()[..len]);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_are_nul_padded_to_sixteen_bytes() {
        let bytes = ifname("sbx0");
        assert_eq!(&bytes[..5], b"sbx0\0");
        assert!(bytes[4..].iter().all(|b| *b == 0));
    }

    #[test]
    fn chains_are_named_after_the_bridge() {
        assert_eq!(chain_name("sbx0", true), "post-sbx0");
        assert_eq!(chain_name("lab", false), "fwd-lab");
    }

    #[test]
    fn a_nat_network_gets_two_masquerade_rules_and_an_internal_one_two_drops() {
        let mut rules = NetworkRules {
            bridge: "b",
            subnet: "10.11.0.0".parse().unwrap(),
            prefix: 16,
            masquerade: true,
        };
        assert_eq!(rule_set(&rules).len(), 2, "outward and hairpin");
        rules.masquerade = false;
        assert_eq!(rule_set(&rules).len(), 2);
    }
}
