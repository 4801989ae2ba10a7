//! The host's own IPv4 routes, read so a new network never shadows a subnet
//! the host already reaches some other way.

use super::describe;
use crate::ipam::Subnet;
use anyhow::{Context, Result};
use futures::TryStreamExt;
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::{Handle, RouteMessageBuilder};
use std::net::Ipv4Addr;

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
