//! `--driver vxlan` networks (SPEC "Across hosts"): the same bridge, NAT and
//! IPAM as a single-host network, plus a VXLAN device on the bridge that
//! joins this host's sandboxes to the other hosts' on one L2 segment, and
//! `sbx network peer add|rm`. The design's traps (DESIGN "VXLAN") are
//! handled here: the overlay MTU goes on the bridge (so every veth and
//! eth0 copy it), each host keeps its own gateway, and learning stays on.

use crate::ipam::Subnet;
use crate::net::{Netlink, bridge, vxlan};
use crate::state::{NetworkRecord, StateRoot, VxlanRecord};
use anyhow::{Result, bail};
use std::net::{IpAddr, Ipv4Addr};

/// What `network create --driver vxlan` adds to a create request.
#[derive(Clone, Debug)]
pub struct VxlanRequest {
    /// VXLAN network identifier, the same on every host.
    pub vni: u32,
    /// UDP port (4789 by default).
    pub port: u16,
    /// This host's part of the subnet.
    pub ip_range: Subnet,
    /// The other hosts' underlay addresses.
    pub peers: Vec<IpAddr>,
    /// This host's underlay address; default: the source towards the first peer.
    pub local: Option<IpAddr>,
}

/// The largest VNI: 24 bits (RFC 7348 section 5; the kernel's VXLAN_N_VID).
pub const MAX_VNI: u32 = (1 << 24) - 1;

/// Checks what needs no kernel: VNI range, the range inside the subnet, a
/// gateway given explicitly (a shared default gateway would be an anycast
/// gateway, which DESIGN "VXLAN" found to break host→remote traffic),
/// no repeated peer, and a peer or `--local` to find the underlay by.
fn check(req: &VxlanRequest, subnet: &Subnet, gateway: Option<Ipv4Addr>) -> Result<()> {
    if req.vni > MAX_VNI {
        bail!("--vni {} is out of range: a VNI is 0 to {MAX_VNI}", req.vni);
    }
    if req.port == 0 {
        bail!("--port 0 is not a UDP port: leave it out for 4789");
    }
    let range = req.ip_range;
    if !subnet.contains(range.network()) || !subnet.contains(range.broadcast()) {
        bail!("--ip-range {range} is not inside --subnet {subnet}: pick a part of the subnet");
    }
    if gateway.is_none() {
        bail!(
            "a VXLAN network needs --gateway: give each host its own address of {subnet} (one shared by all hosts breaks host-to-remote traffic)"
        );
    }
    for (i, peer) in req.peers.iter().enumerate() {
        if req.peers[..i].contains(peer) {
            bail!("--peer {peer} is given twice: name each host once");
        }
        if Some(*peer) == req.local {
            bail!("--peer {peer} is this host's --local address: name the other hosts");
        }
    }
    if req.peers.is_empty() && req.local.is_none() {
        bail!(
            "a VXLAN network needs --peer ADDR (another host) or --local ADDR (this host's underlay address) to find its underlay interface"
        );
    }
    Ok(())
}

/// Everything `network create` checks and looks up for the overlay before
/// it makes anything: the request's own rules, no other network of this
/// state root on the same VNI and port, and the underlay.
pub fn prepare(
    nl: &Netlink,
    req: &VxlanRequest,
    subnet: &Subnet,
    gateway: Option<Ipv4Addr>,
    others: &[NetworkRecord],
    mtu: Option<u32>,
) -> Result<Resolved> {
    check(req, subnet, gateway)?;
    let same = |o: &&NetworkRecord| {
        o.vxlan
            .as_ref()
            .is_some_and(|x| x.vni == req.vni && x.port == req.port)
    };
    if let Some(other) = others.iter().find(same) {
        bail!(
            "VNI {} on port {} is already network {}'s on this host: pick another --vni or --port",
            req.vni,
            req.port,
            other.name
        );
    }
    resolve(nl, req, mtu)
}

