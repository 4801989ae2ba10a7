//! `config.json`'s `linux` object and `mounts`, translated into the core's
//! spec: namespaces (made, shared or joined by path), masked and read-only
//! paths, device nodes, cgroup device rules, resources, sysctls, mounts.

use super::config::{enum_name, in_bundle};
use crate::cgroup::devices::{self as cgdev, Kind};
use crate::model::SandboxSpec;
use crate::model::fs_plan::{KernelMount, MountAttrs, Volume, inside_path};
use anyhow::{Result, bail};
use oci_spec::runtime::{Linux, LinuxResources, Mount, Spec};
use std::path::{Path, PathBuf};

/// Every `linux` field sbx honours, then `mounts`.
pub fn apply(spec: &mut SandboxSpec, config: &Spec, bundle: &Path, systemd: bool) -> Result<()> {
    let default = Linux::default();
    let has_linux = config.linux().is_some();
    let linux = config.linux().as_ref().unwrap_or(&default);
    if has_linux {
        namespaces(spec, linux)?;
    } else {
        bail!("config.json: linux is missing: sbx runs Linux containers (linux.namespaces)");
    }
    spec.fs.masked_paths = Some(paths(linux.masked_paths(), "maskedPaths")?);
    spec.fs.readonly_paths = Some(paths(linux.readonly_paths(), "readonlyPaths")?);
    if let Some(p) = linux.rootfs_propagation().as_deref()
        && !p.is_empty()
    {
        if crate::model::fs_plan::propagation_flags(p).is_none() {
            bail!(
                "config.json: linux.rootfsPropagation {p:?} is not one of shared, slave, private, unbindable (or r...)"
            );
        }
        spec.fs
            .propagation
            .push((PathBuf::from("/"), p.to_string()));
    }
    devices(linux)?;
    cgroups_path(spec, linux, systemd)?;
    if let Some(resources) = linux.resources() {
        resources_fields(spec, resources)?;
    }
    for (key, value) in linux.sysctl().iter().flatten() {
        if !crate::process::settings::sysctl_is_namespaced(key) {
            bail!(
                "config.json: linux.sysctl {key} is not kept per namespace: sbx sets only net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.*"
            );
        }
        let kind = if key.starts_with("net.") {
            "network"
        } else {
            "ipc"
        };
        if spec.namespaces.shared.iter().any(|k| k == kind) {
            bail!(
                "config.json: linux.sysctl {key} would change the host's: the container has no {kind} namespace of its own"
            );
        }
        spec.sysctl.insert(key.clone(), value.clone());
    }
    if let Some(seccomp) = linux.seccomp() {
        spec.process.seccomp_profile = Some(super::seccomp::profile(seccomp)?);
    }
    for mount in config.mounts().iter().flatten() {
        super::mounts::add(spec, mount, bundle)?;
    }
    Ok(())
}

/// `linux.namespaces`: made (no path), joined (path), or shared with the
/// host (not listed).
fn namespaces(spec: &mut SandboxSpec, linux: &Linux) -> Result<()> {
    let mut seen = Vec::new();
    for ns in linux.namespaces().iter().flatten() {
        let kind = enum_name(&ns.typ())?;
        if seen.contains(&kind) {
            bail!("config.json: linux.namespaces lists {kind} twice");
        }
        seen.push(kind.clone());
        let path = ns.path().as_ref().filter(|p| !p.as_os_str().is_empty());
        match (kind.as_str(), path) {
            ("mount", None) => {}
            ("mount", Some(_)) => bail!(
                "config.json: linux.namespaces: joining a mount namespace is not supported by sbx"
            ),
            ("cgroup", None) => spec.namespaces.own_cgroup = true,
            ("network" | "uts" | "ipc" | "pid" | "cgroup", Some(path)) => {
                spec.namespaces.joined.insert(kind.clone(), path.clone());
            }
            ("network" | "uts" | "ipc" | "pid", None) => {}
            (other, _) => bail!(
                "config.json: linux.namespaces: a {other} namespace is not supported by sbx yet"
            ),
        }
    }
    if !seen.iter().any(|k| k == "mount") {
        bail!("config.json: linux.namespaces has no mount namespace: sbx always makes one");
    }
    for kind in ["network", "uts", "ipc", "pid"] {
        if !seen.iter().any(|k| k == kind) {
            spec.namespaces.shared.push(kind.to_string());
        }
    }
    Ok(())
}

