//! State you can trust (issue 8, item 9): a damaged network record is
//! shown, does not stop commands about other networks, and is removable.

mod common;
use common::*;

#[test]
fn a_damaged_network_record_is_shown_skipped_and_removable() {
    let mut env = TestEnv::new("dmgnet");
    let _bridge = HandLink("tstb-dmgn");
    let damaged = env.network("tstb-dmgn", &["--subnet", "10.247.10.0/24"]);
    let good = env.network(
        "tst-dmgok",
        &["--subnet", "10.247.11.0/24", "--bridge", "tstb-dmgok"],
    );
    assert!(!sbx_chains_of("tstb-dmgn").is_empty());
    let file = env.root.join("networks").join("tstb-dmgn.json");
    std::fs::write(&file, b"garbage\xff").unwrap();

    let table = env.ok(&["network", "ls"]);
    assert!(table.contains("tst-dmgok"), "{table}");
    let row = table.lines().find(|l| l.starts_with("tstb-dmgn")).unwrap();
    assert!(row.contains("damaged"), "{row}");
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["network", "ls", "--json"])).unwrap();
    let entry = list.iter().find(|n| n["name"] == "tstb-dmgn").unwrap();
    assert_eq!(entry["damaged"], true);
    assert!(
        entry["reason"].as_str().unwrap().contains("damaged"),
        "{entry}"
    );
    assert!(list.iter().any(|n| n["name"] == "tst-dmgok"));

    // Other networks work: create, use, remove.
    env.network(
        "tst-dmgnew",
        &["--subnet", "10.247.12.0/24", "--bridge", "tstb-dmgnew"],
    );
    env.ok(&["network", "rm", "tst-dmgnew"]);
    env.ok(&["run", "--network", &good, "--", "true"]);
    // Its name stays taken, and so does its bridge.
    let out = env.sbx(&["network", "create", &damaged, "--subnet", "10.247.13.0/24"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("its record cannot be read"),
        "{}",
        text(&out.stderr)
    );
    let out = env.sbx(&[
        "network",
        "create",
        "tst-dmgx",
        "--subnet",
        "10.247.14.0/24",
        "--bridge",
        "tstb-dmgn",
    ]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    let out = env.sbx(&["network", "inspect", &damaged]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("sbx network rm tstb-dmgn"));

    // rm removes the record, and the bridge sbx made (its MAC says so)
    // with its firewall chains.
    let out = env.sbx(&["network", "rm", &damaged]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!file.exists());
    assert!(!link_exists("tstb-dmgn"), "the bridge sbx made is gone");
    assert!(sbx_chains_of("tstb-dmgn").is_empty());
    assert!(link_exists("tstb-dmgok"));
    assert!(!sbx_chains_of("tstb-dmgok").is_empty());
}

#[test]
fn a_truncated_record_of_an_adopted_bridge_goes_and_the_bridge_stays() {
    let mut env = TestEnv::new("dmgad");
    let _bridge = HandLink("tstb-dmgad");
    assert!(
        host("ip", &["link", "add", "tstb-dmgad", "type", "bridge"])
            .status
            .success()
    );
    let net = env.network(
        "tst-dmgad",
        &["--subnet", "10.247.20.0/24", "--bridge", "tstb-dmgad"],
    );
    let file = env.root.join("networks").join("tst-dmgad.json");
    let whole = std::fs::read(&file).unwrap();
    std::fs::write(&file, &whole[..whole.len() - 20]).unwrap();
    let out = env.sbx(&["network", "rm", &net]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("interface tstb-dmgad was left in place"),
        "{}",
        text(&out.stderr)
    );
    assert!(!file.exists());
    assert!(
        link_exists("tstb-dmgad"),
        "an adopted bridge is not deleted"
    );
}
