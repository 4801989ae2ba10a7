//! Shared test fixtures: a private state root, uniquely named networks, and
//! guards that remove every kernel object a test made, even when it panics.
#![allow(dead_code)]

pub mod oci;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The sbx binary under test.
pub const SBX: &str = env!("CARGO_BIN_EXE_sbx");

/// One test's world: its own state root, networks and sandboxes.
pub struct TestEnv {
    /// Short tag of the test, part of every name it uses.
    pub id: String,
    /// Its state root.
    pub root: PathBuf,
    networks: Vec<String>,
    sandboxes: Vec<Child>,
}

impl TestEnv {
    /// A fresh environment; `id` must be unique in the suite (≤ 8 chars).
    pub fn new(id: &str) -> Self {
        assert!(id.len() <= 8, "test id {id} too long for interface names");
        let root = PathBuf::from(format!("/tmp/sbx-tst-{id}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        TestEnv {
            id: id.into(),
            root,
            networks: Vec::new(),
            sandboxes: Vec::new(),
        }
    }

    /// `sbx` with this environment's state root.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(SBX);
        cmd.env("SBX_ROOT", &self.root)
            .env_remove("SBX_LOG")
            .args(args);
        cmd
    }

    /// Starts sbx in the background, stdin closed, stderr captured.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sbx")
    }

    /// Runs sbx to completion, stdin closed.
    pub fn sbx(&self, args: &[&str]) -> Output {
        self.cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("run sbx")
    }

    /// Runs sbx and insists it succeeded; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.sbx(args);
        assert!(
            out.status.success(),
            "sbx {args:?} failed: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Creates a network owned (and removed) by this test.
    pub fn network(&mut self, name: &str, extra: &[&str]) -> String {
        let mut args = vec!["network", "create", name];
        args.extend_from_slice(extra);
        self.networks.push(name.to_string());
        self.ok(&args);
        name.to_string()
    }

    /// Remembers a network that sbx created implicitly, for cleanup.
    pub fn adopt_network(&mut self, name: &str) {
        self.networks.push(name.to_string());
    }

    /// Starts `sbx run ARGS` in the background and waits until the sandbox
    /// `name` is running; the guard stops it at the end.
    pub fn start(&mut self, name: &str, args: &[&str]) -> u32 {
        let mut full = vec!["run", "--name", name];
        full.extend_from_slice(args);
        let child = self
            .cmd(&full)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn sbx run");
        let pid = child.id();
        self.sandboxes.push(child);
        self.wait_running(name);
        pid
    }

    /// Polls `sbx ps -q` until `name` shows up (at most 10 s).
    pub fn wait_running(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ok(&["ps", "-q"]).lines().any(|l| l == name) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("sandbox {name} did not start");
    }

    /// Stops every background sandbox of this test (SIGTERM via its sbx run,
    /// which forwards it) and returns their exit codes.
    pub fn stop_all(&mut self) -> Vec<Option<i32>> {
        let children: Vec<Child> = self.sandboxes.drain(..).collect();
        for child in &children {
            signal(child.id(), libc::SIGTERM);
        }
        children.into_iter().map(wait_or_kill).collect()
    }

    /// `sbx ps --json` parsed.
    pub fn ps_json(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ok(&["ps", "--json"])).expect("ps --json is JSON")
    }

    /// Names of the sandbox folders in the state root.
    pub fn records(&self) -> Vec<String> {
        list(&self.root.join("sandboxes"))
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.stop_all();
        // Detached sandboxes: `rm -f` kills and removes each one.
        let names = self.sbx(&["ps", "-a", "-q"]);
        for name in text(&names.stdout).lines() {
            let _ = self.sbx(&["rm", "-f", name]);
        }
        for network in self.networks.clone() {
            let _ = self.sbx(&["network", "rm", &network]);
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Waits up to 10 s for a child, then kills it: a test never leaves one.
pub fn wait_or_kill(mut child: Child) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends a signal to a process this test started.
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a PID we spawned.
    unsafe { libc::kill(pid as i32, sig) };
}

/// Lossy UTF-8 of a process's output.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// File names in a folder (empty if it does not exist).
pub fn list(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs a host command (ip, ping, nft) and returns its output.
pub fn host(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

/// Pings once from the host's namespace, or from netns `ns`.
pub fn ping(ns: Option<&str>, addr: &str) -> bool {
    let out = match ns {
        Some(ns) => host("ip", &["netns", "exec", ns, "ping", "-c1", "-W2", addr]),
        None => host("ping", &["-c1", "-W2", addr]),
    };
    out.status.success()
}

/// Interfaces enslaved to a bridge.
pub fn bridge_ports(bridge: &str) -> Vec<String> {
    list(&Path::new("/sys/class/net").join(bridge).join("brif"))
}

/// Whether an interface exists on the host.
pub fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// A netns and veth made by hand (e.g. a fake upstream), removed on drop.
pub struct HandNetns {
    /// The netns name under /run/netns.
    pub name: String,
    /// Host end of the veth.
    pub host_if: String,
}

impl HandNetns {
    /// Creates netns `name` linked to the host by veth `host_if`, with the
    /// host end at `host_cidr` and the far end (`eth0` inside) at `far_cidr`.
    pub fn new(name: &str, host_if: &str, host_cidr: &str, far_cidr: &str) -> Self {
        let guard = HandNetns {
            name: name.into(),
            host_if: host_if.into(),
        };
        let steps: [&[&str]; 7] = [
            &["netns", "add", name],
            &[
                "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", name,
            ],
            &["addr", "add", host_cidr, "dev", host_if],
            &["link", "set", host_if, "up"],
            &["-n", name, "addr", "add", far_cidr, "dev", "eth0"],
            &["-n", name, "link", "set", "eth0", "up"],
            &["-n", name, "link", "set", "lo", "up"],
        ];
        for step in steps {
            let out = host("ip", step);
            assert!(out.status.success(), "ip {step:?}: {}", text(&out.stderr));
        }
        guard
    }
}

impl Drop for HandNetns {
    fn drop(&mut self) {
        let _ = host("ip", &["link", "del", &self.host_if]);
        let _ = host("ip", &["netns", "del", &self.name]);
    }
}

impl TestEnv {
    /// `sbx run -d --name NAME ARGS`, insisting it printed the name.
    pub fn detach(&self, name: &str, args: &[&str]) {
        let mut full = vec!["run", "-d", "--name", name];
        full.extend_from_slice(args);
        assert_eq!(self.ok(&full), format!("{name}\n"));
    }

    /// `sbx inspect NAME` parsed.
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["inspect", name])).expect("inspect is JSON")
    }

    /// The status `sbx ps -a --json` reports for a sandbox, if listed.
    pub fn status(&self, name: &str) -> Option<String> {
        let all: Vec<serde_json::Value> =
            serde_json::from_str(&self.ok(&["ps", "-a", "--json"])).expect("JSON");
        all.iter()
            .find(|s| s["name"] == name)
            .map(|s| s["status"].as_str().unwrap_or_default().to_string())
    }
}

