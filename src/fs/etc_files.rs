//! The sandbox's private /etc/hostname, /etc/hosts and /etc/resolv.conf,
//! written into its state folder and bind-mounted over the real ones.

use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;

/// The files a sandbox gets its own copy of.
pub const FILES: [&str; 3] = ["hostname", "hosts", "resolv.conf"];

/// Where the host's resolver configuration lives.
const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";

/// Writes the three files into `dir`.
pub fn write(
    dir: &Path,
    hostname: &str,
    own: Option<Ipv4Addr>,
    neighbours: &[(String, Ipv4Addr)],
) -> Result<()> {
    let host_resolv = std::fs::read_to_string(HOST_RESOLV_CONF).unwrap_or_default();
    let contents = [
        format!("{hostname}\n"),
        hosts(hostname, own, neighbours),
        resolv_conf(&host_resolv),
    ];
    for (file, text) in FILES.iter().zip(contents) {
        let path = dir.join(file);
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

/// localhost, the sandbox's own name, and its network's other sandboxes.
fn hosts(hostname: &str, own: Option<Ipv4Addr>, neighbours: &[(String, Ipv4Addr)]) -> String {
    let mut text =
        String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    match own {
        Some(ip) => writeln!(text, "{ip}\t{hostname}"),
        None => writeln!(text, "127.0.1.1\t{hostname}"),
    }
    .ok();
    for (name, ip) in neighbours {
        writeln!(text, "{ip}\t{name}").ok();
    }
    text
}

/// The host's resolv.conf without loopback nameservers (a resolver on the
/// host's 127.0.0.53 is unreachable from another netns); if none remain,
/// public resolvers as Docker does.
fn resolv_conf(host: &str) -> String {
    let is_loopback_ns = |line: &str| {
        let mut words = line.split_whitespace();
        words.next() == Some("nameserver")
            && words
                .next()
                .is_some_and(|ip| ip.starts_with("127.") || ip == "::1")
    };
    let kept: Vec<&str> = host.lines().filter(|l| !is_loopback_ns(l)).collect();
    let mut text = kept.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    if !kept
        .iter()
        .any(|l| l.trim_start().starts_with("nameserver"))
    {
        text.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lists_self_and_neighbours() {
        let text = hosts(
            "web",
            Some("10.0.0.2".parse().unwrap()),
            &[("db".into(), "10.0.0.3".parse().unwrap())],
        );
        assert!(text.contains("127.0.0.1\tlocalhost\n"));
        assert!(text.contains("10.0.0.2\tweb\n"));
        assert!(text.contains("10.0.0.3\tdb\n"));
    }

    #[test]
    fn resolv_conf_drops_loopback_resolvers() {
        assert_eq!(
            resolv_conf("nameserver 10.1.1.1\nsearch x\n"),
            "nameserver 10.1.1.1\nsearch x\n"
        );
        assert_eq!(
            resolv_conf("nameserver 127.0.0.53\noptions edns0\n"),
            "options edns0\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(resolv_conf(""), "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
}
