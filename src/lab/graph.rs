//! `sbx lab graph FILE` and `sbx network graph NET` (SPEC "Labs"): the
//! networks (bridge, subnet, gateway), the sandboxes and their interfaces
//! with addresses, as a terminal drawing, a graphviz `dot` graph or JSON.
//! Built from the records; a lab's sandbox or network not created yet is
//! drawn from the file (status `absent`, addresses as written or `auto`),
//! so a lab can be looked at before `up`.

use super::file::Lab;
use super::translate::is_ours;
use crate::state::{NetworkRecord, SandboxRecord, StateRoot};
use anyhow::{Result, bail};
use serde::Serialize;

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    /// A drawing for a terminal.
    Text,
    /// A graphviz graph (`dot -Tsvg`).
    Dot,
    /// `{networks: [...], sandboxes: [...]}`.
    Json,
}

/// What is drawn.
#[derive(Debug, Clone, Serialize)]
pub struct Graph {
    /// "lab NAME" or "network NAME", the drawing's title.
    #[serde(skip)]
    pub title: String,
    /// The networks.
    pub networks: Vec<Net>,
    /// The sandboxes.
    pub sandboxes: Vec<Node>,
}

/// One network.
#[derive(Debug, Clone, Serialize)]
pub struct Net {
    /// Network name.
    pub name: String,
    /// Its bridge interface.
    pub bridge: String,
    /// IPv4 subnet, CIDR (`auto` before a lab creates it without one).
    pub subnet: String,
    /// Gateway address, on the bridge.
    pub gateway: String,
    /// IPv6 subnet and gateway6 of a dual-stack network (SPEC "IPv6").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet6: Option<String>,
    /// The gateway6, with `subnet6`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<String>,
}

impl Net {
    /// `SUBNET, gateway GW` plus `, SUBNET6, gateway6 GW6` when dual-stack.
    fn addressing(&self, sep: &str) -> String {
        let mut text = format!("{}{sep}gateway {}", self.subnet, self.gateway);
        if let (Some(s6), Some(g6)) = (&self.subnet6, &self.gateway6) {
            text += &format!("{sep}{s6}{sep}gateway6 {g6}");
        }
        text
    }
}

/// One sandbox.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// Sandbox name.
    pub name: String,
    /// `running`, `exited`, `creating`, or `absent` (in the file only).
    pub status: String,
    /// Its interfaces, `eth0` first.
    pub interfaces: Vec<Iface>,
}

/// One interface of a sandbox.
#[derive(Debug, Clone, Serialize)]
pub struct Iface {
    /// Name inside the sandbox.
    pub ifname: String,
    /// The network it is on.
    pub network: String,
    /// Its address (`auto`: left to IPAM, not created yet).
    pub ip: String,
    /// Its IPv6 address on a dual-stack network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip6: Option<String>,
    /// Its impairments, e.g. "delay 20ms loss 30%" (what `sbx impair set`
    /// recorded, `sandbox::impair::describe`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impair: Option<String>,
}

impl Iface {
    /// `IP`, or `IP,IP6` on a dual-stack network (a lab file's form).
    fn addresses(&self) -> String {
        match &self.ip6 {
            Some(ip6) => format!("{},{ip6}", self.ip),
            None => self.ip.clone(),
        }
    }
}

fn net_of(r: &NetworkRecord) -> Net {
    Net {
        name: r.name.clone(),
        bridge: r.bridge.clone(),
        subnet: r.subnet.to_string(),
        gateway: r.gateway.to_string(),
        subnet6: r.subnet6.map(|s| s.to_string()),
        gateway6: r.gateway6.map(|g| g.to_string()),
    }
}

