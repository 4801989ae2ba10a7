//! Anti-spoofing (SPEC "Trust"; measured layout in DESIGN.md,
//! "Anti-spoofing"): a frame entering a bridge from a sandbox's port passes
//! only if its source MAC and IPv4 source (or ARP sender MAC and address)
//! are that sandbox's own. One `bridge`-family table with constant rules
//! and one set element per sandbox, so the cost per packet does not grow
//! with the number of sandboxes:
//!
//! ```text
//! table bridge sbx {
//!   set guarded { type ifname }                          # checked ports
//!   set allow { type ifname . ether_addr . ipv4_addr }   # PORT . MAC . IP
//!   chain prerouting { type filter hook prerouting priority -300;
//!       iifname @guarded jump sandbox }
//!   chain sandbox {
//!       ether type ip iifname . ether saddr . ip saddr @allow accept
//!       ether type arp iifname . ether saddr . arp saddr ip @allow
//!           iifname . arp saddr ether . arp saddr ip @allow accept
//!       ether type ip6 iifname . ether saddr . ip6 saddr @allow6
//!           jump sandbox6                              # see `v6`
//!       drop }
//!   chain sandbox6 { ... }           # Neighbour Discovery checks (`v6`)
//! }
//! ```
//!
//! A launch puts its port in `guarded` (with its `allow` elements, in one
//! transaction) before the port exists, so it never sends unchecked; then
//! every frame from it but IPv4, ARP and (on a dual-stack network) IPv6
//! from its own addresses (VLAN-tagged, other ethertypes) is dropped. Each sandbox also gets
//! `PORT . MAC . 0.0.0.0`, the source of DHCP and of ARP probes (RFC 5227).
//! A sandbox run with `--allow-spoofing` gets no element at all. Ports sbx
//! did not guard (a sandbox an older sbx launched, an interface of the
//! admin's) are left alone, so an upgrade never cuts a running sandbox
//! off: DESIGN.md's layout checked every `sbx*` port instead.

mod v6;

use super::nft::{self, Attrs, Batch, Expr, Reg, SetSpec, Socket, Verdict, attr, base};
use anyhow::{Result, bail};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The table's name (family bridge).
pub const TABLE: &str = "sbx";

const CHAIN: &str = "sandbox";
const HOOK_CHAIN: &str = "prerouting";
const NFT_META_IIFNAME: u32 = 6;
const NF_BR_PRE_ROUTING: u32 = 0;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_ARP: u16 = 0x0806;

/// `PORT . MAC . IPv4` a sandbox may send from.
const ALLOW: SetSpec = SetSpec {
    name: "allow",
    fields: &[
        (nft::datatype::IFNAME, 16),
        (nft::datatype::ETHER_ADDR, 6),
        (nft::datatype::IPV4_ADDR, 4),
    ],
    data: &[],
};

/// The ports whose frames are checked.
const GUARDED: SetSpec = SetSpec {
    name: "guarded",
    fields: &[(nft::datatype::IFNAME, 16)],
    data: &[],
};

/// One sandbox port as the filter knows it.
pub struct Port<'a> {
    /// The host end of its veth, on the bridge.
    pub ifname: &'a str,
    /// Its `eth0`'s MAC.
    pub mac: [u8; 6],
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its IPv6 address on a dual-stack network (`state::Link.ip6`); None:
    /// every IPv6 frame from it is dropped.
    pub ip6: Option<Ipv6Addr>,
    /// `--allow-spoofing`: nothing is checked.
    pub trusted: bool,
}

