//! `sbx network connect [--ip ADDR] NET SANDBOX` and `sbx network
//! disconnect NET SANDBOX` (SPEC "Trust", More networks): one more
//! interface (`eth1`, ...) on a running sandbox, or one less, with its
//! lease, its anti-spoofing element and its names; the default route is
//! never touched. Both hold the state root's lock (the lease index) and
//! the sandbox's own (its cleanup reads its links under it).

use super::kernel::{Host, Kernel};
use super::{cleanup, find, launch, reserve, reserve6};
use crate::fs::hosts::{self, NetworkHosts};
use crate::model::NetworkRequest;
use crate::net::{Netlink, veth};
use crate::state::records::Status;
use crate::state::{Link, SandboxRecord, StateRoot};
use crate::undo::Undo;
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;

/// Gives the running sandbox `name` an interface on `network`, at `ip` or
/// the lowest free address (and on a dual-stack network at `ip6` or the
/// lowest free IPv6 address).
pub fn connect(
    root: &StateRoot,
    network: &str,
    name: &str,
    ip: Option<&str>,
    ip6: Option<&str>,
) -> Result<()> {
    let wanted = ip
        .map(|text| {
            text.parse::<Ipv4Addr>().map_err(|_| {
                anyhow::anyhow!("--ip {text:?} is not an IPv4 address: write it like 10.11.0.10")
            })
        })
        .transpose()?;
    let wanted6 = ip6
        .map(|text| {
            text.parse::<std::net::Ipv6Addr>().map_err(|_| {
                anyhow::anyhow!(
                    "--ip6 {text:?} is not an IPv6 address: write it like fd42:1::10 (no brackets, no /prefix)"
                )
            })
        })
        .transpose()?;
    let _root_lock = root.lock()?;
    let _lock = lock(root, name)?;
    let mut record = running(root, name)?;
    if record.link_on(network).is_some() {
        bail!("sandbox {name} is already on network {network}");
    }
    let Some(net) = root.network(network)? else {
        bail!("network {network} not found: create it with 'sbx network create {network}'");
    };
    let init = record.init.context("the sandbox has no init")?;
    let nl = Netlink::new()?;
    let leases = root.leases(&net.name);
    if !leases.exists() {
        reserve::build_index(root, &nl, &net)?;
    }
    if wanted6.is_some() && net.subnet6.is_none() {
        bail!(
            "network {network} has no IPv6 (it was created without --subnet6): drop --ip6, or use a dual-stack network"
        );
    }
    let taken = reserve::take_address(root, &leases, &net, wanted, &record.spec, true, false)?;
    let Some((ip, neighbours)) = taken else {
        bail!("no address could be taken on network {network}");
    };
    let ip6 = if net.subnet6.is_some() {
        let taken6 =
            reserve6::take_address6(root, &leases, &net, wanted6, &record.spec, true, false);
        match taken6 {
            Ok(Some((ip6, _))) => Some(ip6),
            Ok(None) => {
                let _ = leases.release(ip, name);
                bail!("no IPv6 address could be taken on network {network}");
            }
            Err(e) => {
                let _ = leases.release(ip, name);
                return Err(e);
            }
        }
    } else {
        None
    };
    let link = Link {
        network: net.name.clone(),
        ip,
        ip6,
        veth: veth::host_name(name, launch::nonce()),
        ifname: free_ifname(&record, init.pid),
    };
    let mut undo = Undo::new();
    let (undo_link, undo_name) = (link.clone(), name.to_string());
    let trusted = record.spec.allow_spoofing;
    undo.push("give the new interface back", move || {
        let port = cleanup::port_of_link(&undo_link, trusted);
        let _ = nl_delete(&undo_link.veth);
        let _ = Host.unguard_port(&port);
        NetworkHosts::at(root.network_hosts(&undo_link.network)).leave(undo_link.ip, &undo_name)?;
        if let Some(ip6) = undo_link.ip6 {
            root.leases(&undo_link.network).release(ip6, &undo_name)?;
        }
        root.release_lease(&undo_link.network, undo_link.ip, &undo_name)
    });

    let attachment = crate::network::ensure_ready(&nl, &net)?;
    Host.guard_port(&cleanup::port_of(&record, &link))?;
    let netns =
        File::open(format!("/proc/{}/ns/net", init.pid)).context("open the sandbox's netns")?;
    let inside = nl.handle_in(&netns)?;
    let mtu = net.mtu.unwrap_or(attachment.mtu);
    nl.block_on(veth::create(
        nl.host(),
        &link.veth,
        &netns,
        &link.ifname,
        attachment.bridge_index,
        mtu,
        ip,
    ))?;
    // A sandbox with no network yet gets its default route here; one with
    // a network keeps its route (SPEC "Trust": connect never changes it).
    let default_via = record.links.is_empty().then_some(net.gateway);
    nl.block_on(veth::configure_inside(
        &inside,
        &link.ifname,
        ip,
        net.subnet.prefix(),
        default_via,
        launch::inside6(&net, &link, record.links.is_empty()),
    ))?;
    let ready =
        crate::net::ready::await_link(nl.host(), &link.veth, &net.bridge, &inside, &link.ifname);
    if let Some(warning) = nl.block_on(ready)? {
        crate::log::warn(&warning);
    }
    drop(inside);
    drop(nl);

    record.links.push(link.clone());
    record.spec.networks.push(NetworkRequest {
        name: net.name.clone(),
        ip: wanted,
        ip6: wanted6,
    });
    let seed: Vec<(String, Ipv4Addr)> = neighbours
        .into_iter()
        .filter(|(held, holder)| *held != ip && holder != name && holder != "?")
        .map(|(held, holder)| (holder, held))
        .collect();
    own_hosts_file(root, &record, init.pid)?;
    let names = hosts::own_names(name, &record.spec.hostname);
    NetworkHosts::at(root.network_hosts(&net.name)).join(ip, &names, || seed)?;
    root.write_sandbox(&record)?;
    undo.commit();
    Ok(())
}

