//! A sandbox's /etc/resolv.conf, derived as Docker derives it (SPEC, "What
//! a sandbox sees"): the host's resolvers minus loopback ones (a resolver
//! on the host's loopback is unreachable from another network namespace);
//! if none remain, the upstream ones systemd-resolved keeps in
//! /run/systemd/resolve/resolv.conf; else public ones. IPv6 and scoped
//! (`fe80::1%eth0`) resolvers only for sandboxes with IPv6. Every other
//! line of the host's file (search, options, comments) is kept.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// Where the host's resolver configuration is read; tests point these at
/// files of their own.
#[derive(Clone, Debug)]
pub struct HostFiles {
    /// The host's resolv.conf.
    pub resolv_conf: PathBuf,
    /// systemd-resolved's list of the upstream servers it forwards to.
    pub resolved_upstream: PathBuf,
}

impl Default for HostFiles {
    fn default() -> Self {
        HostFiles {
            resolv_conf: "/etc/resolv.conf".into(),
            resolved_upstream: "/run/systemd/resolve/resolv.conf".into(),
        }
    }
}

/// Docker's fallback resolvers (nothing is sent to them by sbx: they are
/// only written into the file).
const PUBLIC_V4: [&str; 2] = ["8.8.8.8", "8.8.4.4"];
const PUBLIC_V6: [&str; 2] = ["2001:4860:4860::8888", "2001:4860:4860::8844"];

/// What a `nameserver` address is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    /// On the host's loopback (or the unspecified address, which means it).
    Loopback,
    /// A usable IPv4 address.
    V4,
    /// An IPv6 address (scoped or not).
    V6,
    /// Nothing a resolver would accept.
    Invalid,
}

/// Reads the files and derives the sandbox's resolv.conf; a missing host
/// file counts as empty.
pub fn from_host(files: &HostFiles, ipv6: bool) -> String {
    let host = std::fs::read_to_string(&files.resolv_conf).unwrap_or_default();
    derive(
        &host,
        || std::fs::read_to_string(&files.resolved_upstream).ok(),
        ipv6,
    )
}

