//! What sbx writes down about sandboxes and networks, as JSON files.

use super::liveness::ProcessId;
use crate::model::{SandboxSpec, Subnet, Subnet6};
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// The launch step a record was last written at; the kernel decides whether
/// its processes still live (see [`SandboxRecord::status`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxState {
    /// Name and address reserved; namespaces and links may be half-built.
    Creating,
    /// The command was started.
    Running,
    /// The command ended and its exit code is recorded.
    Exited,
}

/// A sandbox's interface on one network, as its reservation made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The network.
    pub network: String,
    /// The address it got (its lease).
    pub ip: Ipv4Addr,
    /// The IPv6 address it got on a dual-stack network (its v6 lease);
    /// absent on v4-only networks and from older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Addr>,
    /// Host-side veth name, unique per launch so teardown never races a
    /// reuse.
    pub veth: String,
    /// The sandbox side's name: `eth0`, `eth1`, ...
    pub ifname: String,
}

impl Link {
    /// Its addresses on the network, IPv4 first, then IPv6 on a
    /// dual-stack one (for /etc/hosts lines and their removal).
    pub fn addrs(&self) -> Vec<std::net::IpAddr> {
        std::iter::once(std::net::IpAddr::V4(self.ip))
            .chain(self.ip6.map(std::net::IpAddr::V6))
            .collect()
    }
}

/// One sandbox as recorded in `sandboxes/NAME/sandbox.json`: the spec it
/// was launched from, and what the launch got and made (address, kernel
/// objects, processes, exit code). Records of the older flat layout are
/// read too (see [`SandboxRecord::from_json`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SandboxRecord {
    /// What was launched, as checked (`sbx restart` launches it again).
    pub spec: SandboxSpec,
    /// Its interfaces, one per network of the spec, in the same order.
    #[serde(default)]
    pub links: Vec<Link>,
    /// Unix seconds when the launch began.
    pub created: u64,
    /// Last step written.
    pub state: SandboxState,
    /// The sbx process that waits for the sandbox and cleans it up.
    pub owner: Option<ProcessId>,
    /// The sandbox's init (its PID 1), once started.
    pub init: Option<ProcessId>,
    /// The bind-mounted netns file, until it is released.
    pub netns: Option<PathBuf>,
    /// The command's exit status, once known.
    pub exit_code: Option<i32>,
    /// The cgroup folders made for it, until they are removed.
    #[serde(default)]
    pub cgroups: Vec<PathBuf>,
    /// Whether its set elements in sbx's nf_tables tables (its ports'
    /// anti-spoofing elements, its published ports) may still be there:
    /// cleared once a teardown removed them, so that `sbx rm` of a sandbox
    /// its supervisor already cleaned does not ask nf_tables again (a
    /// transaction costs milliseconds, under the root's lock). Records of
    /// older sbx lack it: they may hold elements.
    #[serde(default = "elements_may_be_held")]
    pub nft_elements: bool,
}

fn elements_may_be_held() -> bool {
    true
}

/// What `sbx ps` reports, derived from the record and the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Still being launched by a live sbx.
    Creating,
    /// Its init runs.
    Running,
    /// Ended, or its processes vanished without sbx noticing.
    Exited,
}

impl Status {
    /// The word shown to users and scripts.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Running => "running",
            Status::Exited => "exited",
        }
    }
}

impl SandboxRecord {
    /// Parses `sandbox.json`, of either layout: the current one (the spec
    /// nested under `spec`) or the flat one sbx wrote before it (see
    /// `legacy`), so an upgrade loses no running sandbox.
    pub fn from_json(bytes: &[u8]) -> serde_json::Result<Self> {
        match serde_json::from_slice::<SandboxRecord>(bytes) {
            Ok(record) => Ok(record),
            Err(e) => match serde_json::from_slice::<super::legacy::FlatRecord>(bytes) {
                Ok(flat) if flat.is_flat() => Ok(flat.into_record()),
                _ => Err(e),
            },
        }
    }

    /// Its interface on its first network, if any: what `ps` shows and
    /// where published ports lead.
    pub fn primary(&self) -> Option<&Link> {
        self.links.first()
    }

