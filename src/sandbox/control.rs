//! `sbx stop`, `kill`, `rm` and `prune`: ending sandboxes and removing what
//! they leave. Signals go to the sandbox's init, which passes them on to
//! the command (SIGKILL ends the whole PID namespace at once).

use super::damaged::Damaged;
use super::kernel::{Host, Kernel};
use super::{cleanup, find, reserve};
pub use crate::batch::each;
use crate::state::liveness::ProcessId;
use crate::state::records::Status;
use crate::state::{Entry, SandboxRecord, StateRoot};
use anyhow::{Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::str::FromStr;
use std::time::Duration;

/// How long the waiting sbx gets to clean up after its sandbox ended.
const CLEANUP_GRACE: Duration = Duration::from_secs(5);

/// SIGTERM, then SIGKILL after `timeout`; returns once the sandbox is gone
/// and cleaned up. Stopping an exited sandbox is not an error.
pub fn stop(root: &StateRoot, name: &str, timeout: Duration) -> Result<()> {
    let record = find(root, name)?;
    if let Some(init) = record.init.filter(|_| record.status() == Status::Running) {
        send(init, Signal::SIGTERM);
        if !init.wait_gone(timeout) {
            send(init, Signal::SIGKILL);
            init.wait_gone(CLEANUP_GRACE);
        }
    }
    await_cleanup(root, &record)
}

/// Sends `signal` (a name like TERM/SIGTERM or a number) to the command.
pub fn kill_one(root: &StateRoot, name: &str, signal: Signal) -> Result<()> {
    let record = find(root, name)?;
    match record.init.filter(|_| record.status() == Status::Running) {
        Some(init) => {
            send(init, signal);
            Ok(())
        }
        None => bail!("sandbox {name} is not running"),
    }
}

/// Parses `-s`: `TERM`, `SIGTERM` or `15`.
pub fn parse_signal(text: &str) -> Result<Signal> {
    let parsed = match text.parse::<i32>() {
        Ok(number) => Signal::try_from(number).ok(),
        Err(_) => {
            let upper = text.to_ascii_uppercase();
            let full = if upper.starts_with("SIG") {
                upper
            } else {
                format!("SIG{upper}")
            };
            Signal::from_str(&full).ok()
        }
    };
    parsed.ok_or_else(|| {
        anyhow::anyhow!("unknown signal {text:?}: use a name like TERM or a number like 15")
    })
}

/// Removes a sandbox's record (and anything the kernel still holds for it);
/// a running one only with `force`, which kills it first.
pub fn rm(root: &StateRoot, name: &str, force: bool) -> Result<()> {
    crate::spec::check_id(name)?;
    if let Entry::Unreadable(unreadable) = root.sandbox_entry(name) {
        let removed = rm_damaged(root, Damaged::probe(unreadable), force);
        cleanup::release_template(&Host, root);
        return removed;
    }
    let record = find(root, name)?;
    if let Some(init) = record.init.filter(|_| record.status() == Status::Running) {
        if !force {
            bail!("sandbox {name} is running: stop it first, or use 'sbx rm -f {name}'");
        }
        send(init, Signal::SIGKILL);
        init.wait_gone(CLEANUP_GRACE);
    }
    // (A held launch, OCI's `created`, has its init already: killed above,
    // its own sbx now cleans up, waited for below.)
    if let Some(owner) = record
        .owner
        .filter(|_| record.status() == Status::Creating && record.init.is_none())
    {
        bail!(
            "sandbox {name} is still being launched by sbx (PID {}): try again in a moment",
            owner.pid
        );
    }
    if let Some(owner) = record.owner {
        // Let the waiting sbx finish its own cleanup first.
        owner.wait_gone(CLEANUP_GRACE);
    }
    let _lock = root.lock()?;
    match root.sandbox(name)? {
        Some(current) => cleanup::remove(&Host, root, &current),
        None => Ok(()),
    }
}

/// `sbx rm` of a sandbox whose record cannot be read: the way out the user
/// is told about. Without `force` only a sandbox of which nothing is left
/// in the kernel goes; with it, every process living in its network
/// namespace is killed, the waiting sbx (the init's parent) gets its
/// moment to clean up, and the netns file and the folder go. Says on
/// stderr what it did.
fn rm_damaged(root: &StateRoot, damaged: Damaged, force: bool) -> Result<()> {
    let name = damaged.name.clone();
    if damaged.in_kernel() && !force {
        bail!(
            "the record of sandbox {name} cannot be read ({}) and {}: 'sbx rm -f {name}' kills what lives there and removes it",
            damaged.reason,
            damaged.kernel_words()
        );
    }
    let owner = damaged.owner();
    let processes: Vec<ProcessId> = damaged
        .processes
        .iter()
        .filter_map(|pid| ProcessId::of(*pid))
        .collect();
    for process in &processes {
        send(*process, Signal::SIGKILL);
    }
    for process in &processes {
        process.wait_gone(CLEANUP_GRACE);
    }
    if let Some(owner) = owner {
        owner.wait_gone(CLEANUP_GRACE);
    }
    let _lock = root.lock()?;
    let mut errors = Vec::new();
    match Host.unpin_netns(&damaged.netns) {
        // Its namespace is gone: nothing answers for its addresses now.
        Ok(()) => {
            if let Err(e) = root.release_leases_of(&name) {
                errors.push(format!("{e:#}"));
            }
        }
        Err(e) => errors.push(format!("{e:#}")),
    }
    // Its cgroups, which the waiting sbx would have removed were it alive.
    for dir in crate::sandbox::damaged::cgroups_of(&name) {
        if let Err(e) = Host.remove_cgroup(&dir, true) {
            errors.push(format!("{e:#}"));
        }
    }
    // The folder goes only once nothing of the sandbox is left in the
    // kernel: a folder kept is what lets `rm -f` or `prune` try again.
    if !errors.is_empty() {
        bail!(
            "removing sandbox {name}: {}; its folder is kept: run 'sbx rm -f {name}' again",
            errors.join("; ")
        );
    }
    // The waiting sbx may have written a whole record meanwhile.
    let removed = match root.sandbox_entry(&name) {
        Entry::Found(record) => cleanup::remove(&Host, root, &record),
        _ => root.remove_sandbox(&name),
    };
    if let Err(e) = removed {
        bail!("removing sandbox {name}: {e:#}");
    }
    let netns = if damaged.netns_exists {
        format!(", removed {}", damaged.netns.display())
    } else {
        String::new()
    };
    crate::log::warn(&format!(
        "sandbox {name} had an unreadable record ({}): killed {} process(es) of it{netns} and removed its folder",
        damaged.reason,
        processes.len()
    ));
    Ok(())
}

/// Removes every dead sandbox: records, netns files (the veth goes with
/// the namespace) and address reservations; prints each one removed. A
/// sandbox whose record cannot be read is left alone (liveness comes from
/// the kernel, not the file), with a word on stderr saying how to remove it.
pub fn prune(root: &StateRoot) -> Result<()> {
    let _lock = root.lock()?;
    let (records, unreadable) = root.sandboxes()?;
    for damaged in crate::sandbox::damaged::probe_all(unreadable) {
        let name = &damaged.name;
        if damaged.missing && !damaged.in_kernel() {
            crate::sandbox::damaged::remove_dead_launch(root, name)?;
            println!("removed unreadable sandbox folder {name}");
        } else {
            let how = if damaged.in_kernel() { "rm -f" } else { "rm" };
            crate::log::warn(&format!(
                "left sandbox {name} alone: its record cannot be read ({}) and {}; 'sbx {how} {name}' removes it",
                damaged.reason,
                damaged.kernel_words()
            ));
        }
    }
    let mut errors = Vec::new();
    // A lease whose holder has no folder is a launch that died between
    // taking it and making its folder: under the exclusive lock no launch
    // is half-way, so it is truly left over.
    for network in root.networks()? {
        let leases = root.leases(&network.name);
        if !leases.exists() {
            continue;
        }
        match leases.list() {
            Ok(held) => {
                for (ip, holder) in held {
                    if !root.sandbox_dir(&holder).exists()
                        && let Err(e) = leases.release(ip, &holder)
                    {
                        errors.push(format!("{e:#}"));
                    }
                }
            }
            Err(e) => errors.push(format!("{e:#}")),
        }
        match leases.list6() {
            Ok(held) => {
                for (ip, holder) in held {
                    if !root.sandbox_dir(&holder).exists()
                        && let Err(e) = leases.release(ip, &holder)
                    {
                        errors.push(format!("{e:#}"));
                    }
                }
            }
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    for record in records {
        let Some(Err(dead)) = reserve::confirm_exited(root, record) else {
            continue;
        };
        match cleanup::remove(&Host, root, &dead) {
            Ok(()) => println!("removed {}", describe(&dead)),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    cleanup::release_template(&Host, root);
    if errors.is_empty() {
        Ok(())
    } else {
        bail!("{}", errors.join("; "))
    }
}

fn describe(record: &SandboxRecord) -> String {
    let mut text = format!("sandbox {}", record.spec.name);
    if let Some(link) = record.primary() {
        text.push_str(&format!(" (address {} on {}", link.ip, link.network));
        if let Some(netns) = &record.netns {
            text.push_str(&format!(", netns {}", netns.display()));
        }
        text.push(')');
    }
    text
}

/// Waits for whoever waits on the sandbox (its supervisor or foreground
/// `sbx run`) to clean up; if that sbx is gone too, cleans it up here.
fn await_cleanup(root: &StateRoot, record: &SandboxRecord) -> Result<()> {
    if let Some(owner) = record.owner {
        owner.wait_gone(CLEANUP_GRACE);
    }
    let Some(current) = root.sandbox(&record.spec.name)? else {
        return Ok(());
    };
    if let Some(Err(dead)) = reserve::confirm_exited(root, current) {
        let _lock = root.lock()?;
        // It did stop; what could not be released stays in its record for
        // `sbx rm` or `sbx prune` to retry, and the user hears about it.
        if let Err(e) = cleanup::sweep(&Host, root, dead) {
            crate::log::warn(&format!("{e:#}"));
        }
    }
    Ok(())
}

fn send(process: ProcessId, signal: Signal) {
    if process.is_alive() {
        let _ = kill(Pid::from_raw(process.pid), signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(parse_signal("TERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("sigusr1").unwrap(), Signal::SIGUSR1);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }
}
