//! Sandbox records as sbx wrote them before the record held its spec: one
//! flat object mixing what was asked for with what the launch made. Read
//! only, and turned into the current [`SandboxRecord`] at once, so a state
//! root written by an older sbx keeps its running sandboxes (`sbx ps`,
//! `exec`, `stop`, `rm`, `restart` all work on them); the next write of
//! such a record uses the current layout.

use super::liveness::ProcessId;
use super::records::{Link, SandboxRecord, SandboxState};
use crate::model::{FsPlan, Limits, NetworkRequest, SandboxSpec};
use serde::Deserialize;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

/// The flat layout, field for field (fields added over its life default).
#[derive(Deserialize)]
pub(super) struct FlatRecord {
    name: String,
    network: Option<String>,
    ip: Option<Ipv4Addr>,
    hostname: String,
    command: Vec<String>,
    created: u64,
    state: SandboxState,
    owner: Option<ProcessId>,
    init: Option<ProcessId>,
    netns: Option<PathBuf>,
    veth: Option<String>,
    exit_code: Option<i32>,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    workdir: String,
    #[serde(default)]
    detached: bool,
    #[serde(default)]
    auto_remove: bool,
    /// `CAP_*` names, as `caps` prints them.
    #[serde(default)]
    capabilities: Vec<String>,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    cgroups: Vec<PathBuf>,
    #[serde(default)]
    seccomp_unconfined: bool,
    #[serde(default)]
    fs: FsPlan,
}

impl FlatRecord {
    /// Whether this really was a flat record (a current record that failed
    /// to parse must keep its own error, not pass as an old one).
    pub(super) fn is_flat(&self) -> bool {
        !self.name.is_empty()
    }

    /// The same sandbox in the current layout. A capability name this sbx
    /// does not know is dropped: the sandbox never had more than it.
    pub(super) fn into_record(self) -> SandboxRecord {
        let caps = (self.capabilities.iter())
            .filter_map(|c| caps::Capability::from_str(c).ok())
            .collect();
        let workdir = if self.workdir.is_empty() {
            "/".to_string()
        } else {
            self.workdir
        };
        let links = match (&self.network, self.ip, self.veth) {
            (Some(network), Some(ip), Some(veth)) => vec![Link {
                network: network.clone(),
                ip,
                ip6: None,
                veth,
                ifname: "eth0".into(),
            }],
            _ => Vec::new(),
        };
        // The oldest layout did not say whether the address was asked
        // for; keeping it is what `sbx restart` did then.
        let networks = (self.network.into_iter())
            .map(|name| NetworkRequest {
                name,
                ip: self.ip,
                ip6: None,
            })
            .collect();
        SandboxRecord {
            spec: SandboxSpec {
                name: self.name,
                networks,
                hostname: self.hostname,
                command: self.command,
                env: self.env,
                workdir,
                detach: self.detached,
                auto_remove: self.auto_remove,
                // Older sbx had no anti-spoofing: its sandboxes' ports
                // have no element, and removing none is fine.
                allow_spoofing: false,
                ports: Vec::new(),
                fs: self.fs,
                caps,
                seccomp: !self.seccomp_unconfined,
                limits: self.limits,
                ..SandboxSpec::default()
            },
            links,
            created: self.created,
            state: self.state,
            owner: self.owner,
            init: self.init,
            netns: self.netns,
            exit_code: self.exit_code,
            cgroups: self.cgroups,
            nft_elements: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record exactly as the previous sbx wrote it (issue 8's layout).
    const FLAT: &str = r#"{"name":"web","network":"sbx0","ip":"10.11.0.7","hostname":"web",
        "command":["sleep","60"],"created":1700000000,"state":"running",
        "owner":{"pid":10,"start":5},"init":{"pid":11,"start":6},
        "netns":"/run/netns/sbx-web","veth":"vsbxab12","exit_code":null,
        "env":["PATH=/bin","HOSTNAME=web"],"workdir":"/tmp","detached":true,
        "auto_remove":false,"mac":"02:42:0a:0b:00:07",
        "capabilities":["CAP_CHOWN","CAP_NET_RAW"],
        "limits":{"memory":67108864,"pids":null,"cpus":null},
        "cgroups":["/sys/fs/cgroup/sbx/web-10"],"seccomp_unconfined":true,
        "fs":{"rootfs":null,"volumes":[],"read_only":true,"tmpfs":["/tmp"]}}"#;

    #[test]
    fn a_flat_record_reads_as_the_current_layout() {
        let record = SandboxRecord::from_json(FLAT.as_bytes()).expect("flat record parses");
        assert_eq!(record.spec.name, "web");
        let ip = Ipv4Addr::new(10, 11, 0, 7);
        assert_eq!(
            record.spec.networks,
            [NetworkRequest {
                name: "sbx0".into(),
                ip: Some(ip),
                ip6: None,
            }]
        );
        assert_eq!(
            record.links,
            [Link {
                network: "sbx0".into(),
                ip,
                ip6: None,
                veth: "vsbxab12".into(),
                ifname: "eth0".into()
            }]
        );
        assert_eq!(record.spec.workdir, "/tmp");
        assert!(record.spec.detach && !record.spec.auto_remove);
        assert_eq!(
            record.spec.caps,
            vec![caps::Capability::CAP_CHOWN, caps::Capability::CAP_NET_RAW]
        );
        assert!(!record.spec.seccomp);
        assert!(record.spec.fs.read_only);
        assert_eq!(record.spec.limits.memory, Some(67108864));
        assert_eq!(record.init.map(|p| p.pid), Some(11));
        assert_eq!(record.cgroups.len(), 1);
        assert_eq!(record.state, SandboxState::Running);
    }

    #[test]
    fn a_record_written_now_reads_back_equal() {
        let old = SandboxRecord::from_json(FLAT.as_bytes()).expect("flat record parses");
        let text = serde_json::to_string(&old).expect("serializes");
        assert!(text.contains(r#""spec":{"#), "{text}");
        let again = SandboxRecord::from_json(text.as_bytes()).expect("current record parses");
        assert_eq!(again.spec, old.spec);
        assert_eq!(again.links, old.links);
        assert_eq!(again.cgroups, old.cgroups);
    }

    #[test]
    fn a_damaged_current_record_keeps_its_own_error() {
        let err = SandboxRecord::from_json(br#"{"spec":{"name":"x"},"links":7}"#)
            .expect_err("bad links are refused");
        assert!(err.to_string().contains("invalid type"), "{err}");
        assert!(SandboxRecord::from_json(b"{}").is_err());
    }
}
