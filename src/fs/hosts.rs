//! Live names (SPEC "Trust", Names): one hosts file per network, which
//! every sandbox on it shares through a hard link from its own folder
//! (`sandboxes/NAME/hosts`, bind-mounted read-only over /etc/hosts). A
//! sandbox joining or leaving rewrites that one file in place, so every
//! running neighbour sees the change at once, and the cost of a join does
//! not grow with the number of sandboxes that must learn of it.
//!
//! A sandbox on several networks cannot share one of those files: its own
//! file is the union of its networks' files, registered with each network
//! (`ROOT/hosts/NET.multi/NAME`: its file's path, then the network files
//! it unites, one per line) and rewritten with it.
//!
//! The file is localhost's two lines, then one line per sandbox address:
//! `IP<TAB>HOSTNAME [SHORT] NAME` (its own names, see [`own_names`]); a
//! sandbox on a dual-stack network has two, its IPv4 and its IPv6 address
//! (SPEC "IPv6": names cover IPv6), as Docker writes them.
//! Writers take the file's own `flock`; a rewrite writes the new text over
//! the old and then cuts the file to its length, so a reader never finds it
//! empty.

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::net::IpAddr;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The first lines of every sandbox's /etc/hosts.
pub const LOCALHOST: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/// The names a sandbox answers to (SPEC, "What a sandbox sees"): its
/// hostname, the first label of an FQDN hostname, and its name (which its
/// neighbours use), without repeats.
pub fn own_names<'a>(name: &'a str, hostname: &'a str) -> Vec<&'a str> {
    let short = hostname.split('.').next().unwrap_or(hostname);
    let mut names: Vec<&str> = Vec::new();
    for n in [hostname, short, name] {
        if !n.is_empty() && !names.contains(&n) {
            names.push(n);
        }
    }
    names
}

/// One network's shared hosts file.
pub struct NetworkHosts {
    path: PathBuf,
}

impl NetworkHosts {
    /// The file at `path` (`StateRoot::network_hosts`).
    pub fn at(path: PathBuf) -> Self {
        NetworkHosts { path }
    }

    /// Adds (or replaces) the lines of `ips` (a sandbox's addresses on the
    /// network: IPv4, and IPv6 on a dual-stack one) with `names` (its own
    /// names, the sandbox's name last). A file made now starts from
    /// `seed`: the network's other lease holders (name, address), so
    /// sandboxes of an older sbx are listed too.
    pub fn join(
        &self,
        ips: &[IpAddr],
        names: &[&str],
        seed: impl FnOnce() -> Vec<(String, IpAddr)>,
    ) -> Result<()> {
        let joined = names.join(" ");
        self.rewrite(seed, |lines| {
            lines.retain(|l| !address_of(l).is_some_and(|a| ips.contains(&a)));
            lines.extend(ips.iter().map(|ip| format!("{ip}\t{joined}")));
        })
    }

