//! The network configuration on stdin (SPEC "CNI plugin"): `{cniVersion,
//! name, type: "sbx-cni", bridge, subnet, gateway?, ipMasq?, mtu?,
//! antiSpoofing?, ipam?}` plus the keys the runtime adds (`prevResult`,
//! `cni.dev/valid-attachments`, `dns`). JSON that does not decode is the
//! spec's error 6; values that decode but make no sense are error 7.

use super::{CniError, CniResult, SUPPORTED, code, env};
use crate::ipam::Subnet;
use serde::Deserialize;
use serde_json::Value;
use std::net::Ipv4Addr;

/// The configuration as it decodes.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    cni_version: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    bridge: Option<String>,
    subnet: Option<String>,
    gateway: Option<String>,
    ip_masq: Option<bool>,
    mtu: Option<u32>,
    anti_spoofing: Option<bool>,
    ipam: Option<Value>,
    dns: Option<Value>,
    prev_result: Option<Value>,
    #[serde(rename = "cni.dev/valid-attachments")]
    valid_attachments: Option<Vec<ValidAttachment>>,
}

/// One entry of GC's `cni.dev/valid-attachments`.
#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ValidAttachment {
    /// The container ID.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// Its interface name.
    pub ifname: String,
}

/// The configuration, checked.
pub struct NetConf {
    /// The version the runtime speaks (one of [`SUPPORTED`]).
    pub cni_version: String,
    /// The network's name: the store folder `ROOT/cni/NAME`.
    pub name: String,
    /// The bridge (≤ 15 bytes).
    pub bridge: String,
    /// The subnet.
    pub subnet: Subnet,
    /// The gateway (default: the subnet's first host).
    pub gateway: Ipv4Addr,
    /// Masquerade (default true: the NAT sbx networks get).
    pub ip_masq: bool,
    /// MTU of the bridge made and of the veths.
    pub mtu: Option<u32>,
    /// Anti-spoofing element per port (default true).
    pub anti_spoofing: bool,
    /// The delegated `ipam` plugin's type, if any.
    pub ipam_type: Option<String>,
    /// `dns`, passed through into ADD's result.
    pub dns: Option<Value>,
    /// `prevResult` (CHECK, DEL).
    pub prev_result: Option<Value>,
    /// GC's list of attachments to keep.
    pub valid_attachments: Option<Vec<ValidAttachment>>,
}

/// The `cniVersion` of `stdin`, if it decodes that far (for error JSON).
pub fn version_of(stdin: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(stdin).ok()?;
    let v = value.get("cniVersion")?.as_str()?;
    SUPPORTED.contains(&v).then(|| v.to_string())
}

fn invalid(msg: String) -> CniError {
    CniError::new(code::INVALID_CONFIG, msg)
}

