//! Many launches at once: distinct addresses, and exactly one winner for a
//! contested name, the losers leaving nothing.

mod common;
use common::*;
use std::collections::HashSet;

#[test]
fn a_hundred_detached_runs_at_once_get_a_hundred_addresses() {
    let mut env = TestEnv::new("hundred");
    let net = env.network(
        "tst-hundred",
        &["--subnet", "10.225.0.0/24", "--bridge", "tstb-hundred"],
    );
    let names: Vec<String> = (0..100).map(|i| format!("tst-h-{i}")).collect();
    let children: Vec<_> = names
        .iter()
        .map(|name| {
            env.spawn(&[
                "run",
                "-d",
                "--name",
                name,
                "--network",
                &net,
                "--",
                "sleep",
                "300",
            ])
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let ps = env.ps_json();
    if ps.len() != 100 {
        let all = env.ok(&["ps", "-a"]);
        let stopped: Vec<String> = all
            .lines()
            .filter(|l| !l.contains("running") && !l.starts_with("NAME"))
            .map(|l| {
                let name = l.split_whitespace().next().unwrap_or_default();
                format!("{l}\n{}", text(&env.sbx(&["logs", name]).stdout))
            })
            .collect();
        panic!(
            "{} of 100 running; the others:\n{}",
            ps.len(),
            stopped.join("\n")
        );
    }
    let ips: HashSet<&str> = ps.iter().map(|s| s["ip"].as_str().unwrap()).collect();
    assert_eq!(ips.len(), 100, "100 distinct addresses");
    assert_eq!(bridge_ports("tstb-hundred").len(), 100);
    let mut args = vec!["stop"];
    args.extend(names.iter().map(String::as_str));
    env.ok(&args);
    assert!(env.ps_json().is_empty());
    assert!(wait_until(10, || bridge_ports("tstb-hundred").is_empty()));
}

#[test]
fn fifty_runs_racing_for_one_name_have_exactly_one_winner() {
    let mut env = TestEnv::new("race");
    let net = env.network(
        "tst-race",
        &["--subnet", "10.226.0.0/24", "--bridge", "tstb-race"],
    );
    let children: Vec<_> = (0..50)
        .map(|_| {
            env.spawn(&[
                "run",
                "-d",
                "--name",
                "tst-race",
                "--network",
                &net,
                "--",
                "sleep",
                "300",
            ])
        })
        .collect();
    let mut winners = 0;
    for child in children {
        let out = child.wait_with_output().expect("wait");
        match out.status.code() {
            Some(0) => winners += 1,
            Some(125) => assert!(
                text(&out.stderr).contains("name tst-race is already in use"),
                "{}",
                text(&out.stderr)
            ),
            other => panic!("unexpected exit {other:?}: {}", text(&out.stderr)),
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(
        env.records(),
        vec!["tst-race".to_string()],
        "the losers left no record"
    );
    assert_eq!(
        bridge_ports("tstb-race").len(),
        1,
        "the losers left no bridge port"
    );
    let netns: Vec<String> = list(std::path::Path::new("/run/netns"))
        .into_iter()
        .filter(|n| n.starts_with("sbx-tst-race"))
        .collect();
    assert_eq!(netns, vec!["sbx-tst-race".to_string()]);
}
