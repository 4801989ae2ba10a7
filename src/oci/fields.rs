//! Which `config.json` fields sbx honours (SPEC "OCI runtime"): a field
//! of the runtime spec that sbx does not honour yet, set to a non-empty
//! value, is an error naming it, never silently ignored. Properties the
//! runtime spec does not define are ignored, as its "Extensibility" rule
//! requires of every runtime.

use anyhow::{Result, bail};
use serde_json::Value;

/// The honoured keys of each object, by its path in the config.
const HONOURED: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "ociVersion",
            "root",
            "mounts",
            "process",
            "hostname",
            "annotations",
            "linux",
            "hooks",
        ],
    ),
    (
        "hooks",
        &["prestart", "createRuntime", "poststart", "poststop"],
    ),
    ("root", &["path", "readonly"]),
    (
        "process",
        &[
            "terminal",
            "consoleSize",
            "user",
            "args",
            "env",
            "cwd",
            "capabilities",
            "rlimits",
            "noNewPrivileges",
            "oomScoreAdj",
        ],
    ),
    ("process.user", &["uid", "gid", "additionalGids", "umask"]),
    (
        "process.capabilities",
        &[
            "bounding",
            "effective",
            "inheritable",
            "permitted",
            "ambient",
        ],
    ),
    (
        "linux",
        &[
            "namespaces",
            "maskedPaths",
            "readonlyPaths",
            "devices",
            "resources",
            "sysctl",
            "rootfsPropagation",
            "seccomp",
            "cgroupsPath",
        ],
    ),
    (
        "linux.seccomp",
        &[
            "defaultAction",
            "defaultErrnoRet",
            "architectures",
            "syscalls",
        ],
    ),
    ("linux.resources", &["devices", "memory", "pids", "cpu"]),
    (
        "linux.resources.memory",
        &[
            "limit",
            "reservation",
            "swap",
            "swappiness",
            "disableOOMKiller",
        ],
    ),
    ("linux.resources.pids", &["limit"]),
    (
        "linux.resources.cpu",
        &[
            "shares",
            "quota",
            "period",
            "realtimeRuntime",
            "realtimePeriod",
            "cpus",
            "mems",
        ],
    ),
];

/// The fields the runtime spec (1.2) defines, by object: those of them
/// not in [`HONOURED`] are refused when set.
const KNOWN: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "ociVersion",
            "root",
            "mounts",
            "process",
            "hostname",
            "domainname",
            "hooks",
            "annotations",
            "linux",
            "solaris",
            "windows",
            "vm",
            "zos",
        ],
    ),
    (
        "hooks",
        &[
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop",
        ],
    ),
    ("root", &["path", "readonly"]),
    (
        "process",
        &[
            "terminal",
            "consoleSize",
            "user",
            "args",
            "commandLine",
            "env",
            "cwd",
            "capabilities",
            "rlimits",
            "noNewPrivileges",
            "apparmorProfile",
            "oomScoreAdj",
            "selinuxLabel",
            "ioPriority",
            "scheduler",
            "execCPUAffinity",
        ],
    ),
    (
        "process.user",
        &["uid", "gid", "umask", "additionalGids", "username"],
    ),
    (
        "process.capabilities",
        &[
            "bounding",
            "effective",
            "inheritable",
            "permitted",
            "ambient",
        ],
    ),
    (
        "linux",
        &[
            "uidMappings",
            "gidMappings",
            "timeOffsets",
            "sysctl",
            "resources",
            "cgroupsPath",
            "namespaces",
            "devices",
            "seccomp",
            "rootfsPropagation",
            "maskedPaths",
            "readonlyPaths",
            "mountLabel",
            "intelRdt",
            "personality",
            "memoryPolicy",
            "netDevices",
        ],
    ),
    (
        "linux.resources",
        &[
            "devices",
            "memory",
            "cpu",
            "blockIO",
            "hugepageLimits",
            "network",
            "pids",
            "rdma",
            "unified",
        ],
    ),
    (
        "linux.resources.memory",
        &[
            "limit",
            "reservation",
            "swap",
            "kernel",
            "kernelTCP",
            "swappiness",
            "disableOOMKiller",
            "useHierarchy",
            "checkBeforeUpdate",
        ],
    ),
    ("linux.resources.pids", &["limit"]),
    (
        "linux.resources.cpu",
        &[
            "shares",
            "quota",
            "burst",
            "period",
            "realtimeRuntime",
            "realtimePeriod",
            "cpus",
            "mems",
            "idle",
        ],
    ),
    (
        "linux.seccomp",
        &[
            "defaultAction",
            "defaultErrnoRet",
            "architectures",
            "flags",
            "listenerPath",
            "listenerMetadata",
            "syscalls",
        ],
    ),
];

/// Whether a value counts as given: `null`, `""`, `[]`, `{}` and `false`
/// are what generators write for "not set".
fn is_set(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => o.values().any(is_set),
        Value::Number(_) => true,
    }
}

/// Refuses the first field of `config` that the runtime spec defines and
/// sbx does not honour, naming it as the runtime spec does
/// (`linux.intelRdt`).
pub fn check(config: &Value) -> Result<()> {
    for (path, known) in KNOWN {
        let keys = HONOURED
            .iter()
            .find(|(p, _)| p == path)
            .map_or(&[][..], |(_, k)| *k);
        let object = path
            .split('.')
            .filter(|p| !p.is_empty())
            .try_fold(config, |v, key| v.get(key));
        let Some(Value::Object(object)) = object else {
            continue;
        };
        for (key, value) in object {
            if known.contains(&key.as_str()) && !keys.contains(&key.as_str()) && is_set(value) {
                let field = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                bail!(
                    "config.json: {field} is not supported by sbx yet: remove it from the bundle's config"
                );
            }
        }
    }
    if let Some(Value::Array(mounts)) = config.get("mounts") {
        for mount in mounts {
            if let Value::Object(m) = mount {
                for (key, value) in m {
                    let unhonoured = ["uidMappings", "gidMappings"];
                    if unhonoured.contains(&key.as_str()) && is_set(value) {
                        bail!(
                            "config.json: mounts.{key} is not supported by sbx yet: remove it from the bundle's config"
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unhonoured_fields_are_named() {
        let err = |v: Value| check(&v).unwrap_err().to_string();
        assert!(err(json!({"linux": {"intelRdt": {"closID": "x"}}})).contains("linux.intelRdt"));
        assert!(
            err(json!({"hooks": {"startContainer": [{"path": "/x"}]}}))
                .contains("hooks.startContainer is")
        );
        assert!(
            err(json!({"process": {"apparmorProfile": "p"}})).contains("process.apparmorProfile")
        );
        assert!(
            err(json!({"linux": {"resources": {"cpu": {"idle": 1}}}}))
                .contains("linux.resources.cpu.idle")
        );
        assert!(
            err(json!({"mounts": [{"destination": "/x", "uidMappings": [{"size": 1}]}]}))
                .contains("mounts.uidMappings")
        );
        assert!(err(json!({"solaris": {"milestone": "x"}})).contains(": solaris is"));
        // Not the runtime spec's: ignored (its "Extensibility" rule).
        check(&json!({"frobnicate": 1, "linux": {"vendorThing": 2}})).unwrap();
    }

    #[test]
    fn empty_values_count_as_absent() {
        check(
            &json!({"hooks": {}, "process": {"apparmorProfile": "", "selinuxLabel": null},
                      "linux": {"mountLabel": "", "uidMappings": []}}),
        )
        .unwrap();
    }
}
