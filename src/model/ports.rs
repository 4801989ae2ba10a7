//! Published ports (SPEC "Ports"): what `-p` asks for, one entry per port,
//! as the spec, the record, `ps` and `inspect` keep it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// The transport protocol of a published port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP (IPPROTO_TCP, 6): the default.
    Tcp,
    /// UDP (IPPROTO_UDP, 17).
    Udp,
}

impl Proto {
    /// The IP protocol number (`meta l4proto`).
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }

    /// `tcp` or `udp`, as `-p` and `ps` write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One published port: the host's `host_ip:host_port` answers for the
/// sandbox's `port`. `0.0.0.0` (what `-p` without HOST_IP gives) is every
/// host address, IPv4 and, for a sandbox with an IPv6 address, IPv6 too
/// (as Docker publishes on `0.0.0.0` and `[::]` by default); `::` is every
/// IPv6 host address only; any other address is that one alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    /// The host address it is published on; `0.0.0.0` for all (both
    /// families), `::` for all IPv6 ones.
    pub host_ip: IpAddr,
    /// The port on the host.
    pub host_port: u16,
    /// The port inside the sandbox.
    pub port: u16,
    /// tcp or udp.
    pub proto: Proto,
}

impl PortMapping {
    /// Whether both would answer the same packets: same protocol and host
    /// port, and addresses that overlap (SPEC: "a port published on
    /// 0.0.0.0 conflicts with every HOST_IP"; `::` conflicts with every
    /// IPv6 HOST_IP and with `0.0.0.0`, not with a single IPv4 address).
    pub fn clashes_with(&self, other: &PortMapping) -> bool {
        self.proto == other.proto
            && self.host_port == other.host_port
            && (covers(self.host_ip, other.host_ip) || covers(other.host_ip, self.host_ip))
    }

    /// Whether the port answers on IPv6 host addresses (of a sandbox that
    /// has an IPv6 address): `0.0.0.0`, `::` or one IPv6 address.
    pub fn on_ipv6(&self) -> bool {
        self.host_ip.is_ipv6() || self.host_ip == IpAddr::from([0, 0, 0, 0])
    }
}

/// Whether host address `wide` includes `narrow`: the same, `0.0.0.0`
/// (every address), or `::` and an IPv6 one.
fn covers(wide: IpAddr, narrow: IpAddr) -> bool {
    wide == narrow
        || wide == IpAddr::from([0, 0, 0, 0])
        || (wide.is_unspecified() && wide.is_ipv6() && narrow.is_ipv6())
}

/// A host address as `ps` and messages write it before `:PORT`: IPv6 in
/// brackets (`[::1]`), as `-p` takes it.
pub struct HostIp(pub IpAddr);

impl fmt::Display for HostIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(ip) => write!(f, "{ip}"),
            IpAddr::V6(ip) => write!(f, "[{ip}]"),
        }
    }
}

/// The PORTS cell of `sbx ps`: `0.0.0.0:8080->80/tcp`, a run of
/// consecutive ports as one range (`0.0.0.0:8000-8009->80-89/tcp`), runs
/// separated by `, ` (Docker's form).
pub struct PortsCell<'a>(pub &'a [PortMapping]);

impl fmt::Display for PortsCell<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut i = 0;
        let ports = self.0;
        while i < ports.len() {
            let first = ports[i];
            let mut last = first;
            while let Some(next) = ports.get(i + 1) {
                let follows = next.host_ip == first.host_ip
                    && next.proto == first.proto
                    && u32::from(next.host_port) == u32::from(last.host_port) + 1
                    && u32::from(next.port) == u32::from(last.port) + 1;
                if !follows {
                    break;
                }
                last = *next;
                i += 1;
            }
            if first != ports[0] {
                f.write_str(", ")?;
            }
            let range = |a: u16, b: u16| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            };
            write!(
                f,
                "{}:{}->{}/{}",
                HostIp(first.host_ip),
                range(first.host_port, last.host_port),
                range(first.port, last.port),
                first.proto.as_str()
            )?;
            i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(host_ip: [u8; 4], host_port: u16, port: u16, proto: Proto) -> PortMapping {
        PortMapping {
            host_ip: IpAddr::from(host_ip),
            host_port,
            port,
            proto,
        }
    }

    #[test]
    fn any_address_clashes_with_every_address_of_the_same_port() {
        let any = map([0, 0, 0, 0], 8080, 80, Proto::Tcp);
        let one = map([127, 0, 0, 1], 8080, 81, Proto::Tcp);
        let other = map([10, 0, 0, 1], 8080, 81, Proto::Tcp);
        assert!(any.clashes_with(&one) && one.clashes_with(&any));
        assert!(!one.clashes_with(&other));
        assert!(!any.clashes_with(&map([0, 0, 0, 0], 8080, 80, Proto::Udp)));
        assert!(!any.clashes_with(&map([0, 0, 0, 0], 8081, 80, Proto::Tcp)));
    }

    #[test]
    fn the_ipv6_any_address_clashes_with_ipv6_addresses_and_every_address() {
        let v6 = |ip: &str| PortMapping {
            host_ip: ip.parse().unwrap(),
            ..map([0, 0, 0, 0], 8080, 80, Proto::Tcp)
        };
        let any6 = v6("::");
        assert!(any6.clashes_with(&v6("::1")) && v6("::1").clashes_with(&any6));
        assert!(any6.clashes_with(&v6("0.0.0.0")) && v6("0.0.0.0").clashes_with(&any6));
        assert!(!any6.clashes_with(&v6("127.0.0.1")));
        assert!(!v6("::1").clashes_with(&v6("127.0.0.1")));
        assert!(v6("0.0.0.0").clashes_with(&v6("2001:db8::1")));
        assert!(v6("0.0.0.0").on_ipv6());
        assert!(any6.on_ipv6());
        assert!(!v6("10.0.0.1").on_ipv6());
        assert_eq!(
            PortsCell(&[any6, v6("::1")]).to_string(),
            "[::]:8080->80/tcp, [::1]:8080->80/tcp"
        );
    }

    #[test]
    fn runs_of_ports_print_as_ranges() {
        let mut ports: Vec<PortMapping> = (0..10)
            .map(|i| map([0, 0, 0, 0], 8000 + i, 80 + i, Proto::Tcp))
            .collect();
        ports.push(map([127, 0, 0, 1], 53, 53, Proto::Udp));
        assert_eq!(
            PortsCell(&ports).to_string(),
            "0.0.0.0:8000-8009->80-89/tcp, 127.0.0.1:53->53/udp"
        );
        assert_eq!(PortsCell(&[]).to_string(), "");
    }
}
