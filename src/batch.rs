//! Commands that take several names (`rm`, `stop`, `kill`, `network rm`)
//! act on each in turn, the Docker way.

use anyhow::{Result, bail};

/// Runs `action` on each name, printing the name on success and going on
/// past failures; any failure fails the command, with every message.
pub fn each(names: &[String], mut action: impl FnMut(&str) -> Result<()>) -> Result<()> {
    let mut failures = Vec::new();
    for name in names {
        match action(name) {
            Ok(()) => println!("{name}"),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        bail!("{}", failures.join("; "))
    }
}
