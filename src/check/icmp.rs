//! ICMP echo as sbx sends it itself: a raw ICMP socket opened inside the
//! source's network namespace (a socket stays in the namespace it was made
//! in), echo requests built here (RFC 792), replies matched by identifier
//! and sequence number.
//!
//! Why a raw socket and not an unprivileged "ping socket" (`SOCK_DGRAM`,
//! `IPPROTO_ICMP`): a ping socket needs the caller's group inside
//! `net.ipv4.ping_group_range` of the namespace it is made in, and a new
//! network namespace starts with that range empty (`1 0`, see
//! `inet_init_net` in net/ipv4/af_inet.c), so in every sandbox it fails with
//! EACCES; widening it would change the sandbox. sbx runs as root, and a raw
//! socket needs only CAP_NET_RAW. The raw socket sees every ICMP message of
//! its namespace, so `ICMP_FILTER` (linux/icmp.h) keeps only echo replies
//! and errors, and replies are matched by identifier and sequence.
//!
//! The same holds for IPv6 (`IPPROTO_ICMPV6`, `ICMP6_FILTER`; the packet
//! format is in `icmp6`), whose `net.ipv4.ping_group_range` is shared with
//! IPv4's.

use super::icmp6;
use anyhow::{Context, Result};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const ICMP_ECHOREPLY: u8 = 0;
const ICMP_DEST_UNREACH: u8 = 3;
const ICMP_TIME_EXCEEDED: u8 = 11;
const ICMP_ECHO: u8 = 8;
/// `ICMP_FILTER` socket option at level `SOL_RAW` (linux/icmp.h).
const ICMP_FILTER: libc::c_int = 1;
/// IPv4 header (without options) plus ICMP echo header: what an MTU-sized
/// probe leaves for its payload.
pub const HEADERS: usize = 28;
/// Payload of an ordinary probe: ping's default 56 bytes.
pub const PAYLOAD: usize = 56;

/// A raw ICMP (IPv4) or ICMPv6 socket in one network namespace,
/// non-blocking.
pub struct IcmpSocket {
    fd: OwnedFd,
    v6: bool,
}

/// What came back on a socket.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// An echo reply from `from`.
    Reply { from: IpAddr, id: u16, seq: u16 },
    /// An ICMP error from `from` about one of our echo requests.
    Error {
        from: IpAddr,
        kind: u8,
        code: u8,
        id: u16,
        seq: u16,
    },
}

impl IcmpSocket {
    /// Opens one in the calling thread's network namespace, with DF on
    /// every packet (`IP_PMTUDISC_DO`: an oversized probe fails with
    /// EMSGSIZE instead of being fragmented).
    pub fn open() -> Result<Self> {
        let socket = Self::raw_socket(libc::AF_INET, libc::IPPROTO_ICMP, "ICMP")?;
        let pass = (1u32 << ICMP_ECHOREPLY) | (1 << ICMP_DEST_UNREACH) | (1 << ICMP_TIME_EXCEEDED);
        socket.set(libc::SOL_RAW, ICMP_FILTER, !pass)?;
        socket.set(
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_DO as u32,
        )?;
        Ok(socket)
    }

    /// Opens a raw ICMPv6 socket in the calling thread's network
    /// namespace. IPv6 routers never fragment, so every probe is a DF
    /// probe; `IPV6_DONTFRAG` (RFC 3542 section 11.2) keeps the sender from
    /// fragmenting it too: an oversized probe fails with EMSGSIZE.
    pub fn open6() -> Result<Self> {
        let socket = Self::raw_socket(libc::AF_INET6, libc::IPPROTO_ICMPV6, "ICMPv6")?;
        let filter = icmp6::filter();
        // SAFETY: filter is a valid 32-byte struct icmp6_filter.
        let rc = unsafe {
            libc::setsockopt(
                socket.fd.as_raw_fd(),
                libc::IPPROTO_ICMPV6,
                icmp6::ICMP6_FILTER,
                filter.as_ptr().cast(),
                std::mem::size_of_val(&filter) as u32,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error()).context("set ICMP6_FILTER");
        }
        socket.set(libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG, 1)?;
        socket.set(
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_DO as u32,
        )?;
        Ok(socket)
    }

