//! An IPv4 subnet in CIDR form, parsed and compared (pure): a plain value
//! kept in network records, used by IPAM, routes and the firewall.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 subnet in CIDR form; the network address has no host bits set, so
/// two equal subnets compare equal however the user spelled them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subnet {
    network: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    /// Builds a subnet, refusing host bits so `10.0.0.1/24` is caught as a typo
    /// rather than silently meaning `10.0.0.0/24`.
    pub fn new(network: Ipv4Addr, prefix: u8) -> Result<Self> {
        if prefix > 30 {
            bail!("subnet {network}/{prefix} is too small: use a prefix of /30 or shorter");
        }
        let subnet = Subnet { network, prefix };
        if subnet.network_u32() & !subnet.mask() != 0 {
            let fixed = Ipv4Addr::from(subnet.network_u32() & subnet.mask());
            bail!("subnet {network}/{prefix} has host bits set: did you mean {fixed}/{prefix}?");
        }
        Ok(subnet)
    }

    /// The subnet of `prefix` bits around `addr` (any prefix, host bits
    /// dropped): how host routes, even /32 ones, are compared with networks.
    pub fn containing(addr: Ipv4Addr, prefix: u8) -> Self {
        let prefix = prefix.min(32);
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        Subnet {
            network: Ipv4Addr::from(u32::from(addr) & mask),
            prefix,
        }
    }

    /// The network address (all host bits zero).
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length, which is also what `eth0` gets with its address.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    fn network_u32(&self) -> u32 {
        u32::from(self.network)
    }

    /// The broadcast address, which no sandbox may hold.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network_u32() | !self.mask())
    }

    /// The first usable host address: the default gateway, as Docker does.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network_u32() + 1)
    }

    /// Whether `addr` lies inside this subnet (network and broadcast included).
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & self.mask() == self.network_u32()
    }

    /// Whether the two subnets share any address: the check that keeps two
    /// networks (or a network and a host route) from fighting over packets.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        let shorter = self.prefix.min(other.prefix);
        let mask = if shorter == 0 {
            0
        } else {
            u32::MAX << (32 - shorter)
        };
        self.network_u32() & mask == other.network_u32() & mask
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        let Some((addr, prefix)) = text.split_once('/') else {
            bail!("subnet {text:?} is not in CIDR form: write it like 10.20.0.0/16");
        };
        let Ok(addr) = addr.parse::<Ipv4Addr>() else {
            bail!(
                "subnet {text:?} does not start with an IPv4 address: write it like 10.20.0.0/16"
            );
        };
        let prefix = match prefix.parse::<u8>() {
            Ok(p) if p <= 32 => p,
            _ => bail!("subnet {text:?} has a bad prefix length: use 0 to 30"),
        };
        Subnet::new(addr, prefix)
    }
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
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
    fn parses_and_prints_cidr() {
        let s = net("10.11.0.0/16");
        assert_eq!(s.to_string(), "10.11.0.0/16");
        assert_eq!(s.prefix(), 16);
        assert_eq!(s.broadcast(), ip("10.11.255.255"));
        assert_eq!(s.first_host(), ip("10.11.0.1"));
    }

    #[test]
    fn rejects_malformed_subnets() {
        for bad in [
            "10.0.0.0",
            "10.0.0/8",
            "10.0.0.0/33",
            "10.0.0.0/x",
            "10.0.0.1/24",
            "10.0.0.0/31",
        ] {
            assert!(bad.parse::<Subnet>().is_err(), "{bad} should be refused");
        }
        let err = "10.0.0.1/24".parse::<Subnet>().unwrap_err().to_string();
        assert!(err.contains("did you mean 10.0.0.0/24"), "{err}");
    }

    #[test]
    fn overlap_is_symmetric_and_exact() {
        assert!(net("10.0.0.0/8").overlaps(&net("10.11.0.0/16")));
        assert!(net("10.11.0.0/16").overlaps(&net("10.0.0.0/8")));
        assert!(!net("10.11.0.0/16").overlaps(&net("10.12.0.0/16")));
        assert!(net("172.16.0.0/24").overlaps(&net("172.16.0.128/25")));
        assert!(!net("172.16.0.0/25").overlaps(&net("172.16.0.128/25")));
    }
}
