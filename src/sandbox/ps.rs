//! `sbx ps`: what runs, where, with which address.

use super::damaged::Damaged;
use super::kernel::Host;
use super::ps_format;
use crate::model::ports::PortsCell;
use crate::state::ps_index::{self, Scan, Seen, Shown};
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
    /// Only these sandboxes (`sbx lab ps`: a lab's); `None`: all.
    pub only: Option<std::collections::BTreeSet<String>>,
}

/// One line of `ps`: what the record says, the status and the PID.
struct Line {
    shown: Shown,
    status: Status,
    /// The init's PID while it runs.
    pid: Option<i32>,
}

/// Prints the sandboxes as a table, names, or JSON.
pub fn ps(root: &StateRoot, args: &PsQuery) -> Result<()> {
    // Running sandboxes come from `ps.index` where it still holds (see
    // `state::ps_index`), the rest from their records.
    let Scan { seen, unreadable } = ps_index::scan(root)?;
    // Unreadable records are listed as `unknown` (never as dead) with `-a`;
    // a folder without a record file and without a namespace is a launch
    // before its first write (or a removal under way): not a sandbox yet.
    let unknown: Vec<Damaged> = if args.all && args.only.is_none() {
        super::damaged::probe_all(unreadable)
            .into_iter()
            .filter(|d| !d.missing || d.in_kernel())
            .collect()
    } else {
        Vec::new()
    };
    let mut read = Vec::new();
    let mut all = Vec::with_capacity(seen.len());
    for one in seen {
        match one {
            Seen::Indexed { shown, pid } => all.push(Line {
                shown,
                status: Status::Running,
                pid: Some(pid),
            }),
            Seen::Read { record, status } => {
                let record = *record;
                all.push(Line {
                    shown: Shown::of(&record),
                    status,
                    pid: live_pid(&record, status),
                });
                read.push((record, status));
            }
        }
    }
    sweep_left_overs(root, &read);
    let shown: Vec<Line> = all
        .into_iter()
        .filter(|line| args.all || line.status == Status::Running)
        .filter(|line| {
            args.only
                .as_ref()
                .is_none_or(|o| o.contains(&line.shown.name))
        })
        .collect();
    let format = match &args.format {
        Some(text) => ps_format::parse(text)?,
        None => ps_format::Format::Table,
    };
    if let (ps_format::Format::Template(template), false) = (&format, args.quiet) {
        let mut rows: Vec<ps_format::Row> = shown.iter().map(row).collect();
        rows.extend(unknown.iter().map(unknown_template_row));
        print!("{}", template.render(&rows));
    } else if format == ps_format::Format::JsonLines && !args.quiet {
        let mut out = String::new();
        for line in &shown {
            out.push_str(&serde_json::to_string(&to_json(line))?);
            out.push('\n');
        }
        for damaged in &unknown {
            out.push_str(&serde_json::to_string(&unknown_json(damaged))?);
            out.push('\n');
        }
        print!("{out}");
    } else if args.json {
        let mut items: Vec<_> = shown.iter().map(to_json).collect();
        items.extend(unknown.iter().map(unknown_json));
        println!("{}", serde_json::to_string_pretty(&items)?);
    } else if args.quiet {
        let mut out = String::new();
        for name in shown
            .iter()
            .map(|line| &line.shown.name)
            .chain(unknown.iter().map(|d| &d.name))
        {
            out.push_str(name);
            out.push('\n');
        }
        print!("{out}");
    } else {
        let mut lines = table(&shown, timefmt::now_unix(), args.no_trunc);
        let ip6_column = lines.first().is_some_and(|h| h.iter().any(|c| c == "IP6"));
        lines.extend(unknown.iter().map(|d| {
            let mut row = unknown_row(d, args.no_trunc);
            if ip6_column {
                row.insert(4, "?".into());
            }
            row
        }));
        print!("{}", format_columns(&lines));
    }
    Ok(())
}

