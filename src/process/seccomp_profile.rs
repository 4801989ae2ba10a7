//! A given seccomp profile (OCI's `linux.seccomp`, `model::SeccompProfile`)
//! compiled with `seccompiler`. Its model has one match verdict per filter,
//! so the profile becomes one filter per distinct rule verdict: each
//! answers its verdict for its calls and `ALLOW` otherwise, and the filter
//! for the default verdict allows exactly the calls with an `ALLOW` rule.
//! The kernel runs every installed filter and takes the strongest answer
//! (seccomp(2): KILL > TRAP > ERRNO > TRACE > LOG > ALLOW), which is the
//! profile's meaning when rules with different verdicts name one call.
//! Only the x86_64 ABI is judged; a call of another ABI is killed by
//! seccompiler's architecture check.

use super::syscalls;
use crate::model::process::{ArgCheck, SeccompProfile, SeccompVerdict};
use anyhow::{Context, Result, bail};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

/// Compiles `profile` into the filters to install (see the module doc).
pub fn compile(profile: &SeccompProfile) -> Result<Vec<BpfProgram>> {
    let mut verdicts: Vec<SeccompVerdict> = profile.syscalls.iter().map(|r| r.action).collect();
    verdicts.push(SeccompVerdict::Allow);
    verdicts.sort();
    verdicts.dedup();
    let mut programs = Vec::new();
    for verdict in verdicts {
        let (matched, mismatched) = if verdict == SeccompVerdict::Allow {
            // The default filter: the ALLOW rules pass, the rest gets the default.
            (SeccompVerdict::Allow, profile.default_action)
        } else {
            (verdict, SeccompVerdict::Allow)
        };
        if matched == mismatched {
            continue;
        }
        let rules = rules_of(profile, verdict)?;
        if rules.is_empty() && verdict != SeccompVerdict::Allow {
            continue;
        }
        let filter = SeccompFilter::new(
            rules,
            action(mismatched),
            action(matched),
            TargetArch::x86_64,
        )
        .context("linux.seccomp: build the filter")?;
        programs.push(
            filter
                .try_into()
                .context("linux.seccomp: compile the filter")?,
        );
    }
    Ok(programs)
}

/// The rules of one verdict, by call number (an empty list matches the
/// call whatever its arguments, as seccompiler has it).
fn rules_of(
    profile: &SeccompProfile,
    verdict: SeccompVerdict,
) -> Result<BTreeMap<i64, Vec<SeccompRule>>> {
    // None: unconditional.
    let mut rules: BTreeMap<i64, Option<Vec<SeccompRule>>> = BTreeMap::new();
    for rule in profile.syscalls.iter().filter(|r| r.action == verdict) {
        let conditions = (rule.args.iter())
            .map(condition)
            .collect::<Result<Vec<_>>>()?;
        for name in &rule.names {
            let Some(number) = syscalls::number(name) else {
                continue;
            };
            let entry = rules.entry(number).or_insert_with(|| Some(Vec::new()));
            match (entry.as_mut(), conditions.is_empty()) {
                (_, true) => *entry = None,
                (Some(list), false) => list.push(
                    SeccompRule::new(conditions.clone())
                        .with_context(|| format!("linux.seccomp rule for {name}"))?,
                ),
                (None, false) => {}
            }
        }
    }
    Ok(rules
        .into_iter()
        .map(|(number, list)| (number, list.unwrap_or_default()))
        .collect())
}

/// One argument check.
fn condition(check: &ArgCheck) -> Result<SeccompCondition> {
    let (op, value) = match check.op.as_str() {
        "SCMP_CMP_EQ" => (SeccompCmpOp::Eq, check.value),
        "SCMP_CMP_NE" => (SeccompCmpOp::Ne, check.value),
        "SCMP_CMP_LT" => (SeccompCmpOp::Lt, check.value),
        "SCMP_CMP_LE" => (SeccompCmpOp::Le, check.value),
        "SCMP_CMP_GT" => (SeccompCmpOp::Gt, check.value),
        "SCMP_CMP_GE" => (SeccompCmpOp::Ge, check.value),
        "SCMP_CMP_MASKED_EQ" => (SeccompCmpOp::MaskedEq(check.value), check.value_two),
        other => bail!("linux.seccomp: unknown operator {other}"),
    };
    SeccompCondition::new(check.index, SeccompCmpArgLen::Qword, op, value)
        .with_context(|| format!("linux.seccomp: argument {} check", check.index))
}

/// seccompiler's name of a verdict.
fn action(verdict: SeccompVerdict) -> SeccompAction {
    match verdict {
        SeccompVerdict::KillProcess => SeccompAction::KillProcess,
        SeccompVerdict::KillThread => SeccompAction::KillThread,
        SeccompVerdict::Trap => SeccompAction::Trap,
        SeccompVerdict::Errno(e) => SeccompAction::Errno(e),
        SeccompVerdict::Trace(t) => SeccompAction::Trace(t),
        SeccompVerdict::Log => SeccompAction::Log,
        SeccompVerdict::Allow => SeccompAction::Allow,
    }
}

/// Installs one compiled filter with seccomp(2) as it is: unlike
/// `seccompiler::apply_filter`, it does not set no_new_privs (OCI's
/// `noNewPrivileges: false` then needs CAP_SYS_ADMIN, which the caller
/// still has). Allocates nothing: safe after fork.
pub fn install(prog: &BpfProgram) -> Result<()> {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: a valid program pointer and length, alive for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("install the seccomp profile");
    }
    Ok(())
}
