//! The veth pair that plugs a sandbox into its bridge, and the sandbox side's
//! addresses and routes: the whole wiring is a handful of netlink requests.

use super::{describe, errno};
use anyhow::{Context, Result, bail};
use futures::TryStreamExt;
use rtnetlink::packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoData, InfoVeth, LinkAttribute,
};
use rtnetlink::{Handle, LinkUnspec, LinkVeth, RouteMessageBuilder};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

/// The loopback interface's index, the same in every network namespace.
const LOOPBACK_INDEX: u32 = 1;

/// A host-side veth name unique to one launch (`sbx` + 8 hex digits, within
/// the kernel's 15 bytes): teardown is asynchronous in the kernel, so a name
/// must never be reused right after its sandbox ended.
pub fn host_name(sandbox: &str, nonce: u64) -> String {
    let mut bytes = sandbox.as_bytes().to_vec();
    bytes.extend_from_slice(&nonce.to_le_bytes());
    format!("sbx{:08x}", crate::hash::fnv1a(&bytes) as u32)
}

/// The first two bytes of every sandbox's MAC address (see `sandbox_mac`).
/// 0x0a has the locally administered bit (0x02) set and the multicast bit
/// (0x01) clear, so it can never clash with a vendor's address; its first
/// byte differs from the 0x02 of the bridges' pinned MACs
/// (`bridge::stable_mac`), so no sandbox ever shares its bridge's MAC; and
/// it differs from Docker's 02:42, so a sandbox and a container holding the
/// same address on one adopted bridge do not share a MAC either. 0x53 is
/// 'S', for sbx.
pub const SANDBOX_MAC_PREFIX: [u8; 2] = [0x0a, 0x53];

/// The MAC address of the sandbox holding `ip`: the prefix and the four
/// address bytes, as Docker does. An address always comes with the same
/// MAC, so when a sandbox is removed and another takes its address, the
/// neighbours' ARP caches (which keep an entry up to ~30 s, then probe the
/// old MAC by unicast) stay right and the new sandbox is reachable at once.
pub fn sandbox_mac(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    let [p, q] = SANDBOX_MAC_PREFIX;
    [p, q, a, b, c, d]
}

/// [`sandbox_mac`] as records and `inspect` show it: `0a:53:0a:0b:00:02`.
pub fn sandbox_mac_text(ip: Ipv4Addr) -> String {
    sandbox_mac(ip).map(|b| format!("{b:02x}")).join(":")
}

/// The sandbox side's name of its `index`th network: `eth0`, `eth1`, ...
pub fn sandbox_ifname(index: usize) -> String {
    format!("eth{index}")
}

/// Lets frames the bridge received on the sandbox's port go back out of
/// it (`hairpin_mode`, linux/if_bridge.h's BR_HAIRPIN_MODE): a sandbox
/// reaching its own published port through the host needs it when the
/// host's bridge hands IPv4 to netfilter (br_netfilter), which then
/// bridges the translated frame back towards its sender.
pub fn set_hairpin(host_ifname: &str) -> Result<()> {
    let path = format!("/sys/class/net/{host_ifname}/brport/hairpin_mode");
    std::fs::write(&path, "1").with_context(|| format!("set {path}"))
}

/// Deletes the pair by its host end's name (both ends go); already gone is
/// fine.
pub async fn delete(host: &Handle, host_ifname: &str) -> Result<()> {
    let Some(link) = crate::net::bridge::find(host, host_ifname).await? else {
        return Ok(());
    };
    match host.link().del(link.index).execute().await {
        Err(e) if errno(&e) != Some(libc::ENODEV) => {
            Err(describe(e)).with_context(|| format!("delete veth {host_ifname}"))
        }
        _ => Ok(()),
    }
}

