//! Diagnostics on stderr, filtered by `--log-level` / `SBX_LOG`. Small on
//! purpose: sbx logs a handful of lines, not a stream.

use std::sync::atomic::{AtomicU8, Ordering};

static LEVEL: AtomicU8 = AtomicU8::new(1);

const NAMES: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// Sets the level from its name; an unknown name is a user error.
pub fn set_level(name: &str) -> anyhow::Result<()> {
    match NAMES.iter().position(|n| n.eq_ignore_ascii_case(name)) {
        Some(level) => {
            LEVEL.store(level as u8, Ordering::Relaxed);
            Ok(())
        }
        None => anyhow::bail!("log level {name:?} is not one of error, warn, info, debug, trace"),
    }
}

fn emit(level: u8, message: &str) {
    if level <= LEVEL.load(Ordering::Relaxed) {
        eprintln!("sbx: {}: {message}", NAMES[level as usize]);
    }
}

/// Something went wrong but sbx carries on (e.g. one cleanup step failed).
pub fn warn(message: &str) {
    emit(1, message);
}

/// What sbx did, for people following along.
pub fn info(message: &str) {
    emit(2, message);
}

/// Step-by-step detail with timings, for profiling a launch.
pub fn debug(message: &str) {
    emit(3, message);
}

/// Whether debug output is on, so callers skip formatting when it is not.
pub fn debug_enabled() -> bool {
    LEVEL.load(Ordering::Relaxed) >= 3
}
