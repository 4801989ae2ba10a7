//! A delegated IPAM plugin (CNI spec, "Delegated plugins"): found by its
//! `type` in `CNI_PATH`, run with this request's environment and the same
//! configuration on stdin; its error passes through with its own code.

use super::{CniError, CniResult, code, env};
use serde_json::Value;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// What an IPAM result gives this plugin: the first IPv4 address with its
/// prefix, its gateway, and the result's `dns`.
pub struct Lease {
    /// The address.
    pub ip: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// The gateway the IPAM named, if any.
    pub gateway: Option<Ipv4Addr>,
    /// The IPAM's `dns`, if any.
    pub dns: Option<Value>,
}

fn find(kind: &str) -> CniResult<PathBuf> {
    env::plugin_dirs()
        .into_iter()
        .map(|d| PathBuf::from(d).join(kind))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            CniError::new(
                code::INVALID_CONFIG,
                format!("ipam plugin {kind} is not in CNI_PATH: install it or fix CNI_PATH"),
            )
        })
}

/// Runs the plugin `kind` with `command` (the caller's own CNI_COMMAND
/// unless it differs) and returns its stdout on success.
pub fn run(kind: &str, command: &str, stdin: &[u8]) -> CniResult<Vec<u8>> {
    let path = find(kind)?;
    let io = |e: std::io::Error| {
        CniError::new(
            code::IO_FAILURE,
            format!("run ipam plugin {}: {e}", path.display()),
        )
    };
    let mut child = Command::new(&path)
        .env("CNI_COMMAND", command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(io)?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin).map_err(io)?;
    }
    let out = child.wait_with_output().map_err(io)?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    let error: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let code = error
        .get("code")
        .and_then(Value::as_u64)
        .map_or(code::INTERNAL, |c| c as u32);
    let msg = error
        .get("msg")
        .and_then(Value::as_str)
        .unwrap_or("failed without an error message");
    Err(CniError {
        code,
        msg: format!("ipam plugin {kind} {command}: {msg}"),
        details: error
            .get("details")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

/// ADD through the plugin: its first IPv4 address.
pub fn add(kind: &str, stdin: &[u8]) -> CniResult<Lease> {
    let out = run(kind, "ADD", stdin)?;
    let result: Value = serde_json::from_slice(&out).map_err(|e| {
        CniError::new(
            code::DECODE,
            format!("ipam plugin {kind}'s result does not decode: {e}"),
        )
    })?;
    let lease = parse_result(&result);
    if lease.is_none() {
        // Give back what it may have allocated.
        let _ = run(kind, "DEL", stdin);
    }
    lease.ok_or_else(|| {
        CniError::new(
            code::INTERNAL,
            format!("ipam plugin {kind} returned no IPv4 address"),
        )
    })
}

/// The first IPv4 `ips` entry of an IPAM result.
fn parse_result(result: &Value) -> Option<Lease> {
    let ips = result.get("ips")?.as_array()?;
    ips.iter().find_map(|entry| {
        let (ip, prefix) = entry.get("address")?.as_str()?.split_once('/')?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
        let gateway = entry
            .get("gateway")
            .and_then(Value::as_str)
            .and_then(|g| g.parse().ok());
        Some(Lease {
            ip,
            prefix,
            gateway,
            dns: result.get("dns").cloned(),
        })
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_first_ipv4_address_of_a_result_is_taken() {
        let result = serde_json::json!({
            "cniVersion": "1.0.0",
            "ips": [{"address": "fd00::2/64"}, {"address": "10.9.0.5/24", "gateway": "10.9.0.1"}],
        });
        let lease = super::parse_result(&result).unwrap();
        assert_eq!(lease.ip.to_string(), "10.9.0.5");
        assert_eq!(lease.prefix, 24);
        assert_eq!(lease.gateway.unwrap().to_string(), "10.9.0.1");
        assert!(super::parse_result(&serde_json::json!({"ips": []})).is_none());
    }
}
