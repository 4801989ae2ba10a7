//! IPv6 forwarding (SPEC "IPv6": on only while a dual-stack network with
//! NAT exists), turned on and off without changing how the host's other
//! interfaces treat router advertisements.
//!
//! The kernel forwards IPv6 only with `net.ipv6.conf.all.forwarding` = 1
//! (`ip6_forward`), but writing `all.forwarding` also writes every
//! interface's own `forwarding` and `default.forwarding`
//! (`addrconf_fixup_forwarding` -> `addrconf_forward_change`), and an
//! interface's own value decides whether it is a host or a router on its
//! link: with `forwarding` = 1, `accept_ra` = 1 ignores router
//! advertisements (Documentation/networking/ip-sysctl.rst), so eth0 would
//! stop learning its default route. So sbx reads every interface's own
//! value first and writes it back after (forwarding itself only looks at
//! `all`), except on the interfaces the caller keeps (sbx's bridges, which
//! stay routers on their links).
//!
//! What cannot be undone: the kernel purges the default routes learnt
//! from router advertisements (`rt6_purge_dflt_routers`) whenever a
//! `forwarding` is set to 1, except on interfaces with `accept_ra` = 2;
//! with their `forwarding` restored to 0 they learn them again from the
//! next advertisement. Static routes are untouched.

use anyhow::{Context, Result};

const CONF: &str = "/proc/sys/net/ipv6/conf";

/// `net.ipv6.conf.all.forwarding`.
pub const ALL: &str = "/proc/sys/net/ipv6/conf/all/forwarding";

/// Whether IPv6 forwarding is on (false on a kernel without IPv6).
pub fn is_on() -> Result<bool> {
    match std::fs::read_to_string(ALL) {
        Ok(v) => Ok(v.trim() != "0"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("read {ALL}")),
    }
}

/// Turns IPv6 forwarding on if it is off, putting back the own
/// `forwarding` of every interface (and `default`) but those in `keep`.
/// Returns whether it had to.
pub fn turn_on(keep: &[&str]) -> Result<bool> {
    if is_on()? {
        return Ok(false);
    }
    write_all("1", keep)?;
    Ok(true)
}

/// Turns IPv6 forwarding off, putting back every interface's own value.
pub fn turn_off() -> Result<()> {
    if !is_on()? {
        return Ok(());
    }
    write_all("0", &[])
}

/// Writes `all.forwarding`, then each interface's value from before,
/// except `keep`'s.
fn write_all(value: &str, keep: &[&str]) -> Result<()> {
    let before = own_values()?;
    std::fs::write(ALL, value).with_context(|| format!("set {ALL} to {value}"))?;
    for (name, old) in before {
        if keep.contains(&name.as_str()) {
            continue;
        }
        let path = format!("{CONF}/{name}/forwarding");
        match std::fs::read_to_string(&path) {
            Ok(now) if now.trim() != old => {
                std::fs::write(&path, &old).with_context(|| format!("put back {path} to {old}"))?
            }
            // Gone meanwhile, or already as it was.
            _ => {}
        }
    }
    Ok(())
}

/// Every interface's own `forwarding` (and `default`'s), `all` aside.
fn own_values() -> Result<Vec<(String, String)>> {
    let mut values = Vec::new();
    for entry in std::fs::read_dir(CONF).with_context(|| format!("list {CONF}"))? {
        let entry = entry.with_context(|| format!("list {CONF}"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "all" {
            continue;
        }
        let path = entry.path().join("forwarding");
        if let Ok(value) = std::fs::read_to_string(&path) {
            values.push((name, value.trim().to_string()));
        }
    }
    Ok(values)
}

/// Makes `bridge` ignore router advertisements (`accept_ra` = 0): a
/// sandbox must not hand the host a route (SPEC "Trust"), and a bridge
/// whose own `forwarding` is 0 would otherwise accept them.
pub fn refuse_router_advertisements(bridge: &str) -> Result<()> {
    let path = format!("{CONF}/{bridge}/accept_ra");
    match std::fs::read_to_string(&path) {
        Ok(v) if v.trim() == "0" => Ok(()),
        Ok(_) => std::fs::write(&path, "0").with_context(|| format!("set {path} to 0")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("read {path}")),
    }
}
