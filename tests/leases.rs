//! The lease index (issue 9): one symlink per address held, in
//! `ROOT/networks/NET.leases/`. Launches racing with `sbx prune`, with
//! sandboxes that end by themselves and with the leftovers of crashed
//! launches never share an address, and no lease outlives its sandbox.

mod common;
use common::*;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;

/// The lease folder of network `net` in the test's state root.
fn lease_dir(env: &TestEnv, net: &str) -> PathBuf {
    env.root.join("leases").join(net)
}

/// Every lease of `net`: address -> holder.
fn leases(env: &TestEnv, net: &str) -> BTreeMap<String, String> {
    let dir = lease_dir(env, net);
    list(&dir)
        .into_iter()
        // `=ADDR=NAME` entries are the leases' twins (holders for a listing).
        .filter(|name| !name.starts_with('='))
        .map(|ip| {
            let holder = std::fs::read_link(dir.join(&ip)).expect("a lease is a symlink");
            (ip, holder.to_string_lossy().into_owned())
        })
        .collect()
}

#[test]
fn launches_racing_prune_and_endings_never_share_an_address() {
    let mut env = TestEnv::new("lsrace");
    let net = env.network(
        "tst-lsrace",
        &["--subnet", "10.252.40.0/24", "--bridge", "tstb-lsrace"],
    );
    // Dead holders: launches whose supervisor was killed after the init
    // started (their init dies with it), leases and namespaces left.
    for i in 0..4 {
        let name = format!("tst-lsr-dead{i}");
        let out = env
            .cmd(&[
                "run",
                "-d",
                "--name",
                &name,
                "--network",
                &net,
                "--",
                "sleep",
                "300",
            ])
            .env("SBX_CRASH_AT", "running")
            .stdin(Stdio::null())
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    }
    assert_eq!(
        leases(&env, &net).len(),
        4,
        "the dead still hold their leases"
    );
    let staying: Vec<String> = (0..24).map(|i| format!("tst-lsr-s{i}")).collect();
    let ending: Vec<String> = (0..12).map(|i| format!("tst-lsr-e{i}")).collect();
    let mut children = Vec::new();
    for (i, name) in staying.iter().enumerate() {
        children.push(env.spawn(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            &net,
            "--",
            "sleep",
            "300",
        ]));
        if let Some(short) = ending.get(i / 2).filter(|_| i % 2 == 0) {
            children.push(env.spawn(&[
                "run",
                "-d",
                "--rm",
                "--name",
                short,
                "--network",
                &net,
                "--",
                "sleep",
                "0.3",
            ]));
        }
    }
    let pruner = {
        let root = env.root.clone();
        std::thread::spawn(move || {
            for _ in 0..8 {
                let out = std::process::Command::new(SBX)
                    .env("SBX_ROOT", &root)
                    .env_remove("SBX_LOG")
                    .arg("prune")
                    .stdin(Stdio::null())
                    .output()
                    .expect("prune");
                assert!(out.status.success(), "{}", text(&out.stderr));
            }
        })
    };
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    pruner.join().expect("the pruner");
    // The short ones end by themselves (--rm: nothing of them stays).
    assert!(
        wait_until(15, || {
            let all = env.ok(&["ps", "-a", "-q"]);
            !all.lines().any(|l| ending.iter().any(|e| e == l))
        }),
        "{}",
        env.ok(&["ps", "-a"])
    );
    env.ok(&["prune"]);
    let ps = env.ps_json();
    assert_eq!(ps.len(), staying.len(), "{ps:?}");
    let mut expected = BTreeMap::new();
    for s in &ps {
        let (name, ip) = (s["name"].as_str().unwrap(), s["ip"].as_str().unwrap());
        assert!(staying.iter().any(|n| n == name), "{name}");
        assert!(
            expected.insert(ip.to_string(), name.to_string()).is_none(),
            "{ip} twice"
        );
    }
    assert_eq!(
        leases(&env, &net),
        expected,
        "exactly one lease per running sandbox: none leaked by the ended, the crashed or the losers"
    );
    // What the kernel says matches: each address is on its sandbox's eth0.
    for (ip, name) in expected.iter().take(3) {
        let out = host(
            "ip",
            &[
                "-n",
                &format!("sbx-{name}"),
                "-4",
                "-o",
                "addr",
                "show",
                "eth0",
            ],
        );
        assert!(
            text(&out.stdout).contains(&format!("inet {ip}/24")),
            "{name}: {}",
            text(&out.stdout)
        );
    }
    // A released netns takes its veth with it a moment later (the kernel
    // tears namespaces down asynchronously: TESTING.md), so wait briefly.
    let settled = wait_until(5, || {
        let ports: HashSet<String> = bridge_ports("tstb-lsrace").into_iter().collect();
        ports.len() == staying.len()
    });
    assert!(
        settled,
        "no port of a dead sandbox is left: {} ports for {} sandboxes",
        bridge_ports("tstb-lsrace").len(),
        staying.len()
    );
    let mut args = vec!["rm", "-f"];
    args.extend(staying.iter().map(String::as_str));
    env.ok(&args);
    assert!(leases(&env, &net).is_empty(), "{:?}", leases(&env, &net));
}