/// Takes the running sandbox `name` off `network`: its interface, its
/// address, its element and its names there go.
pub fn disconnect(root: &StateRoot, network: &str, name: &str) -> Result<()> {
    let _root_lock = root.lock()?;
    let _lock = lock(root, name)?;
    let mut record = running(root, name)?;
    let Some(position) = record.links.iter().position(|l| l.network == network) else {
        bail!("sandbox {name} is not on network {network}");
    };
    if position == 0 && !record.spec.ports.is_empty() {
        bail!(
            "sandbox {name} publishes ports to its address on {network}: it cannot leave that network while it runs; remove it and run it again without -p"
        );
    }
    let init = record.init.context("the sandbox has no init")?;
    let link = record.links.remove(position);
    record.spec.networks.retain(|n| n.name != network);
    let nl = Netlink::new()?;
    nl.block_on(veth::delete(nl.host(), &link.veth))?;
    // Its default route went with that interface: the next network, now
    // its first, gives it one (as a restart would), so it is not cut off.
    if position == 0
        && let Some(next) = record.links.first()
        && let Some(net) = root.network(&next.network)?
    {
        let netns =
            File::open(format!("/proc/{}/ns/net", init.pid)).context("open the sandbox's netns")?;
        let inside = nl.handle_in(&netns)?;
        nl.block_on(veth::default_route(&inside, &next.ifname, net.gateway))?;
        if let (Some(_), Some(gateway6)) = (next.ip6, net.gateway6) {
            nl.block_on(veth::default_route6(&inside, &next.ifname, gateway6))?;
        }
    }
    drop(nl);
    let port = cleanup::port_of_link(&link, record.spec.allow_spoofing);
    Host.unguard_port(&port)?;
    // Its impairments and partition elements there go with the interface.
    if super::impair::recorded(root, name) {
        Host.unimpair_port(&port)?;
        super::impair::forget(root, name, Some(&link.ifname))?;
    }
    if super::partition::named(root, name) {
        Host.unpartition_port(&port)?;
    }
    NetworkHosts::at(root.network_hosts(network)).leave(link.ip, name)?;
    own_hosts_file(root, &record, init.pid)?;
    root.release_lease(network, link.ip, name)?;
    if let Some(ip6) = link.ip6 {
        root.leases(network).release(ip6, name)?;
    }
    root.write_sandbox(&record)
}

