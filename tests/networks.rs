//! Network management as the SPEC describes it: the default network on
//! first use, adoption of an existing bridge, MTU, ls/inspect output.

mod common;
use common::*;

#[test]
fn the_default_network_is_created_on_first_use_and_can_be_removed() {
    if link_exists("sbx0") {
        // sbx is in use on this host: its sbx0 (and its NAT chain) are not
        // this test's to adopt and remove.
        return;
    }
    let mut env = TestEnv::new("default");
    env.adopt_network("sbx0");
    let out = env.ok(&[
        "run",
        "--name",
        "tst-default",
        "--",
        "sh",
        "-c",
        "ip -o -4 addr show eth0; ip route show default",
    ]);
    assert!(out.contains("inet 10.11.0.2/16"), "{out}");
    assert!(out.contains("default via 10.11.0.1 dev eth0"), "{out}");
    let info: serde_json::Value =
        serde_json::from_str(&env.ok(&["network", "inspect", "sbx0"])).unwrap();
    assert_eq!(info["bridge"], "sbx0");
    assert_eq!(info["subnet"], "10.11.0.0/16");
    assert_eq!(info["gateway"], "10.11.0.1");
    assert_eq!(info["nat"], true);
    let created_bridge = info["bridge_created"] == true;
    env.ok(&["network", "rm", "sbx0"]);
    if created_bridge {
        assert!(!link_exists("sbx0"), "the bridge sbx made is gone");
    }
    // The next run creates it again.
    env.ok(&["run", "--", "true"]);
    assert!(env.ok(&["network", "ls"]).contains("sbx0"));
}

#[test]
fn an_existing_bridge_is_adopted_and_left_in_place() {
    let mut env = TestEnv::new("adopt");
    struct Bridge;
    impl Drop for Bridge {
        fn drop(&mut self) {
            let _ = host("ip", &["link", "del", "tstb-adopt"]);
        }
    }
    let _bridge = Bridge;
    assert!(
        host("ip", &["link", "add", "tstb-adopt", "type", "bridge"])
            .status
            .success()
    );
    env.network(
        "tst-adopt",
        &[
            "--subnet",
            "10.234.0.0/24",
            "--bridge",
            "tstb-adopt",
            "--mtu",
            "1400",
        ],
    );
    let info: serde_json::Value =
        serde_json::from_str(&env.ok(&["network", "inspect", "tst-adopt"])).unwrap();
    assert_eq!(info["bridge_created"], false);
    assert_eq!(info["gateway_added"], true);
    let addrs = text(&host("ip", &["-o", "-4", "addr", "show", "dev", "tstb-adopt"]).stdout);
    assert!(
        addrs.contains("10.234.0.1/24"),
        "gateway on the adopted bridge: {addrs}"
    );
    let out = env.ok(&[
        "run",
        "--network",
        "tst-adopt",
        "--",
        "cat",
        "/sys/class/net/eth0/mtu",
    ]);
    assert_eq!(out, "1400\n", "--mtu reaches the sandbox's eth0");
    env.ok(&["network", "rm", "tst-adopt"]);
    assert!(
        link_exists("tstb-adopt"),
        "an adopted bridge is not deleted"
    );
    let addrs = text(&host("ip", &["-o", "-4", "addr", "show", "dev", "tstb-adopt"]).stdout);
    assert!(
        !addrs.contains("10.234.0.1"),
        "but the gateway sbx added is removed: {addrs}"
    );
}

#[test]
fn network_ls_lists_and_create_picks_a_free_subnet() {
    let mut env = TestEnv::new("netls");
    env.network("tst-netls", &["--bridge", "tstb-netls"]);
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["network", "ls", "--json"])).unwrap();
    assert_eq!(list.len(), 1);
    let subnet = list[0]["subnet"].as_str().unwrap().to_string();
    assert!(
        subnet.starts_with("10.") && subnet.ends_with(".0.0/16"),
        "{subnet}"
    );
    let table = env.ok(&["network", "ls"]);
    assert!(
        table.starts_with("NAME") && table.contains("tst-netls") && table.contains(&subnet),
        "{table}"
    );
}

/// A `network create` that fails after making its bridge, gateway and
/// rules takes them all down again (the same teardown as `network rm`).
#[test]
fn a_network_create_that_fails_late_leaves_nothing() {
    let env = TestEnv::new("netfail");
    let bridge = "tstb-netfail";
    let out = env
        .cmd(&[
            "network",
            "create",
            "tst-netfail",
            "--subnet",
            "10.214.0.0/24",
        ])
        .args(["--bridge", bridge])
        .env("SBX_FAIL_AT", "network-record")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("SBX_FAIL_AT=network-record"), "{err}");
    assert!(!link_exists(bridge), "the bridge was deleted");
    assert!(sbx_chains_of(bridge).is_empty(), "its rules are gone");
    assert!(!env.ok(&["network", "ls"]).contains("tst-netfail"));

    // An adopted bridge stays, without the gateway sbx added to it.
    let _hand = HandLink("tstb-netfail2");
    host("ip", &["link", "add", "tstb-netfail2", "type", "bridge"]);
    let out = env
        .cmd(&[
            "network",
            "create",
            "tst-netfail2",
            "--subnet",
            "10.214.1.0/24",
        ])
        .args(["--bridge", "tstb-netfail2"])
        .env("SBX_FAIL_AT", "network-record")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(link_exists("tstb-netfail2"), "not ours to delete");
    let addrs = text(&host("ip", &["-4", "addr", "show", "tstb-netfail2"]).stdout);
    assert!(!addrs.contains("10.214.1.1"), "{addrs}");
    assert!(sbx_chains_of("tstb-netfail2").is_empty());
}
