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
    let network = match (&r.network, r.ip) {
        (Some(net_name), Some(ip)) => {
            let net = root.network(net_name)?;
            json!({
                "name": net_name,
                "ip": ip.to_string(),
                "prefix": net.as_ref().map(|n| n.subnet.prefix()),
                "gateway": net.as_ref().map(|n| n.gateway.to_string()),
                "bridge": net.as_ref().map(|n| n.bridge.clone()),
                "mac": r.mac,
                "veth_host": r.veth,
                "veth_sandbox": crate::net::veth::SANDBOX_IFNAME,
            })
        }
        _ => serde_json::Value::Null,
    };
    let log = supervisor::log_path(root, &r.name);
    let value = json!({
        "name": r.name,
        "status": status.as_str(),
        "exit_code": r.exit_code,
        "created": timefmt::rfc3339(r.created),
        "spec": {
            "command": r.command,
            "env": r.env,
            "workdir": r.workdir,
            "hostname": r.hostname,
            "detached": r.detached,
            "auto_remove": r.auto_remove,
            "rootfs": r.fs.rootfs,
            "volumes": r.fs.volumes,
            "read_only": r.fs.read_only,
            "tmpfs": r.fs.tmpfs,
            "image": r.fs.image,
            "overlay": r.fs.overlay,
            "capabilities": r.capabilities,
            "seccomp": if r.seccomp_unconfined { "unconfined" } else { "default" },
        },
        "network": network,
        "limits": r.limits,
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
