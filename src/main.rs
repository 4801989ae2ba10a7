//! sbx: one command that starts a program in its own network, mount, UTS,
//! IPC and PID namespaces, wired into a Linux bridge with NAT.
//!
//! Entry point: the command-line face ([`cli`]) does the rest.

mod batch;
mod cgroup;
mod cli;
mod crash;
mod firewall;
mod fs;
mod hash;
mod ipam;
mod log;
mod model;
mod net;
mod network;
mod process;
mod sandbox;
mod spec;
mod state;
mod table;
mod timefmt;
mod undo;

fn main() {
    std::process::exit(cli::main());
}
