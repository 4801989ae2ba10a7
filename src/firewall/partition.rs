//! Partitions (SPEC "Impairments and partitions"): no frame at all between
//! two groups of sandboxes, both ways, with constant rules and one set
//! element per (ordered) pair:
//!
//! ```text
//! table bridge sbx {
//!   set partitioned { type ifname . ifname }      # in port . out port
//!   chain partition { type filter hook forward priority 0;
//!       iifname . oifname @partitioned drop } }
//! table ip sbx {
//!   set partitioned { type ipv4_addr . ipv4_addr } # saddr . daddr
//!   chain partition { type filter hook forward priority 0;
//!       ip saddr . ip daddr @partitioned drop } }
//! ```
//!
//! The bridge rule acts on whole frames between two ports (IP, ARP, any
//! ethertype), so a static neighbour entry does not get around it; the
//! `ip` one covers the routed path, a sandbox sending to its peer's
//! address through the gateway's MAC. Elements name host-side veths and
//! addresses, which die with the sandbox: its teardown forgets them.

use super::nft::{self, Attrs, Batch, Expr, Reg, SetSpec, Socket, Verdict, attr, base};
use anyhow::{Result, bail};
use std::net::Ipv4Addr;

/// The set's name in both tables.
pub const SET: &str = "partitioned";
/// The chain's name in both tables.
pub const CHAIN: &str = "partition";

const NF_FORWARD: u32 = 2;
const NFT_META_IIFNAME: u32 = 6;
const NFT_META_OIFNAME: u32 = 7;

/// `ifname . ifname`: the ports a frame enters and leaves by.
const PORTS: SetSpec = SetSpec {
    name: SET,
    fields: &[(nft::datatype::IFNAME, 16), (nft::datatype::IFNAME, 16)],
    data: &[],
};

/// `ipv4_addr . ipv4_addr`: a routed packet's source and destination.
const ADDRS: SetSpec = SetSpec {
    name: SET,
    fields: &[(nft::datatype::IPV4_ADDR, 4), (nft::datatype::IPV4_ADDR, 4)],
    data: &[],
};

/// What separates two sandboxes, one direction each: port pairs (host
/// side veths on one bridge) and address pairs.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// (input port, output port).
    pub ports: Vec<(String, String)>,
    /// (source, destination).
    pub addrs: Vec<(Ipv4Addr, Ipv4Addr)>,
}

impl Cut {
    /// The element keys: (family, key) each.
    fn keys(&self) -> Vec<(u8, Vec<u8>)> {
        let ports = self.ports.iter().map(|(a, b)| {
            let key = PORTS.key(&[&super::ifname(a), &super::ifname(b)]);
            (nft::NFPROTO_BRIDGE, key)
        });
        let addrs = (self.addrs.iter())
            .map(|(a, b)| (nft::NFPROTO_IPV4, ADDRS.key(&[&a.octets(), &b.octets()])));
        ports.chain(addrs).collect()
    }
}

/// `iifname . oifname @partitioned drop`.
fn bridge_rule() -> Vec<Expr> {
    let iif = Reg(0);
    vec![
        Expr::meta_into(NFT_META_IIFNAME, iif),
        Expr::meta_into(NFT_META_OIFNAME, iif.after(16)),
        Expr::lookup(SET, iif, false),
        Expr::verdict(Verdict::Drop),
    ]
}

/// `ip saddr . ip daddr @partitioned drop`.
fn ip_rule() -> Vec<Expr> {
    let saddr = Reg(0);
    vec![
        Expr::payload_into(base::NETWORK, 12, 4, saddr),
        Expr::payload_into(base::NETWORK, 16, 4, saddr.after(4)),
        Expr::lookup(SET, saddr, false),
        Expr::verdict(Verdict::Drop),
    ]
}

