//! The process settings an OCI bundle may ask for (`model::process`),
//! applied where each must be: namespaces joined and rlimits, OOM score and
//! sysctls set by the init before it reports ready (so a refusal fails
//! `create`, not the command), the user and capability sets by the
//! command's own process just before exec (the init stays root).

use crate::model::process::{CapSets, Namespaces, ProcessSettings, Rlimit, Sysctls};
use anyhow::{Context, Result, bail};
use caps::{CapSet, CapsHashSet};
use nix::sched::CloneFlags;
use std::fs::File;
use std::os::fd::OwnedFd;

/// The kernel's resource number for an `RLIMIT_*` name (sys/resource.h),
/// or `None` for a name this kernel has no limit of.
pub fn rlimit_resource(name: &str) -> Option<libc::__rlimit_resource_t> {
    Some(match name {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        _ => return None,
    })
}

/// Whether a sysctl is kept per namespace (net.*, IPC's kernel.shm*,
/// kernel.msg*, kernel.sem, fs.mqueue.*), so setting it inside the sandbox
/// cannot change the host (runc refuses the others too).
pub fn sysctl_is_namespaced(key: &str) -> bool {
    key.starts_with("net.")
        || key.starts_with("fs.mqueue.")
        || key.starts_with("kernel.shm")
        || key.starts_with("kernel.msg")
        || key == "kernel.sem"
}

/// The clone flag of a namespace kind (OCI's name).
pub fn clone_flag(kind: &str) -> Option<CloneFlags> {
    Some(match kind {
        "network" => CloneFlags::CLONE_NEWNET,
        "uts" => CloneFlags::CLONE_NEWUTS,
        "ipc" => CloneFlags::CLONE_NEWIPC,
        "pid" => CloneFlags::CLONE_NEWPID,
        "cgroup" => CloneFlags::CLONE_NEWCGROUP,
        "mount" => CloneFlags::CLONE_NEWNS,
        _ => return None,
    })
}

/// The namespace files to join, opened by the parent before the clone (the
/// init's mount namespace may not show them).
pub fn open_joined(namespaces: &Namespaces) -> Result<Vec<(CloneFlags, OwnedFd)>> {
    let mut out = Vec::new();
    for (kind, path) in &namespaces.joined {
        let Some(flag) = clone_flag(kind) else {
            bail!("linux.namespaces: sbx cannot join a {kind} namespace");
        };
        let file = File::open(path)
            .with_context(|| format!("open {kind} namespace {}", path.display()))?;
        out.push((flag, OwnedFd::from(file)));
    }
    Ok(out)
}

/// In the init, first: joins the given namespaces, then makes its cgroup
/// namespace (rooted at the cgroup it just joined) when asked.
pub fn enter_namespaces(joined: &[(CloneFlags, OwnedFd)], own_cgroup: bool) -> Result<()> {
    for (flag, fd) in joined {
        nix::sched::setns(fd, *flag).with_context(|| format!("join namespace ({flag:?})"))?;
    }
    if own_cgroup {
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP).context("make a cgroup namespace")?;
    }
    Ok(())
}

/// In the init, before it reports: rlimits (inherited by the command),
/// its OOM score, the namespaced sysctls (written through /proc/sys, whose
/// net and IPC entries are those of the writer's namespaces).
pub fn apply_in_init(settings: &ProcessSettings, sysctl: &Sysctls) -> Result<()> {
    for Rlimit {
        resource,
        soft,
        hard,
    } in &settings.rlimits
    {
        let Some(number) = rlimit_resource(resource) else {
            bail!("process.rlimits: unknown resource {resource}");
        };
        let limit = libc::rlimit {
            rlim_cur: *soft,
            rlim_max: *hard,
        };
        // SAFETY: a valid resource number and a pointer to a live struct.
        if unsafe { libc::setrlimit(number, &limit) } != 0 {
            let e = std::io::Error::last_os_error();
            bail!(
                "process.rlimits: set {resource} to {soft}/{hard}: {e} (sbx can lower limits only: this root lacks CAP_SYS_RESOURCE to raise them)"
            );
        }
    }
    if let Some(score) = settings.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", score.to_string())
            .with_context(|| format!("process.oomScoreAdj: set {score}"))?;
    }
    for (key, value) in sysctl {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        std::fs::write(&path, value).with_context(|| format!("linux.sysctl: set {key}={value}"))?;
    }
    Ok(())
}

/// In the command's process, just before exec: the user and its groups,
/// then the capability sets (kept across the switch to a non-root user
/// with PR_SET_KEEPCAPS, as runc does). Returns what failed, for the
/// caller's one line.
pub fn apply_in_command(settings: &ProcessSettings) -> Result<()> {
    if let Some(user) = &settings.user {
        if let Some(mask) = user.umask {
            // SAFETY: umask(2) cannot fail.
            unsafe { libc::umask(mask as libc::mode_t) };
        }
        if settings.cap_sets.is_some() {
            nix::sys::prctl::set_keepcaps(true).context("keep capabilities across setuid")?;
        }
        let groups: Vec<nix::unistd::Gid> = (user.additional_gids.iter())
            .map(|g| nix::unistd::Gid::from_raw(*g))
            .collect();
        nix::unistd::setgroups(&groups).context("process.user.additionalGids: setgroups")?;
        nix::unistd::setgid(nix::unistd::Gid::from_raw(user.gid))
            .with_context(|| format!("process.user.gid: setgid {}", user.gid))?;
        nix::unistd::setuid(nix::unistd::Uid::from_raw(user.uid))
            .with_context(|| format!("process.user.uid: setuid {}", user.uid))?;
    }
    if let Some(sets) = &settings.cap_sets {
        set_caps(sets)?;
    }
    Ok(())
}

/// In the init, before it reports: every capability the command's sets ask
/// for must be one this process has, so a set the kernel would refuse
/// (the root here lacks CAP_SYS_RESOURCE, say) fails `create`, as with
/// runc, instead of the command after `start`.
pub fn check_caps_available(sets: &CapSets) -> Result<()> {
    let have = caps::read(None, CapSet::Permitted).context("read the permitted set")?;
    let missing: Vec<String> = (sets.permitted.iter())
        .chain(&sets.effective)
        .chain(&sets.ambient)
        .filter(|c| !have.contains(c))
        .map(|c| c.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !missing.is_empty() {
        bail!(
            "process.capabilities: sbx itself lacks {} here, so the command cannot have it",
            missing.join(", ")
        );
    }
    Ok(())
}

/// The inheritable, permitted, effective and ambient sets (the bounding set
/// was set by the init for both of them).
fn set_caps(sets: &CapSets) -> Result<()> {
    let set = |which: CapSet, caps: &[caps::Capability]| -> Result<()> {
        let caps: CapsHashSet = caps.iter().copied().collect();
        caps::set(None, which, &caps)
            .with_context(|| format!("process.capabilities: set the {which:?} set"))
    };
    // Effective first: at every step it must stay within the permitted set.
    set(CapSet::Effective, &sets.effective)?;
    set(CapSet::Permitted, &sets.permitted)?;
    set(CapSet::Inheritable, &sets.inheritable)?;
    caps::clear(None, CapSet::Ambient).context("clear the ambient set")?;
    for cap in &sets.ambient {
        caps::raise(None, CapSet::Ambient, *cap)
            .with_context(|| format!("process.capabilities.ambient: raise {cap}"))?;
    }
    Ok(())
}
