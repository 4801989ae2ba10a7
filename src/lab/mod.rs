//! The lab face (SPEC "Labs"; DESIGN "Faces onto one core"): a TOML file
//! of networks and sandboxes, turned into the core's own requests (the
//! network-create request and the checked `SandboxSpec`, as the CLI builds
//! them) and executed by the same lifecycle: no second launch path. No
//! clap here: the CLI parses `sbx lab ...` and calls these.

pub mod check;
mod down;
pub mod file;
pub mod graph;
pub mod impair;
mod report;
pub mod translate;
mod up;

use crate::sandbox::ps::PsQuery;
use crate::state::StateRoot;
use anyhow::Result;
use std::path::Path;

pub use down::down;
pub use up::{launch_from_stdin, up};

/// `sbx lab ps FILE`: `sbx ps`, only the lab's sandboxes (those labelled
/// `lab=NAME`).
pub fn ps(root: &StateRoot, lab: &file::Lab, mut query: PsQuery) -> Result<()> {
    query.only = Some(down::sandboxes_of(root, &lab.name)?.into_iter().collect());
    crate::sandbox::ps::ps(root, &query)
}

/// `sbx lab graph FILE` and `sbx network graph NET` print this.
pub fn print_graph(graph: &graph::Graph, format: graph::Format) -> Result<()> {
    print!("{}", graph::render(graph, format)?);
    Ok(())
}

/// Reads a lab file (a missing or invalid one is the user's error).
pub fn load(path: &Path) -> Result<file::Lab> {
    file::load(path)
}