/// Adds to `batch` (idempotently) both tables' set, chain and rule (the
/// chain flushed and written again).
fn ensure(batch: &mut Batch) {
    let parts = [
        (nft::NFPROTO_BRIDGE, "bridge", &PORTS, bridge_rule()),
        (nft::NFPROTO_IPV4, "ip", &ADDRS, ip_rule()),
    ];
    for (family, label, set, exprs) in parts {
        let mut table = Attrs::default();
        table.string(attr::TABLE_NAME, super::TABLE);
        batch.add_in(
            family,
            nft::NFT_MSG_NEWTABLE,
            nft::NLM_F_CREATE,
            &table,
            format!("create table {label} {}", super::TABLE),
        );
        batch.add_in(
            family,
            nft::NFT_MSG_NEWSET,
            nft::NLM_F_CREATE,
            &nft::set_attrs(super::TABLE, set),
            format!("create set {label} {} {SET}", super::TABLE),
        );
        let mut chain = Attrs::default();
        chain
            .string(attr::CHAIN_TABLE, super::TABLE)
            .string(attr::CHAIN_NAME, CHAIN);
        chain.nest(attr::CHAIN_HOOK, |h| {
            h.u32(attr::HOOK_HOOKNUM, NF_FORWARD)
                .u32(attr::HOOK_PRIORITY, 0);
        });
        chain
            .u32(attr::CHAIN_POLICY, 1)
            .string(attr::CHAIN_TYPE, "filter");
        batch.add_in(
            family,
            nft::NFT_MSG_NEWCHAIN,
            nft::NLM_F_CREATE,
            &chain,
            format!("create chain {label} {} {CHAIN}", super::TABLE),
        );
        let mut flush = Attrs::default();
        flush
            .string(attr::RULE_TABLE, super::TABLE)
            .string(attr::RULE_CHAIN, CHAIN);
        batch.add_in(
            family,
            nft::NFT_MSG_DELRULE,
            0,
            &flush,
            format!("flush chain {label} {CHAIN}"),
        );
        let mut rule = Attrs::default();
        rule.string(attr::RULE_TABLE, super::TABLE)
            .string(attr::RULE_CHAIN, CHAIN);
        rule.nest(attr::RULE_EXPRESSIONS, nft::expressions(&exprs));
        batch.add_in(
            family,
            nft::NFT_MSG_NEWRULE,
            nft::NLM_F_CREATE | nft::NLM_F_APPEND,
            &rule,
            format!("add rule to chain {label} {CHAIN}"),
        );
    }
}

/// Cuts what `cut` names (elements already there are kept): one
/// transaction with the tables, sets and rules, all or nothing.
pub fn add(cut: &Cut) -> Result<()> {
    let socket = Socket::open()?;
    let mut batch = Batch::new(&socket);
    ensure(&mut batch);
    for (family, key) in cut.keys() {
        batch.add_in(
            family,
            nft::NFT_MSG_NEWSETELEM,
            nft::NLM_F_CREATE,
            &nft::element_list(super::TABLE, SET, &[key]),
            format!("add an element to set {SET}"),
        );
    }
    for (what, errno) in batch.commit(&socket)? {
        if errno != 0 {
            bail!("{what}: {}", std::io::Error::from_raw_os_error(errno));
        }
    }
    Ok(())
}

/// Removes what `cut` names; elements (or tables) already gone are fine.
pub fn remove(cut: &Cut) -> Result<()> {
    let keys = cut.keys();
    for family in [nft::NFPROTO_BRIDGE, nft::NFPROTO_IPV4] {
        let elements: Vec<(&str, Vec<u8>)> = (keys.iter())
            .filter(|(f, _)| *f == family)
            .map(|(_, k)| (SET, k.clone()))
            .collect();
        super::delete_elements(family, super::TABLE, &elements)?;
    }
    Ok(())
}

/// Forgets every element naming `port` (a host-side veth) or `ip`, found
/// by listing both sets: what a sandbox's teardown calls, whatever groups
/// it was in.
pub fn forget(port: &str, ip: Ipv4Addr) -> Result<()> {
    let socket = Socket::open()?;
    let name = super::ifname(port);
    let ports = socket.dump_set_elements(nft::NFPROTO_BRIDGE, super::TABLE, SET)?;
    let addrs = socket.dump_set_elements(nft::NFPROTO_IPV4, super::TABLE, SET)?;
    let mut cut_ports = Vec::new();
    for (key, _) in ports {
        if key.len() == 32 && (key[..16] == name || key[16..] == name) {
            cut_ports.push((SET, key));
        }
    }
    let mut cut_addrs = Vec::new();
    for (key, _) in addrs {
        if key.len() == 8 && (key[..4] == ip.octets() || key[4..] == ip.octets()) {
            cut_addrs.push((SET, key));
        }
    }
    super::delete_elements(nft::NFPROTO_BRIDGE, super::TABLE, &cut_ports)?;
    super::delete_elements(nft::NFPROTO_IPV4, super::TABLE, &cut_addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_has_one_key_per_direction_in_each_family() {
        let cut = Cut {
            ports: vec![("pa".into(), "pb".into()), ("pb".into(), "pa".into())],
            addrs: vec![
                ("10.1.0.2".parse().unwrap(), "10.1.0.3".parse().unwrap()),
                ("10.1.0.3".parse().unwrap(), "10.1.0.2".parse().unwrap()),
            ],
        };
        let keys = cut.keys();
        assert_eq!(keys.len(), 4);
        assert_eq!(keys[0].0, nft::NFPROTO_BRIDGE);
        assert_eq!(keys[0].1.len(), 32);
        assert_eq!(&keys[0].1[..3], b"pa\0");
        assert_eq!(&keys[0].1[16..19], b"pb\0");
        assert_eq!(keys[2].0, nft::NFPROTO_IPV4);
        assert_eq!(keys[2].1, [10, 1, 0, 2, 10, 1, 0, 3]);
    }

    #[test]
    fn both_rules_look_up_a_pair_then_drop() {
        assert_eq!(bridge_rule().len(), 4);
        assert_eq!(ip_rule().len(), 4);
    }
}
