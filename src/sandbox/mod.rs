//! The sandbox lifecycle: launch (`run`), listing (`ps`) and cleanup.

pub mod cleanup;
pub mod launch;
pub mod ps;
mod reserve;
