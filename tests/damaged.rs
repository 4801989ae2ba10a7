//! State you can trust (issue 8, items 8, 9 and 17): a damaged record of a
//! running sandbox is set aside, never taken for a dead one; a damaged
//! network record is shown and removable; a teardown that cannot finish
//! keeps its record so that a second try finishes it.

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

/// The table and the nft chains of sbx that mention `bridge`, as
/// (family, table, chain), found by listing (their names are sbx's business).
fn sbx_chains_of(bridge: &str) -> Vec<(String, String, String)> {
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

struct HandLink(&'static str);
impl Drop for HandLink {
    fn drop(&mut self) {
        let _ = host("ip", &["link", "del", self.0]);
    }
}

#[test]
fn a_damaged_network_record_is_shown_skipped_and_removable() {
    let mut env = TestEnv::new("dmgnet");
    let _bridge = HandLink("tstb-dmgn");
    let damaged = env.network("tstb-dmgn", &["--subnet", "10.247.10.0/24"]);
    let good = env.network(
        "tst-dmgok",
        &["--subnet", "10.247.11.0/24", "--bridge", "tstb-dmgok"],
    );
    assert!(!sbx_chains_of("tstb-dmgn").is_empty());
    let file = env.root.join("networks").join("tstb-dmgn.json");
    std::fs::write(&file, b"garbage\xff").unwrap();

    let table = env.ok(&["network", "ls"]);
    assert!(table.contains("tst-dmgok"), "{table}");
    let row = table.lines().find(|l| l.starts_with("tstb-dmgn")).unwrap();
    assert!(row.contains("damaged"), "{row}");
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["network", "ls", "--json"])).unwrap();
    let entry = list.iter().find(|n| n["name"] == "tstb-dmgn").unwrap();
    assert_eq!(entry["damaged"], true);
    assert!(
        entry["reason"].as_str().unwrap().contains("damaged"),
        "{entry}"
    );
    assert!(list.iter().any(|n| n["name"] == "tst-dmgok"));

    // Other networks work: create, use, remove.
    env.network(
        "tst-dmgnew",
        &["--subnet", "10.247.12.0/24", "--bridge", "tstb-dmgnew"],
    );
    env.ok(&["network", "rm", "tst-dmgnew"]);
    env.ok(&["run", "--network", &good, "--", "true"]);
    // Its name stays taken, and so does its bridge.
    let out = env.sbx(&["network", "create", &damaged, "--subnet", "10.247.13.0/24"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("its record cannot be read"),
        "{}",
        text(&out.stderr)
    );
    let out = env.sbx(&[
        "network",
        "create",
        "tst-dmgx",
        "--subnet",
        "10.247.14.0/24",
        "--bridge",
        "tstb-dmgn",
    ]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    let out = env.sbx(&["network", "inspect", &damaged]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("sbx network rm tstb-dmgn"));

    // rm removes the record, and the bridge sbx made (its MAC says so)
    // with its firewall chains.
    let out = env.sbx(&["network", "rm", &damaged]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!file.exists());
    assert!(!link_exists("tstb-dmgn"), "the bridge sbx made is gone");
    assert!(sbx_chains_of("tstb-dmgn").is_empty());
    assert!(link_exists("tstb-dmgok"));
    assert!(!sbx_chains_of("tstb-dmgok").is_empty());
}

#[test]
fn a_truncated_record_of_an_adopted_bridge_goes_and_the_bridge_stays() {
    let mut env = TestEnv::new("dmgad");
    let _bridge = HandLink("tstb-dmgad");
    assert!(
        host("ip", &["link", "add", "tstb-dmgad", "type", "bridge"])
            .status
            .success()
    );
    let net = env.network(
        "tst-dmgad",
        &["--subnet", "10.247.20.0/24", "--bridge", "tstb-dmgad"],
    );
    let file = env.root.join("networks").join("tst-dmgad.json");
    let whole = std::fs::read(&file).unwrap();
    std::fs::write(&file, &whole[..whole.len() - 20]).unwrap();
    let out = env.sbx(&["network", "rm", &net]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("interface tstb-dmgad was left in place"),
        "{}",
        text(&out.stderr)
    );
    assert!(!file.exists());
    assert!(
        link_exists("tstb-dmgad"),
        "an adopted bridge is not deleted"
    );
}

#[test]
fn network_rm_leaves_an_interface_that_is_no_longer_its_bridge() {
    let mut env = TestEnv::new("tdfor");
    let _dummy = HandLink("tstb-tdfor");
    let net = env.network(
        "tst-tdfor",
        &["--subnet", "10.248.30.0/24", "--bridge", "tstb-tdfor"],
    );
    // Someone replaced the bridge by an interface of their own.
    assert!(host("ip", &["link", "del", "tstb-tdfor"]).status.success());
    assert!(
        host(
            "ip",
            &[
                "link",
                "add",
                "tstb-tdfor",
                "type",
                "veth",
                "peer",
                "name",
                "tst-tdforp"
            ]
        )
        .status
        .success()
    );
    let out = env.sbx(&["network", "rm", &net]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no longer a bridge"));
    assert!(link_exists("tstb-tdfor"), "someone else's interface stays");
    assert!(!env.ok(&["network", "ls"]).contains("tst-tdfor"));
    assert!(sbx_chains_of("tstb-tdfor").is_empty());
}

#[test]
#[ignore = "hangs until the nf_tables socket reports an error on the batch header (helper net's part of item 17): see the report"]
fn network_rm_keeps_the_record_until_the_kernel_objects_are_gone() {
    let mut env = TestEnv::new("tdcap");
    let net = env.network(
        "tst-tdcap",
        &["--subnet", "10.248.31.0/24", "--bridge", "tstb-tdcap"],
    );
    // An sbx without CAP_NET_ADMIN (still uid 0) can look everything up
    // but delete nothing: every step fails, and all are reported.
    let mut child = std::process::Command::new("setpriv")
        .args(["--bounding-set", "-net_admin", SBX, "network", "rm", &net])
        .env("SBX_ROOT", &env.root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run setpriv");
    let finished = wait_until(30, || matches!(child.try_wait(), Ok(Some(_))));
    if !finished {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("wait for sbx");
    assert!(finished, "sbx network rm without CAP_NET_ADMIN hung");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("its record is kept"), "{err}");
    assert!(err.contains("delete bridge tstb-tdcap"), "{err}");
    assert!(
        err.contains("chain"),
        "the firewall step failed and was reported too: {err}"
    );
    assert!(link_exists("tstb-tdcap"));
    assert!(
        env.ok(&["network", "ls"]).contains("tst-tdcap"),
        "record kept"
    );
    // A second try, with the privilege back, finishes the job.
    env.ok(&["network", "rm", &net]);
    assert!(!env.ok(&["network", "ls"]).contains("tst-tdcap"));
    assert!(!link_exists("tstb-tdcap"));
    assert!(sbx_chains_of("tstb-tdcap").is_empty());
}

#[test]
fn a_cgroup_that_cannot_be_removed_keeps_the_record_until_it_can() {
    let env = TestEnv::new("tdcg");
    env.detach(
        "tst-tdcg",
        &[
            "--network",
            "none",
            "--pids-limit",
            "50",
            "--",
            "sleep",
            "300",
        ],
    );
    let cgroups: Vec<PathBuf> = env.inspect("tst-tdcg")["cgroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| PathBuf::from(c.as_str().unwrap()))
        .collect();
    assert!(!cgroups.is_empty());
    // A process of the host escapes into the sandbox's cgroup.
    struct Escapee(std::process::Child, Vec<PathBuf>);
    impl Drop for Escapee {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
            for dir in &self.1 {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
    let sleeper = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    let escapee = Escapee(sleeper, cgroups.clone());
    for dir in &cgroups {
        std::fs::write(dir.join("cgroup.procs"), escapee.0.id().to_string()).unwrap();
    }
    let out = env.sbx(&["stop", "-t", "1", "tst-tdcg"]);
    assert!(out.status.success(), "it did stop: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("its record is kept"),
        "{}",
        text(&out.stderr)
    );
    let info = env.inspect("tst-tdcg");
    assert_eq!(info["status"], "exited");
    assert_eq!(
        info["cgroups"].as_array().unwrap().len(),
        cgroups.len(),
        "the record still names the cgroup it could not remove: {info}"
    );
    let out = env.sbx(&["rm", "tst-tdcg"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("remove cgroup"),
        "{}",
        text(&out.stderr)
    );
    assert!(env.records().contains(&"tst-tdcg".to_string()));
    let mut escapee = escapee;
    let _ = escapee.0.kill();
    let _ = escapee.0.wait();
    env.ok(&["rm", "tst-tdcg"]);
    assert!(env.records().is_empty());
    assert!(cgroups.iter().all(|c| !c.exists()));
}
