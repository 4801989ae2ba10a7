//! What `sbx lab up` prints: one row per sandbox interface, with what `up`
//! did to the sandbox, read back from the records (so an address IPAM
//! chose shows too).

use crate::spec::SandboxSpec;
use crate::state::StateRoot;
use crate::state::records::Status;
use anyhow::Result;

/// Prints SANDBOX, STATUS, INTERFACE, NETWORK, ADDRESS rows; `action(i)`
/// says what `up` did to the i-th sandbox.
pub fn up_table(
    root: &StateRoot,
    specs: &[SandboxSpec],
    action: impl Fn(usize) -> &'static str,
) -> Result<()> {
    let mut lines = vec![
        ["SANDBOX", "STATUS", "INTERFACE", "NETWORK", "ADDRESS"]
            .map(String::from)
            .to_vec(),
    ];
    for (i, spec) in specs.iter().enumerate() {
        let mut status = action(i).to_string();
        let links = match root.sandbox(&spec.name)? {
            Some(record) => {
                // A command that ended at once (say, not found: 127).
                if record.status() == Status::Exited {
                    let code = record.exit_code.map_or("?".into(), |c| c.to_string());
                    status = format!("{status}, exited ({code})");
                }
                record.links
            }
            None => Vec::new(),
        };
        if links.is_empty() {
            lines.push(vec![
                spec.name.clone(),
                status.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
        }
        for link in links {
            lines.push(vec![
                spec.name.clone(),
                status.clone(),
                link.ifname.clone(),
                link.network.clone(),
                link.ip.to_string(),
            ]);
        }
    }
    print!("{}", crate::table::format_columns(&lines));
    Ok(())
}
