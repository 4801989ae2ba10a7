//! Crash safety: sbx killed with SIGKILL at each step of a launch (via
//! SBX_CRASH_AT), or its supervisor killed after the command started.
//! Afterwards `sbx ps -a` tells the truth and `sbx prune` (or the next
//! `sbx run` on the network) leaves nothing behind.

mod common;
use common::*;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;

/// Launch steps in order; SBX_CRASH_AT stops sbx at the named one.
const STEPS: [&str; 8] = [
    "reserve", "clone", "netns", "veth", "network", "running", "released", "exited",
];

fn crashed_run(
    env: &TestEnv,
    name: &str,
    net: &str,
    step: &str,
    detach: bool,
) -> std::process::Output {
    let mut args = vec![
        "run",
        "--name",
        name,
        "--network",
        net,
        "--ip",
        "10.222.0.9",
    ];
    if detach {
        args.push("-d");
    }
    // At "exited" the command must end by itself for sbx to get there.
    let command: &[&str] = if step == "exited" {
        &["true"]
    } else {
        &["sleep", "300"]
    };
    args.push("--");
    args.extend_from_slice(command);
    env.cmd(&args)
        .env("SBX_CRASH_AT", step)
        .stdin(Stdio::null())
        .output()
        .expect("run sbx")
}

/// Nothing of sandbox `name` is left: no record, netns file, bridge port,
/// and its address can be had again.
fn assert_clean(env: &TestEnv, name: &str, bridge: &str, net: &str, why: &str) {
    assert!(
        !env.records().contains(&name.to_string()),
        "{why}: record left"
    );
    assert!(
        !Path::new(&format!("/run/netns/sbx-{name}")).exists(),
        "{why}: netns left"
    );
    assert!(
        wait_until(5, || bridge_ports(bridge).is_empty()),
        "{why}: bridge port left: {:?}",
        bridge_ports(bridge)
    );
    let leases = list(&env.root.join("leases").join(net));
    assert!(leases.is_empty(), "{why}: lease left: {leases:?}");
    let out = env.sbx(&["run", "--network", net, "--ip", "10.222.0.9", "--", "true"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{why}: address still reserved: {}",
        text(&out.stderr)
    );
}

#[test]
fn a_foreground_run_killed_at_any_step_leaves_nothing_after_prune() {
    let mut env = TestEnv::new("crashfg");
    let net = env.network(
        "tst-crashfg",
        &["--subnet", "10.222.0.0/24", "--bridge", "tstb-crashfg"],
    );
    for step in STEPS {
        let name = format!("tst-crash-{step}");
        let out = crashed_run(&env, &name, &net, step, false);
        assert_eq!(out.status.signal(), Some(9), "sbx died at {step}");
        // The truth: never "running" once its sbx is dead.
        assert!(
            wait_until(5, || env.status(&name).is_none_or(|s| s == "exited")),
            "after a crash at {step}, ps -a says {:?}",
            env.status(&name)
        );
        assert!(!env.ok(&["ps", "-q"]).contains(&name));
        env.ok(&["prune"]);
        assert_clean(&env, &name, "tstb-crashfg", &net, step);
    }
}

#[test]
fn a_detached_launch_killed_at_any_step_is_swept_by_the_next_run() {
    let mut env = TestEnv::new("crashd");
    let net = env.network(
        "tst-crashd",
        &["--subnet", "10.223.0.0/24", "--bridge", "tstb-crashd"],
    );
    for step in ["supervisor", "clone", "netns", "veth", "network", "running"] {
        let name = format!("tst-crashd-{step}");
        let mut args = vec![
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            &net,
            "--ip",
            "10.223.0.9",
        ];
        args.extend_from_slice(&["--", "sleep", "300"]);
        let out = env
            .cmd(&args)
            .env("SBX_CRASH_AT", step)
            .stdin(Stdio::null())
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(125),
            "sbx run -d reports the dead supervisor at {step}"
        );
        assert!(
            text(&out.stderr).contains("supervisor"),
            "{}",
            text(&out.stderr)
        );
        assert!(
            wait_until(5, || env.status(&name).is_none_or(|s| s == "exited")),
            "{step}"
        );
        // No prune: the next run on the network sweeps and gets the address.
        let out = env.sbx(&["run", "--network", &net, "--ip", "10.223.0.9", "--", "true"]);
        assert_eq!(out.status.code(), Some(0), "{step}: {}", text(&out.stderr));
        assert!(
            !Path::new(&format!("/run/netns/sbx-{name}")).exists(),
            "{step}: netns swept"
        );
        assert!(
            wait_until(5, || bridge_ports("tstb-crashd").is_empty()),
            "{step}: port swept"
        );
        env.ok(&["prune"]);
        assert!(env.records().is_empty(), "{step}: {:?}", env.records());
        let leases = list(&env.root.join("leases").join(&net));
        assert!(leases.is_empty(), "{step}: lease left: {leases:?}");
    }
}

#[test]
fn killing_the_supervisor_or_the_foreground_sbx_after_exec_is_told_truthfully() {
    let mut env = TestEnv::new("crashx");
    let net = env.network(
        "tst-crashx",
        &["--subnet", "10.224.0.0/24", "--bridge", "tstb-crashx"],
    );
    env.detach("tst-crashx-d", &["--network", &net, "--", "sleep", "300"]);
    let info = env.inspect("tst-crashx-d");
    let supervisor = info["pids"]["supervisor"].as_i64().unwrap();
    let init = info["pids"]["init"].as_i64().unwrap();
    signal(supervisor as u32, libc::SIGKILL);
    assert!(
        wait_until(5, || !alive(init)),
        "the sandbox dies with its supervisor"
    );
    assert_eq!(env.status("tst-crashx-d").as_deref(), Some("exited"));

    let fg = env.start("tst-crashx-f", &["--network", &net, "--", "sleep", "300"]);
    let init = env.inspect("tst-crashx-f")["pids"]["init"]
        .as_i64()
        .unwrap();
    signal(fg, libc::SIGKILL);
    assert!(
        wait_until(5, || !alive(init)),
        "the sandbox dies with its foreground sbx"
    );
    assert_eq!(env.status("tst-crashx-f").as_deref(), Some("exited"));

    let out = env.ok(&["prune"]);
    assert!(
        out.contains("tst-crashx-d") && out.contains("tst-crashx-f"),
        "{out}"
    );
    assert!(env.records().is_empty());
    assert!(!Path::new("/run/netns/sbx-tst-crashx-d").exists());
    assert!(!Path::new("/run/netns/sbx-tst-crashx-f").exists());
    assert!(wait_until(5, || bridge_ports("tstb-crashx").is_empty()));
}
