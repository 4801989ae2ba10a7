//! A bounded soak: 300 launch/stop cycles leak no kernel object, and every
//! supervisor holds the same small number of file descriptors.

mod common;
use common::*;

fn fd_count(pid: i64) -> usize {
    list(std::path::Path::new(&format!("/proc/{pid}/fd"))).len()
}

#[test]
fn three_hundred_launch_stop_cycles_leak_nothing() {
    let mut env = TestEnv::new("soak");
    let net = env.network(
        "tst-soak",
        &["--subnet", "10.227.0.0/24", "--bridge", "tstb-soak"],
    );
    let mut fds = Vec::new();
    let mut veths = Vec::new();
    for i in 0..300 {
        env.detach("tst-soak", &["--network", &net, "--", "sleep", "300"]);
        let info = env.inspect("tst-soak");
        let supervisor = info["pids"]["supervisor"].as_i64().unwrap();
        veths.push(info["network"]["veth_host"].as_str().unwrap().to_string());
        fds.push(fd_count(supervisor));
        env.ok(&["stop", "-t", "5", "tst-soak"]);
        env.ok(&["rm", "tst-soak"]);
        assert!(env.records().is_empty(), "cycle {i}");
    }
    let (min, max) = (fds.iter().min().unwrap(), fds.iter().max().unwrap());
    assert_eq!(min, max, "supervisor descriptors stay flat: {min}..{max}");
    assert!(
        *max <= 8,
        "a supervisor holds only a few descriptors: {max}"
    );
    // Only this test's own objects are counted (other sandboxes may run on
    // the host), and the kernel tears namespaces down asynchronously: wait.
    let leaked = || -> Vec<&String> { veths.iter().filter(|v| link_exists(v)).collect() };
    assert!(
        wait_until(30, || leaked().is_empty()),
        "veths leaked: {:?}",
        leaked()
    );
    assert!(
        wait_until(30, || bridge_ports("tstb-soak").is_empty()),
        "ports left on the bridge: {:?}",
        bridge_ports("tstb-soak")
    );
    assert!(
        !list(std::path::Path::new("/run/netns"))
            .iter()
            .any(|n| n.contains("tst-soak"))
    );
}