/// The underlay as resolved on this host: address, interface and the
/// overlay MTU that fits in it.
pub struct Resolved {
    /// This host's underlay address.
    pub local: IpAddr,
    /// Underlay interface index.
    pub index: u32,
    /// Its name (kept in the record).
    pub name: String,
    /// The overlay MTU: `--mtu`, else the underlay's less the VXLAN overhead.
    pub mtu: u32,
}

/// Finds the underlay: the route to the first peer gives the interface
/// (and the default `--local`); without peers, the interface holding
/// `--local`. Then the overlay MTU from that interface's.
fn resolve(nl: &Netlink, req: &VxlanRequest, mtu: Option<u32>) -> Result<Resolved> {
    let (local, index) = match (req.peers.first(), req.local) {
        (Some(peer), local) => {
            let route = nl.block_on(vxlan::route_to(nl.host(), *peer))?;
            (local.unwrap_or(route.local), route.index)
        }
        (None, Some(local)) => (local, nl.block_on(vxlan::interface_of(nl.host(), local))?),
        (None, None) => bail!("a VXLAN network needs --peer or --local"),
    };
    if req.peers.iter().any(|p| p.is_ipv4() != local.is_ipv4()) {
        bail!("the peers and the local address {local} must all be IPv4 or all IPv6");
    }
    let (name, underlay_mtu) = nl.block_on(vxlan::link_by_index(nl.host(), index))?;
    let mtu = match mtu {
        Some(mtu) => mtu,
        None => {
            let mtu = vxlan::overlay_mtu(underlay_mtu, local.is_ipv6());
            if mtu < 68 {
                bail!(
                    "the underlay interface {name} has MTU {underlay_mtu}, too small for VXLAN: pass --mtu"
                );
            }
            mtu
        }
    };
    Ok(Resolved {
        local,
        index,
        name,
        mtu,
    })
}

/// Creates the VXLAN device on the bridge and one flood entry per peer;
/// returns the record part. On failure the caller's undo deletes what the
/// record says was made (the device takes its FDB entries with it).
pub fn setup(
    nl: &Netlink,
    bridge_index: u32,
    bridge_name: &str,
    req: &VxlanRequest,
    under: &Resolved,
    made: impl FnOnce(VxlanRecord),
) -> Result<()> {
    let device = vxlan::device_name(bridge_name);
    let index = nl.block_on(vxlan::create(
        nl.host(),
        &vxlan::Device {
            name: &device,
            vni: req.vni,
            port: req.port,
            local: under.local,
            underlay: under.index,
            mtu: under.mtu,
            bridge: bridge_index,
        },
    ))?;
    made(VxlanRecord {
        vni: req.vni,
        port: req.port,
        local: under.local,
        underlay: under.name.clone(),
        device,
        ip_range: req.ip_range,
        peers: req.peers.clone(),
    });
    for peer in &req.peers {
        nl.block_on(vxlan::add_peer(nl.host(), index, *peer))?;
    }
    Ok(())
}

/// Deletes the network's VXLAN device (its FDB entries go with it); a
/// device already gone is fine. Part of `network rm`'s teardown.
pub fn teardown(nl: &Netlink, v: &VxlanRecord) -> Result<()> {
    match nl.block_on(bridge::find(nl.host(), &v.device))? {
        Some(link) => nl.block_on(vxlan::delete(nl.host(), &v.device, link.index)),
        None => Ok(()),
    }
}

/// On every `sbx run`: puts back a VXLAN device someone removed, with its
/// flood entries, so the overlay heals like the bridge and the NAT rules.
pub fn ensure(nl: &Netlink, record: &NetworkRecord, bridge_index: u32, mtu: u32) -> Result<()> {
    let Some(v) = &record.vxlan else {
        return Ok(());
    };
    if nl.block_on(bridge::find(nl.host(), &v.device))?.is_some() {
        return Ok(());
    }
    let Some(underlay) = nl.block_on(bridge::find(nl.host(), &v.underlay))? else {
        bail!(
            "the underlay interface {} of network {} is gone: bring it back, or remove the network",
            v.underlay,
            record.name
        );
    };
    let made = nl.block_on(vxlan::create(
        nl.host(),
        &vxlan::Device {
            name: &v.device,
            vni: v.vni,
            port: v.port,
            local: v.local,
            underlay: underlay.index,
            mtu,
            bridge: bridge_index,
        },
    ));
    let index = match made {
        Ok(index) => index,
        // A launch beside this one put it back first: theirs is as good.
        Err(e) => match nl.block_on(bridge::find(nl.host(), &v.device))? {
            Some(link) => link.index,
            None => return Err(e),
        },
    };
    for peer in &v.peers {
        nl.block_on(vxlan::add_peer(nl.host(), index, *peer))?;
    }
    crate::log::warn(&format!(
        "the VXLAN device {} of network {} was missing: made it again",
        v.device, record.name
    ));
    Ok(())
}

