//! `sbx ps`'s index (issue 9, `ROOT/ps.index`): whatever happens to the
//! sandboxes (a supervisor killed with SIGKILL, `rm -f`, `prune`,
//! `restart`, a record damaged by hand, a root of the previous layout
//! without an index), `ps` says exactly what it says when it reads every
//! record, in every output form.

mod common;
use common::*;

/// Every output form of `ps` that does not depend on the clock's second
/// (`CREATED` in the table says "N seconds ago").
const FORMS: [&[&str]; 6] = [
    &["ps", "-a", "--json"],
    &["ps", "--json"],
    &["ps", "-q"],
    &["ps", "-aq"],
    &["ps", "-a", "--format", "json"],
    &[
        "ps",
        "-a",
        "--format",
        "{{.Name}} {{.PID}} {{.IP}} {{.Status}} {{.Command}}",
    ],
];

/// `ps` in every form, with the index as it is (twice: the first may
/// refresh it), then without it: all three the same.
fn same_with_and_without_index(env: &TestEnv, when: &str) {
    let index = env.root.join("ps.index");
    for form in FORMS {
        let first = env.ok(form);
        let indexed = env.ok(form);
        let _ = std::fs::remove_file(&index);
        let read = env.ok(form);
        assert_eq!(first, read, "{when}: {form:?}, refreshing the index");
        assert_eq!(indexed, read, "{when}: {form:?}, from the index");
        env.ok(form);
    }
    assert!(index.exists(), "{when}: ps writes the index");
}

#[test]
fn ps_from_its_index_says_what_the_records_say() {
    let mut env = TestEnv::new("psidx");
    let net = env.network(
        "tst-psidx",
        &["--subnet", "10.249.17.0/24", "--bridge", "tstb-psidx"],
    );
    for name in ["tst-psi-a", "tst-psi-b", "tst-psi-c", "tst-psi-d"] {
        env.detach(name, &["--network", &net, "--", "sleep", "300"]);
    }
    env.detach("tst-psi-n", &["--network", "none", "--", "sleep", "300"]);
    same_with_and_without_index(&env, "all running");
    let index = std::fs::read_to_string(env.root.join("ps.index")).unwrap();
    assert_eq!(
        index.lines().count(),
        6,
        "a header and the five running: {index}"
    );

    // The supervisor killed (its init dies with it, nobody records it).
    let info = env.inspect("tst-psi-a");
    let supervisor = info["pids"]["supervisor"].as_i64().unwrap();
    let init = info["pids"]["init"].as_i64().unwrap();
    signal(supervisor as u32, libc::SIGKILL);
    assert!(
        wait_until(10, || !alive(init)),
        "the init dies with its supervisor"
    );
    assert_eq!(env.status("tst-psi-a").as_deref(), Some("exited"));
    same_with_and_without_index(&env, "after a supervisor's SIGKILL");

    // The command ends on its own: its supervisor records the exit.
    let init = env.inspect("tst-psi-b")["pids"]["init"].as_i64().unwrap();
    env.ok(&["kill", "tst-psi-b"]);
    assert!(wait_until(10, || env.status("tst-psi-b").as_deref() == Some("exited")));
    assert!(!alive(init));
    same_with_and_without_index(&env, "after kill");

    // rm -f of a running one, then a new sandbox under its name.
    env.ok(&["rm", "-f", "tst-psi-c"]);
    same_with_and_without_index(&env, "after rm -f");
    env.detach("tst-psi-c", &["--network", &net, "--", "sleep", "301"]);
    same_with_and_without_index(&env, "after a relaunch under the name");

    // restart of the exited one, prune of the dead one.
    env.ok(&["restart", "tst-psi-b"]);
    same_with_and_without_index(&env, "after restart");
    env.ok(&["prune"]);
    same_with_and_without_index(&env, "after prune");

    // A record damaged by hand while its sandbox runs: unknown, never
    // taken from the index.
    let record = env.root.join("sandboxes/tst-psi-d/sandbox.json");
    let good = std::fs::read(&record).unwrap();
    std::fs::write(&record, &good[..good.len() / 2]).unwrap();
    assert_eq!(env.status("tst-psi-d").as_deref(), Some("unknown"));
    same_with_and_without_index(&env, "with a damaged record");
    std::fs::write(&record, &good).unwrap();
    assert_eq!(env.status("tst-psi-d").as_deref(), Some("running"));

    // An index of another boot (or damaged) is not believed.
    let index = env.root.join("ps.index");
    let text = std::fs::read_to_string(&index).unwrap();
    let (_, rest) = text.split_once('\n').unwrap();
    let forged = rest.replace("\"sleep\",\"300\"", "\"forged\"");
    std::fs::write(
        &index,
        format!("{{\"version\":1,\"boot\":\"x\"}}\n{forged}"),
    )
    .unwrap();
    assert!(!env.ok(&["ps", "--json"]).contains("forged"));
    std::fs::write(&index, b"garbage").unwrap();
    same_with_and_without_index(&env, "after a damaged index");

    env.ok(&[
        "rm",
        "-f",
        "tst-psi-b",
        "tst-psi-c",
        "tst-psi-d",
        "tst-psi-n",
    ]);
    assert_eq!(env.ok(&["ps", "-aq"]), "");
}