/// Creates the pair in one request: the host end up and on the bridge, the
/// peer born inside the sandbox's netns as `ifname` (`eth0`, ...) with the
/// MAC of its address `ip` (it must be brought up from inside); then turns
/// IPv6 off on the host end.
pub async fn create(
    host: &Handle,
    host_ifname: &str,
    netns: &impl AsRawFd,
    ifname: &str,
    bridge_index: u32,
    mtu: u32,
    ip: Ipv4Addr,
) -> Result<()> {
    let peer = LinkUnspec::new_with_name(ifname)
        .mtu(mtu)
        .address(sandbox_mac(ip).to_vec())
        .setns_by_fd(netns.as_raw_fd())
        .build();
    let message = LinkVeth::new(host_ifname, ifname)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .controller(bridge_index)
        .mtu(mtu)
        .up()
        .build();
    host.link()
        .add(message)
        .execute()
        .await
        .map_err(describe)
        .with_context(|| format!("create veth {host_ifname}"))?;
    // A bridge port needs no IPv6 of its own. Turned off before the
    // carrier comes (with `eth0` up), which is when the kernel would give
    // the port its link-local address, a `fe80::/64` and a `ff00::/8`
    // route: with 1000 sandboxes, 2000 routes in the host's table, which
    // every IPv6 route lookup and every port's removal walked
    // (BENCHMARKS.md, issue 9). One sysctl write; the kernel's own knob
    // for it (Documentation/networking/ip-sysctl.rst, `disable_ipv6`).
    let knob = format!("/proc/sys/net/ipv6/conf/{host_ifname}/disable_ipv6");
    match std::fs::write(&knob, "1") {
        // A kernel without IPv6 has no such knob, and nothing to turn off.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other.with_context(|| format!("turn off IPv6 on {host_ifname}")),
    }
}

/// `IFLA_AF_SPEC` asking for no IPv6 link-local address
/// (`IN6_ADDR_GEN_MODE_NONE`, include/uapi/linux/if_link.h), for a
/// sandbox's `eth0` while its network has no IPv6 (SPEC "IPv6": only
/// dual-stack networks give sandboxes IPv6). Without an address `eth0`
/// sends nothing on its own: no duplicate address detection, no router
/// solicitations, no MLD reports. Those went to every port of the bridge:
/// with 1000 sandboxes on a network, each launch made the kernel deliver
/// about a dozen packets into each of the 1000 namespaces in the following
/// seconds (BENCHMARKS.md, issue 9).
fn no_link_local() -> LinkAttribute {
    LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(vec![AfSpecInet6::AddrGenMode(
        In6AddrGenMode::None,
    )])])
}

/// A sandbox interface's IPv6 side on a dual-stack network (SPEC "IPv6").
#[derive(Clone, Copy, Debug)]
pub struct Inside6 {
    /// Its address.
    pub ip: Ipv6Addr,
    /// The subnet's prefix length.
    pub prefix: u8,
    /// The IPv6 default route's gateway, on the first network only.
    pub default_via: Option<Ipv6Addr>,
}

/// Inside the sandbox: address on `ifname`, it and `lo` up, and with
/// `default_via` the default route via that gateway (the first network's
/// only: SPEC "Sandboxes"). With `v6` (a dual-stack network) also its IPv6
/// address, without duplicate address detection (`IFA_F_NODAD`: sbx's
/// leases made it unique, and it answers at once instead of after DAD's
/// second), and the IPv6 default route.
pub async fn configure_inside(
    sandbox: &Handle,
    ifname: &str,
    ip: Ipv4Addr,
    prefix: u8,
    default_via: Option<Ipv4Addr>,
    v6: Option<Inside6>,
) -> Result<()> {
    let eth0 = find(sandbox, ifname).await?;
    sandbox
        .address()
        .add(eth0, IpAddr::V4(ip), prefix)
        .execute()
        .await
        .map_err(describe)
        .with_context(|| format!("add address {ip}/{prefix} to {ifname}"))?;
    if let Some(v6) = &v6 {
        let mut request = sandbox.address().add(eth0, IpAddr::V6(v6.ip), v6.prefix);
        super::bridge::nodad(request.message_mut());
        request
            .execute()
            .await
            .map_err(describe)
            .with_context(|| format!("add address {}/{} to {ifname}", v6.ip, v6.prefix))?;
    }
    // No link-local address, in the same request that brings it up (the
    // kernel applies the mode first: no address is ever made). A
    // dual-stack interface needs none either: its neighbour discovery
    // runs from its global address, which DAD never holds back.
    let up = LinkUnspec::new_with_index(eth0)
        .up()
        .append_extra_attribute(no_link_local())
        .build();
    match sandbox.link().set(up).execute().await {
        Ok(()) => {}
        // Below IPv6's minimum MTU (1280, RFC 8200) the kernel gives the
        // interface no IPv6 at all, and refuses IPv6 attributes for it:
        // there is no link-local address to prevent then.
        Err(e) if errno(&e) == Some(libc::EAFNOSUPPORT) && v6.is_none() => {
            let up = LinkUnspec::new_with_index(eth0).up().build();
            sandbox
                .link()
                .set(up)
                .execute()
                .await
                .map_err(describe)
                .with_context(|| format!("bring up {ifname}"))?;
        }
        Err(e) => return Err(describe(e)).with_context(|| format!("bring up {ifname}")),
    }
    loopback_up(sandbox).await?;
    if let Some(gateway) = default_via {
        add_default_route(sandbox, eth0, gateway).await?;
    }
    match v6.and_then(|v6| v6.default_via) {
        Some(gateway6) => add_default_route6(sandbox, eth0, gateway6).await,
        None => Ok(()),
    }
}

