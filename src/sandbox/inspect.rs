//! `sbx inspect`: everything known about one sandbox, as JSON.

use super::{find, supervisor};
use crate::state::StateRoot;
use crate::timefmt;
use anyhow::Result;
use serde_json::json;

/// Prints the sandbox's spec, network wiring, processes and status.
pub fn inspect(root: &StateRoot, name: &str) -> Result<()> {
    let r = find(root, name)?;
    let status = r.status();
    let mut networks = Vec::new();
    for link in &r.links {
        let net = root.network(&link.network)?;
        networks.push(json!({
            "name": link.network,
            "ip": link.ip.to_string(),
            "prefix": net.as_ref().map(|n| n.subnet.prefix()),
            "gateway": net.as_ref().map(|n| n.gateway.to_string()),
            // SPEC "IPv6": null on an IPv4-only network.
            "ip6": link.ip6.map(|ip| ip.to_string()),
            "prefix6": net.as_ref().and_then(|n| n.subnet6).map(|s| s.prefix()),
            "gateway6": net.as_ref().and_then(|n| n.gateway6).map(|g| g.to_string()),
            "bridge": net.as_ref().map(|n| n.bridge.clone()),
            "mac": crate::net::veth::sandbox_mac_text(link.ip),
            "veth_host": link.veth,
            "veth_sandbox": link.ifname,
        }));
    }
    // `network` is the first (where the default route goes), as before
    // sandboxes joined several; `networks` lists them all.
    let network = networks.first().cloned().unwrap_or(serde_json::Value::Null);
    let log = supervisor::log_path(root, &r.spec.name);
    let value = json!({
        "name": r.spec.name,
        "status": status.as_str(),
        "exit_code": r.exit_code,
        "created": timefmt::rfc3339(r.created),
        "labels": r.spec.labels,
        "spec": {
            "command": r.spec.command,
            "env": r.spec.env,
            "workdir": r.spec.workdir,
            "hostname": r.spec.hostname,
            "detached": r.spec.detach,
            "auto_remove": r.spec.auto_remove,
            "allow_spoofing": r.spec.allow_spoofing,
            "rootfs": r.spec.fs.rootfs,
            "volumes": r.spec.fs.volumes,
            "read_only": r.spec.fs.read_only,
            "tmpfs": r.spec.fs.tmpfs,
            "image": r.spec.fs.image,
            "overlay": r.spec.fs.overlay,
            "capabilities": r.spec.caps,
            "seccomp": if r.spec.seccomp { "default" } else { "unconfined" },
        },
        "network": network,
        "networks": networks,
        "ports": r.spec.ports,
        "limits": r.spec.limits,
        "cgroups": r.cgroups,
        "netns": r.netns,
        "pid": r.init.map(|p| p.pid),
        "pids": {
            "init": r.init.map(|p| p.pid),
            "init_start_ticks": r.init.map(|p| p.start),
            "supervisor": r.owner.map(|p| p.pid),
        },
        "log": log.exists().then(|| log.display().to_string()),
    });
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}