/// The pure rule: `host` is the host's resolv.conf, `upstream` reads
/// systemd-resolved's file (only when it is needed).
pub fn derive(host: &str, upstream: impl FnOnce() -> Option<String>, ipv6: bool) -> String {
    let mut others = Vec::new();
    let mut servers = Vec::new();
    for line in host.lines() {
        match nameserver(line) {
            Some(addr) => {
                if usable(addr, ipv6) {
                    servers.push(format!("nameserver {addr}"));
                }
            }
            None => others.push(line.to_string()),
        }
    }
    if servers.is_empty() {
        servers = upstream()
            .unwrap_or_default()
            .lines()
            .filter_map(nameserver)
            .filter(|addr| usable(addr, ipv6))
            .map(|addr| format!("nameserver {addr}"))
            .collect();
    }
    if servers.is_empty() {
        servers = PUBLIC_V4
            .iter()
            .map(|a| format!("nameserver {a}"))
            .collect();
        if ipv6 {
            servers.extend(PUBLIC_V6.iter().map(|a| format!("nameserver {a}")));
        }
    }
    let mut text = String::new();
    for line in others.iter().chain(&servers) {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// The address of a `nameserver` line (however it is spaced), or `None`
/// for any other line.
fn nameserver(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace();
    (words.next() == Some("nameserver")).then(|| words.next().unwrap_or(""))
}

/// Whether a sandbox (with IPv6 or not) can use the resolver at `addr`.
fn usable(addr: &str, ipv6: bool) -> bool {
    match classify(addr) {
        Server::V4 => true,
        Server::V6 => ipv6,
        Server::Loopback | Server::Invalid => false,
    }
}

/// Sorts an address the way the C library reads it: IPv6 (with an
/// optional `%scope`), or IPv4 in any `inet_aton` form (`127.1`,
/// `0x7f.1`, `017700000001`).
fn classify(addr: &str) -> Server {
    let unscoped = addr.split_once('%').map_or(addr, |(a, _)| a);
    if let Ok(v6) = unscoped.parse::<Ipv6Addr>() {
        let v4 = v6.to_ipv4();
        return if v6.is_loopback()
            || v6.is_unspecified()
            || v4.is_some_and(|v4| v4.is_loopback() || v4.is_unspecified())
        {
            Server::Loopback
        } else {
            Server::V6
        };
    }
    if unscoped != addr {
        return Server::Invalid;
    }
    match inet_aton(addr) {
        Some(v4) if v4.is_loopback() || v4.is_unspecified() => Server::Loopback,
        Some(_) => Server::V4,
        None => Server::Invalid,
    }
}

/// `inet_aton(3)`: one to four parts, each decimal, octal (leading 0) or
/// hex (0x); the last part fills the remaining bytes.
fn inet_aton(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<u32> = text
        .split('.')
        .map(|p| {
            if let Some(hex) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
                u32::from_str_radix(hex, 16).ok()
            } else if p.len() > 1 && p.starts_with('0') {
                u32::from_str_radix(&p[1..], 8).ok()
            } else if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
                p.parse().ok()
            } else {
                None
            }
        })
        .collect::<Option<_>>()?;
    let (last, leading) = parts.split_last()?;
    if leading.len() > 3 || leading.iter().any(|&p| p > 255) {
        return None;
    }
    let rest_bits = 8 * (4 - leading.len() as u32);
    if rest_bits < 32 && *last >= 1 << rest_bits {
        return None;
    }
    let high = leading
        .iter()
        .enumerate()
        .fold(0u32, |acc, (i, &p)| acc | p << (24 - 8 * i as u32));
    Some(Ipv4Addr::from(high | last))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: &str = "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";

    fn no_upstream() -> Option<String> {
        None
    }

    #[test]
    fn every_loopback_form_is_dropped() {
        for addr in [
            "127.0.0.53",
            "127.0.0.1",
            "127.1",
            "127.0.1",
            "0x7f.1",
            "0177.0.0.1",
            "2130706433",
            "0.0.0.0",
            "::1",
            "0:0:0:0:0:0:0:1",
            "::ffff:127.0.0.1",
            "::ffff:7f00:1",
            "::",
            "::1%lo",
        ] {
            assert_eq!(classify(addr), Server::Loopback, "{addr}");
        }
        for spaced in [
            "nameserver\t127.0.0.53",
            "nameserver   127.0.0.53  ",
            "  nameserver 127.0.0.53",
            "nameserver 127.0.0.53 # stub",
        ] {
            assert_eq!(derive(spaced, no_upstream, false), PUBLIC, "{spaced:?}");
        }
    }

    #[test]
    fn other_forms_are_sorted() {
        assert_eq!(classify("10.1.1.1"), Server::V4);
        assert_eq!(classify("10.257"), Server::V4);
        assert_eq!(classify("2001:db8::1"), Server::V6);
        assert_eq!(classify("fe80::1%eth0"), Server::V6);
        assert_eq!(classify("::ffff:10.0.0.1"), Server::V6);
        assert_eq!(classify("10.1.1.256"), Server::Invalid);
        assert_eq!(classify("1.2.3.4.5"), Server::Invalid);
        assert_eq!(classify("10.1.1.1%eth0"), Server::Invalid);
        assert_eq!(classify("resolver.example"), Server::Invalid);
        assert_eq!(classify(""), Server::Invalid);
        assert_eq!(inet_aton("10.0x1.010.9"), Some(Ipv4Addr::new(10, 1, 8, 9)));
    }

    #[test]
    fn host_resolvers_minus_loopback_keeping_other_lines() {
        assert_eq!(
            derive("nameserver 10.1.1.1\nsearch x\n", no_upstream, false),
            "search x\nnameserver 10.1.1.1\n"
        );
        assert_eq!(
            derive(
                "# generated\nnameserver 127.0.0.1\nnameserver 10.1.1.1\noptions ndots:2\n",
                no_upstream,
                false
            ),
            "# generated\noptions ndots:2\nnameserver 10.1.1.1\n"
        );
    }

    #[test]
    fn ipv6_and_scoped_resolvers_only_with_ipv6() {
        let host = "nameserver 2001:db8::53\nnameserver fe80::1%eth0\nnameserver 10.1.1.1\n";
        assert_eq!(derive(host, no_upstream, false), "nameserver 10.1.1.1\n");
        assert_eq!(derive(host, no_upstream, true), host);
        // Only IPv6 ones, no IPv6: the public IPv4 ones.
        assert_eq!(
            derive("nameserver fe80::1%eth0\n", no_upstream, false),
            PUBLIC
        );
        assert_eq!(
            derive("", no_upstream, true),
            format!("{PUBLIC}nameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\n")
        );
    }

    #[test]
    fn systemd_resolved_upstreams_replace_its_stub() {
        let stub = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch corp\n";
        let upstream = || {
            Some(
                "# managed\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nnameserver 127.0.0.1\n"
                    .into(),
            )
        };
        assert_eq!(
            derive(stub, upstream, false),
            "options edns0 trust-ad\nsearch corp\nnameserver 10.0.0.2\n"
        );
        // The upstream file is not read when the host's own list is usable.
        let untouched = || -> Option<String> { panic!("read without need") };
        derive("nameserver 10.1.1.1\n", untouched, false);
        // An upstream file with nothing usable: public ones.
        assert_eq!(
            derive(stub, || Some("nameserver ::1\n".into()), false)
                .lines()
                .last(),
            Some("nameserver 8.8.4.4")
        );
    }

    #[test]
    fn the_files_are_read_from_where_they_are_pointed() {
        let dir = std::env::temp_dir().join(format!("sbx-unit-resolv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = HostFiles {
            resolv_conf: dir.join("resolv.conf"),
            resolved_upstream: dir.join("upstream.conf"),
        };
        std::fs::write(&files.resolv_conf, "nameserver 127.0.0.53\n").unwrap();
        assert_eq!(from_host(&files, false), PUBLIC, "no upstream file");
        std::fs::write(&files.resolved_upstream, "nameserver 192.0.2.53\n").unwrap();
        assert_eq!(from_host(&files, false), "nameserver 192.0.2.53\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
