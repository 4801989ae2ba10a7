//! cgroup limits that bite: memory (OOM kill), pids (a fork bomb stops, the
//! sandbox survives), cpus (a busy loop held near its share); and the
//! cgroups go when the sandbox does.

mod common;
use common::*;

/// Every sandbox cgroup folder of this test (`NAME-PID` under `sbx/`).
fn cgroups_of(name: &str) -> Vec<String> {
    ["memory", "pids", "cpu", ""]
        .iter()
        .flat_map(|c| list(&std::path::Path::new("/sys/fs/cgroup").join(c).join("sbx")))
        .filter(|d| d.starts_with(name))
        .collect()
}

#[test]
fn a_memory_hog_is_oom_killed() {
    let env = TestEnv::new("mem");
    let out = env.sbx(&[
        "run",
        "--network",
        "none",
        "--name",
        "tst-mem",
        "--memory",
        "32m",
        "--",
        "python3",
        "-c",
        "b = b'a' * (200 << 20); print('survived')",
    ]);
    assert_eq!(
        out.status.code(),
        Some(137),
        "OOM-killed: {}",
        text(&out.stdout)
    );
    assert!(!text(&out.stdout).contains("survived"));
    // Without the limit the same program runs (so the kill was the limit's).
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--",
        "python3",
        "-c",
        "b = b'a' * (200 << 20); print('survived')",
    ]);
    assert_eq!(out, "survived\n");
    assert!(
        cgroups_of("tst-mem").is_empty(),
        "cgroup removed: {:?}",
        cgroups_of("tst-mem")
    );
}

#[test]
fn a_fork_bomb_stops_at_the_pids_limit_and_the_sandbox_survives() {
    let env = TestEnv::new("pids");
    let bomb = "import os, time\n\
                n = 0\n\
                while n < 500:\n\
                \x20   try:\n\
                \x20       pid = os.fork()\n\
                \x20   except OSError:\n\
                \x20       break\n\
                \x20   if pid == 0:\n\
                \x20       time.sleep(1); os._exit(0)\n\
                \x20   n += 1\n\
                print(n, flush=True)\n\
                while True:\n\
                \x20   try:\n\
                \x20       os.wait()\n\
                \x20   except ChildProcessError:\n\
                \x20       break\n\
                print('survived' if os.fork() else '', end='')\n";
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "tst-pids",
        "--pids-limit",
        "64",
        "--",
        "python3",
        "-c",
        bomb,
    ]);
    let mut lines = out.lines();
    let forked: u32 = lines
        .next()
        .expect("count")
        .trim()
        .parse()
        .expect("a number");
    assert!(forked < 64, "stopped at the limit: {forked} children");
    assert!(forked > 10, "but could fork some: {forked}");
    assert_eq!(lines.next(), Some("survived"), "{out}");
    assert!(cgroups_of("tst-pids").is_empty());
}

#[test]
fn cpus_holds_a_busy_loop_near_its_share_and_limits_show() {
    let env = TestEnv::new("cpu");
    env.detach(
        "tst-cpu",
        &[
            "--network",
            "none",
            "--cpus",
            "0.5",
            "--memory",
            "64m",
            "--pids-limit",
            "100",
            "--",
            "sleep",
            "300",
        ],
    );
    let info = env.inspect("tst-cpu");
    assert_eq!(info["limits"]["cpus"], 0.5);
    assert_eq!(info["limits"]["memory"], 64 << 20);
    assert_eq!(info["limits"]["pids"], 100);
    let ps = env.ps_json();
    assert_eq!(ps[0]["limits"]["cpus"], 0.5);
    assert_eq!(
        cgroups_of("tst-cpu").len(),
        if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            1
        } else {
            3
        }
    );
    // A busy loop in the sandbox (via exec, which joins its cgroups).
    let script = "import time\nt = time.time(); c = time.process_time()\nwhile time.time() - t < 2: pass\nprint((time.process_time() - c) / (time.time() - t))";
    let share: f64 = env
        .ok(&["exec", "tst-cpu", "--", "python3", "-c", script])
        .trim()
        .parse()
        .unwrap();
    assert!(share < 0.75, "held near half a core: {share}");
    assert!(share > 0.05, "but it ran: {share}");
    env.ok(&["rm", "-f", "tst-cpu"]);
    assert!(
        cgroups_of("tst-cpu").is_empty(),
        "cgroups removed: {:?}",
        cgroups_of("tst-cpu")
    );
}

#[test]
fn bad_limits_are_user_errors() {
    let env = TestEnv::new("limerr");
    for (args, needle) in [
        (&["--memory", "lots"][..], "is not a size"),
        (&["--memory", "1m"][..], "at least 6m"),
        (&["--pids-limit", "0"][..], "must be a positive number"),
        (&["--cpus", "0"][..], "must be more than 0"),
    ] {
        let mut full = vec!["run", "--network", "none"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--", "true"]);
        let out = env.sbx(&full);
        assert_eq!(out.status.code(), Some(125));
        assert!(
            text(&out.stderr).contains(needle),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}
