//! Address allocation in IPv4 subnets: pure logic, so every rule about which
//! address a sandbox may get is unit-tested without touching the kernel.

pub use crate::model::Subnet;

pub mod v6;

use anyhow::{Result, bail};
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// Who holds an address, so a refusal can name the sandbox in the way.
pub struct Holder<'a> {
    /// The address held.
    pub ip: Ipv4Addr,
    /// The sandbox holding it.
    pub name: &'a str,
}

/// Checks a requested address against the subnet's rules, this host's
/// range of it (`--ip-range` of a VXLAN network, SPEC "Across hosts";
/// `None`: the whole subnet) and the current holders; the error says
/// exactly which rule it broke.
pub fn check_requested(
    subnet: &Subnet,
    range: Option<&Subnet>,
    gateway: Ipv4Addr,
    network: &str,
    ip: Ipv4Addr,
    holders: &[Holder],
) -> Result<()> {
    if !subnet.contains(ip) {
        bail!("address {ip} is outside network {network}'s subnet {subnet}: pick one inside it");
    }
    if ip == subnet.network() {
        bail!("address {ip} is the network address of {subnet}: pick a host address");
    }
    if ip == subnet.broadcast() {
        bail!("address {ip} is the broadcast address of {subnet}: pick a host address");
    }
    if ip == gateway {
        bail!("address {ip} is network {network}'s gateway: pick another address");
    }
    if let Some(range) = range.filter(|r| !r.contains(ip)) {
        bail!(
            "address {ip} is outside this host's range {range} of network {network}: pick one inside it (the other hosts own the rest of {subnet})"
        );
    }
    if let Some(holder) = holders.iter().find(|h| h.ip == ip) {
        bail!(
            "address {ip} is already in use by sandbox {}: pick another or leave --ip out",
            holder.name
        );
    }
    Ok(())
}

/// The lowest host address (of `range` when given, a part of the subnet
/// this host owns) not held by anyone and not the gateway: stable,
/// predictable addresses like Docker's, found in one pass over the holders.
pub fn lowest_free(
    subnet: &Subnet,
    range: Option<&Subnet>,
    gateway: Ipv4Addr,
    network: &str,
    holders: &[Holder],
) -> Result<Ipv4Addr> {
    let taken: HashSet<Ipv4Addr> = holders.iter().map(|h| h.ip).collect();
    let mut first = u32::from(subnet.network()) + 1;
    let mut last = u32::from(subnet.broadcast()) - 1;
    if let Some(range) = range {
        first = first.max(u32::from(range.network()));
        last = last.min(u32::from(range.broadcast()));
    }
    (first..=last)
        .map(Ipv4Addr::from)
        .find(|ip| *ip != gateway && !taken.contains(ip))
        .ok_or_else(|| match range {
            Some(range) => anyhow::anyhow!(
                "network {network} has no free address left in this host's range {range}: remove a sandbox or use a larger --ip-range"
            ),
            None => anyhow::anyhow!(
                "network {network} ({subnet}) has no free address left: remove a sandbox or use a larger subnet"
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Subnet {
        s.parse().expect("valid subnet")
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("valid address")
    }

    #[test]
    fn requested_address_rules() {
        let s = net("172.16.0.0/24");
        let gw = ip("172.16.0.1");
        let holders = [Holder {
            ip: ip("172.16.0.2"),
            name: "a",
        }];
        let check = |addr: &str| check_requested(&s, None, gw, "n", ip(addr), &holders);
        assert!(check("172.16.0.3").is_ok());
        assert!(
            check("172.16.1.3")
                .unwrap_err()
                .to_string()
                .contains("outside network n")
        );
        assert!(
            check("172.16.0.0")
                .unwrap_err()
                .to_string()
                .contains("network address")
        );
        assert!(
            check("172.16.0.255")
                .unwrap_err()
                .to_string()
                .contains("broadcast")
        );
        assert!(
            check("172.16.0.1")
                .unwrap_err()
                .to_string()
                .contains("gateway")
        );
        assert!(
            check("172.16.0.2")
                .unwrap_err()
                .to_string()
                .contains("in use by sandbox a")
        );
    }

    #[test]
    fn allocation_takes_lowest_free_and_skips_gateway() {
        let s = net("10.1.0.0/29");
        let gw = ip("10.1.0.1");
        assert_eq!(lowest_free(&s, None, gw, "n", &[]).unwrap(), ip("10.1.0.2"));
        let holders = [
            Holder {
                ip: ip("10.1.0.2"),
                name: "a",
            },
            Holder {
                ip: ip("10.1.0.4"),
                name: "b",
            },
        ];
        assert_eq!(
            lowest_free(&s, None, gw, "n", &holders).unwrap(),
            ip("10.1.0.3")
        );
        // A gateway in the middle of the range is skipped too.
        assert_eq!(
            lowest_free(&s, None, ip("10.1.0.2"), "n", &[]).unwrap(),
            ip("10.1.0.1")
        );
    }

    #[test]
    fn allocation_reports_exhaustion() {
        let s = net("10.1.0.0/30");
        let gw = ip("10.1.0.1");
        let holders = [Holder {
            ip: ip("10.1.0.2"),
            name: "a",
        }];
        let err = lowest_free(&s, None, gw, "n", &holders)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no free address"), "{err}");
    }

    #[test]
    fn a_host_range_bounds_allocation_and_requests() {
        let s = net("10.9.0.0/24");
        let gw = ip("10.9.0.1");
        let range = net("10.9.0.0/25");
        // The range's first address is the subnet's network address: skipped.
        assert_eq!(
            lowest_free(&s, Some(&range), gw, "n", &[]).unwrap(),
            ip("10.9.0.2")
        );
        let upper = net("10.9.0.128/25");
        assert_eq!(
            lowest_free(&s, Some(&upper), ip("10.9.0.129"), "n", &[]).unwrap(),
            ip("10.9.0.128")
        );
        let check = |addr: &str| check_requested(&s, Some(&upper), gw, "n", ip(addr), &[]);
        assert!(check("10.9.0.200").is_ok());
        let err = check("10.9.0.20").unwrap_err().to_string();
        assert!(
            err.contains("outside this host's range 10.9.0.128/25"),
            "{err}"
        );
        assert!(
            check("10.9.0.255")
                .unwrap_err()
                .to_string()
                .contains("broadcast")
        );
        // The range's last address is the subnet's broadcast: never given.
        let tiny = net("10.9.0.252/30");
        let holders: Vec<Holder> = ["10.9.0.252", "10.9.0.253", "10.9.0.254"]
            .iter()
            .map(|a| Holder {
                ip: ip(a),
                name: "a",
            })
            .collect();
        let err = lowest_free(&s, Some(&tiny), gw, "n", &holders)
            .unwrap_err()
            .to_string();
        assert!(err.contains("range 10.9.0.252/30"), "{err}");
    }
}
