//! Plain values that records keep and several layers share: a network's
//! subnet, a sandbox's limits and filesystem plan. They sit below `state`
//! (which stores them) and import nothing of sbx's own, so the state root
//! stays the floor: see the dependency order in `main.rs`.

pub mod fs_plan;
mod limits;
pub mod ports;
pub mod process;
mod sandbox_spec;
mod subnet;
mod subnet6;

pub use fs_plan::FsPlan;
pub use limits::Limits;
pub use sandbox_spec::{NetworkRequest, SandboxSpec};
pub use subnet::Subnet;
pub use subnet6::Subnet6;

/// The network `sbx run` joins when none is named (SPEC "Networks").
pub const DEFAULT_NETWORK: &str = "sbx0";

/// Where `ip netns` (iproute2's `NETNS_RUN_DIR`) looks for named network
/// namespaces: sbx pins each sandbox's there (`net::netns`), and keeps the
/// pins out of sandboxes' mount tables (`fs`, `process::template`).
pub const NETNS_DIR: &str = "/run/netns";