#[test]
fn a_launch_takes_over_the_address_of_a_dead_holder_and_only_that() {
    let mut env = TestEnv::new("lstake");
    let net = env.network(
        "tst-lstake",
        &["--subnet", "10.252.42.0/24", "--bridge", "tstb-lstake"],
    );
    // Two dead holders at .2 and .3: only the one in the way is swept.
    for (name, ip) in [("tst-lst-a", "10.252.42.2"), ("tst-lst-b", "10.252.42.3")] {
        let out = env
            .cmd(&[
                "run",
                "-d",
                "--name",
                name,
                "--network",
                &net,
                "--ip",
                ip,
                "--",
                "sleep",
                "300",
            ])
            .env("SBX_CRASH_AT", "running")
            .stdin(Stdio::null())
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(125));
    }
    // Without --ip, the lowest address nobody leases: the dead are in
    // nobody's way.
    env.detach("tst-lst-c", &["--network", &net, "--", "sleep", "300"]);
    assert_eq!(env.inspect("tst-lst-c")["network"]["ip"], "10.252.42.4");
    assert!(std::path::Path::new("/run/netns/sbx-tst-lst-a").exists());
    // Asking for .2 sweeps its dead holder, and only it.
    env.detach(
        "tst-lst-d",
        &[
            "--network",
            &net,
            "--ip",
            "10.252.42.2",
            "--",
            "sleep",
            "300",
        ],
    );
    assert!(!std::path::Path::new("/run/netns/sbx-tst-lst-a").exists());
    assert!(std::path::Path::new("/run/netns/sbx-tst-lst-b").exists());
    assert_eq!(
        leases(&env, &net).get("10.252.42.2").map(String::as_str),
        Some("tst-lst-d")
    );
    assert_eq!(
        leases(&env, &net).get("10.252.42.3").map(String::as_str),
        Some("tst-lst-b")
    );
    // prune does the rest.
    let out = env.ok(&["prune"]);
    assert!(out.contains("tst-lst-b"), "{out}");
    assert!(!std::path::Path::new("/run/netns/sbx-tst-lst-b").exists());
    let held: Vec<String> = leases(&env, &net).into_values().collect();
    assert_eq!(held, ["tst-lst-d", "tst-lst-c"]);
    // /etc/hosts of a new sandbox lists the holders of the network.
    let hosts = env.ok(&["run", "--network", &net, "--", "cat", "/etc/hosts"]);
    assert!(hosts.contains("10.252.42.2\ttst-lst-d\n"), "{hosts}");
    assert!(hosts.contains("10.252.42.4\ttst-lst-c\n"), "{hosts}");
    assert!(!hosts.contains("tst-lst-b"), "{hosts}");
}

#[test]
fn a_launch_that_fails_gives_its_address_back() {
    let mut env = TestEnv::new("lsfail");
    let net = env.network(
        "tst-lsfail",
        &["--subnet", "10.252.43.0/24", "--bridge", "tstb-lsfail"],
    );
    for (args, code) in [
        (&["--", "/nonexistent/command"][..], 127),
        (&["--memory", "1", "--", "true"][..], 125),
    ] {
        let mut full = vec!["run", "--network", &net];
        full.extend_from_slice(args);
        let out = env.sbx(&full);
        assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
        assert!(
            leases(&env, &net).is_empty(),
            "{args:?}: {:?}",
            leases(&env, &net)
        );
        assert!(env.records().is_empty(), "{args:?}");
    }
    // A detached one whose command is not found ends at once: its record
    // stays (exited, 127), its address does not.
    env.detach(
        "tst-lsf-d",
        &["--network", &net, "--", "/nonexistent/command"],
    );
    assert!(wait_until(5, || env.status("tst-lsf-d").as_deref() == Some("exited")));
    assert!(leases(&env, &net).is_empty(), "{:?}", leases(&env, &net));
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
    assert!(
        out.contains("inet 10.252.43.2/24"),
        "the lowest address again: {out}"
    );
}
