//! What keeps a launch among many sandboxes as cheap as one alone (issue
//! 9, BENCHMARKS.md "Launch cost at scale"): a new sandbox sends nothing to
//! its neighbours on its own (its IPv6 link-local chatter went to every
//! port of the bridge), its bridge port has no IPv6 of its own, the bridges
//! sbx makes do no multicast snooping (re-armed on every port at each new
//! port), and /run/netns stays a shared mount.

mod common;
use common::*;

/// Packets the bridge got from its port `port` (what the sandbox behind it
/// sent) so far.
fn sent_by(port: &str) -> u64 {
    let counter = format!("/sys/class/net/{port}/statistics/rx_packets");
    std::fs::read_to_string(&counter)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_new_sandbox_is_silent_to_its_neighbours() {
    let mut env = TestEnv::new("nov6");
    let net = env.network(
        "tst-nov6",
        &["--subnet", "10.249.18.0/24", "--bridge", "tstb-nov6"],
    );
    env.detach("tst-nov6-a", &["--network", &net, "--", "sleep", "300"]);
    let ports = bridge_ports("tstb-nov6");
    env.detach("tst-nov6-b", &["--network", &net, "--", "sleep", "300"]);
    let port = bridge_ports("tstb-nov6")
        .into_iter()
        .find(|p| !ports.contains(p))
        .expect("b's bridge port");
    // Duplicate address detection waits up to 1 s, router solicitations
    // follow it: 3 s sees what the old eth0 sent (all of it flooded to
    // every port of the bridge).
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(sent_by(&port), 0, "a new sandbox sent nothing on its own");

    // No IPv6 address inside, no IPv6 at all on the bridge port.
    let out = host(
        "ip",
        &["-n", "sbx-tst-nov6-b", "-6", "addr", "show", "dev", "eth0"],
    );
    assert_eq!(text(&out.stdout).trim(), "", "no IPv6 address on eth0");
    for port in bridge_ports("tstb-nov6") {
        let knob = format!("/proc/sys/net/ipv6/conf/{port}/disable_ipv6");
        assert_eq!(
            std::fs::read_to_string(&knob).unwrap().trim(),
            "1",
            "{knob}"
        );
    }
    let snooping = std::fs::read_to_string("/sys/class/net/tstb-nov6/bridge/multicast_snooping");
    assert_eq!(snooping.unwrap().trim(), "0");

    // /run/netns is a shared mount (made so once, then left as it is).
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = mountinfo
        .lines()
        .rev()
        .find(|l| l.split(' ').nth(4) == Some("/run/netns"))
        .expect("/run/netns is a mount");
    assert!(line.contains(" shared:"), "{line}");
    env.ok(&["rm", "-f", "tst-nov6-a", "tst-nov6-b"]);
}
