//! Detached sandboxes and their lifecycle: logs, exec, stop, kill, rm,
//! inspect, ps -a, prune.

mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

#[test]
fn a_detached_sandbox_runs_logs_inspects_stops_and_is_removed() {
    let mut env = TestEnv::new("life");
    let net = env.network(
        "tst-life",
        &["--subnet", "10.220.0.0/24", "--bridge", "tstb-life"],
    );
    let script = "echo to-stdout; echo to-stderr >&2; exec sleep 300";
    env.detach("tst-life-a", &["--network", &net, "--", "sh", "-c", script]);
    assert_eq!(env.status("tst-life-a").as_deref(), Some("running"));

    assert!(wait_until(5, || text(
        &env.sbx(&["logs", "tst-life-a"]).stderr
    )
    .contains("to-stderr")));
    let logs = env.sbx(&["logs", "tst-life-a"]);
    assert_eq!(text(&logs.stdout), "to-stdout\n");
    assert_eq!(text(&logs.stderr), "to-stderr\n");

    let info = env.inspect("tst-life-a");
    assert_eq!(info["status"], "running");
    assert_eq!(info["network"]["ip"], "10.220.0.2");
    assert_eq!(info["network"]["prefix"], 24);
    assert_eq!(info["network"]["gateway"], "10.220.0.1");
    assert_eq!(info["network"]["veth_sandbox"], "eth0");
    let veth = info["network"]["veth_host"]
        .as_str()
        .expect("veth")
        .to_string();
    assert!(link_exists(&veth), "host veth {veth} exists");
    assert_eq!(bridge_ports("tstb-life"), vec![veth.clone()]);
    let mac = info["network"]["mac"].as_str().expect("mac");
    let inside_mac = env.ok(&[
        "exec",
        "tst-life-a",
        "--",
        "cat",
        "/sys/class/net/eth0/address",
    ]);
    assert_eq!(inside_mac.trim(), mac);
    assert_eq!(info["netns"], "/run/netns/sbx-tst-life-a");
    let init = info["pids"]["init"].as_i64().expect("init pid");
    let supervisor = info["pids"]["supervisor"].as_i64().expect("supervisor pid");
    assert!(alive(init) && alive(supervisor));
    assert_eq!(info["spec"]["command"][0], "sh");
    assert!(info["log"].as_str().expect("log").ends_with("output.log"));
    assert!(info["created"].as_str().expect("created").ends_with('Z'));

    env.ok(&["stop", "tst-life-a"]);
    // stop returns when the sandbox is gone and cleaned up.
    assert!(!alive(init), "init gone");
    assert!(
        !Path::new("/run/netns/sbx-tst-life-a").exists(),
        "netns file gone"
    );
    assert!(wait_until(5, || !link_exists(&veth)), "veth gone");
    assert!(wait_until(5, || !alive(supervisor)), "supervisor gone");
    let all: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["ps", "-a", "--json"])).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["status"], "exited");
    assert_eq!(
        all[0]["exit_code"], 143,
        "sleep died of the forwarded SIGTERM"
    );
    assert!(
        env.ok(&["ps"]).lines().count() == 1,
        "ps without -a hides it"
    );
    assert!(env.ok(&["ps", "-a"]).contains("exited (143)"));
    // The address is free again while the record stays.
    env.detach("tst-life-b", &["--network", &net, "--", "sleep", "300"]);
    assert_eq!(env.inspect("tst-life-b")["network"]["ip"], "10.220.0.2");
    // The name stays taken until rm.
    let out = env.sbx(&[
        "run",
        "-d",
        "--name",
        "tst-life-a",
        "--network",
        &net,
        "--",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("already in use by an exited sandbox"));

    env.ok(&["rm", "tst-life-a"]);
    assert_eq!(env.status("tst-life-a"), None);
    let out = env.sbx(&["rm", "tst-life-b"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains(
            "sandbox tst-life-b is running: stop it first, or use 'sbx rm -f tst-life-b'"
        )
    );
    env.ok(&["rm", "-f", "tst-life-b"]);
    assert_eq!(env.status("tst-life-b"), None);
    assert!(env.records().is_empty());
    let out = env.sbx(&["rm", "tst-life-b"]);
    assert!(text(&out.stderr).contains("no such sandbox: tst-life-b"));
}

#[test]
fn rm_flag_removes_the_record_and_exit_codes_show_in_ps() {
    let env = TestEnv::new("rmflag");
    env.detach("tst-rmflag-a", &["--network", "none", "--rm", "--", "true"]);
    assert!(
        wait_until(5, || env.status("tst-rmflag-a").is_none()),
        "--rm removed the record"
    );
    env.detach(
        "tst-rmflag-b",
        &["--network", "none", "--", "sh", "-c", "exit 3"],
    );
    assert!(wait_until(5, || env.status("tst-rmflag-b").as_deref()
        == Some("exited")));
    let all: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["ps", "-a", "--json"])).unwrap();
    assert_eq!(all[0]["exit_code"], 3);
    let out = env.ok(&["prune"]);
    assert!(out.contains("removed sandbox tst-rmflag-b"), "{out}");
    assert!(env.records().is_empty());
}