/// The sandbox's own lock, once its name is known to be one.
fn lock(root: &StateRoot, name: &str) -> Result<crate::state::Lock> {
    find(root, name)?;
    root.lock_sandbox(name)
}

/// The sandbox `name`, which must be running.
fn running(root: &StateRoot, name: &str) -> Result<SandboxRecord> {
    let record = find(root, name)?;
    if record.status() != Status::Running {
        bail!("sandbox {name} is not running: start it first (see 'sbx ps -a')");
    }
    Ok(record)
}

/// `eth0`, `eth1`, ...: the first index no link of the sandbox uses.
fn free_ifname(record: &SandboxRecord, init: i32) -> String {
    // Its own /sys (mounted at its launch) lists the interfaces of its
    // netns, those it made itself included.
    let taken_inside = |name: &str| {
        std::path::Path::new(&format!("/proc/{init}/root/sys/class/net/{name}")).exists()
    };
    (0..)
        .map(veth::sandbox_ifname)
        .find(|candidate| {
            record.links.iter().all(|l| &l.ifname != candidate) && !taken_inside(candidate)
        })
        .unwrap_or_else(|| veth::sandbox_ifname(record.links.len()))
}

/// After its networks changed, the sandbox's hosts file becomes (or stays)
/// its own, the union of its networks' files, registered with each. If
/// the file its /etc/hosts shows is not that one (it shared its one
/// network's), the own one is mounted over it from inside its mount
/// namespace.
fn own_hosts_file(root: &StateRoot, record: &SandboxRecord, init: i32) -> Result<()> {
    let dir = root.sandbox_dir(&record.spec.name);
    // A link to its network's file stays where it is (the mount at its
    // launch stands on it); its own file is then `hosts.own`.
    let linked = std::fs::metadata(dir.join("hosts")).is_ok_and(|m| m.nlink() > 1);
    let path = if linked || dir.join("hosts.own").exists() {
        dir.join("hosts.own")
    } else {
        dir.join("hosts")
    };
    let nets: Vec<NetworkHosts> = (record.links.iter())
        .map(|l| NetworkHosts::at(root.network_hosts(&l.network)))
        .collect();
    let all: Vec<&NetworkHosts> = nets.iter().collect();
    for net in &nets {
        net.register(&record.spec.name, &path, &all)?;
    }
    let files: Vec<std::path::PathBuf> = nets.iter().map(|n| n.path().to_path_buf()).collect();
    if files.is_empty() {
        let names = hosts::own_names(&record.spec.name, &record.spec.hostname);
        let text = format!("{}127.0.1.1\t{}\n", hosts::LOCALHOST, names.join(" "));
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    } else {
        hosts::unite(&path, &files)?;
    }
    // What the sandbox sees is the file mounted at its launch: if that is
    // not this one (it was the network's), this one goes on top.
    let seen = std::fs::metadata(format!("/proc/{init}/root/etc/hosts"));
    let own = std::fs::metadata(&path)?;
    if !seen.is_ok_and(|s| s.dev() == own.dev() && s.ino() == own.ino()) {
        crate::process::mount_in(init, &path, std::path::Path::new("/etc/hosts"))?;
    }
    Ok(())
}

fn nl_delete(veth_name: &str) -> Result<()> {
    let nl = Netlink::new()?;
    nl.block_on(veth::delete(nl.host(), veth_name))
}
