//! `sbx restart`: the same name, spec and address, a new process.

mod common;
use common::*;

/// The `ps -a --json` entry of a sandbox.
fn entry(env: &TestEnv, name: &str) -> serde_json::Value {
    let all: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["ps", "-a", "--json"])).expect("JSON");
    all.into_iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed"))
}

#[test]
fn restart_keeps_name_address_and_hostname_with_a_new_process() {
    let mut env = TestEnv::new("restart");
    let net = env.network(
        "tst-restart",
        &["--subnet", "10.238.77.0/24", "--bridge", "tstb-restart"],
    );
    let script = "echo started; exec sleep 300";
    env.detach(
        "tst-rst-a",
        &[
            "--network",
            &net,
            "--hostname",
            "rsthost",
            "-e",
            "GREETING=hi",
            "--",
            "sh",
            "-c",
            script,
        ],
    );
    let before = entry(&env, "tst-rst-a");
    assert_eq!(before["status"], "running");
    let old_pid = before["pid"].as_i64().expect("a pid");

    assert_eq!(env.ok(&["restart", "-t", "1", "tst-rst-a"]), "tst-rst-a\n");
    let after = entry(&env, "tst-rst-a");
    assert_eq!(after["status"], "running", "{after}");
    assert_eq!(after["ip"], "10.238.77.2");
    assert_eq!(after["network"], "tst-restart");
    let new_pid = after["pid"].as_i64().expect("a pid");
    assert_ne!(new_pid, old_pid, "a new process");
    assert!(!alive(old_pid), "the old one is gone");
    assert!(env.ok(&["ps"]).lines().any(|l| l.starts_with("tst-rst-a ")));
    assert_eq!(
        env.ok(&[
            "exec",
            "tst-rst-a",
            "--",
            "sh",
            "-c",
            "hostname; echo $GREETING"
        ]),
        "rsthost\nhi\n"
    );
    assert!(ping(None, "10.238.77.2"), "reachable at the same address");
    // The log keeps both runs, as Docker's does.
    assert!(wait_until(5, || env.ok(&["logs", "tst-rst-a"]) == "started\nstarted\n"));

    // An exited sandbox is just started again.
    env.ok(&["stop", "-t", "1", "tst-rst-a"]);
    assert_eq!(entry(&env, "tst-rst-a")["status"], "exited");
    assert_eq!(env.ok(&["restart", "tst-rst-a"]), "tst-rst-a\n");
    let again = entry(&env, "tst-rst-a");
    assert_eq!(again["status"], "running");
    assert_eq!(again["ip"], "10.238.77.2");
}

#[test]
fn restart_of_an_auto_removed_sandbox_and_refusals() {
    let mut env = TestEnv::new("rstrm");
    env.detach(
        "tst-rstrm",
        &["--rm", "--network", "none", "--", "sleep", "300"],
    );
    let old_pid = entry(&env, "tst-rstrm")["pid"].as_i64().unwrap();
    assert_eq!(env.ok(&["restart", "-t", "1", "tst-rstrm"]), "tst-rstrm\n");
    let after = entry(&env, "tst-rstrm");
    assert_eq!(after["status"], "running");
    assert_ne!(after["pid"].as_i64().unwrap(), old_pid);

    // A foreground sandbox belongs to its `sbx run`: refused, left running.
    env.start("tst-rstfg", &["--network", "none", "--", "sleep", "300"]);
    let out = env.sbx(&["restart", "tst-rstfg"]);
    assert_eq!(out.status.code(), Some(125));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("sbx: sandbox tst-rstfg runs in the foreground"),
        "{stderr}"
    );
    assert_eq!(entry(&env, "tst-rstfg")["status"], "running");

    let out = env.sbx(&["restart", "tst-nosuch"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("no such sandbox: tst-nosuch"));
}

#[test]
fn restart_of_an_exited_sandbox_whose_address_was_taken_says_so() {
    let mut env = TestEnv::new("rsttk");
    let net = env.network(
        "tst-rsttk",
        &["--subnet", "10.238.78.0/24", "--bridge", "tstb-rsttk"],
    );
    env.detach("tst-rsttka", &["--network", &net, "--", "sleep", "300"]);
    assert_eq!(entry(&env, "tst-rsttka")["ip"], "10.238.78.2");
    env.ok(&["stop", "-t", "1", "tst-rsttka"]);
    // Its address is free while it is exited: the next launch takes it.
    env.detach("tst-rsttkb", &["--network", &net, "--", "sleep", "300"]);
    assert_eq!(entry(&env, "tst-rsttkb")["ip"], "10.238.78.2");
    let out = env.sbx(&["restart", "tst-rsttka"]);
    assert_eq!(out.status.code(), Some(125));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(
            "sbx: sandbox tst-rsttka cannot restart on its address 10.238.78.2: sandbox tst-rsttkb took it"
        ) && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert_eq!(entry(&env, "tst-rsttkb")["status"], "running");
    // Once the holder is gone, the restart takes the address back.
    env.ok(&["rm", "-f", "tst-rsttkb"]);
    assert_eq!(env.ok(&["restart", "tst-rsttka"]), "tst-rsttka\n");
    assert_eq!(entry(&env, "tst-rsttka")["ip"], "10.238.78.2");
}

#[test]
fn a_restart_that_fails_keeps_the_exited_sandbox_and_its_log() {
    let env = TestEnv::new("rstfail");
    env.detach(
        "tst-rstfail",
        &[
            "--network",
            "none",
            "--",
            "sh",
            "-c",
            "echo first; sleep 300",
        ],
    );
    assert!(wait_until(5, || env.ok(&["logs", "tst-rstfail"]) == "first\n"));
    let out = env
        .cmd(&["restart", "-t", "1", "tst-rstfail"])
        .env("SBX_FAIL_AT", "init")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run sbx restart");
    assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    // The sandbox is still there, exited, with its log.
    assert_eq!(entry(&env, "tst-rstfail")["status"], "exited");
    assert_eq!(env.ok(&["logs", "tst-rstfail"]), "first\n");
    // And a later restart works.
    assert_eq!(env.ok(&["restart", "tst-rstfail"]), "tst-rstfail\n");
    assert_eq!(entry(&env, "tst-rstfail")["status"], "running");
}
