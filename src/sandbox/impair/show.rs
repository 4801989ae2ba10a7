//! `sbx impair show [SANDBOX] [--json]`: the impairments recorded for
//! running sandboxes, a table (`SANDBOX IFACE IMPAIRMENTS`) or a JSON
//! array of rows with the values in their units (µs, bits/s, percent).

use super::{Impairment, load};
use crate::sandbox::find;
use crate::state::StateRoot;
use crate::state::records::Status;
use anyhow::{Result, bail};
use serde::Serialize;

/// One row of `show --json`.
#[derive(Serialize)]
struct Row {
    sandbox: String,
    iface: String,
    impairments: String,
    #[serde(flatten)]
    values: Impairment,
}

/// `sbx impair show [SANDBOX] [--json]`: every running sandbox's
/// impairments (or one's), a table or a JSON array.
pub fn show(root: &StateRoot, name: Option<&str>, json: bool) -> Result<()> {
    let records = match name {
        Some(name) => {
            let record = find(root, name)?;
            if record.status() != Status::Running {
                bail!("sandbox {name} is not running: impairments apply to running sandboxes only");
            }
            vec![record]
        }
        None => root.sandboxes()?.0,
    };
    let mut rows = Vec::new();
    for record in records.iter().filter(|r| r.status() == Status::Running) {
        for (iface, values) in load(root, &record.spec.name) {
            rows.push(Row {
                sandbox: record.spec.name.clone(),
                iface,
                impairments: values.describe(),
                values,
            });
        }
    }
    rows.sort_by(|a, b| (&a.sandbox, &a.iface).cmp(&(&b.sandbox, &b.iface)));
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let mut lines = vec![vec!["SANDBOX".into(), "IFACE".into(), "IMPAIRMENTS".into()]];
    lines.extend(
        rows.into_iter()
            .map(|r| vec![r.sandbox, r.iface, r.impairments]),
    );
    print!("{}", crate::table::format_columns(&lines));
    Ok(())
}