    /// Removes the lines of `ips` that still name `name` last (another
    /// sandbox may hold an address by now), and `name`'s registration as
    /// a sandbox of several networks. A missing file is fine.
    pub fn leave(&self, ips: &[IpAddr], name: &str) -> Result<()> {
        if !self.path.exists() {
            return Ok(());
        }
        self.rewrite(Vec::new, |lines| {
            lines.retain(|l| {
                !(address_of(l).is_some_and(|a| ips.contains(&a))
                    && l.split_whitespace().last() == Some(name))
            });
        })?;
        match std::fs::remove_file(self.members_dir().join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("unregister {name} from {}", self.path.display()))
            }
            _ => Ok(()),
        }
    }

    /// Registers `file`, the own hosts file of sandbox `name`, as the
    /// union of `networks` (this one among them): every change of this
    /// network's file rewrites it. Call on each of its networks, then
    /// [`unite`] once.
    pub fn register(&self, name: &str, file: &Path, networks: &[&NetworkHosts]) -> Result<()> {
        let dir = self.members_dir();
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let mut text = format!("{}\n", file.display());
        for net in networks {
            text.push_str(&format!("{}\n", net.path.display()));
        }
        let entry = dir.join(name);
        std::fs::write(&entry, text).with_context(|| format!("write {}", entry.display()))
    }

    /// `ROOT/hosts/NET.multi`.
    fn members_dir(&self) -> PathBuf {
        let mut dir = self.path.clone().into_os_string();
        dir.push(".multi");
        PathBuf::from(dir)
    }

    /// Rewrites the own file of every sandbox of several networks that
    /// this network's file is part of.
    fn rewrite_members(&self) -> Result<()> {
        let Ok(entries) = std::fs::read_dir(self.members_dir()) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let mut lines = text.lines();
            let Some(file) = lines.next() else {
                continue;
            };
            let networks: Vec<PathBuf> = lines.map(PathBuf::from).collect();
            unite(Path::new(file), &networks)?;
        }
        Ok(())
    }

    /// The network's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes `dest` (a sandbox's `hosts`) a hard link to this file,
    /// replacing what was there.
    pub fn link_into(&self, dest: &Path) -> Result<()> {
        match std::fs::remove_file(dest) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("remove {}", dest.display()));
            }
            _ => {}
        }
        std::fs::hard_link(&self.path, dest)
            .with_context(|| format!("link {} to {}", dest.display(), self.path.display()))
    }

    /// Locks the file, lets `change` edit its sandbox lines, and writes it
    /// back in place. An empty (new) file starts with `seed`'s lines.
    fn rewrite(
        &self,
        seed: impl FnOnce() -> Vec<(String, IpAddr)>,
        change: impl FnOnce(&mut Vec<String>),
    ) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(&self.path)
            .with_context(|| format!("open {}", self.path.display()))?;
        let mut file = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| errno)
            .with_context(|| format!("lock {}", self.path.display()))?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .with_context(|| format!("read {}", self.path.display()))?;
        let mut lines: Vec<String> = if text.is_empty() {
            seed()
                .into_iter()
                .map(|(name, ip)| format!("{ip}\t{name}"))
                .collect()
        } else {
            text.lines()
                .filter(|l| address_of(l).is_some())
                .map(str::to_string)
                .collect()
        };
        let before = (!text.is_empty()).then(|| lines.clone());
        change(&mut lines);
        // Nothing changed (a second leave of the same sandbox, as `sbx rm`
        // after its supervisor's cleanup): no write, no members rewritten.
        if before.as_ref() == Some(&lines) {
            return Ok(());
        }
        let mut new = String::from(LOCALHOST);
        for line in &lines {
            new.push_str(line);
            new.push('\n');
        }
        write_in_place(&file, &self.path, new.as_bytes())?;
        drop(file);
        self.rewrite_members()
    }
}

/// Writes `file` (a sandbox's own, see [`NetworkHosts::register`]) as
/// localhost's lines and every sandbox line of the `networks`' files,
/// each once, in place, under the file's lock.
pub fn unite(file: &Path, networks: &[PathBuf]) -> Result<()> {
    let mut lines: Vec<String> = Vec::new();
    for net in networks {
        let text = std::fs::read_to_string(net).unwrap_or_default();
        for line in text.lines().filter(|l| address_of(l).is_some()) {
            if !lines.iter().any(|l| l == line) {
                lines.push(line.to_string());
            }
        }
    }
    let mut new = String::from(LOCALHOST);
    for line in &lines {
        new.push_str(line);
        new.push('\n');
    }
    let handle = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_CLOEXEC)
        .open(file)
        .with_context(|| format!("open {}", file.display()))?;
    let handle = Flock::lock(handle, FlockArg::LockExclusive)
        .map_err(|(_, errno)| errno)
        .with_context(|| format!("lock {}", file.display()))?;
    write_in_place(&handle, file, new.as_bytes())
}

/// Writes `bytes` over the file from its start, then cuts what is left of
/// the old text: the file's inode (and so every hard link and bind mount
/// of it) stays the same.
fn write_in_place(file: &File, path: &Path, bytes: &[u8]) -> Result<()> {
    file.write_all_at(bytes, 0)
        .and_then(|()| file.set_len(bytes.len() as u64))
        .with_context(|| format!("write {}", path.display()))
}

