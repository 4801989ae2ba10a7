//! Kernel knobs under /proc/sys, written only when they differ so repeated
//! calls cost one read.

use anyhow::{Context, Result};

/// IPv4 forwarding: without it the host drops what sandboxes send outward.
pub const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Sets a sysctl file to `value` unless it already holds it; returns
/// whether it had to be written (so callers can say it had drifted).
pub fn ensure(path: &str, value: &str) -> Result<bool> {
    let current = std::fs::read_to_string(path).with_context(|| format!("read {path}"))?;
    if current.trim() == value {
        return Ok(false);
    }
    std::fs::write(path, value).with_context(|| format!("set {path} to {value}"))?;
    Ok(true)
}
