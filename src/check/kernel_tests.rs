//! The engine and the diagnosis against a real kernel, over IPv6, on
//! hand-made namespaces (no sbx records): a private "host" namespace with
//! a bridge and gateway fdb4:99::1, two "sandboxes" on veths into it.
//! Needs root and the machine-wide lock; run on demand with
//! `flock /tmp/sbx-it.lock cargo test --bin sbx check::kernel -- --ignored`.

use super::plan::{self, Member, Place};
use super::*;
use crate::model::Subnet;
use crate::state::{Link, NetworkRecord};
use std::net::Ipv4Addr;
use std::process::Command;

const HOST: &str = "h3k-host";
const A: &str = "h3k-a";
const B: &str = "h3k-b";

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip_quiet(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The namespaces, deleted (with their links) on drop.
struct Topology;

impl Topology {
    fn new() -> Self {
        drop(Topology);
        for ns in [HOST, A, B] {
            ip(&["netns", "add", ns]);
        }
        ip(&["-n", HOST, "link", "add", "h3kbr", "type", "bridge"]);
        ip(&["-n", HOST, "addr", "add", "10.194.99.1/24", "dev", "h3kbr"]);
        ip(&[
            "-n",
            HOST,
            "addr",
            "add",
            "fdb4:99::1/64",
            "dev",
            "h3kbr",
            "nodad",
        ]);
        ip(&["-n", HOST, "link", "set", "h3kbr", "up"]);
        for (ns, last) in [(A, "2"), (B, "3")] {
            let port = format!("p-{ns}");
            ip(&[
                "-n", HOST, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                ns,
            ]);
            ip(&["-n", HOST, "link", "set", &port, "master", "h3kbr", "up"]);
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("10.194.99.{last}/24"),
                "dev",
                "eth0",
            ]);
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("fdb4:99::{last}/64"),
                "dev",
                "eth0",
                "nodad",
            ]);
            ip(&["-n", ns, "link", "set", "eth0", "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&[
                "-n",
                ns,
                "-6",
                "route",
                "add",
                "default",
                "via",
                "fdb4:99::1",
            ]);
        }
        Topology
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in [A, B, HOST] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn network() -> NetworkRecord {
    NetworkRecord {
        name: "k".into(),
        bridge: "h3kbr".into(),
        subnet: Subnet::containing(Ipv4Addr::new(10, 194, 99, 0), 24),
        gateway: Ipv4Addr::new(10, 194, 99, 1),
        internal: false,
        mtu: None,
        created: 0,
        bridge_created: true,
        gateway_added: true,
        subnet6: Some("fdb4:99::/64".parse().unwrap()),
        gateway6: Some("fdb4:99::1".parse().unwrap()),
        gateway6_added: true,
        labels: Default::default(),
        vxlan: None,
    }
}

fn member(ns: &str, last: u8) -> Member {
    Member {
        name: ns.into(),
        running: true,
        status: "running".into(),
        links: vec![Link {
            network: "k".into(),
            ip: Ipv4Addr::new(10, 194, 99, last),
            ip6: Some(format!("fdb4:99::{last}").parse().unwrap()),
            veth: format!("p-{ns}"),
            ifname: "eth0".into(),
        }],
        trusted: true,
    }
}

/// Runs the check over the topology; (label, ok, why) per probe.
fn run() -> Vec<(String, bool, Option<String>)> {
    let nets = [network()];
    let members = [member(A, 2), member(B, 3)];
    let places = vec![
        (Place::Host, Some(format!("/run/netns/{HOST}").into())),
        (Place::Sandbox(0), Some(format!("/run/netns/{A}").into())),
        (Place::Sandbox(1), Some(format!("/run/netns/{B}").into())),
    ];
    let (mut spaces, gone) = engine::open(places, true).expect("sockets open");
    assert!(gone.is_empty());
    let plan = plan::build(&nets, &members, &[]);
    let sizes = payload_sizes(&plan, &nets, &members, &spaces);
    let results = engine::run(&plan, &mut spaces, &sizes);
    let dir = std::env::temp_dir().join(format!("h3k-{}", std::process::id()));
    let state = StateRoot::open(&dir).expect("a state root");
    let mut gatherer = facts::Gatherer::new(&state, &nets, &members, &mut spaces);
    let mut out = Vec::new();
    for (i, probe) in plan.probes.iter().enumerate() {
        let ok = results[i].rtt.is_some();
        let why = (!ok).then(|| {
            let size = (probe.kind == Kind::Mtu).then_some(sizes[i]);
            diagnose::why(&gatherer.path(probe, &results[i], size))
        });
        let label = report::lines(&Outcome {
            from: probe.from_label.clone(),
            to: probe.to_label.clone(),
            kind: probe.kind,
            family: probe.family(),
            ok: true,
            rtt_ms: None,
            why: None,
        })[0]
            .trim_start_matches("[PASS] ")
            .to_string();
        out.push((label, ok, why));
    }
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn failed(results: &[(String, bool, Option<String>)]) -> Vec<String> {
    results
        .iter()
        .filter(|r| !r.1)
        .map(|r| format!("{}: {}", r.0, r.2.clone().unwrap_or_default()))
        .collect()
}

#[test]
#[ignore = "needs root, a kernel and the machine-wide lock"]
fn ipv6_probes_pass_clean_up_and_explain_failures() {
    let _topology = Topology::new();
    let results = run();
    assert_eq!(results.len(), 16, "{results:?}");
    assert_eq!(failed(&results), Vec::<String>::new());
    assert!(
        results
            .iter()
            .any(|r| r.0 == "h3k-a -> gateway:k mtu over IPv6")
    );
    // No neighbour entry of the check's is left, in any namespace.
    for ns in [A, B, HOST] {
        assert_eq!(ip_quiet(&["-n", ns, "neigh", "show"]).trim(), "", "{ns}");
    }

    // b's IPv6 address gone: what reaches b over IPv6 fails, saying why.
    ip(&["-n", B, "addr", "del", "fdb4:99::3/64", "dev", "eth0"]);
    let results = run();
    let fails = failed(&results);
    assert!(
        fails.contains(
            &"h3k-a -> h3k-b over IPv6: h3k-b's eth0 lacks its address fdb4:99::3".into()
        ),
        "{fails:#?}"
    );
    assert!(fails.iter().all(|f| f.contains("over IPv6")), "{fails:#?}");
    ip(&[
        "-n",
        B,
        "addr",
        "add",
        "fdb4:99::3/64",
        "dev",
        "eth0",
        "nodad",
    ]);

    // An MTU lowered on a's side: its IPv6 MTU probe says so.
    ip(&["-n", A, "link", "set", "eth0", "mtu", "1400"]);
    let results = run();
    let fails = failed(&results);
    let mtu: Vec<&String> = fails
        .iter()
        .filter(|f| f.contains("mtu over IPv6"))
        .collect();
    assert_eq!(mtu.len(), 1, "{fails:#?}");
    assert!(
        mtu[0].contains("MTU mismatch: h3k-a's eth0 has MTU 1400, its host end p-h3k-a has 1500: the 1500-byte DF packet did not pass"),
        "{fails:#?}"
    );
}
