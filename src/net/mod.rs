//! Talking to the kernel's network stack over rtnetlink: bridges, veths,
//! addresses, routes, netns files and sysctls. No `ip` is ever spawned.

pub mod bridge;
pub mod forwarding6;
pub mod listeners;
pub mod loopback6;
pub mod netns;
pub mod probe;
pub mod ready;
pub mod routes;
pub mod sysctl;
pub mod tc;
pub mod veth;
pub mod vxlan;

use anyhow::{Context, Result};
use nix::sched::{CloneFlags, setns};
use rtnetlink::Handle;
use std::fs::File;
use std::future::Future;
use tokio::runtime::Runtime;

/// A current-thread tokio runtime plus a netlink handle in the host's netns.
/// One per sbx process; it never starts a thread, so forking stays safe.
pub struct Netlink {
    runtime: Runtime,
    host: Handle,
}

impl Netlink {
    /// Opens the host-side netlink socket.
    pub fn new() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .context("start the netlink runtime")?;
        let host = runtime.block_on(async { connect() })?;
        Ok(Netlink { runtime, host })
    }

    /// Runs netlink requests to completion on this thread.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The handle for the host's own network namespace.
    pub fn host(&self) -> &Handle {
        &self.host
    }

    /// A handle whose socket lives in another network namespace: the thread
    /// enters it only long enough to open the socket (a netlink socket stays
    /// in the netns it was made in), then returns.
    pub fn handle_in(&self, netns: &File) -> Result<Handle> {
        let home = File::open("/proc/thread-self/ns/net").context("open own netns")?;
        setns(netns, CloneFlags::CLONE_NEWNET).context("enter the sandbox's netns")?;
        let handle = self.runtime.block_on(async { connect() });
        setns(&home, CloneFlags::CLONE_NEWNET).context("return to the host netns")?;
        handle
    }
}

fn connect() -> Result<Handle> {
    let (connection, handle, _) = rtnetlink::new_connection().context("open a netlink socket")?;
    tokio::spawn(connection);
    Ok(handle)
}

/// The errno inside a netlink error, so callers can tell "exists" or "no
/// such device" from real failures.
pub fn errno(err: &rtnetlink::Error) -> Option<i32> {
    match err {
        rtnetlink::Error::NetlinkError(msg) => msg.code.map(|c| -c.get()),
        _ => None,
    }
}

/// Turns a netlink error into a readable one ("File exists", not a dump).
pub fn describe(err: rtnetlink::Error) -> anyhow::Error {
    match errno(&err) {
        Some(code) => std::io::Error::from_raw_os_error(code).into(),
        None => anyhow::anyhow!("{err}"),
    }
}
