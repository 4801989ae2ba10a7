//! ICMPv6 echo (RFC 4443) as the check sends it over a raw `IPPROTO_ICMPV6`
//! socket: the packet format, the receive filter, and the parsing of what
//! comes back. Unlike IPv4's raw ICMP socket, an ICMPv6 raw socket neither
//! hands over the IPv6 header (the sender comes from recvfrom's address)
//! nor needs the checksum: the kernel always computes it over the
//! pseudo-header (RFC 3542 section 3.1, `IPV6_CHECKSUM` at offset 2 is forced
//! for ICMPv6 in net/ipv6/raw.c).

use super::icmp::Received;
use std::net::{IpAddr, Ipv6Addr};

/// Destination unreachable (RFC 4443 section 3.1).
pub const DST_UNREACH: u8 = 1;
/// Packet too big (RFC 4443 section 3.2): a smaller MTU on the way.
pub const PACKET_TOO_BIG: u8 = 2;
/// Time exceeded (RFC 4443 section 3.3).
pub const TIME_EXCEEDED: u8 = 3;
/// Echo request (RFC 4443 section 4.1).
pub const ECHO_REQUEST: u8 = 128;
/// Echo reply (RFC 4443 section 4.2).
pub const ECHO_REPLY: u8 = 129;
/// `ICMP6_FILTER` socket option at level `IPPROTO_ICMPV6`
/// (linux/icmpv6.h).
pub const ICMP6_FILTER: libc::c_int = 1;
/// The IPv6 header plus the ICMPv6 echo header: what an MTU-sized probe
/// leaves for its payload (IPv6 has no options in its fixed header).
pub const HEADERS: usize = 48;
/// `IPPROTO_ICMPV6` as an IPv6 next header value.
const NEXT_ICMPV6: u8 = 58;

/// The `struct icmp6_filter` that passes only echo replies and the errors
/// that can quote an echo request: 256 bits, a set bit blocks its type
/// (Linux's convention, `ICMP6_FILTER_SETBLOCK` in RFC 3542 section 3.2).
pub fn filter() -> [u32; 8] {
    let mut blocked = [u32::MAX; 8];
    for kind in [ECHO_REPLY, DST_UNREACH, PACKET_TOO_BIG, TIME_EXCEEDED] {
        blocked[usize::from(kind >> 5)] &= !(1u32 << (kind & 31));
    }
    blocked
}

/// An echo request: type 128, code 0, checksum left 0 for the kernel,
/// identifier, sequence, and `payload` bytes of a counting pattern.
pub fn echo_request(id: u16, seq: u16, payload: usize) -> Vec<u8> {
    let mut packet = vec![ECHO_REQUEST, 0, 0, 0];
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend((0..payload).map(|i| i as u8));
    packet
}

/// An ICMPv6 message from `from`: an echo reply, or an error quoting one
/// of our echo requests (after the 4 bytes of the error's own field, the
/// invoking packet's IPv6 header and the echo header, RFC 4443 section 2.4).
pub fn parse(packet: &[u8], from: Ipv6Addr) -> Option<Received> {
    let word = |at: usize| Some(u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]));
    match *packet.first()? {
        ECHO_REPLY => Some(Received::Reply {
            from: IpAddr::V6(from),
            id: word(4)?,
            seq: word(6)?,
        }),
        kind @ (DST_UNREACH | PACKET_TOO_BIG | TIME_EXCEEDED) => {
            let inner = packet.get(8..)?;
            if *inner.get(6)? != NEXT_ICMPV6 {
                return None;
            }
            let quoted = inner.get(40..48)?;
            if quoted[0] != ECHO_REQUEST {
                return None;
            }
            Some(Received::Error {
                from: IpAddr::V6(from),
                kind,
                code: *packet.get(1)?,
                id: u16::from_be_bytes([quoted[4], quoted[5]]),
                seq: u16::from_be_bytes([quoted[6], quoted[7]]),
            })
        }
        _ => None,
    }
}

/// An ICMPv6 error in words, for a `why` (codes of RFC 4443 section 3).
pub fn describe_error(kind: u8, code: u8) -> String {
    match (kind, code) {
        (DST_UNREACH, 0) => "no route to destination".into(),
        (DST_UNREACH, 1) => "administratively prohibited (a firewall rejects it)".into(),
        (DST_UNREACH, 3) => "address unreachable (no Neighbour Advertisement answer)".into(),
        (DST_UNREACH, 5) => "source address failed ingress/egress policy".into(),
        (DST_UNREACH, c) => format!("destination unreachable (code {c})"),
        (PACKET_TOO_BIG, _) => "packet too big (a smaller MTU on the way)".into(),
        (TIME_EXCEEDED, _) => "time exceeded (a routing loop?)".into(),
        (k, c) => format!("ICMPv6 type {k} code {c}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_request_has_rfc_4443_layout() {
        let packet = echo_request(0x1234, 7, 56);
        assert_eq!(packet.len(), 8 + 56);
        assert_eq!(&packet[..8], &[128, 0, 0, 0, 0x12, 0x34, 0, 7]);
        assert_eq!(packet[8 + 55], 55);
    }

    #[test]
    fn the_filter_passes_replies_and_errors_only() {
        let f = filter();
        let passes = |kind: u8| f[usize::from(kind >> 5)] & (1 << (kind & 31)) == 0;
        for kind in [ECHO_REPLY, DST_UNREACH, PACKET_TOO_BIG, TIME_EXCEEDED] {
            assert!(passes(kind), "{kind}");
        }
        // Echo requests, router/neighbour solicitations and advertisements.
        for kind in [ECHO_REQUEST, 133, 134, 135, 136, 143] {
            assert!(!passes(kind), "{kind}");
        }
    }

    /// An IPv6 header (next header ICMPv6) and `icmp`.
    fn ipv6(icmp: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
        p.extend_from_slice(&[58, 64]);
        p.extend_from_slice(&[0xfd; 32]);
        p.extend_from_slice(icmp);
        p
    }

    #[test]
    fn replies_and_errors_are_told_apart() {
        let from: Ipv6Addr = "fdb4:1::2".parse().unwrap();
        let mut reply = echo_request(9, 3, 4);
        reply[0] = ECHO_REPLY;
        assert_eq!(
            parse(&reply, from),
            Some(Received::Reply {
                from: from.into(),
                id: 9,
                seq: 3
            })
        );
        let mut error = vec![PACKET_TOO_BIG, 0, 0, 0, 0, 0, 5, 0xdc];
        error.extend(ipv6(&echo_request(9, 4, 0)));
        assert_eq!(
            parse(&error, from),
            Some(Received::Error {
                from: from.into(),
                kind: PACKET_TOO_BIG,
                code: 0,
                id: 9,
                seq: 4
            })
        );
        assert_eq!(parse(&echo_request(9, 5, 0), from), None, "not a reply");
        let mut neighbour = vec![DST_UNREACH, 3, 0, 0, 0, 0, 0, 0];
        let mut solicitation = ipv6(&[135, 0, 0, 0, 0, 0, 0, 0]);
        neighbour.append(&mut solicitation);
        assert_eq!(parse(&neighbour, from), None, "quotes no echo of ours");
        assert_eq!(parse(&[DST_UNREACH, 0], from), None, "cut");
    }
}
