//! The request's environment variables (CNI spec, "Parameters"): which
//! ones each command needs, and the names they must be.

use super::{CniError, CniResult, code};
use std::fs::File;

/// `CNI_CONTAINERID` and `CNI_IFNAME`, checked: the attachment's identity.
pub struct Target {
    /// The container ID: letters, digits, `_`, `.`, `-`, starting with a
    /// letter or digit (CNI spec, "Parameters").
    pub container: String,
    /// The interface name inside the netns: a valid Linux name.
    pub ifname: String,
}

/// The variable `name`, required.
fn required(name: &str) -> CniResult<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(CniError::new(
            code::INVALID_ENV,
            format!("{name} is not set: the runtime must pass it"),
        )),
    }
}

/// Reads and checks the attachment's identity.
pub fn target() -> CniResult<Target> {
    let container = required("CNI_CONTAINERID")?;
    if !valid_container_id(&container) {
        return Err(CniError::new(
            code::INVALID_ENV,
            format!(
                "CNI_CONTAINERID {container:?} is not a container ID: letters, digits, '_', '.', '-', starting with a letter or digit"
            ),
        ));
    }
    let ifname = required("CNI_IFNAME")?;
    if !valid_ifname(&ifname) {
        return Err(CniError::new(
            code::INVALID_ENV,
            format!(
                "CNI_IFNAME {ifname:?} is not an interface name: at most 15 bytes, no '/', ':' or spaces"
            ),
        ));
    }
    Ok(Target { container, ifname })
}

/// `CNI_NETNS` opened, required (ADD, CHECK).
pub fn netns() -> CniResult<File> {
    let path = required("CNI_NETNS")?;
    File::open(&path).map_err(|e| {
        CniError::new(
            code::INVALID_ENV,
            format!("CNI_NETNS {path}: cannot open it: {e}"),
        )
    })
}

/// `CNI_PATH`'s folders (for a delegated `ipam` plugin).
pub fn plugin_dirs() -> Vec<String> {
    std::env::var("CNI_PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect()
}

/// The CNI spec's container ID rule.
pub fn valid_container_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// The kernel's interface name rule (`dev_valid_name`): 1-15 bytes, not
/// `.` or `..`, no `/`, `:` or whitespace.
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_and_interface_names_follow_their_rules() {
        assert!(valid_container_id("abc-1_2.3"));
        assert!(!valid_container_id("-abc"));
        assert!(!valid_container_id("a/b"));
        assert!(!valid_container_id("a:b"));
        assert!(!valid_container_id(""));
        assert!(valid_ifname("eth0"));
        assert!(!valid_ifname("a234567890123456"));
        assert!(!valid_ifname("e:0"));
        assert!(!valid_ifname(".."));
        assert!(!valid_ifname("e 0"));
    }
}
