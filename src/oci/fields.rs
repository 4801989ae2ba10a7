//! Which `config.json` fields sbx honours (SPEC "OCI runtime"): every key
//! present with a non-empty value must be in these lists, so a field sbx
//! does not honour yet is an error naming it, never silently ignored —
//! also one the `oci-spec` crate itself does not know.

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
    ("process.user", &["uid", "gid", "additionalGids"]),
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
    ("linux.resources.memory", &["limit", "swap"]),
    ("linux.resources.pids", &["limit"]),
    ("linux.resources.cpu", &["quota", "period"]),
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

/// Refuses the first field of `config` that is set but not honoured,
/// naming it as the runtime spec does (`linux.intelRdt`).
pub fn check(config: &Value) -> Result<()> {
    for (path, keys) in HONOURED {
        let object = path
            .split('.')
            .filter(|p| !p.is_empty())
            .try_fold(config, |v, key| v.get(key));
        let Some(Value::Object(object)) = object else {
            continue;
        };
        for (key, value) in object {
            if !keys.contains(&key.as_str()) && is_set(value) {
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
    let rules = config.pointer("/linux/seccomp/syscalls");
    for rule in rules.and_then(Value::as_array).into_iter().flatten() {
        for (key, value) in rule.as_object().into_iter().flatten() {
            if !["names", "action", "errnoRet", "args"].contains(&key.as_str()) && is_set(value) {
                bail!(
                    "config.json: linux.seccomp.syscalls.{key} is not supported by sbx yet: remove it from the bundle's config"
                );
            }
        }
    }
    if let Some(Value::Array(mounts)) = config.get("mounts") {
        for mount in mounts {
            if let Value::Object(m) = mount {
                for (key, value) in m {
                    let known = ["destination", "type", "source", "options"];
                    if !known.contains(&key.as_str()) && is_set(value) {
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
            err(json!({"linux": {"resources": {"cpu": {"shares": 5}}}}))
                .contains("linux.resources.cpu.shares")
        );
        assert!(
            err(json!({"mounts": [{"destination": "/x", "uidMappings": [{"size": 1}]}]}))
                .contains("mounts.uidMappings")
        );
        assert!(err(json!({"frobnicate": 1})).contains("frobnicate"));
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
