//! The command-line face: clap's definitions ([`args`]), their translation
//! into the core's requests ([`requests`]), and the dispatch `main` calls.
//! Only this module knows clap; the core below takes requests and specs.

mod args;
mod lab;
mod requests;

use crate::process::EXIT_SBX_FAILED;
use crate::sandbox::{self, control};
use crate::{log, network, state};
use args::{Cli, Command, ImageCommand, ImpairCommand, NetworkCommand, PartitionCommand};
use clap::Parser as _;

/// Runs `sbx` with this process's arguments and returns its exit status:
/// parse, check privileges, dispatch, map errors to exit codes.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: not errors.
            let _ = e.print();
            return 0;
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
            let help = help_command(std::env::args().skip(1));
            eprintln!("sbx: {message} (see '{help} --help')");
            return EXIT_SBX_FAILED;
        }
    };
    match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sbx: {}", one_line(&e));
            // A command that cannot be started has its own statuses.
            e.downcast_ref::<crate::spec::command::CommandError>()
                .map_or(EXIT_SBX_FAILED, |c| c.code)
        }
    }
}

/// Checks privileges and the state root, then runs one command.
fn dispatch(cli: &Cli) -> anyhow::Result<i32> {
    log::set_level(&cli.log_level)?;
    let read_only = is_read_only(&cli.command);
    if !read_only && !nix::unistd::geteuid().is_root() {
        anyhow::bail!(
            "this command must be run as root (it changes namespaces, links or firewall rules); \
             ps, inspect, logs and network ls/inspect work for any user who can read the state root"
        );
    }
    if !matches!(
        cli.command,
        Command::Run(_) | Command::Exec(_) | Command::Restart { .. }
    ) {
        // Listing commands die quietly when their reader goes away
        // (`sbx ps | head`), like any Unix filter. `run` and `exec` keep
        // SIGPIPE ignored: their waiting process must outlive its terminal.
        // SAFETY: restoring the default disposition installs no handler.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let root = if read_only && !nix::unistd::geteuid().is_root() {
        state::StateRoot::open_read_only(&cli.root)?
    } else {
        state::StateRoot::open(&cli.root)?
    };
    match &cli.command {
        Command::Run(args) => {
            let mut request = requests::sandbox(args);
            request.image_store = Some(cli.image_store.clone());
            sandbox::launch::run(&root, &request)
        }
        Command::Ps(args) => sandbox::ps::ps(&root, &requests::ps(args)).map(|()| 0),
        Command::Exec(args) => sandbox::exec::exec(&root, &requests::exec(args)),
        Command::Logs(args) => sandbox::logs::logs(&root, &requests::logs(args)).map(|()| 0),
        Command::Restart { timeout, names } => {
            let timeout = std::time::Duration::from_secs(*timeout);
            sandbox::restart::restart_all(&root, names, timeout).map(|()| 0)
        }
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
        // `main` hands `sbx [OPTIONS] oci ...` to the OCI face before clap.
        Command::Oci { .. } => {
            anyhow::bail!("sbx oci: write it as 'sbx oci ARGS' (see 'sbx oci --help')")
        }
        Command::Inspect { name } => sandbox::inspect::inspect(&root, name).map(|()| 0),
        Command::Prune => {
            // What dead image loads and pulls left in the store's tmp/ too.
            if let Some(store) = crate::image::Store::existing(&cli.image_store) {
                match store.sweep() {
                    0 => {}
                    1 => println!("removed 1 unfinished image load from the image store"),
                    n => println!("removed {n} unfinished image loads from the image store"),
                }
            }
            control::prune(&root).map(|()| 0)
        }
        Command::Network(NetworkCommand::Check(args)) => {
            let report = crate::check::check_networks(&cli.root, &args.networks, &[])?;
            crate::check::print_report(&report, args.json);
            Ok(if report.failed == 0 { 0 } else { 1 })
        }
        Command::Network(command) => network_command(&root, command).map(|()| 0),
        Command::Image(command) => image_command(&root, &cli.image_store, command).map(|()| 0),
        Command::Impair(command) => impair_command(&root, command).map(|()| 0),
        Command::Partition(command) => partition_command(&root, command).map(|()| 0),
        Command::Lab(command) => lab::dispatch(&root, &cli.image_store, command),
    }
}

/// One `sbx impair` subcommand.
fn impair_command(root: &state::StateRoot, command: &ImpairCommand) -> anyhow::Result<()> {
    use sandbox::impair;
    match command {
        ImpairCommand::Set(args) => impair::set(root, &requests::impair(args)),
        ImpairCommand::Clear { target } => impair::clear(root, target),
        ImpairCommand::Show { sandbox, json } => impair::show(root, sandbox.as_deref(), *json),
    }
}

