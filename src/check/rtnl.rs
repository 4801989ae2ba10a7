//! A small synchronous rtnetlink socket for the check: it belongs to the
//! network namespace of the thread that opened it (netlink(7)), and is then
//! used from any thread without a runtime, for neighbour dumps and
//! deletions between probes, link/address/qdisc dumps and route lookups
//! (`RTM_GETROUTE` without `NLM_F_DUMP`: the kernel's own answer to "which
//! route would this packet take", as `ip route get` asks), for IPv4 and
//! IPv6 alike. Message types are
//! netlink-packet-route's, as the rest of sbx uses through rtnetlink.

use super::Family;
use anyhow::{Context, Result, bail};
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use rtnetlink::packet_route::tc::{TcAttribute, TcHandle, TcMessage};
use rtnetlink::packet_route::{AddressFamily, address::AddressAttribute, address::AddressMessage};
use rtnetlink::sys::{Socket, protocols::NETLINK_ROUTE};
use std::collections::HashSet;
use std::net::IpAddr;

/// One rtnetlink socket, in the netns it was opened in.
pub struct Rtnl {
    socket: Socket,
    seq: u32,
}

/// A link as the check needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Carrier (`IFF_LOWER_UP`): the other end of a veth is up too.
    pub lower_up: bool,
    /// Its MTU in bytes.
    pub mtu: u32,
    /// Its hardware address.
    pub mac: Vec<u8>,
    /// The bridge it is a port of (`IFLA_MASTER`).
    pub master: Option<u32>,
}

/// The kernel's answer to a route lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteLookup {
    /// A route: its output interface and next hop (none when on-link).
    Via {
        /// Output interface index.
        oif: u32,
        /// The gateway, for a routed destination.
        gateway: Option<IpAddr>,
    },
    /// A local address of this namespace.
    Local,
    /// No route: the errno (`ENETUNREACH`, ...).
    Unreachable(i32),
}

