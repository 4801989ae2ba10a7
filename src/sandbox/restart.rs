//! `sbx restart`: stop a detached sandbox (if it runs), then launch it again
//! from its record through the normal launch path (reserve, then the
//! supervisor's start), with the same name, spec and address. The sandbox's
//! folder and log stay, so `sbx logs` shows every run, as Docker's does.

use super::{control, find, launch, reserve, supervisor};
use crate::net::Netlink;
use crate::spec::SandboxSpec;
use crate::state::records::Status;
use crate::state::{SandboxRecord, StateRoot};
use anyhow::{Result, bail};
use std::time::Duration;

/// Restarts each named sandbox in turn, going on past failures like
/// `docker restart`; each name is printed once it runs again.
pub fn restart_all(root: &StateRoot, names: &[String], timeout: Duration) -> Result<()> {
    let failures: Vec<String> = names
        .iter()
        .filter_map(|name| restart(root, name, timeout).err())
        .map(|e| format!("{e:#}"))
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        bail!("{}", failures.join("; "))
    }
}

/// Restarts one sandbox; its name is printed (by the launch) once it runs.
fn restart(root: &StateRoot, name: &str, timeout: Duration) -> Result<()> {
    let record = find(root, name)?;
    if !record.spec.detach {
        bail!(
            "sandbox {name} runs in the foreground: its 'sbx run' ends with it, so it cannot be restarted; start it with 'sbx run -d' to restart it later"
        );
    }
    if record.status() == Status::Creating {
        bail!("sandbox {name} is still being launched: try again in a moment");
    }
    // The spec comes from the record as it is now, before the stop: with
    // --rm the record goes when the sandbox ends.
    let spec = spec_of(&record)?;
    control::stop(root, name, timeout)?;
    let nl = Netlink::new()?;
    let reservation = reserve::reserve_again(root, &nl, &spec, launch::nonce())?;
    // The supervisor opens its own sockets: nothing of this runtime may be
    // shared across its fork.
    drop(nl);
    match supervisor::detach(root, reservation, &spec)? {
        0 => Ok(()),
        code => bail!("sandbox {name} did not start again (exit status {code})"),
    }
}

/// The spec to launch again: the record's own, with the address it got
/// (so it keeps it). Its rootfs must still be there.
pub fn spec_of(record: &SandboxRecord) -> Result<SandboxSpec> {
    if let Some(rootfs) = &record.spec.fs.rootfs
        && !rootfs.is_dir()
    {
        bail!(
            "rootfs {} of sandbox {} is gone: it cannot be restarted",
            rootfs.display(),
            record.spec.name
        );
    }
    let mut spec = SandboxSpec {
        detach: true,
        ..record.spec.clone()
    };
    for request in &mut spec.networks {
        if let Some(link) = record.link_on(&request.name) {
            request.ip = Some(link.ip);
            if link.ip6.is_some() {
                request.ip6 = link.ip6;
            }
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::SandboxRequest;

    /// A record made the way `reserve` makes it from a validated `sbx run`
    /// request, written and read back, gives back the original spec.
    #[test]
    fn a_record_gives_back_its_spec() {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let request = SandboxRequest {
            detach: true,
            name: Some("web".into()),
            networks: strings(&["sbx0"]),
            ip: Some("10.9.0.7".into()),
            hostname: Some("h".into()),
            env: strings(&["A=1"]),
            workdir: Some("/tmp".into()),
            cap_drop: strings(&["NET_RAW"]),
            memory: Some("64m".into()),
            read_only: true,
            tmpfs: strings(&["/tmp"]),
            command: strings(&["sleep", "9"]),
            ..SandboxRequest::default()
        };
        let spec = SandboxSpec::from_request(&request, || "x".into(), |_| None, false).unwrap();
        let record = SandboxRecord {
            spec: spec.clone(),
            links: Vec::new(),
            created: 0,
            state: crate::state::SandboxState::Exited,
            owner: None,
            init: None,
            netns: None,
            exit_code: Some(0),
            cgroups: Vec::new(),
            nft_elements: true,
        };
        let text = serde_json::to_vec(&record).unwrap();
        let record = SandboxRecord::from_json(&text).unwrap();
        let again = spec_of(&record).unwrap();
        assert_eq!(again, spec);
    }
}
