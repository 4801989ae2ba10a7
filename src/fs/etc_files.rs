//! The sandbox's /etc/hostname, /etc/hosts and /etc/resolv.conf, written
//! into its state folder and bind-mounted over the real ones: hostname and
//! resolv.conf are its own, hosts its network's (see `hosts`).

use super::hosts::{LOCALHOST, NetworkHosts, own_names};
use anyhow::{Context, Result};
use std::net::Ipv4Addr;
use std::path::Path;

/// The files a sandbox gets its own copy of.
pub const FILES: [&str; 3] = ["hostname", "hosts", "resolv.conf"];

/// Writes the three files into `dir`. `name` is the sandbox's name, by
/// which its neighbours know it. On a network (`shared`: its address and
/// the network's hosts file), its `hosts` is a hard link to the network's
/// file, which it joins (see `hosts`; `seed` lists the network's other
/// sandboxes should that file be new); without one, it is its own.
pub fn write(
    dir: &Path,
    name: &str,
    hostname: &str,
    shared: Option<(Ipv4Addr, &NetworkHosts)>,
    seed: impl FnOnce() -> Vec<(String, Ipv4Addr)>,
) -> Result<()> {
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
    match shared {
        Some((ip, hosts)) => {
            hosts.join(ip, &names, seed)?;
            hosts.link_into(&path)
        }
        None => {
            let text = format!("{LOCALHOST}127.0.1.1\t{}\n", names.join(" "));
            std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))
        }
    }
}
