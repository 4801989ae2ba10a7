//! Upgrade (issue 9): a state root written by the sbx before the lease
//! index (records only, the record rewritten `running` with its init, no
//! `init` link, no `networks/NET.leases`) is read without losing a running
//! sandbox: `ps` shows it, a new launch does not get its address, and
//! `stop`/`rm` work. The old layout is made here from a real running
//! sandbox, as the old sbx wrote it, so CI needs no second build.

mod common;
use common::*;
use std::path::Path;

/// Turns a sandbox of the current layout into what the previous sbx wrote.
fn to_old_layout(env: &TestEnv, name: &str) {
    let dir = env.root.join("sandboxes").join(name);
    let link = std::fs::read_link(dir.join("init")).expect("the init link");
    let (pid, start) = link.to_str().unwrap().split_once(':').unwrap();
    let path = dir.join("sandbox.json");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    record["state"] = "running".into();
    record["init"] = serde_json::json!({
        "pid": pid.parse::<i64>().unwrap(),
        "start": start.parse::<u64>().unwrap(),
    });
    std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
    std::fs::remove_file(dir.join("init")).unwrap();
}

#[test]
fn a_state_root_of_the_previous_layout_keeps_its_running_sandboxes() {
    let mut env = TestEnv::new("lsupg");
    let net = env.network(
        "tst-lsupg",
        &["--subnet", "10.252.41.0/24", "--bridge", "tstb-lsupg"],
    );
    env.detach("tst-upg-a", &["--network", &net, "--", "sleep", "300"]);
    env.detach("tst-upg-b", &["--network", &net, "--", "sleep", "300"]);
    let init = env.inspect("tst-upg-a")["pids"]["init"].as_i64().unwrap();
    to_old_layout(&env, "tst-upg-a");
    to_old_layout(&env, "tst-upg-b");
    let leases = env.root.join("leases").join(&net);
    std::fs::remove_dir_all(&leases).unwrap();

    let ps = env.ps_json();
    let a = ps
        .iter()
        .find(|s| s["name"] == "tst-upg-a")
        .expect("ps shows it");
    assert_eq!(a["status"], "running");
    assert_eq!(a["ip"], "10.252.41.2");
    assert_eq!(a["pid"], init);
    // A new launch rebuilds the index from the records and takes another
    // address.
    let out = env.ok(&[
        "run",
        "--network",
        &net,
        "--",
        "ip",
        "-4",
        "-o",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(out.contains("inet 10.252.41.4/24"), "{out}");
    assert_eq!(
        std::fs::read_link(leases.join("10.252.41.2")).unwrap(),
        Path::new("tst-upg-a")
    );
    let out = env.sbx(&[
        "run",
        "--network",
        &net,
        "--ip",
        "10.252.41.3",
        "--",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("in use by sandbox tst-upg-b"),
        "{}",
        text(&out.stderr)
    );
    // stop and rm work, and give the address back.
    env.ok(&["stop", "-t", "1", "tst-upg-a"]);
    assert!(wait_until(5, || !alive(init)));
    assert_eq!(env.status("tst-upg-a").as_deref(), Some("exited"));
    env.ok(&["rm", "tst-upg-a"]);
    assert!(!leases.join("10.252.41.2").exists());
    env.ok(&["rm", "-f", "tst-upg-b"]);
    assert!(list(&leases).is_empty(), "{:?}", list(&leases));
    env.detach("tst-upg-c", &["--network", &net, "--", "sleep", "300"]);
    assert_eq!(env.inspect("tst-upg-c")["network"]["ip"], "10.252.41.2");
}
