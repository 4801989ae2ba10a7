//! IPv6 anti-spoofing (SPEC "Trust", "IPv6"): the rules of table
//! `bridge sbx` for ether type ip6, and the `allow6` elements of a port.
//!
//! ```text
//! set allow6 { type ifname . ether_addr . ipv6_addr }   # PORT . MAC . IP6
//! chain sandbox { ...
//!     ether type ip6 iifname . ether saddr . ip6 saddr @allow6 jump sandbox6
//!     drop }
//! chain sandbox6 {                               # source known to be its own
//!     meta l4proto != ipv6-icmp accept
//!     icmpv6 type < 133 accept                   # errors, echo, MLD
//!     # Neighbour Discovery (RFC 4861), only as the kernel sends it: no
//!     # extension header, ICMPv6 length exact, the one option where
//!     # expected; every address and MAC in it the port's own:
//!     NS  (135), 24 bytes, from ::, own target   # DAD (RFC 4862)
//!     NS  (135), 24 bytes, from an address       # no option at all
//!     NS  (135), 32 bytes, SLLA = own MAC
//!     NS  (135), 32 bytes, nonce, from ::, own target   # RFC 7527 DAD
//!     NA  (136), 24 bytes, own target
//!     NA  (136), 32 bytes, own target, TLLA = own MAC
//!     RS  (133),  8 bytes / 16 bytes with SLLA = own MAC
//!     icmpv6 type < 138 drop                     # the rest of ND, RA, Redirect
//!     icmpv6 type != 0 accept                    # i.e. >= 138 (0: reserved)
//!     ip6 nexthdr frag, fragment offset != 0 accept   # a later fragment
//!     drop }
//! ```
//!
//! A port's `allow6` elements are its address on the network, its
//! link-local address and `::` (the source of DAD and of MLD reports
//! before a link-local address exists). The link-local address is the
//! kernel's default one: EUI-64 from the MAC (RFC 4291 appendix A), which
//! a new network namespace uses (`addr_gen_mode` 0: a new namespace's IPv6
//! settings start from the kernel's defaults, `devconf_inherit_init_net`
//! 0, Documentation/networking/ip-sysctl.rst).
//!
//! A port without an IPv6 address (a v4-only network) has no `allow6`
//! element, so every IPv6 frame from it is dropped, as before IPv6 came.
//!
//! Why each check: a Neighbour Advertisement's target and link-layer
//! option are what a neighbour cache takes (RFC 4861 7.2.5); a
//! solicitation's source link-layer option is cached for its source
//! (7.2.3); a DAD solicitation for another's tentative address makes that
//! address fail DAD (RFC 4862 5.4.3); a Router Advertisement or Redirect
//! would give neighbours routes. A layout the rules do not know (a second
//! option, an extension header, a fragmented ND message, which RFC 6980
//! forbids anyway) is dropped, never guessed at.

use super::super::nft::{self, Expr, Reg, SetSpec, Verdict, base};
use std::net::Ipv6Addr;

/// nft's `ipv6_addr` data type (`TYPE_IP6ADDR` in nftables' `datatype.h`).
const IPV6_ADDR: u32 = 8;
/// The chain for IPv6 frames whose source is the port's own.
pub(super) const CHAIN: &str = "sandbox6";

const ETH_P_IPV6: u16 = 0x86dd;
/// `NFT_META_IIFNAME`, `NFT_META_L4PROTO` (nf_tables.h).
const META_IIFNAME: u32 = 6;
const META_L4PROTO: u32 = 16;
/// Next-header numbers (IANA): ICMPv6, the fragment header.
const IPPROTO_ICMPV6: u8 = 58;
const IPPROTO_FRAGMENT: u8 = 44;
/// ICMPv6 types (RFC 4861 4.1-4.5).
const ROUTER_SOLICITATION: u8 = 133;
const NEIGHBOUR_SOLICITATION: u8 = 135;
const NEIGHBOUR_ADVERTISEMENT: u8 = 136;
/// The first ICMPv6 type after Redirect (137).
const AFTER_ND: u8 = 138;
/// ND option types and the length (in units of 8 bytes) of each as sent
/// on Ethernet: source and target link-layer address (RFC 4861 4.6.1),
/// nonce (RFC 7527; Linux's is 6 bytes).
const OPT_SLLA: [u8; 2] = [1, 1];
const OPT_TLLA: [u8; 2] = [2, 1];
const OPT_NONCE: [u8; 2] = [14, 1];