/// Inside the sandbox: the IPv6 default route via `gateway` on `ifname`.
pub async fn default_route6(sandbox: &Handle, ifname: &str, gateway: Ipv6Addr) -> Result<()> {
    let index = find(sandbox, ifname).await?;
    add_default_route6(sandbox, index, gateway).await
}

async fn add_default_route6(sandbox: &Handle, index: u32, gateway: Ipv6Addr) -> Result<()> {
    let route = RouteMessageBuilder::<Ipv6Addr>::new()
        .gateway(gateway)
        .output_interface(index)
        .build();
    sandbox
        .route()
        .add(route)
        .execute()
        .await
        .map_err(describe)
        .with_context(|| format!("add IPv6 default route via {gateway}"))
}

/// Inside the sandbox: the default route via `gateway` on `ifname` (for a
/// sandbox whose interface with the old one went away).
pub async fn default_route(sandbox: &Handle, ifname: &str, gateway: Ipv4Addr) -> Result<()> {
    let index = find(sandbox, ifname).await?;
    add_default_route(sandbox, index, gateway).await
}

async fn add_default_route(sandbox: &Handle, index: u32, gateway: Ipv4Addr) -> Result<()> {
    let route = RouteMessageBuilder::<Ipv4Addr>::new()
        .gateway(gateway)
        .output_interface(index)
        .build();
    sandbox
        .route()
        .add(route)
        .execute()
        .await
        .map_err(describe)
        .with_context(|| format!("add default route via {gateway}"))
}

/// Brings `lo` up: all a `--network none` sandbox gets.
pub async fn loopback_up(sandbox: &Handle) -> Result<()> {
    set_up(sandbox, LOOPBACK_INDEX, "lo").await
}

async fn set_up(handle: &Handle, index: u32, name: &str) -> Result<()> {
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(describe)
        .with_context(|| format!("bring up {name}"))
}

/// A link's index and MAC address.
async fn find(handle: &Handle, name: &str) -> Result<u32> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(msg.header.index),
        Ok(None) => bail!("no link {name} in the sandbox"),
        Err(e) if errno(&e) == Some(libc::ENODEV) => bail!("no link {name} in the sandbox"),
        Err(e) => Err(describe(e)).with_context(|| format!("look up {name}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_sandbox_mac_is_its_address_behind_a_local_unicast_prefix() {
        let mac = super::sandbox_mac("10.11.0.7".parse().unwrap());
        assert_eq!(mac, [0x0a, 0x53, 10, 11, 0, 7]);
        assert_eq!(mac[0] & 0x03, 0x02, "locally administered, unicast");
        assert_ne!(
            mac[0],
            crate::net::bridge::stable_mac("sbx0")[0],
            "never a bridge's MAC"
        );
    }

    #[test]
    fn host_names_fit_and_differ_per_launch() {
        let a = super::host_name("web", 1);
        let b = super::host_name("web", 2);
        assert!(a.len() <= 15 && a.starts_with("sbx"));
        assert_ne!(a, b);
    }
}
