//! An IPv6 subnet in CIDR form (pure): the `--subnet6` of a dual-stack
//! network (SPEC "IPv6"), kept in network records and used by IPAM,
//! routes and the firewall beside the IPv4 [`Subnet`](super::Subnet).

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// The longest prefix sbx accepts: a /127 is a point-to-point link
/// (RFC 6164) with no room for a gateway and a sandbox.
pub const MAX_PREFIX6: u8 = 126;

/// An IPv6 subnet; the network address has no host bits set, so two equal
/// subnets compare equal however the user spelled them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subnet6 {
    network: Ipv6Addr,
    prefix: u8,
}

fn mask(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix.min(128)))
    }
}

impl Subnet6 {
    /// Builds a subnet, refusing host bits (`fd00:1::1/64` is caught as a
    /// typo rather than silently meaning `fd00:1::/64`) and prefixes
    /// longer than [`MAX_PREFIX6`].
    pub fn new(network: Ipv6Addr, prefix: u8) -> Result<Self> {
        if prefix > MAX_PREFIX6 {
            bail!(
                "subnet {network}/{prefix} is too small: use a prefix of /{MAX_PREFIX6} or shorter (/64 is usual)"
            );
        }
        let bits = u128::from(network);
        if bits & !mask(prefix) != 0 {
            let fixed = Ipv6Addr::from(bits & mask(prefix));
            bail!("subnet {network}/{prefix} has host bits set: did you mean {fixed}/{prefix}?");
        }
        Ok(Subnet6 { network, prefix })
    }

    /// The subnet of `prefix` bits around `addr` (any prefix, host bits
    /// dropped): how host routes, even /128 ones, are compared with
    /// networks.
    pub fn containing(addr: Ipv6Addr, prefix: u8) -> Self {
        let prefix = prefix.min(128);
        Subnet6 {
            network: Ipv6Addr::from(u128::from(addr) & mask(prefix)),
            prefix,
        }
    }

    /// The network address (all host bits zero): the Subnet-Router anycast
    /// address (RFC 4291 §2.6.1), which no sandbox may hold.
    pub fn network(&self) -> Ipv6Addr {
        self.network
    }

    /// The prefix length, which is also what `eth0` gets with its address.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The last address of the subnet (all host bits one).
    pub fn last(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.network) | !mask(self.prefix))
    }

    /// The first address after the Subnet-Router anycast one: the default
    /// gateway, as Docker does.
    pub fn first_host(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.network) + 1)
    }

    /// Why no host may be numbered from this subnet, if it overlaps a
    /// special-purpose block (RFC 4291 §2.4: unspecified and loopback,
    /// IPv4-mapped, link-local, multicast): the kernel would refuse or
    /// misroute such addresses on a bridge.
    pub fn unusable_scope(&self) -> Option<&'static str> {
        let special: [(&str, Ipv6Addr, u8, &str); 4] = [
            (
                "::/127",
                Ipv6Addr::UNSPECIFIED,
                127,
                "the unspecified/loopback block",
            ),
            (
                "::ffff:0:0/96",
                Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0),
                96,
                "IPv4-mapped",
            ),
            (
                "fe80::/10",
                Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
                10,
                "link-local",
            ),
            (
                "ff00::/8",
                Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
                8,
                "multicast",
            ),
        ];
        special
            .iter()
            .find(|(_, net, prefix, _)| self.overlaps(&Subnet6::containing(*net, *prefix)))
            .map(|(_, _, _, what)| *what)
    }

    /// Whether `addr` lies inside this subnet.
    pub fn contains(&self, addr: Ipv6Addr) -> bool {
        u128::from(addr) & mask(self.prefix) == u128::from(self.network)
    }

    /// Whether the two subnets share any address (two networks, or a
    /// network and a host route, must not).
    pub fn overlaps(&self, other: &Subnet6) -> bool {
        let shorter = mask(self.prefix.min(other.prefix));
        u128::from(self.network) & shorter == u128::from(other.network) & shorter
    }
}

impl fmt::Display for Subnet6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Subnet6 {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        let Some((addr, prefix)) = text.split_once('/') else {
            bail!("subnet {text:?} is not in CIDR form: write it like fd42:1::/64");
        };
        let Ok(addr) = addr.parse::<Ipv6Addr>() else {
            bail!("subnet {text:?} does not start with an IPv6 address: write it like fd42:1::/64");
        };
        let prefix = match prefix.parse::<u8>() {
            Ok(p) if p <= 128 => p,
            _ => bail!("subnet {text:?} has a bad prefix length: use 0 to {MAX_PREFIX6}"),
        };
        Subnet6::new(addr, prefix)
    }
}

impl Serialize for Subnet6 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet6 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
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
    fn parses_and_prints_canonical_cidr() {
        let s = net("FD42:0001:0000::/64");
        assert_eq!(s.to_string(), "fd42:1::/64");
        assert_eq!(s.prefix(), 64);
        assert_eq!(s.first_host(), ip("fd42:1::1"));
        assert_eq!(s.last(), ip("fd42:1::ffff:ffff:ffff:ffff"));
        assert!(s.contains(ip("fd42:1::abcd")));
        assert!(!s.contains(ip("fd42:2::1")));
        let json = serde_json::to_string(&s).expect("serialize");
        assert_eq!(json, "\"fd42:1::/64\"");
        assert_eq!(serde_json::from_str::<Subnet6>(&json).expect("read"), s);
    }

    #[test]
    fn rejects_malformed_subnets() {
        for bad in [
            "fd42::",
            "10.0.0.0/8",
            "fd42::/129",
            "fd42::/x",
            "fd42::1/64",
            "fd42::/127",
        ] {
            assert!(bad.parse::<Subnet6>().is_err(), "{bad} should be refused");
        }
        let err = "fd42:1::1/64".parse::<Subnet6>().unwrap_err().to_string();
        assert!(err.contains("did you mean fd42:1::/64"), "{err}");
    }

    #[test]
    fn special_blocks_are_no_host_subnets() {
        for (bad, what) in [
            ("fe80::/64", "link-local"),
            ("ff00::/64", "multicast"),
            ("::/64", "the unspecified/loopback block"),
            ("::ffff:10.0.0.0/120", "IPv4-mapped"),
        ] {
            assert_eq!(net(bad).unusable_scope(), Some(what), "{bad}");
        }
        assert_eq!(net("fd42:1::/64").unusable_scope(), None);
        assert_eq!(net("2001:db8::/64").unusable_scope(), None);
    }

    #[test]
    fn overlap_is_symmetric_and_exact() {
        assert!(net("fd42::/16").overlaps(&net("fd42:1::/64")));
        assert!(net("fd42:1::/64").overlaps(&net("fd42::/16")));
        assert!(!net("fd42:1::/64").overlaps(&net("fd42:2::/64")));
        assert!(net("::/0").overlaps(&net("fd42:2::/64")));
        let host = Subnet6::containing(ip("fd42:1::5"), 128);
        assert!(host.overlaps(&net("fd42:1::/64")));
        assert_eq!(Subnet6::containing(ip("fd42:1::5"), 64), net("fd42:1::/64"));
    }
}