/// Decodes and checks the configuration.
pub fn parse(stdin: &[u8]) -> CniResult<NetConf> {
    let raw: Raw = serde_json::from_slice(stdin).map_err(|e| {
        CniError::new(
            code::DECODE,
            format!("the network configuration does not decode: {e}"),
        )
    })?;
    if !SUPPORTED.contains(&raw.cni_version.as_str()) {
        return Err(CniError::new(
            code::INCOMPATIBLE_VERSION,
            format!(
                "cniVersion {} is not supported: use one of {}",
                raw.cni_version,
                SUPPORTED.join(", ")
            ),
        ));
    }
    if raw.kind != "sbx-cni" {
        return Err(invalid(format!(
            "type {:?} is not sbx-cni: this plugin serves only its own configurations",
            raw.kind
        )));
    }
    if !env::valid_container_id(&raw.name) {
        return Err(invalid(format!(
            "name {:?} is not a network name: letters, digits, '_', '.', '-'",
            raw.name
        )));
    }
    let Some(bridge) = raw.bridge else {
        return Err(invalid("bridge is missing: name the bridge to use".into()));
    };
    if !env::valid_ifname(&bridge) {
        return Err(invalid(format!(
            "bridge {bridge:?} is not an interface name: at most 15 bytes, no '/', ':' or spaces"
        )));
    }
    let Some(subnet_text) = raw.subnet else {
        return Err(invalid(
            "subnet is missing: write it like 10.88.0.0/16".into(),
        ));
    };
    let subnet: Subnet = subnet_text
        .parse()
        .map_err(|e: anyhow::Error| invalid(format!("{e:#}")))?;
    if subnet.prefix() > 30 {
        return Err(invalid(format!(
            "subnet {subnet} has no room for a gateway and a container: use /30 or larger"
        )));
    }
    let gateway = match raw.gateway {
        None => subnet.first_host(),
        Some(text) => text
            .parse::<Ipv4Addr>()
            .map_err(|_| invalid(format!("gateway {text:?} is not an IPv4 address")))?,
    };
    if !subnet.contains(gateway) || gateway == subnet.network() || gateway == subnet.broadcast() {
        return Err(invalid(format!(
            "gateway {gateway} is not a host address of subnet {subnet}: pick one inside it"
        )));
    }
    if let Some(mtu) = raw.mtu
        && !(68..=65535).contains(&mtu)
    {
        return Err(invalid(format!(
            "mtu {mtu} is out of range: use 68 to 65535"
        )));
    }
    let ipam_type = match &raw.ipam {
        None => None,
        Some(Value::Object(map)) if map.is_empty() => None,
        Some(Value::Object(map)) => match map.get("type").and_then(Value::as_str) {
            Some(t) if !t.is_empty() && !t.contains('/') => Some(t.to_string()),
            _ => {
                return Err(invalid(
                    "ipam has no plugin type: write {\"type\": \"host-local\", ...} or leave ipam out".into(),
                ));
            }
        },
        Some(_) => return Err(invalid("ipam is not an object".into())),
    };
    Ok(NetConf {
        cni_version: raw.cni_version,
        name: raw.name,
        bridge,
        subnet,
        gateway,
        ip_masq: raw.ip_masq.unwrap_or(true),
        mtu: raw.mtu,
        anti_spoofing: raw.anti_spoofing.unwrap_or(true),
        ipam_type,
        dns: raw.dns,
        prev_result: raw.prev_result,
        valid_attachments: raw.valid_attachments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(extra: &str) -> Vec<u8> {
        format!(
            r#"{{"cniVersion":"1.0.0","name":"n1","type":"sbx-cni","bridge":"br1","subnet":"10.9.0.0/24"{extra}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn defaults_are_the_first_host_nat_and_anti_spoofing() {
        let c = parse(&conf("")).unwrap();
        assert_eq!(c.gateway, Ipv4Addr::new(10, 9, 0, 1));
        assert!(c.ip_masq && c.anti_spoofing);
        assert!(c.ipam_type.is_none());
    }

    #[test]
    fn bad_json_is_code_6_and_bad_values_code_7_or_1() {
        assert_eq!(parse(b"{not json").err().unwrap().code, 6);
        assert_eq!(parse(&conf(r#","mtu":"big""#)).err().unwrap().code, 6);
        let bad = String::from_utf8(conf(""))
            .unwrap()
            .replace("10.9.0.0/24", "10.9.0.0/40");
        assert_eq!(parse(bad.as_bytes()).err().unwrap().code, 7);
        assert_eq!(
            parse(&conf(r#","gateway":"10.8.0.1""#)).err().unwrap().code,
            7
        );
        assert_eq!(
            parse(&conf(r#","ipam":{"subnet":"x"}"#))
                .err()
                .unwrap()
                .code,
            7
        );
        let old = String::from_utf8(conf(""))
            .unwrap()
            .replace("1.0.0", "0.2.0");
        assert_eq!(parse(old.as_bytes()).err().unwrap().code, 1);
    }

    #[test]
    fn a_delegated_ipam_is_named_by_its_type() {
        let c = parse(&conf(r#","ipam":{"type":"host-local"}"#)).unwrap();
        assert_eq!(c.ipam_type.as_deref(), Some("host-local"));
    }
}
