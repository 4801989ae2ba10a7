//! The command line, as clap definitions only: what users type, nothing else
//! (translated into the core's requests by [`super::requests`]).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// sbx: networked sandboxes on a Linux bridge, in milliseconds.
#[derive(Parser, Debug)]
#[command(name = "sbx", version, about, propagate_version = true)]
pub struct Cli {
    /// Where sbx keeps its state (one folder per sandbox and per network, plus a lock).
    #[arg(long, global = true, env = "SBX_ROOT", default_value = "/run/sbx")]
    pub root: PathBuf,

    /// error, warn, info, debug or trace, printed to stderr.
    #[arg(long, global = true, env = "SBX_LOG", default_value = "warn")]
    pub log_level: String,

    /// Where images are kept (one unpacked folder per layer, shared).
    #[arg(
        long,
        global = true,
        env = "SBX_IMAGE_STORE",
        default_value = "/var/lib/sbx/images"
    )]
    pub image_store: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands, one per verb of the SPEC.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a command in a new sandbox.
    Run(Box<RunArgs>),
    /// Act as an OCI runtime with runc's command line (as sbx-oci does): see 'sbx oci --help'.
    Oci {
        /// runc's command and options.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// List sandboxes.
    Ps(PsArgs),
    /// Run a command inside a running sandbox.
    Exec(ExecArgs),
    /// Print a detached sandbox's output: stdout to stdout, stderr to stderr.
    Logs(LogsArgs),
    /// Stop sandboxes: SIGTERM, then SIGKILL after the timeout.
    Stop {
        /// Seconds to wait before SIGKILL.
        #[arg(short = 't', long = "time", default_value_t = 10)]
        timeout: u64,
        /// Sandbox names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Stop detached sandboxes, then start them again with the same name, spec and address.
    Restart {
        /// Seconds to wait before SIGKILL.
        #[arg(short = 't', long = "time", default_value_t = 10)]
        timeout: u64,
        /// Sandbox names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Send a signal to sandboxes' commands.
    Kill {
        /// Signal name or number.
        #[arg(short, long, default_value = "KILL")]
        signal: String,
        /// Sandbox names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove exited sandboxes (-f: stop running ones first).
    Rm {
        /// Kill a running sandbox, then remove it.
        #[arg(short, long)]
        force: bool,
        /// Sandbox names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Show everything known about a sandbox, as JSON.
    Inspect {
        /// Sandbox name.
        name: String,
    },
    /// Remove what dead sandboxes left behind.
    Prune,
    /// Manage networks.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Delay, jitter, loss, rate limits on a running sandbox's interface, both ways.
    #[command(subcommand)]
    Impair(ImpairCommand),
    /// Cut groups of running sandboxes off from each other (no frame at all, both ways).
    #[command(subcommand)]
    Partition(PartitionCommand),
    /// Labs: networks and sandboxes described in a TOML file.
    #[command(subcommand)]
    Lab(LabCommand),
}

/// `sbx impair ...` (SPEC "Impairments and partitions").
#[derive(Subcommand, Debug)]
pub enum ImpairCommand {
    /// Replace every impairment of SANDBOX[:IFACE] (default eth0) with those given.
    Set(ImpairSetArgs),
    /// Remove every impairment of SANDBOX[:IFACE].
    Clear {
        /// SANDBOX[:IFACE].
        #[arg(value_name = "SANDBOX[:IFACE]")]
        target: String,
    },
    /// List the impairments of running sandboxes.
    Show {
        /// Only this sandbox.
        sandbox: Option<String>,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
}

/// `sbx impair set`: each value applies to both directions.
#[derive(Args, Debug)]
pub struct ImpairSetArgs {
    /// SANDBOX[:IFACE] (IFACE defaults to eth0).
    #[arg(value_name = "SANDBOX[:IFACE]")]
    pub target: String,
    /// Added delay each way: us, ms or s (needs the kernel's netem).
    #[arg(long)]
    pub delay: Option<String>,
    /// Random variation of the delay (needs netem).
    #[arg(long)]
    pub jitter: Option<String>,
    /// Frames lost each way, percent (e.g. 30%).
    #[arg(long)]
    pub loss: Option<String>,
    /// Rate limit each way: kbit, mbit, gbit (e.g. 10mbit).
    #[arg(long)]
    pub rate: Option<String>,
    /// Corrupted frames, percent (needs netem).
    #[arg(long)]
    pub corrupt: Option<String>,
    /// Duplicated frames, percent (needs netem).
    #[arg(long)]
    pub duplicate: Option<String>,
}

/// `sbx partition ...` (SPEC "Impairments and partitions").
#[derive(Subcommand, Debug)]
pub enum PartitionCommand {
    /// Cut the sandboxes of one group (A,B...) off from those of the other.
    Add {
        /// One group: sandbox names separated by commas.
        #[arg(value_name = "A[,B...]")]
        a: String,
        /// The other group.
        #[arg(value_name = "C[,D...]")]
        b: String,
    },
    /// Remove a partition made by `add` with the same groups.
    Rm {
        /// One group.
        #[arg(value_name = "A[,B...]")]
        a: String,
        /// The other group.
        #[arg(value_name = "C[,D...]")]
        b: String,
    },
    /// List partitions.
    Ls {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Remove every partition.
    Clear,
}

/// `sbx lab ...` (SPEC "Labs").
#[derive(Subcommand, Debug)]
pub enum LabCommand {
    /// Create what is missing: networks, then the sandboxes (detached, in parallel).
    Up {
        /// The lab file.
        file: PathBuf,
    },
    /// Remove the lab's sandboxes, then the networks the lab created.
    Down {
        /// The lab file.
        file: PathBuf,
    },
    /// List the lab's sandboxes, as `sbx ps`.
    Ps {
        /// What to show and how.
        #[command(flatten)]
        args: PsArgs,
        /// The lab file.
        file: PathBuf,
    },
    /// Check reachability (as `sbx network check`) and the lab's expectations.
    Check {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The lab file.
        file: PathBuf,
    },
    /// Draw the lab's networks, sandboxes, interfaces and addresses.
    Graph {
        /// text, dot (graphviz) or json.
        #[arg(long, value_enum, default_value = "text")]
        format: GraphFormat,
        /// The lab file.
        file: PathBuf,
    },
    /// Internal: launch one sandbox of `lab up` from its checked spec (JSON on stdin).
    #[command(hide = true)]
    LaunchSpec,
}

/// `--format` of the graph commands.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum GraphFormat {
    /// A drawing for a terminal.
    Text,
    /// A graphviz graph (render with `dot -Tsvg`).
    Dot,
    /// JSON.
    Json,
}

/// `sbx image ...` (SPEC "Images").
#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Load images from a docker save tar, an OCI archive or an OCI layout folder.
    Load {
        /// The tar file or folder.
        input: PathBuf,
    },
    /// Pull an image from a registry (plain HTTP only for localhost or with --insecure).
    Pull {
        /// HOST[:PORT]/NAME[:TAG].
        reference: String,
        /// Allow plain HTTP to a registry other than localhost.
        #[arg(long)]
        insecure: bool,
    },
    /// List images.
    Ls {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Remove images (refused while a sandbox uses one).
    Rm {
        /// Image names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Show one image as JSON.
    Inspect {
        /// Image name.
        name: String,
    },
}

/// `sbx run`: everything that describes one sandbox.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Unique name; default: generated.
    #[arg(long)]
    pub name: Option<String>,
    /// Network to join, repeatable (eth0, eth1, ...; the default route via
    /// the first): NAME or name=NET,ip=ADDR; `none`: loopback only;
    /// default: sbx0.
    #[arg(long = "network", value_name = "NET")]
    pub networks: Vec<String>,
    /// IPv4 address on the first network; default: the lowest free one.
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address on the first network (a dual-stack one); default: the lowest free one.
    #[arg(long)]
    pub ip6: Option<String>,
    /// UTS hostname; default: the sandbox name.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Environment variable KEY=VALUE (or KEY to copy it from here); repeatable.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the sandbox.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Make DIR the sandbox's root filesystem (pivot_root).
    #[arg(long, value_name = "DIR", conflicts_with = "image")]
    pub rootfs: Option<String>,
    /// With --rootfs: an overlay over DIR, so DIR itself is never written.
    #[arg(long, requires = "rootfs")]
    pub rootfs_overlay: bool,
    /// Run an image of the image store; the command defaults to its entrypoint + cmd.
    #[arg(long, value_name = "NAME")]
    pub image: Option<String>,
    /// Replace the image's entrypoint ("" clears it).
    #[arg(long, value_name = "CMD", requires = "image")]
    pub entrypoint: Option<String>,
    /// Bind mount SRC:DST[:ro] (repeatable).
    #[arg(short = 'v', long = "volume", value_name = "SRC:DST[:ro]")]
    pub volumes: Vec<String>,
    /// Mount the root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Mount an empty tmpfs at DIR (repeatable), e.g. /tmp with --read-only.
    #[arg(long, value_name = "DIR")]
    pub tmpfs: Vec<String>,
    /// Add a capability to Docker's default set (ALL for every one).
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a capability from the default set (ALL for every one).
    #[arg(long, value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Memory limit (e.g. 512m, 2g); swap included where the kernel allows.
    #[arg(long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Most processes (and threads) at once.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// CPU limit in CPUs (e.g. 0.5).
    #[arg(long, value_name = "F")]
    pub cpus: Option<f64>,
    /// Publish a port or a range: [HOST_IP:]HOST_PORT[-END]:PORT[-END][/tcp|/udp].
    #[arg(short = 'p', long = "publish", value_name = "PORT")]
    pub publish: Vec<String>,
    /// Let this sandbox send from addresses other than its own (a lab
    /// router); anti-spoofing is on for every other one.
    #[arg(long)]
    pub allow_spoofing: bool,
    /// seccomp=unconfined turns the default seccomp filter off.
    #[arg(long, value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Run in the background: print the name and return.
    #[arg(short, long)]
    pub detach: bool,
    /// Metadata KEY=VALUE shown by `inspect` (repeatable).
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Accepted for Docker habits: stdin is always passed through.
    #[arg(short = 'i', long = "interactive", hide = true)]
    pub interactive: bool,
    /// Accepted for Docker habits: a terminal is always passed through as is.
    #[arg(short = 't', long = "tty", hide = true)]
    pub tty: bool,
    /// With -d: remove the sandbox's record when it exits.
    #[arg(long)]
    pub rm: bool,
    /// The command and its arguments (with --image: replaces its cmd).
    #[arg(required_unless_present = "image", trailing_var_arg = true)]
    pub command: Vec<String>,
}

/// `sbx exec`: a command to run inside an existing sandbox.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Environment variable KEY=VALUE (or KEY to copy it from here); repeatable.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the sandbox.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Accepted for Docker habits: stdin is always passed through.
    #[arg(short = 'i', long = "interactive", hide = true)]
    pub interactive: bool,
    /// Accepted for Docker habits: a terminal is always passed through as is.
    #[arg(short = 't', long = "tty", hide = true)]
    pub tty: bool,
    /// Sandbox name.
    pub name: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true)]
    pub command: Vec<String>,
}

/// `sbx ps`: which sandboxes to show and how.
#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show exited sandboxes too.
    #[arg(short, long)]
    pub all: bool,
    /// Print names only.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print a JSON array.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// table, json (one object per line) or a template like 'table {{.Name}}\t{{.IP}}'.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Show whole commands, without cutting long ones.
    #[arg(long)]
    pub no_trunc: bool,
}

/// `sbx logs`: which part of a detached sandbox's output to print.
#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Keep printing new output until the sandbox exits.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines (or `all`).
    #[arg(long, value_name = "N", default_value = "all")]
    pub tail: String,
    /// Only output since TIME: RFC 3339 (2026-12-01T10:00:00Z), Unix seconds, or a duration ago (10m, 1h30m).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Prefix every line with its RFC 3339 timestamp (nanoseconds).
    #[arg(short, long)]
    pub timestamps: bool,
    /// Sandbox name.
    pub name: String,
}