/// The address a sandbox line starts with (not localhost's lines).
fn address_of(line: &str) -> Option<IpAddr> {
    let first = line.split_whitespace().next()?;
    let ip: IpAddr = first.parse().ok()?;
    (!ip.is_loopback()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> (PathBuf, NetworkHosts) {
        let dir = std::env::temp_dir().join(format!("sbx-hosts-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let hosts = NetworkHosts::at(dir.join("hosts").join("net"));
        (dir, hosts)
    }

    #[test]
    fn joins_and_leaves_rewrite_one_file_that_links_see() {
        let (dir, hosts) = scratch("join");
        let ip = |d| IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, d));
        let seed = || vec![("old".to_string(), ip(9))];
        hosts.join(&[ip(2)], &["web"], seed).unwrap();
        let link = dir.join("web-hosts");
        hosts.link_into(&link).unwrap();
        hosts.join(&[ip(3)], &["db.lan", "db"], Vec::new).unwrap();
        let text = std::fs::read_to_string(&link).unwrap();
        assert!(text.starts_with(LOCALHOST), "{text}");
        assert!(text.contains("\n10.0.0.9\told\n"), "seeded: {text}");
        assert!(text.contains("\n10.0.0.2\tweb\n"), "{text}");
        assert!(text.ends_with("\n10.0.0.3\tdb.lan db\n"), "{text}");
        // A leave by a sandbox that no longer holds the address is ignored.
        hosts.leave(&[ip(3)], "other").unwrap();
        assert!(
            std::fs::read_to_string(&link)
                .unwrap()
                .contains("db.lan db")
        );
        hosts.leave(&[ip(3)], "db").unwrap();
        let text = std::fs::read_to_string(&link).unwrap();
        assert!(!text.contains("db"), "{text}");
        // A second leave changes nothing: the file is not written again.
        let written = std::fs::metadata(&link).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        hosts.leave(&[ip(3)], "db").unwrap();
        assert_eq!(
            std::fs::metadata(&link).unwrap().modified().unwrap(),
            written
        );
        // Rejoining an address replaces its line.
        hosts.join(&[ip(2)], &["web2"], Vec::new).unwrap();
        let text = std::fs::read_to_string(&link).unwrap();
        assert!(
            text.contains("\n10.0.0.2\tweb2\n") && !text.contains("\tweb\n"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_dual_stack_sandbox_has_a_line_per_address() {
        let (dir, hosts) = scratch("dual");
        let v4: IpAddr = "10.0.0.2".parse().unwrap();
        let v6: IpAddr = "fd42:1::2".parse().unwrap();
        let seed = || vec![("old".to_string(), "fd42:1::9".parse().unwrap())];
        hosts.join(&[v4, v6], &["web"], seed).unwrap();
        hosts
            .join(&["10.0.0.3".parse().unwrap()], &["v4only"], Vec::new)
            .unwrap();
        let text = std::fs::read_to_string(hosts.path()).unwrap();
        assert!(text.starts_with(LOCALHOST), "{text}");
        assert!(text.contains("\nfd42:1::9\told\n"), "seeded: {text}");
        assert!(text.contains("\n10.0.0.2\tweb\nfd42:1::2\tweb\n"), "{text}");
        hosts.leave(&[v4, v6], "web").unwrap();
        let text = std::fs::read_to_string(hosts.path()).unwrap();
        assert!(!text.contains("web"), "{text}");
        assert!(
            text.contains("v4only") && text.contains("::1\tlocalhost"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn own_line_has_name_hostname_and_short_hostname() {
        assert_eq!(own_names("a", "h"), ["h", "a"]);
        assert_eq!(own_names("a", "h.example.org"), ["h.example.org", "h", "a"]);
        assert_eq!(own_names("web", "web.lan"), ["web.lan", "web"]);
        assert_eq!(own_names("a", "a"), ["a"]);
    }
}
