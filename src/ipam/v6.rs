//! Address allocation in IPv6 subnets (SPEC "IPv6"): the same rules as
//! IPv4's (lowest free, never the network or the gateway address, a
//! requested one checked rule by rule), pure so they are unit-tested
//! without the kernel. IPv6 has no broadcast address; the network address
//! is the Subnet-Router anycast address (RFC 4291 §2.6.1), never a host's.

pub use crate::model::Subnet6;

use anyhow::{Result, bail};
use std::collections::HashSet;
use std::net::Ipv6Addr;

/// Who holds an IPv6 address, so a refusal can name the sandbox in the way.
pub struct Holder6<'a> {
    /// The address held.
    pub ip: Ipv6Addr,
    /// The sandbox holding it.
    pub name: &'a str,
}

/// Checks a requested IPv6 address (`--ip6`, `ip6=`) against the subnet's
/// rules and the current holders; the error says which rule it broke.
pub fn check_requested6(
    subnet: &Subnet6,
    gateway: Ipv6Addr,
    network: &str,
    ip: Ipv6Addr,
    holders: &[Holder6],
) -> Result<()> {
    if !subnet.contains(ip) {
        bail!(
            "address {ip} is outside network {network}'s IPv6 subnet {subnet}: pick one inside it"
        );
    }
    if ip == subnet.network() {
        bail!("address {ip} is the network address of {subnet}: pick a host address");
    }
    if ip == gateway {
        bail!("address {ip} is network {network}'s IPv6 gateway: pick another address");
    }
    if let Some(holder) = holders.iter().find(|h| h.ip == ip) {
        bail!(
            "address {ip} is already in use by sandbox {}: pick another or leave --ip6 out",
            holder.name
        );
    }
    Ok(())
}

/// The lowest address of the subnet after its network address that is
/// neither the gateway nor held. At most `holders + 2` candidates are
/// looked at (each holder and the gateway can block one), so a /64 costs
/// no more than a /120.
pub fn lowest_free6(
    subnet: &Subnet6,
    gateway: Ipv6Addr,
    network: &str,
    holders: &[Holder6],
) -> Result<Ipv6Addr> {
    let taken: HashSet<Ipv6Addr> = holders.iter().map(|h| h.ip).collect();
    let first = u128::from(subnet.network()) + 1;
    let last = u128::from(subnet.last());
    let tries = holders.len() as u128 + 2;
    (first..=last.min(first.saturating_add(tries)))
        .map(Ipv6Addr::from)
        .find(|ip| *ip != gateway && !taken.contains(ip))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "network {network} ({subnet}) has no free IPv6 address left: remove a sandbox or use a larger --subnet6"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Subnet6 {
        s.parse().expect("valid subnet")
    }

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().expect("valid address")
    }

    #[test]
    fn requested_address_rules() {
        let s = net("fd42:1::/64");
        let gw = ip("fd42:1::1");
        let holders = [Holder6 {
            ip: ip("fd42:1::2"),
            name: "a",
        }];
        let check = |addr: &str| {
            check_requested6(&s, gw, "n", ip(addr), &holders)
                .err()
                .map(|e| e.to_string())
        };
        assert_eq!(check("fd42:1::3"), None);
        assert_eq!(check("fd42:1::ffff:ffff:ffff:ffff"), None);
        assert!(check("fd42:2::3").unwrap().contains("outside network n"));
        assert!(check("fd42:1::").unwrap().contains("network address"));
        assert!(check("fd42:1::1").unwrap().contains("IPv6 gateway"));
        assert!(check("fd42:1::2").unwrap().contains("in use by sandbox a"));
    }

    #[test]
    fn allocation_takes_lowest_free_and_skips_gateway() {
        let s = net("fd42:1::/64");
        let gw = ip("fd42:1::1");
        assert_eq!(lowest_free6(&s, gw, "n", &[]).unwrap(), ip("fd42:1::2"));
        let holders = [
            Holder6 {
                ip: ip("fd42:1::2"),
                name: "a",
            },
            Holder6 {
                ip: ip("fd42:1::4"),
                name: "b",
            },
        ];
        assert_eq!(
            lowest_free6(&s, gw, "n", &holders).unwrap(),
            ip("fd42:1::3")
        );
        // A gateway elsewhere: the first host address is free to take.
        assert_eq!(
            lowest_free6(&s, ip("fd42:1::99"), "n", &[]).unwrap(),
            ip("fd42:1::1")
        );
    }

    #[test]
    fn allocation_reports_exhaustion() {
        // A /126: network, gateway and two host addresses.
        let s = net("fd42:1::/126");
        let gw = ip("fd42:1::1");
        let holders = [
            Holder6 {
                ip: ip("fd42:1::2"),
                name: "a",
            },
            Holder6 {
                ip: ip("fd42:1::3"),
                name: "b",
            },
        ];
        let err = lowest_free6(&s, gw, "n", &holders).unwrap_err().to_string();
        assert!(err.contains("no free IPv6 address"), "{err}");
        assert_eq!(
            lowest_free6(&s, gw, "n", &holders[..1]).unwrap(),
            ip("fd42:1::3")
        );
    }
}
