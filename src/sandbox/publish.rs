//! A launch's published ports (SPEC "Ports"): checked against the host's
//! own listeners and the state root's registry, then handed to the
//! kernel's DNAT maps. The teardown (see `cleanup`) takes them back.

use super::kernel::Kernel;
use crate::model::ports::{HostIp, PortMapping};
use crate::state::records::Status;
use crate::state::{Entry, NetworkRecord, SandboxRecord, StateRoot};
use anyhow::{Context, Result, bail};

/// Publishes the record's ports to its address on `network`. Every refusal
/// is one line naming the port and what holds it; nothing is published
/// unless all are.
pub fn publish(
    k: &dyn Kernel,
    root: &StateRoot,
    record: &SandboxRecord,
    network: &NetworkRecord,
) -> Result<()> {
    let ports = &record.spec.ports;
    if ports.is_empty() {
        return Ok(());
    }
    if network.internal {
        bail!(
            "-p cannot publish on network {}: it is --internal, with no way in or out; use a network with NAT",
            network.name
        );
    }
    let link = record
        .primary()
        .context("a sandbox with published ports has no address")?;
    let (ip, ip6) = (link.ip, link.ip6);
    for port in ports {
        let host = HostIp(port.host_ip);
        if port.host_ip.is_ipv6() && ip6.is_none() {
            bail!(
                "-p {host}:{}: network {} has no IPv6 subnet, so the sandbox has no IPv6 address to publish on {host}: publish on an IPv4 address, or use a network made with --subnet6",
                port.host_port,
                network.name
            );
        }
        if !port.host_ip.is_unspecified() && !is_host_address(port.host_ip) {
            bail!(
                "-p {host}:{}: {} is not an address of this host: publish on one of its addresses, or on all (leave HOST_IP out)",
                port.host_port,
                port.host_ip
            );
        }
        if let Some(listener) = crate::net::listeners::in_the_way(port) {
            let who = match (listener.pid, listener.name) {
                (Some(pid), Some(name)) => format!("process {pid} ({name})"),
                (Some(pid), None) => format!("process {pid}"),
                _ => "a host process".to_string(),
            };
            bail!(
                "host port {} is in use: {who} listens on it; stop it or publish another host port",
                describe(port)
            );
        }
    }
    let name = &record.spec.name;
    let claim = root.ports().claim(
        name,
        ports,
        |holder| holds_ports(root, holder),
        |stale, holder| forget_stale(k, root, stale, holder),
    )?;
    if let Err(taken) = claim {
        bail!(
            "host port {} is already published by sandbox {} (on {}): remove it, or publish another host port",
            describe(&taken.wanted),
            taken.holder,
            taken.holder_ip
        );
    }
    // A connection from the host's 127.0.0.1 leaves through the bridge
    // with that source before it is masqueraded: the kernel allows it only
    // with route_localnet on the bridge (see `firewall::ports`).
    crate::net::sysctl::ensure(
        &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", network.bridge),
        "1",
    )?;
    if ip6.is_some() {
        warn_if_localhost6_cannot_answer(ports);
    }
    k.publish(ports, ip, ip6)
}

/// A port published on `[::1]` cannot answer while `br_netfilter` hands
/// bridged IPv6 to the ip6 hooks (see `firewall::ports6`: the kernel drops
/// the reply once translated back to `::1`); said once per launch that
/// asks for `[::1]` by name, so the user need not guess.
fn warn_if_localhost6_cannot_answer(ports: &[PortMapping]) {
    const KNOB: &str = "/proc/sys/net/bridge/bridge-nf-call-ip6tables";
    let Some(port) = ports
        .iter()
        .find(|p| p.host_ip == std::net::Ipv6Addr::LOCALHOST)
    else {
        return;
    };
    if std::fs::read_to_string(KNOB).is_ok_and(|v| v.trim() == "1") {
        crate::log::warn(&format!(
            "-p {}: [::1] cannot answer while net.bridge.bridge-nf-call-ip6tables is 1 (the kernel drops replies translated back to ::1); publish on another address, or set it to 0 if nothing needs it",
            describe(port)
        ));
    }
}

/// What a dead holder of a clashing port left: its elements of that port
/// (and only those that still lead to it; a record already gone left
/// none, its teardown removes them first).
fn forget_stale(k: &dyn Kernel, root: &StateRoot, stale: &PortMapping, holder: &str) -> Result<()> {
    let Entry::Found(record) = root.sandbox_entry(holder) else {
        return Ok(());
    };
    let Some(link) = record.primary() else {
        return Ok(());
    };
    let ports: Vec<PortMapping> = (record.spec.ports.iter())
        .filter(|p| p.clashes_with(stale))
        .copied()
        .collect();
    k.unpublish(&ports, link.ip, link.ip6)
}

/// Whether `ip` is an address of this host: binding a socket to it is
/// what the kernel allows only for its own addresses (and all of 127/8),
/// besides multicast and broadcast ones, which no connection goes to.
fn is_host_address(ip: std::net::IpAddr) -> bool {
    let broadcast = matches!(ip, std::net::IpAddr::V4(v4) if v4.is_broadcast());
    !ip.is_multicast() && !broadcast && std::net::UdpSocket::bind((ip, 0)).is_ok()
}

/// Whether `holder` may still hold its ports: it runs, is being launched,
/// or its record cannot be read (never taken for dead).
fn holds_ports(root: &StateRoot, holder: &str) -> bool {
    match root.sandbox_entry(holder) {
        Entry::Absent => false,
        Entry::Unreadable(_) => true,
        Entry::Found(record) => record.status() != Status::Exited,
    }
}

/// `0.0.0.0:8080/tcp` (`[::1]:8080/tcp`), for messages.
pub fn describe(port: &PortMapping) -> String {
    format!(
        "{}:{}/{}",
        HostIp(port.host_ip),
        port.host_port,
        port.proto.as_str()
    )
}