/// A list of absolute paths inside the container.
fn paths(list: &Option<Vec<String>>, field: &str) -> Result<Vec<PathBuf>> {
    (list.iter().flatten())
        .map(|p| inside_path(p, &format!("config.json: linux.{field}")))
        .collect()
}

/// `linux.devices`: only the nodes sbx's own /dev has (null, zero, full,
/// random, urandom, tty) are accepted; others would be missing.
fn devices(linux: &Linux) -> Result<()> {
    for device in linux.devices().iter().flatten() {
        let path = device.path();
        let name = path.strip_prefix("/dev").ok().and_then(|n| n.to_str());
        let ours = crate::fs::DEV_NODES.iter().any(|(n, major, minor)| {
            Some(*n) == name
                && device.typ().as_str() == "c"
                && device.major() == *major as i64
                && device.minor() == *minor as i64
        });
        if !ours {
            bail!(
                "config.json: linux.devices {} ({} {}:{}) is not supported by sbx yet: only /dev/null, zero, full, random, urandom and tty",
                path.display(),
                device.typ().as_str(),
                device.major(),
                device.minor()
            );
        }
    }
    Ok(())
}

/// `linux.resources`: devices (checked against sbx's allow list, which
/// every sandbox gets), memory, pids, cpu.
fn resources_fields(spec: &mut SandboxSpec, resources: &LinuxResources) -> Result<()> {
    for (i, rule) in resources.devices().iter().flatten().enumerate() {
        let kind = rule
            .typ()
            .map(|t| t.as_str().to_string())
            .unwrap_or("a".into());
        let access = rule.access().clone().unwrap_or("rwm".into());
        let deny_all =
            !rule.allow() && kind == "a" && rule.major().is_none() && rule.minor().is_none();
        if i == 0 && deny_all {
            continue;
        }
        let covered = rule.allow()
            && rule.major().is_some()
            && rule.minor().is_some()
            && matches!(kind.as_str(), "c" | "b")
            && {
                let k = if kind == "c" { Kind::Char } else { Kind::Block };
                let bits = access.chars().fold(0, |b, c| {
                    b | match c {
                        'r' => cgdev::READ,
                        'w' => cgdev::WRITE,
                        'm' => cgdev::MKNOD,
                        _ => 0,
                    }
                });
                let major = rule.major().unwrap_or(-1);
                let minor = rule.minor().unwrap_or(-1);
                major >= 0 && minor >= 0 && cgdev::allowed(k, major as u32, minor as u32, bits)
            };
        if !covered {
            bail!(
                "config.json: linux.resources.devices rule {} ({}) is not supported by sbx yet: sbx allows only its own list (null, zero, full, random, urandom, tty, ptys) after a deny-all first rule",
                i,
                serde_json::to_string(rule).unwrap_or_default()
            );
        }
    }
    let t = &mut spec.limits.tuning;
    if let Some(memory) = resources.memory() {
        let positive = |v: Option<i64>| v.filter(|v| *v > 0).map(|v| v as u64);
        spec.limits.memory = positive(memory.limit());
        t.memory_reservation = positive(memory.reservation());
        t.memory_swap = positive(memory.swap());
        if let Some(swappiness) = memory.swappiness() {
            if swappiness > 100 {
                bail!("config.json: linux.resources.memory.swappiness {swappiness} must be 0..100");
            }
            t.swappiness = Some(swappiness);
        }
        t.disable_oom_killer = memory.disable_oom_killer().unwrap_or(false);
    }
    if let Some(pids) = resources.pids().as_ref().filter(|p| p.limit() > 0) {
        spec.limits.pids = Some(pids.limit() as u64);
    }
    if let Some(cpu) = resources.cpu() {
        let period = cpu.period().filter(|p| *p > 0);
        t.cpu_period = period;
        if let Some(quota) = cpu.quota().filter(|q| *q > 0) {
            spec.limits.cpus = Some(quota as f64 / period.unwrap_or(100_000) as f64);
        }
        t.cpu_shares = cpu.shares().filter(|s| *s > 0);
        t.cpu_rt_period = cpu.realtime_period().filter(|p| *p > 0);
        t.cpu_rt_runtime = cpu.realtime_runtime().filter(|r| *r != 0);
        t.cpuset_cpus = cpu.cpus().clone().filter(|c| !c.is_empty());
        t.cpuset_mems = cpu.mems().clone().filter(|m| !m.is_empty());
    }
    Ok(())
}

