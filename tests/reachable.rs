//! A fresh sandbox is reachable as soon as `sbx run -d` returns (issue 8,
//! item 18), even on a loaded host: its bridge port forwards, both veth
//! ends are up, and the bridge's STP is off.

mod common;
use common::*;
use std::process::{Child, Command, Stdio};

/// Busy-loop processes this test started, killed by PID when it ends.
struct Load(Vec<Child>);

impl Load {
    fn start(n: usize) -> Self {
        Load(
            (0..n)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .stdin(Stdio::null())
                        .spawn()
                        .expect("start a busy loop")
                })
                .collect(),
        )
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn ping_fast(ns: &str, addr: &str) -> bool {
    host("ip", &["netns", "exec", ns, "ping", "-c1", "-W1", addr])
        .status
        .success()
}

#[test]
fn fresh_sandboxes_answer_at_once_under_load() {
    let mut env = TestEnv::new("reach");
    let net = env.network(
        "tst-reach",
        &["--subnet", "10.251.3.0/24", "--bridge", "tstb-reach"],
    );
    let details = text(&host("ip", &["-d", "link", "show", "tstb-reach"]).stdout);
    assert!(
        details.contains("stp_state 0") && details.contains("forward_delay 0 "),
        "the bridge runs without STP and forward delay: {details}"
    );
    env.detach(
        "tst-reach-n",
        &[
            "--network",
            &net,
            "--ip",
            "10.251.3.5",
            "--",
            "sleep",
            "300",
        ],
    );
    let _load = Load::start(6);
    let mut failures = Vec::new();
    for i in 0..10 {
        let name = format!("tst-reach-{i}");
        let ip = format!("10.251.3.{}", 10 + i);
        env.detach(
            &name,
            &["--network", &net, "--ip", &ip, "--", "sleep", "300"],
        );
        let ns = format!("sbx-{name}");
        if !ping_fast("sbx-tst-reach-n", &ip) {
            failures.push(format!("neighbour -> {name}"));
        }
        if !ping_fast(&ns, "10.251.3.1") {
            failures.push(format!("{name} -> gateway"));
        }
        // Its end of the veth is up the moment run -d returned.
        let port = text(&host("ip", &["-d", "-n", &ns, "link", "show", "eth0"]).stdout);
        assert!(port.contains("state UP"), "{name}'s eth0 is up: {port}");
    }
    assert!(failures.is_empty(), "unanswered at first try: {failures:?}");
}