/// `PORT . MAC . IPv6` a sandbox may send from.
pub(super) const ALLOW6: SetSpec = SetSpec {
    name: "allow6",
    fields: &[
        (nft::datatype::IFNAME, 16),
        (nft::datatype::ETHER_ADDR, 6),
        (IPV6_ADDR, 16),
    ],
    data: &[],
};

/// The link-local address the kernel gives an interface with MAC `mac`
/// (EUI-64, RFC 4291 2.5.1 and appendix A: the universal/local bit
/// flipped, `ff:fe` in the middle, under `fe80::/64`).
pub fn link_local(mac: [u8; 6]) -> Ipv6Addr {
    let [a, b, c, d, e, f] = mac;
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        a ^ 0x02,
        b,
        c,
        0xff,
        0xfe,
        d,
        e,
        f,
    ])
}

/// The addresses a port with MAC `mac` and address `ip6` may send from:
/// its own, its link-local one, and `::`.
pub fn sources(mac: [u8; 6], ip6: Ipv6Addr) -> [Ipv6Addr; 3] {
    [ip6, link_local(mac), Ipv6Addr::UNSPECIFIED]
}

/// The `allow6` keys of port `ifname` (NUL-padded) with `mac` and `ip6`.
pub(super) fn keys(ifname: &[u8; 16], mac: [u8; 6], ip6: Ipv6Addr) -> Vec<Vec<u8>> {
    sources(mac, ip6)
        .iter()
        .map(|ip| ALLOW6.key(&[ifname, &mac, &ip.octets()]))
        .collect()
}

// Registers: the `allow6` key in 0-9 (ifname 0-3, MAC 4-5, address 6-9);
// single fields compared on their own in 12-15.
const IIF: Reg = Reg(0);
const MAC: Reg = Reg(4);
const ADDR: Reg = Reg(6);
const SCRATCH: Reg = Reg(12);

/// ICMPv6 offsets: type at 0, an NS's or NA's target at 8 and its first
/// option at 24; an RS's first option at 8. The MAC of a link-layer
/// option is 2 bytes into it.
const TARGET: u32 = 8;
const NS_OPTION: u32 = 24;
const RS_OPTION: u32 = 8;
/// IPv6 header offsets: payload length, next header, source (RFC 8200 3).
const PAYLOAD_LENGTH: u32 = 4;
const NEXT_HEADER: u32 = 6;
const SADDR: u32 = 8;
/// A fragment header right after the IPv6 header: its offset field
/// (RFC 8200 4.5), the low 3 bits being flags.
const FRAGMENT_OFFSET: u32 = 40 + 2;

/// `ether type ip6 iifname . ether saddr . ip6 saddr @allow6 jump
/// sandbox6`: the rule of chain `sandbox` that lets IPv6 from the port's
/// own addresses on to the checks of [`rules`].
pub(super) fn entry_rule() -> Vec<Expr> {
    vec![
        Expr::payload_into(base::LINK, 12, 2, SCRATCH),
        Expr::cmp_eq(SCRATCH, &ETH_P_IPV6.to_be_bytes()),
        Expr::meta_into(META_IIFNAME, IIF),
        Expr::payload_into(base::LINK, 6, 6, MAC),
        Expr::payload_into(base::NETWORK, SADDR, 16, ADDR),
        Expr::lookup(ALLOW6.name, IIF, false),
        Expr::verdict(Verdict::Jump(CHAIN)),
    ]
}

/// The ICMPv6 type, compared with `cmp` to `value`.
fn icmp_type(cmp: fn(Reg, &[u8]) -> Expr, value: u8) -> Vec<Expr> {
    vec![
        Expr::payload_into(base::TRANSPORT, 0, 1, SCRATCH),
        cmp(SCRATCH, &[value]),
    ]
}

/// An ND message as the kernel sends it: type `kind`, no extension header
/// (next header ICMPv6) and an ICMPv6 length of exactly `len` bytes.
fn nd(kind: u8, len: u16) -> Vec<Expr> {
    let mut exprs = icmp_type(Expr::cmp_eq, kind);
    exprs.extend([
        Expr::payload_into(base::NETWORK, NEXT_HEADER, 1, SCRATCH),
        Expr::cmp_eq(SCRATCH, &[IPPROTO_ICMPV6]),
        Expr::payload_into(base::NETWORK, PAYLOAD_LENGTH, 2, SCRATCH),
        Expr::cmp_eq(SCRATCH, &len.to_be_bytes()),
    ]);
    exprs
}

