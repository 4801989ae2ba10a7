//! `sbx ps`: what runs, where, with which address.

use super::damaged::Damaged;
use super::kernel::Host;
use super::ps_format;
use crate::model::ports::PortsCell;
use crate::state::records::Status;
use crate::state::{SandboxRecord, StateRoot};
use crate::table::format_columns;
use crate::timefmt;
use anyhow::Result;
use serde_json::json;

/// Which sandboxes `ps` shows and how, as a face asks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PsQuery {
    /// Exited (and unknown) sandboxes too, not only running ones.
    pub all: bool,
    /// Names only.
    pub quiet: bool,
    /// One JSON array.
    pub json: bool,
    /// `table`, `json` (one object per line) or a template, as typed.
    pub format: Option<String>,
    /// Whole commands, without cutting long ones.
    pub no_trunc: bool,
}

/// Prints the sandboxes as a table, names, or JSON.
pub fn ps(root: &StateRoot, args: &PsQuery) -> Result<()> {
    let (records, unreadable) = root.sandboxes()?;
    // Unreadable records are listed as `unknown` (never as dead) with `-a`;
    // a folder without a record file and without a namespace is a launch
    // before its first write (or a removal under way): not a sandbox yet.
    let unknown: Vec<Damaged> = if args.all {
        super::damaged::probe_all(unreadable)
            .into_iter()
            .filter(|d| !d.missing || d.in_kernel())
            .collect()
    } else {
        Vec::new()
    };
    let all: Vec<(SandboxRecord, Status)> = records
        .into_iter()
        .map(|r| {
            let status = r.status();
            (r, status)
        })
        .collect();
    sweep_left_overs(root, &all);
    let shown: Vec<(SandboxRecord, Status)> = all
        .into_iter()
        .filter(|(_, status)| args.all || *status == Status::Running)
        .collect();
    let format = match &args.format {
        Some(text) => ps_format::parse(text)?,
        None => ps_format::Format::Table,
    };
    if let (ps_format::Format::Template(template), false) = (&format, args.quiet) {
        let mut rows: Vec<ps_format::Row> = shown.iter().map(|(r, s)| row(r, *s)).collect();
        rows.extend(unknown.iter().map(unknown_template_row));
        print!("{}", template.render(&rows));
    } else if format == ps_format::Format::JsonLines && !args.quiet {
        for (r, s) in &shown {
            println!("{}", serde_json::to_string(&to_json(r, *s))?);
        }
        for damaged in &unknown {
            println!("{}", serde_json::to_string(&unknown_json(damaged))?);
        }
    } else if args.json {
        let mut items: Vec<_> = shown.iter().map(|(r, s)| to_json(r, *s)).collect();
        items.extend(unknown.iter().map(unknown_json));
        println!("{}", serde_json::to_string_pretty(&items)?);
    } else if args.quiet {
        for (record, _) in &shown {
            println!("{}", record.spec.name);
        }
        for damaged in &unknown {
            println!("{}", damaged.name);
        }
    } else {
        let mut lines = table(&shown, timefmt::now_unix(), args.no_trunc);
        lines.extend(unknown.iter().map(|d| unknown_row(d, args.no_trunc)));
        print!("{}", format_columns(&lines));
    }
    Ok(())
}

/// Releases what crashed sandboxes still hold (their netns, veth, cgroups
/// and lease; the record stays, `exited`), so that launches, which sweep
/// only what is in their way, find less in it. Only as root, and only when
/// the exclusive lock is free at once: `sbx ps` never waits for it.
fn sweep_left_overs(root: &StateRoot, shown: &[(SandboxRecord, Status)]) {
    let dead: Vec<&SandboxRecord> = shown
        .iter()
        .filter(|(r, s)| *s == Status::Exited && super::cleanup::left_over(r))
        .map(|(r, _)| r)
        .collect();
    if dead.is_empty() || !nix::unistd::geteuid().is_root() {
        return;
    }
    let Some(_lock) = root.try_lock() else {
        return;
    };
    for record in dead {
        if let Some(Err(dead)) = super::reserve::confirm_exited(root, record.clone())
            && let Err(e) = super::cleanup::release_dead(&Host, root, dead)
        {
            crate::log::warn(&format!("{e:#}"));
        }
    }
}