    /// Its interface on network `name`, if it joined it.
    pub fn link_on(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.network == name)
    }

    /// Whether the record stays after the sandbox ends (until `sbx rm`).
    pub fn kept_after_exit(&self) -> bool {
        self.spec.detach && !self.spec.auto_remove
    }

    /// Liveness from the kernel, never from the record alone: a record that
    /// says running but whose init (checked with its start time) is gone
    /// has exited — once the sbx that waits on it is gone too. While that
    /// sbx lives it is still recording the exit code and releasing the
    /// network, so the sandbox counts as running until then: `exited`
    /// always comes with its exit code, and nobody sweeps what its own sbx
    /// is cleaning up.
    pub fn status(&self) -> Status {
        if self.init.is_some_and(|p| p.is_alive()) {
            return Status::Running;
        }
        let owner_alive = self.owner.is_some_and(|p| p.is_alive());
        match self.state {
            SandboxState::Creating if owner_alive => Status::Creating,
            SandboxState::Running if owner_alive => Status::Running,
            _ => Status::Exited,
        }
    }
}

/// One network as recorded in `networks/NAME.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// Network name.
    pub name: String,
    /// Bridge interface.
    pub bridge: String,
    /// IPv4 subnet.
    pub subnet: Subnet,
    /// Gateway address, held by the bridge.
    pub gateway: Ipv4Addr,
    /// IPv6 subnet of a dual-stack network (`--subnet6`, SPEC "IPv6");
    /// absent for v4-only networks and from older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet6: Option<Subnet6>,
    /// Its IPv6 gateway, held by the bridge (with `subnet6` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<Ipv6Addr>,
    /// sbx added `gateway6` to the bridge (so `network rm` removes it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gateway6_added: bool,
    /// No NAT and no way out.
    pub internal: bool,
    /// MTU requested at creation, if any.
    pub mtu: Option<u32>,
    /// Unix seconds of creation.
    pub created: u64,
    /// sbx created the bridge (so `network rm` deletes it); false when adopted.
    pub bridge_created: bool,
    /// sbx added the gateway address (so `network rm` removes it).
    pub gateway_added: bool,
    /// Metadata: a network made by `sbx lab up` carries `lab=NAME`, so
    /// `lab down` removes it and no network that existed before (absent
    /// from records written before labels existed).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// A `--driver vxlan` network's overlay side (SPEC "Across hosts");
    /// absent for a bridge-only network and from older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vxlan: Option<VxlanRecord>,
}

/// What a VXLAN network holds besides its bridge: enough for `network rm`
/// to undo it and for `peer add|rm` to find the device.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VxlanRecord {
    /// VXLAN network identifier (24 bits), the same on every host.
    pub vni: u32,
    /// UDP destination port (4789 unless `--port`).
    pub port: u16,
    /// This host's underlay address, the outer packets' source.
    pub local: std::net::IpAddr,
    /// The underlay interface the device is bound to.
    pub underlay: String,
    /// The VXLAN device, a port of the bridge.
    pub device: String,
    /// The addresses this host's sandboxes take (inside the subnet).
    pub ip_range: Subnet,
    /// Hosts that broadcast and unknown traffic is replicated to.
    pub peers: Vec<std::net::IpAddr>,
}

impl NetworkRecord {
    /// The part of the subnet this host allocates from: `--ip-range` on a
    /// VXLAN network, the whole subnet otherwise.
    pub fn ip_range(&self) -> Option<Subnet> {
        self.vxlan.as_ref().map(|v| v.ip_range)
    }
}

/// Whether `name` can be a Linux interface name as sbx makes them: 1 to 15
/// bytes (the kernel's IFNAMSIZ less its NUL) of letters, digits, `_.-`.
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        state: SandboxState,
        init: Option<ProcessId>,
        owner: Option<ProcessId>,
    ) -> SandboxRecord {
        serde_json::from_value::<SandboxRecord>(serde_json::json!({
            "spec": {"name": "t", "hostname": "t", "command": ["true"]},
            "created": 0, "state": "creating", "owner": null, "init": null,
            "netns": null, "exit_code": null,
        }))
        .map(|mut r| {
            r.state = state;
            r.init = init;
            r.owner = owner;
            r
        })
        .expect("a minimal record parses")
    }

    #[test]
    fn exited_only_once_the_waiting_sbx_is_done() {
        let me = ProcessId::current().expect("own stat readable");
        let dead = ProcessId {
            pid: me.pid,
            start: me.start + 1,
        };
        let status = |state, init, owner| record(state, init, owner).status();
        use SandboxState::*;
        assert_eq!(status(Running, Some(me), None), Status::Running);
        // The command ended; its sbx is still recording the exit code.
        assert_eq!(status(Running, Some(dead), Some(me)), Status::Running);
        assert_eq!(status(Running, Some(dead), Some(dead)), Status::Exited);
        assert_eq!(status(Running, Some(dead), None), Status::Exited);
        assert_eq!(status(Creating, None, Some(me)), Status::Creating);
        assert_eq!(status(Creating, None, Some(dead)), Status::Exited);
        assert_eq!(status(Exited, Some(dead), Some(me)), Status::Exited);
    }
}