/// The option at ICMPv6 offset `at` has type and length `kind`.
fn option(at: u32, kind: [u8; 2]) -> Vec<Expr> {
    vec![
        Expr::payload_into(base::TRANSPORT, at, 2, SCRATCH),
        Expr::cmp_eq(SCRATCH, &kind),
    ]
}

/// `iifname . MAC . ADDR @allow6`, with MAC the Ethernet source or (with
/// `option_mac`) the link-layer address of the option at that ICMPv6
/// offset, and ADDR the IPv6 source or (`target`) the ND target, which
/// must not be `::`.
fn own(option_mac: Option<u32>, target: bool) -> Vec<Expr> {
    let mut exprs = Vec::new();
    if target {
        exprs.extend([
            Expr::payload_into(base::TRANSPORT, TARGET, 16, ADDR),
            Expr::cmp_ne(ADDR, &Ipv6Addr::UNSPECIFIED.octets()),
        ]);
    } else {
        exprs.push(Expr::payload_into(base::NETWORK, SADDR, 16, ADDR));
    }
    exprs.push(match option_mac {
        Some(at) => Expr::payload_into(base::TRANSPORT, at + 2, 6, MAC),
        None => Expr::payload_into(base::LINK, 6, 6, MAC),
    });
    exprs.extend([
        Expr::meta_into(META_IIFNAME, IIF),
        Expr::lookup(ALLOW6.name, IIF, false),
    ]);
    exprs
}

/// The IPv6 source is (`true`) or is not `::`.
fn from_unspecified(is: bool) -> Vec<Expr> {
    let cmp = if is { Expr::cmp_eq } else { Expr::cmp_ne };
    vec![
        Expr::payload_into(base::NETWORK, SADDR, 16, SCRATCH),
        cmp(SCRATCH, &Ipv6Addr::UNSPECIFIED.octets()),
    ]
}

/// A rule: its parts' expressions in order, then `verdict`.
fn rule(parts: Vec<Vec<Expr>>, verdict: Verdict) -> Vec<Expr> {
    let mut exprs: Vec<Expr> = parts.into_iter().flatten().collect();
    exprs.push(Expr::verdict(verdict));
    exprs
}

