//! Twenty launches at once without --ip: twenty distinct addresses, all
//! wired (each reaches the gateway).

mod common;
use common::*;
use std::collections::HashSet;
use std::process::Stdio;

#[test]
fn twenty_parallel_runs_get_distinct_addresses_and_all_reach_the_gateway() {
    let mut env = TestEnv::new("par");
    let net = env.network(
        "tst-par",
        &["--subnet", "10.209.0.0/24", "--bridge", "tstb-par"],
    );
    let children: Vec<_> = (0..20)
        .map(|i| {
            env.cmd(&[
                "run",
                "--network",
                &net,
                "--name",
                &format!("tst-par-{i}"),
                "--",
                "sleep",
                "120",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn sbx run")
        })
        .collect();
    let pids: Vec<u32> = children.iter().map(|c| c.id()).collect();
    // Hand the children to a guard first so a failed assertion still stops them.
    struct Stop(Vec<std::process::Child>);
    impl Drop for Stop {
        fn drop(&mut self) {
            for child in &self.0 {
                signal(child.id(), libc::SIGTERM);
            }
            for child in self.0.drain(..) {
                wait_or_kill(child);
            }
        }
    }
    let guard = Stop(children);
    for i in 0..20 {
        env.wait_running(&format!("tst-par-{i}"));
    }
    let ps = env.ps_json();
    assert_eq!(ps.len(), 20);
    let ips: HashSet<String> = ps
        .iter()
        .map(|s| s["ip"].as_str().expect("ip").to_string())
        .collect();
    assert_eq!(ips.len(), 20, "20 distinct addresses: {ips:?}");
    assert!(!ips.contains("10.209.0.1"), "nobody got the gateway");
    for i in 0..20 {
        assert!(
            ping(Some(&format!("sbx-tst-par-{i}")), "10.209.0.1"),
            "tst-par-{i} reaches the gateway"
        );
    }
    assert_eq!(bridge_ports("tstb-par").len(), 20);
    drop(guard);
    assert!(env.records().is_empty(), "all records removed");
    let _ = pids;
}
