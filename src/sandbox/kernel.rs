//! The seam between the lifecycle and the kernel: each kernel object a
//! sandbox holds beyond its processes (its netns pin, which takes its veth
//! with it; its port's anti-spoofing elements, loss rules and partition
//! elements; its cgroups; the state
//! root's template mount namespace) is set
//! up and torn down by one pair of methods of [`Kernel`], side by side.
//! The launch, its undo, the waiting sbx's cleanup, `rm`, `prune` and the
//! sweep all go through it, so each teardown is written once (in
//! [`Host`]), and the lifecycle's bookkeeping around it (what the record
//! still names, when the lease goes, what becomes of the record) is
//! unit-tested without root against [`tests::Recording`].

pub use crate::firewall::spoofing::Port;
use crate::model::Limits;
use crate::model::ports::PortMapping;
use anyhow::Result;
use nix::unistd::Pid;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// The kernel as the lifecycle uses it. Teardowns are idempotent: an object
/// already gone is `Ok`, so a cleanup can always be retried.
pub trait Kernel {
    /// Pins the network namespace of process `pid` at `path` (a bind mount
    /// of `/proc/PID/ns/net`, where `ip netns` looks), so the namespace
    /// outlives a moment with no process in it.
    fn pin_netns(&self, pid: Pid, path: &Path) -> Result<()>;
    /// Removes the pin; the kernel then frees the namespace, and the veth
    /// in it, once no process is left inside.
    fn unpin_netns(&self, path: &Path) -> Result<()>;
    /// Makes the sandbox's cgroups (device allow list, `limits`) under the
    /// leaf name `leaf` in sbx's place, or at `at` (OCI's cgroupsPath);
    /// returns the folders made, to record.
    fn create_cgroups(
        &self,
        leaf: &str,
        at: Option<&Path>,
        limits: &Limits,
    ) -> Result<Vec<PathBuf>>;
    /// Removes one cgroup folder; `patient`: wait a moment for the
    /// sandbox's last processes to leave it (EBUSY) instead of failing.
    fn remove_cgroup(&self, dir: &Path, patient: bool) -> Result<()>;
    /// Lets the sandbox port `port` send from its own addresses only (or,
    /// trusted, from any): its elements in the anti-spoofing sets.
    fn guard_port(&self, port: &Port) -> Result<()>;
    /// Forgets the port's elements (the port itself goes with the netns).
    fn unguard_port(&self, port: &Port) -> Result<()>;
    /// Removes the port's random-loss rules (`sbx impair --loss`; its tc
    /// qdiscs go with its veth).
    fn unimpair_port(&self, port: &Port) -> Result<()>;
    /// Forgets the partition elements naming the port or its address
    /// (`sbx partition`).
    fn unpartition_port(&self, port: &Port) -> Result<()>;
    /// Makes the host ports `ports` lead to the sandbox at `ip` (and, over
    /// IPv6, at `ip6`; one DNAT map element each; all or none).
    fn publish(&self, ports: &[PortMapping], ip: Ipv4Addr, ip6: Option<Ipv6Addr>) -> Result<()>;
    /// Forgets the ports' elements that lead to `ip` / `ip6` (another
    /// sandbox's, of the same key, stay; ones already gone are fine).
    fn unpublish(&self, ports: &[PortMapping], ip: Ipv4Addr, ip6: Option<Ipv6Addr>) -> Result<()>;
    /// Ends an init whose launch failed (SIGKILL, then reaped).
    fn stop_init(&self, pid: Pid);
    /// Lets the state root's template mount namespace go if no sandbox is
    /// left to use it (see `process::template`).
    fn release_template(&self, state_dir: &Path) -> Result<()>;
}

/// The real kernel.
pub struct Host;

impl Kernel for Host {
    fn pin_netns(&self, pid: Pid, path: &Path) -> Result<()> {
        crate::net::netns::bind(pid.as_raw(), path)
    }

    fn unpin_netns(&self, path: &Path) -> Result<()> {
        crate::net::netns::unbind(path)
    }

    fn create_cgroups(
        &self,
        leaf: &str,
        at: Option<&Path>,
        limits: &Limits,
    ) -> Result<Vec<PathBuf>> {
        match at {
            Some(path) => crate::cgroup::create_at(path, limits),
            None => crate::cgroup::create(leaf, limits),
        }
    }

