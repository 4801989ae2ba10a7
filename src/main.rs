//! sbx: one command that starts a program in its own network, mount, UTS,
//! IPC and PID namespaces, wired into a Linux bridge with NAT.
//!
//! Entry point: the command-line face ([`cli`]) does the rest.
//!
//! Dependency order: each module imports only modules on a lower floor
//! (the `layering` tests check it), so the core stands without the face and
//! the state root is the floor:
//!
//! ```text
//! cli  cni                the faces: clap definitions, translation into requests, dispatch;
//!                         the CNI plugin (`sbx-cni`, argv[0])
//! sandbox                 the lifecycle: reserve, launch, supervise, exec, stop, clean, network rm
//! network  process        networks (bridge, gateway, NAT); clone, init, exec, caps, seccomp
//! spec  net  firewall     the checked request; rtnetlink; nf_tables
//! fs  cgroup  ipam  image mounts; cgroups; address allocation; the image store
//! state                   records, lock, liveness
//! model                   plain values records keep: Subnet, Limits, FsPlan
//! ```
//!
//! Utilities, usable from any floor: log, crash, undo, hash, timefmt, table, batch.

mod batch;
mod cgroup;
mod cli;
mod cni;
mod crash;
mod firewall;
mod fs;
mod hash;
mod image;
mod ipam;
#[cfg(test)]
mod layering;
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
    // One binary, several faces: started as `sbx-cni` (a CNI runtime runs
    // the plugin by its type's name), it speaks CNI instead of the CLI.
    let argv0 = std::env::args_os().next().unwrap_or_default();
    if cni::selected(&argv0.to_string_lossy()) {
        std::process::exit(cni::main());
    }
    std::process::exit(cli::main());
}
