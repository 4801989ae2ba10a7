//! Reading back what a wiring made: a link's MAC and index, its IPv4
//! addresses, and the routes through it. For the CNI plugin's results
//! (the host veth's MAC) and its CHECK, which must verify the interface,
//! address and route exist inside the container's netns (CNI spec, CHECK).

use super::{describe, errno};
use anyhow::{Context, Result};
use futures::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::LinkAttribute;
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::{Handle, RouteMessageBuilder};
use std::net::{IpAddr, Ipv4Addr};

/// A link as seen from its netns.
pub struct LinkSeen {
    /// Interface index.
    pub index: u32,
    /// Its MAC address (zeros if it has none).
    pub mac: [u8; 6],
    /// Its MTU.
    pub mtu: u32,
}

/// Looks `name` up; `None` when there is no such link.
pub async fn link(handle: &Handle, name: &str) -> Result<Option<LinkSeen>> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    let msg = match links.try_next().await {
        Ok(Some(msg)) => msg,
        Ok(None) => return Ok(None),
        Err(e) if errno(&e) == Some(libc::ENODEV) => return Ok(None),
        Err(e) => return Err(describe(e)).with_context(|| format!("look up link {name}")),
    };
    let mut seen = LinkSeen {
        index: msg.header.index,
        mac: [0; 6],
        mtu: 0,
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::Address(bytes) if bytes.len() == 6 => {
                seen.mac.copy_from_slice(bytes);
            }
            LinkAttribute::Mtu(m) => seen.mtu = *m,
            _ => {}
        }
    }
    Ok(Some(seen))
}

/// The IPv4 addresses (with prefix lengths) on link `index`.
pub async fn addresses(handle: &Handle, index: u32) -> Result<Vec<(Ipv4Addr, u8)>> {
    let mut found = Vec::new();
    let mut stream = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute();
    while let Some(msg) = stream
        .try_next()
        .await
        .map_err(describe)
        .context("list addresses")?
    {
        for attr in &msg.attributes {
            if let AddressAttribute::Local(IpAddr::V4(ip)) = attr {
                found.push((*ip, msg.header.prefix_len));
            }
        }
    }
    Ok(found)
}

/// Whether the main table has a default route via `gateway` out of link
/// `index`.
pub async fn has_default_route(handle: &Handle, index: u32, gateway: Ipv4Addr) -> Result<bool> {
    let query = RouteMessageBuilder::<Ipv4Addr>::new().build();
    let mut stream = handle.route().get(query).execute();
    while let Some(msg) = stream
        .try_next()
        .await
        .map_err(describe)
        .context("list routes")?
    {
        if msg.header.destination_prefix_length != 0 {
            continue;
        }
        let mut via = None;
        let mut oif = None;
        for attr in &msg.attributes {
            match attr {
                RouteAttribute::Gateway(RouteAddress::Inet(ip)) => via = Some(*ip),
                RouteAttribute::Oif(i) => oif = Some(*i),
                _ => {}
            }
        }
        if via == Some(gateway) && oif == Some(index) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `aa:bb:cc:dd:ee:ff`, as CNI results write MACs.
pub fn mac_text(mac: &[u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}