/// The host PID of a running sandbox's init; none once it has ended (the
/// number may already belong to another process).
fn live_pid(record: &SandboxRecord, status: Status) -> Option<i32> {
    record
        .init
        .filter(|_| status == Status::Running)
        .map(|p| p.pid)
}

/// The SPEC's JSON keys, one object per sandbox.
fn to_json(record: &SandboxRecord, status: Status) -> serde_json::Value {
    json!({
        "name": record.spec.name,
        "pid": live_pid(record, status),
        "network": record.spec.network,
        "ip": record.ip.map(|ip| ip.to_string()),
        "status": status.as_str(),
        "exit_code": record.exit_code,
        "created": timefmt::rfc3339(record.created),
        "command": record.spec.command,
        "ports": record.spec.ports,
        "limits": record.spec.limits,
    })
}

/// A sandbox as `--format` templates see it.
fn row(record: &SandboxRecord, status: Status) -> ps_format::Row<'_> {
    ps_format::Row {
        name: &record.spec.name,
        pid: live_pid(record, status),
        network: record.spec.network.as_deref(),
        ip: record.ip,
        status: status.as_str(),
        exit_code: record.exit_code,
        created: Some(record.created),
        command: &record.spec.command,
        ports: &record.spec.ports,
    }
}

/// A sandbox whose record cannot be read, as templates see it: what the
/// kernel tells (name, init PID), status `unknown`, nothing else.
fn unknown_template_row(damaged: &Damaged) -> ps_format::Row<'_> {
    ps_format::Row {
        name: &damaged.name,
        pid: damaged.init(),
        network: None,
        ip: None,
        status: "unknown",
        exit_code: None,
        created: None,
        command: &[],
        ports: &[],
    }
}

/// A sandbox whose record cannot be read, in `--json`: status `unknown`
/// with the reason; the PID is its init's, found in the kernel.
fn unknown_json(damaged: &Damaged) -> serde_json::Value {
    json!({
        "name": damaged.name,
        "pid": damaged.init(),
        "network": null,
        "ip": null,
        "status": "unknown",
        "reason": format!("{}; {}", damaged.reason, damaged.kernel_words()),
        "exit_code": null,
        "created": null,
        "command": null,
        "ports": null,
    })
}

/// The same as a table row: the reason stands where the command would,
/// cut as a command is unless `whole` (`--no-trunc`).
fn unknown_row(damaged: &Damaged, whole: bool) -> Vec<String> {
    vec![
        damaged.name.clone(),
        damaged
            .init()
            .map_or_else(|| "-".into(), |pid| pid.to_string()),
        "?".into(),
        "?".into(),
        "unknown".into(),
        "?".into(),
        "?".into(),
        ps_format::cut(
            format!(
                "(record unreadable: {}; {})",
                damaged.reason,
                damaged.kernel_words()
            )
            .replace('\n', " "),
            whole,
        ),
    ]
}

fn table(rows: &[(SandboxRecord, Status)], now: u64, no_trunc: bool) -> Vec<Vec<String>> {
    let header = [
        "NAME", "PID", "NETWORK", "IP", "STATUS", "CREATED", "PORTS", "COMMAND",
    ]
    .map(String::from);
    let mut lines = vec![header.to_vec()];
    for (r, status) in rows {
        let status_text = ps_format::status_text(status.as_str(), r.exit_code);
        lines.push(vec![
            r.spec.name.clone(),
            live_pid(r, *status).map_or_else(|| "-".into(), |pid| pid.to_string()),
            r.spec.network.clone().unwrap_or_else(|| "none".into()),
            r.ip.map(|ip| ip.to_string()).unwrap_or_else(|| "-".into()),
            status_text,
            timefmt::ago(r.created, now),
            PortsCell(&r.spec.ports).to_string(),
            ps_format::command_cell(&r.spec.command, no_trunc),
        ]);
    }
    lines
}
