//! `network rm` of a network in use names every sandbox on it: the healthy
//! ones and those whose record cannot be read alike.

mod common;
use common::*;

#[test]
fn network_rm_names_healthy_and_damaged_users_alike() {
    let mut env = TestEnv::new("nrmusr");
    let net = env.network(
        "tst-nrmusr",
        &["--subnet", "10.243.91.0/24", "--bridge", "tstb-nrmusr"],
    );
    env.detach("tst-nrmusr-a", &["--network", &net, "--", "sleep", "300"]);
    env.detach("tst-nrmusr-b", &["--network", &net, "--", "sleep", "300"]);
    let record = env.root.join("sandboxes/tst-nrmusr-b/sandbox.json");
    std::fs::write(&record, b"{ damaged").unwrap();
    let out = env.sbx(&["network", "rm", &net]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(
            "sbx: network tst-nrmusr is in use by sandboxes tst-nrmusr-a, tst-nrmusr-b"
        ),
        "{err}"
    );
    assert!(err.contains("'sbx rm -f tst-nrmusr-b' removes it"), "{err}");
    assert!(err.contains("stop tst-nrmusr-a first"), "{err}");
    assert!(link_exists("tstb-nrmusr"));
}
