//! The lab file (SPEC "Labs"): TOML read with serde into typed structs,
//! every key known (an unknown one is an error naming the file, the line
//! and the key), then the checks that need the whole file (an `expect`
//! naming a sandbox of the lab, an impaired interface the sandbox has, an
//! address inside its network's subnet). Tables keep the file's order: a
//! sandbox's first network is its `eth0` and carries its default route.

use anyhow::{Context, Result, bail};
use indexmap::IndexMap;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A lab file as written, checked.
#[derive(Debug, Clone)]
pub struct Lab {
    /// `name`, or the file name without its extension.
    pub name: String,
    /// The file, as given (for messages).
    pub path: PathBuf,
    /// The folder relative paths in the file are relative to.
    pub dir: PathBuf,
    /// `[networks.NAME]`, in file order.
    pub networks: IndexMap<String, NetworkDef>,
    /// `[sandboxes.NAME]`, in file order.
    pub sandboxes: IndexMap<String, SandboxDef>,
    /// `[[expect]]` entries, for `sbx lab check`.
    pub expect: Vec<Expect>,
}

/// The whole file, as serde reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LabFile {
    name: Option<String>,
    #[serde(default)]
    networks: IndexMap<String, NetworkDef>,
    #[serde(default)]
    sandboxes: IndexMap<String, SandboxDef>,
    #[serde(default)]
    expect: Vec<Expect>,
}

/// `[networks.NAME]`: the keys of `sbx network create` (SPEC "Networks").
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkDef {
    /// IPv4 subnet, CIDR; absent: the first free 10.N.0.0/16.
    pub subnet: Option<String>,
    /// IPv6 subnet, CIDR: makes the network dual-stack (SPEC "IPv6").
    pub subnet6: Option<String>,
    /// Gateway address; absent: the subnet's first host.
    pub gateway: Option<String>,
    /// IPv6 gateway; absent: the IPv6 subnet's first host. Only with
    /// `subnet6`.
    pub gateway6: Option<String>,
    /// Bridge name; absent: the network's name.
    pub bridge: Option<String>,
    /// No NAT.
    #[serde(default)]
    pub internal: bool,
    /// MTU of the bridge and its veths.
    pub mtu: Option<u32>,
}

/// `[sandboxes.NAME]`: the keys of `sbx run` (SPEC "Sandboxes").
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxDef {
    /// The command and its arguments; absent: sleep until stopped.
    pub command: Option<Vec<String>>,
    /// Root filesystem folder, relative to the lab file.
    pub rootfs: Option<String>,
    /// An image of the image store.
    pub image: Option<String>,
    /// Environment: a table `{ KEY = "VALUE" }` or a list `["KEY=VALUE"]`.
    #[serde(default)]
    pub env: Env,
    /// Published ports, as `-p`.
    #[serde(default)]
    pub publish: Vec<String>,
    /// `--allow-spoofing`.
    #[serde(default)]
    pub allow_spoofing: bool,
    /// `--memory`, e.g. "512m".
    pub memory: Option<String>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// NET -> address ("" = any), in order: eth0, eth1, ... On a
    /// dual-stack network the address may be IPv4, IPv6 or both, comma
    /// separated (`"172.16.0.2,fd42::2"`): what is left out is picked.
    #[serde(default)]
    pub networks: IndexMap<String, String>,
    /// IFACE -> link impairments, as `sbx impair set`.
    #[serde(default)]
    pub impair: IndexMap<String, super::impair::Impair>,
}

/// A sandbox's environment in either of the two usual spellings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Env {
    /// `env = { KEY = "VALUE" }`.
    Table(IndexMap<String, String>),
    /// `env = ["KEY=VALUE", "KEY"]` (`KEY` alone: copied from sbx's).
    List(Vec<String>),
}

impl Default for Env {
    fn default() -> Self {
        Env::List(Vec::new())
    }
}

impl Env {
    /// As `-e` entries.
    pub fn entries(&self) -> Vec<String> {
        match self {
            Env::Table(t) => t.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            Env::List(l) => l.clone(),
        }
    }
}

/// `[[expect]]`: what `sbx lab check` asserts besides the full matrix.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// A sandbox of the lab, or `host`.
    pub from: String,
    /// A sandbox of the lab, `host` or `gateway:NET`.
    pub to: String,
    /// Whether an echo must get an answer (false: isolation); default true.
    #[serde(default = "yes")]
    pub reach: bool,
}

fn yes() -> bool {
    true
}

/// Reads and checks a lab file.
pub fn load(path: &Path) -> Result<Lab> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read lab file {}", path.display()))?;
    parse(path, &text)
}

/// Parses a lab file's text; `path` names it in messages and anchors its
/// relative paths.
pub fn parse(path: &Path, text: &str) -> Result<Lab> {
    let file: LabFile = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
    let name = match file.name {
        Some(name) => name,
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    crate::spec::check_name(&name)
        .with_context(|| format!("lab file {}: the lab's name", path.display()))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let lab = Lab {
        name,
        path: path.to_path_buf(),
        dir,
        networks: file.networks,
        sandboxes: file.sandboxes,
        expect: file.expect,
    };
    check(&lab).with_context(|| format!("lab file {}", path.display()))?;
    Ok(lab)
}

/// One line for a TOML or serde error: the file, the line (and its text)
/// where toml found it, and toml's own words (which name the key).
fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> anyhow::Error {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let start = span.start.min(text.len());
            let line_no = text[..start].matches('\n').count() + 1;
            let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
            anyhow::anyhow!(
                "lab file {}, line {line_no} ({line}): {message}",
                path.display()
            )
        }
        None => anyhow::anyhow!("lab file {}: {message}", path.display()),
    }
}