impl Rtnl {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE).context("open an rtnetlink socket")?;
        socket.bind_auto().context("bind an rtnetlink socket")?;
        let seq = std::process::id().wrapping_mul(7919);
        Ok(Rtnl { socket, seq })
    }

    fn send(&mut self, message: RouteNetlinkMessage, flags: u16) -> Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0).context("send to rtnetlink")?;
        Ok(self.seq)
    }

    /// Reads the answers to request `seq` until it ends: the inner messages,
    /// or the kernel's errno.
    fn collect(&mut self, seq: u32, dump: bool) -> Result<Result<Vec<RouteNetlinkMessage>, i32>> {
        let mut found = Vec::new();
        loop {
            let (data, _) = self
                .socket
                .recv_from_full()
                .context("receive from rtnetlink")?;
            let mut rest = &data[..];
            while rest.len() >= 16 {
                let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                if len < 16 || len > rest.len() {
                    bail!("a cut rtnetlink answer ({len} bytes in {})", rest.len());
                }
                let message = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rest[..len]);
                rest = &rest[(len.div_ceil(4) * 4).min(rest.len())..];
                let Ok(message) = message else {
                    // An object this crate cannot decode: not one the check needs.
                    continue;
                };
                if message.header.sequence_number != seq {
                    continue;
                }
                match message.payload {
                    NetlinkPayload::Done(_) => return Ok(Ok(found)),
                    NetlinkPayload::Error(e) => {
                        return Ok(match e.code {
                            Some(code) => Err(-code.get()),
                            None => Ok(found),
                        });
                    }
                    NetlinkPayload::InnerMessage(inner) => {
                        found.push(inner);
                        if !dump {
                            return Ok(Ok(found));
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// Every object a GET message with `NLM_F_DUMP` returns.
    fn dump(
        &mut self,
        message: RouteNetlinkMessage,
        what: &str,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let seq = self.send(message, NLM_F_REQUEST | NLM_F_DUMP)?;
        self.collect(seq, true)?
            .map_err(std::io::Error::from_raw_os_error)
            .with_context(|| format!("list {what}"))
    }

    /// Every link of the namespace.
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let answers = self.dump(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            "links",
        )?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(link) => Some(link_of(&link)),
                _ => None,
            })
            .collect())
    }

    /// Every address of `family` (IPv4's `IFA_LOCAL`, IPv6's
    /// `IFA_ADDRESS`), as (interface index, address, prefix length).
    pub fn addresses(&mut self, family: Family) -> Result<Vec<(u32, IpAddr, u8)>> {
        let mut query = AddressMessage::default();
        query.header.family = address_family(family);
        let answers = self.dump(RouteNetlinkMessage::GetAddress(query), "addresses")?;
        let mut found = Vec::new();
        for m in answers {
            let RouteNetlinkMessage::NewAddress(a) = m else {
                continue;
            };
            // An IPv6 address has no IFA_LOCAL unless point-to-point; an
            // IPv4 one's IFA_ADDRESS is the peer's on such a link.
            let ip = a.attributes.iter().find_map(|attr| match attr {
                AddressAttribute::Local(ip @ IpAddr::V4(_)) => Some(*ip),
                AddressAttribute::Address(ip @ IpAddr::V6(_)) => Some(*ip),
                _ => None,
            });
            if let Some(ip) = ip {
                found.push((a.header.index, ip, a.header.prefix_len));
            }
        }
        Ok(found)
    }

    /// The neighbour entries of `family` (ARP's or the IPv6 neighbour
    /// cache), as (interface index, address).
    pub fn neighbours(&mut self, family: Family) -> Result<HashSet<(u32, IpAddr)>> {
        let mut query = NeighbourMessage::default();
        query.header.family = address_family(family);
        let answers = self.dump(RouteNetlinkMessage::GetNeighbour(query), "neighbours")?;
        let mut found = HashSet::new();
        for m in answers {
            let RouteNetlinkMessage::NewNeighbour(n) = m else {
                continue;
            };
            for attr in &n.attributes {
                match attr {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => {
                        found.insert((n.header.ifindex, IpAddr::V4(*ip)));
                    }
                    NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => {
                        found.insert((n.header.ifindex, IpAddr::V6(*ip)));
                    }
                    _ => {}
                }
            }
        }
        Ok(found)
    }

    /// Deletes the neighbour entry for `ip` on `ifindex` (RTM_DELNEIGH) and
    /// waits for the kernel's answer; one already gone is fine.
    pub fn delete_neighbour(&mut self, ifindex: u32, ip: IpAddr) -> Result<()> {
        let mut message = NeighbourMessage::default();
        message.header.ifindex = ifindex;
        let (family, address) = match ip {
            IpAddr::V4(v4) => (AddressFamily::Inet, NeighbourAddress::Inet(v4)),
            IpAddr::V6(v6) => (AddressFamily::Inet6, NeighbourAddress::Inet6(v6)),
        };
        message.header.family = family;
        message
            .attributes
            .push(NeighbourAttribute::Destination(address));
        let seq = self.send(
            RouteNetlinkMessage::DelNeighbour(message),
            NLM_F_REQUEST | NLM_F_ACK,
        )?;
        match self.collect(seq, false)? {
            Ok(_) | Err(libc::ENOENT) | Err(libc::ENODEV) => Ok(()),
            Err(errno) => Err(std::io::Error::from_raw_os_error(errno))
                .with_context(|| format!("delete the neighbour entry of {ip}")),
        }
    }

    /// The root qdisc kind of every interface that has one, as (interface
    /// index, kind).
    pub fn root_qdiscs(&mut self) -> Result<Vec<(u32, String)>> {
        let answers = self.dump(
            RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()),
            "qdiscs",
        )?;
        let mut found = Vec::new();
        for m in answers {
            let RouteNetlinkMessage::NewQueueDiscipline(q) = m else {
                continue;
            };
            if q.header.parent != TcHandle::ROOT {
                continue;
            }
            if let Some(kind) = q.attributes.iter().find_map(|a| match a {
                TcAttribute::Kind(k) => Some(k.clone()),
                _ => None,
            }) {
                found.push((q.header.index as u32, kind));
            }
        }
        Ok(found)
    }

    /// Which route a packet to `dst` would take (`ip route get DST`).
    pub fn route_to(&mut self, dst: IpAddr) -> Result<RouteLookup> {
        let mut query = RouteMessage::default();
        let (family, length, address) = match dst {
            IpAddr::V4(v4) => (AddressFamily::Inet, 32, RouteAddress::Inet(v4)),
            IpAddr::V6(v6) => (AddressFamily::Inet6, 128, RouteAddress::Inet6(v6)),
        };
        query.header.address_family = family;
        query.header.destination_prefix_length = length;
        query.attributes.push(RouteAttribute::Destination(address));
        let seq = self.send(RouteNetlinkMessage::GetRoute(query), NLM_F_REQUEST)?;
        let answer = match self.collect(seq, false)? {
            Ok(answer) => answer,
            Err(errno) => return Ok(RouteLookup::Unreachable(errno)),
        };
        let Some(RouteNetlinkMessage::NewRoute(route)) = answer.into_iter().next() else {
            bail!("rtnetlink gave no route for {dst}");
        };
        Ok(lookup_of(&route))
    }
}

fn address_family(family: Family) -> AddressFamily {
    match family {
        Family::Ipv4 => AddressFamily::Inet,
        Family::Ipv6 => AddressFamily::Inet6,
    }
}

/// RTN_LOCAL (linux/rtnetlink.h): the destination is this namespace's.
const RTN_LOCAL: u8 = 2;

fn lookup_of(route: &RouteMessage) -> RouteLookup {
    if u8::from(route.header.kind) == RTN_LOCAL {
        return RouteLookup::Local;
    }
    let mut oif = 0;
    let mut gateway = None;
    for attr in &route.attributes {
        match attr {
            RouteAttribute::Oif(i) => oif = *i,
            RouteAttribute::Gateway(RouteAddress::Inet(g)) => gateway = Some(IpAddr::V4(*g)),
            RouteAttribute::Gateway(RouteAddress::Inet6(g)) => gateway = Some(IpAddr::V6(*g)),
            _ => {}
        }
    }
    RouteLookup::Via { oif, gateway }
}

fn link_of(msg: &LinkMessage) -> Link {
    let mut link = Link {
        index: msg.header.index,
        name: String::new(),
        up: msg.header.flags.contains(LinkFlags::Up),
        lower_up: msg.header.flags.contains(LinkFlags::LowerUp),
        mtu: 0,
        mac: Vec::new(),
        master: None,
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name = n.clone(),
            LinkAttribute::Mtu(m) => link.mtu = *m,
            LinkAttribute::Address(a) => link.mac = a.clone(),
            LinkAttribute::Controller(m) => link.master = Some(*m),
            _ => {}
        }
    }
    link
}
