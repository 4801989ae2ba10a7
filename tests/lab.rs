//! `sbx lab` (SPEC "Labs"): real networks and sandboxes from lab files.
//! On the real host with this suite's own subnets (10.245.0.0/16) and
//! names; the shipped seed files (172.16.0.0/24, 10.11.0.0/16, which users
//! may have) only inside a private "host" namespace (TESTING.md).

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A lab file in a folder of its own; `lab down` and the folder's removal
/// on drop, even after a failed assertion.
struct LabFile {
    root: PathBuf,
    dir: PathBuf,
    path: PathBuf,
}

impl LabFile {
    fn new(env: &TestEnv, name: &str, text: &str) -> Self {
        let dir = PathBuf::from(format!(
            "/tmp/sbx-tst-{}-lab-{}",
            env.id,
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("lab folder");
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).expect("write the lab file");
        LabFile {
            root: env.root.clone(),
            dir,
            path,
        }
    }

    fn arg(&self) -> &str {
        self.path.to_str().expect("UTF-8 path")
    }
}

impl Drop for LabFile {
    fn drop(&mut self) {
        let _ = Command::new(SBX)
            .env("SBX_ROOT", &self.root)
            .args(["lab", "down", self.path.to_str().unwrap_or_default()])
            .stdin(Stdio::null())
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `sbx ...` that must fail with 125 and one `sbx: ` line; returns it.
fn refused(env: &TestEnv, args: &[&str]) -> String {
    let out = env.sbx(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "sbx {args:?}: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.contains("warning")).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("sbx: "), "{stderr}");
    lines[0].to_string()
}

/// The PID of each of these running sandboxes, from `ps --json`.
fn pids(env: &TestEnv, names: &[&str]) -> Vec<i64> {
    let ps = env.ps_json();
    names
        .iter()
        .map(|n| {
            let entry = ps.iter().find(|s| s["name"] == *n);
            entry
                .and_then(|s| s["pid"].as_i64())
                .unwrap_or_else(|| panic!("{n} runs: {ps:?}"))
        })
        .collect()
}

#[test]
fn up_makes_the_lab_a_second_up_changes_nothing_and_down_leaves_nothing() {
    let mut env = TestEnv::new("labup");
    env.adopt_network("tst-labup");
    let lab = LabFile::new(
        &env,
        "labup",
        r#"
[networks.tst-labup]
subnet = "10.245.0.0/24"
bridge = "tstb-labup"
internal = true

[sandboxes.tst-labup-a]
networks = { tst-labup = "10.245.0.10" }

[sandboxes.tst-labup-b]
networks = { tst-labup = "" }
env = { GREETING = "hi" }
"#,
    );
    let out = env.ok(&["lab", "up", lab.arg()]);
    assert!(
        out.contains("lab labup: 2 sandbox(es) started, 0 unchanged; 1 network(s) created"),
        "{out}"
    );
    let row = out
        .lines()
        .find(|l| l.starts_with("tst-labup-a"))
        .expect("a's row");
    assert!(
        row.contains("started") && row.contains("eth0") && row.contains("10.245.0.10"),
        "{out}"
    );
    let b = env.inspect("tst-labup-b");
    let b_ip = b["network"]["ip"]
        .as_str()
        .expect("b has an address")
        .to_string();
    assert!(
        out.contains(&b_ip),
        "the table shows the address IPAM chose: {out}"
    );
    assert_eq!(b["labels"]["lab"], "labup", "{b}");
    assert!(
        b["spec"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "GREETING=hi")
    );
    assert_eq!(
        b["spec"]["command"],
        serde_json::json!(["sleep", "infinity"])
    );
    let net: serde_json::Value =
        serde_json::from_str(&env.ok(&["network", "inspect", "tst-labup"])).expect("JSON");
    assert_eq!(net["labels"]["lab"], "labup");
    assert_eq!(net["bridge"], "tstb-labup");
    assert!(ping(Some("sbx-tst-labup-a"), &b_ip), "a reaches b");
    assert!(ping(Some("sbx-tst-labup-b"), "10.245.0.10"), "b reaches a");

    let before = pids(&env, &["tst-labup-a", "tst-labup-b"]);
    let again = env.ok(&["lab", "up", lab.arg()]);
    assert!(
        again.contains("lab labup: already up, nothing changed"),
        "{again}"
    );
    assert!(again.contains("unchanged"), "{again}");
    assert_eq!(
        pids(&env, &["tst-labup-a", "tst-labup-b"]),
        before,
        "same processes"
    );

    let ps = env.ok(&["lab", "ps", "-q", lab.arg()]);
    let mut names: Vec<&str> = ps.lines().collect();
    names.sort();
    assert_eq!(names, ["tst-labup-a", "tst-labup-b"]);

    // An exited sandbox of the lab is started again from the file.
    env.ok(&["stop", "-t", "1", "tst-labup-a"]);
    let restarted = env.ok(&["lab", "up", lab.arg()]);
    let row = restarted
        .lines()
        .find(|l| l.starts_with("tst-labup-a"))
        .expect("row");
    assert!(
        row.contains("restarted") && row.contains("10.245.0.10"),
        "{restarted}"
    );

    let down = env.ok(&["lab", "down", lab.arg()]);
    assert!(
        down.contains("removed 2 sandbox(es) and network(s) tst-labup"),
        "{down}"
    );
    assert!(env.records().is_empty(), "no sandbox left");
    assert!(!link_exists("tstb-labup"), "the lab's bridge is gone");
    assert!(
        sbx_chains_of("tstb-labup").is_empty(),
        "and its firewall chains"
    );
    assert!(!Path::new("/run/netns/sbx-tst-labup-a").exists());
    assert!(
        !env.ok(&["network", "ls"]).contains("tst-labup"),
        "the lab's network is gone"
    );
    let twice = env.ok(&["lab", "down", lab.arg()]);
    assert!(twice.contains("nothing to remove"), "{twice}");
}

#[test]
fn a_failing_sandbox_undoes_its_run_and_spares_what_existed_before() {
    let mut env = TestEnv::new("labfail");
    env.network(
        "tst-labfx",
        &[
            "--subnet",
            "10.245.1.0/24",
            "--bridge",
            "tstb-labfx",
            "--internal",
        ],
    );
    env.adopt_network("tst-labfn");
    let lab = LabFile::new(
        &env,
        "labfail",
        r#"
[networks.tst-labfx]
subnet = "10.245.1.0/24"
bridge = "tstb-labfx"
internal = true

[networks.tst-labfn]
subnet = "10.245.2.0/24"
bridge = "tstb-labfn"
internal = true

[sandboxes.tst-labf-ok]
networks = { tst-labfx = "10.245.1.5", tst-labfn = "10.245.2.5" }

[sandboxes.tst-labf-bad]                 # a network that exists nowhere
networks = { tst-labfn = "", tst-labfz = "" }
"#,
    );
    let line = refused(&env, &["lab", "up", lab.arg()]);
    assert!(
        line.contains("sandbox tst-labf-bad did not start"),
        "{line}"
    );
    assert!(
        line.contains("network tst-labfz not found"),
        "the cause: {line}"
    );
    assert!(
        line.contains("removed what this run made (sandbox tst-labf-ok, network tst-labfn)"),
        "{line}"
    );
    assert!(
        env.records().is_empty(),
        "the sandbox this run started is gone"
    );
    assert!(
        !link_exists("tstb-labfn"),
        "the network this run made is gone"
    );
    assert!(
        link_exists("tstb-labfx"),
        "the network that existed before stays"
    );
    let nets = env.ok(&["network", "ls"]);
    assert!(
        nets.contains("tst-labfx") && !nets.contains("tst-labfn"),
        "{nets}"
    );

    // An existing network with other settings stops `up` before anything.
    let other = LabFile::new(
        &env,
        "labfail2",
        "[networks.tst-labfx]\nsubnet = \"10.245.3.0/24\"\n[sandboxes.tst-labf-x]\nnetworks = { tst-labfx = \"\" }\n",
    );
    let line = refused(&env, &["lab", "up", other.arg()]);
    assert!(
        line.contains("network tst-labfx exists with other settings"),
        "{line}"
    );
    assert!(
        line.contains("subnet 10.245.3.0/24 in the file, 10.245.1.0/24 now"),
        "{line}"
    );
    assert!(
        line.contains("bridge tst-labfx in the file, tstb-labfx now"),
        "{line}"
    );
    assert!(env.records().is_empty());

    // A sandbox of that name that is not the lab's is never touched.
    env.detach(
        "tst-labf-ok",
        &[
            "--network",
            "tst-labfx",
            "--label",
            "team=blue",
            "-l",
            "lab=other",
            "--",
            "sleep",
            "60",
        ],
    );
    let labels = &env.inspect("tst-labf-ok")["labels"];
    assert_eq!(
        labels,
        &serde_json::json!({"team": "blue", "lab": "other"}),
        "--label shows in inspect"
    );
    let line = refused(&env, &["lab", "up", lab.arg()]);
    assert!(
        line.contains("sandbox tst-labf-ok already exists and is not part of this lab"),
        "{line}"
    );
    assert_eq!(env.status("tst-labf-ok").as_deref(), Some("running"));
    assert!(!link_exists("tstb-labfn"), "nothing made");
}

#[test]
fn mistakes_in_the_file_are_refused_before_anything_is_made() {
    let env = TestEnv::new("labkey");
    let typo = LabFile::new(
        &env,
        "typo",
        "[networks.tst-labkey]\nsubnet = \"10.245.4.0/24\"\n\n[sandboxes.tst-labkey-a]\nnetwork = { tst-labkey = \"\" }\n",
    );
    let line = refused(&env, &["lab", "up", typo.arg()]);
    assert!(
        line.contains(&format!("lab file {}, line 5", typo.arg())),
        "{line}"
    );
    assert!(line.contains("unknown field `network`"), "{line}");
    assert!(
        line.contains("expected one of") && line.contains("`networks`"),
        "{line}"
    );

    let outside = LabFile::new(
        &env,
        "outside",
        "[networks.tst-labkey]\nsubnet = \"10.245.4.0/24\"\n[sandboxes.tst-labkey-a]\nnetworks = { tst-labkey = \"10.245.5.9\" }\n",
    );
    let line = refused(&env, &["lab", "up", outside.arg()]);
    assert!(
        line.contains("10.245.5.9 is not a host address of network tst-labkey"),
        "{line}"
    );
    let missing = refused(&env, &["lab", "up", "/nonexistent/lab.toml"]);
    assert!(
        missing.contains("cannot read lab file /nonexistent/lab.toml"),
        "{missing}"
    );
    assert!(
        !env.ok(&["network", "ls"]).contains("tst-labkey"),
        "no network made"
    );
    assert!(!link_exists("tst-labkey"));
}

#[test]
fn graphs_show_every_sandbox_network_and_address() {
    let mut env = TestEnv::new("labgr");
    env.adopt_network("tst-labgr1");
    env.adopt_network("tst-labgr2");
    let lab = LabFile::new(
        &env,
        "labgr",
        r#"
[networks.tst-labgr1]
subnet = "10.245.6.0/24"
internal = true
[networks.tst-labgr2]
subnet = "10.245.7.0/24"
internal = true

[sandboxes.tst-labgr-r]                 # a router on both
networks = { tst-labgr1 = "10.245.6.2", tst-labgr2 = "10.245.7.2" }
allow_spoofing = true
[sandboxes.tst-labgr-s]
networks = { tst-labgr2 = "" }
rootfs = "root"                         # relative to the file
"#,
    );
    std::os::unix::fs::symlink(busybox_rootfs(), lab.dir.join("root")).expect("symlink rootfs");
    // Before `up`: drawn from the file.
    let before = env.ok(&["lab", "graph", lab.arg()]);
    assert!(
        before.contains("eth0 auto ── tst-labgr-s (absent)"),
        "{before}"
    );
    env.ok(&["lab", "up", lab.arg()]);
    let s_ip = env.inspect("tst-labgr-s")["network"]["ip"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        env.status("tst-labgr-s").as_deref(),
        Some("running"),
        "busybox sleeps too"
    );
    let everything = [
        "tst-labgr1",
        "tst-labgr2",
        "tst-labgr-r",
        "tst-labgr-s",
        "10.245.6.2",
        "10.245.7.2",
        &s_ip,
        "10.245.6.1",
        "10.245.7.0/24",
    ];
    let drawing = env.ok(&["lab", "graph", lab.arg()]);
    for word in everything {
        assert!(drawing.contains(word), "{word} in {drawing}");
    }
    assert!(
        drawing.contains("├── eth1 10.245.7.2 ── tst-labgr-r (running)")
            || drawing.contains("└── eth1 10.245.7.2 ── tst-labgr-r (running)"),
        "{drawing}"
    );
    let dot = env.ok(&["lab", "graph", "--format", "dot", lab.arg()]);
    for word in everything {
        assert!(dot.contains(word), "{word} in {dot}");
    }
    assert_eq!(
        dot.matches(" -- ").count(),
        3,
        "one edge per interface: {dot}"
    );
    let mut render = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("graphviz's dot is installed (tests/run.sh)");
    std::io::Write::write_all(&mut render.stdin.take().unwrap(), dot.as_bytes()).unwrap();
    let svg = render.wait_with_output().unwrap();
    assert!(
        svg.status.success(),
        "dot renders it: {}",
        text(&svg.stderr)
    );
    assert!(text(&svg.stdout).contains("<svg") && text(&svg.stdout).contains("labgr&#45;r"));
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["lab", "graph", "--format", "json", lab.arg()])).unwrap();
    assert_eq!(json["networks"].as_array().unwrap().len(), 2);
    assert_eq!(json["networks"][0]["gateway"], "10.245.6.1");
    let r = &json["sandboxes"][0];
    assert_eq!(r["name"], "tst-labgr-r");
    assert_eq!(r["status"], "running");
    assert_eq!(
        r["interfaces"][1],
        serde_json::json!({"ifname": "eth1", "network": "tst-labgr2", "ip": "10.245.7.2"})
    );
    assert_eq!(json["sandboxes"][1]["interfaces"][0]["ip"], s_ip.as_str());
    // One network's graph: the sandboxes on it, their interfaces on it.
    let net: serde_json::Value =
        serde_json::from_str(&env.ok(&["network", "graph", "--format", "json", "tst-labgr2"]))
            .unwrap();
    let names: Vec<&str> = net["sandboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["tst-labgr-r", "tst-labgr-s"]);
    assert_eq!(
        net["sandboxes"][0]["interfaces"].as_array().unwrap().len(),
        1
    );
    let drawing = env.ok(&["network", "graph", "tst-labgr2"]);
    assert!(
        drawing.contains(&format!("eth0 {s_ip} ── tst-labgr-s (running)")),
        "{drawing}"
    );
    env.ok(&["lab", "down", lab.arg()]);
}

/// The shipped seed files, as they are, inside a private "host": its own
/// network and mount namespaces, a private /run/netns and state root
/// (TESTING.md), so 172.16.0.0/24 and 10.11.0.0/16 collide with nothing on
/// the real host. seed003 reaches a fake upstream through NAT: the upstream
/// has no route back to 10.11.0.0/16, so its answers arrive only when the
/// source was masqueraded.
#[test]
fn the_seed_labs_come_up_talk_and_go_in_a_private_host() {
    let root = PathBuf::from(format!("/tmp/sbx-tst-labseed-{}", std::process::id()));
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let script = r#"
set -u
mount -t tmpfs tmpfs /run/netns || mount -t tmpfs tmpfs /run
mkdir -p /run/netns
ip link set lo up
trap '"$SBX" lab down "$EX/seed000.toml" >/dev/null 2>&1; "$SBX" lab down "$EX/seed003.toml" >/dev/null 2>&1; ip netns del up 2>/dev/null' EXIT
"$SBX" lab up "$EX/seed000.toml" || exit 1
ip netns exec sbx-netns1 ping -c1 -W2 172.16.0.3 >/dev/null; echo "ping000=$?"
ip netns exec sbx-netns2 ping -c1 -W2 172.16.0.2 >/dev/null; echo "pong000=$?"
"$SBX" lab up "$EX/seed000.toml" | tail -1
out=$("$SBX" lab check "$EX/seed000.toml"); echo "check000=$? $(echo "$out" | tail -1)"
"$SBX" lab graph --format dot "$EX/seed000.toml" | dot -Tsvg >/dev/null; echo "dot=$?"
"$SBX" lab down "$EX/seed000.toml"
echo "bridge000=$(ls /sys/class/net | grep -c '^br0$')"
ip netns add up
ip link add tst-up type veth peer name eth0 netns up
ip addr add 203.0.113.1/24 dev tst-up; ip link set tst-up up
ip -n up addr add 203.0.113.2/24 dev eth0; ip -n up link set eth0 up; ip -n up link set lo up
"$SBX" lab up "$EX/seed003.toml" || exit 1
ip netns exec sbx-host10 ping -c1 -W2 10.11.0.20 >/dev/null; echo "ping003=$?"
ip netns exec sbx-host10 ping -c1 -W2 203.0.113.2 >/dev/null; echo "nat003=$?"
out=$("$SBX" lab check "$EX/seed003.toml"); echo "check003=$? $(echo "$out" | tail -1)"
"$SBX" lab up "$EX/seed003.toml" | tail -1
"$SBX" lab down "$EX/seed003.toml"
echo "networks=$("$SBX" network ls | tail -n +2 | wc -l)"
"#;
    let out = Command::new("unshare")
        .args([
            "--net",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
        ])
        .env("SBX", SBX)
        .env("SBX_ROOT", &root)
        .env("EX", &examples)
        .env_remove("SBX_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run unshare");
    let _ = std::fs::remove_dir_all(&root);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    let all = format!("{stdout}\n{stderr}");
    assert!(
        stdout.contains("netns1    started   eth0        br0       172.16.0.2"),
        "{all}"
    );
    assert!(
        stdout.contains("ping000=0") && stdout.contains("pong000=0"),
        "{all}"
    );
    assert!(
        stdout.contains("lab seed000: already up, nothing changed"),
        "{all}"
    );
    // Two sandboxes: 2 pairs, 2 gateways, 2 from the host, 2 MTU probes,
    // and the file's one expectation.
    assert!(stdout.contains("check000=0 9 passed, 0 failed"), "{all}");
    assert!(stdout.contains("check003=0 9 passed, 0 failed"), "{all}");
    assert!(
        stdout.contains("lab seed003: already up, nothing changed"),
        "{all}"
    );
    assert!(stdout.contains("dot=0"), "{all}");
    assert!(
        stdout.contains("lab seed000: removed 2 sandbox(es) and network(s) br0"),
        "{all}"
    );
    assert!(stdout.contains("bridge000=0"), "{all}");
    assert!(stdout.contains("ping003=0"), "{all}");
    assert!(
        stdout.contains("nat003=0"),
        "the upstream answers through NAT: {all}"
    );
    assert!(
        stdout.contains("lab seed003: removed 2 sandbox(es) and network(s) sbx0"),
        "{all}"
    );
    assert!(stdout.contains("networks=0"), "{all}");
}

#[test]
fn lab_check_adds_the_expectations_and_up_sets_the_impairments() {
    let mut env = TestEnv::new("labchk");
    env.adopt_network("tst-labca");
    env.adopt_network("tst-labcb");
    let lab = LabFile::new(
        &env,
        "labchk",
        r#"
[networks.tst-labca]
subnet = "10.245.8.0/24"
bridge = "tstb-labca"
internal = true

[networks.tst-labcb]
subnet = "10.245.9.0/24"
bridge = "tstb-labcb"
internal = true

[sandboxes.tst-lc-a]
networks = { tst-labca = "" }

[sandboxes.tst-lc-b]
networks = { tst-labca = "" }

[sandboxes.tst-lc-c]
networks = { tst-labcb = "" }

[sandboxes.tst-lc-a.impair.eth0]
rate = "10mbit"

[[expect]]
from = "tst-lc-a"
to = "tst-lc-b"

[[expect]]                  # isolation between the two networks
from = "tst-lc-a"
to = "tst-lc-c"
reach = false
"#,
    );
    let out = env.ok(&["lab", "up", lab.arg()]);
    assert!(
        out.contains("lab labchk: impairments set on 1 interface(s)"),
        "{out}"
    );
    // The impairment is sbx impair's own: shown by it, drawn by the graph.
    let shown = env.ok(&["impair", "show", "--json"]);
    assert!(shown.contains("tst-lc-a"), "{shown}");
    let graph = env.ok(&["lab", "graph", lab.arg()]);
    assert!(graph.contains("rate 10mbit"), "{graph}");
    // A second up changes nothing, impairments included.
    let again = env.ok(&["lab", "up", lab.arg()]);
    assert!(again.contains("already up, nothing changed"), "{again}");

    // Two networks: a<->b both ways, 3 gateways, 3 from the host, 3 MTU
    // probes, and the two expectations.
    let out = env.sbx(&["lab", "check", lab.arg()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.ends_with("13 passed, 0 failed\n"), "{stdout}");
    assert!(
        stdout.contains("[PASS] tst-lc-a -> tst-lc-c expect"),
        "the isolation expectation passes: {stdout}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["lab", "check", "--json", lab.arg()])).expect("JSON");
    let expects = (json["checks"].as_array().expect("checks").iter())
        .filter(|c| c["kind"] == "expect")
        .count();
    assert_eq!(expects, 2, "{json}");

    // An expectation that does not hold fails the check, with a why. (The
    // other files live in the lab's folder, removed with it.)
    let broken = lab.dir.join("labchk2.toml");
    let first = std::fs::read_to_string(&lab.path).expect("read");
    std::fs::write(&broken, first.replace("reach = false", "reach = true")).expect("write");
    let out = env.sbx(&["lab", "check", broken.to_str().expect("path")]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("[FAIL] tst-lc-a -> tst-lc-c expect"),
        "{stdout}"
    );
    assert!(stdout.contains("  why: "), "{stdout}");

    // A lab asking for what this kernel cannot do (netem) is refused
    // before anything is made.
    let has_netem = Command::new("unshare")
        .args(["-n", "sh", "-c", "tc qdisc add dev lo root netem delay 1ms"])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_netem {
        let delayed = lab.dir.join("labchk3.toml");
        std::fs::write(
            &delayed,
            "[networks.tst-labcd]\nsubnet = \"10.245.10.0/24\"\nbridge = \"tstb-labcd\"\n\
             [sandboxes.tst-lc-d]\nnetworks = { tst-labcd = \"\" }\n\
             [sandboxes.tst-lc-d.impair.eth0]\ndelay = \"50ms\"\n",
        )
        .expect("write");
        let line = refused(&env, &["lab", "up", delayed.to_str().expect("path")]);
        assert!(line.contains("netem"), "{line}");
        assert!(!link_exists("tstb-labcd"), "nothing made");
        assert!(!env.records().contains(&"tst-lc-d".to_string()));
    }
    env.ok(&["lab", "down", lab.arg()]);
}
