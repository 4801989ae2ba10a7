//! `sbx lab up`: everything checked first, then the networks that are
//! missing, then the sandboxes that are missing, in parallel (those at
//! fixed addresses in a first wave, so none of theirs is taken as a lowest
//! free address by another). Each sandbox
//! is launched by its own sbx process (`sbx lab launch-spec`, hidden: the
//! checked spec on its stdin, then `launch::detach_spec`, the tail of `sbx
//! run -d`), since the launch forks a supervisor and a fork must come from
//! a single-threaded process; parallel launches are safe by design (the
//! root's shared lock, `mkdir` for names, `symlink` for addresses).
//!
//! Idempotent: a network that exists with the file's settings and a
//! sandbox that runs with the file's spec are left alone. A lab sandbox
//! that exists but has exited is removed and launched again from the file
//! (restart semantics: the file wins). Anything else in the way (another
//! network's settings, a sandbox of another lab or of none, one running
//! with another spec) stops `up` before it makes anything, naming it.

use super::file::Lab;
use super::translate::{self, is_ours};
use crate::network::CreateRequest;
use crate::sandbox::{control, network_rm};
use crate::spec::SandboxSpec;
use crate::state::StateRoot;
use crate::state::records::Status;
use anyhow::{Context, Result, bail};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// What `up` does to one sandbox.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    /// It runs with the file's spec.
    Unchanged,
    /// It does not exist.
    Start,
    /// It exited: removed, then started.
    Restart,
}

/// Brings a lab up and prints a table of its sandboxes and addresses.
pub fn up(root: &StateRoot, lab: &Lab, image_store: &Path) -> Result<()> {
    let networks: Vec<CreateRequest> = (lab.networks.iter())
        .map(|(name, def)| translate::network_request(lab, name, def))
        .collect::<Result<_>>()?;
    let specs: Vec<SandboxSpec> = (lab.sandboxes.iter())
        .map(|(name, def)| translate::sandbox_spec(lab, name, def, Some(image_store)))
        .collect::<Result<_>>()?;
    for (name, sandbox) in &lab.sandboxes {
        for (ifname, impair) in &sandbox.impair {
            impair
                .check_kernel(&format!("{name}:{ifname}"))
                .with_context(|| format!("lab {}: sandbox {name}: impair.{ifname}", lab.name))?;
        }
    }
    let missing = missing_networks(root, lab, networks)?;
    let actions = (specs.iter())
        .map(|spec| plan(root, lab, spec))
        .collect::<Result<Vec<Action>>>()?;

    let mut made = Made::default();
    if let Err(e) = create_networks(root, missing, &mut made) {
        made.undo(root);
        return Err(e);
    }
    for (spec, action) in specs.iter().zip(&actions) {
        if *action == Action::Restart {
            control::rm(root, &spec.name, true)
                .with_context(|| format!("removing exited sandbox {}", spec.name))?;
        }
    }
    let to_launch: Vec<&SandboxSpec> = (specs.iter().zip(&actions))
        .filter(|(_, a)| **a != Action::Unchanged)
        .map(|(s, _)| s)
        .collect();
    // Sandboxes at fixed addresses first: launched together with the
    // others, one taking the lowest free address could take the one a
    // neighbour in the file asks for.
    let (fixed, chosen): (Vec<&SandboxSpec>, Vec<&SandboxSpec>) =
        (to_launch.iter()).partition(|s| s.networks.iter().all(|n| n.ip.is_some()));
    let mut failures = launch_all(root, &fixed, &mut made)?;
    if failures.is_empty() {
        failures = launch_all(root, &chosen, &mut made)?;
    }
    if let Some((name, cause)) = failures.first() {
        let others: Vec<&str> = failures[1..].iter().map(|(n, _)| n.as_str()).collect();
        let undone = made.undo(root);
        let more = if others.is_empty() {
            String::new()
        } else {
            format!(" (also failed: {})", others.join(", "))
        };
        bail!(
            "lab {}: sandbox {name} did not start: {cause}{more}; {undone}",
            lab.name
        );
    }
    let impaired = match apply_impairments(root, lab) {
        Ok(n) => n,
        Err(e) => {
            let undone = made.undo(root);
            bail!("lab {}: {e:#}; {undone}", lab.name);
        }
    };
    super::report::up_table(root, &specs, |i| match actions[i] {
        Action::Unchanged => "unchanged",
        Action::Start => "started",
        Action::Restart => "restarted",
    })?;
    let changed = made.networks.len() + to_launch.len() + impaired;
    if changed == 0 {
        println!("lab {}: already up, nothing changed", lab.name);
    } else {
        println!(
            "lab {}: {} sandbox(es) started, {} unchanged; {} network(s) created",
            lab.name,
            to_launch.len(),
            specs.len() - to_launch.len(),
            made.networks.len()
        );
    }
    if impaired > 0 {
        println!(
            "lab {}: impairments set on {impaired} interface(s)",
            lab.name
        );
    }
    Ok(())
}

/// Sets the file's `[sandboxes.NAME.impair.IFACE]` with `sbx impair set`'s
/// own code, skipping interfaces that already have exactly that (so a
/// second `up` changes nothing); returns how many were set. The values
/// were checked when the file was read.
fn apply_impairments(root: &StateRoot, lab: &Lab) -> Result<usize> {
    let mut set = 0;
    for (name, sandbox) in &lab.sandboxes {
        for (ifname, impair) in &sandbox.impair {
            let request = impair.request(&format!("{name}:{ifname}"));
            let wanted = crate::sandbox::impair::Impairment::parse(&request)?;
            if crate::sandbox::impair::recorded_for(root, name, ifname).as_ref() == Some(&wanted) {
                continue;
            }
            crate::sandbox::impair::set(root, &request)
                .with_context(|| format!("impairments of {name}:{ifname}"))?;
            set += 1;
        }
    }
    Ok(set)
}

