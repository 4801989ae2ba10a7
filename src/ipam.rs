//! Address allocation in IPv4 subnets: pure logic, so every rule about which
//! address a sandbox may get is unit-tested without touching the kernel.

pub use crate::model::Subnet;

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

/// Checks a requested address against the subnet's rules and the current
/// holders; the error says exactly which rule it broke.
pub fn check_requested(
    subnet: &Subnet,
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
    if let Some(holder) = holders.iter().find(|h| h.ip == ip) {
        bail!(
            "address {ip} is already in use by sandbox {}: pick another or leave --ip out",
            holder.name
        );
    }
    Ok(())
}

/// The lowest host address not held by anyone and not the gateway: stable,
/// predictable addresses like Docker's, found in one pass over the holders.
pub fn lowest_free(
    subnet: &Subnet,
    gateway: Ipv4Addr,
    network: &str,
    holders: &[Holder],
) -> Result<Ipv4Addr> {
    let taken: HashSet<Ipv4Addr> = holders.iter().map(|h| h.ip).collect();
    let first = u32::from(subnet.network()) + 1;
    let last = u32::from(subnet.broadcast()) - 1;
    (first..=last)
        .map(Ipv4Addr::from)
        .find(|ip| *ip != gateway && !taken.contains(ip))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "network {network} ({subnet}) has no free address left: remove a sandbox or use a larger subnet"
            )
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
        let check = |addr: &str| check_requested(&s, gw, "n", ip(addr), &holders);
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
        assert_eq!(lowest_free(&s, gw, "n", &[]).unwrap(), ip("10.1.0.2"));
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
        assert_eq!(lowest_free(&s, gw, "n", &holders).unwrap(), ip("10.1.0.3"));
        // A gateway in the middle of the range is skipped too.
        assert_eq!(
            lowest_free(&s, ip("10.1.0.2"), "n", &[]).unwrap(),
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
        let err = lowest_free(&s, gw, "n", &holders).unwrap_err().to_string();
        assert!(err.contains("no free address"), "{err}");
    }
}