fn node_of(root: &StateRoot, r: &SandboxRecord, only: Option<&str>) -> Node {
    let impairments = crate::sandbox::impair::describe(root, &r.spec.name);
    Node {
        name: r.spec.name.clone(),
        status: r.status().as_str().to_string(),
        interfaces: (r.links.iter())
            .filter(|l| only.is_none_or(|n| n == l.network))
            .map(|l| Iface {
                ifname: l.ifname.clone(),
                network: l.network.clone(),
                ip: l.ip.to_string(),
                ip6: l.ip6.map(|ip| ip.to_string()),
                impair: (impairments.iter())
                    .find(|(ifname, _)| *ifname == l.ifname)
                    .map(|(_, what)| what.clone()),
            })
            .collect(),
    }
}

/// A lab's graph: its sandboxes (file order, then any other labelled with
/// it), its networks and every network they join.
pub fn of_lab(root: &StateRoot, lab: &Lab) -> Result<Graph> {
    let (records, _) = root.sandboxes()?;
    let mut sandboxes = Vec::new();
    for (name, def) in &lab.sandboxes {
        match records.iter().find(|r| &r.spec.name == name) {
            Some(r) if is_ours(&r.spec.labels, &lab.name) => sandboxes.push(node_of(root, r, None)),
            _ => sandboxes.push(Node {
                name: name.clone(),
                status: "absent".into(),
                interfaces: (def.networks.iter())
                    .filter(|(net, _)| *net != crate::spec::NO_NETWORK)
                    .enumerate()
                    .map(|(i, (net, address))| {
                        // The file was checked whole: a bad address is not here.
                        let (v4, v6) =
                            super::file::split_address(name, net, address).unwrap_or_default();
                        Iface {
                            ifname: format!("eth{i}"),
                            network: net.clone(),
                            ip: v4.map_or_else(|| "auto".into(), |ip| ip.to_string()),
                            ip6: v6.map(|ip| ip.to_string()),
                            impair: None,
                        }
                    })
                    .collect(),
            }),
        }
    }
    for r in &records {
        if is_ours(&r.spec.labels, &lab.name) && !lab.sandboxes.contains_key(&r.spec.name) {
            sandboxes.push(node_of(root, r, None));
        }
    }
    let mut names: Vec<String> = lab.networks.keys().cloned().collect();
    for iface in sandboxes.iter().flat_map(|s| &s.interfaces) {
        if !names.contains(&iface.network) {
            names.push(iface.network.clone());
        }
    }
    let mut networks = Vec::new();
    for name in names {
        if let Some(r) = root.network(&name)? {
            networks.push(net_of(&r));
            continue;
        }
        let def = lab.networks.get(&name).cloned().unwrap_or_default();
        let subnet = def
            .subnet
            .as_deref()
            .and_then(|s| s.parse::<crate::model::Subnet>().ok());
        let gateway = (def.gateway.clone())
            .or_else(|| subnet.map(|s| s.first_host().to_string()))
            .unwrap_or_else(|| "auto".into());
        let subnet6 = def
            .subnet6
            .as_deref()
            .and_then(|s| s.parse::<crate::model::Subnet6>().ok());
        let gateway6 =
            (def.gateway6.clone()).or_else(|| subnet6.map(|s| s.first_host().to_string()));
        networks.push(Net {
            bridge: def.bridge.clone().unwrap_or_else(|| name.clone()),
            subnet: subnet.map_or("auto".into(), |s| s.to_string()),
            gateway,
            subnet6: subnet6.map(|s| s.to_string()),
            gateway6,
            name,
        });
    }
    Ok(Graph {
        title: format!("lab {}", lab.name),
        networks,
        sandboxes,
    })
}

/// One network's graph: it and the sandboxes on it (their interfaces on it).
pub fn of_network(root: &StateRoot, name: &str) -> Result<Graph> {
    let Some(network) = root.network(name)? else {
        bail!("network {name} not found: see 'sbx network ls'");
    };
    let (records, _) = root.sandboxes()?;
    let mut sandboxes: Vec<Node> = (records.iter())
        .filter(|r| r.link_on(name).is_some())
        .map(|r| node_of(root, r, Some(name)))
        .collect();
    sandboxes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Graph {
        title: format!("network {name}"),
        networks: vec![net_of(&network)],
        sandboxes,
    })
}