#[test]
fn logs_follow_until_the_sandbox_exits() {
    let env = TestEnv::new("follow");
    let script = "for i in 1 2 3; do echo line$i; sleep 0.2; done";
    env.detach(
        "tst-follow",
        &["--network", "none", "--", "sh", "-c", script],
    );
    let started = Instant::now();
    let out = env.ok(&["logs", "-f", "tst-follow"]);
    assert_eq!(out, "line1\nline2\nline3\n");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "it waited for the output"
    );
}

#[test]
fn exec_joins_every_namespace_with_the_sandbox_rules() {
    let mut env = TestEnv::new("exec");
    let net = env.network(
        "tst-exec",
        &["--subnet", "10.221.0.0/24", "--bridge", "tstb-exec"],
    );
    env.detach(
        "tst-exec",
        &[
            "--network",
            &net,
            "--hostname",
            "exechost",
            "-e",
            "FROM_RUN=1",
            "-w",
            "/tmp",
            "--",
            "sleep",
            "300",
        ],
    );
    let script = "hostname; ip -o -4 addr show eth0 | awk '{print $4}'; cat /proc/1/comm; \
                  echo $FROM_RUN $FROM_EXEC $HOSTNAME; pwd; ip -o link | wc -l; \
                  grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status; ls /proc | grep -c '^[0-9]'";
    let out = env.ok(&[
        "exec",
        "-e",
        "FROM_EXEC=2",
        "tst-exec",
        "--",
        "sh",
        "-c",
        script,
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "exechost", "UTS namespace");
    assert_eq!(lines[1], "10.221.0.2/24", "network namespace");
    assert_eq!(
        lines[2], "sbx-init",
        "PID namespace: PID 1 is the sandbox's init"
    );
    assert_eq!(
        lines[3], "1 2 exechost",
        "environment: the sandbox's plus exec's"
    );
    assert_eq!(lines[4], "/tmp", "the sandbox's working directory");
    assert_eq!(lines[5], "2", "only lo and eth0");
    assert_eq!(
        lines[6], "CapBnd:\t00000000a80425fb",
        "Docker's default capabilities"
    );
    assert_eq!(lines[7], "NoNewPrivs:\t1");
    let procs: u32 = lines[8].parse().unwrap();
    assert!(
        procs <= 6,
        "its own /proc (mount namespace): {procs} processes"
    );
    assert_eq!(env.ok(&["exec", "-w", "/", "tst-exec", "--", "pwd"]), "/\n");

    let out = env.sbx(&["exec", "tst-exec", "--", "sh", "-c", "exit 42"]);
    assert_eq!(out.status.code(), Some(42), "exit status passes through");
    let out = env.sbx(&["exec", "tst-exec", "--", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127));
    let out = env.sbx(&[
        "exec", "tst-exec", "--", "ip", "link", "set", "eth0", "down",
    ]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "no CAP_NET_ADMIN in exec either"
    );
    env.ok(&["stop", "tst-exec"]);
    let out = env.sbx(&["exec", "tst-exec", "--", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("sandbox tst-exec is not running"));
}

#[test]
fn stop_kills_after_the_timeout_only_when_sigterm_is_ignored() {
    let env = TestEnv::new("stop");
    env.detach(
        "tst-stop-stubborn",
        &[
            "--network",
            "none",
            "--",
            "sh",
            "-c",
            "trap '' TERM; while :; do sleep 0.1; done",
        ],
    );
    env.detach(
        "tst-stop-polite",
        &["--network", "none", "--", "sleep", "300"],
    );
    let started = Instant::now();
    env.ok(&["stop", "-t", "1", "tst-stop-stubborn"]);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1),
        "waited for the timeout: {took:?}"
    );
    assert!(took < Duration::from_secs(8), "then killed it: {took:?}");
    let started = Instant::now();
    env.ok(&["stop", "-t", "30", "tst-stop-polite"]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a command that dies of SIGTERM stops at once"
    );
    let all: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["ps", "-a", "--json"])).unwrap();
    let code = |name: &str| {
        all.iter()
            .find(|s| s["name"] == name)
            .map(|s| s["exit_code"].clone())
    };
    assert_eq!(code("tst-stop-stubborn"), Some(serde_json::json!(137)));
    assert_eq!(code("tst-stop-polite"), Some(serde_json::json!(143)));
}

