//! `sbx lab ...` and `sbx network graph`: clap's arguments handed to the
//! lab face (`crate::lab`), which knows no clap.

use super::args::{GraphFormat, LabCommand};
use crate::lab::{self, graph::Format};
use crate::state::StateRoot;
use anyhow::Result;
use std::path::Path;

/// Runs one `sbx lab` subcommand; returns the exit status.
pub fn dispatch(root: &StateRoot, image_store: &Path, command: &LabCommand) -> Result<i32> {
    match command {
        LabCommand::Up { file } => lab::up(root, &lab::load(file)?, image_store).map(|()| 0),
        LabCommand::Down { file } => lab::down(root, &lab::load(file)?).map(|()| 0),
        LabCommand::Ps { args, file } => {
            lab::ps(root, &lab::load(file)?, super::requests::ps(args)).map(|()| 0)
        }
        LabCommand::Check { json, file } => lab::check::check(root, &lab::load(file)?, *json),
        LabCommand::Graph { format, file } => {
            let graph = lab::graph::of_lab(root, &lab::load(file)?)?;
            lab::print_graph(&graph, format_of(*format)).map(|()| 0)
        }
        LabCommand::LaunchSpec => lab::launch_from_stdin(root),
    }
}

/// `sbx network graph NET`.
pub fn network_graph(root: &StateRoot, name: &str, format: GraphFormat) -> Result<()> {
    lab::print_graph(&lab::graph::of_network(root, name)?, format_of(format))
}

fn format_of(format: GraphFormat) -> Format {
    match format {
        GraphFormat::Text => Format::Text,
        GraphFormat::Dot => Format::Dot,
        GraphFormat::Json => Format::Json,
    }
}
