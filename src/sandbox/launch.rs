//! `sbx run`: the launch as one pass of named steps, each with its undo,
//! then the wait, then the cleanup. In the foreground, this process waits;
//! with `-d`, a supervisor does (see `supervisor`).

use super::kernel::{Host, Kernel};
use super::{cleanup, reserve, supervisor};
use crate::fs::etc_files;
use crate::fs::hosts::NetworkHosts;
use crate::net::{Netlink, netns, veth};
use crate::process::{self, Child};
use crate::spec::{SandboxRequest, SandboxSpec};
use crate::state::liveness::ProcessId;
use crate::state::{SandboxRecord, SandboxState, StateRoot};
use crate::undo::Undo;
use anyhow::{Context, Result};
use nix::unistd::Pid;
use std::cell::Cell;
use std::fs::File;
use std::io::IsTerminal;
use std::os::fd::OwnedFd;

/// Runs a sandbox and returns the exit status `sbx run` reports.
pub fn run(root: &StateRoot, request: &SandboxRequest) -> Result<i32> {
    crate::crash::point("start");
    let nonce = nonce();
    let tty = std::io::stdin().is_terminal();
    let generated = || generated_name(nonce);
    let spec = SandboxSpec::from_request(request, generated, |k| std::env::var(k).ok(), tty)?;
    let nl = Netlink::new()?;
    crate::crash::point("parse");

    let reservation = reserve::reserve(root, &nl, &spec, nonce)?;
    crate::crash::point("reserve");
    if spec.detach {
        // The supervisor opens its own sockets: nothing of this runtime
        // may be shared across the fork.
        drop(nl);
        return supervisor::detach(root, reservation, &spec);
    }
    let terminal = process::pty::Stdio::of_sbx();
    let mut started = start(root, reservation, &spec, nl, terminal)?;
    let status = match (started.terminal.take(), terminal) {
        (Some(master), Some(on)) => {
            process::relay::relay(started.pid, master, on, &process::wait_set())
        }
        _ => process::wait_forwarding(started.pid, &process::wait_set()),
    };

    crate::crash::point("exited");
    if let Err(e) = cleanup::finish(&Host, root, started.record, Some(status)) {
        crate::log::warn(&format!("{e:#}"));
    }
    Ok(status)
}

/// Launches an already checked spec in the background, as `sbx run -d`
/// does after validation: reserve, then the supervisor. For faces that
/// validated their own request (`sbx lab up` checks every sandbox before
/// making anything, then launches each through this, in parallel
/// processes). Prints the name and returns 0 once it runs; errors are the
/// launch's own, everything it made undone.
pub fn detach_spec(root: &StateRoot, spec: &SandboxSpec) -> Result<i32> {
    if !spec.detach {
        anyhow::bail!("internal: a spec launched by a face must be detached");
    }
    let nl = Netlink::new()?;
    let reservation = reserve::reserve(root, &nl, spec, nonce())?;
    // The supervisor opens its own sockets: nothing of this runtime may be
    // shared across its fork.
    drop(nl);
    supervisor::detach(root, reservation, spec)
}

/// A sandbox whose command has been let go.
pub struct Started {
    /// Its record, as written (`running`).
    pub record: SandboxRecord,
    /// Its init's PID.
    pub pid: Pid,
    /// The master side of the command's terminal, when it has one.
    pub terminal: Option<OwnedFd>,
}

/// Steps 3 to 5 for a reserved sandbox: clone the init, pin its netns,
/// wire its network, hear the init's report, record it `running`, release
/// it. On failure every step is undone, the record included, and the error
/// is the init's own reason when it had one. With `terminal`, the command
/// gets a pty of the sandbox's own, sized like sbx's terminal. The caller's
/// forwarded signals stay blocked from here on, to be taken by
/// `process::wait_forwarding` (or `process::relay`).
pub fn start(
    root: &StateRoot,
    reservation: reserve::Reservation,
    spec: &SandboxSpec,
    nl: Netlink,
    terminal: Option<process::pty::Stdio>,
) -> Result<Started> {
    start_held(root, reservation, spec, nl, terminal, None)
}

/// What holds a launch between the init's report and its release (OCI's
/// `create` until `start`, see `held`): given the record with the init's
/// PID, it answers `Ok(true)` to go on, `Ok(false)` when the init died
/// while held (the sandbox then ends like any other), or an error, which
/// undoes the launch.
pub type Hold<'a> = &'a mut dyn FnMut(&SandboxRecord) -> Result<bool>;

