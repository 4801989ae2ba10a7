//! sbx's IPv6 firewall (SPEC "IPv6"): a table `ip6 sbx` beside `ip sbx`,
//! holding for each dual-stack network (one with `--subnet6`) what the ip
//! table holds for its IPv4 subnet:
//!
//! ```text
//! table ip6 sbx {
//!   chain post-BRIDGE { type nat hook postrouting priority srcnat;   # NAT networks
//!     ip6 saddr SUBNET6 oifname != BRIDGE masquerade
//!     ct status dnat ip6 saddr SUBNET6 oifname BRIDGE masquerade }
//!   chain fwd-BRIDGE { type filter hook forward priority 0;          # --internal
//!     iifname BRIDGE oifname != BRIDGE drop
//!     oifname BRIDGE iifname != BRIDGE drop }
//!   set bridges, set same, chain isolate                             # see `isolation`
//!   maps ports-ip, ports-any, chains ports-pre/out/post              # see `ports6`
//! }
//! ```
//!
//! Why a separate `ip6` table and not one `inet` table for both: the `ip`
//! table, its chains, sets and maps stay exactly as they were (a v4-only
//! network, and every sbx already deployed, is untouched: no rule of it
//! changes family or name), the `ip6` table exists only while a
//! dual-stack network does, and the IPv4 and IPv6 rules of one network are
//! verified and removed independently with the same code (the expressions
//! differ only in where the source address sits and how long it is). An
//! `inet` table would need `meta nfproto` guards on every address rule and
//! a migration of existing tables.

use super::nft::{self, Expr, Socket};
use super::{Removal, TABLE, isolation};
use crate::model::Subnet6;
use anyhow::Result;

/// Source address: 16 bytes at offset 8 of the IPv6 header (RFC 8200).
const IPV6_SADDR_OFFSET: u32 = 8;

/// What sbx wants in the `ip6` table for one dual-stack network.
pub struct NetworkRules6<'a> {
    /// The network's bridge.
    pub bridge: &'a str,
    /// Its IPv6 subnet.
    pub subnet: Subnet6,
    /// NAT66 to the outside (true), or an internal network kept in (false).
    pub masquerade: bool,
}

/// Creates (idempotently) the `ip6 sbx` table, the network's chain with
/// its rules, the isolation chain and sets with the network's elements,
/// and the published-port maps and chains, in one transaction: running
/// it twice leaves one copy of everything.
pub fn ensure_network(rules: &NetworkRules6) -> Result<()> {
    let socket = Socket::open()?;
    let mut batch = nft::Batch::new_in(&socket, nft::NFPROTO_IPV6);
    super::add_network(&mut batch, rules.bridge, rules.masquerade, rule_set(rules));
    isolation::ensure(&mut batch, rules.bridge);
    super::ports6::ensure(&mut batch);
    super::commit(batch, &socket, "ip6")
}

/// Whether the network's chain of the `ip6` table holds exactly its rules
/// (one dump; see [`super::network_intact`]).
pub fn network_intact(rules: &NetworkRules6) -> Result<bool> {
    let chain = super::chain_name(rules.bridge, rules.masquerade);
    super::chain_intact(nft::NFPROTO_IPV6, &chain, &rule_set(rules))
}

/// The chain as `nft list chain` names it, for messages.
pub fn chain_of(bridge: &str, masquerade: bool) -> String {
    format!("ip6 {TABLE} {}", super::chain_name(bridge, masquerade))
}

/// The rules of a network's chain.
fn rule_set(rules: &NetworkRules6) -> Vec<Vec<Expr>> {
    if rules.masquerade {
        let mask = prefix_mask(rules.subnet.prefix());
        let network = u128::from(rules.subnet.network()) & mask;
        super::masquerade_set(
            IPV6_SADDR_OFFSET,
            &network.to_be_bytes(),
            &mask.to_be_bytes(),
            rules.bridge,
        )
    } else {
        super::internal_set(rules.bridge)
    }
}

/// The netmask of a prefix length (0 to 128).
fn prefix_mask(prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p => u128::MAX << (128 - u32::from(p.min(128))),
    }
}

/// Whether the `ip6 sbx` table exists: one dump of the chains, so the
/// removal of a v4-only network costs no failed deletions.
fn table_exists(socket: &Socket) -> Result<bool> {
    Ok(socket
        .dump_chains()?
        .iter()
        .any(|c| c.family == nft::NFPROTO_IPV6 && c.table == TABLE))
}

