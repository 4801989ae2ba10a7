//! The sandbox lifecycle: launch (`run`, with a supervisor for `-d`),
//! `exec`, `ps`, `logs`, `stop`, `kill`, `rm`, `inspect`, `prune`, and the
//! cleanup they share.

pub mod cleanup;
pub mod connect;
pub mod control;
pub mod damaged;
pub mod exec;
pub mod held;
mod hooks;
pub mod images;
pub mod impair;
pub mod inspect;
pub mod kernel;
pub mod launch;
mod logfile;
pub mod logs;
pub mod network_rm;
pub mod partition;
pub mod ps;
mod ps_format;
mod publish;
mod reserve;
mod reserve6;
pub mod restart;
mod supervisor;

use crate::state::{SandboxRecord, StateRoot};
use anyhow::{Result, bail};

/// A sandbox's record by name, or the user error naming it.
pub fn find(root: &StateRoot, name: &str) -> Result<SandboxRecord> {
    crate::spec::check_id(name)?;
    match root.sandbox(name)? {
        Some(record) => Ok(record),
        None => bail!("no such sandbox: {name} (see 'sbx ps -a')"),
    }
}
