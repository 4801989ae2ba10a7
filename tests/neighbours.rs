//! Address reuse (issue 8, item 15): a sandbox that takes over the address
//! of a removed one is reachable at once from the neighbours that talked to
//! the old one, because an address always comes with the same MAC.

mod common;
use common::*;

/// Pings once with a one-second wait from netns `ns`.
fn ping_fast(ns: &str, addr: &str) -> bool {
    host("ip", &["netns", "exec", ns, "ping", "-c1", "-W1", addr])
        .status
        .success()
}

fn eth0_mac(ns: &str) -> String {
    let out = host(
        "ip",
        &["netns", "exec", ns, "cat", "/sys/class/net/eth0/address"],
    );
    text(&out.stdout).trim().to_string()
}

#[test]
fn a_sandbox_reusing_an_address_is_reachable_at_once() {
    let mut env = TestEnv::new("nbr");
    let net = env.network(
        "tst-nbr",
        &["--subnet", "10.251.0.0/24", "--bridge", "tstb-nbr"],
    );
    env.detach(
        "tst-nbr-a",
        &[
            "--network",
            &net,
            "--ip",
            "10.251.0.10",
            "--",
            "sleep",
            "300",
        ],
    );
    env.detach(
        "tst-nbr-b",
        &[
            "--network",
            &net,
            "--ip",
            "10.251.0.20",
            "--",
            "sleep",
            "300",
        ],
    );
    assert!(ping_fast("sbx-tst-nbr-b", "10.251.0.10"), "B reaches A");
    let mac_a = eth0_mac("sbx-tst-nbr-a");
    assert_eq!(
        env.inspect("tst-nbr-a")["network"]["mac"].as_str(),
        Some(mac_a.as_str()),
        "inspect shows it"
    );
    let veth_a = env.inspect("tst-nbr-a")["network"]["veth_host"]
        .as_str()
        .expect("A has a host veth")
        .to_string();

    env.ok(&["rm", "-f", "tst-nbr-a"]);
    // Wait for the kernel to tear A's namespace down, so nothing of A can
    // still answer for its address.
    assert!(
        wait_until(20, || !link_exists(&veth_a)),
        "A's veth {veth_a} is gone"
    );
    env.detach(
        "tst-nbr-c",
        &[
            "--network",
            &net,
            "--ip",
            "10.251.0.10",
            "--",
            "sleep",
            "300",
        ],
    );
    // B still has A's entry in its ARP cache: with a new MAC it would send
    // to a MAC nobody has for ~30 s.
    assert!(
        ping_fast("sbx-tst-nbr-b", "10.251.0.10"),
        "B reaches C at A's old address at once"
    );
    assert_eq!(eth0_mac("sbx-tst-nbr-c"), mac_a, "same address, same MAC");
    assert_eq!(
        mac_a, "0a:53:0a:fb:00:0a",
        "the MAC is derived from the address"
    );
}