/// A regular chain (no hook, no rules) whose presence in the `ip6` table
/// records that sbx turned IPv6 forwarding on. The record lives in the
/// kernel beside the sysctl, with the same scope (the network namespace,
/// shared by every state root), so the last NAT network of any state root
/// turns forwarding off again, and a namespace that ends takes both.
pub const FORWARDING_MARK: &str = "forwarding-by-sbx";

/// Records that sbx turns IPv6 forwarding on (the table exists: it is
/// made with the network's rules first).
pub fn mark_forwarding() -> Result<()> {
    let socket = Socket::open()?;
    let mut batch = nft::Batch::new_in(&socket, nft::NFPROTO_IPV6);
    let mut chain = nft::Attrs::default();
    chain
        .string(nft::attr::CHAIN_TABLE, TABLE)
        .string(nft::attr::CHAIN_NAME, FORWARDING_MARK);
    batch.add(
        nft::NFT_MSG_NEWCHAIN,
        nft::NLM_F_CREATE,
        &chain,
        format!("create chain {FORWARDING_MARK}"),
    );
    super::commit(batch, &socket, "ip6")
}

/// Removes the network's `ip6` chain and isolation elements, then the
/// table if no other network (nor the forwarding mark) is left in it;
/// nothing when there is no `ip6` table (v4-only networks).
pub(super) fn remove_network(socket: &Socket, bridge: &str) -> Result<()> {
    if !table_exists(socket)? {
        return Ok(());
    }
    super::remove_chains(socket, nft::NFPROTO_IPV6, bridge)?;
    super::delete_elements(nft::NFPROTO_IPV6, TABLE, &isolation::elements(bridge))?;
    remove_table_if_unused(socket)
}

/// The `ip6` table with its shared chains and sets, if nothing else is in
/// it (one transaction, undone whole while a network's chain is left).
fn remove_table_if_unused(socket: &Socket) -> Result<()> {
    let mut parts = vec![Removal::Chain(isolation::CHAIN)];
    parts.extend(super::ports6::CHAINS.map(Removal::Chain));
    parts.extend([
        Removal::Set(super::ports6::BY_ADDRESS.name),
        Removal::Set(super::ports6::ANY_ADDRESS.name),
        Removal::Set(isolation::BRIDGES.name),
        Removal::Set(isolation::SAME.name),
        Removal::Table,
    ]);
    super::remove_table_if_unused(socket, nft::NFPROTO_IPV6, parts)
}

/// Whether sbx turned IPv6 forwarding on (the mark) and no NAT network,
/// of any state root (a `post-` chain), needs it any more.
pub fn forwarding_unneeded() -> Result<bool> {
    let chains = Socket::open()?.dump_chains()?;
    let ours = || {
        chains
            .iter()
            .filter(|c| c.family == nft::NFPROTO_IPV6 && c.table == TABLE)
    };
    Ok(ours().any(|c| c.name == FORWARDING_MARK) && !ours().any(|c| c.name.starts_with("post-")))
}

/// Drops the forwarding mark (once forwarding is off), then the table if
/// nothing else is in it.
pub fn unmark_forwarding() -> Result<()> {
    let socket = Socket::open()?;
    super::remove_table_if_unused(
        &socket,
        nft::NFPROTO_IPV6,
        vec![Removal::Chain(FORWARDING_MARK)],
    )?;
    remove_table_if_unused(&socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_cover_the_prefix() {
        assert_eq!(prefix_mask(0), 0);
        assert_eq!(prefix_mask(128), u128::MAX);
        assert_eq!(prefix_mask(64), u128::MAX << 64);
    }

    #[test]
    fn a_nat_network_masquerades_sixteen_byte_sources_and_an_internal_one_drops() {
        let mut rules = NetworkRules6 {
            bridge: "b",
            subnet: "fdb2:1::/64".parse().unwrap(),
            masquerade: true,
        };
        let set = rule_set(&rules);
        assert_eq!(set.len(), 2, "outward and hairpin");
        let mut encoded = nft::Attrs::default();
        nft::expressions(&set[0])(&mut encoded);
        let bytes = encoded.as_bytes();
        let network = [0xfd, 0xb2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(bytes.windows(16).any(|w| w == network), "the subnet");
        let mask = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert!(bytes.windows(16).any(|w| w == mask), "the /64 mask");
        rules.masquerade = false;
        assert_eq!(rule_set(&rules).len(), 2);
    }
}
