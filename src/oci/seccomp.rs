//! `linux.seccomp`: the bundle's profile, translated into the core's
//! `SeccompProfile` (compiled and enforced by `process::seccomp_profile`).

use super::config::enum_name;
use crate::model::process::{ArgCheck, SeccompProfile, SeccompVerdict, SyscallRule};
use anyhow::{Result, bail};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};

/// The profile, or an error naming what sbx cannot enforce.
pub fn profile(seccomp: &LinuxSeccomp) -> Result<SeccompProfile> {
    if let Some(arches) = seccomp.architectures().as_ref().filter(|a| !a.is_empty()) {
        let names: Vec<String> = arches.iter().filter_map(|a| enum_name(a).ok()).collect();
        if !names.iter().any(|n| n == "SCMP_ARCH_X86_64") {
            bail!(
                "config.json: linux.seccomp.architectures has no SCMP_ARCH_X86_64: sbx judges x86_64 calls only"
            );
        }
    }
    let default_errno = seccomp.default_errno_ret().unwrap_or(libc::EPERM as u32);
    let default_action = verdict(seccomp.default_action(), default_errno, "defaultAction")?;
    let mut syscalls = Vec::new();
    for (i, rule) in seccomp.syscalls().iter().flatten().enumerate() {
        let what = format!("syscalls[{i}].action");
        let action = verdict(
            rule.action(),
            rule.errno_ret().unwrap_or(libc::EPERM as u32),
            &what,
        )?;
        let mut args = Vec::new();
        for arg in rule.args().iter().flatten() {
            if arg.index() > 5 {
                bail!(
                    "config.json: linux.seccomp.syscalls[{i}].args: index {} is above 5",
                    arg.index()
                );
            }
            args.push(ArgCheck {
                index: arg.index() as u8,
                value: arg.value(),
                value_two: arg.value_two().unwrap_or(0),
                op: enum_name(&arg.op())?,
            });
        }
        syscalls.push(SyscallRule {
            names: rule.names().clone(),
            action,
            args,
        });
    }
    Ok(SeccompProfile {
        default_action,
        syscalls,
    })
}

/// One `SCMP_ACT_*`.
fn verdict(action: LinuxSeccompAction, errno: u32, field: &str) -> Result<SeccompVerdict> {
    let name = enum_name(&action)?;
    Ok(match name.as_str() {
        "SCMP_ACT_ALLOW" => SeccompVerdict::Allow,
        "SCMP_ACT_ERRNO" => SeccompVerdict::Errno(errno),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SeccompVerdict::KillThread,
        "SCMP_ACT_KILL_PROCESS" => SeccompVerdict::KillProcess,
        "SCMP_ACT_TRAP" => SeccompVerdict::Trap,
        "SCMP_ACT_LOG" => SeccompVerdict::Log,
        "SCMP_ACT_TRACE" => SeccompVerdict::Trace(errno),
        other => bail!("config.json: linux.seccomp.{field} {other} is not supported by sbx yet"),
    })
}
