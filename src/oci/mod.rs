//! The OCI runtime face (SPEC "OCI runtime"): `sbx-oci ARGS`, or
//! `sbx oci ARGS`, with runc's command line ([`args`]), so podman, conmon,
//! containerd's runc shim and runtime-tools can drive sbx. It translates a
//! bundle's `config.json` into the core's sandbox spec ([`config`]) and
//! runs it through the core's one lifecycle (`sandbox::held`).

mod args;
mod commands;
mod config;
mod exec;
mod fields;
mod linux;
mod mounts;
mod seccomp;

use crate::process::EXIT_SBX_FAILED;
use args::OciCli;
use clap::Parser as _;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The name that selects this face as argv[0].
pub const ARGV0: &str = "sbx-oci";

/// Whether this process is the OCI face: argv[0] is `sbx-oci` (a link to
/// sbx, or the `sbx-oci` launcher beside it), or sbx's own global options
/// are followed by `oci`. Returns the face's arguments and its default
/// state root (sbx's `--root`, else `SBX_ROOT`, else /run/sbx).
pub fn selected(argv: Vec<std::ffi::OsString>) -> Option<(Vec<String>, PathBuf)> {
    let mut root = std::env::var_os("SBX_ROOT")
        .filter(|r| !r.is_empty())
        .map_or_else(|| PathBuf::from("/run/sbx"), PathBuf::from);
    let argv0 = argv.first().map(Path::new).and_then(Path::file_name);
    let strings = |rest: &[std::ffi::OsString]| -> Vec<String> {
        rest.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    };
    if argv0.is_some_and(|n| n == ARGV0) {
        return Some((strings(&argv[1..]), root));
    }
    let mut i = 1;
    while let Some(arg) = argv.get(i).and_then(|a| a.to_str()) {
        match arg {
            "oci" => return Some((strings(&argv[i + 1..]), root)),
            "--root" => {
                root = PathBuf::from(argv.get(i + 1)?);
                i += 2;
            }
            "--log-level" | "--image-store" => i += 2,
            a if a.starts_with("--root=") => {
                root = PathBuf::from(&a["--root=".len()..]);
                i += 1;
            }
            a if a.starts_with("--log-level=") || a.starts_with("--image-store=") => i += 1,
            _ => return None,
        }
    }
    None
}

/// Runs the OCI face with `args` (what follows `sbx-oci` or `sbx oci`);
/// `default_root` is the state root when `--root` is not given.
pub fn main(args: Vec<String>, default_root: PathBuf) -> i32 {
    let args = args::drop_unknown_globals(args);
    let cli = match OciCli::try_parse_from(std::iter::once(ARGV0.to_string()).chain(args)) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("sbx: {first} (see 'sbx-oci --help')");
            return EXIT_SBX_FAILED;
        }
    };
    let root = cli.root.clone().unwrap_or(default_root);
    match commands::dispatch(&cli, &root) {
        Ok(code) => code,
        Err(e) => {
            let message = format!("{e:#}").replace('\n', " ");
            eprintln!("sbx: {message}");
            if let Some(log) = &cli.log {
                log_error(log, &cli.log_format, &message);
            }
            EXIT_SBX_FAILED
        }
    }
}

/// Appends the error to `--log` as runc does: a text line, or a JSON
/// object `{level, msg, time}` that conmon and podman read back.
fn log_error(path: &Path, format: &str, message: &str) {
    let line = if format == "json" {
        serde_json::json!({
            "level": "error",
            "msg": message,
            "time": crate::timefmt::rfc3339(crate::timefmt::now_unix()),
        })
        .to_string()
    } else {
        format!("sbx: {message}")
    };
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(file, "{line}");
    }
}
