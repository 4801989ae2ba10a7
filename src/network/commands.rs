//! `sbx network create|ls|inspect`: the user-facing side of networks,
//! from requests a face has translated (see `cli`). `rm`, which has to
//! deal with the sandboxes on a network, is the sandbox layer's
//! (`sandbox::network_rm`).

use super::CreateRequest;
use crate::net::Netlink;
use crate::state::{NetworkRecord, StateRoot};
use crate::timefmt;
use anyhow::{Result, bail};
use serde_json::json;

/// Creates a network under the lock and prints its name.
pub fn create(root: &StateRoot, request: CreateRequest) -> Result<()> {
    if request.mtu.is_some_and(|m| !(68..=65535).contains(&m)) {
        bail!("--mtu must be between 68 and 65535");
    }
    let nl = Netlink::new()?;
    let _lock = root.lock()?;
    let record = super::create(root, &nl, request)?;
    println!("{}", record.name);
    Ok(())
}

/// Lists the networks as a table or a JSON array; damaged records are
/// shown, never a reason to fail.
pub fn ls(root: &StateRoot, as_json: bool) -> Result<()> {
    let (networks, damaged) = root.network_entries()?;
    if as_json {
        let mut items: Vec<_> = networks.iter().map(|n| to_json(n, None)).collect();
        // A record that cannot be read is shown, never a reason to fail.
        items.extend(
            damaged
                .iter()
                .map(|d| json!({"name": d.name, "damaged": true, "reason": d.reason})),
        );
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(());
    }
    let mut lines = vec![
        [
            "NAME", "DRIVER", "BRIDGE", "SUBNET", "GATEWAY", "SUBNET6", "GATEWAY6", "NAT",
            "OVERLAY",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for n in &networks {
        let nat = if n.internal { "no (internal)" } else { "yes" };
        lines.push(vec![
            n.name.clone(),
            driver(n).into(),
            n.bridge.clone(),
            n.subnet.to_string(),
            n.gateway.to_string(),
            n.subnet6.map_or_else(|| "-".into(), |s| s.to_string()),
            n.gateway6.map_or_else(|| "-".into(), |g| g.to_string()),
            nat.into(),
            overlay(n),
        ]);
    }
    for d in &damaged {
        let mut row = vec![d.name.clone()];
        row.extend(["?", "?", "?", "?", "?", "?"].map(String::from));
        row.push(format!(
            "? (damaged: {}; 'sbx network rm {}' removes it)",
            d.reason, d.name
        ));
        row.push(String::new());
        lines.push(row);
    }
    print!("{}", crate::table::format_columns(&lines));
    Ok(())
}

/// Prints one network and its sandboxes as JSON.
pub fn inspect(root: &StateRoot, name: &str) -> Result<()> {
    let Some(network) = root.network(name)? else {
        bail!("network {name} not found: see 'sbx network ls'");
    };
    let (records, _) = root.sandboxes()?;
    let sandboxes: Vec<_> = records
        .iter()
        .filter_map(|r| r.link_on(name).map(|link| (r, link)))
        .map(|(r, link)| json!({"name": r.spec.name, "ip": link.ip.to_string(), "ip6": link.ip6.map(|ip| ip.to_string()), "status": r.status().as_str()}))
        .collect();
    println!(
        "{}",
        serde_json::to_string_pretty(&to_json(&network, Some(sandboxes)))?
    );
    Ok(())
}

fn to_json(n: &NetworkRecord, sandboxes: Option<Vec<serde_json::Value>>) -> serde_json::Value {
    let mut value = json!({
        "name": n.name,
        "bridge": n.bridge,
        "subnet": n.subnet.to_string(),
        "gateway": n.gateway.to_string(),
        "internal": n.internal,
        "nat": !n.internal,
        "mtu": n.mtu,
        "created": timefmt::rfc3339(n.created),
        "bridge_created": n.bridge_created,
        "gateway_added": n.gateway_added,
        // SPEC "IPv6": null on an IPv4-only network.
        "subnet6": n.subnet6.map(|s| s.to_string()),
        "gateway6": n.gateway6.map(|g| g.to_string()),
        "gateway6_added": n.gateway6_added,
        "labels": n.labels,
    });
    value["driver"] = driver(n).into();
    if let Some(v) = &n.vxlan {
        value["vni"] = v.vni.into();
        value["port"] = v.port.into();
        value["local"] = v.local.to_string().into();
        value["underlay"] = v.underlay.clone().into();
        value["device"] = v.device.clone().into();
        value["ip_range"] = v.ip_range.to_string().into();
        value["peers"] = v.peers.iter().map(|p| p.to_string()).collect();
    }
    if let Some(list) = sandboxes {
        value["sandboxes"] = serde_json::Value::Array(list);
    }
    value
}

/// `bridge` or `vxlan`, as `--driver` takes them.
fn driver(n: &NetworkRecord) -> &'static str {
    if n.vxlan.is_some() { "vxlan" } else { "bridge" }
}

/// The overlay in one cell of `network ls`: VNI, range, local and peers.
fn overlay(n: &NetworkRecord) -> String {
    let Some(v) = &n.vxlan else {
        return String::new();
    };
    let peers: Vec<String> = v.peers.iter().map(|p| p.to_string()).collect();
    format!(
        "vni {} port {} range {} local {} peers {}",
        v.vni,
        v.port,
        v.ip_range,
        v.local,
        if peers.is_empty() {
            "-".into()
        } else {
            peers.join(",")
        }
    )
}
