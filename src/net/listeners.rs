//! Host processes listening on a port (SPEC "Ports": publishing a port a
//! host process listens on is refused, naming the process). Read from
//! `/proc/net/{tcp,tcp6,udp,udp6}` (the host's network namespace; format
//! of `tcp4_seq_show`/`udp4_seq_show` in the kernel), then the owner from
//! `/proc/PID/fd`.

use crate::model::ports::{PortMapping, Proto};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A host socket bound to a published port.
#[derive(Debug, PartialEq, Eq)]
pub struct Listener {
    /// The owning process (the first found), if it could be found.
    pub pid: Option<u32>,
    /// Its command name (`/proc/PID/comm`).
    pub name: Option<String>,
}

/// The host socket in the way of `port`, if any: a TCP listener, or any
/// bound UDP socket, on the host port and on `port`'s host address, on
/// every address, or (publishing on every address) on any address.
pub fn in_the_way(port: &PortMapping) -> Option<Listener> {
    let (files, state) = match port.proto {
        Proto::Tcp => (["/proc/net/tcp", "/proc/net/tcp6"], "0A"),
        Proto::Udp => (["/proc/net/udp", "/proc/net/udp6"], "07"),
    };
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        if let Some(inode) = find(&text, port, state) {
            let pid = owner_of(inode);
            let name = pid.and_then(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .ok()
                    .map(|c| c.trim().to_string())
            });
            return Some(Listener { pid, name });
        }
    }
    None
}

/// The inode of the first socket in `table` (a /proc/net file) in `state`
/// on `port`'s host port and a clashing address.
fn find(table: &str, port: &PortMapping, state: &str) -> Option<u64> {
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(st), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9))
        else {
            continue;
        };
        if *st != state {
            continue;
        }
        let Some((addr, hex_port)) = local.rsplit_once(':') else {
            continue;
        };
        if u16::from_str_radix(hex_port, 16).ok() != Some(port.host_port) {
            continue;
        }
        let clashes = match address(addr) {
            // Every address (:: takes IPv4 too unless IPV6_V6ONLY).
            None => true,
            Some(ip) => port.clashes_with(&PortMapping {
                host_ip: ip,
                ..*port
            }),
        };
        if clashes {
            return inode.parse().ok();
        }
    }
    None
}

/// The address of a /proc/net address column: 8 hex digits (the
/// `__be32` printed as a host-order number), or 32 for IPv6 (four such
/// words), whose v4-mapped form gives its IPv4 address. `None`: the IPv6
/// any address `::`, which takes every address.
fn address(hex: &str) -> Option<IpAddr> {
    let word = |h: &str| u32::from_str_radix(h, 16).ok();
    match hex.len() {
        8 => word(hex).map(|w| IpAddr::V4(Ipv4Addr::from(w.to_ne_bytes()))),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(&hex[i * 8..i * 8 + 8])?.to_ne_bytes());
            }
            let ip = Ipv6Addr::from(bytes);
            if ip.is_unspecified() {
                None
            } else if let Some(v4) = ip.to_ipv4_mapped() {
                Some(IpAddr::V4(v4))
            } else {
                Some(IpAddr::V6(ip))
            }
        }
        _ => None,
    }
}

/// The process holding socket `inode` (a walk of /proc/*/fd: done only
/// when a port is in the way).
fn owner_of(inode: u64) -> Option<u32> {
    let wanted = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == wanted.as_str()) {
                return Some(pid);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17 1 0000000000000000 100 0 0 10 0
   2: 0100007F:2328 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 99 1 0000000000000000 100 0 0 10 0";

    fn tcp(ip: [u8; 4], host_port: u16) -> PortMapping {
        PortMapping {
            host_ip: ip.into(),
            host_port,
            port: 80,
            proto: Proto::Tcp,
        }
    }

    #[test]
    fn listeners_in_the_way_are_found_by_port_and_address() {
        // 127.0.0.1:8080 listens: publishing on every address or on
        // 127.0.0.1 clashes, on another address not.
        assert_eq!(find(TCP, &tcp([0, 0, 0, 0], 8080), "0A"), Some(4242));
        assert_eq!(find(TCP, &tcp([127, 0, 0, 1], 8080), "0A"), Some(4242));
        assert_eq!(find(TCP, &tcp([10, 0, 0, 1], 8080), "0A"), None);
        // *:22 listens: every address of port 22 clashes.
        assert_eq!(find(TCP, &tcp([10, 0, 0, 1], 22), "0A"), Some(17));
        // An established connection from port 9000 is no listener.
        assert_eq!(find(TCP, &tcp([0, 0, 0, 0], 9000), "0A"), None);
    }

    #[test]
    fn v4_mapped_ipv6_addresses_read_as_ipv4() {
        assert_eq!(
            address("0000000000000000FFFF00000100007F"),
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
        assert_eq!(address("00000000000000000000000000000000"), None);
        // ::1 as /proc/net/tcp6 prints it: four host-order words.
        assert_eq!(
            address("00000000000000000000000001000000"),
            Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
    }
}
