//! State you can trust (issue 8, item 8): a damaged record of a running
//! sandbox is set aside, never taken for a dead one; liveness, addresses
//! and bridge ports come from the kernel.

mod common;
use common::*;
use std::path::{Path, PathBuf};

fn record_path(env: &TestEnv, name: &str) -> PathBuf {
    env.root.join("sandboxes").join(name).join("sandbox.json")
}

fn eth0_addr(env: &TestEnv, name: &str, net: &str) -> String {
    let out = env.ok(&[
        "run",
        "--name",
        name,
        "--network",
        net,
        "--",
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    let inet = out
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .unwrap_or_else(|| panic!("no inet in {out}"));
    inet.split('/').next().unwrap().to_string()
}

#[test]
fn a_damaged_record_of_a_running_sandbox_is_set_aside_never_swept() {
    let mut env = TestEnv::new("dmgsb");
    let net = env.network(
        "tst-dmgsb",
        &["--subnet", "10.246.17.0/24", "--bridge", "tstb-dmgsb"],
    );
    let garbage = b"\x00\x01 not json at all {{{".to_vec();
    for (variant, damage) in [("garbage", Some(garbage)), ("truncated", None)] {
        env.detach("tst-dmga", &["--network", &net, "--", "sleep", "300"]);
        let info = env.inspect("tst-dmga");
        let init = info["pids"]["init"].as_i64().unwrap();
        let veth = info["network"]["veth_host"].as_str().unwrap().to_string();
        assert_eq!(info["network"]["ip"], "10.246.17.2");
        let path = record_path(&env, "tst-dmga");
        let whole = std::fs::read(&path).unwrap();
        let bad = damage.unwrap_or_else(|| whole[..whole.len() / 2].to_vec());
        std::fs::write(&path, &bad).unwrap();

        // prune leaves it alone and says so.
        let out = env.sbx(&["prune"]);
        assert!(out.status.success(), "{variant}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(
            err.contains("left sandbox tst-dmga alone") && err.contains("sbx rm -f tst-dmga"),
            "{variant}: {err}"
        );
        // The next launch on the same network sweeps but keeps it, and
        // gets another address; the held one is refused, naming it.
        let other = eth0_addr(&env, "tst-dmgb", &net);
        assert_eq!(other, "10.246.17.3", "{variant}: a different address");
        let out = env.sbx(&[
            "run",
            "--network",
            &net,
            "--ip",
            "10.246.17.2",
            "--",
            "true",
        ]);
        assert_eq!(out.status.code(), Some(125), "{variant}");
        assert!(
            text(&out.stderr).contains("address 10.246.17.2 is already in use by sandbox tst-dmga"),
            "{variant}: {}",
            text(&out.stderr)
        );
        let out = env.sbx(&["run", "--name", "tst-dmga", "--network", &net, "--", "true"]);
        assert_eq!(
            out.status.code(),
            Some(125),
            "{variant}: the name stays taken"
        );
        // It still runs, with its namespace and its bridge port.
        assert!(path.exists(), "{variant}: the record is kept");
        assert!(alive(init), "{variant}: the sandbox keeps running");
        assert!(Path::new("/run/netns/sbx-tst-dmga").exists(), "{variant}");
        assert!(bridge_ports("tstb-dmgsb").contains(&veth), "{variant}");
        // ps -a shows it as unknown, with the reason; plain ps does not.
        let all: Vec<serde_json::Value> =
            serde_json::from_str(&env.ok(&["ps", "-a", "--json"])).unwrap();
        let entry = all
            .iter()
            .find(|s| s["name"] == "tst-dmga")
            .expect("listed by ps -a");
        assert_eq!(entry["status"], "unknown", "{variant}: {entry}");
        assert_eq!(entry["pid"], init, "{variant}: its init, from the kernel");
        assert!(
            entry["reason"].as_str().unwrap().contains("damaged"),
            "{variant}: {entry}"
        );
        let table = env.ok(&["ps", "-a"]);
        let row = table.lines().find(|l| l.starts_with("tst-dmga")).unwrap();
        assert!(
            row.contains("unknown") && row.contains("record unreadable"),
            "{row}"
        );
        assert!(!env.ok(&["ps", "-q"]).contains("tst-dmga"));
        // network rm refuses while it is attached, naming it.
        let out = env.sbx(&["network", "rm", &net]);
        assert_eq!(out.status.code(), Some(125), "{variant}");
        assert!(
            text(&out.stderr).contains("in use by sandbox tst-dmga"),
            "{variant}: {}",
            text(&out.stderr)
        );
        assert!(link_exists("tstb-dmgsb"));
        // rm without -f refuses; rm -f kills it and removes everything.
        let out = env.sbx(&["rm", "tst-dmga"]);
        assert_eq!(out.status.code(), Some(125), "{variant}");
        assert!(text(&out.stderr).contains("sbx rm -f tst-dmga"));
        let out = env.sbx(&["rm", "-f", "tst-dmga"]);
        assert!(out.status.success(), "{variant}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("killed"),
            "{}",
            text(&out.stderr)
        );
        assert!(wait_until(5, || !alive(init)), "{variant}: init killed");
        assert!(!Path::new("/run/netns/sbx-tst-dmga").exists(), "{variant}");
        assert!(
            !env.records().contains(&"tst-dmga".to_string()),
            "{variant}"
        );
        assert!(
            wait_until(10, || !link_exists(&veth)),
            "{variant}: its veth goes with its namespace"
        );
    }
}

#[test]
fn a_folder_without_record_or_namespace_is_swept_one_with_a_namespace_is_kept() {
    let mut env = TestEnv::new("dmgmis");
    let net = env.network(
        "tst-dmgmis",
        &["--subnet", "10.246.18.0/24", "--bridge", "tstb-dmgmis"],
    );
    // A running sandbox whose record vanished.
    env.detach("tst-dmgm", &["--network", &net, "--", "sleep", "300"]);
    // A launch that died between mkdir and its first write.
    std::fs::create_dir_all(env.root.join("sandboxes").join("tst-dmgdead")).unwrap();
    let init = env.inspect("tst-dmgm")["pids"]["init"].as_i64().unwrap();
    std::fs::remove_file(record_path(&env, "tst-dmgm")).unwrap();
    let out = env.sbx(&["prune"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("removed unreadable sandbox folder tst-dmgdead"));
    let records = env.records();
    assert!(!records.contains(&"tst-dmgdead".to_string()), "{records:?}");
    assert!(records.contains(&"tst-dmgm".to_string()), "{records:?}");
    assert!(alive(init));
    assert_eq!(env.status("tst-dmgm").as_deref(), Some("unknown"));
    assert_eq!(eth0_addr(&env, "tst-dmgn", &net), "10.246.18.3");
    env.ok(&["rm", "-f", "tst-dmgm"]);
    assert!(wait_until(5, || !alive(init)));
}

#[test]
fn a_damaged_sandbox_whose_sbx_died_is_still_removed_whole() {
    let env = TestEnv::new("dmgown");
    env.detach(
        "tst-dmgo",
        &[
            "--network",
            "none",
            "--pids-limit",
            "20",
            "--",
            "sleep",
            "300",
        ],
    );
    let info = env.inspect("tst-dmgo");
    let init = info["pids"]["init"].as_i64().unwrap();
    let supervisor = info["pids"]["supervisor"].as_i64().unwrap();
    let cgroups: Vec<PathBuf> = info["cgroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| PathBuf::from(c.as_str().unwrap()))
        .collect();
    assert!(!cgroups.is_empty());
    std::fs::write(record_path(&env, "tst-dmgo"), b"}").unwrap();
    // Its sbx is killed: the sandbox dies with it, the pinned netns stays.
    signal(supervisor as u32, libc::SIGKILL);
    assert!(wait_until(5, || !alive(init) && !alive(supervisor)));
    let netns = Path::new("/run/netns/sbx-tst-dmgo");
    assert!(netns.exists());
    let out = env.sbx(&["prune"]);
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("left sandbox tst-dmgo alone"));
    env.ok(&["run", "--network", "none", "--", "true"]);
    assert!(netns.exists() && env.records().contains(&"tst-dmgo".to_string()));
    let all: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["ps", "-a", "--json"])).unwrap();
    let entry = all.iter().find(|s| s["name"] == "tst-dmgo").unwrap();
    assert_eq!(entry["status"], "unknown");
    assert!(entry["pid"].is_null(), "{entry}");
    assert_eq!(env.sbx(&["rm", "tst-dmgo"]).status.code(), Some(125));
    env.ok(&["rm", "-f", "tst-dmgo"]);
    assert!(!netns.exists());
    assert!(env.records().is_empty());
    assert!(
        cgroups.iter().all(|c| !c.exists()),
        "its cgroups go too: {cgroups:?}"
    );
}

#[test]
fn a_damaged_sandbox_whose_netns_file_was_deleted_is_found_by_its_cgroups() {
    // The reviewer's case: garbage in the record AND the netns file removed
    // by hand. The sandbox's processes still live (in its cgroup): it must
    // show as unknown with them, keep its address, and `rm -f` must kill
    // them and keep the folder until nothing is left.
    let mut env = TestEnv::new("dmgns");
    let net = env.network(
        "tst-dmgns",
        &["--subnet", "10.246.19.0/24", "--bridge", "tstb-dmgns"],
    );
    env.detach("tst-dmgn", &["--network", &net, "--", "sleep", "300"]);
    let info = env.inspect("tst-dmgn");
    let init = info["pids"]["init"].as_i64().unwrap();
    let ip = info["network"]["ip"].as_str().unwrap().to_string();
    std::fs::write(record_path(&env, "tst-dmgn"), b"junk").unwrap();
    let out = host("ip", &["netns", "del", "sbx-tst-dmgn"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(alive(init), "the sandbox runs on without its netns file");

    let all: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["ps", "-a", "--json"])).unwrap();
    let entry = all
        .iter()
        .find(|s| s["name"] == "tst-dmgn")
        .expect("listed");
    assert_eq!(entry["status"], "unknown");
    assert_eq!(entry["pid"], init, "its init is found through its cgroup");
    let reason = entry["reason"].as_str().unwrap();
    assert!(reason.contains("of it live"), "{reason}");

    // Its address is not handed out again, and prune leaves it alone.
    let out = env.sbx(&["run", "--network", &net, "--ip", &ip, "--", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    assert!(env.sbx(&["prune"]).status.success());
    assert!(alive(init));
    assert!(env.records().contains(&"tst-dmgn".to_string()));

    // rm without -f refuses; rm -f kills it and removes it whole.
    let out = env.sbx(&["rm", "tst-dmgn"]);
    assert_eq!(out.status.code(), Some(125));
    let out = env.sbx(&["rm", "-f", "tst-dmgn"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(wait_until(5, || !alive(init)), "rm -f killed it");
    assert!(!env.records().contains(&"tst-dmgn".to_string()));
    assert!(
        wait_until(10, || bridge_ports("tstb-dmgns").is_empty()),
        "its veth went with its namespace"
    );
    // The address is free again.
    env.ok(&["run", "--network", &net, "--ip", &ip, "--", "true"]);
}