/// Releases what crashed sandboxes still hold (their netns, veth, cgroups
/// and lease; the record stays, `exited`), so that launches, which sweep
/// only what is in their way, find less in it. Only as root, and only when
/// the exclusive lock is free at once: `sbx ps` never waits for it.
fn sweep_left_overs(root: &StateRoot, read: &[(SandboxRecord, Status)]) {
    let dead: Vec<&SandboxRecord> = read
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

/// The SPEC's JSON keys, one object per sandbox: `network` and `ip` are
/// its first network's (where its default route goes), `networks` all.
fn to_json(line: &Line) -> serde_json::Value {
    let r = &line.shown;
    let first = r.links.first();
    json!({
        "name": r.name,
        "pid": line.pid,
        "network": first.map(|l| &l.network),
        "ip": first.map(|l| l.ip.to_string()),
        // SPEC "IPv6": null unless its first network is dual-stack.
        "ip6": first.and_then(|l| l.ip6).map(|ip| ip.to_string()),
        "networks": r.links.iter().map(|l| json!({"name": l.network, "ip": l.ip.to_string(), "ip6": l.ip6.map(|ip| ip.to_string())})).collect::<Vec<_>>(),
        "status": line.status.as_str(),
        "exit_code": r.exit_code,
        "created": timefmt::rfc3339(r.created),
        "command": r.command,
        "ports": r.ports,
        "limits": r.limits,
    })
}

/// A sandbox as `--format` templates see it.
fn row(line: &Line) -> ps_format::Row<'_> {
    let r = &line.shown;
    let first = r.links.first();
    ps_format::Row {
        name: &r.name,
        pid: line.pid,
        network: first.map(|l| l.network.as_str()),
        networks: r.links.iter().map(|l| l.network.as_str()).collect(),
        ip: first.map(|l| l.ip),
        ip6: first.and_then(|l| l.ip6),
        status: line.status.as_str(),
        exit_code: r.exit_code,
        created: Some(r.created),
        command: &r.command,
        // Only a running sandbox answers on its ports (Docker's way).
        ports: if line.status == Status::Running {
            &r.ports
        } else {
            &[]
        },
    }
}

/// A sandbox whose record cannot be read, as templates see it: what the
/// kernel tells (name, init PID), status `unknown`, nothing else.
fn unknown_template_row(damaged: &Damaged) -> ps_format::Row<'_> {
    ps_format::Row {
        name: &damaged.name,
        pid: damaged.init(),
        network: None,
        networks: Vec::new(),
        ip: None,
        ip6: None,
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
        "ip6": null,
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

/// The cells of a sandbox on several networks: `a,b` (Docker's form).
fn joined(
    links: &[crate::state::Link],
    cell: impl Fn(&crate::state::Link) -> String,
) -> Option<String> {
    (!links.is_empty()).then(|| links.iter().map(cell).collect::<Vec<_>>().join(","))
}

/// The table of `ps`. An IP6 column (after IP) only when a listed sandbox
/// has IPv6 (SPEC "IPv6"), so the table of IPv4-only sandboxes stays as it
/// was for scripts that read it.
fn table(rows: &[Line], now: u64, no_trunc: bool) -> Vec<Vec<String>> {
    let with_ip6 = rows
        .iter()
        .any(|l| l.shown.links.iter().any(|link| link.ip6.is_some()));
    let mut header = [
        "NAME", "PID", "NETWORK", "IP", "STATUS", "CREATED", "PORTS", "COMMAND",
    ]
    .map(String::from)
    .to_vec();
    if with_ip6 {
        header.insert(4, "IP6".into());
    }
    let mut lines = Vec::with_capacity(rows.len() + 1);
    lines.push(header);
    for line in rows {
        let r = &line.shown;
        let status_text = ps_format::status_text(line.status.as_str(), r.exit_code);
        let ip6 = joined(&r.links, |l| {
            l.ip6.map_or_else(|| "-".into(), |ip| ip.to_string())
        });
        let mut cells = vec![
            r.name.clone(),
            line.pid.map_or_else(|| "-".into(), |pid| pid.to_string()),
            joined(&r.links, |l| l.network.clone()).unwrap_or_else(|| "none".into()),
            joined(&r.links, |l| l.ip.to_string()).unwrap_or_else(|| "-".into()),
            status_text,
            timefmt::ago(r.created, now),
            // Only a running sandbox answers on its ports (Docker's way).
            if line.status == Status::Running {
                PortsCell(&r.ports).to_string()
            } else {
                String::new()
            },
            ps_format::command_cell(&r.command, no_trunc),
        ];
        if with_ip6 {
            cells.insert(4, ip6.unwrap_or_else(|| "-".into()));
        }
        lines.push(cells);
    }
    lines
}