/// `sbx network ...`.
#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Create a network: a bridge, its gateway address and (unless --internal) NAT.
    Create(NetworkCreateArgs),
    /// List networks.
    Ls {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Show one network as JSON.
    Inspect {
        /// Network name.
        name: String,
    },
    /// Remove networks (refused while a sandbox uses one).
    Rm {
        /// Network names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Give a running sandbox one more interface (eth1, ...) on a network.
    Connect {
        /// Its address on the network; default: the lowest free one.
        #[arg(long)]
        ip: Option<String>,
        /// Its IPv6 address on a dual-stack network; default: the lowest free one.
        #[arg(long)]
        ip6: Option<String>,
        /// Network name.
        network: String,
        /// Sandbox name.
        sandbox: String,
    },
    /// Take a running sandbox off a network.
    Disconnect {
        /// Network name.
        network: String,
        /// Sandbox name.
        sandbox: String,
    },
    /// The other hosts of a VXLAN network (broadcast and unknown traffic goes to each).
    #[command(subcommand)]
    Peer(PeerCommand),
    /// Draw a network, its sandboxes, their interfaces and addresses.
    Graph {
        /// text, dot (graphviz) or json.
        #[arg(long, value_enum, default_value = "text")]
        format: GraphFormat,
        /// Network name.
        name: String,
    },
    /// Check that every sandbox reaches every other, its gateway and the host (exit 1 if not), and say why not.
    Check(NetworkCheckArgs),
}

/// `sbx network check`.
#[derive(Args, Debug)]
pub struct NetworkCheckArgs {
    /// Networks to check.
    #[arg(required = true)]
    pub networks: Vec<String>,
    /// Print one JSON object: {checks: [{from, to, kind, ok, rtt_ms, why}], passed, failed}.
    #[arg(long)]
    pub json: bool,
}

/// `sbx network create`.
#[derive(Args, Debug)]
pub struct NetworkCreateArgs {
    /// Network name.
    pub name: String,
    /// IPv4 subnet in CIDR form; default: the first free 10.N.0.0/16.
    #[arg(long)]
    pub subnet: Option<String>,
    /// Gateway address, assigned to the bridge; default: the subnet's first host.
    #[arg(long)]
    pub gateway: Option<String>,
    /// IPv6 subnet in CIDR form: makes the network dual-stack.
    #[arg(long, value_name = "CIDR")]
    pub subnet6: Option<String>,
    /// IPv6 gateway, assigned to the bridge; default: the IPv6 subnet's first host.
    #[arg(long, value_name = "IP")]
    pub gateway6: Option<String>,
    /// Bridge interface name; default: the network name. An existing bridge is adopted.
    #[arg(long)]
    pub bridge: Option<String>,
    /// No NAT: sandboxes reach only each other and the host.
    #[arg(long)]
    pub internal: bool,
    /// MTU of the bridge and its veths; on a VXLAN network default: the underlay's less 50 (70 over IPv6).
    #[arg(long)]
    pub mtu: Option<u32>,
    /// bridge (this host only) or vxlan (one L2 segment across hosts).
    #[arg(long, value_enum, default_value = "bridge")]
    pub driver: NetworkDriver,
    /// VXLAN network identifier, the same on every host (vxlan only).
    #[arg(long)]
    pub vni: Option<u32>,
    /// This host's part of the subnet, for its sandboxes' addresses (vxlan only).
    #[arg(long, value_name = "CIDR")]
    pub ip_range: Option<String>,
    /// Another host's underlay address, repeatable (vxlan only).
    #[arg(long = "peer", value_name = "ADDR")]
    pub peers: Vec<String>,
    /// This host's underlay address; default: its source address towards the first peer (vxlan only).
    #[arg(long, value_name = "ADDR")]
    pub local: Option<String>,
    /// UDP port of the overlay (vxlan only).
    #[arg(long)]
    pub port: Option<u16>,
}

/// `sbx network create --driver`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkDriver {
    /// A bridge on this host.
    Bridge,
    /// A bridge joined to other hosts' by a VXLAN device.
    Vxlan,
}

/// `sbx network peer ...`.
#[derive(Subcommand, Debug)]
pub enum PeerCommand {
    /// Start flooding broadcast and unknown traffic to another host.
    Add {
        /// Network name.
        name: String,
        /// The other host's underlay address.
        addr: String,
    },
    /// Stop flooding to a host; the other hosts are unaffected.
    Rm {
        /// Network name.
        name: String,
        /// The host's underlay address.
        addr: String,
    },
}