/// `linux.cgroupsPath`: a path inside each cgroup hierarchy (absolute:
/// from its root; relative: below sbx's own `sbx/`, the "runtime-determined
/// location" config-linux.md allows), or, with `--systemd-cgroup`,
/// systemd's `SLICE:PREFIX:NAME`, which sbx (a cgroupfs manager: this
/// host's PID 1 need not be systemd) makes at the place systemd would put
/// that scope: `/a.slice/a-b.slice/PREFIX-NAME.scope` for slice `a-b.slice`.
pub fn cgroups_path(spec: &mut SandboxSpec, linux: &Linux, systemd: bool) -> Result<()> {
    let Some(path) = linux
        .cgroups_path()
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty())
    else {
        return Ok(());
    };
    let text = path.to_string_lossy();
    let path = if systemd {
        systemd_path(&text)?
    } else if path.is_absolute() {
        path.clone()
    } else {
        Path::new("/sbx").join(path)
    };
    if path.components().any(|c| {
        !matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::RootDir
        )
    }) || path == Path::new("/")
    {
        bail!(
            "config.json: linux.cgroupsPath {text:?} must name a cgroup below the hierarchy's root (no .., not /)"
        );
    }
    spec.cgroup_path = Some(path);
    Ok(())
}

/// systemd's `SLICE:PREFIX:NAME` as the cgroupfs path systemd gives it
/// (systemd.slice(5): a dash in a slice's name is a level of the tree).
fn systemd_path(text: &str) -> Result<PathBuf> {
    let parts: Vec<&str> = text.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        bail!(
            "config.json: linux.cgroupsPath {text:?} is not systemd's SLICE:PREFIX:NAME (--systemd-cgroup was given)"
        );
    };
    if name.is_empty() || name.contains('/') || slice.contains('/') || prefix.contains('/') {
        bail!("config.json: linux.cgroupsPath {text:?}: SLICE:PREFIX:NAME with a NAME and no /");
    }
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let Some(stem) = slice.strip_suffix(".slice") else {
        bail!("config.json: linux.cgroupsPath {text:?}: the slice must end in .slice");
    };
    let mut path = PathBuf::from("/");
    if stem != "-" {
        let mut level = String::new();
        for word in stem.split('-') {
            if word.is_empty() {
                bail!("config.json: linux.cgroupsPath {text:?}: {slice} is not a slice name");
            }
            if !level.is_empty() {
                level.push('-');
            }
            level.push_str(word);
            path.push(format!("{level}.slice"));
        }
    }
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    path.push(unit);
    Ok(path)
}

/// The mounts sbx makes in every container itself, with its own options:
/// a config's entry for one of these is honoured by them.
const OWN: [(&str, &str); 6] = [
    ("/proc", "proc"),
    ("/dev", "tmpfs"),
    ("/dev/pts", "devpts"),
    ("/dev/shm", "tmpfs"),
    ("/dev/mqueue", "mqueue"),
    ("/sys", "sysfs"),
];

/// Whether `(destination, type)` is one of sbx's own mounts.
pub fn is_own(destination: &Path, fstype: &str) -> bool {
    OWN.iter()
        .any(|(d, t)| Path::new(d) == destination && *t == fstype)
}

/// Option words of a mount split into attributes, filesystem data and
/// bind flags; an unknown word is an error naming it.
pub struct Options {
    /// `ro`.
    pub read_only: bool,
    /// nosuid, nodev, noexec.
    pub attrs: MountAttrs,
    /// `bind` or `rbind` was given (`Some(recursive)`).
    pub bind: Option<bool>,
    /// `key=value` data for the filesystem.
    pub data: Vec<String>,
    /// A propagation word (`shared`, `rprivate`, ...).
    pub propagation: Option<String>,
}

