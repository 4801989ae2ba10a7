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
    let links_before = list(std::path::Path::new("/sys/class/net")).len();
    let mut fds = Vec::new();
    for i in 0..300 {
        env.detach("tst-soak", &["--network", &net, "--", "sleep", "300"]);
        let supervisor = env.inspect("tst-soak")["pids"]["supervisor"]
            .as_i64()
            .unwrap();
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
    assert!(
        wait_until(10, || list(std::path::Path::new("/sys/class/net")).len()
            <= links_before),
        "veths leaked"
    );
    assert!(bridge_ports("tstb-soak").is_empty());
    assert!(
        !list(std::path::Path::new("/run/netns"))
            .iter()
            .any(|n| n.contains("tst-soak"))
    );
}
