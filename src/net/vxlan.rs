//! A VXLAN network's kernel side (SPEC "Across hosts", DESIGN "VXLAN"): the
//! VXLAN device enslaved to the network's bridge, the all-zero FDB entries
//! that replicate broadcast and unknown traffic to every peer (head-end
//! replication, with learning for the rest), and the route lookup that finds
//! this host's underlay address and interface. Only rtnetlink; no `ip`.

use super::{describe, errno};
use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use rtnetlink::packet_route::link::LinkAttribute;
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, LinkVxlan};
use std::net::IpAddr;

/// The IANA port for VXLAN (RFC 7348 section 5); `--port` overrides it.
pub const DEFAULT_PORT: u16 = 4789;

/// Bytes VXLAN adds in front of an inner Ethernet frame over IPv4: outer
/// IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) (RFC 7348 fig. 1).
pub const OVERHEAD_V4: u32 = 50;
/// The same over IPv6: the outer header is 40 bytes instead of 20.
pub const OVERHEAD_V6: u32 = 70;

/// The MTU inside the overlay for an underlay interface of MTU `underlay`
/// reached over `family` (the SPEC's "minus 50 (70 over an IPv6 underlay)").
pub fn overlay_mtu(underlay: u32, over_v6: bool) -> u32 {
    underlay.saturating_sub(if over_v6 { OVERHEAD_V6 } else { OVERHEAD_V4 })
}

/// The VXLAN device name of a bridge: `vx-` plus the bridge's name, cut to
/// the kernel's 15 bytes (IFNAMSIZ less its NUL) with a hash keeping it
/// unique when the bridge name is long.
pub fn device_name(bridge: &str) -> String {
    let name = format!("vx-{bridge}");
    if name.len() <= 15 {
        return name;
    }
    let hash = crate::hash::fnv1a(bridge.as_bytes());
    format!("vx-{}{:06x}", &bridge[..6], hash & 0xff_ffff)
}

/// What a route lookup towards a peer says: the source address this host
/// uses (`--local`'s default) and the interface that carries the route.
#[derive(Debug, Clone, Copy)]
pub struct Underlay {
    /// This host's source address towards the peer.
    pub local: IpAddr,
    /// Index of the interface the route leaves through.
    pub index: u32,
}

/// Asks the kernel for its route to `peer` (RTM_GETROUTE with RTA_DST, as
/// `ip route get` does) and returns the preferred source and output
/// interface.
pub async fn route_to(handle: &Handle, peer: IpAddr) -> Result<Underlay> {
    let mut message = RouteMessage::default();
    message.header.address_family = family(peer);
    message.header.destination_prefix_length = if peer.is_ipv4() { 32 } else { 128 };
    message
        .attributes
        .push(RouteAttribute::Destination(RouteAddress::from(peer)));
    let what = || format!("look up the route to peer {peer}");
    let mut answers = handle.route().get(message).execute();
    let Some(answer) = answers
        .try_next()
        .await
        .map_err(describe)
        .with_context(what)?
    else {
        bail!("the kernel has no route to peer {peer}: add one, or pass --local");
    };
    let mut local = None;
    let mut index = None;
    for attr in &answer.attributes {
        match attr {
            RouteAttribute::PrefSource(RouteAddress::Inet(a)) => local = Some(IpAddr::V4(*a)),
            RouteAttribute::PrefSource(RouteAddress::Inet6(a)) => local = Some(IpAddr::V6(*a)),
            RouteAttribute::Oif(i) => index = Some(*i),
            _ => {}
        }
    }
    match (local, index) {
        (Some(local), Some(index)) => Ok(Underlay { local, index }),
        _ => bail!(
            "the route to peer {peer} has no source address or interface: pass --local, or check the underlay's addresses"
        ),
    }
}

/// The interface holding `local` (for `--local` given without a peer):
/// the underlay device the VXLAN sockets bind to.
pub async fn interface_of(handle: &Handle, local: IpAddr) -> Result<u32> {
    let mut addrs = handle.address().get().set_address_filter(local).execute();
    match addrs.try_next().await.map_err(describe)? {
        Some(msg) => Ok(msg.header.index),
        None => bail!(
            "no interface of this host has the address {local} (--local): pass one of its own addresses"
        ),
    }
}

/// What the VXLAN device is made of.
pub struct Device<'a> {
    /// Interface name (see [`device_name`]).
    pub name: &'a str,
    /// VXLAN network identifier, 24 bits.
    pub vni: u32,
    /// UDP destination port.
    pub port: u16,
    /// Source address of the outer packets.
    pub local: IpAddr,
    /// Underlay interface index.
    pub underlay: u32,
    /// The overlay MTU.
    pub mtu: u32,
    /// Bridge to enslave the device to.
    pub bridge: u32,
}

