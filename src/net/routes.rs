//! The host's own IPv4 routes, read so a new network never shadows a subnet
//! the host already reaches some other way.

use super::describe;
use crate::ipam::Subnet;
use crate::model::Subnet6;
use anyhow::{Context, Result};
use futures::TryStreamExt;
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::{Handle, RouteMessageBuilder};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The main-table routes that cover a destination prefix (the default route
/// excepted: every subnet "overlaps" it).
pub struct HostRoute {
    /// Destination subnet.
    pub subnet: Subnet,
    /// Output interface index, if any.
    pub oif: Option<u32>,
}

const RT_TABLE_MAIN: u8 = 254;

/// Lists the host's main-table IPv4 routes with a non-zero prefix.
pub async fn host_routes(handle: &Handle) -> Result<Vec<HostRoute>> {
    let query = RouteMessageBuilder::<Ipv4Addr>::new().build();
    let mut stream = handle.route().get(query).execute();
    let mut routes = Vec::new();
    while let Some(msg) = stream
        .try_next()
        .await
        .map_err(describe)
        .context("list host routes")?
    {
        if msg.header.table != RT_TABLE_MAIN || msg.header.destination_prefix_length == 0 {
            continue;
        }
        let mut dst = None;
        let mut oif = None;
        for attr in &msg.attributes {
            match attr {
                RouteAttribute::Destination(RouteAddress::Inet(ip)) => dst = Some(*ip),
                RouteAttribute::Oif(i) => oif = Some(*i),
                _ => {}
            }
        }
        let prefix = msg.header.destination_prefix_length;
        if let Some(ip) = dst {
            routes.push(HostRoute {
                subnet: Subnet::containing(ip, prefix),
                oif,
            });
        }
    }
    Ok(routes)
}

/// A main-table IPv6 route of the host (see [`host_routes6`]).
pub struct HostRoute6 {
    /// Destination subnet.
    pub subnet: Subnet6,
    /// Output interface index, if any.
    pub oif: Option<u32>,
}

/// Lists the host's main-table IPv6 routes a new dual-stack network must
/// not overlap: not the default route, and not link-local (`fe80::/10`)
/// or multicast (`ff00::/8`) ones, which every IPv6 interface has and
/// which no `--subnet6` worth taking lies in (RFC 4291 §2.4).
pub async fn host_routes6(handle: &Handle) -> Result<Vec<HostRoute6>> {
    let query = RouteMessageBuilder::<Ipv6Addr>::new().build();
    let mut stream = handle.route().get(query).execute();
    let mut routes = Vec::new();
    while let Some(msg) = stream
        .try_next()
        .await
        .map_err(describe)
        .context("list host IPv6 routes")?
    {
        if msg.header.table != RT_TABLE_MAIN || msg.header.destination_prefix_length == 0 {
            continue;
        }
        let mut dst = None;
        let mut oif = None;
        for attr in &msg.attributes {
            match attr {
                RouteAttribute::Destination(RouteAddress::Inet6(ip)) => dst = Some(*ip),
                RouteAttribute::Oif(i) => oif = Some(*i),
                _ => {}
            }
        }
        let Some(ip) = dst else { continue };
        if !counts_as_host_route6(ip) {
            continue;
        }
        routes.push(HostRoute6 {
            subnet: Subnet6::containing(ip, msg.header.destination_prefix_length),
            oif,
        });
    }
    Ok(routes)
}

/// Whether a route to `dst` can be in the way of a network: link-local
/// and multicast ones never are.
pub fn counts_as_host_route6(dst: Ipv6Addr) -> bool {
    let first = dst.segments()[0];
    let link_local = first & 0xffc0 == 0xfe80;
    let multicast = first & 0xff00 == 0xff00;
    !link_local && !multicast
}

#[cfg(test)]
mod tests {
    #[test]
    fn link_local_and_multicast_routes_are_never_in_the_way() {
        let counts = |s: &str| super::counts_as_host_route6(s.parse().unwrap());
        assert!(!counts("fe80::"));
        assert!(!counts("febf::1"));
        assert!(!counts("ff00::"));
        assert!(!counts("ff02::1"));
        assert!(counts("fd00::"));
        assert!(counts("fec0::"));
        assert!(counts("2001:db8::"));
    }
}
