//! `-p/--publish [HOST_IP:]HOST_PORT[-END]:PORT[-END][/tcp|/udp]` (SPEC
//! "Ports"), checked and expanded to one mapping per port.

use crate::model::ports::{PortMapping, Proto};
use anyhow::{Result, bail};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The most ports one sandbox may publish: each is an element of a DNAT
/// map and an entry of its record, and a launch publishes them in one
/// transaction.
pub const MAX_PORTS: usize = 1024;

/// Parses every `-p` value; a host port asked for twice is refused, and so
/// are more than [`MAX_PORTS`] ports.
pub fn parse_all(values: &[String]) -> Result<Vec<PortMapping>> {
    let mut all: Vec<PortMapping> = Vec::new();
    for value in values {
        let mappings = parse(value)?;
        if all.len() + mappings.len() > MAX_PORTS {
            bail!(
                "-p {value}: a sandbox publishes at most {MAX_PORTS} ports: publish fewer, or split them over several sandboxes"
            );
        }
        for mapping in mappings {
            if let Some(twice) = all.iter().find(|m| m.clashes_with(&mapping)) {
                bail!(
                    "-p {value}: host port {}/{} is already published by another -p of this sandbox ({}:{}): publish each host port once",
                    mapping.host_port,
                    mapping.proto.as_str(),
                    crate::model::ports::HostIp(twice.host_ip),
                    twice.host_port
                );
            }
            all.push(mapping);
        }
    }
    Ok(all)
}

/// One `-p` value, expanded.
pub fn parse(value: &str) -> Result<Vec<PortMapping>> {
    let form = "write it as [HOST_IP:]HOST_PORT[-END]:PORT[-END][/tcp|/udp], e.g. 8080:80 or [::1]:8080:80";
    let (rest, proto) = match value.rsplit_once('/') {
        None => (value, Proto::Tcp),
        Some((rest, "tcp")) => (rest, Proto::Tcp),
        Some((rest, "udp")) => (rest, Proto::Udp),
        Some((_, other)) => {
            bail!("-p {value}: unknown protocol {other:?}: use tcp or udp")
        }
    };
    // An IPv6 HOST_IP is bracketed (`[::1]:8080:80`), as Docker takes it.
    let (bracketed, rest) = match rest.strip_prefix('[') {
        Some(inner) => match inner.split_once("]:") {
            Some((ip, rest)) => {
                let ip: Ipv6Addr = ip.parse().map_err(|_| {
                    anyhow::anyhow!("-p {value}: [{ip}] is not an IPv6 address of the host: {form}")
                })?;
                (Some(IpAddr::V6(ip)), rest)
            }
            None => {
                bail!("-p {value}: an IPv6 HOST_IP is written [ADDRESS]:HOST_PORT:PORT: {form}")
            }
        },
        None => (None, rest),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (host_ip, host, inside) = match (bracketed, parts.as_slice()) {
        (Some(ip), [host, inside]) => (ip, *host, *inside),
        (None, [host, inside]) => (IpAddr::V4(Ipv4Addr::UNSPECIFIED), *host, *inside),
        (None, [ip, host, inside]) => {
            let ip: Ipv4Addr = ip.parse().map_err(|_| {
                anyhow::anyhow!(
                    "-p {value}: {ip:?} is not an IPv4 address of the host (an IPv6 one goes in brackets, [::1]): {form}"
                )
            })?;
            (IpAddr::V4(ip), *host, *inside)
        }
        _ => bail!("-p {value}: {form}"),
    };
    let (host_first, host_last) = range(value, host, form)?;
    let (first, last) = range(value, inside, form)?;
    if host_last - host_first != last - first {
        bail!(
            "-p {value}: the host range {host} and the sandbox range {inside} differ in length: give ranges of equal length"
        );
    }
    Ok((0..=(last - first))
        .map(|i| PortMapping {
            host_ip,
            host_port: host_first + i,
            port: first + i,
            proto,
        })
        .collect())
}

/// `N` or `N-M` (N ≤ M), each 1 to 65535.
fn range(value: &str, text: &str, form: &str) -> Result<(u16, u16)> {
    let port = |p: &str| -> Result<u16> {
        let digits = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        match p.parse::<u16>() {
            Ok(n) if n > 0 && digits => Ok(n),
            _ => bail!("-p {value}: {p:?} is not a port (1 to 65535): {form}"),
        }
    };
    match text.split_once('-') {
        None => {
            let p = port(text)?;
            Ok((p, p))
        }
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if a > b {
                bail!("-p {value}: range {text} runs backwards: write the lower port first");
            }
            Ok((a, b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_of_the_spec() {
        let one = parse("8080:80").unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(
            (one[0].host_ip, one[0].host_port, one[0].port, one[0].proto),
            (IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8080, 80, Proto::Tcp)
        );
        let udp = parse("127.0.0.1:5353:53/udp").unwrap();
        assert_eq!(udp[0].host_ip, Ipv4Addr::LOCALHOST);
        let v6 = parse("[::1]:8080-8081:80-81").unwrap();
        assert_eq!(v6[1].host_ip, Ipv6Addr::LOCALHOST);
        assert_eq!((v6[1].host_port, v6[1].port), (8081, 81));
        let all6 = parse("[::]:53:53/udp").unwrap();
        assert_eq!(all6[0].host_ip, Ipv6Addr::UNSPECIFIED);
        let doc = parse("[2001:db8::1]:8080:80").unwrap();
        assert_eq!(doc[0].host_ip, "2001:db8::1".parse::<IpAddr>().unwrap());
        assert_eq!(udp[0].proto, Proto::Udp);
        let many = parse("8000-8009:80-89").unwrap();
        assert_eq!(many.len(), 10);
        assert_eq!((many[9].host_port, many[9].port), (8009, 89));
    }

    #[test]
    fn malformed_values_are_refused_with_the_form() {
        for bad in [
            "80",
            "a:80",
            "8080:80/sctp",
            "0:80",
            "70000:80",
            "8000-8009:80-88",
            "9-1:9-1",
            "1.2.3:80:80",
            "::80",
            "+8080:80",
            "::1:8080:80",
            "[::1]8080:80",
            "[10.0.0.1]:8080:80",
            "[::1]:1:8080:80",
        ] {
            let err = parse(bad).expect_err(bad).to_string();
            assert!(err.starts_with(&format!("-p {bad}: ")), "{err}");
        }
        let err = parse_all(&["8080:80".into(), "127.0.0.1:8080:81".into()])
            .expect_err("same host port twice")
            .to_string();
        assert!(err.contains("publish each host port once"), "{err}");
        // `::` and the default (every address, both families) overlap.
        let err = parse_all(&["8080:80".into(), "[::]:8080:81".into()])
            .expect_err("every address twice")
            .to_string();
        assert!(
            err.contains("([::]:8080)") || err.contains("(0.0.0.0:8080)"),
            "{err}"
        );
        assert_eq!(
            parse_all(&["127.0.0.1:8080:80".into(), "[::1]:8080:81".into()])
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            parse_all(&["8080:80".into(), "8080:80/udp".into()])
                .unwrap()
                .len(),
            2
        );
        let err = parse_all(&["1-2000:1-2000".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 1024 ports"), "{err}");
    }
}
