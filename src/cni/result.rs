//! ADD's result and VERSION's answer, in the CNI spec's JSON ("Success",
//! "Version"): the interfaces made (the host veth, then the container's
//! with its `sandbox`), the addresses pointing into that list, the routes
//! installed and the DNS settings.

use super::{CURRENT, SUPPORTED};
use serde_json::{Value, json};
use std::net::Ipv4Addr;

/// What ADD made, in the terms its result reports.
pub struct Added<'a> {
    /// The configuration's cniVersion: the result's shape follows it.
    pub cni_version: &'a str,
    /// Host veth name and MAC.
    pub host: (&'a str, String),
    /// Container interface name and MAC.
    pub container: (&'a str, String),
    /// CNI_NETNS as given.
    pub netns: &'a str,
    /// The MTU both ends got.
    pub mtu: u32,
    /// The address and prefix.
    pub ip: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// The gateway (the default route's next hop).
    pub gateway: Ipv4Addr,
    /// `dns`: the IPAM's, else the configuration's, else empty.
    pub dns: Option<Value>,
}

/// ADD's result. 0.4.0 results carry `"version": "4"` on each IP (it was
/// dropped in 1.0.0); 1.1.0 results give each interface its `mtu`.
pub fn added(a: &Added) -> Value {
    let mut host = json!({"name": a.host.0, "mac": a.host.1});
    let mut container = json!({"name": a.container.0, "mac": a.container.1, "sandbox": a.netns});
    if a.cni_version == "1.1.0" {
        host["mtu"] = json!(a.mtu);
        container["mtu"] = json!(a.mtu);
    }
    let mut ip = json!({
        "address": format!("{}/{}", a.ip, a.prefix),
        "gateway": a.gateway.to_string(),
        "interface": 1,
    });
    if a.cni_version == "0.4.0" {
        ip["version"] = json!("4");
    }
    json!({
        "cniVersion": a.cni_version,
        "interfaces": [host, container],
        "ips": [ip],
        "routes": [{"dst": "0.0.0.0/0", "gw": a.gateway.to_string()}],
        "dns": a.dns.clone().unwrap_or_else(|| json!({})),
    })
}

/// VERSION's answer.
pub fn versions() -> Value {
    json!({"cniVersion": CURRENT, "supportedVersions": SUPPORTED})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(version: &str) -> Value {
        added(&Added {
            cni_version: version,
            host: ("sbx01234567", "aa:bb:cc:dd:ee:ff".into()),
            container: ("eth0", "0a:53:0a:09:00:02".into()),
            netns: "/run/netns/x",
            mtu: 1500,
            ip: Ipv4Addr::new(10, 9, 0, 2),
            prefix: 24,
            gateway: Ipv4Addr::new(10, 9, 0, 1),
            dns: None,
        })
    }

    #[test]
    fn the_result_points_its_address_at_the_container_interface() {
        let r = sample("1.0.0");
        assert_eq!(r["interfaces"][1]["sandbox"], "/run/netns/x");
        assert!(r["interfaces"][0].get("sandbox").is_none());
        assert_eq!(r["ips"][0]["interface"], 1);
        assert_eq!(r["ips"][0]["address"], "10.9.0.2/24");
        assert!(r["ips"][0].get("version").is_none());
        assert_eq!(r["routes"][0]["gw"], "10.9.0.1");
        assert_eq!(r["dns"], json!({}));
        assert_eq!(sample("0.4.0")["ips"][0]["version"], "4");
        assert_eq!(sample("1.1.0")["interfaces"][1]["mtu"], 1500);
    }
}