/// Adds to `batch` (idempotently) the table, its sets, chains and rules
/// (flushed and written again, so an edited chain comes back whole).
pub fn ensure(batch: &mut Batch) {
    let add = |batch: &mut Batch, kind, flags, attrs: &Attrs, what: String| {
        batch.add_in(nft::NFPROTO_BRIDGE, kind, flags, attrs, what);
    };
    let mut table = Attrs::default();
    table.string(attr::TABLE_NAME, TABLE);
    add(
        batch,
        nft::NFT_MSG_NEWTABLE,
        nft::NLM_F_CREATE,
        &table,
        format!("create table bridge {TABLE}"),
    );
    for set in [&ALLOW, &v6::ALLOW6, &GUARDED] {
        let attrs = nft::set_attrs(TABLE, set);
        add(
            batch,
            nft::NFT_MSG_NEWSET,
            nft::NLM_F_CREATE,
            &attrs,
            format!("create set bridge {TABLE} {}", set.name),
        );
    }
    let mut hook = Attrs::default();
    hook.string(attr::CHAIN_TABLE, TABLE)
        .string(attr::CHAIN_NAME, HOOK_CHAIN);
    hook.nest(attr::CHAIN_HOOK, |h| {
        h.u32(attr::HOOK_HOOKNUM, NF_BR_PRE_ROUTING)
            .u32(attr::HOOK_PRIORITY, -300i32 as u32);
    });
    hook.u32(attr::CHAIN_POLICY, 1)
        .string(attr::CHAIN_TYPE, "filter");
    add(
        batch,
        nft::NFT_MSG_NEWCHAIN,
        nft::NLM_F_CREATE,
        &hook,
        format!("create chain {HOOK_CHAIN}"),
    );
    // `sandbox6` first: a rule of `sandbox` jumps to it.
    for name in [v6::CHAIN, CHAIN] {
        let mut chain = Attrs::default();
        chain
            .string(attr::CHAIN_TABLE, TABLE)
            .string(attr::CHAIN_NAME, name);
        add(
            batch,
            nft::NFT_MSG_NEWCHAIN,
            nft::NLM_F_CREATE,
            &chain,
            format!("create chain {name}"),
        );
    }
    let chains = [
        (HOOK_CHAIN, vec![jump_rule()]),
        (v6::CHAIN, v6::rules()),
        (CHAIN, sandbox_rules()),
    ];
    for (name, rules) in chains {
        let mut flush = Attrs::default();
        flush
            .string(attr::RULE_TABLE, TABLE)
            .string(attr::RULE_CHAIN, name);
        add(
            batch,
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
            add(
                batch,
                nft::NFT_MSG_NEWRULE,
                nft::NLM_F_CREATE | nft::NLM_F_APPEND,
                &rule,
                format!("add rule to chain bridge {TABLE} {name}"),
            );
        }
    }
}

/// Lets `port` send from its own addresses (a trusted one gets nothing:
/// it is not checked). If the table or its sets are gone (someone flushed
/// the ruleset), they are made again first, with a warning, as `sbx run`
/// restores NAT.
pub fn guard(port: &Port) -> Result<()> {
    guard_with(port, true)
}

/// [`guard`] for a port whose bridge sbx's networks do not manage (the CNI
/// plugin's, SPEC "CNI plugin"): the table is made on first use, without
/// a warning, since nobody removed it.
pub fn guard_new(port: &Port) -> Result<()> {
    guard_with(port, false)
}

fn guard_with(port: &Port, warn: bool) -> Result<()> {
    if port.trusted {
        return Ok(());
    }
    let socket = Socket::open()?;
    match add(&socket, port)? {
        0 => Ok(()),
        libc::ENOENT => {
            if warn {
                crate::log::warn(&format!(
                    "the anti-spoofing table bridge {TABLE} was missing: sbx restored it"
                ));
            }
            let mut batch = Batch::new(&socket);
            ensure(&mut batch);
            check(batch.commit(&socket)?)?;
            let errno = add(&socket, port)?;
            check(vec![(what(port), errno)])
        }
        errno => check(vec![(what(port), errno)]),
    }
}

/// Forgets `port`'s elements; ones already gone (or a table already gone)
/// are fine.
pub fn unguard(port: &Port) -> Result<()> {
    let elements: Vec<(&str, Vec<u8>)> = elements(port)
        .into_iter()
        .flat_map(|(set, keys)| keys.into_iter().map(move |k| (set, k)))
        .collect();
    match super::delete_elements(nft::NFPROTO_BRIDGE, TABLE, &elements) {
        Err(e) if is_missing_table(&e) => Ok(()),
        other => other,
    }
}

/// Whether `e` says the table or set is not there at all.
fn is_missing_table(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.raw_os_error() == Some(libc::ENOENT))
    })
}

/// Adds `port`'s elements in one transaction; returns the kernel's errno.
fn add(socket: &Socket, port: &Port) -> Result<i32> {
    let mut batch = Batch::new(socket);
    for (set, keys) in elements(port) {
        batch.add_in(
            nft::NFPROTO_BRIDGE,
            nft::NFT_MSG_NEWSETELEM,
            nft::NLM_F_CREATE,
            &nft::element_list(TABLE, set, &keys),
            what(port),
        );
    }
    let results = batch.commit(socket)?;
    Ok(results
        .iter()
        .map(|(_, e)| *e)
        .find(|e| *e != 0)
        .unwrap_or(0))
}

fn what(port: &Port) -> String {
    format!(
        "add the anti-spoofing elements of port {} in table bridge {TABLE}",
        port.ifname
    )
}

/// The first failure among a batch's answers, as an error.
fn check(results: Vec<(String, i32)>) -> Result<()> {
    match results.into_iter().find(|(_, errno)| *errno != 0) {
        Some((what, errno)) => bail!("{what}: {}", std::io::Error::from_raw_os_error(errno)),
        None => Ok(()),
    }
}