/// [`start`], held by `hold` (when given) before the release.
pub fn start_held(
    root: &StateRoot,
    reservation: reserve::Reservation,
    spec: &SandboxSpec,
    nl: Netlink,
    terminal: Option<process::pty::Stdio>,
    hold: Option<Hold>,
) -> Result<Started> {
    let mut record = reservation.record;
    // What the launch has made so far, for its one undo: the init once
    // cloned; the netns pin unless another state root's file was in its way.
    let init = Cell::new(None);
    let pin_ours = Cell::new(true);
    let mut undo = Undo::new();
    let reserved = record.clone();
    let again = reservation.again;
    let (made_init, made_pin) = (&init, &pin_ours);
    undo.push("release what the launch made", move || {
        let mut made = reserved;
        if !made_pin.get() {
            made.netns = None;
        }
        cleanup::undo_launch(&Host, root, made, made_init.get(), again)
    });

    // The record names the image's layers now: are they all still there?
    if let Some(image) = &spec.fs.image {
        crate::image::check_layers(&image.name, &spec.fs.overlay)?;
    }
    if let Some((net, _)) = reservation.networks.first() {
        super::publish::publish(&Host, root, &record, net)?;
    }
    let dir = root.sandbox_dir(&record.spec.name);
    let joined: Vec<etc_files::Joined> = (record.links.iter())
        .zip(reservation.neighbours)
        .map(|(link, neighbours)| etc_files::Joined {
            ip: link.ip,
            hosts: NetworkHosts::at(root.network_hosts(&link.network)),
            seed: neighbours,
        })
        .collect();
    etc_files::write(&dir, &spec.name, &spec.hostname, joined)?;
    if !spec.fs.overlay.is_empty() {
        crate::fs::overlay::prepare(&dir)?;
    }
    // The cgroups (device allow list, limits) were made and recorded by
    // the reservation, in its one record write.
    process::wait_set()
        .thread_block()
        .context("block signals")?;
    // The init joins its cgroups itself, before anything else it does.
    let membership = crate::cgroup::Membership::open(&record.cgroups)?;
    // A template is only a shortcut: without one the init copies the host's.
    let template = process::template::open_or_make(root.path()).unwrap_or_else(|e| {
        crate::log::warn(&format!("{e:#}; cloning from the host's mount namespace"));
        None
    });
    let mut child = process::spawn(spec, template.as_ref(), &dir, terminal, &membership)?;
    drop(template);
    drop(membership);
    let pid = child.pid;
    init.set(Some(pid));
    crate::crash::point("clone");
    let wired = pin_and_wire(&pin_ours, &nl, &child, &record, &reservation.networks);
    // The runtime and its sockets go now: a socket inside the sandbox's netns
    // would keep that namespace (and its veth) alive after the sandbox ends.
    drop(nl);
    let master = match wired.and_then(|()| child.wait_ready()) {
        Ok(master) => master,
        Err(e) => return Err(child.explain(e)),
    };
    crate::crash::point("network");

    record.init = ProcessId::of(pid.as_raw());
    if let Some(hold) = hold
        && !hold(&record)?
    {
        // Ended while held: nothing to release; the caller reaps it.
        undo.commit();
        return Ok(Started {
            record,
            pid,
            terminal: master,
        });
    }
    record.state = SandboxState::Running;
    // Not a rewrite of the record: one symlink naming the init, whose
    // liveness the kernel tells (see `StateRoot::mark_running`).
    match record.init {
        Some(init) => root.mark_running(&record.spec.name, init)?,
        None => root.write_sandbox(&record)?,
    }
    crate::crash::point("running");
    if let Some(master) = &master {
        process::pty::copy_window_size_from_stdin(master);
    }
    child.release()?;
    undo.commit();
    crate::crash::point("released");
    Ok(Started {
        record,
        pid,
        terminal: master,
    })
}