/// Creates the VXLAN device with learning on, enslaved to the bridge, up;
/// returns its index. `EEXIST` from a device of the same VNI and port (one
/// per host: the kernel keys its sockets on them) comes back as one line.
pub async fn create(handle: &Handle, dev: &Device<'_>) -> Result<u32> {
    let mut builder = LinkVxlan::new(dev.name, dev.vni)
        .port(dev.port)
        .dev(dev.underlay)
        .learning(true);
    builder = match dev.local {
        IpAddr::V4(a) => builder.local(a),
        IpAddr::V6(a) => builder.local6(a),
    };
    let message = builder.mtu(dev.mtu).controller(dev.bridge).up().build();
    match handle.link().add(message).execute().await {
        Ok(()) => {}
        Err(e) if errno(&e) == Some(libc::EEXIST) => bail!(
            "cannot create VXLAN device {}: this host already has a device named so or a VXLAN device with VNI {} on port {}: pick another --vni or --port, or remove the other network",
            dev.name,
            dev.vni,
            dev.port
        ),
        Err(e) => {
            return Err(describe(e)).with_context(|| format!("create VXLAN device {}", dev.name));
        }
    }
    match super::bridge::find(handle, dev.name).await? {
        Some(link) => Ok(link.index),
        None => bail!(
            "VXLAN device {} vanished right after it was created",
            dev.name
        ),
    }
}

/// The all-zero FDB entry `00:00:00:00:00:00 dst PEER` on the VXLAN device
/// (`bridge fdb append`): broadcast, multicast and unknown unicast are sent
/// to every such entry's address.
fn flood_entry(index: u32, peer: IpAddr) -> NeighbourMessage {
    let mut message = NeighbourMessage::default();
    message.header.family = AddressFamily::Bridge;
    message.header.ifindex = index;
    message.header.state = NeighbourState::Permanent;
    // NTF_SELF: the entry belongs to the VXLAN device's own table, not to
    // the bridge it is a port of (iproute2's default for `dev VXLAN`).
    message.header.flags = NeighbourFlags::Own;
    message.header.kind = RouteType::Unspec;
    message
        .attributes
        .push(NeighbourAttribute::LinkLayerAddress(vec![0; 6]));
    message
        .attributes
        .push(NeighbourAttribute::Destination(match peer {
            IpAddr::V4(a) => NeighbourAddress::Inet(a),
            IpAddr::V6(a) => NeighbourAddress::Inet6(a),
        }));
    message
}

/// Starts flooding to `peer`: appends its all-zero entry (NLM_F_APPEND,
/// which rtnetlink's request builder cannot set, so the message goes by
/// hand). An entry already there is fine (`peer add` twice is harmless).
pub async fn add_peer(handle: &Handle, index: u32, peer: IpAddr) -> Result<()> {
    let mut request =
        NetlinkMessage::from(RouteNetlinkMessage::NewNeighbour(flood_entry(index, peer)));
    request.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND;
    let what = || format!("add the flood entry for peer {peer}");
    let mut answers = handle
        .clone()
        .request(request)
        .map_err(describe)
        .with_context(what)?;
    while let Some(answer) = answers.next().await {
        if let NetlinkPayload::Error(e) = answer.payload
            && let Some(code) = e.code
            && -code.get() != libc::EEXIST
        {
            return Err(describe(rtnetlink::Error::NetlinkError(e))).with_context(what);
        }
    }
    Ok(())
}

/// Stops flooding to `peer`: deletes exactly its all-zero entry (the
/// other peers' entries stay); already gone is fine.
pub async fn remove_peer(handle: &Handle, index: u32, peer: IpAddr) -> Result<()> {
    match handle
        .neighbours()
        .del(flood_entry(index, peer))
        .execute()
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if matches!(errno(&e), Some(libc::ENOENT) | Some(libc::ENODEV)) => Ok(()),
        Err(e) => {
            Err(describe(e)).with_context(|| format!("remove the flood entry for peer {peer}"))
        }
    }
}

/// An interface's name and MTU by index (the underlay the route names).
pub async fn link_by_index(handle: &Handle, index: u32) -> Result<(String, u32)> {
    let mut links = handle.link().get().match_index(index).execute();
    let Some(msg) = links.try_next().await.map_err(describe)? else {
        bail!("interface {index} vanished while looking at it");
    };
    let mut name = format!("if{index}");
    let mut mtu = 1500;
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => name = n.clone(),
            LinkAttribute::Mtu(m) => mtu = *m,
            _ => {}
        }
    }
    Ok((name, mtu))
}

/// Deletes the VXLAN device; its FDB entries go with it.
pub async fn delete(handle: &Handle, name: &str, index: u32) -> Result<()> {
    match handle.link().del(index).execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
        Err(e) => Err(describe(e)).with_context(|| format!("delete VXLAN device {name}")),
    }
}

fn family(ip: IpAddr) -> AddressFamily {
    if ip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_mtu_leaves_room_for_the_outer_headers() {
        assert_eq!(overlay_mtu(1500, false), 1450);
        assert_eq!(overlay_mtu(1500, true), 1430);
        assert_eq!(overlay_mtu(9000, false), 8950);
        assert_eq!(overlay_mtu(40, false), 0);
    }

    #[test]
    fn device_names_fit_ifnamsiz_and_stay_distinct() {
        assert_eq!(device_name("ov0"), "vx-ov0");
        let a = device_name("overlay-network1");
        let b = device_name("overlay-network2");
        assert!(a.len() <= 15 && b.len() <= 15, "{a} {b}");
        assert_ne!(a, b);
    }
}