/// Parses a mount's `options`.
pub fn options(mount: &Mount) -> Result<Options> {
    let mut out = Options {
        read_only: false,
        attrs: MountAttrs::default(),
        bind: None,
        data: Vec::new(),
        propagation: None,
    };
    for word in mount.options().iter().flatten() {
        match word.as_str() {
            "ro" => out.read_only = true,
            "rw" => out.read_only = false,
            "nosuid" => out.attrs.nosuid = true,
            "nodev" => out.attrs.nodev = true,
            "noexec" => out.attrs.noexec = true,
            "suid" => out.attrs.nosuid = false,
            "dev" => out.attrs.nodev = false,
            "exec" => out.attrs.noexec = false,
            "bind" => out.bind = Some(false),
            "rbind" => out.bind = Some(true),
            // Set once the root is in place (see `FsPlan::propagation`).
            w if crate::model::fs_plan::propagation_flags(w).is_some() => {
                out.propagation = Some(w.to_string())
            }
            // The kernel's default for every new mount.
            "relatime" => {}
            "strictatime" => out.attrs.strictatime = true,
            "noatime" => out.attrs.noatime = true,
            w if w.contains('=') => out.data.push(w.to_string()),
            w => bail!(
                "config.json: mounts {}: option {w} is not supported by sbx yet",
                mount.destination().display()
            ),
        }
    }
    Ok(out)
}

/// A bind mount's source, relative ones from the bundle.
pub fn bind(spec: &mut SandboxSpec, mount: &Mount, bundle: &Path, opts: Options) -> Result<()> {
    let destination = mount.destination();
    let Some(source) = mount.source() else {
        bail!(
            "config.json: mounts {}: a bind mount needs a source",
            destination.display()
        );
    };
    let source = in_bundle(bundle, source);
    if !source.exists() {
        bail!(
            "config.json: mounts {}: source {} does not exist",
            destination.display(),
            source.display()
        );
    }
    // `key=value` words (`mode=755`, `size=...`) on a bind mount are
    // filesystem data, which mount(2) ignores for MS_BIND: no filesystem is
    // made. runc passes them the same way; the kernel's answer is sbx's.
    let target = inside_path(
        &destination.to_string_lossy(),
        "config.json: mounts destination",
    )?;
    spec.fs.volumes.push(Volume {
        source,
        target,
        read_only: opts.read_only,
        attrs: opts.attrs,
        single: opts.bind == Some(false),
        order: next_order(spec),
    });
    Ok(())
}

/// A fresh kernel filesystem at a destination of the config's choosing.
pub fn kernel(spec: &mut SandboxSpec, mount: &Mount, fstype: &str, opts: Options) -> Result<()> {
    let target = inside_path(
        &mount.destination().to_string_lossy(),
        "config.json: mounts destination",
    )?;
    let mut data = opts.data;
    if let Some(source) = mount
        .source()
        .as_ref()
        .filter(|s| !s.as_os_str().is_empty())
    {
        data.insert(0, format!("source={}", source.display()));
    }
    spec.fs.mounts.push(KernelMount {
        fstype: fstype.to_string(),
        target,
        data,
        read_only: opts.read_only,
        attrs: opts.attrs,
        order: next_order(spec),
    });
    Ok(())
}

/// The config position of the next mount (runtime-spec: "in order").
fn next_order(spec: &SandboxSpec) -> u32 {
    (spec.fs.volumes.len() + spec.fs.mounts.len() + 1) as u32
}

#[cfg(test)]
mod tests {
    use super::systemd_path;
    use std::path::Path;

    #[test]
    fn systemd_slices_become_cgroupfs_paths() {
        assert_eq!(
            systemd_path("machine.slice:libpod:abc").unwrap(),
            Path::new("/machine.slice/libpod-abc.scope")
        );
        assert_eq!(
            systemd_path("a-b.slice:cri:x").unwrap(),
            Path::new("/a.slice/a-b.slice/cri-x.scope")
        );
        assert_eq!(
            systemd_path(":p:n").unwrap(),
            Path::new("/system.slice/p-n.scope")
        );
        assert_eq!(systemd_path("-.slice::n").unwrap(), Path::new("/n.scope"));
        assert!(systemd_path("/abs/path").is_err());
        assert!(systemd_path("machine:p:n").is_err());
        assert!(systemd_path("a--b.slice:p:n").is_err());
    }
}
