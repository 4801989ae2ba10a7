//! SPEC "Across hosts": `--driver vxlan` networks and `network peer
//! add|rm`, with hosts simulated as TESTING.md "Two hosts on one machine"
//! says. Each host is a holder process in its own net, mount and pid
//! namespace (a private tmpfs on /run/netns and on its state root), sbx runs
//! there through `nsenter`; the hosts' underlay is a bridge in a further
//! "switch" namespace with one veth per host. Nothing is made on the real
//! host: killing a holder (by its PID, from a guard, even on panic) takes
//! its namespaces and every sandbox in them away.

mod common;
use common::{SBX, text};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The overlay subnet, the same on every host; host N owns 10.215.N.0/24.
const SUBNET: &str = "10.215.0.0/16";
/// The underlay: host N is 10.213.0.N on the switch.
fn underlay(n: usize) -> String {
    format!("10.213.0.{n}")
}

/// One simulated host: `unshare` (its PID is ours to kill) and the
/// namespace's init (a reaper) that `nsenter` targets.
struct Holder {
    unshare: Child,
    init: u32,
    root: PathBuf,
}

impl Holder {
    fn new(tag: &str) -> Holder {
        let root = PathBuf::from(format!("/tmp/sbx-tst-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&root).expect("state root folder");
        std::fs::create_dir_all("/run/netns").expect("/run/netns");
        let script = format!(
            "mount -t tmpfs tmpfs /run/netns && mount -t tmpfs tmpfs {} && ip link set lo up && exec /usr/bin/python3 -c '{}'",
            root.display(),
            "import os,time\nwhile True:\n  try: os.wait()\n  except ChildProcessError: time.sleep(0.2)"
        );
        let mut unshare = Command::new("unshare");
        // SAFETY: prctl only, between fork and exec: if the test process
        // dies without running its guards, the holder (and with it, by
        // --kill-child, the whole host) dies too.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut unshare, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let unshare = unshare
            .args([
                "--net",
                "--mount",
                "--pid",
                "--fork",
                "--kill-child",
                "--mount-proc",
                "--propagation",
                "private",
                "sh",
                "-c",
                &script,
            ])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn unshare");
        let mut holder = Holder {
            init: 0,
            root,
            unshare,
        };
        let pid = holder.unshare.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            if let Some(init) = children
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
            {
                let comm =
                    std::fs::read_to_string(format!("/proc/{init}/comm")).unwrap_or_default();
                if comm.trim() == "python3" {
                    holder.init = init;
                    return holder;
                }
            }
            assert!(Instant::now() < deadline, "holder {tag} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A command run inside the host's namespaces.
    fn cmd(&self, program: &str, args: &[&str]) -> Command {
        let init = self.init.to_string();
        // sbx goes into the pid namespace too (its /proc is that one's);
        // tools stay in ours, so `netns PID` names our PIDs.
        let pidns: &[&str] = if program == SBX { &["-p"] } else { &[] };
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &init, "-n", "-m"])
            .args(pidns)
            .arg("--")
            .arg(program)
            .args(args)
            .env("SBX_ROOT", &self.root)
            .env_remove("SBX_LOG")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        self.cmd(program, args).output().expect("run in holder")
    }

    /// A tool inside the host; insists it worked and returns stdout.
    fn ok(&self, program: &str, args: &[&str]) -> String {
        let out = self.run(program, args);
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn sbx(&self, args: &[&str]) -> Output {
        self.run(SBX, args)
    }

    fn sbx_ok(&self, args: &[&str]) -> String {
        self.ok(SBX, args)
    }

    /// One ping from a sandbox; true if it was answered.
    fn ping(&self, sandbox: &str, addr: &str, extra: &[&str]) -> bool {
        let mut args = vec!["exec", sandbox, "--", "ping", "-c1", "-W2"];
        args.extend_from_slice(extra);
        args.push(addr);
        // The first try may spend its time on ARP across the overlay.
        (0..3).any(|_| self.sbx(&args).status.success())
    }

    /// An interface's MTU in this host's netns.
    fn mtu(&self, ifname: &str) -> u32 {
        mtu_of(&self.ok("ip", &["-o", "link", "show", "dev", ifname]))
    }

    /// An interface's received-packet counter.
    fn rx_packets(&self, ifname: &str) -> u64 {
        let out = std::fs::read_to_string(format!("/proc/{}/net/dev", self.init)).expect("net/dev");
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{ifname}:")))
            .unwrap_or_else(|| panic!("{ifname} in /proc/net/dev: {out}"));
        let fields: Vec<&str> = line.split(':').nth(1).unwrap().split_whitespace().collect();
        fields[1].parse().unwrap()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        // The sandboxes first, so their cgroups (on the real host's
        // cgroup tree) go too; then the whole pid namespace with its init.
        if let Ok(out) = self.cmd(SBX, &["ps", "-aq"]).output() {
            let names: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
            if !names.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(names.iter().map(String::as_str));
                let _ = self.cmd(SBX, &args).output();
            }
        }
        common::signal(self.unshare.id(), libc::SIGKILL);
        let _ = self.unshare.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn mtu_of(ip_link_line: &str) -> u32 {
    let words: Vec<&str> = ip_link_line.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| *w == "mtu")
        .expect("mtu in ip link output");
    words[at + 1].parse().expect("numeric mtu")
}

/// Hosts 1..=n on one switch, each with its underlay address.
struct Lab {
    switch: Holder,
    hosts: Vec<Holder>,
}

impl Lab {
    fn new(tag: &str, n: usize) -> Lab {
        let switch = Holder::new(&format!("{tag}s"));
        switch.ok("ip", &["link", "add", "vxsw", "type", "bridge"]);
        switch.ok("ip", &["link", "set", "vxsw", "up"]);
        let mut lab = Lab {
            switch,
            hosts: Vec::new(),
        };
        for _ in 0..n {
            lab.add_host(tag);
        }
        lab
    }

    fn add_host(&mut self, tag: &str) -> usize {
        let n = self.hosts.len() + 1;
        let host = Holder::new(&format!("{tag}h{n}"));
        let port = format!("vxsw-h{n}");
        let pid = host.init.to_string();
        self.switch.ok(
            "ip",
            &[
                "link", "add", &port, "type", "veth", "peer", "name", "vxul", "netns", &pid,
            ],
        );
        self.switch
            .ok("ip", &["link", "set", &port, "master", "vxsw", "up"]);
        host.ok(
            "ip",
            &["addr", "add", &format!("{}/24", underlay(n)), "dev", "vxul"],
        );
        host.ok("ip", &["link", "set", "vxul", "up"]);
        self.hosts.push(host);
        n
    }

    fn host(&self, n: usize) -> &Holder {
        &self.hosts[n - 1]
    }

    /// `network create ov --driver vxlan` on host `n` with the given peers.
    fn create(&self, n: usize, peers: &[usize]) {
        let range = format!("10.215.{n}.0/24");
        let gateway = format!("10.215.{n}.1");
        let peers: Vec<String> = peers.iter().map(|p| underlay(*p)).collect();
        let mut args = vec![
            "network",
            "create",
            "ov",
            "--driver",
            "vxlan",
            "--vni",
            "4242",
            "--subnet",
            SUBNET,
            "--ip-range",
            &range,
            "--gateway",
            &gateway,
        ];
        for p in &peers {
            args.extend(["--peer", p.as_str()]);
        }
        self.host(n).sbx_ok(&args);
    }

    /// A detached sandbox `name` on host `n`'s overlay; returns its address.
    fn sandbox(&self, n: usize, name: &str) -> String {
        self.host(n).sbx_ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "ov",
            "--",
            "sleep",
            "600",
        ]);
        let inspect = self.host(n).sbx_ok(&["inspect", name]);
        let v: serde_json::Value = serde_json::from_str(&inspect).expect("inspect json");
        let ip = find_ip(&v).unwrap_or_else(|| panic!("no address in {inspect}"));
        ip.to_string()
    }
}

/// The first "ip" string anywhere in an inspect document.
fn find_ip(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Object(map) => map
            .get("ip")
            .and_then(|ip| ip.as_str().map(String::from))
            .or_else(|| map.values().find_map(find_ip)),
        serde_json::Value::Array(items) => items.iter().find_map(find_ip),
        _ => None,
    }
}

