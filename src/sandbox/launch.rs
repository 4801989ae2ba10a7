//! `sbx run` in the foreground: the launch as one pass of named steps, each
//! with its undo, then the wait, then the cleanup.

use super::{cleanup, reserve};
use crate::cli::RunArgs;
use crate::fs::etc_files;
use crate::net::{Netlink, netns, veth};
use crate::process::{self, Child};
use crate::spec::SandboxSpec;
use crate::state::liveness::ProcessId;
use crate::state::{SandboxRecord, SandboxState, StateRoot};
use crate::undo::Undo;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::IsTerminal;
use std::time::Instant;

/// Runs a sandbox and returns the exit status `sbx run` reports.
pub fn run(root: &StateRoot, args: &RunArgs) -> Result<i32> {
    let clock = Steps::start();
    let nonce = nonce();
    let tty = std::io::stdin().is_terminal();
    let spec = SandboxSpec::from_args(
        args,
        || generated_name(nonce),
        |k| std::env::var(k).ok(),
        tty,
    )?;
    let nl = Netlink::new()?;
    clock.step("parse");

    let reservation = reserve::reserve(root, &nl, &spec, veth::host_name(&spec.name, nonce))?;
    let mut record = reservation.record;
    let mut undo = Undo::new();
    let name = record.name.clone();
    undo.push("remove the record", move || root.remove_sandbox(&name));
    clock.step("reserve");

    let dir = root.sandbox_dir(&record.name);
    etc_files::write(&dir, &spec.hostname, record.ip, &reservation.neighbours)?;
    let signals = process::wait_set();
    signals.thread_block().context("block signals")?;
    let child = process::spawn(&spec, &dir)?;
    let pid = child.pid;
    undo.push("stop the init", move || {
        process::abort(pid);
        Ok(())
    });
    clock.step("clone");

    let netns_path = record
        .netns
        .clone()
        .unwrap_or_else(|| netns::path_for(&record.name));
    netns::bind(child.pid.as_raw(), &netns_path)?;
    let path = netns_path.clone();
    undo.push("remove the netns file", move || netns::unbind(&path));
    wire_network(&nl, &child, &record, reservation.network.as_ref())?;
    // The runtime and its sockets go now: a socket inside the sandbox's netns
    // would keep that namespace (and its veth) alive after the sandbox ends.
    drop(nl);
    clock.step("network");

    record.state = SandboxState::Running;
    record.init = ProcessId::of(child.pid.as_raw());
    root.write_sandbox(&record)?;
    undo.commit();
    // From here the init owns the sandbox; failing to release it is handled
    // like any other end of the sandbox.
    let status = match child.release() {
        Ok(()) => process::wait_forwarding(pid, &signals),
        Err(e) => {
            crate::log::warn(&format!("{e:#}"));
            process::EXIT_SBX_FAILED
        }
    };
    clock.step("ran");
    if let Err(e) = cleanup::teardown(root, &record) {
        crate::log::warn(&format!("{e:#}"));
    }
    clock.step("teardown");
    Ok(status)
}

/// Step 3: the veth pair onto the bridge and the sandbox side's address,
/// links and default route; with no network, just `lo` up.
fn wire_network(
    nl: &Netlink,
    child: &Child,
    record: &SandboxRecord,
    network: Option<&(crate::state::NetworkRecord, crate::network::Attachment)>,
) -> Result<()> {
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
            nl.block_on(veth::configure_inside(
                &inside,
                ip,
                net.subnet.prefix(),
                net.gateway,
            ))
        }
        _ => nl.block_on(veth::loopback_up(&inside)),
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

/// Debug-level timings of the launch steps, for profiling.
struct Steps {
    last: std::cell::Cell<Instant>,
}

impl Steps {
    fn start() -> Self {
        Steps {
            last: std::cell::Cell::new(Instant::now()),
        }
    }

    fn step(&self, name: &str) {
        if crate::log::debug_enabled() {
            let now = Instant::now();
            crate::log::debug(&format!("{name}: {:?}", now - self.last.get()));
            self.last.set(now);
        }
    }
}
