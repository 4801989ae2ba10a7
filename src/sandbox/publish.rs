//! A launch's published ports (SPEC "Ports"): checked against the host's
//! own listeners and the state root's registry, then handed to the
//! kernel's DNAT maps. The teardown (see `cleanup`) takes them back.

use super::kernel::Kernel;
use crate::model::ports::PortMapping;
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
    let ip = record
        .ip
        .context("a sandbox with published ports has no address")?;
    for port in ports {
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
        |stale| k.unpublish(std::slice::from_ref(stale)),
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
    k.publish(ports, ip)
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

/// `0.0.0.0:8080/tcp`, for messages.
pub fn describe(port: &PortMapping) -> String {
    format!(
        "{}:{}/{}",
        port.host_ip,
        port.host_port,
        port.proto.as_str()
    )
}