#[test]
fn kill_sends_signals_through_the_init() {
    let env = TestEnv::new("kill");
    let script = "trap 'echo got-usr1' USR1; trap 'echo got-alrm' ALRM; echo ready; while :; do sleep 0.05; done";
    env.detach("tst-kill", &["--network", "none", "--", "sh", "-c", script]);
    assert!(wait_until(5, || env
        .ok(&["logs", "tst-kill"])
        .contains("ready")));
    env.ok(&["kill", "-s", "USR1", "tst-kill"]);
    env.ok(&["kill", "-s", "SIGALRM", "tst-kill"]);
    assert!(wait_until(5, || {
        let logs = env.ok(&["logs", "tst-kill"]);
        logs.contains("got-usr1") && logs.contains("got-alrm")
    }));
    env.ok(&["kill", "tst-kill"]);
    assert!(wait_until(5, || env.status("tst-kill").as_deref() == Some("exited")));
    let out = env.sbx(&["kill", "tst-kill"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("sandbox tst-kill is not running"));
    let out = env.sbx(&["kill", "-s", "BOGUS", "tst-kill"]);
    assert!(text(&out.stderr).contains("unknown signal"));
}

#[test]
fn a_reused_pid_is_never_taken_for_the_sandbox() {
    let env = TestEnv::new("reuse");
    env.detach("tst-reuse", &["--network", "none", "--", "true"]);
    assert!(wait_until(5, || env.status("tst-reuse").as_deref() == Some("exited")));
    // Point the record at a live process (this test) whose start time differs.
    let path = env.root.join("sandboxes/tst-reuse/sandbox.json");
    let mut record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let me = std::process::id();
    let stat = std::fs::read_to_string(format!("/proc/{me}/stat")).unwrap();
    let start: u64 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    record["state"] = "running".into();
    record["init"] = serde_json::json!({"pid": me, "start": start + 1});
    std::fs::write(&path, record.to_string()).unwrap();
    assert_eq!(
        env.status("tst-reuse").as_deref(),
        Some("exited"),
        "PID alive but start time differs"
    );
    record["init"] = serde_json::json!({"pid": me, "start": start});
    std::fs::write(&path, record.to_string()).unwrap();
    assert_eq!(
        env.status("tst-reuse").as_deref(),
        Some("running"),
        "same PID and start time: alive"
    );
    // Back to a dead process before the guard removes it.
    record["init"] = serde_json::json!({"pid": me, "start": start + 1});
    std::fs::write(&path, record.to_string()).unwrap();
}

#[test]
fn exec_into_a_sandbox_without_capabilities_gets_none() {
    let env = TestEnv::new("exnocap");
    env.detach(
        "tst-exnocap",
        &[
            "--network",
            "none",
            "--cap-drop",
            "ALL",
            "--",
            "sleep",
            "300",
        ],
    );
    let out = env.ok(&[
        "exec",
        "tst-exnocap",
        "--",
        "grep",
        "-E",
        "^Cap(Eff|Prm|Bnd)",
        "/proc/self/status",
    ]);
    assert_eq!(
        out,
        "CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n"
    );
}
