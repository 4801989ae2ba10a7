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
//! cli                     the face: clap definitions, translation into requests, dispatch
//! lab  oci  cni           the other faces: lab files; the OCI runtime (runc's command line,
//!                         `sbx-oci`); the CNI plugin (`sbx-cni`)
//! sandbox  check          the lifecycle: reserve, launch, supervise, exec, stop, clean, network rm;
//!                         reachability checks and their diagnosis
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
mod check;
mod cli;
mod cni;
mod crash;
mod firewall;
mod fs;
mod hash;
mod image;
mod ipam;
mod lab;
#[cfg(test)]
mod layering;
mod log;
mod model;
mod net;
mod network;
mod oci;
mod process;
mod sandbox;
mod spec;
mod state;
mod table;
mod timefmt;
mod undo;

fn main() {
    // One binary, several faces: started as `sbx-cni` (a CNI runtime runs
    // the plugin by its type's name), it speaks CNI; as `sbx-oci` (or `sbx
    // [--root DIR] oci ARGS`), runc's command line; else sbx's own.
    let argv0 = std::env::args_os().next().unwrap_or_default();
    if cni::selected(&argv0.to_string_lossy()) {
        std::process::exit(cni::main());
    }
    let code = match oci::selected(std::env::args_os().collect()) {
        Some((args, root)) => oci::main(args, root),
        None => cli::main(),
    };
    std::process::exit(code);
}
