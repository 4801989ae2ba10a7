//! Attaching a network namespace given by path to a bridge: the core the
//! CNI face (`sbx-cni`, SPEC "CNI plugin") translates its requests into.
//! The same steps as a sandbox's launch (bridge ensured with its gateway
//! and NAT, a veth whose peer is born inside the netns, address and
//! default route set from a netlink socket opened there, an anti-spoofing
//! element), for a netns that someone else made and owns.

use crate::firewall::{self, spoofing};
use crate::ipam::Subnet;
use crate::net::{Netlink, bridge, probe, sysctl, veth};
use crate::undo::Undo;
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::net::Ipv4Addr;

/// The bridge side of a network that is not an sbx network record (the
/// CNI plugin's configurations): made on first use, adopted after.
pub struct BridgeSpec<'a> {
    /// Bridge name (≤ 15 bytes, checked by the caller).
    pub bridge: &'a str,
    /// The subnet its ports get addresses from.
    pub subnet: Subnet,
    /// The bridge's own address, the ports' default route.
    pub gateway: Ipv4Addr,
    /// Masquerade what leaves the subnet (the `post-BRIDGE` chain sbx
    /// networks get in `ip sbx`).
    pub masquerade: bool,
    /// MTU of a bridge made here; `None`: the kernel's.
    pub mtu: Option<u32>,
}

/// Makes sure the bridge exists, is up, carries the gateway, and (with
/// masquerade) that its NAT chain and forwarding are in place; tolerates
/// a parallel caller doing the same. Returns what a port needs.
pub fn ensure_bridge(nl: &Netlink, spec: &BridgeSpec) -> Result<super::Attachment> {
    let mut undo = Undo::new();
    let link = match nl.block_on(bridge::find(nl.host(), spec.bridge))? {
        Some(link) if !link.is_bridge => bail!(
            "interface {} exists and is not a bridge: name another bridge",
            spec.bridge
        ),
        Some(link) => link,
        None => match nl.block_on(bridge::create(nl.host(), spec.bridge, spec.mtu)) {
            Ok(link) => {
                // Made here: taken away again if the rest fails.
                let index = link.index;
                undo.push("delete the bridge made", move || {
                    nl.block_on(bridge::delete(nl.host(), spec.bridge, index))
                });
                link
            }
            // Another ADD made it between our look and our create.
            Err(e) if is_errno(&e, libc::EEXIST) => {
                match nl.block_on(bridge::find(nl.host(), spec.bridge))? {
                    Some(link) if link.is_bridge => link,
                    _ => return Err(e),
                }
            }
            Err(e) => return Err(e),
        },
    };
    nl.block_on(bridge::set_up(nl.host(), link.index))?;
    nl.block_on(bridge::add_address(
        nl.host(),
        link.index,
        spec.gateway,
        spec.subnet.prefix(),
    ))?;
    if spec.masquerade {
        let rules = firewall::NetworkRules {
            bridge: spec.bridge,
            subnet: spec.subnet.network(),
            prefix: spec.subnet.prefix(),
            masquerade: true,
        };
        if !firewall::network_intact(&rules)? {
            firewall::ensure_network(&rules)?;
        }
        sysctl::ensure(sysctl::IP_FORWARD, "1")?;
    }
    undo.commit();
    Ok(super::Attachment {
        bridge_index: link.index,
        mtu: link.mtu,
    })
}

/// Whether the bridge exists as a bridge (`Some(true)`), as something
/// else (`Some(false)`), or not at all (`None`).
pub fn bridge_state(nl: &Netlink, name: &str) -> Result<Option<bool>> {
    Ok(nl
        .block_on(bridge::find(nl.host(), name))?
        .map(|l| l.is_bridge))
}

/// One port to plug: the veth `veth` on the bridge, its peer `ifname`
/// inside `netns` with `ip/prefix`, up, and the default route.
pub struct Plug<'a> {
    /// The netns, opened by path.
    pub netns: &'a File,
    /// The interface name inside.
    pub ifname: &'a str,
    /// The host end's name (unique per attachment).
    pub veth: &'a str,
    /// The address inside.
    pub ip: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// The default route's next hop, if one is wanted.
    pub gateway: Option<Ipv4Addr>,
    /// The MTU of both ends.
    pub mtu: u32,
    /// The bridge's index.
    pub bridge_index: u32,
    /// Add the anti-spoofing element (SPEC "Trust").
    pub anti_spoofing: bool,
}

