//! Which sandbox of this state root holds each published host port: one
//! symlink per port, `ROOT/ports/PROTO-HOSTPORT-HOSTIP -> NAME`, changed
//! only under the registry's own lock, so two launches never both take a
//! port (nor one on `0.0.0.0` and one on a single address of it: SPEC
//! "Ports"). The nf_tables elements that do the forwarding follow the
//! registry (see `firewall::ports`).

use crate::model::ports::{PortMapping, Proto};
use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};
use std::fs::OpenOptions;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// The registry of one state root.
pub struct PortRegistry {
    dir: PathBuf,
}

/// A port held by another sandbox, for the refusal.
pub struct Taken {
    /// The port asked for.
    pub wanted: PortMapping,
    /// Who holds it (or an overlapping one), and on which host address.
    pub holder: String,
    /// The host address the holder published it on.
    pub holder_ip: IpAddr,
}

impl PortRegistry {
    /// The registry under `dir` (`ROOT/ports`).
    pub fn at(dir: PathBuf) -> Self {
        PortRegistry { dir }
    }

    /// Claims every port of `ports` for `name`, all or none. An entry in
    /// the way whose holder `is_live` says still runs refuses the claim
    /// (`Ok(Err(..))`, naming it); one whose holder is gone is taken over,
    /// after `forget(port, holder)` has removed what it left (its
    /// forwarding element).
    pub fn claim(
        &self,
        name: &str,
        ports: &[PortMapping],
        is_live: impl Fn(&str) -> bool,
        forget: impl Fn(&PortMapping, &str) -> Result<()>,
    ) -> Result<std::result::Result<(), Taken>> {
        let _lock = self.lock()?;
        let held = self.entries()?;
        for wanted in ports {
            for (port, holder) in held.iter().filter(|(p, _)| p.clashes_with(wanted)) {
                if holder != name && is_live(holder) {
                    return Ok(Err(Taken {
                        wanted: *wanted,
                        holder: holder.clone(),
                        holder_ip: port.host_ip,
                    }));
                }
            }
        }
        for (port, holder) in &held {
            if ports.iter().any(|w| w.clashes_with(port)) {
                forget(port, holder)?;
                self.remove(port, holder)?;
            }
        }
        for port in ports {
            let path = self.dir.join(entry_name(port));
            std::os::unix::fs::symlink(name, &path)
                .with_context(|| format!("create {}", path.display()))?;
        }
        Ok(Ok(()))
    }

    /// Gives back `name`'s entries for `ports` (ones already gone, or
    /// taken over by another sandbox, are left as they are).
    pub fn release(&self, name: &str, ports: &[PortMapping]) -> Result<()> {
        if ports.is_empty() {
            return Ok(());
        }
        let _lock = self.lock()?;
        for port in ports {
            self.remove(port, name)?;
        }
        Ok(())
    }

    /// Removes the entry of `port` if it names `holder`.
    fn remove(&self, port: &PortMapping, holder: &str) -> Result<()> {
        let path = self.dir.join(entry_name(port));
        match std::fs::read_link(&path) {
            Ok(target) if target.as_os_str() == holder => {
                std::fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))
            }
            _ => Ok(()),
        }
    }

    /// Every entry: the port (inside port unknown, 0) and its holder.
    fn entries(&self) -> Result<Vec<(PortMapping, String)>> {
        let mut found = Vec::new();
        let listing = match std::fs::read_dir(&self.dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(e) => return Err(e).with_context(|| format!("list {}", self.dir.display())),
        };
        for entry in listing {
            let entry = entry.with_context(|| format!("list {}", self.dir.display()))?;
            let file = entry.file_name();
            let Some(port) = file.to_str().and_then(parse_entry_name) else {
                continue;
            };
            if let Ok(target) = std::fs::read_link(entry.path()) {
                found.push((port, target.to_string_lossy().into_owned()));
            }
        }
        Ok(found)
    }

    fn lock(&self) -> Result<Flock<std::fs::File>> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("create {}", self.dir.display()))?;
        let path = self.dir.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .with_context(|| format!("open {}", path.display()))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| errno)
            .with_context(|| format!("lock {}", path.display()))
    }
}

/// `tcp-8080-0.0.0.0`.
fn entry_name(port: &PortMapping) -> String {
    format!(
        "{}-{}-{}",
        port.proto.as_str(),
        port.host_port,
        port.host_ip
    )
}

fn parse_entry_name(text: &str) -> Option<PortMapping> {
    let mut parts = text.splitn(3, '-');
    let proto = match parts.next()? {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        _ => return None,
    };
    let host_port = parts.next()?.parse().ok()?;
    let host_ip = parts.next()?.parse().ok()?;
    Some(PortMapping {
        host_ip,
        host_port,
        port: 0,
        proto,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(ip: [u8; 4], host_port: u16) -> PortMapping {
        PortMapping {
            host_ip: ip.into(),
            host_port,
            port: 80,
            proto: Proto::Tcp,
        }
    }

    #[test]
    fn a_port_goes_to_one_live_sandbox_and_is_taken_over_from_a_dead_one() {
        let dir = std::env::temp_dir().join(format!("sbx-ports-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let reg = PortRegistry::at(dir.clone());
        let none = |_: &PortMapping, _: &str| Ok(());
        let all_live = |_: &str| true;
        assert!(
            reg.claim("a", &[port([0, 0, 0, 0], 8080)], all_live, none)
                .unwrap()
                .is_ok()
        );
        // The same port on one address clashes with it on every address.
        let taken = reg
            .claim("b", &[port([127, 0, 0, 1], 8080)], all_live, none)
            .unwrap()
            .expect_err("refused");
        assert_eq!(
            (taken.holder.as_str(), taken.holder_ip),
            ("a", IpAddr::from([0, 0, 0, 0]))
        );
        // Another port is free; all or none: a clash keeps the free one too.
        let both = [port([0, 0, 0, 0], 9090), port([0, 0, 0, 0], 8080)];
        assert!(reg.claim("b", &both, all_live, none).unwrap().is_err());
        assert_eq!(reg.entries().unwrap().len(), 1);
        // A dead holder's port is taken over, its element forgotten first.
        let forgotten = std::cell::Cell::new(0);
        let forget = |_: &PortMapping, _: &str| {
            forgotten.set(forgotten.get() + 1);
            Ok(())
        };
        let a_dead = |name: &str| name != "a";
        assert!(reg.claim("b", &both, a_dead, forget).unwrap().is_ok());
        assert_eq!(forgotten.get(), 1);
        reg.release("a", &both).unwrap();
        assert_eq!(reg.entries().unwrap().len(), 2, "a's release leaves b's");
        reg.release("b", &both).unwrap();
        assert!(reg.entries().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn entry_names_read_back() {
        let p = port([10, 0, 0, 1], 53);
        assert_eq!(entry_name(&p), "tcp-53-10.0.0.1");
        let back = parse_entry_name("tcp-53-10.0.0.1").unwrap();
        assert_eq!((back.host_ip, back.host_port), (p.host_ip, 53));
    }
}
