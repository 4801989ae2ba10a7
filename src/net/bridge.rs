//! The bridge a network's sandboxes plug into: created or adopted, with the
//! gateway address on it.

use super::{describe, errno};
use anyhow::{Context, Result, bail};
use futures::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
use rtnetlink::packet_route::link::{
    BridgeStpState, InfoKind, LinkAttribute, LinkInfo, LinkMessage,
};
use rtnetlink::{Handle, LinkBridge, LinkUnspec};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What sbx needs to know about an existing link.
pub struct LinkFacts {
    /// Interface index.
    pub index: u32,
    /// Its MTU, which veths on a bridge should copy.
    pub mtu: u32,
    /// Whether it is a bridge at all (only bridges can be adopted).
    pub is_bridge: bool,
}

/// Looks a link up by name; `None` if there is no such link.
pub async fn find(handle: &Handle, name: &str) -> Result<Option<LinkFacts>> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(Some(facts(&msg))),
        Ok(None) => Ok(None),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(describe(e)).with_context(|| format!("look up link {name}")),
    }
}

fn facts(msg: &LinkMessage) -> LinkFacts {
    let mut mtu = 1500;
    let mut is_bridge = false;
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::Mtu(m) => mtu = *m,
            LinkAttribute::LinkInfo(infos) => {
                is_bridge |= infos
                    .iter()
                    .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Bridge)))
            }
            _ => {}
        }
    }
    LinkFacts {
        index: msg.header.index,
        mtu,
        is_bridge,
    }
}

/// A fixed, locally administered MAC derived from the bridge name: without
/// one the bridge takes its lowest port's MAC, which changes as sandboxes
/// come and go and leaves neighbours with stale ARP entries.
pub fn stable_mac(bridge: &str) -> [u8; 6] {
    let h = crate::hash::fnv1a(bridge.as_bytes()).to_be_bytes();
    [0x02, h[0], h[1], h[2], h[3], h[4]]
}

/// Creates the bridge, up, with its stable MAC and optional MTU; returns it.
/// STP is off and the forward delay 0, said explicitly rather than left to
/// the kernel's defaults: with STP a new port listens and learns for twice
/// the forward delay (15 s by default) before it forwards, and a sandbox
/// must be reachable as soon as `sbx run` returns (see `net::ready`).
pub async fn create(handle: &Handle, name: &str, mtu: Option<u32>) -> Result<LinkFacts> {
    let mut builder = LinkBridge::new(name)
        .address(stable_mac(name).to_vec())
        .forward_delay(0)
        .stp_state(BridgeStpState::Disabled)
        // Without IGMP/MLD snooping the bridge floods multicast like
        // broadcast (what it does for any group it has not learned). With
        // it, adding a port re-armed the multicast timers of every port:
        // with 1000 sandboxes, the largest part of adding the 1001st to
        // the bridge (BENCHMARKS.md, issue 9).
        .mcast_snooping(false)
        .up();
    if let Some(mtu) = mtu {
        builder = builder.mtu(mtu);
    }
    handle
        .link()
        .add(builder.build())
        .execute()
        .await
        .map_err(describe)
        .with_context(|| format!("create bridge {name}"))?;
    match find(handle, name).await? {
        Some(facts) => Ok(facts),
        None => bail!("bridge {name} vanished right after it was created"),
    }
}

/// Brings a link up (an adopted bridge may be down).
pub async fn set_up(handle: &Handle, index: u32) -> Result<()> {
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(describe)
        .with_context(|| format!("bring up link {index}"))
}

/// Deletes a link sbx created.
pub async fn delete(handle: &Handle, name: &str, index: u32) -> Result<()> {
    handle
        .link()
        .del(index)
        .execute()
        .await
        .map_err(describe)
        .with_context(|| format!("delete bridge {name}"))
}

/// Adds an address; returns false when the link already had it (adoption).
pub async fn add_address(handle: &Handle, index: u32, ip: Ipv4Addr, prefix: u8) -> Result<bool> {
    match handle
        .address()
        .add(index, IpAddr::V4(ip), prefix)
        .execute()
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(false),
        Err(e) => Err(describe(e)).with_context(|| format!("add address {ip}/{prefix}")),
    }
}

/// Adds an IPv6 address (a dual-stack network's gateway6) without
/// duplicate address detection (`IFA_F_NODAD`, include/uapi/linux/if_addr.h):
/// sbx's own IPAM already made it unique, and a tentative address would
/// not answer for the second or so DAD takes. Returns false when the link
/// already had it (adoption).
pub async fn add_address6(handle: &Handle, index: u32, ip: Ipv6Addr, prefix: u8) -> Result<bool> {
    let mut request = handle.address().add(index, IpAddr::V6(ip), prefix);
    nodad(request.message_mut());
    match request.execute().await {
        Ok(()) => Ok(true),
        Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(false),
        Err(e) => Err(describe(e)).with_context(|| format!("add address {ip}/{prefix}")),
    }
}

/// Marks an address request `IFA_F_NODAD`, in the header's 8-bit flags and
/// in `IFA_FLAGS` (the kernel reads the latter when present).
pub fn nodad(message: &mut rtnetlink::packet_route::address::AddressMessage) {
    message.header.flags |= AddressHeaderFlags::Nodad;
    message
        .attributes
        .push(AddressAttribute::Flags(AddressFlags::Nodad));
}

/// Turns IPv6 on for a link (`disable_ipv6` = 0, Documentation/networking/
/// ip-sysctl.rst): a dual-stack network's bridge holds its gateway6, which
/// a link with IPv6 disabled refuses. A kernel without IPv6 has no knob:
/// the address request then fails and says so.
pub fn enable_ipv6(ifname: &str) -> Result<()> {
    let knob = format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6");
    match std::fs::read_to_string(&knob) {
        Ok(v) if v.trim() == "0" => Ok(()),
        Ok(_) => std::fs::write(&knob, "0").with_context(|| format!("turn on IPv6 on {ifname}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("read {knob}")),
    }
}

/// Removes an address sbx added to an adopted bridge; already gone is fine.
pub async fn remove_address(
    handle: &Handle,
    index: u32,
    ip: impl Into<IpAddr>,
    prefix: u8,
) -> Result<()> {
    let ip = ip.into();
    let mut addrs = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .set_address_filter(ip)
        .set_prefix_length_filter(prefix)
        .execute();
    while let Some(msg) = addrs.try_next().await.map_err(describe)? {
        handle
            .address()
            .del(msg)
            .execute()
            .await
            .map_err(describe)
            .with_context(|| format!("remove address {ip}/{prefix}"))?;
    }
    Ok(())
}