/// The rules of chain `sandbox6`, in order (see the module's header).
pub(super) fn rules() -> Vec<Vec<Expr>> {
    use Verdict::{Accept, Drop};
    use {NEIGHBOUR_ADVERTISEMENT as NA, NEIGHBOUR_SOLICITATION as NS, ROUTER_SOLICITATION as RS};
    let not_icmp = vec![
        Expr::meta_into(META_L4PROTO, SCRATCH),
        Expr::cmp_ne(SCRATCH, &[IPPROTO_ICMPV6]),
    ];
    let later_fragment = vec![
        Expr::payload_into(base::NETWORK, NEXT_HEADER, 1, SCRATCH),
        Expr::cmp_eq(SCRATCH, &[IPPROTO_FRAGMENT]),
        Expr::payload_into(base::NETWORK, FRAGMENT_OFFSET, 2, SCRATCH),
        Expr::and(SCRATCH, &0xfff8u16.to_be_bytes()),
        Expr::cmp_ne(SCRATCH, &[0, 0]),
    ];
    // Type 0 is reserved (RFC 4443 2.1); the comparison makes `nft list`
    // show the rule's condition.
    let any_other_icmp = icmp_type(Expr::cmp_ne, 0);
    vec![
        rule(vec![not_icmp], Accept),
        rule(vec![icmp_type(Expr::cmp_lt, RS)], Accept),
        // Neighbour Solicitations: DAD, unicast without option, with the
        // source link-layer option, DAD with a nonce.
        rule(
            vec![nd(NS, 24), from_unspecified(true), own(None, true)],
            Accept,
        ),
        rule(vec![nd(NS, 24), from_unspecified(false)], Accept),
        rule(
            vec![
                nd(NS, 32),
                option(NS_OPTION, OPT_SLLA),
                own(Some(NS_OPTION), false),
            ],
            Accept,
        ),
        rule(
            vec![
                nd(NS, 32),
                option(NS_OPTION, OPT_NONCE),
                from_unspecified(true),
                own(None, true),
            ],
            Accept,
        ),
        // Neighbour Advertisements: without and with the target
        // link-layer option.
        rule(vec![nd(NA, 24), own(None, true)], Accept),
        rule(
            vec![
                nd(NA, 32),
                option(NS_OPTION, OPT_TLLA),
                own(Some(NS_OPTION), true),
            ],
            Accept,
        ),
        // Router Solicitations: from `::` without, or with the source
        // link-layer option.
        rule(vec![nd(RS, 8)], Accept),
        rule(
            vec![
                nd(RS, 16),
                option(RS_OPTION, OPT_SLLA),
                own(Some(RS_OPTION), false),
            ],
            Accept,
        ),
        // ND not as above, Router Advertisements, Redirects.
        rule(vec![icmp_type(Expr::cmp_lt, AFTER_ND)], Drop),
        rule(vec![any_other_icmp], Accept),
        rule(vec![later_fragment], Accept),
        rule(vec![], Drop),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_local_address_is_eui_64_of_the_mac() {
        // As the kernel made it for 0a:53:0a:c1:01:02 in a new netns.
        let ll = link_local([0x0a, 0x53, 0x0a, 0xc1, 0x01, 0x02]);
        assert_eq!(ll, "fe80::853:aff:fec1:102".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn a_port_may_send_from_its_address_its_link_local_and_nothing_yet() {
        let name = crate::firewall::ifname("sbx0123abcd");
        let mac = [0x0a, 0x53, 10, 193, 1, 2];
        let ip6: Ipv6Addr = "fdb3:1::2".parse().unwrap();
        let keys = keys(&name, mac, ip6);
        assert_eq!(keys.len(), 3);
        for key in &keys {
            assert_eq!(key.len(), 40, "ifname 16 . MAC 6+2 . IPv6 16");
            assert_eq!(&key[..16], &name);
            assert_eq!(&key[16..24], &[0x0a, 0x53, 10, 193, 1, 2, 0, 0]);
        }
        assert_eq!(&keys[0][24..], &ip6.octets());
        assert_eq!(&keys[1][24..26], &[0xfe, 0x80]);
        assert_eq!(&keys[1][32..], &link_local(mac).octets()[8..]);
        assert_eq!(&keys[2][24..], &[0; 16]);
    }

    #[test]
    fn the_key_fits_the_registers_and_the_scratch_register_is_apart() {
        assert_eq!(ALLOW6.key_len(), 40);
        // The key spans registers 0..10 of the 16; scratch starts after.
        assert_eq!(ADDR.after(16), Reg(10));
        assert!(SCRATCH.0 >= 10 && SCRATCH.after(16).0 <= 16);
    }

    /// A rule as the kernel receives it (its expression list's bytes).
    fn encoded(rule: &[Expr]) -> Vec<u8> {
        let mut attrs = nft::Attrs::default();
        nft::expressions(rule)(&mut attrs);
        attrs.as_bytes().to_vec()
    }

    fn has(bytes: &[u8], needle: &[u8]) -> bool {
        bytes.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn every_nd_rule_that_carries_an_address_checks_it_against_allow6() {
        let rules: Vec<Vec<u8>> = rules().iter().map(|r| encoded(r)).collect();
        assert_eq!(rules.len(), 14);
        let checked: Vec<usize> = (0..rules.len())
            .filter(|&i| has(&rules[i], b"allow6\0"))
            .collect();
        // DAD NS, NS with SLLA, DAD NS with nonce, NA, NA with TLLA, RS
        // with SLLA; the NS without option from an address and the RS
        // without option carry nothing a cache would take.
        assert_eq!(checked, [2, 4, 5, 6, 7, 9]);
        // An ND rule loads the next header and the payload length
        // (network header offsets 6 and 4), so no extension header or
        // extra option slips by.
        for (i, rule) in rules.iter().enumerate().take(10).skip(2) {
            assert!(has(rule, b"payload\0"), "rule {i}");
            assert_eq!(
                (
                    has(rule, &NEXT_HEADER.to_be_bytes()),
                    has(rule, &PAYLOAD_LENGTH.to_be_bytes())
                ),
                (true, true),
                "rule {i}"
            );
        }
        assert!(has(&encoded(&entry_rule()), b"allow6\0"));
    }

    #[test]
    fn the_chain_ends_in_a_drop_after_dropping_the_rest_of_nd() {
        let rules = rules();
        assert_eq!(rules.last().map(Vec::len), Some(1), "a bare drop");
        let drop = encoded(&rules[13]);
        let nd_catch_all = encoded(&rules[10]);
        assert!(has(&nd_catch_all, &[AFTER_ND]));
        assert!(nd_catch_all.ends_with(&drop), "type < 138: drop");
        assert!(!encoded(&rules[11]).ends_with(&drop), "others: accept");
    }
}