/// Steps 3 and 4: the init's netns pinned under /run/netns, its network
/// wired. The undo releases both (the veth goes with the namespace); a pin
/// refused because another state root's file has that name is not ours to
/// remove (`pin_ours` says so). (The init joined its cgroups itself.)
fn pin_and_wire(
    pin_ours: &Cell<bool>,
    nl: &Netlink,
    child: &Child,
    record: &SandboxRecord,
    networks: &[(crate::state::NetworkRecord, crate::network::Attachment)],
) -> Result<()> {
    if !record.spec.namespaces.own_network() {
        // A shared or joined netns is somebody else's: not pinned, not wired.
        return Ok(());
    }
    let netns_path = record
        .netns
        .clone()
        .unwrap_or_else(|| netns::path_for(&record.spec.name));
    if let Err(e) = Host.pin_netns(child.pid, &netns_path) {
        let foreign = netns_path.exists() && !is_pinned_by(child.pid, &netns_path);
        pin_ours.set(!foreign);
        return Err(e);
    }
    crate::crash::point("netns");
    wire_network(nl, child, record, networks)
}

/// Whether `path` pins the netns of `pid` (same namespace inode).
fn is_pinned_by(pid: Pid, path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let ns = std::fs::metadata(format!("/proc/{pid}/ns/net"));
    match (ns, std::fs::metadata(path)) {
        (Ok(ns), Ok(pin)) => ns.dev() == pin.dev() && ns.ino() == pin.ino(),
        _ => false,
    }
}

/// Step 3: a veth pair onto each network's bridge (`eth0`, `eth1`, ...
/// inside, in the record's order) with the sandbox side's address and
/// links, the default route via the first; with no network, just `lo` up.
/// (Each MAC follows from its address: see `veth::sandbox_mac`.)
fn wire_network(
    nl: &Netlink,
    child: &Child,
    record: &SandboxRecord,
    networks: &[(crate::state::NetworkRecord, crate::network::Attachment)],
) -> Result<()> {
    let netns_file =
        File::open(format!("/proc/{}/ns/net", child.pid)).context("open the sandbox's netns")?;
    let inside = nl.handle_in(&netns_file)?;
    if record.links.is_empty() {
        return nl.block_on(veth::loopback_up(&inside));
    }
    for (i, (link, (net, attachment))) in record.links.iter().zip(networks).enumerate() {
        let mtu = net.mtu.unwrap_or(attachment.mtu);
        // Before the port exists, so it never sends unchecked (and a port
        // without its element drops everything anyway).
        Host.guard_port(&cleanup::port_of(record, link))?;
        let host_ifname = link.veth.as_str();
        nl.block_on(veth::create(
            nl.host(),
            host_ifname,
            &netns_file,
            &link.ifname,
            attachment.bridge_index,
            mtu,
            link.ip,
        ))?;
        crate::crash::point("veth");
        if i == 0 && !record.spec.ports.is_empty() {
            veth::set_hairpin(host_ifname)?;
        }
        let prefix = net.subnet.prefix();
        let default_via = (i == 0).then_some(net.gateway);
        nl.block_on(veth::configure_inside(
            &inside,
            &link.ifname,
            link.ip,
            prefix,
            default_via,
            inside6(net, link, i == 0),
        ))?;
        // Reachable before the record says running (see net::ready).
        let bridge = net.bridge.as_str();
        let ready =
            crate::net::ready::await_link(nl.host(), host_ifname, bridge, &inside, &link.ifname);
        if let Some(warning) = nl.block_on(ready)? {
            crate::log::warn(&warning);
        }
    }
    Ok(())
}

/// The IPv6 side of a link on a dual-stack network (`None` on an IPv4-only
/// one): its address with the subnet's prefix and, on the first network,
/// the IPv6 default route via the network's gateway6.
pub(super) fn inside6(
    net: &crate::state::NetworkRecord,
    link: &crate::state::Link,
    first: bool,
) -> Option<veth::Inside6> {
    let (ip, subnet6) = (link.ip6?, net.subnet6?);
    Some(veth::Inside6 {
        ip,
        prefix: subnet6.prefix(),
        default_via: net.gateway6.filter(|_| first),
    })
}

/// A per-launch random-enough number: names and veth names derive from it.
pub(super) fn nonce() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    now ^ (u64::from(std::process::id()) << 32)
}

/// Twelve hex digits, like Docker's short container ids, when the user gave
/// no `--name`: no `sbx-` of its own, since the netns adds one
/// (`/run/netns/sbx-1a2b3c4d5e6f`). Valid under the SPEC's name rule.
fn generated_name(nonce: u64) -> String {
    format!(
        "{:012x}",
        crate::hash::fnv1a(&nonce.to_le_bytes()) & 0xffff_ffff_ffff
    )
}
