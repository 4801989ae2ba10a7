//! runc's command line as clap structs (SPEC "OCI runtime"), shaped after
//! youki's `liboci-cli` (read, not copied): the global options, then one
//! subcommand per lifecycle operation.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// `sbx-oci [GLOBAL OPTIONS] COMMAND`.
#[derive(Debug, Parser)]
#[command(
    name = "sbx-oci",
    about = "sbx as an OCI runtime, with runc's command line",
    disable_version_flag = true
)]
pub struct OciCli {
    /// State root (default: sbx's own, SBX_ROOT or /run/sbx).
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// Append errors to this file as well as stderr (conmon reads it).
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Format of --log: text or json.
    #[arg(long, global = true, default_value = "text")]
    pub log_format: String,
    /// linux.cgroupsPath is systemd's SLICE:PREFIX:NAME; sbx (a cgroupfs
    /// manager) makes the cgroup where systemd would put that scope.
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc's callers.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Print the version and the runtime spec's.
    #[arg(long, short = 'v')]
    pub version: bool,
    /// The operation.
    #[command(subcommand)]
    pub command: Option<OciCommand>,
}

/// The operations.
#[derive(Debug, Subcommand)]
pub enum OciCommand {
    /// Create a container from a bundle; it waits for `start`.
    Create(Create),
    /// Start a created container's process.
    Start {
        /// Container id.
        id: String,
    },
    /// Print a container's state as JSON.
    State {
        /// Container id.
        id: String,
    },
    /// Send a signal to a container's process.
    Kill {
        /// Send it to every process of the container.
        #[arg(long, short = 'a')]
        all: bool,
        /// Container id.
        id: String,
        /// Signal name or number (default SIGTERM).
        signal: Option<String>,
    },
    /// Delete a container and everything it holds.
    Delete {
        /// Kill it first if it runs; succeed if it does not exist.
        #[arg(long, short = 'f')]
        force: bool,
        /// Container id.
        id: String,
    },
    /// Create and start a container (and wait for it unless --detach).
    Run(Run),
    /// Run another process in a container.
    Exec(Exec),
    /// List a container's processes.
    Ps {
        /// table or json.
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        /// Container id.
        id: String,
        /// ps(1) options (accepted for runc's callers).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// List the containers of this state root.
    List {
        /// table or json.
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        /// Ids only.
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Write a default config.json into the bundle.
    Spec {
        /// Bundle directory (default: the current one).
        #[arg(long, short = 'b')]
        bundle: Option<PathBuf>,
        /// Accepted for runc's callers; sbx writes a root's spec.
        #[arg(long)]
        rootless: bool,
    },
    /// Print what this runtime supports, as JSON.
    Features,
}

/// `create`'s options.
#[derive(Debug, Args)]
pub struct Create {
    /// Bundle directory (default: the current one).
    #[arg(long, short = 'b')]
    pub bundle: Option<PathBuf>,
    /// Write the container's PID here (no trailing newline).
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket to send the terminal's master side to.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Accepted: sbx always pivots (pivot_root) into the root.
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted: sbx makes no session keyring.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass this many descriptors above stderr to the process.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Container id.
    pub id: String,
}

/// `run`'s options.
#[derive(Debug, Args)]
pub struct Run {
    /// `create`'s options.
    #[command(flatten)]
    pub create: Create,
    /// Return once it runs instead of waiting for it.
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Accepted for runc's callers.
    #[arg(long)]
    pub keep: bool,
}

/// `exec`'s options.
#[derive(Debug, Args)]
pub struct Exec {
    /// A process.json with the process to run.
    #[arg(long, short = 'p')]
    pub process: Option<PathBuf>,
    /// Return once it runs.
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Write its PID here.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Give it a terminal.
    #[arg(long, short = 't')]
    pub tty: bool,
    /// Unix socket to send the terminal's master side to.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Extra environment variables.
    #[arg(long, short = 'e')]
    pub env: Vec<String>,
    /// Working directory.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Container id.
    pub id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// The subcommand names, to tell a global option's value from a command.
const COMMANDS: [&str; 12] = [
    "create", "start", "state", "kill", "delete", "run", "exec", "ps", "list", "spec", "features",
    "help",
];

/// Global options sbx knows (with whether they take a value).
const KNOWN_GLOBALS: [(&str, bool); 6] = [
    ("--root", true),
    ("--log", true),
    ("--log-format", true),
    ("--systemd-cgroup", false),
    ("--debug", false),
    ("--version", false),
];

/// Drops the global options before the command that sbx does not know
/// (podman, conmon and containerd pass runc's and crun's own, such as
/// `--rootless false` or `--cgroup-manager=cgroupfs`), so they never stop
/// a lifecycle operation. An unknown `--opt` followed by a word that is not
/// a command takes that word as its value.
pub fn drop_unknown_globals(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.into_iter().peekable();
    while let Some(arg) = it.next() {
        if COMMANDS.contains(&arg.as_str()) || !arg.starts_with('-') {
            out.push(arg);
            out.extend(it);
            break;
        }
        let name = arg.split_once('=').map_or(arg.as_str(), |(n, _)| n);
        let known = KNOWN_GLOBALS.iter().find(|(k, _)| *k == name);
        match known {
            Some((_, takes_value)) => {
                let inline = arg.contains('=');
                out.push(arg);
                if *takes_value
                    && !inline
                    && let Some(value) = it.next()
                {
                    out.push(value);
                }
            }
            None if arg == "-v" || arg == "-h" || arg == "--help" => out.push(arg),
            None => {
                if !arg.contains('=')
                    && it.peek().is_some_and(|next| {
                        !next.starts_with('-') && !COMMANDS.contains(&next.as_str())
                    })
                {
                    it.next();
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn unknown_globals_are_dropped() {
        let kept = drop_unknown_globals(strings(&[
            "--cgroup-manager=cgroupfs",
            "--rootless",
            "false",
            "--root",
            "/r",
            "--weird",
            "state",
            "--rootless",
            "x",
        ]));
        assert_eq!(kept, strings(&["--root", "/r", "state", "--rootless", "x"]));
        let parsed = OciCli::try_parse_from(std::iter::once("sbx-oci".to_string()).chain(
            drop_unknown_globals(strings(&["--log-format=json", "--foo", "kill", "c1", "9"])),
        ))
        .unwrap();
        assert_eq!(parsed.log_format, "json");
        match parsed.command {
            Some(OciCommand::Kill { id, signal, all }) => {
                assert_eq!(
                    (id.as_str(), signal.as_deref(), all),
                    ("c1", Some("9"), false)
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_takes_runcs_flags() {
        let parsed = OciCli::try_parse_from(strings(&[
            "sbx-oci",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "--no-pivot",
            "--no-new-keyring",
            "--preserve-fds",
            "0",
            "c1",
        ]))
        .unwrap();
        match parsed.command {
            Some(OciCommand::Create(c)) => {
                assert_eq!(c.bundle.as_deref(), Some(std::path::Path::new("/b")));
                assert_eq!(c.id, "c1");
                assert!(c.no_pivot && c.no_new_keyring);
            }
            other => panic!("{other:?}"),
        }
    }
}