/// Polls `cond` every 20 ms for up to `secs` seconds.
pub fn wait_until(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .chars()
                .next();
            !matches!(state, Some('Z') | Some('X') | None)
        })
        .unwrap_or(false)
}

/// The table and the nft chains of sbx that mention `bridge`, as
/// (family, table, chain), found by listing (their names are sbx's business).
pub fn sbx_chains_of(bridge: &str) -> Vec<(String, String, String)> {
    let tables = text(&host("nft", &["list", "tables"]).stdout);
    let mut found = Vec::new();
    for line in tables.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() != 3 || !words[2].starts_with("sbx") {
            continue;
        }
        let listing = text(&host("nft", &["list", "table", words[1], words[2]]).stdout);
        for l in listing.lines() {
            let l = l.trim();
            if let Some(chain) = l.strip_prefix("chain ").and_then(|c| c.strip_suffix(" {"))
                && chain.contains(bridge)
            {
                found.push((words[1].into(), words[2].into(), chain.into()));
            }
        }
    }
    found
}

/// An interface made by hand (`ip link add`), deleted on drop.
pub struct HandLink(pub &'static str);

impl Drop for HandLink {
    fn drop(&mut self) {
        let _ = host("ip", &["link", "del", self.0]);
    }
}

/// The busybox rootfs of `rootfs/build.sh`, built once per test binary (the
/// script is idempotent and serializes concurrent builds).
pub fn busybox_rootfs() -> PathBuf {
    static BUILD: std::sync::Once = std::sync::Once::new();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rootfs");
    BUILD.call_once(|| {
        let out = host("bash", &[dir.join("build.sh").to_str().unwrap()]);
        assert!(
            out.status.success(),
            "rootfs/build.sh: {}",
            text(&out.stderr)
        );
    });
    dir.join("busybox")
}

/// A listener inside netns `ns`: the thread enters it only to create the socket.
pub fn listen_in(ns: &str, addr: &str) -> std::net::TcpListener {
    let path = format!("/run/netns/{ns}");
    let addr: std::net::SocketAddr = addr.parse().expect("socket address");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("open netns");
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        std::net::TcpListener::bind(addr).expect("bind in upstream netns")
    })
    .join()
    .expect("listener thread")
}

/// Accepts one connection (5 s at most) and returns its source address.
pub fn accept_source(listener: &std::net::TcpListener) -> Option<std::net::IpAddr> {
    listener.set_nonblocking(true).ok()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if let Ok((mut stream, peer)) = listener.accept() {
            let _ = stream.set_nonblocking(false);
            let _ = std::io::Write::write_all(&mut stream, b"hello from upstream\n");
            let mut sink = [0u8; 64];
            let _ = std::io::Read::read(&mut stream, &mut sink);
            return Some(peer.ip());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    None
}
