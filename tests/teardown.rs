//! Teardowns that cannot finish (issue 8, item 17): every step runs, every
//! error is reported, and the record stays until the kernel objects are
//! gone, so a second `network rm`, `rm` or `prune` finishes the job.

mod common;
use common::*;
use std::path::PathBuf;

#[test]
fn network_rm_leaves_an_interface_that_is_no_longer_its_bridge() {
    let mut env = TestEnv::new("tdfor");
    let _dummy = HandLink("tstb-tdfor");
    let net = env.network(
        "tst-tdfor",
        &["--subnet", "10.248.30.0/24", "--bridge", "tstb-tdfor"],
    );
    // Someone replaced the bridge by an interface of their own.
    assert!(host("ip", &["link", "del", "tstb-tdfor"]).status.success());
    assert!(
        host(
            "ip",
            &[
                "link",
                "add",
                "tstb-tdfor",
                "type",
                "veth",
                "peer",
                "name",
                "tst-tdforp"
            ]
        )
        .status
        .success()
    );
    let out = env.sbx(&["network", "rm", &net]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no longer a bridge"));
    assert!(link_exists("tstb-tdfor"), "someone else's interface stays");
    assert!(!env.ok(&["network", "ls"]).contains("tst-tdfor"));
    assert!(sbx_chains_of("tstb-tdfor").is_empty());
}

#[test]
fn network_rm_keeps_the_record_until_the_kernel_objects_are_gone() {
    let mut env = TestEnv::new("tdcap");
    let net = env.network(
        "tst-tdcap",
        &["--subnet", "10.248.31.0/24", "--bridge", "tstb-tdcap"],
    );
    // An sbx without CAP_NET_ADMIN (still uid 0) can look everything up
    // but delete nothing: every step fails, and all are reported.
    let mut child = std::process::Command::new("setpriv")
        .args(["--bounding-set", "-net_admin", SBX, "network", "rm", &net])
        .env("SBX_ROOT", &env.root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run setpriv");
    let finished = wait_until(30, || matches!(child.try_wait(), Ok(Some(_))));
    if !finished {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("wait for sbx");
    assert!(finished, "sbx network rm without CAP_NET_ADMIN hung");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("its record is kept"), "{err}");
    assert!(err.contains("delete bridge tstb-tdcap"), "{err}");
    assert!(
        err.matches("Operation not permitted").count() >= 2,
        "the firewall step failed and was reported too: {err}"
    );
    assert!(link_exists("tstb-tdcap"));
    assert!(
        env.ok(&["network", "ls"]).contains("tst-tdcap"),
        "record kept"
    );
    // A second try, with the privilege back, finishes the job.
    env.ok(&["network", "rm", &net]);
    assert!(!env.ok(&["network", "ls"]).contains("tst-tdcap"));
    assert!(!link_exists("tstb-tdcap"));
    assert!(sbx_chains_of("tstb-tdcap").is_empty());
}

#[test]
fn a_cgroup_that_cannot_be_removed_keeps_the_record_until_it_can() {
    let env = TestEnv::new("tdcg");
    env.detach(
        "tst-tdcg",
        &[
            "--network",
            "none",
            "--pids-limit",
            "50",
            "--",
            "sleep",
            "300",
        ],
    );
    let cgroups: Vec<PathBuf> = env.inspect("tst-tdcg")["cgroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| PathBuf::from(c.as_str().unwrap()))
        .collect();
    assert!(!cgroups.is_empty());
    // A process of the host escapes into the sandbox's cgroup.
    struct Escapee(std::process::Child, Vec<PathBuf>);
    impl Drop for Escapee {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
            for dir in &self.1 {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
    let sleeper = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    let escapee = Escapee(sleeper, cgroups.clone());
    for dir in &cgroups {
        std::fs::write(dir.join("cgroup.procs"), escapee.0.id().to_string()).unwrap();
    }
    let out = env.sbx(&["stop", "-t", "1", "tst-tdcg"]);
    assert!(out.status.success(), "it did stop: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("its record is kept"),
        "{}",
        text(&out.stderr)
    );
    let info = env.inspect("tst-tdcg");
    assert_eq!(info["status"], "exited");
    assert_eq!(
        info["cgroups"].as_array().unwrap().len(),
        cgroups.len(),
        "the record still names the cgroup it could not remove: {info}"
    );
    let out = env.sbx(&["rm", "tst-tdcg"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("remove cgroup"),
        "{}",
        text(&out.stderr)
    );
    assert!(env.records().contains(&"tst-tdcg".to_string()));
    let mut escapee = escapee;
    let _ = escapee.0.kill();
    let _ = escapee.0.wait();
    env.ok(&["rm", "tst-tdcg"]);
    assert!(env.records().is_empty());
    assert!(cgroups.iter().all(|c| !c.exists()));
}