/// What a plugged port looks like.
pub struct Plugged {
    /// The host end's MAC.
    pub host_mac: [u8; 6],
    /// The inside interface's MAC.
    pub mac: [u8; 6],
}

/// Plugs the port; on any failure, what was made is taken away again.
pub fn plug(nl: &Netlink, p: &Plug) -> Result<Plugged> {
    let inside = nl.handle_in(p.netns)?;
    if nl.block_on(probe::link(&inside, p.ifname))?.is_some() {
        bail!(
            "an interface {} already exists in the netns: DEL the old attachment first, or name another",
            p.ifname
        );
    }
    let port = spoofing::Port {
        ifname: p.veth,
        mac: veth::sandbox_mac(p.ip),
        ip: p.ip,
        trusted: !p.anti_spoofing,
    };
    let mut undo = Undo::new();
    spoofing::guard_new(&port)?;
    undo.push("remove the anti-spoofing element", || {
        spoofing::unguard(&port)
    });
    nl.block_on(veth::create(
        nl.host(),
        p.veth,
        p.netns,
        p.ifname,
        p.bridge_index,
        p.mtu,
        p.ip,
    ))?;
    undo.push("delete the veth", || {
        nl.block_on(veth::delete(nl.host(), p.veth))
    });
    nl.block_on(veth::configure_inside(
        &inside, p.ifname, p.ip, p.prefix, p.gateway, None,
    ))?;
    let host = nl
        .block_on(probe::link(nl.host(), p.veth))?
        .with_context(|| format!("veth {} vanished right after it was made", p.veth))?;
    undo.commit();
    Ok(Plugged {
        host_mac: host.mac,
        mac: port.mac,
    })
}

/// Unplugs a port: its anti-spoofing element and the veth (both ends go).
/// What is already gone is fine; both steps run and the failures come
/// back together. The element is removed on a thread of its own while the
/// veth is deleted: each waits in the kernel (closing an nf_tables socket
/// after a delete waits for its cleanup, ~15 ms; RTM_DELLINK waits for
/// the device's release, ~20-30 ms: DESIGN.md, "Measured"), and a port
/// whose veth is gone sends nothing, so the order does not matter.
pub fn unplug(nl: &Netlink, veth_name: &str, ip: Ipv4Addr, guarded: bool) -> Result<()> {
    let port = spoofing::Port {
        ifname: veth_name,
        mac: veth::sandbox_mac(ip),
        ip,
        trusted: !guarded,
    };
    let (firewall, link) = std::thread::scope(|s| {
        let firewall = s.spawn(|| spoofing::unguard(&port));
        let link = nl.block_on(veth::delete(nl.host(), veth_name));
        let firewall = firewall.join().unwrap_or_else(|_| {
            Err(anyhow::anyhow!(
                "removing the anti-spoofing element panicked"
            ))
        });
        (firewall, link)
    });
    let errors: Vec<String> = [firewall, link]
        .into_iter()
        .filter_map(|r| r.err().map(|e| format!("{e:#}")))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        bail!("{}", errors.join("; "))
    }
}

/// Checks inside `netns` that `ifname` exists and holds `ip/prefix`, and
/// (with a gateway) that the default route goes through it; the error
/// names what is missing.
pub fn verify(
    nl: &Netlink,
    netns: &File,
    ifname: &str,
    ip: Ipv4Addr,
    prefix: u8,
    gateway: Option<Ipv4Addr>,
) -> Result<()> {
    let inside = nl.handle_in(netns)?;
    let Some(link) = nl.block_on(probe::link(&inside, ifname))? else {
        bail!("interface {ifname} is missing in the netns");
    };
    let addrs = nl.block_on(probe::addresses(&inside, link.index))?;
    if !addrs.contains(&(ip, prefix)) {
        bail!("interface {ifname} does not hold {ip}/{prefix}");
    }
    if let Some(gw) = gateway
        && !nl.block_on(probe::has_default_route(&inside, link.index, gw))?
    {
        bail!("the default route via {gw} on {ifname} is missing");
    }
    Ok(())
}

/// A host veth name for one attachment (`key` is the attachment's, the
/// nonce makes names unique per ADD: the kernel removes a veth in the
/// background, so a name is never reused right away).
pub fn veth_name(key: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    veth::host_name(key, now ^ (u64::from(std::process::id()) << 32))
}

fn is_errno(e: &anyhow::Error, code: i32) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.raw_os_error() == Some(code))
    })
}