    fn raw_socket(domain: libc::c_int, protocol: libc::c_int, what: &str) -> Result<Self> {
        // SAFETY: plain socket(2); the result is checked.
        let fd = unsafe {
            libc::socket(
                domain,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("open a raw {what} socket"));
        }
        Ok(IcmpSocket {
            // SAFETY: fd is a fresh descriptor we own.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            v6: domain == libc::AF_INET6,
        })
    }

    fn set(&self, level: libc::c_int, name: libc::c_int, value: u32) -> Result<()> {
        // SAFETY: value is a valid u32 for the length given.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                (&value as *const u32).cast(),
                4,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("set socket option {level}/{name}"));
        }
        Ok(())
    }

    /// The descriptor, for poll(2).
    pub fn raw(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// Sends one echo request to `dst` (of the socket's family); the
    /// errno of a refusal (EMSGSIZE for a packet above the path's MTU,
    /// ENETUNREACH without a route, ...).
    pub fn send(&self, dst: IpAddr, id: u16, seq: u16, payload: usize) -> Result<(), i32> {
        let sent = match (dst, self.v6) {
            (IpAddr::V4(dst), false) => {
                let packet = echo_request(id, seq, payload);
                // SAFETY: zeroed sockaddr_in filled below.
                let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
                addr.sin_family = libc::AF_INET as u16;
                addr.sin_addr.s_addr = u32::from_ne_bytes(dst.octets());
                self.send_to(&packet, (&addr as *const libc::sockaddr_in).cast(), {
                    std::mem::size_of::<libc::sockaddr_in>()
                })
            }
            (IpAddr::V6(dst), true) => {
                let packet = icmp6::echo_request(id, seq, payload);
                // SAFETY: zeroed sockaddr_in6 filled below.
                let mut addr: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
                addr.sin6_family = libc::AF_INET6 as u16;
                addr.sin6_addr.s6_addr = dst.octets();
                self.send_to(&packet, (&addr as *const libc::sockaddr_in6).cast(), {
                    std::mem::size_of::<libc::sockaddr_in6>()
                })
            }
            _ => return Err(libc::EAFNOSUPPORT),
        };
        if sent < 0 {
            return Err(std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO));
        }
        Ok(())
    }

    fn send_to(&self, packet: &[u8], addr: *const libc::sockaddr, len: usize) -> isize {
        // SAFETY: packet is valid for its length, addr for `len` bytes.
        unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                addr,
                len as u32,
            )
        }
    }

    /// Everything queued on the socket now, parsed (what is not ours is
    /// left out by the caller).
    pub fn drain(&self) -> Vec<Received> {
        let mut found = Vec::new();
        let mut buf = [0u8; 2048];
        loop {
            // SAFETY: zeroed storage is a valid sockaddr_in6 to fill.
            let mut addr: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            // SAFETY: buf and addr are valid for the lengths given.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&mut addr as *mut libc::sockaddr_in6).cast(),
                    &mut len,
                )
            };
            if n <= 0 {
                return found;
            }
            let packet = &buf[..n as usize];
            let parsed = if self.v6 {
                icmp6::parse(packet, Ipv6Addr::from(addr.sin6_addr.s6_addr))
            } else {
                parse(packet)
            };
            if let Some(received) = parsed {
                found.push(received);
            }
        }
    }
}

/// An echo request: type 8, code 0, checksum, identifier, sequence, and a
/// payload of `payload` bytes (a counting pattern, as ping's).
pub fn echo_request(id: u16, seq: u16, payload: usize) -> Vec<u8> {
    let mut packet = vec![ICMP_ECHO, 0, 0, 0];
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend((0..payload).map(|i| i as u8));
    let sum = checksum(&packet);
    packet[2..4].copy_from_slice(&sum.to_be_bytes());
    packet
}

