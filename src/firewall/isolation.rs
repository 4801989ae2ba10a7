//! Isolation between networks (SPEC "Trust"): nothing is forwarded from
//! one sbx bridge to another, in either direction, with constant rules in
//! sbx's `ip` table and one element per network:
//!
//! ```text
//! set bridges { type ifname }              # every sbx network's bridge
//! set same { type ifname . ifname }        # BRIDGE . BRIDGE, per network
//! chain isolate { type filter hook forward priority 0;
//!     ct status dnat accept
//!     iifname @bridges oifname @bridges iifname . oifname != @same drop }
//! ```
//!
//! Traffic within a bridge (seen by the forward hook only with
//! br_netfilter), to the host (its gateways), out to other interfaces
//! (NAT) and to published ports passes; a sandbox on two networks reaches both through its own
//! interfaces, not through the host's forwarding.

use super::TABLE;
use super::nft::{self, Attrs, Batch, Expr, Reg, SetSpec, Verdict, attr};

/// The chain holding the one isolation rule.
pub const CHAIN: &str = "isolate";

const NFT_META_IIFNAME: u32 = 6;
const NFT_META_OIFNAME: u32 = 7;
const NF_INET_FORWARD: u32 = 2;

/// Every sbx bridge.
pub const BRIDGES: SetSpec = SetSpec {
    name: "bridges",
    fields: &[(nft::datatype::IFNAME, 16)],
    data: &[],
};

/// `BRIDGE . BRIDGE` for each network: the crossings that are no crossing.
pub const SAME: SetSpec = SetSpec {
    name: "same",
    fields: &[(nft::datatype::IFNAME, 16), (nft::datatype::IFNAME, 16)],
    data: &[],
};

/// Adds to `batch` (idempotently) the sets, the chain and its rule, and
/// `bridge`'s elements. The rule is flushed and written again, so a chain
/// someone edited comes back whole.
pub fn ensure(batch: &mut Batch, bridge: &str) {
    for set in [&BRIDGES, &SAME] {
        batch.add(
            nft::NFT_MSG_NEWSET,
            nft::NLM_F_CREATE,
            &nft::set_attrs(TABLE, set),
            format!("create set {}", set.name),
        );
    }
    let mut chain = Attrs::default();
    chain
        .string(attr::CHAIN_TABLE, TABLE)
        .string(attr::CHAIN_NAME, CHAIN);
    chain.nest(attr::CHAIN_HOOK, |h| {
        h.u32(attr::HOOK_HOOKNUM, NF_INET_FORWARD)
            .u32(attr::HOOK_PRIORITY, 0);
    });
    chain
        .u32(attr::CHAIN_POLICY, 1)
        .string(attr::CHAIN_TYPE, "filter");
    batch.add(
        nft::NFT_MSG_NEWCHAIN,
        nft::NLM_F_CREATE,
        &chain,
        format!("create chain {CHAIN}"),
    );
    let mut flush = Attrs::default();
    flush
        .string(attr::RULE_TABLE, TABLE)
        .string(attr::RULE_CHAIN, CHAIN);
    batch.add(
        nft::NFT_MSG_DELRULE,
        0,
        &flush,
        format!("flush chain {CHAIN}"),
    );
    for exprs in [published(), rule_exprs()] {
        let mut rule = Attrs::default();
        rule.string(attr::RULE_TABLE, TABLE)
            .string(attr::RULE_CHAIN, CHAIN);
        rule.nest(attr::RULE_EXPRESSIONS, nft::expressions(&exprs));
        batch.add(
            nft::NFT_MSG_NEWRULE,
            nft::NLM_F_CREATE | nft::NLM_F_APPEND,
            &rule,
            format!("add rule to chain {CHAIN}"),
        );
    }
    for (set, key) in elements(bridge) {
        batch.add(
            nft::NFT_MSG_NEWSETELEM,
            nft::NLM_F_CREATE,
            &nft::element_list(TABLE, set, &[key]),
            format!("add {bridge} to set {set}"),
        );
    }
}

/// `ct status dnat accept`: a published port (SPEC "Ports") is open to
/// sandboxes of other networks too, as to any client, through the host.
fn published() -> Vec<Expr> {
    let mut exprs = Vec::from(super::ports::dnat_status());
    exprs.push(Expr::verdict(Verdict::Accept));
    exprs
}

/// `iifname @bridges oifname @bridges iifname . oifname != @same drop`.
fn rule_exprs() -> Vec<Expr> {
    let iif = Reg(0);
    let oif = iif.after(16);
    vec![
        Expr::meta_into(NFT_META_IIFNAME, iif),
        Expr::lookup(BRIDGES.name, iif, false),
        Expr::meta_into(NFT_META_OIFNAME, oif),
        Expr::lookup(BRIDGES.name, oif, false),
        Expr::lookup(SAME.name, iif, true),
        Expr::verdict(Verdict::Drop),
    ]
}

/// The elements naming `bridge`: in `bridges`, and `BRIDGE . BRIDGE` in
/// `same` (set name, key).
pub fn elements(bridge: &str) -> [(&'static str, Vec<u8>); 2] {
    let name = super::ifname(bridge);
    [
        (BRIDGES.name, BRIDGES.key(&[&name])),
        (SAME.name, SAME.key(&[&name, &name])),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_reads_both_names_then_drops_what_crosses() {
        let exprs = rule_exprs();
        assert_eq!(exprs.len(), 6);
        let [(_, one), (_, pair)] = elements("br1");
        assert_eq!(one.len(), 16);
        assert_eq!(pair.len(), 32);
        assert_eq!(&pair[..16], &pair[16..]);
    }
}