/// One `sbx partition` subcommand.
fn partition_command(root: &state::StateRoot, command: &PartitionCommand) -> anyhow::Result<()> {
    use sandbox::partition;
    match command {
        PartitionCommand::Add { a, b } => partition::add(root, a, b),
        PartitionCommand::Rm { a, b } => partition::rm(root, a, b),
        PartitionCommand::Ls { json } => partition::ls(root, *json),
        PartitionCommand::Clear => partition::clear(root),
    }
}

/// One `sbx image` subcommand.
fn image_command(
    root: &state::StateRoot,
    store: &std::path::Path,
    command: &ImageCommand,
) -> anyhow::Result<()> {
    use crate::image::commands;
    match command {
        ImageCommand::Load { input } => {
            commands::load(store, input, &|| sandbox::images::in_use(root))
        }
        ImageCommand::Pull {
            reference,
            insecure,
        } => commands::pull(store, reference, *insecure, &|| {
            sandbox::images::in_use(root)
        }),
        ImageCommand::Ls { json } => commands::ls(store, *json),
        ImageCommand::Inspect { name } => commands::inspect(store, name),
        ImageCommand::Rm { names } => commands::rm(store, names, &|| sandbox::images::in_use(root)),
    }
}

/// One `sbx network` subcommand.
fn network_command(root: &state::StateRoot, command: &NetworkCommand) -> anyhow::Result<()> {
    use network::commands;
    match command {
        NetworkCommand::Create(args) => commands::create(root, requests::network(args)?),
        NetworkCommand::Ls { json } => commands::ls(root, *json),
        NetworkCommand::Inspect { name } => commands::inspect(root, name),
        NetworkCommand::Rm { names } => sandbox::network_rm::rm(root, names),
        NetworkCommand::Connect {
            ip,
            ip6,
            network,
            sandbox,
        } => sandbox::connect::connect(root, network, sandbox, ip.as_deref(), ip6.as_deref()),
        NetworkCommand::Disconnect { network, sandbox } => {
            sandbox::connect::disconnect(root, network, sandbox)
        }
        NetworkCommand::Graph { format, name } => lab::network_graph(root, name, *format),
        // It has an exit status of its own: `dispatch` runs it.
        NetworkCommand::Check(_) => anyhow::bail!("network check is run by dispatch"),
        NetworkCommand::Peer(args::PeerCommand::Add { name, addr }) => {
            network::vxlan::peer(root, name, addr, true)
        }
        NetworkCommand::Peer(args::PeerCommand::Rm { name, addr }) => {
            network::vxlan::peer(root, name, addr, false)
        }
    }
}

/// Commands that only read the state root: they need no root privileges,
/// only read access to the state root (SPEC "Sandboxes", issue 8 item 20).
fn is_read_only(command: &Command) -> bool {
    matches!(
        command,
        Command::Ps(_)
            | Command::Inspect { .. }
            | Command::Logs(_)
            | Command::Network(
                NetworkCommand::Ls { .. }
                    | NetworkCommand::Inspect { .. }
                    | NetworkCommand::Graph { .. }
            )
            | Command::Lab(args::LabCommand::Ps { .. } | args::LabCommand::Graph { .. })
            | Command::Image(ImageCommand::Ls { .. } | ImageCommand::Inspect { .. })
            | Command::Impair(ImpairCommand::Show { .. })
    )
}

/// The command whose `--help` a usage error points at: `sbx`, followed by
/// the (sub)subcommands actually typed (`sbx network create`). Words that
/// are not subcommands (option values such as `--root DIR`) are skipped
/// while looking for the next level; an option-like word never matches.
fn help_command(args: impl Iterator<Item = String>) -> String {
    use clap::CommandFactory as _;
    let mut command = Cli::command();
    let mut path = vec!["sbx".to_string()];
    for arg in args {
        if arg == "--" || !command.has_subcommands() {
            break;
        }
        if arg.starts_with('-') {
            continue;
        }
        let Some(sub) = command.find_subcommand(&arg).cloned() else {
            continue;
        };
        path.push(sub.get_name().to_string());
        command = sub;
    }
    path.join(" ")
}

/// The error and its causes on one line, as the SPEC asks.
fn one_line(err: &anyhow::Error) -> String {
    format!("{err:#}").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::help_command;

    fn help(args: &[&str]) -> String {
        help_command(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn usage_errors_point_at_the_typed_subcommand() {
        assert_eq!(help(&["run", "--bogus"]), "sbx run");
        assert_eq!(
            help(&["--root", "/tmp/x", "network", "create"]),
            "sbx network create"
        );
        assert_eq!(help(&["network", "--json", "ls", "x"]), "sbx network ls");
        assert_eq!(help(&["frobnicate"]), "sbx");
        assert_eq!(help(&["run", "--", "ps"]), "sbx run");
        assert_eq!(help(&[]), "sbx");
    }
}