/// The graph in `format`, ready to print.
pub fn render(graph: &Graph, format: Format) -> Result<String> {
    Ok(match format {
        Format::Text => text(graph),
        Format::Dot => dot(graph),
        Format::Json => serde_json::to_string_pretty(graph)? + "\n",
    })
}

/// Each network as a box (the bridge, its subnet and gateway) with its
/// sandboxes hanging off it by interface and address, in the style of the
/// README's diagram; a sandbox on several networks hangs off each.
fn text(graph: &Graph) -> String {
    let mut out = format!("{}\n", graph.title);
    for net in &graph.networks {
        let content = format!(
            " {}: bridge {}, {} ",
            net.name,
            net.bridge,
            net.addressing(", ")
        );
        let width = content.chars().count();
        let on: Vec<(&Node, &Iface)> = (graph.sandboxes.iter())
            .flat_map(|s| s.interfaces.iter().map(move |i| (s, i)))
            .filter(|(_, i)| i.network == net.name)
            .collect();
        out += &format!("┌{}┐\n│{content}│\n", "─".repeat(width));
        if on.is_empty() {
            out += &format!("└{}┘\n   (no sandboxes)\n", "─".repeat(width));
            continue;
        }
        out += &format!("└─┬{}┘\n", "─".repeat(width.saturating_sub(2)));
        for (n, (sandbox, iface)) in on.iter().enumerate() {
            let branch = if n + 1 == on.len() { "└" } else { "├" };
            let impair = iface
                .impair
                .as_ref()
                .map_or(String::new(), |i| format!("  [{i}]"));
            out += &format!(
                "  {branch}── {} {} ── {} ({}){impair}\n",
                iface.ifname,
                iface.addresses(),
                sandbox.name,
                sandbox.status
            );
        }
    }
    let alone: Vec<String> = (graph.sandboxes.iter())
        .filter(|s| s.interfaces.is_empty())
        .map(|s| format!("{} ({})", s.name, s.status))
        .collect();
    if !alone.is_empty() {
        out += &format!("no network (loopback only): {}\n", alone.join(", "));
    }
    out
}

/// A quoted graphviz ID or label: `"` escaped, a `\n` written by this
/// module kept as graphviz's line break (names cannot hold `\`: see
/// `spec::check_name`).
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\\\""))
}

/// An undirected graphviz graph: networks as boxes, sandboxes as ellipses,
/// one edge per interface labelled with its name and address.
fn dot(graph: &Graph) -> String {
    let mut out = format!(
        "graph {} {{\n  graph [rankdir=LR];\n  node [fontname=\"monospace\"];\n  edge [fontname=\"monospace\"];\n",
        quote(&graph.title)
    );
    for net in &graph.networks {
        let label = format!(
            "{}\\nbridge {}\\n{}",
            net.name,
            net.bridge,
            net.addressing("\\n")
        );
        out += &format!(
            "  {} [shape=box, label={}];\n",
            quote(&format!("network {}", net.name)),
            quote(&label)
        );
    }
    for s in &graph.sandboxes {
        out += &format!(
            "  {} [shape=ellipse, label={}];\n",
            quote(&format!("sandbox {}", s.name)),
            quote(&format!("{}\\n{}", s.name, s.status))
        );
        for i in &s.interfaces {
            let impair = i
                .impair
                .as_ref()
                .map_or(String::new(), |x| format!("\\n{x}"));
            out += &format!(
                "  {} -- {} [label={}];\n",
                quote(&format!("sandbox {}", s.name)),
                quote(&format!("network {}", i.network)),
                quote(&format!("{} {}{impair}", i.ifname, i.addresses()))
            );
        }
    }
    out += "}\n";
    out
}

#[cfg(test)]
#[path = "graph_tests.rs"]
mod tests;
