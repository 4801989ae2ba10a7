//! The CNI face (SPEC "CNI plugin"): invoked as `sbx-cni` by a container
//! runtime, with the request in `CNI_*` environment variables and the
//! network configuration on stdin (CNI spec 1.0/1.1, "Execution
//! Protocol"). It translates ADD, DEL, CHECK, STATUS and GC into the
//! core's requests (`network::attach`, the lease store under the state
//! root) and prints the spec's result or error JSON.

mod commands;
mod config;
mod delegate;
mod env;
mod gc;
mod result;

use serde_json::json;
use std::io::Read as _;

/// The versions of the CNI spec this plugin speaks: 0.4.0 (the first with
/// CHECK, whose results differ only by each IP's `"version": "4"`), 1.0.0
/// and 1.1.0 (STATUS and GC). Older ones lack CHECK and their results have
/// another shape; a runtime speaking them converts nothing for us.
pub const SUPPORTED: [&str; 3] = ["0.4.0", "1.0.0", "1.1.0"];

/// The newest, used where no configuration names one (VERSION, errors
/// before the configuration could be read).
pub const CURRENT: &str = "1.1.0";

/// The spec's well-known error codes ("Error" in the CNI spec).
pub mod code {
    /// Incompatible CNI version.
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    /// Container unknown or does not exist.
    pub const UNKNOWN_CONTAINER: u32 = 3;
    /// Invalid necessary environment variables.
    pub const INVALID_ENV: u32 = 4;
    /// I/O failure.
    pub const IO_FAILURE: u32 = 5;
    /// Failed to decode content.
    pub const DECODE: u32 = 6;
    /// Invalid network config.
    pub const INVALID_CONFIG: u32 = 7;
    /// Try again later.
    pub const TRY_AGAIN: u32 = 11;
    /// STATUS: the plugin cannot service ADD requests (spec 1.1).
    pub const NOT_AVAILABLE: u32 = 50;
    /// Anything else (what the reference plugins call `ErrInternal`).
    pub const INTERNAL: u32 = 999;
}

/// A CNI error: printed as `{cniVersion, code, msg, details}`.
#[derive(Debug)]
pub struct CniError {
    /// One of [`code`].
    pub code: u32,
    /// What went wrong, one line.
    pub msg: String,
    /// More, when there is more (the cause chain).
    pub details: String,
}

impl CniError {
    /// An error with code `code` and message `msg`.
    pub fn new(code: u32, msg: impl Into<String>) -> Self {
        CniError {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    /// Wraps a core failure: `msg` says what was being done.
    pub fn from_core(code: u32, msg: &str, e: anyhow::Error) -> Self {
        CniError {
            code,
            msg: format!("{msg}: {}", format!("{e:#}").replace('\n', " ")),
            details: String::new(),
        }
    }
}

/// Every fallible step of the face returns this.
pub type CniResult<T> = Result<T, CniError>;

/// Whether this process was started as the CNI plugin: its argv[0] (the
/// name the runtime found in CNI_PATH, or the launcher's) is `sbx-cni`.
pub fn selected(argv0: &str) -> bool {
    std::path::Path::new(argv0)
        .file_name()
        .is_some_and(|n| n == "sbx-cni")
}

/// Runs one CNI request and returns the exit status: 0 with the result
/// (if any) on stdout, or non-zero with the error JSON on stdout (the
/// spec's contract) and one `sbx: ` line on stderr for the runtime's log.
pub fn main() -> i32 {
    // SBX_LOG=debug: step times on stderr (runtimes log a plugin's stderr).
    if let Ok(level) = std::env::var("SBX_LOG") {
        let _ = crate::log::set_level(&level);
    }
    let mut stdin = Vec::new();
    let command = std::env::var("CNI_COMMAND").unwrap_or_default();
    let outcome = std::io::stdin()
        .read_to_end(&mut stdin)
        .map_err(|e| CniError::new(code::IO_FAILURE, format!("read the configuration: {e}")))
        .and_then(|_| commands::run(&command, &stdin));
    match outcome {
        Ok(Some(value)) => {
            println!("{value}");
            0
        }
        Ok(None) => 0,
        Err(e) => {
            let version = config::version_of(&stdin).unwrap_or_else(|| CURRENT.to_string());
            let body = json!({
                "cniVersion": version,
                "code": e.code,
                "msg": e.msg,
                "details": e.details,
            });
            println!("{body}");
            eprintln!("sbx: sbx-cni {command}: {}", e.msg);
            crate::process::EXIT_SBX_FAILED
        }
    }
}