/// `sbx network peer add|rm NAME ADDR`: one flood entry added or removed
/// and the record's peer list updated, under the lock.
pub fn peer(root: &StateRoot, name: &str, addr: &str, add: bool) -> Result<()> {
    let peer: IpAddr = match addr.parse() {
        Ok(ip) => ip,
        Err(_) => {
            bail!("peer {addr:?} is not an IP address: give the other host's underlay address")
        }
    };
    let nl = Netlink::new()?;
    let _lock = root.lock()?;
    let Some(mut record) = root.network(name)? else {
        bail!("network {name} not found: see 'sbx network ls'");
    };
    let Some(v) = record.vxlan.as_mut() else {
        bail!(
            "network {name} is not a VXLAN network: peers belong to networks made with --driver vxlan"
        );
    };
    if peer == v.local {
        bail!("{peer} is this host's own underlay address: name another host");
    }
    if peer.is_ipv4() != v.local.is_ipv4() {
        bail!(
            "peer {peer} is not of the underlay's address family (local {})",
            v.local
        );
    }
    let known = v.peers.contains(&peer);
    if !add && !known {
        bail!("{peer} is not a peer of network {name}: see 'sbx network inspect {name}'");
    }
    let Some(device) = nl.block_on(bridge::find(nl.host(), &v.device))? else {
        bail!(
            "the VXLAN device {} of network {name} is gone: 'sbx run' on the network makes it again",
            v.device
        );
    };
    if add {
        nl.block_on(vxlan::add_peer(nl.host(), device.index, peer))?;
        if !known {
            v.peers.push(peer);
        }
    } else {
        nl.block_on(vxlan::remove_peer(nl.host(), device.index, peer))?;
        v.peers.retain(|p| *p != peer);
    }
    root.write_network(&record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> VxlanRequest {
        VxlanRequest {
            vni: 42,
            port: 4789,
            ip_range: "10.9.1.0/24".parse().unwrap(),
            peers: vec!["192.0.2.2".parse().unwrap()],
            local: None,
        }
    }

    #[test]
    fn requests_are_checked_before_the_kernel_is_touched() {
        let subnet: Subnet = "10.9.0.0/16".parse().unwrap();
        let gw = Some("10.9.1.1".parse().unwrap());
        assert!(check(&req(), &subnet, gw).is_ok());
        let err = |r: VxlanRequest, gw| check(&r, &subnet, gw).unwrap_err().to_string();
        assert!(err(req(), None).contains("needs --gateway"));
        let e = err(
            VxlanRequest {
                vni: 1 << 24,
                ..req()
            },
            gw,
        );
        assert!(e.contains("out of range"), "{e}");
        let e = err(
            VxlanRequest {
                ip_range: "10.8.0.0/24".parse().unwrap(),
                ..req()
            },
            gw,
        );
        assert!(e.contains("not inside --subnet"), "{e}");
        let e = err(
            VxlanRequest {
                peers: vec![],
                ..req()
            },
            gw,
        );
        assert!(
            e.contains("--peer ADDR") && e.contains("--local ADDR"),
            "{e}"
        );
        let mut twice = req();
        twice.peers.push(twice.peers[0]);
        assert!(err(twice, gw).contains("given twice"));
        let mut own = req();
        own.local = Some(own.peers[0]);
        assert!(err(own, gw).contains("this host's --local"));
    }
}