/// The sets and keys standing for `port`: its `allow` elements (its
/// address and `0.0.0.0`), its `allow6` ones if it has IPv6 (its address,
/// its link-local address and `::`), then its name in `guarded`; none if
/// trusted.
fn elements(port: &Port) -> Vec<(&'static str, Vec<Vec<u8>>)> {
    if port.trusted {
        return Vec::new();
    }
    let name = super::ifname(port.ifname);
    let keys = [port.ip, Ipv4Addr::UNSPECIFIED]
        .iter()
        .map(|ip| ALLOW.key(&[&name, &port.mac, &ip.octets()]))
        .collect();
    let mut sets = vec![(ALLOW.name, keys)];
    if let Some(ip6) = port.ip6 {
        sets.push((v6::ALLOW6.name, v6::keys(&name, port.mac, ip6)));
    }
    sets.push((GUARDED.name, vec![GUARDED.key(&[&name])]));
    sets
}

/// `iifname @guarded jump sandbox`.
fn jump_rule() -> Vec<Expr> {
    let iif = Reg(0);
    vec![
        Expr::meta_into(NFT_META_IIFNAME, iif),
        Expr::lookup(GUARDED.name, iif, false),
        Expr::verdict(Verdict::Jump(CHAIN)),
    ]
}

/// The `sandbox` chain: IPv4 and ARP from the port's own addresses, IPv6
/// from them on to `sandbox6`, then drop.
fn sandbox_rules() -> Vec<Vec<Expr>> {
    let (iif, mac, ip) = (Reg(0), Reg(0).after(16), Reg(0).after(16).after(6));
    let ethertype = Reg(8);
    let is = |proto: u16| {
        [
            Expr::payload_into(base::LINK, 12, 2, ethertype),
            Expr::cmp_eq(ethertype, &proto.to_be_bytes()),
        ]
    };
    let mut ipv4 = Vec::from(is(ETH_P_IP));
    ipv4.extend([
        Expr::meta_into(NFT_META_IIFNAME, iif),
        Expr::payload_into(base::LINK, 6, 6, mac),
        Expr::payload_into(base::NETWORK, 12, 4, ip),
        Expr::lookup(ALLOW.name, iif, false),
        Expr::verdict(Verdict::Accept),
    ]);
    // ARP for Ethernet/IPv4: sender MAC at 8, sender IP at 14.
    let mut arp = Vec::from(is(ETH_P_ARP));
    arp.extend([
        Expr::meta_into(NFT_META_IIFNAME, iif),
        Expr::payload_into(base::LINK, 6, 6, mac),
        Expr::payload_into(base::NETWORK, 14, 4, ip),
        Expr::lookup(ALLOW.name, iif, false),
        Expr::payload_into(base::NETWORK, 8, 6, mac),
        Expr::lookup(ALLOW.name, iif, false),
        Expr::verdict(Verdict::Accept),
    ]);
    vec![
        ipv4,
        arp,
        v6::entry_rule(),
        vec![Expr::verdict(Verdict::Drop)],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(ip6: Option<Ipv6Addr>) -> Port<'static> {
        Port {
            ifname: "sbx0123abcd",
            mac: [0x0a, 0x53, 10, 11, 0, 2],
            ip: Ipv4Addr::new(10, 11, 0, 2),
            ip6,
            trusted: false,
        }
    }

    #[test]
    fn a_sandbox_may_send_from_its_address_and_from_nothing_yet() {
        let sets = elements(&port(None));
        assert_eq!(sets.len(), 2, "no allow6 element on a v4-only network");
        let (set, keys) = &sets[0];
        assert_eq!(*set, "allow");
        assert_eq!(keys.len(), 2);
        assert_eq!(&keys[0][24..], &[10, 11, 0, 2]);
        assert_eq!(&keys[1][24..], &[0, 0, 0, 0]);
        assert_eq!(sets[1].0, "guarded");
        let trusted = Port {
            trusted: true,
            ..port(None)
        };
        assert!(
            elements(&trusted).is_empty(),
            "a trusted port is not checked"
        );
    }

    #[test]
    fn a_dual_stack_port_also_gets_its_three_ipv6_sources() {
        let ip6: Ipv6Addr = "fdb3:1::2".parse().unwrap();
        let sets = elements(&port(Some(ip6)));
        let names: Vec<&str> = sets.iter().map(|(s, _)| *s).collect();
        assert_eq!(names, ["allow", "allow6", "guarded"]);
        let keys = &sets[1].1;
        let addresses: Vec<&[u8]> = keys.iter().map(|k| &k[24..]).collect();
        let expected = v6::sources([0x0a, 0x53, 10, 11, 0, 2], ip6).map(|a| a.octets());
        assert_eq!(
            addresses,
            expected.iter().map(|a| &a[..]).collect::<Vec<_>>()
        );
        let trusted = Port {
            trusted: true,
            ..port(Some(ip6))
        };
        assert!(elements(&trusted).is_empty());
    }

    #[test]
    fn the_filter_ends_in_a_drop() {
        let rules = sandbox_rules();
        assert_eq!(rules.len(), 4, "IPv4, ARP, IPv6, drop");
        assert_eq!(rules[3].len(), 1);
    }
}
