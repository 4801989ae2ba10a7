//! Forgetting the connections of a sandbox that goes (ctnetlink,
//! `linux/netfilter/nfnetlink_conntrack.h`): a published port's
//! connection-tracking entry keeps its translation for as long as packets
//! come, so a client that keeps sending from one source port (syslog,
//! statsd, DNS over UDP) would keep reaching the address of a sandbox that
//! is gone, never the one that published the port next. Docker flushes
//! these entries too.

use super::nft::{Attrs, Socket, parse_attrs};
use anyhow::{Result, bail};
use std::net::IpAddr;

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_ZONE: u16 = 18;
const CTA_TUPLE_IP: u16 = 1;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V6_SRC: u16 = 3;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// Deletes every connection-tracking entry from or to `ip` (its original
/// source, or the source of its replies: the translated destination), of
/// its family. Returns how many went; entries that ended meanwhile are
/// fine.
pub fn forget(ip: impl Into<IpAddr>) -> Result<usize> {
    let ip: IpAddr = ip.into();
    let family = if ip.is_ipv4() { AF_INET } else { AF_INET6 };
    let socket = Socket::open()?;
    let objects = match socket.dump_of(
        NFNL_SUBSYS_CTNETLINK,
        IPCTNL_MSG_CT_GET,
        family,
        &Attrs::default(),
    )? {
        Ok(objects) => objects,
        Err(errno) => bail!(
            "list connection tracking entries: {}",
            std::io::Error::from_raw_os_error(errno)
        ),
    };
    let mut forgotten = 0;
    for body in objects.iter().filter(|b| b.len() >= 4) {
        let Some(delete) = deletion_if_involving(&body[4..], ip) else {
            continue;
        };
        match socket.request(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_DELETE, family, &delete)? {
            0 => forgotten += 1,
            libc::ENOENT => {}
            errno => bail!(
                "delete a connection tracking entry of {ip}: {}",
                std::io::Error::from_raw_os_error(errno)
            ),
        }
    }
    Ok(forgotten)
}

/// The attributes deleting the entry `entry` (a dump's attributes) if it
/// involves `ip`: its original tuple (and zone) as the kernel gave them.
fn deletion_if_involving(entry: &[u8], ip: IpAddr) -> Option<Attrs> {
    let attrs = parse_attrs(entry);
    let find = |kind: u16| attrs.iter().find(|(k, _)| *k == kind).map(|(_, v)| *v);
    let original = find(CTA_TUPLE_ORIG)?;
    let involved = [find(CTA_TUPLE_ORIG), find(CTA_TUPLE_REPLY)]
        .into_iter()
        .flatten()
        .any(|tuple| source_of(tuple) == Some(ip));
    if !involved {
        return None;
    }
    let mut delete = Attrs::default();
    delete.nest(CTA_TUPLE_ORIG, |tuple| {
        tuple.raw(original);
    });
    if let Some(zone) = find(CTA_ZONE) {
        delete.bytes(CTA_ZONE, zone);
    }
    Some(delete)
}

/// The source address of a tuple (`CTA_TUPLE_IP` → `CTA_IP_V4_SRC` or
/// `CTA_IP_V6_SRC`).
fn source_of(tuple: &[u8]) -> Option<IpAddr> {
    let ip = parse_attrs(tuple)
        .into_iter()
        .find(|(k, _)| *k == CTA_TUPLE_IP)?
        .1;
    parse_attrs(ip).into_iter().find_map(|(k, src)| match k {
        CTA_IP_V4_SRC => <[u8; 4]>::try_from(src).ok().map(IpAddr::from),
        CTA_IP_V6_SRC => <[u8; 16]>::try_from(src).ok().map(IpAddr::from),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn tuple(src: [u8; 4], dst: [u8; 4]) -> Attrs {
        let mut t = Attrs::default();
        t.nest(CTA_TUPLE_IP, |ip| {
            ip.bytes(CTA_IP_V4_SRC, &src).bytes(2, &dst);
        });
        t
    }

    #[test]
    fn an_entry_translated_to_the_sandbox_is_deleted_by_its_original_tuple() {
        // A client 10.0.9.2 -> host 10.0.9.1, translated to 10.0.0.5: the
        // reply comes from 10.0.0.5.
        let mut entry = Attrs::default();
        let orig = tuple([10, 0, 9, 2], [10, 0, 9, 1]);
        entry.nest(CTA_TUPLE_ORIG, |a| {
            a.raw(orig.as_bytes());
        });
        entry.nest(CTA_TUPLE_REPLY, |a| {
            a.raw(tuple([10, 0, 0, 5], [10, 0, 9, 2]).as_bytes());
        });
        let sandbox = IpAddr::from(Ipv4Addr::new(10, 0, 0, 5));
        let delete = deletion_if_involving(entry.as_bytes(), sandbox).expect("involved");
        let attrs = parse_attrs(delete.as_bytes());
        assert_eq!(attrs.len(), 1);
        assert_eq!(attrs[0].1, orig.as_bytes());
        assert!(deletion_if_involving(entry.as_bytes(), [10, 0, 0, 6].into()).is_none());
        // An IPv6 entry: a reply from fdb2:1::5.
        let mut six = Attrs::default();
        let mut orig6 = Attrs::default();
        orig6.nest(CTA_TUPLE_IP, |ip| {
            ip.bytes(
                CTA_IP_V6_SRC,
                &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            );
        });
        let mut reply6 = Attrs::default();
        let sandbox6: std::net::Ipv6Addr = "fdb2:1::5".parse().unwrap();
        reply6.nest(CTA_TUPLE_IP, |ip| {
            ip.bytes(CTA_IP_V6_SRC, &sandbox6.octets());
        });
        six.nest(CTA_TUPLE_ORIG, |a| {
            a.raw(orig6.as_bytes());
        });
        six.nest(CTA_TUPLE_REPLY, |a| {
            a.raw(reply6.as_bytes());
        });
        assert!(deletion_if_involving(six.as_bytes(), sandbox6.into()).is_some());
        assert!(deletion_if_involving(six.as_bytes(), sandbox).is_none());
    }
}