/// The lab's networks that do not exist yet; an existing one must match
/// the file (else the difference is the error).
fn missing_networks(
    root: &StateRoot,
    lab: &Lab,
    networks: Vec<CreateRequest>,
) -> Result<Vec<CreateRequest>> {
    let mut missing = Vec::new();
    for req in networks {
        match root.network(&req.name)? {
            None => missing.push(req),
            Some(have) => {
                let diff = translate::network_differences(&req, &have);
                if !diff.is_empty() {
                    bail!(
                        "lab {}: network {} exists with other settings ({}): change {} or remove the network ('sbx network rm {}')",
                        lab.name,
                        req.name,
                        diff.join("; "),
                        lab.path.display(),
                        req.name
                    );
                }
            }
        }
    }
    Ok(missing)
}

/// What to do with one sandbox, or why `up` cannot go on.
fn plan(root: &StateRoot, lab: &Lab, spec: &SandboxSpec) -> Result<Action> {
    let name = &spec.name;
    let Some(have) = root.sandbox(name)? else {
        return Ok(Action::Start);
    };
    if !is_ours(&have.spec.labels, &lab.name) {
        bail!(
            "lab {}: sandbox {name} already exists and is not part of this lab: rename it in {} or remove it ('sbx rm -f {name}')",
            lab.name,
            lab.path.display()
        );
    }
    match have.status() {
        Status::Exited => Ok(Action::Restart),
        Status::Creating => {
            bail!("sandbox {name} is being launched right now: try again in a moment")
        }
        Status::Running => {
            let diff = translate::spec_differences(spec, &have);
            if diff.is_empty() {
                Ok(Action::Unchanged)
            } else {
                bail!(
                    "lab {}: sandbox {name} runs with other settings ({} differ): 'sbx rm -f {name}' and run 'sbx lab up' again",
                    lab.name,
                    diff.join(", ")
                )
            }
        }
    }
}

/// What this run made, in order, for its undo.
#[derive(Default)]
struct Made {
    networks: Vec<String>,
    sandboxes: Vec<String>,
}

impl Made {
    /// Removes the sandboxes, then the networks this run made; says what
    /// went (or what could not, as warnings).
    fn undo(&self, root: &StateRoot) -> String {
        for name in &self.sandboxes {
            if let Err(e) = control::rm(root, name, true) {
                crate::log::warn(&format!("{e:#}"));
            }
        }
        for name in self.networks.iter().rev() {
            if let Err(e) = network_rm::rm_quietly(root, name) {
                crate::log::warn(&format!("{e:#}"));
            }
        }
        let mut what: Vec<String> = self
            .sandboxes
            .iter()
            .map(|s| format!("sandbox {s}"))
            .collect();
        what.extend(self.networks.iter().map(|n| format!("network {n}")));
        if what.is_empty() {
            "nothing was left behind".into()
        } else {
            format!("removed what this run made ({})", what.join(", "))
        }
    }
}

/// Creates the missing networks, in file order, under the root's lock.
fn create_networks(root: &StateRoot, missing: Vec<CreateRequest>, made: &mut Made) -> Result<()> {
    if missing.is_empty() {
        return Ok(());
    }
    let nl = crate::net::Netlink::new()?;
    let _lock = root.lock()?;
    for req in missing {
        let name = req.name.clone();
        crate::network::create(root, &nl, req).with_context(|| format!("network {name}"))?;
        made.networks.push(name);
    }
    Ok(())
}

/// Launches every spec at once, one sbx process each, and waits for all;
/// returns the failures (name, cause) in the file's order.
fn launch_all(
    root: &StateRoot,
    specs: &[&SandboxSpec],
    made: &mut Made,
) -> Result<Vec<(String, String)>> {
    let mut children = Vec::new();
    for spec in specs {
        let json = serde_json::to_vec(spec)?;
        let child = Command::new("/proc/self/exe")
            .arg("--root")
            .arg(root.path())
            .args(["lab", "launch-spec"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                children.push((spec.name.clone(), Err(format!("cannot start sbx: {e}"))));
                continue;
            }
        };
        if let Some(mut stdin) = child.stdin.take() {
            // A write error shows as the child's own failure below.
            let _ = stdin.write_all(&json);
        }
        children.push((spec.name.clone(), Ok(child)));
    }
    let mut failures = Vec::new();
    for (name, child) in children {
        let outcome = child.and_then(|c| c.wait_with_output().map_err(|e| e.to_string()));
        match outcome {
            Ok(out) if out.status.success() => made.sandboxes.push(name),
            Ok(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let cause = (stderr.lines().rev())
                    .find_map(|l| l.strip_prefix("sbx: "))
                    .unwrap_or("it failed without a word")
                    .to_string();
                // Warnings of the launch (not its error) go on to the user.
                for line in stderr.lines().filter(|l| !l.ends_with(&cause)) {
                    eprintln!("{line}");
                }
                failures.push((name, cause));
            }
            Err(e) => failures.push((name, e)),
        }
    }
    Ok(failures)
}

/// `sbx lab launch-spec`: one sandbox of `lab up`, its checked spec as
/// JSON on stdin; prints its name once it runs.
pub fn launch_from_stdin(root: &StateRoot) -> Result<i32> {
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut text).context("read the spec")?;
    let spec: SandboxSpec = serde_json::from_slice(&text).context("parse the spec")?;
    crate::sandbox::launch::detach_spec(root, &spec)
}