    fn remove_cgroup(&self, dir: &Path, patient: bool) -> Result<()> {
        if patient {
            return crate::cgroup::remove(std::slice::from_ref(&dir.to_path_buf()));
        }
        match std::fs::remove_dir(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(anyhow::Error::new(e).context(format!("remove cgroup {}", dir.display())))
            }
            _ => Ok(()),
        }
    }

    fn guard_port(&self, port: &Port) -> Result<()> {
        crate::firewall::spoofing::guard(port)
    }

    fn unguard_port(&self, port: &Port) -> Result<()> {
        crate::firewall::spoofing::unguard(port)
    }

    fn unimpair_port(&self, port: &Port) -> Result<()> {
        crate::firewall::loss::clear(port.ifname)
    }

    fn unpartition_port(&self, port: &Port) -> Result<()> {
        crate::firewall::partition::forget(port.ifname, port.ip)
    }

    fn publish(&self, ports: &[PortMapping], ip: Ipv4Addr, ip6: Option<Ipv6Addr>) -> Result<()> {
        crate::firewall::ports::publish(ports, ip, ip6)
    }

    fn unpublish(&self, ports: &[PortMapping], ip: Ipv4Addr, ip6: Option<Ipv6Addr>) -> Result<()> {
        crate::firewall::ports::unpublish(ports, ip, ip6)
    }

    fn stop_init(&self, pid: Pid) {
        crate::process::abort(pid);
    }

    fn release_template(&self, state_dir: &Path) -> Result<()> {
        crate::process::template::release_if_idle(state_dir)
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A kernel that only writes down what it is asked, as one line per
    /// call (`unpin PATH`, `remove-cgroup PATH`, ...), and fails the calls
    /// whose line starts with one of `failing`.
    #[derive(Default)]
    pub struct Recording {
        /// The calls, in order.
        pub calls: RefCell<Vec<String>>,
        /// Prefixes of calls that fail.
        pub failing: Vec<String>,
    }

    impl Recording {
        /// A double whose calls starting with any of `prefixes` fail.
        pub fn failing(prefixes: &[&str]) -> Self {
            Recording {
                failing: prefixes.iter().map(|p| p.to_string()).collect(),
                ..Recording::default()
            }
        }

        fn call(&self, line: String) -> Result<()> {
            let fails = self.failing.iter().any(|p| line.starts_with(p.as_str()));
            self.calls.borrow_mut().push(line.clone());
            if fails {
                anyhow::bail!("{line}: refused by the test");
            }
            Ok(())
        }

        /// The calls made so far.
        pub fn calls(&self) -> Vec<String> {
            self.calls.borrow().clone()
        }
    }

    impl Kernel for Recording {
        fn pin_netns(&self, pid: Pid, path: &Path) -> Result<()> {
            self.call(format!("pin {pid} {}", path.display()))
        }

        fn unpin_netns(&self, path: &Path) -> Result<()> {
            self.call(format!("unpin {}", path.display()))
        }

        fn create_cgroups(
            &self,
            leaf: &str,
            _at: Option<&Path>,
            _limits: &Limits,
        ) -> Result<Vec<PathBuf>> {
            self.call(format!("create-cgroups {leaf}"))?;
            Ok(vec![PathBuf::from(format!("/cg/{leaf}"))])
        }

        fn remove_cgroup(&self, dir: &Path, patient: bool) -> Result<()> {
            let how = if patient { "patient" } else { "quick" };
            self.call(format!("remove-cgroup {} {how}", dir.display()))
        }

        fn guard_port(&self, port: &Port) -> Result<()> {
            self.call(format!("guard {} {}", port.ifname, port.ip))
        }

        fn unguard_port(&self, port: &Port) -> Result<()> {
            self.call(format!("unguard {} {}", port.ifname, port.ip))
        }

        fn unimpair_port(&self, port: &Port) -> Result<()> {
            self.call(format!("unimpair {}", port.ifname))
        }

        fn unpartition_port(&self, port: &Port) -> Result<()> {
            self.call(format!("unpartition {} {}", port.ifname, port.ip))
        }

        fn publish(
            &self,
            ports: &[PortMapping],
            ip: Ipv4Addr,
            _ip6: Option<Ipv6Addr>,
        ) -> Result<()> {
            self.call(format!("publish {} -> {ip}", ports.len()))
        }

        fn unpublish(
            &self,
            ports: &[PortMapping],
            ip: Ipv4Addr,
            _ip6: Option<Ipv6Addr>,
        ) -> Result<()> {
            self.call(format!("unpublish {} -> {ip}", ports.len()))
        }

        fn stop_init(&self, pid: Pid) {
            let _ = self.call(format!("stop-init {pid}"));
        }

        fn release_template(&self, _state_dir: &Path) -> Result<()> {
            self.call("release-template".into())
        }
    }
}
