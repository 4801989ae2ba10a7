//! NAT to the outside, against a fake upstream namespace made by the test
//! (TESTING.md): a sandbox's connection arrives from the host's address.

mod common;
use common::*;

fn sbx_chains() -> String {
    text(&host("nft", &["list", "table", "ip", "sbx"]).stdout)
}

#[test]
fn sandboxes_reach_the_outside_through_masquerade_and_not_after_network_rm() {
    let upstream = HandNetns::new("tst-up-nat", "tstu-nat", "203.0.113.1/24", "203.0.113.2/24");
    let listener = listen_in(&upstream.name, "203.0.113.2:8080");

    let mut env = TestEnv::new("nat");
    let net = env.network(
        "tst-nat",
        &["--subnet", "10.202.0.0/16", "--bridge", "tstb-nat"],
    );
    assert!(
        sbx_chains().contains("tstb-nat"),
        "masquerade chain present: {}",
        sbx_chains()
    );
    assert!(
        sbx_chains().contains("ip saddr 10.202.0.0/16 oifname != \"tstb-nat\" masquerade"),
        "{}",
        sbx_chains()
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .unwrap()
            .trim(),
        "1"
    );

    env.start(
        "tst-nat-a",
        &[
            "--network",
            &net,
            "--ip",
            "10.202.0.10",
            "--",
            "sleep",
            "120",
        ],
    );
    env.start(
        "tst-nat-b",
        &[
            "--network",
            &net,
            "--ip",
            "10.202.0.20",
            "--",
            "sleep",
            "120",
        ],
    );
    for ns in ["sbx-tst-nat-a", "sbx-tst-nat-b"] {
        let client = std::thread::spawn({
            let ns = ns.to_string();
            move || {
                host(
                    "ip",
                    &[
                        "netns",
                        "exec",
                        &ns,
                        "busybox",
                        "nc",
                        "-w",
                        "3",
                        "203.0.113.2",
                        "8080",
                    ],
                )
            }
        });
        let source = accept_source(&listener);
        let out = client.join().expect("client thread");
        assert_eq!(
            source,
            Some("203.0.113.1".parse().unwrap()),
            "{ns}'s connection is masqueraded"
        );
        assert_eq!(text(&out.stdout).trim(), "hello from upstream");
    }

    // Removing the network removes its rule (and the table with the last one).
    env.stop_all();
    env.ok(&["network", "rm", &net]);
    let rules = sbx_chains();
    assert!(
        !rules.contains("tstb-nat"),
        "chain gone after network rm: {rules}"
    );
    assert!(!link_exists("tstb-nat"), "bridge gone after network rm");

    // The same source address without sbx's rule no longer gets through: a
    // hand-made namespace at 10.202.0.10 routed by the host, unmasqueraded.
    let _plain = HandNetns::new("tst-pl-nat", "tstp-nat", "10.202.0.1/24", "10.202.0.10/24");
    host(
        "ip",
        &[
            "-n",
            "tst-pl-nat",
            "route",
            "add",
            "default",
            "via",
            "10.202.0.1",
        ],
    );
    let client = std::thread::spawn(|| {
        host(
            "ip",
            &[
                "netns",
                "exec",
                "tst-pl-nat",
                "busybox",
                "nc",
                "-w",
                "2",
                "203.0.113.2",
                "8080",
            ],
        )
    });
    let source = accept_source(&listener);
    let out = client.join().expect("client thread");
    assert_ne!(
        source,
        Some("203.0.113.1".parse().unwrap()),
        "no masquerade any more"
    );
    assert!(
        !text(&out.stdout).contains("hello"),
        "the connection fails without NAT"
    );
}

#[test]
fn an_internal_network_has_no_nat_and_no_way_out() {
    let upstream = HandNetns::new("tst-up-int", "tstu-int", "198.18.0.1/24", "198.18.0.2/24");
    let listener = listen_in(&upstream.name, "198.18.0.2:8080");
    // Upstream could even answer the sandbox directly: only sbx's forward
    // drop keeps the traffic in.
    host(
        "ip",
        &[
            "-n",
            &upstream.name,
            "route",
            "add",
            "10.203.0.0/24",
            "via",
            "198.18.0.1",
        ],
    );
    let mut env = TestEnv::new("int");
    let net = env.network(
        "tst-int",
        &[
            "--subnet",
            "10.203.0.0/24",
            "--bridge",
            "tstb-int",
            "--internal",
        ],
    );
    let rules = sbx_chains();
    assert!(
        !rules.contains("oifname != \"tstb-int\" masquerade"),
        "no masquerade for internal: {rules}"
    );
    env.start("tst-int-a", &["--network", &net, "--", "sleep", "120"]);
    assert!(
        ping(Some("sbx-tst-int-a"), "10.203.0.1"),
        "the gateway is reachable"
    );
    let client = std::thread::spawn(|| {
        host(
            "ip",
            &[
                "netns",
                "exec",
                "sbx-tst-int-a",
                "busybox",
                "nc",
                "-w",
                "2",
                "198.18.0.2",
                "8080",
            ],
        )
    });
    assert_eq!(
        accept_source(&listener),
        None,
        "nothing leaves an internal network"
    );
    let _ = client.join();
}
