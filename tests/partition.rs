//! `sbx partition` (SPEC "Impairments and partitions") against real kernel
//! objects: two groups exchange nothing, both ways, even with static
//! neighbour entries (to the peer's MAC, or to the gateway's for the
//! routed path); a sandbox outside still reaches both; `rm` and `clear`
//! restore; the elements go with a sandbox that ends.

mod common;
use common::*;

const NET: &str = "tst-part";
const A: &str = "10.235.0.2";
const B: &str = "10.235.0.3";
const C: &str = "10.235.0.4";

/// One echo from sandbox `from` to `to`, answered within a second.
fn reaches(env: &TestEnv, from: &str, to: &str) -> bool {
    env.sbx(&["exec", from, "--", "ping", "-c", "1", "-W", "1", to])
        .status
        .success()
}

/// Both elements sets named `partitioned`, as nft lists them.
fn elements() -> String {
    let bridge = text(&host("nft", &["list", "set", "bridge", "sbx", "partitioned"]).stdout);
    let ip = text(&host("nft", &["list", "set", "ip", "sbx", "partitioned"]).stdout);
    format!("{bridge}{ip}")
}

/// A static neighbour entry in sandbox `name`'s netns.
fn neighbour(name: &str, ip: &str, mac: &str) {
    let ns = format!("sbx-{name}");
    let out = host(
        "ip",
        &[
            "netns",
            "exec",
            &ns,
            "ip",
            "neigh",
            "replace",
            ip,
            "lladdr",
            mac,
            "dev",
            "eth0",
            "nud",
            "permanent",
        ],
    );
    assert!(out.status.success(), "ip neigh: {}", text(&out.stderr));
}

fn three(env: &mut TestEnv) {
    env.network(NET, &["--subnet", "10.235.0.0/24", "--bridge", "tstb-part"]);
    for (name, ip) in [("tst-pa", A), ("tst-pb", B), ("tst-pc", C)] {
        env.detach(name, &["--network", NET, "--ip", ip, "--", "sleep", "300"]);
    }
}

#[test]
fn a_partition_cuts_both_ways_even_with_static_neighbours_and_rm_restores() {
    let mut env = TestEnv::new("part");
    three(&mut env);
    assert!(reaches(&env, "tst-pa", B) && reaches(&env, "tst-pb", A));

    env.ok(&["partition", "add", "tst-pa", "tst-pb"]);
    assert!(!reaches(&env, "tst-pa", B), "A to B");
    assert!(!reaches(&env, "tst-pb", A), "B to A");
    for (from, to) in [("tst-pc", A), ("tst-pc", B), ("tst-pa", C), ("tst-pb", C)] {
        assert!(
            reaches(&env, from, to),
            "{from} to {to}: not in the partition"
        );
    }

    // Static ARP: the peer's own MAC (L2), then the gateway's (routed).
    let b_mac = env.inspect("tst-pb")["networks"][0]["mac"]
        .as_str()
        .expect("mac")
        .to_string();
    neighbour("tst-pa", B, &b_mac);
    assert!(
        !reaches(&env, "tst-pa", B),
        "a static ARP entry does not get through"
    );
    let gateway_mac = std::fs::read_to_string("/sys/class/net/tstb-part/address")
        .expect("bridge MAC")
        .trim()
        .to_string();
    neighbour("tst-pa", B, &gateway_mac);
    assert!(!reaches(&env, "tst-pa", B), "nor the routed path");
    neighbour("tst-pa", B, &b_mac);

    // ls, text and JSON; adding it again (either order) changes nothing.
    env.ok(&["partition", "add", "tst-pb", "tst-pa"]);
    let table = env.ok(&["partition", "ls"]);
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        [vec!["GROUP", "A", "GROUP", "B"], vec!["tst-pa", "tst-pb"]],
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["partition", "ls", "--json"])).expect("JSON");
    assert_eq!(
        json,
        serde_json::json!([{"a": ["tst-pa"], "b": ["tst-pb"]}])
    );

    // Errors: one line, 125, naming the problem.
    for (args, says) in [
        (
            vec!["partition", "rm", "tst-pa", "tst-pc"],
            "no partition between tst-pa and tst-pc",
        ),
        (
            vec!["partition", "add", "tst-pa,tst-pb", "tst-pb"],
            "sandbox tst-pb is in both groups",
        ),
        (
            vec!["partition", "add", "tst-pa", "tst-nosuch"],
            "no such sandbox: tst-nosuch",
        ),
    ] {
        let out = env.sbx(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
        assert!(
            err.starts_with("sbx: ") && err.contains(says),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    env.ok(&["partition", "rm", "tst-pb", "tst-pa"]);
    assert!(
        reaches(&env, "tst-pa", B) && reaches(&env, "tst-pb", A),
        "rm restores"
    );
    // The routed path, which the partition stopped, is a path indeed.
    neighbour("tst-pa", B, &gateway_mac);
    assert!(
        reaches(&env, "tst-pa", B),
        "through the gateway when not cut"
    );
    neighbour("tst-pa", B, &b_mac);
    assert_eq!(
        env.ok(&["partition", "ls"]).lines().count(),
        1,
        "header only"
    );

    // Groups: A,B against C; clear restores everything.
    env.ok(&["partition", "add", "tst-pa,tst-pb", "tst-pc"]);
    assert!(!reaches(&env, "tst-pc", A) && !reaches(&env, "tst-pb", C));
    assert!(reaches(&env, "tst-pa", B), "within a group nothing changes");
    env.ok(&["partition", "clear"]);
    assert!(reaches(&env, "tst-pc", A) && reaches(&env, "tst-pb", C));
    assert_eq!(env.ok(&["partition", "ls", "--json"]).trim(), "[]");
    let left = elements();
    assert!(!left.contains("10.235.0."), "{left}");
}

#[test]
fn a_partitions_elements_vanish_with_a_sandbox_that_ends() {
    let mut env = TestEnv::new("partend");
    env.network("tst-partend", &["--subnet", "10.235.1.0/24"]);
    for name in ["tst-pea", "tst-peb", "tst-pec"] {
        env.detach(name, &["--network", "tst-partend", "--", "sleep", "300"]);
    }
    let veth = |name: &str| {
        env.inspect(name)["networks"][0]["veth_host"]
            .as_str()
            .expect("veth")
            .to_string()
    };
    let (a, b) = (veth("tst-pea"), veth("tst-peb"));
    env.ok(&["partition", "add", "tst-pea", "tst-peb,tst-pec"]);
    let before = elements();
    assert!(before.contains(&a) && before.contains(&b), "{before}");
    assert!(before.contains("10.235.1.2 . 10.235.1.3"), "{before}");

    env.ok(&["rm", "-f", "tst-peb"]);
    let after = elements();
    assert!(!after.contains(&b), "{after}");
    assert!(!after.contains("10.235.1.3"), "{after}");
    assert!(after.contains(&a), "the pair with tst-pec stays: {after}");
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["partition", "ls", "--json"])).expect("JSON");
    assert_eq!(
        json,
        serde_json::json!([{"a": ["tst-pea"], "b": ["tst-pec"]}])
    );

    env.ok(&["rm", "-f", "tst-pea"]);
    let last = elements();
    assert!(!last.contains("10.235.1."), "{last}");
    assert_eq!(env.ok(&["partition", "ls", "--json"]).trim(), "[]");
}
