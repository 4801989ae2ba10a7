//! The route that lets a published port answer on `::1` (see
//! `firewall::ports6`): `local ::1 dev BRIDGE table local metric 1024`.
//! The reply of a connection from `::1` to a sandbox arrives on the
//! bridge and is translated back to `::1`; the kernel's input route
//! lookup for a loopback destination only takes a route through the
//! interface the packet came in on (`rt6_need_strict`), and the host's
//! own `local ::1 dev lo` is not one. The higher metric keeps the host's
//! own lookups on `lo`; the route goes with the bridge.

use super::{describe, errno};
use anyhow::{Context, Result};
use rtnetlink::packet_route::route::RouteType;
use rtnetlink::{Handle, RouteMessageBuilder};
use std::net::Ipv6Addr;

/// The `local` routing table (RT_TABLE_LOCAL, linux/rtnetlink.h).
const RT_TABLE_LOCAL: u32 = 255;
/// Worse than the host's own `::1` route (metric 0).
const METRIC: u32 = 1024;

/// Adds the route to the bridge `index` (there already is fine).
pub async fn ensure(handle: &Handle, index: u32) -> Result<()> {
    let route = RouteMessageBuilder::<Ipv6Addr>::new()
        .destination_prefix(Ipv6Addr::LOCALHOST, 128)
        .output_interface(index)
        .table_id(RT_TABLE_LOCAL)
        .kind(RouteType::Local)
        .priority(METRIC)
        .build();
    match handle.route().add(route).execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
        Err(e) => Err(describe(e)).context("add route local ::1 to the bridge"),
    }
}