/// What needs the whole file: names, IPv6, addresses inside the lab's
/// subnets, impaired interfaces that exist, expectations naming sandboxes.
fn check(lab: &Lab) -> Result<()> {
    for (name, net) in &lab.networks {
        crate::spec::check_name(name).with_context(|| format!("network {name}"))?;
        if let Some(subnet6) = &net.subnet6 {
            subnet6
                .parse::<crate::model::Subnet6>()
                .with_context(|| format!("network {name}: subnet6 {subnet6:?}"))?;
        } else if net.gateway6.is_some() {
            bail!(
                "network {name}: gateway6 needs subnet6: add the IPv6 subnet, or remove gateway6"
            );
        }
        if let Some(g) = &net.gateway6
            && g.parse::<std::net::Ipv6Addr>().is_err()
        {
            bail!("network {name}: gateway6 {g:?} is not an IPv6 address");
        }
        if net.mtu.is_some_and(|m| !(68..=65535).contains(&m)) {
            bail!("network {name}: mtu must be between 68 and 65535");
        }
        if let Some(subnet) = &net.subnet {
            subnet
                .parse::<crate::model::Subnet>()
                .with_context(|| format!("network {name}: subnet {subnet:?}"))?;
        }
    }
    if lab.sandboxes.is_empty() {
        bail!("it has no [sandboxes.NAME] table: a lab needs at least one sandbox");
    }
    for (name, sandbox) in &lab.sandboxes {
        crate::spec::check_name(name).with_context(|| format!("sandbox {name}"))?;
        for (net, address) in &sandbox.networks {
            check_address(lab, name, net, address)?;
        }
        let interfaces = sandbox.networks.len().max(1);
        for (ifname, impair) in &sandbox.impair {
            let index = ifname
                .strip_prefix("eth")
                .and_then(|n| n.parse::<usize>().ok());
            if !index.is_some_and(|i| i < interfaces && ifname == &format!("eth{i}")) {
                bail!(
                    "sandbox {name}: impair.{ifname}: it has eth0..eth{} (one per network, in order): name one of them",
                    interfaces - 1
                );
            }
            impair
                .check(&format!("{name}:{ifname}"))
                .with_context(|| format!("sandbox {name}: impair.{ifname}"))?;
        }
    }
    for e in &lab.expect {
        for end in [&e.from, &e.to] {
            let gateway = end
                .strip_prefix("gateway:")
                .is_some_and(|n| lab.networks.contains_key(n));
            if !lab.sandboxes.contains_key(end) && end != "host" && !gateway {
                bail!(
                    "expect {} -> {}: {end} is not a sandbox of the lab (nor host or gateway:NET of one of its networks)",
                    e.from,
                    e.to
                );
            }
        }
    }
    Ok(())
}

/// A sandbox's address on a network, as the file writes it: "" (any), an
/// IPv4 address, an IPv6 one, or both comma separated, each at most once.
pub fn split_address(
    sandbox: &str,
    net: &str,
    address: &str,
) -> Result<(Option<std::net::Ipv4Addr>, Option<std::net::Ipv6Addr>)> {
    let (mut v4, mut v6) = (None, None);
    for part in address.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(ip)) if v4.is_none() => v4 = Some(ip),
            Ok(std::net::IpAddr::V6(ip)) if v6.is_none() => v6 = Some(ip),
            Ok(_) => bail!(
                "sandbox {sandbox}: address {address:?} on {net} gives two addresses of one kind: give one IPv4 and/or one IPv6 address"
            ),
            Err(_) => bail!(
                "sandbox {sandbox}: address {part:?} on {net} is not an IPv4 address (nor an IPv6 one): write it like 172.16.0.2 or 172.16.0.2,fd42::2"
            ),
        }
    }
    Ok((v4, v6))
}

/// A sandbox's address on a network of the lab: an IPv4 host address of
/// the subnet the file gives it (when it gives one), not its gateway; an
/// IPv6 one only on a network with `subnet6`, inside it, neither its
/// network address nor its gateway6.
fn check_address(lab: &Lab, sandbox: &str, net: &str, address: &str) -> Result<()> {
    let (v4, v6) = split_address(sandbox, net, address)?;
    let def = lab.networks.get(net);
    if let Some(ip6) = v6 {
        let subnet6 = def
            .and_then(|n| n.subnet6.as_deref())
            .and_then(|s| s.parse::<crate::model::Subnet6>().ok());
        // A network the file does not define may exist dual-stack: `sbx
        // run` checks it then.
        if let Some(subnet6) = subnet6 {
            let gateway6 = def
                .and_then(|n| n.gateway6.as_deref())
                .and_then(|g| g.parse().ok())
                .unwrap_or_else(|| subnet6.first_host());
            crate::ipam::v6::check_requested6(&subnet6, gateway6, net, ip6, &[])
                .with_context(|| format!("sandbox {sandbox}"))?;
        } else if def.is_some() {
            bail!(
                "sandbox {sandbox}: address {ip6} on {net} is IPv6, but network {net} has no subnet6: add one, or drop the IPv6 address"
            );
        }
    }
    let Some(ip) = v4 else {
        return Ok(());
    };
    let Some(subnet) = def
        .and_then(|n| n.subnet.as_deref())
        .and_then(|s| s.parse::<crate::model::Subnet>().ok())
    else {
        return Ok(());
    };
    if !subnet.contains(ip) || ip == subnet.network() || ip == subnet.broadcast() {
        bail!(
            "sandbox {sandbox}: address {ip} is not a host address of network {net} ({subnet}): pick one inside it"
        );
    }
    let gateway = def
        .and_then(|n| n.gateway.as_deref())
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| subnet.first_host());
    if ip == gateway {
        bail!("sandbox {sandbox}: address {ip} is network {net}'s gateway: pick another one");
    }
    Ok(())
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
