//! Plain values that records keep and several layers share: a network's
//! subnet, a sandbox's limits and filesystem plan. They sit below `state`
//! (which stores them) and import nothing of sbx's own, so the state root
//! stays the floor: see the dependency order in `main.rs`.

pub mod fs_plan;
mod limits;
mod subnet;

pub use fs_plan::FsPlan;
pub use limits::Limits;
pub use subnet::Subnet;
