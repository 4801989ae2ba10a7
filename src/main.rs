//! sbx: one command that starts a program in its own network, mount, UTS,
//! IPC and PID namespaces, wired into a Linux bridge with NAT.
//!
//! Entry point: parse, check privileges, dispatch, map errors to exit codes.

mod batch;
mod cgroup;
mod cli;
mod crash;
mod firewall;
mod fs;
mod hash;
mod ipam;
mod log;
mod net;
mod network;
mod process;
mod sandbox;
mod spec;
mod state;
mod timefmt;
mod undo;

use clap::Parser as _;
use cli::{Cli, Command};
use process::EXIT_SBX_FAILED;
use sandbox::control;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: not errors.
            let _ = e.print();
            std::process::exit(0);
        }
        Err(e) => {
            // A usage error is a user error like any other: one line, 125.
            let text = e.to_string();
            let paragraph: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let message = paragraph.join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            eprintln!("sbx: {message} (see 'sbx --help')");
            std::process::exit(EXIT_SBX_FAILED);
        }
    };
    let code = match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sbx: {}", one_line(&e));
            // A command that cannot be started has its own statuses.
            e.downcast_ref::<process::exec::CommandError>()
                .map_or(EXIT_SBX_FAILED, |c| c.code)
        }
    };
    std::process::exit(code);
}

fn dispatch(cli: &Cli) -> anyhow::Result<i32> {
    log::set_level(&cli.log_level)?;
    if !nix::unistd::geteuid().is_root() {
        anyhow::bail!("must be run as root: try 'sudo sbx ...'");
    }
    if !matches!(cli.command, Command::Run(_) | Command::Exec(_)) {
        // Listing commands die quietly when their reader goes away
        // (`sbx ps | head`), like any Unix filter. `run` and `exec` keep
        // SIGPIPE ignored: their waiting process must outlive its terminal.
        // SAFETY: restoring the default disposition installs no handler.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let root = state::StateRoot::open(&cli.root)?;
    match &cli.command {
        Command::Run(args) => sandbox::launch::run(&root, args),
        Command::Ps(args) => sandbox::ps::ps(&root, args).map(|()| 0),
        Command::Exec(args) => sandbox::exec::exec(&root, args),
        Command::Logs { follow, name } => sandbox::logs::logs(&root, name, *follow).map(|()| 0),
        Command::Stop { timeout, names } => {
            let timeout = std::time::Duration::from_secs(*timeout);
            control::each(names, |n| control::stop(&root, n, timeout)).map(|()| 0)
        }
        Command::Kill { signal, names } => {
            let signal = control::parse_signal(signal)?;
            control::each(names, |n| control::kill_one(&root, n, signal)).map(|()| 0)
        }
        Command::Rm { force, names } => {
            control::each(names, |n| control::rm(&root, n, *force)).map(|()| 0)
        }
        Command::Inspect { name } => sandbox::inspect::inspect(&root, name).map(|()| 0),
        Command::Prune => control::prune(&root).map(|()| 0),
        Command::Network(command) => network::commands::run(&root, command).map(|()| 0),
    }
}

/// The error and its causes on one line, as the SPEC asks.
fn one_line(err: &anyhow::Error) -> String {
    format!("{err:#}").replace('\n', " ")
}
