//! The sandbox's private /etc/hostname, /etc/hosts and /etc/resolv.conf,
//! written into its state folder and bind-mounted over the real ones.

use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;

/// The files a sandbox gets its own copy of.
pub const FILES: [&str; 3] = ["hostname", "hosts", "resolv.conf"];

/// Writes the three files into `dir`. `name` is the sandbox's name, by
/// which its neighbours know it; `neighbours` are the other sandboxes of
/// its network (name, address).
pub fn write(
    dir: &Path,
    name: &str,
    hostname: &str,
    own: Option<Ipv4Addr>,
    neighbours: &[(String, Ipv4Addr)],
) -> Result<()> {
    // sbx gives sandboxes no IPv6 yet: IPv6 resolvers would be unreachable.
    let ipv6 = false;
    let contents = [
        format!("{hostname}\n"),
        hosts(name, hostname, own, neighbours),
        super::resolv::from_host(&super::resolv::HostFiles::default(), ipv6),
    ];
    for (file, text) in FILES.iter().zip(contents) {
        let path = dir.join(file);
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

/// The names a sandbox answers to itself (SPEC, "What a sandbox sees"):
/// its hostname, the first label of an FQDN hostname, and its name (which
/// its neighbours use), without repeats.
fn own_names<'a>(name: &'a str, hostname: &'a str) -> Vec<&'a str> {
    let short = hostname.split('.').next().unwrap_or(hostname);
    let mut names: Vec<&str> = Vec::new();
    for n in [hostname, short, name] {
        if !n.is_empty() && !names.contains(&n) {
            names.push(n);
        }
    }
    names
}

/// localhost, the sandbox itself, and its network's other sandboxes.
fn hosts(
    name: &str,
    hostname: &str,
    own: Option<Ipv4Addr>,
    neighbours: &[(String, Ipv4Addr)],
) -> String {
    let mut text =
        String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    let names = own_names(name, hostname).join(" ");
    match own {
        Some(ip) => writeln!(text, "{ip}\t{names}"),
        None => writeln!(text, "127.0.1.1\t{names}"),
    }
    .ok();
    for (name, ip) in neighbours {
        writeln!(text, "{ip}\t{name}").ok();
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
            "web",
            Some("10.0.0.2".parse().unwrap()),
            &[("db".into(), "10.0.0.3".parse().unwrap())],
        );
        assert!(text.contains("127.0.0.1\tlocalhost\n"));
        assert!(text.contains("\n10.0.0.2\tweb\n"));
        assert!(text.contains("\n10.0.0.3\tdb\n"));
    }

    #[test]
    fn own_line_has_name_hostname_and_short_hostname() {
        let ip = Some("10.0.0.2".parse().unwrap());
        assert!(hosts("a", "h", ip, &[]).contains("\n10.0.0.2\th a\n"));
        assert!(hosts("a", "h.example.org", ip, &[]).contains("\n10.0.0.2\th.example.org h a\n"));
        assert!(hosts("web", "web.lan", ip, &[]).contains("\n10.0.0.2\tweb.lan web\n"));
        assert!(hosts("a", "a", None, &[]).contains("\n127.0.1.1\ta\n"));
    }
}
