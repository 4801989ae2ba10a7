//! The checked description of one sandbox: what `spec` makes of a face's
//! request, what the lifecycle launches, and what the record keeps, so that
//! `sbx restart`, `sbx exec` and `sbx inspect` read back exactly what was
//! launched instead of a field-by-field copy.

use super::{FsPlan, Limits};
use caps::Capability;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One network a sandbox joins: `--network NAME` (with `--ip` for the
/// first) or `--network name=NET,ip=ADDR`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRequest {
    /// The network's name.
    pub name: String,
    /// The address asked for; `None` lets IPAM choose (the address it got
    /// is the record's, see `state::Link`).
    pub ip: Option<Ipv4Addr>,
    /// The IPv6 address asked for (`--ip6`, `ip6=`), on a dual-stack
    /// network only (SPEC "IPv6"); `None` lets IPAM choose. Absent from
    /// records written before IPv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Addr>,
}

/// Everything needed to launch one sandbox, already checked (see
/// `spec::SandboxSpec::from_request`). Stored as the `spec` object of
/// `sandboxes/NAME/sandbox.json`; a field added later must read as its
/// default from records written before it (hence `serde(default)`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SandboxSpec {
    /// Unique name of the sandbox.
    pub name: String,
    /// The networks to join, in order (`eth0`, `eth1`, ...; the default
    /// route goes via the first); empty for loopback only.
    pub networks: Vec<NetworkRequest>,
    /// The UTS hostname.
    pub hostname: String,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// The full environment the command starts with, as `KEY=VALUE`.
    pub env: Vec<String>,
    /// Working directory inside the sandbox.
    pub workdir: String,
    /// Run in the background under a supervisor (`-d`).
    pub detach: bool,
    /// Remove the record when a detached sandbox ends (`--rm`).
    pub auto_remove: bool,
    /// Its frames are not checked against its own addresses
    /// (`--allow-spoofing`, SPEC "Trust").
    pub allow_spoofing: bool,
    /// Its published ports, one entry per port (`-p`, SPEC "Ports").
    pub ports: Vec<super::ports::PortMapping>,
    /// Root filesystem, volumes, read-only root, tmpfs mounts.
    pub fs: FsPlan,
    /// The capabilities the command keeps (`CAP_*` names on disk).
    #[serde(rename = "capabilities")]
    pub caps: Vec<Capability>,
    /// The default seccomp filter applies (not `seccomp=unconfined`).
    pub seccomp: bool,
    /// cgroup limits.
    pub limits: Limits,
    /// User metadata, `KEY=VALUE` (`--label`, Docker's flag): nothing in
    /// sbx acts on it but `sbx lab`, whose sandboxes carry `lab=NAME`
    /// (SPEC "Labs").
    pub labels: BTreeMap<String, String>,
    /// User, rlimits, capability sets, new privileges, OOM score (OCI's
    /// `process`; `sbx run`'s defaults when absent).
    pub process: super::process::ProcessSettings,
    /// Namespaces made, shared or joined by path (OCI's `linux.namespaces`).
    pub namespaces: super::process::Namespaces,
    /// Namespaced kernel parameters (OCI's `linux.sysctl`).
    pub sysctl: super::process::Sysctls,
    /// The OCI bundle it was created from (SPEC "OCI runtime"); `None` for
    /// `sbx run`'s sandboxes.
    pub bundle: Option<std::path::PathBuf>,
    /// The bundle's annotations, reported by `sbx-oci state`.
    pub annotations: std::collections::BTreeMap<String, String>,
    /// Programs run at points of the lifecycle (OCI `hooks`).
    pub hooks: super::process::Hooks,
    /// Where its cgroup lives in every hierarchy (OCI's
    /// `linux.cgroupsPath`, made absolute); `None`: sbx's own place,
    /// `sbx/NAME-PID` (see `cgroup::create`).
    pub cgroup_path: Option<std::path::PathBuf>,
    /// The init is cloned as a sibling of its supervisor (`CLONE_PARENT`),
    /// not its child, so that the caller's subreaper adopts and reaps it,
    /// as runc's init is: conmon and containerd's shim wait for the
    /// container's PID themselves (OCI `create`). Its supervisor watches it
    /// through a pidfd.
    pub init_adopted: bool,
}
