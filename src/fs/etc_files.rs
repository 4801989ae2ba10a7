//! The sandbox's /etc/hostname, /etc/hosts and /etc/resolv.conf, written
//! into its state folder and bind-mounted over the real ones: hostname and
//! resolv.conf are its own, hosts its network's (see `hosts`).

use super::hosts::{LOCALHOST, NetworkHosts, own_names};
use anyhow::{Context, Result};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// The files a sandbox gets its own copy of.
pub const FILES: [&str; 3] = ["hostname", "hosts", "resolv.conf"];

/// A network the sandbox joins, for its hosts file.
pub struct Joined {
    /// The sandbox's address on it.
    pub ip: Ipv4Addr,
    /// Its IPv6 address on a dual-stack network.
    pub ip6: Option<Ipv6Addr>,
    /// The network's shared hosts file.
    pub hosts: NetworkHosts,
    /// The network's other sandboxes (name, address), should that file be
    /// new (see `hosts`).
    pub seed: Vec<(String, IpAddr)>,
}

impl Joined {
    /// Its addresses on the network, IPv4 first.
    pub fn ips(&self) -> Vec<IpAddr> {
        std::iter::once(IpAddr::V4(self.ip))
            .chain(self.ip6.map(IpAddr::V6))
            .collect()
    }
}

/// Writes the three files into `dir`. `name` is the sandbox's name, by
/// which its neighbours know it. It joins each network's hosts file; on one
/// network its `hosts` is a hard link to that file, on several it is the
/// union of theirs, rewritten with each (see `hosts`), on none its own.
pub fn write(dir: &Path, name: &str, hostname: &str, joined: Vec<Joined>) -> Result<()> {
    // IPv6 (and scoped) resolvers only where the sandbox has IPv6 (SPEC
    // "What a sandbox sees"): elsewhere they would be unreachable.
    let ipv6 = joined.iter().any(|j| j.ip6.is_some());
    let names = own_names(name, hostname);
    let own = [
        ("hostname", format!("{hostname}\n")),
        (
            "resolv.conf",
            super::resolv::from_host(&super::resolv::HostFiles::default(), ipv6),
        ),
    ];
    for (file, text) in own {
        let path = dir.join(file);
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    }
    let path = dir.join("hosts");
    if joined.is_empty() {
        let text = format!("{LOCALHOST}127.0.1.1\t{}\n", names.join(" "));
        return std::fs::write(&path, text).with_context(|| format!("write {}", path.display()));
    }
    if joined.len() == 1 {
        for one in joined {
            one.hosts.join(&one.ips(), &names, || one.seed)?;
            one.hosts.link_into(&path)?;
        }
        return Ok(());
    }
    // A file of its own (never a link), registered before the joins so
    // that each join already rewrites it.
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("remove {}", path.display()));
        }
        _ => {}
    }
    let all: Vec<&NetworkHosts> = joined.iter().map(|j| &j.hosts).collect();
    for j in &joined {
        j.hosts.register(name, &path, &all)?;
    }
    let files: Vec<std::path::PathBuf> = all.iter().map(|h| h.path().to_path_buf()).collect();
    for j in &joined {
        j.hosts.join(&j.ips(), &names, || j.seed.clone())?;
    }
    super::hosts::unite(&path, &files)
}
