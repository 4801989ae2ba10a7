//! Another firewall's forward drop is detected and named. Runs in a
//! network namespace of its own: a drop policy on the real host would cut
//! every other test's traffic.

mod common;
use common::*;

struct Netns(&'static str);
impl Drop for Netns {
    fn drop(&mut self) {
        // The bridges and nf_tables tables inside go with the namespace.
        let _ = host("ip", &["netns", "del", self.0]);
    }
}

fn in_ns(env: &TestEnv, args: &[&str]) -> std::process::Output {
    let mut full = vec![
        "netns",
        "exec",
        "tst-fwns",
        SBX,
        "--root",
        env.root.to_str().unwrap(),
    ];
    full.extend_from_slice(args);
    host("ip", &full)
}

#[test]
fn a_foreign_forward_drop_policy_is_named_at_network_create() {
    let env = TestEnv::new("fwwarn");
    let _ns = Netns("tst-fwns");
    assert!(host("ip", &["netns", "add", "tst-fwns"]).status.success());
    let out = in_ns(
        &env,
        &[
            "network",
            "create",
            "tst-fw1",
            "--subnet",
            "10.232.0.0/24",
            "--bridge",
            "tstb-fw1",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "no warning without a drop policy");

    let nft = [
        "netns",
        "exec",
        "tst-fwns",
        "nft",
        "add table ip tstfw; add chain ip tstfw fw_forward { type filter hook forward priority 0; policy drop; }",
    ];
    assert!(host("ip", &nft).status.success());
    let out = in_ns(
        &env,
        &[
            "network",
            "create",
            "tst-fw2",
            "--subnet",
            "10.233.0.0/24",
            "--bridge",
            "tstb-fw2",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("nf_tables chain ip tstfw fw_forward drops forwarded packets by default"),
        "{stderr}"
    );
    assert!(stderr.contains("allow the bridge tstb-fw2"), "{stderr}");
}
