//! A bundle's `config.json`, read with the `oci-spec` crate and translated
//! field by field into the core's `SandboxSpec` (SPEC "OCI runtime",
//! DESIGN "Faces onto one core"): the face decides nothing the core does
//! not do for `sbx run` too. Fields sbx does not honour are refused by
//! `fields::check` before any translation.

use super::fields;
use super::linux;
use crate::model::process::{CapSets, ProcessSettings, Rlimit, User};
use crate::model::{NetworkRequest, SandboxSpec};
use anyhow::{Context, Result, bail};
use oci_spec::runtime::{Capabilities, Process, Spec};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The annotation asking for sbx's own network wiring:
/// `org.sbx.network=NET[,ip=ADDR]`.
pub const NETWORK_ANNOTATION: &str = "org.sbx.network";

/// Reads `BUNDLE/config.json`: checked for unhonoured fields, then parsed.
pub fn load(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let text = std::fs::read(&path)
        .with_context(|| format!("read {} (is --bundle right?)", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    fields::check(&value)?;
    serde_json::from_value(value)
        .with_context(|| format!("{} is not an OCI runtime config", path.display()))
}

/// The sandbox `config` describes, named `id`, from the bundle `bundle`
/// (absolute).
/// `systemd`: `--systemd-cgroup` was given (cgroupsPath is then
/// systemd's `SLICE:PREFIX:NAME`).
pub fn translate(id: &str, bundle: &Path, config: &Spec, systemd: bool) -> Result<SandboxSpec> {
    crate::spec::check_id(id)?;
    check_version(config.version())?;
    let mut spec = SandboxSpec {
        name: id.to_string(),
        // A container stays listed, `stopped`, until `delete`.
        detach: true,
        bundle: Some(bundle.to_path_buf()),
        // runc's contract: the caller's subreaper (conmon, a shim) reaps it.
        init_adopted: true,
        ..SandboxSpec::default()
    };
    let Some(root) = config.root() else {
        bail!("config.json: root is missing: a bundle needs root.path");
    };
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    let rootfs = rootfs
        .canonicalize()
        .with_context(|| format!("config.json: root.path {}", rootfs.display()))?;
    if !rootfs.is_dir() {
        bail!(
            "config.json: root.path {} is not a directory",
            rootfs.display()
        );
    }
    spec.fs.rootfs = Some(rootfs);
    spec.fs.read_only = root.readonly().unwrap_or(false);
    let Some(process) = config.process() else {
        bail!("config.json: process is missing: a container needs process.args");
    };
    process_fields(&mut spec, process)?;
    spec.annotations = (config.annotations().iter().flatten())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect::<BTreeMap<_, _>>();
    linux::apply(&mut spec, config, bundle, systemd)?;
    if let Some(hooks) = config.hooks() {
        let list =
            |h: &Option<Vec<oci_spec::runtime::Hook>>| -> Result<Vec<crate::model::process::Hook>> {
                h.iter().flatten().map(hook).collect()
            };
        #[allow(deprecated)]
        let prestart = list(hooks.prestart())?;
        spec.hooks.prestart = prestart;
        spec.hooks.create_runtime = list(hooks.create_runtime())?;
        spec.hooks.poststart = list(hooks.poststart())?;
        spec.hooks.poststop = list(hooks.poststop())?;
    }
    if let Some(hostname) = config.hostname().as_deref().filter(|h| !h.is_empty()) {
        if !spec.namespaces.makes("uts") {
            bail!(
                "config.json: hostname is set but linux.namespaces has no uts namespace of its own"
            );
        }
        spec.hostname = hostname.to_string();
    }
    if let Some(request) = spec.annotations.get(NETWORK_ANNOTATION) {
        if !spec.namespaces.own_network() {
            bail!(
                "config.json: annotation {NETWORK_ANNOTATION} needs a network namespace of the container's own (linux.namespaces network without a path)"
            );
        }
        spec.networks = vec![network_request(request)?];
    }
    Ok(spec)
}

/// `ociVersion` must be a SemVer 1.x.y (the runtime spec's "Valid values":
/// an invalid value is an error).
fn check_version(version: &str) -> Result<()> {
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !numeric || parts[0] != "1" {
        bail!(
            "config.json: ociVersion {version:?} is not a runtime spec 1.x version (SemVer, such as 1.2.0)"
        );
    }
    Ok(())
}

/// One hook: an absolute path, its argv, env and timeout.
fn hook(h: &oci_spec::runtime::Hook) -> Result<crate::model::process::Hook> {
    if !h.path().is_absolute() {
        bail!(
            "config.json: hooks: path {} must be absolute",
            h.path().display()
        );
    }
    let timeout = match h.timeout() {
        Some(t) if t <= 0 => bail!("config.json: hooks: timeout {t} must be positive"),
        t => t.map(|t| t as u64),
    };
    Ok(crate::model::process::Hook {
        path: h.path().clone(),
        args: h.args().clone().unwrap_or_default(),
        env: h.env().clone().unwrap_or_default(),
        timeout,
    })
}

/// `NET[,ip=ADDR]`.
fn network_request(text: &str) -> Result<NetworkRequest> {
    let mut parts = text.split(',');
    let name = parts.next().unwrap_or_default().trim().to_string();
    if name.is_empty() {
        bail!("annotation {NETWORK_ANNOTATION}={text:?}: write NET or NET,ip=ADDR");
    }
    let mut request = NetworkRequest {
        name,
        ..NetworkRequest::default()
    };
    for part in parts {
        match part.split_once('=') {
            Some(("ip", addr)) => {
                request.ip = Some(addr.parse().with_context(|| {
                    format!("annotation {NETWORK_ANNOTATION}: {addr:?} is not an IPv4 address")
                })?)
            }
            _ => bail!("annotation {NETWORK_ANNOTATION}={text:?}: write NET or NET,ip=ADDR"),
        }
    }
    Ok(request)
}

/// `process`: args, env, cwd, user, capabilities, rlimits,
/// noNewPrivileges, oomScoreAdj.
pub fn process_fields(spec: &mut SandboxSpec, process: &Process) -> Result<()> {
    spec.command = process.args().clone().unwrap_or_default();
    if spec.command.is_empty() {
        bail!("config.json: process.args is empty: name the program to run");
    }
    spec.env = process.env().clone().unwrap_or_default();
    let cwd = process.cwd();
    if !cwd.is_absolute() {
        bail!(
            "config.json: process.cwd {} must be absolute",
            cwd.display()
        );
    }
    spec.workdir = cwd.to_string_lossy().into_owned();
    let user = process.user();
    if user.username().as_deref().is_some_and(|u| !u.is_empty()) {
        bail!("config.json: process.user.username is not supported by sbx (Windows only)");
    }
    let mut settings = ProcessSettings {
        user: Some(User {
            uid: user.uid(),
            gid: user.gid(),
            additional_gids: user.additional_gids().clone().unwrap_or_default(),
            umask: user.umask(),
        }),
        allow_new_privileges: !process.no_new_privileges().unwrap_or(false),
        oom_score_adj: process.oom_score_adj(),
        ..ProcessSettings::default()
    };
    for limit in process.rlimits().iter().flatten() {
        let resource = enum_name(&limit.typ())?;
        if crate::process::settings::rlimit_resource(&resource).is_none() {
            bail!("config.json: process.rlimits: unknown type {resource}");
        }
        if limit.soft() > limit.hard() {
            bail!(
                "config.json: process.rlimits {resource}: soft {} above hard {}",
                limit.soft(),
                limit.hard()
            );
        }
        settings.rlimits.push(Rlimit {
            resource,
            soft: limit.soft(),
            hard: limit.hard(),
        });
    }
    let caps = process.capabilities().as_ref();
    let set = |s: Option<&Capabilities>, name: &str| -> Result<Vec<caps::Capability>> {
        let mut out: Vec<caps::Capability> = Vec::new();
        for cap in s.into_iter().flatten() {
            let text = enum_name(cap)?;
            let parsed: caps::Capability = text.parse().map_err(|_| {
                anyhow::anyhow!("config.json: process.capabilities.{name}: unknown {text}")
            })?;
            out.push(parsed);
        }
        out.sort_by_key(|c| c.index());
        Ok(out)
    };
    let sets = CapSets {
        bounding: set(caps.and_then(|c| c.bounding().as_ref()), "bounding")?,
        effective: set(caps.and_then(|c| c.effective().as_ref()), "effective")?,
        inheritable: set(caps.and_then(|c| c.inheritable().as_ref()), "inheritable")?,
        permitted: set(caps.and_then(|c| c.permitted().as_ref()), "permitted")?,
        ambient: set(caps.and_then(|c| c.ambient().as_ref()), "ambient")?,
    };
    spec.caps = sets.bounding.clone();
    settings.cap_sets = Some(sets);
    spec.process = settings;
    Ok(())
}

/// The runtime spec's name of an enum value (`RLIMIT_NOFILE`,
/// `CAP_CHOWN`, `network`): its serde name.
pub fn enum_name<T: serde::Serialize>(value: &T) -> Result<String> {
    match serde_json::to_value(value)? {
        serde_json::Value::String(s) => Ok(s),
        other => bail!("unexpected value {other}"),
    }
}

/// A path of the config, relative ones taken from the bundle.
pub fn in_bundle(bundle: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        bundle.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(edit: impl FnOnce(&mut serde_json::Value)) -> Result<SandboxSpec> {
        let mut value = serde_json::to_value(super::super::commands::default_config()?)?;
        value["root"]["path"] = "/".into();
        edit(&mut value);
        fields::check(&value)?;
        let spec: Spec = serde_json::from_value(value)?;
        translate("c1", Path::new("/tmp"), &spec, false)
    }

    #[test]
    fn the_default_spec_translates_field_by_field() {
        let spec = config(|_| {}).unwrap();
        assert_eq!(spec.hostname, "sbx");
        assert_eq!(spec.command, ["sh"]);
        assert!(spec.fs.read_only);
        assert_eq!(spec.process.rlimits[0].resource, "RLIMIT_NOFILE");
        assert!(!spec.process.allow_new_privileges);
        assert!(spec.namespaces.own_cgroup && spec.namespaces.own_network());
        assert_eq!(
            spec.fs.mounts.len(),
            1,
            "the cgroup mount: {:?}",
            spec.fs.mounts
        );
        assert_eq!(spec.caps.len(), 3);
        assert!(spec.networks.is_empty());
    }

    #[test]
    fn namespaces_joined_shared_and_the_network_annotation() {
        let spec = config(|v| {
            v["linux"]["namespaces"] = serde_json::json!([
                {"type": "mount"}, {"type": "network", "path": "/run/netns/x"}, {"type": "uts"}
            ]);
        })
        .unwrap();
        assert!(!spec.namespaces.own_network());
        assert_eq!(spec.namespaces.shared, ["ipc", "pid"]);
        let err = config(|v| {
            v["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}, {"type": "network", "path": "/x"}, {"type": "uts"}]);
            v["annotations"] = serde_json::json!({"org.sbx.network": "n1"});
        })
        .unwrap_err();
        assert!(err.to_string().contains("org.sbx.network"), "{err}");
        let spec =
            config(|v| v["annotations"] = serde_json::json!({"org.sbx.network": "n1,ip=10.0.0.5"}))
                .unwrap();
        assert_eq!(spec.networks[0].name, "n1");
        assert_eq!(spec.networks[0].ip, Some("10.0.0.5".parse().unwrap()));
        let err = config(|v| {
            v["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}, {"type": "user"}])
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("a user namespace is not supported"),
            "{err}"
        );
    }

    #[test]
    fn mounts_become_volumes_and_kernel_filesystems() {
        let spec = config(|v| {
            let mounts = v["mounts"].as_array_mut().unwrap();
            mounts.push(serde_json::json!({"destination": "/data", "type": "bind", "source": "/tmp", "options": ["rbind", "ro", "nosuid"]}));
            mounts.push(serde_json::json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "noexec"]}));
        })
        .unwrap();
        let volume = &spec.fs.volumes[0];
        assert!(volume.read_only && volume.attrs.nosuid && !volume.single);
        let tmpfs = spec.fs.mounts.iter().find(|m| m.fstype == "tmpfs").unwrap();
        assert_eq!(tmpfs.data, ["source=tmpfs", "size=1m"]);
        assert!(tmpfs.attrs.noexec);
        let err = config(|v| {
            v["mounts"].as_array_mut().unwrap().push(
                serde_json::json!({"destination": "/x", "type": "tmpfs", "options": ["lazytime"]}),
            );
        })
        .unwrap_err();
        assert!(err.to_string().contains("option lazytime"), "{err}");
    }
}
