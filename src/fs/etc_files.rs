//! The sandbox's /etc/hostname, /etc/hosts and /etc/resolv.conf, written
//! into its state folder and bind-mounted over the real ones: hostname and
//! resolv.conf are its own, hosts its network's (see `hosts`).

use super::hosts::{LOCALHOST, NetworkHosts, own_names};
use anyhow::{Context, Result};
use std::net::Ipv4Addr;
use std::path::Path;

/// The files a sandbox gets its own copy of.
pub const FILES: [&str; 3] = ["hostname", "hosts", "resolv.conf"];

/// A network the sandbox joins, for its hosts file.
pub struct Joined {
    /// The sandbox's address on it.
    pub ip: Ipv4Addr,
    /// The network's shared hosts file.
    pub hosts: NetworkHosts,
    /// The network's other sandboxes (name, address), should that file be
    /// new (see `hosts`).
    pub seed: Vec<(String, Ipv4Addr)>,
}

/// Writes the three files into `dir`. `name` is the sandbox's name, by
/// which its neighbours know it. It joins each network's hosts file; on one
/// network its `hosts` is a hard link to that file, on several it is the
/// union of theirs, rewritten with each (see `hosts`), on none its own.
pub fn write(dir: &Path, name: &str, hostname: &str, joined: Vec<Joined>) -> Result<()> {
    // sbx gives sandboxes no IPv6 yet: IPv6 resolvers would be unreachable.
    let ipv6 = false;
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
            one.hosts.join(one.ip, &names, || one.seed)?;
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
        j.hosts.join(j.ip, &names, || j.seed.clone())?;
    }
    super::hosts::unite(&path, &files)
}