/// The Internet checksum (RFC 1071): one's complement of the one's
/// complement sum of 16-bit words.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = match chunk {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += u32::from(word);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A raw socket's datagram: the IPv4 header, then ICMP. An echo reply, or
/// an error that quotes one of our echo requests (its IPv4 header and the
/// first 8 bytes of ICMP, RFC 792).
pub fn parse(packet: &[u8]) -> Option<Received> {
    let ihl = usize::from(packet.first()? & 0x0f) * 4;
    let from = Ipv4Addr::new(
        *packet.get(12)?,
        *packet.get(13)?,
        *packet.get(14)?,
        *packet.get(15)?,
    );
    let icmp = packet.get(ihl..)?;
    let word = |at: usize| Some(u16::from_be_bytes([*icmp.get(at)?, *icmp.get(at + 1)?]));
    match *icmp.first()? {
        ICMP_ECHOREPLY => Some(Received::Reply {
            from: from.into(),
            id: word(4)?,
            seq: word(6)?,
        }),
        kind @ (ICMP_DEST_UNREACH | ICMP_TIME_EXCEEDED) => {
            let inner = icmp.get(8..)?;
            let inner_ihl = usize::from(inner.first()? & 0x0f) * 4;
            let quoted = inner.get(inner_ihl..inner_ihl + 8)?;
            if quoted[0] != ICMP_ECHO {
                return None;
            }
            Some(Received::Error {
                from: from.into(),
                kind,
                code: *icmp.get(1)?,
                id: u16::from_be_bytes([quoted[4], quoted[5]]),
                seq: u16::from_be_bytes([quoted[6], quoted[7]]),
            })
        }
        _ => None,
    }
}

/// An ICMP error in words, for a `why`.
pub fn describe_error(kind: u8, code: u8) -> String {
    match (kind, code) {
        (ICMP_DEST_UNREACH, 0) => "network unreachable".into(),
        (ICMP_DEST_UNREACH, 1) => "host unreachable (no ARP answer)".into(),
        (ICMP_DEST_UNREACH, 4) => "fragmentation needed (a smaller MTU on the way)".into(),
        (ICMP_DEST_UNREACH, 13) => "administratively prohibited (a firewall rejects it)".into(),
        (ICMP_DEST_UNREACH, c) => format!("destination unreachable (code {c})"),
        (ICMP_TIME_EXCEEDED, _) => "time exceeded (a routing loop?)".into(),
        (k, c) => format!("ICMP type {k} code {c}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_request_checks_out() {
        let packet = echo_request(0x1234, 7, PAYLOAD);
        assert_eq!(packet.len(), 8 + PAYLOAD);
        assert_eq!(&packet[..2], &[8, 0]);
        assert_eq!(&packet[4..8], &[0x12, 0x34, 0, 7]);
        // A packet with its checksum sums to zero (RFC 1071).
        assert_eq!(checksum(&packet), 0);
        assert_eq!(checksum(&echo_request(1, 2, 1471)), 0, "odd length");
    }

    fn ipv4(from: [u8; 4], icmp: &[u8]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
        p.extend_from_slice(&from);
        p.extend_from_slice(&[10, 0, 0, 1]);
        p.extend_from_slice(icmp);
        p
    }

    #[test]
    fn replies_and_errors_are_told_apart() {
        let mut reply = echo_request(9, 3, 4);
        reply[0] = 0;
        assert_eq!(
            parse(&ipv4([10, 0, 0, 2], &reply)),
            Some(Received::Reply {
                from: Ipv4Addr::new(10, 0, 0, 2).into(),
                id: 9,
                seq: 3
            })
        );
        let mut error = vec![3, 1, 0, 0, 0, 0, 0, 0];
        error.extend(ipv4([10, 0, 0, 1], &echo_request(9, 4, 0)));
        assert_eq!(
            parse(&ipv4([10, 0, 0, 1], &error)),
            Some(Received::Error {
                from: Ipv4Addr::new(10, 0, 0, 1).into(),
                kind: 3,
                code: 1,
                id: 9,
                seq: 4
            })
        );
        let request = echo_request(9, 5, 0);
        assert_eq!(parse(&ipv4([10, 0, 0, 2], &request)), None, "not a reply");
        assert_eq!(parse(&[0x45, 0, 0]), None, "cut");
    }
}
