//! Damaged records around networks (issue 8 and 9): a network whose own
//! record cannot be read is shown, skipped by commands about other networks,
//! and removable. (A sandbox whose record cannot be read still holds its
//! network, judged from the kernel: `sandbox::network_rm` checks that.)

use crate::net::{Netlink, bridge};
use crate::state::records::valid_ifname;
use crate::state::{StateRoot, Unreadable};
use anyhow::{Result, bail};
use std::path::Path;

/// `network create` must not adopt the bridge of a network whose record is
/// damaged (its default bridge has the network's name).
pub fn refuse_bridge_of_damaged(root: &StateRoot, bridge: &str) -> Result<()> {
    let (_, damaged) = root.network_entries()?;
    for net in damaged {
        let salvaged = salvage_bridge(&root.network_bytes(&net.name));
        if net.name == bridge || salvaged.as_deref() == Some(bridge) {
            bail!(
                "bridge {bridge} may belong to network {}, whose record cannot be read: remove that network first with 'sbx network rm {}', or pick another --bridge",
                net.name,
                net.name
            );
        }
    }
    Ok(())
}

/// `network rm` of a network whose record cannot be read. The record goes;
/// its kernel objects only where they can be told apart safely: a bridge of
/// its name (or the name still legible in the record) that carries sbx's
/// stable MAC for that name was made by sbx and is deleted with its
/// firewall chains, unless a port is still on it; stale chains of a bridge
/// that no longer exists go too. Anything else is left, and said so.
///
/// The sandbox layer (above this one) has dealt with the sandboxes whose
/// records name the network; `refuse_if_attached` is its check of the
/// others, called with the bridge about to be removed.
pub fn remove(
    root: &StateRoot,
    nl: &Netlink,
    network: Unreadable,
    refuse_if_attached: impl FnOnce(&str) -> Result<()>,
) -> Result<()> {
    let name = &network.name;
    let salvaged = salvage_bridge(&root.network_bytes(name));
    let named_by_record = salvaged.is_some();
    let candidate = salvaged
        .or_else(|| Some(name.clone()))
        .filter(|b| valid_ifname(b));
    let owned_by_other = |b: &str| {
        root.networks()
            .map(|nets| nets.iter().any(|n| n.bridge == b))
            .unwrap_or(true)
    };
    let mut errors = Vec::new();
    let mut notes = Vec::new();
    match candidate {
        Some(b) if owned_by_other(&b) => notes.push(format!(
            "bridge {b} belongs to another network and was left alone"
        )),
        Some(b) => {
            refuse_if_attached(&b)?;
            let dir = Path::new("/sys/class/net").join(&b);
            if !dir.exists() {
                // Chains of a bridge that no longer exists guard nothing.
                if let Err(e) = crate::firewall::remove_network(&b) {
                    errors.push(format!("{e:#}"));
                }
            } else if dir.join("bridge").exists() && read_mac(&dir) == Some(bridge::stable_mac(&b))
            {
                let ports = list(&dir.join("brif"));
                if !ports.is_empty() {
                    bail!(
                        "bridge {b} of network {name} still has ports ({}): remove what uses them first",
                        ports.join(", ")
                    );
                }
                if let Err(e) = crate::firewall::remove_network(&b) {
                    errors.push(format!("{e:#}"));
                }
                let index = read_u32(&dir.join("ifindex"));
                match index {
                    Some(index) => {
                        if let Err(e) = nl.block_on(bridge::delete(nl.host(), &b, index)) {
                            errors.push(format!("{e:#}"));
                        }
                    }
                    None => errors.push(format!("cannot read the index of bridge {b}")),
                }
            } else if named_by_record {
                // The record names it: an adopted bridge. sbx's chains for
                // it are sbx's own; the interface and any gateway address
                // sbx added stay.
                if let Err(e) = crate::firewall::remove_network(&b) {
                    errors.push(format!("{e:#}"));
                }
                notes.push(format!(
                    "interface {b} was left in place (sbx did not make it); a gateway address sbx added to it remains"
                ));
            } else {
                notes.push(format!(
                    "interface {b} was left in place (sbx cannot tell it made it: it is not a bridge with sbx's MAC); if it was this network's bridge, remove it, its gateway address and sbx's chains for it by hand"
                ));
            }
        }
        None => notes.push(
            "its bridge cannot be told from the record: a bridge and firewall chains it had may remain".into(),
        ),
    }
    // IPv6 forwarding sbx turned on for it goes off with the last network
    // that needed it (see `v6`).
    if let Err(e) = super::v6::release_forwarding() {
        errors.push(format!("{e:#}"));
    }
    if !errors.is_empty() {
        bail!(
            "removing network {name} (its record cannot be read): {}; its record is kept, so 'sbx network rm {name}' tries again",
            errors.join("; ")
        );
    }
    root.remove_network(name)?;
    let mut message = format!(
        "network {name}: removed its unreadable record ({})",
        network.reason
    );
    for note in notes {
        message.push_str("; ");
        message.push_str(&note);
    }
    crate::log::warn(&message);
    Ok(())
}

/// The value of `"bridge":"..."` in a record that no longer parses as a
/// whole (a truncated one usually still holds it), if legible.
pub fn salvage_bridge(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let start = text.find("\"bridge\":\"")? + "\"bridge\":\"".len();
    let len = text[start..].find('"')?;
    let name = &text[start..start + len];
    valid_ifname(name).then(|| name.to_string())
}

/// The interface indexes of a bridge's ports, from sysfs.
pub fn port_indexes(bridge: &str) -> Vec<u32> {
    list(&Path::new("/sys/class/net").join(bridge).join("brif"))
        .iter()
        .filter_map(|port| read_u32(&Path::new("/sys/class/net").join(port).join("ifindex")))
        .collect()
}

fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn read_u32(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A link's MAC from sysfs (`02:ab:...`).
fn read_mac(dir: &Path) -> Option<[u8; 6]> {
    let text = std::fs::read_to_string(dir.join("address")).ok()?;
    let bytes: Vec<u8> = text
        .trim()
        .split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<std::result::Result<_, _>>()
        .ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::salvage_bridge;

    #[test]
    fn salvages_a_legible_bridge_name_only() {
        let truncated = br#"{"name":"n","bridge":"tstb-n","subnet":"10.1"#;
        assert_eq!(salvage_bridge(truncated).as_deref(), Some("tstb-n"));
        assert_eq!(salvage_bridge(br#"{"name":"n","bri"#), None);
        assert_eq!(salvage_bridge(br#"{"bridge":"a/b"}"#), None);
        assert_eq!(salvage_bridge(b"\x00\xff garbage"), None);
    }
}
