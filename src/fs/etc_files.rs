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
    let files = super::resolv::HostFiles::default();
    write_from(&files, dir, name, hostname, joined)
}

/// [`write`], with the host's resolver files read from `files`.
fn write_from(
    files: &super::resolv::HostFiles,
    dir: &Path,
    name: &str,
    hostname: &str,
    joined: Vec<Joined>,
) -> Result<()> {
    // IPv6 (and scoped) resolvers only where the sandbox has IPv6 (SPEC
    // "What a sandbox sees"): elsewhere they would be unreachable.
    let ipv6 = joined.iter().any(|j| j.ip6.is_some());
    let names = own_names(name, hostname);
    let own = [
        ("hostname", format!("{hostname}\n")),
        ("resolv.conf", super::resolv::from_host(files, ipv6)),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A dual-stack sandbox keeps the host's IPv6 resolvers and lists both
    /// its addresses; an IPv4-only one gets neither (SPEC "What a sandbox
    /// sees", "IPv6").
    #[test]
    fn ipv6_resolvers_and_lines_only_with_ipv6() {
        let dir = std::env::temp_dir().join(format!("sbx-unit-etc6-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let host = dir.join("host-resolv.conf");
        std::fs::write(&host, "nameserver 10.1.1.1\nnameserver fd42::53\n").unwrap();
        let files = super::super::resolv::HostFiles {
            resolv_conf: host,
            resolved_upstream: dir.join("none"),
        };
        let joined = |tag: &str, ip6: Option<&str>| Joined {
            ip: "10.1.0.2".parse().unwrap(),
            ip6: ip6.map(|i| i.parse().unwrap()),
            hosts: NetworkHosts::at(dir.join(format!("net-{tag}"))),
            seed: Vec::new(),
        };
        for (tag, ip6) in [("dual", Some("fd42:1::2")), ("v4", None)] {
            let out = dir.join(tag);
            std::fs::create_dir_all(&out).unwrap();
            write_from(&files, &out, "a", "a", vec![joined(tag, ip6)]).unwrap();
            let resolv = std::fs::read_to_string(out.join("resolv.conf")).unwrap();
            let hosts = std::fs::read_to_string(out.join("hosts")).unwrap();
            assert!(resolv.contains("nameserver 10.1.1.1"), "{resolv}");
            assert!(hosts.contains("10.1.0.2\ta\n"), "{hosts}");
            if ip6.is_some() {
                assert!(resolv.contains("nameserver fd42::53"), "{resolv}");
                assert!(hosts.contains("fd42:1::2\ta\n"), "{hosts}");
            } else {
                assert!(!resolv.contains("fd42"), "{resolv}");
                assert!(!hosts.contains("fd42:1"), "{hosts}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
