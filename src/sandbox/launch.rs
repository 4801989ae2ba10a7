//! `sbx run`: the launch as one pass of named steps, each with its undo,
//! then the wait, then the cleanup. In the foreground, this process waits;
//! with `-d`, a supervisor does (see `supervisor`).

use super::{cleanup, reserve, supervisor};
use crate::cli::RunArgs;
use crate::fs::etc_files;
use crate::net::{Netlink, netns, veth};
use crate::process::{self, Child};
use crate::spec::SandboxSpec;
use crate::state::liveness::ProcessId;
use crate::state::{SandboxRecord, SandboxState, StateRoot};
use crate::undo::Undo;
use anyhow::{Context, Result};
use nix::unistd::Pid;
use std::fs::File;
use std::io::IsTerminal;

/// Runs a sandbox and returns the exit status `sbx run` reports.
pub fn run(root: &StateRoot, args: &RunArgs) -> Result<i32> {
    crate::crash::point("start");
    let nonce = nonce();
    let tty = std::io::stdin().is_terminal();
    let generated = || generated_name(nonce);
    let spec = SandboxSpec::from_args(args, generated, |k| std::env::var(k).ok(), tty)?;
    let nl = Netlink::new()?;
    crate::crash::point("parse");

    let reservation = reserve::reserve(root, &nl, &spec, veth::host_name(&spec.name, nonce))?;
    crate::crash::point("reserve");
    if spec.detach {
        // The supervisor opens its own sockets: nothing of this runtime
        // may be shared across the fork.
        drop(nl);
        return supervisor::detach(root, reservation, &spec);
    }
    let started = start(root, reservation, &spec, nl)?;
    let status = process::wait_forwarding(started.pid, &process::wait_set());
    crate::crash::point("exited");
    if let Err(e) = cleanup::finish(root, started.record, Some(status)) {
        crate::log::warn(&format!("{e:#}"));
    }
    Ok(status)
}

/// A sandbox whose command has been let go.
pub struct Started {
    /// Its record, as written (`running`).
    pub record: SandboxRecord,
    /// Its init's PID.
    pub pid: Pid,
}

/// Steps 3 to 5 for a reserved sandbox: clone the init, pin its netns,
/// wire its network, record it `running`, release it. On failure every
/// step is undone, the record included. The caller's forwarded signals stay
/// blocked from here on, to be taken by `process::wait_forwarding`.
pub fn start(
    root: &StateRoot,
    reservation: reserve::Reservation,
    spec: &SandboxSpec,
    nl: Netlink,
) -> Result<Started> {
    let mut record = reservation.record;
    let mut undo = Undo::new();
    let name = record.name.clone();
    undo.push("remove the record", move || root.remove_sandbox(&name));

    let dir = root.sandbox_dir(&record.name);
    etc_files::write(&dir, &spec.hostname, record.ip, &reservation.neighbours)?;
    // Every sandbox: the cgroups hold its device allow list, and its limits.
    let leaf = format!("{}-{}", record.name, std::process::id());
    record.cgroups = crate::cgroup::create(&leaf, &spec.limits)?;
    let made = record.cgroups.clone();
    undo.push("remove the cgroups", move || crate::cgroup::remove(&made));
    // Recorded before any process is in them, so a crash is swept.
    root.write_sandbox(&record)?;
    process::wait_set()
        .thread_block()
        .context("block signals")?;
    // The init joins its cgroups itself, before anything else it does.
    let membership = crate::cgroup::Membership::open(&record.cgroups)?;
    let child = process::spawn(spec, &dir, &membership)?;
    drop(membership);
    let pid = child.pid;
    undo.push("stop the init", move || {
        process::abort(pid);
        Ok(())
    });
    crate::crash::point("clone");

    let netns_path = record
        .netns
        .clone()
        .unwrap_or_else(|| netns::path_for(&record.name));
    netns::bind(pid.as_raw(), &netns_path)?;
    let path = netns_path.clone();
    undo.push("remove the netns file", move || netns::unbind(&path));
    crate::crash::point("netns");
    record.mac = wire_network(&nl, &child, &record, reservation.network.as_ref())?;
    // The runtime and its sockets go now: a socket inside the sandbox's netns
    // would keep that namespace (and its veth) alive after the sandbox ends.
    drop(nl);
    crate::crash::point("network");

    record.state = SandboxState::Running;
    record.init = ProcessId::of(pid.as_raw());
    root.write_sandbox(&record)?;
    crate::crash::point("running");
    child.release()?;
    undo.commit();
    crate::crash::point("released");
    Ok(Started { record, pid })
}

/// Step 3: the veth pair onto the bridge and the sandbox side's address,
/// links and default route; with no network, just `lo` up. Returns the MAC
/// of the sandbox's `eth0`.
fn wire_network(
    nl: &Netlink,
    child: &Child,
    record: &SandboxRecord,
    network: Option<&(crate::state::NetworkRecord, crate::network::Attachment)>,
) -> Result<Option<String>> {
    let netns_file =
        File::open(format!("/proc/{}/ns/net", child.pid)).context("open the sandbox's netns")?;
    let inside = nl.handle_in(&netns_file)?;
    match (network, record.ip, record.veth.as_deref()) {
        (Some((net, attachment)), Some(ip), Some(host_ifname)) => {
            let mtu = net.mtu.unwrap_or(attachment.mtu);
            nl.block_on(veth::create(
                nl.host(),
                host_ifname,
                &netns_file,
                attachment.bridge_index,
                mtu,
            ))?;
            crate::crash::point("veth");
            let prefix = net.subnet.prefix();
            nl.block_on(veth::configure_inside(&inside, ip, prefix, net.gateway))
        }
        _ => nl.block_on(veth::loopback_up(&inside)).map(|()| None),
    }
}

/// A per-launch random-enough number: names and veth names derive from it.
fn nonce() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    now ^ (u64::from(std::process::id()) << 32)
}

/// `sbx-` and eight hex digits, when the user gave no `--name`.
fn generated_name(nonce: u64) -> String {
    format!(
        "sbx-{:08x}",
        crate::hash::fnv1a(&nonce.to_le_bytes()) as u32
    )
}