/// The real host's interfaces named like the ones these tests make
/// (which must all stay inside the private namespaces); other tests' links
/// may come and go meanwhile.
fn real_links() -> Vec<String> {
    let ours = ["vxsw", "vxul", "ov", "vx-ov"];
    let out = common::host("ip", &["-o", "link", "show"]);
    text(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split(':')
                .nth(1)
                .map(|n| n.trim().split('@').next().unwrap().to_string())
        })
        .filter(|n| ours.iter().any(|o| n.starts_with(o)))
        .collect()
}

/// Sends 20 MB from `from` (host a) to `to_ip` (a sandbox `to` on host b)
/// over TCP; returns the bytes the receiver counted.
fn transfer(lab: &Lab, a: usize, from: &str, b: usize, to: &str, to_ip: &str) -> u64 {
    let server = "import socket\ns=socket.socket()\ns.bind((\"0.0.0.0\",7400))\ns.listen()\nc,_=s.accept()\nn=0\nwhile True:\n  d=c.recv(65536)\n  if not d: break\n  n+=len(d)\nprint(n)";
    let receiver = lab
        .host(b)
        .cmd(
            SBX,
            &[
                "exec",
                to,
                "--",
                "timeout",
                "60",
                "/usr/bin/python3",
                "-c",
                server,
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn receiver");
    let client = format!(
        "import socket,time\nfor i in range(50):\n  try:\n    s=socket.create_connection((\"{to_ip}\",7400)); break\n  except OSError: time.sleep(0.1)\ns.sendall(b\"x\"*20000000)\ns.close()"
    );
    let sent = lab.host(a).run(
        SBX,
        &[
            "exec",
            from,
            "--",
            "timeout",
            "60",
            "/usr/bin/python3",
            "-c",
            &client,
        ],
    );
    assert!(sent.status.success(), "sender: {}", text(&sent.stderr));
    let out = receiver.wait_with_output().expect("receiver");
    text(&out.stdout).trim().parse().unwrap_or(0)
}

/// Turns the segmentation and receive offloads off on a sandbox's eth0
/// and on the host's veths and VXLAN device, so every frame crosses the
/// overlay at its real size (what exposes an MTU mismatch).
fn offloads_off(h: &Holder, sandbox: &str) {
    let ns = format!("sbx-{sandbox}");
    h.ok(
        "ip",
        &[
            "netns", "exec", &ns, "ethtool", "-K", "eth0", "tso", "off", "gso", "off", "gro", "off",
        ],
    );
    let ports = h.ok("ip", &["-o", "link", "show", "master", "ov"]);
    for line in ports.lines() {
        let name = line
            .split(':')
            .nth(1)
            .unwrap()
            .trim()
            .split('@')
            .next()
            .unwrap();
        let _ = h.run(
            "ethtool",
            &["-K", name, "tso", "off", "gso", "off", "gro", "off"],
        );
    }
}

#[test]
fn vxlan_two_hosts_share_a_segment_with_the_overlay_mtu() {
    let before = real_links();
    let lab = Lab::new("vx2", 2);
    let (h1, h2) = (lab.host(1), lab.host(2));

    // No peer and no --local: one clear line, nothing made.
    let out = h1.sbx(&[
        "network",
        "create",
        "ov",
        "--driver",
        "vxlan",
        "--vni",
        "4242",
        "--subnet",
        SUBNET,
        "--ip-range",
        "10.215.1.0/24",
        "--gateway",
        "10.215.1.1",
    ]);
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("sbx: ") && err.contains("--peer") && err.contains("--local"),
        "{err}"
    );
    assert!(h1.run("ip", &["link", "show", "ov"]).status.code() != Some(0));

    lab.create(1, &[2]);
    lab.create(2, &[1]);

    // The same VNI and port again on one host: refused, nothing half-built.
    let out = h1.sbx(&[
        "network",
        "create",
        "ov2",
        "--driver",
        "vxlan",
        "--vni",
        "4242",
        "--subnet",
        "10.216.0.0/16",
        "--ip-range",
        "10.216.1.0/24",
        "--gateway",
        "10.216.1.1",
        "--peer",
        &underlay(2),
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("VNI 4242"),
        "{}",
        text(&out.stderr)
    );
    assert!(!h1.run("ip", &["link", "show", "ov2"]).status.success());
    // The same from another state root: the kernel's EEXIST, in one line,
    // and the bridge already made for it is gone again.
    let other = h1.root.join("other");
    let out = h1
        .cmd(
            SBX,
            &[
                "network",
                "create",
                "ov2",
                "--driver",
                "vxlan",
                "--vni",
                "4242",
                "--subnet",
                "10.216.0.0/16",
                "--ip-range",
                "10.216.1.0/24",
                "--gateway",
                "10.216.1.1",
                "--peer",
                &underlay(2),
            ],
        )
        .env("SBX_ROOT", &other)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("VXLAN device with VNI 4242 on port 4789"),
        "{err}"
    );
    assert!(!h1.run("ip", &["link", "show", "ov2"]).status.success());
    assert!(!h1.run("ip", &["link", "show", "vx-ov2"]).status.success());

    // inspect and ls show the overlay.
    let v: serde_json::Value =
        serde_json::from_str(&h1.sbx_ok(&["network", "inspect", "ov"])).unwrap();
    assert_eq!(v["driver"], "vxlan");
    assert_eq!(v["vni"], 4242);
    assert_eq!(v["port"], 4789);
    assert_eq!(v["ip_range"], "10.215.1.0/24");
    assert_eq!(v["local"], underlay(1));
    assert_eq!(v["peers"], serde_json::json!([underlay(2)]));
    assert!(h1.sbx_ok(&["network", "ls"]).contains("vni 4242"));

    // The device: VNI, port, local, learning, a port of the bridge.
    let dev = h1.ok("ip", &["-d", "-o", "link", "show", "vx-ov"]);
    assert!(dev.contains("master ov"), "{dev}");
    assert!(
        dev.contains("id 4242") && dev.contains("dstport 4789"),
        "{dev}"
    );
    assert!(
        dev.contains(&format!("local {}", underlay(1))) && dev.contains("dev vxul"),
        "{dev}"
    );
    assert!(!dev.contains("nolearning"), "{dev}");
    let fdb = h1.ok("bridge", &["fdb", "show", "dev", "vx-ov"]);
    assert!(
        fdb.contains(&format!(
            "00:00:00:00:00:00 dst {} self permanent",
            underlay(2)
        )),
        "{fdb}"
    );

    // Addresses come from each host's range; the range's first address
    // (not the subnet's network address) is a valid one.
    let a1 = lab.sandbox(1, "vx2-a1");
    let a2 = lab.sandbox(2, "vx2-a2");
    assert_eq!(a1, "10.215.1.0");
    assert_eq!(a2, "10.215.2.0");
    let out = h1.sbx(&[
        "run",
        "-d",
        "--name",
        "vx2-bad",
        "--network",
        "ov",
        "--ip",
        "10.215.2.9",
        "--",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("outside this host's range"),
        "{}",
        text(&out.stderr)
    );

    // Both ways, and each to its own gateway.
    assert!(h1.ping("vx2-a1", &a2, &[]), "a1 -> a2");
    assert!(h2.ping("vx2-a2", &a1, &[]), "a2 -> a1");
    assert!(h1.ping("vx2-a1", "10.215.1.1", &[]), "a1 -> its gateway");
    assert!(h2.ping("vx2-a2", "10.215.2.1", &[]), "a2 -> its gateway");
    // The overlay is not masqueraded: a2 sees a1's own address.
    let neigh = h2.sbx_ok(&["exec", "vx2-a2", "--", "ip", "neigh", "show", &a1]);
    assert!(neigh.contains("lladdr"), "{neigh}");

    // 1450 everywhere without being asked (underlay 1500).
    for h in [h1, h2] {
        assert_eq!(h.mtu("vxul"), 1500);
        assert_eq!(h.mtu("ov"), 1450);
        assert_eq!(h.mtu("vx-ov"), 1450);
        for line in h.ok("ip", &["-o", "link", "show", "master", "ov"]).lines() {
            assert_eq!(mtu_of(line), 1450, "{line}");
        }
    }
    let eth0 = h1.sbx_ok(&["exec", "vx2-a1", "--", "ip", "-o", "link", "show", "eth0"]);
    assert_eq!(mtu_of(&eth0), 1450);

    // Full-size frames get through: a DF ping of the whole MTU and, with
    // offloads off, 20 MB of TCP.
    assert!(
        h1.ping("vx2-a1", &a2, &["-M", "do", "-s", "1422"]),
        "DF 1450 a1 -> a2"
    );
    assert!(
        !h1.ping("vx2-a1", &a2, &["-M", "do", "-s", "1423"]),
        "DF 1451 is too big"
    );
    offloads_off(h1, "vx2-a1");
    offloads_off(h2, "vx2-a2");
    assert_eq!(transfer(&lab, 1, "vx2-a1", 2, "vx2-a2", &a2), 20_000_000);

    // network rm takes the device and its FDB entries with the bridge.
    h1.sbx_ok(&["rm", "-f", "vx2-a1"]);
    h1.sbx_ok(&["network", "rm", "ov"]);
    assert!(!h1.run("ip", &["link", "show", "vx-ov"]).status.success());
    assert!(!h1.run("ip", &["link", "show", "ov"]).status.success());
    let left = h1.ok("ip", &["-o", "link", "show"]);
    assert_eq!(left.lines().count(), 2, "only lo and the underlay: {left}");

    drop(lab);
    assert_eq!(real_links(), before, "the real host's links changed");
}

#[test]
fn vxlan_a_third_host_joins_with_peer_add_and_leaves_with_peer_rm() {
    let before = real_links();
    let mut lab = Lab::new("vx3", 2);
    lab.create(1, &[2]);
    lab.create(2, &[1]);
    let a1 = lab.sandbox(1, "vx3-a1");
    let a2 = lab.sandbox(2, "vx3-a2");
    assert!(lab.host(1).ping("vx3-a1", &a2, &[]));

    // Host 3 joins: it names both, both name it.
    assert_eq!(lab.add_host("vx3"), 3);
    lab.create(3, &[1, 2]);
    let a3 = lab.sandbox(3, "vx3-a3");
    for n in [1, 2] {
        lab.host(n)
            .sbx_ok(&["network", "peer", "add", "ov", &underlay(3)]);
        let v: serde_json::Value =
            serde_json::from_str(&lab.host(n).sbx_ok(&["network", "inspect", "ov"])).unwrap();
        assert_eq!(v["peers"].as_array().unwrap().len(), 2, "{v}");
    }
    assert!(lab.host(3).ping("vx3-a3", &a1, &[]), "a3 -> a1");
    assert!(lab.host(3).ping("vx3-a3", &a2, &[]), "a3 -> a2");
    assert!(lab.host(1).ping("vx3-a1", &a3, &[]), "a1 -> a3");

    // Broadcasts from host 1 reach host 3 while it is a peer...
    let flood = |n: usize, sandbox: &str| {
        // ARP for an address nobody has: broadcast, flooded to the peers.
        let _ = lab.host(n).sbx(&[
            "exec",
            sandbox,
            "--",
            "ping",
            "-c3",
            "-i0.2",
            "-W1",
            "10.215.9.9",
        ]);
    };
    let rx = lab.host(3).rx_packets("vx-ov");
    flood(1, "vx3-a1");
    assert!(
        lab.host(3).rx_packets("vx-ov") > rx,
        "host 3 gets host 1's broadcasts"
    );

    // ...and no longer once both others removed it.
    for n in [1, 2] {
        lab.host(n)
            .sbx_ok(&["network", "peer", "rm", "ov", &underlay(3)]);
        let fdb = lab.host(n).ok("bridge", &["fdb", "show", "dev", "vx-ov"]);
        assert!(
            !fdb.contains(&format!("dst {} self permanent", underlay(3))),
            "{fdb}"
        );
        assert!(
            fdb.contains("00:00:00:00:00:00 dst"),
            "the other peer stays: {fdb}"
        );
    }
    let rx = lab.host(3).rx_packets("vx-ov");
    flood(1, "vx3-a1");
    flood(2, "vx3-a2");
    assert_eq!(
        lab.host(3).rx_packets("vx-ov"),
        rx,
        "no flooding to a removed peer"
    );
    // A VXLAN device someone deleted comes back, with its peers, at the
    // next launch on the network.
    lab.host(1).ok("ip", &["link", "del", "vx-ov"]);
    lab.sandbox(1, "vx3-b1");
    let fdb = lab.host(1).ok("bridge", &["fdb", "show", "dev", "vx-ov"]);
    assert!(
        fdb.contains(&format!("dst {} self permanent", underlay(2))),
        "{fdb}"
    );
    assert!(
        !fdb.contains(&format!("dst {} self permanent", underlay(3))),
        "{fdb}"
    );
    assert!(
        lab.host(1)
            .ok("ip", &["-o", "link", "show", "vx-ov"])
            .contains("master ov")
    );
    // The remaining two still talk, new ARP included.
    lab.host(1).ok(
        "ip",
        &["netns", "exec", "sbx-vx3-a1", "ip", "neigh", "flush", "all"],
    );
    assert!(
        lab.host(1).ping("vx3-a1", &a2, &[]),
        "a1 -> a2 after peer rm"
    );
    assert!(
        lab.host(2).ping("vx3-a2", &a1, &[]),
        "a2 -> a1 after peer rm"
    );

    // rm of a peer that is not one: one line.
    let out = lab
        .host(1)
        .sbx(&["network", "peer", "rm", "ov", &underlay(3)]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("is not a peer of network ov"),
        "{}",
        text(&out.stderr)
    );

    drop(lab);
    assert_eq!(real_links(), before, "the real host's links changed");
}
