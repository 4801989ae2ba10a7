//! Undo, cleanup and the sweep, run against the recording kernel (see
//! `kernel::tests::Recording`) and a state root in a temporary folder: no
//! root needed, no kernel object touched.

use super::*;
use crate::model::SandboxSpec;
use crate::sandbox::kernel::tests::Recording;
use crate::state::{Entry, Take};
use std::net::Ipv4Addr;
use std::path::PathBuf;

const NET: &str = "unitnet";
const IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 7);

/// A state root of its own, removed on drop.
struct Scratch {
    dir: PathBuf,
    root: StateRoot,
}

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sbx-unit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = StateRoot::open(&dir).expect("a temporary state root");
        root.leases(NET)
            .create_empty()
            .expect("an empty lease index");
        Scratch { dir, root }
    }

    /// A sandbox as its reservation leaves it: folder, record naming a
    /// netns pin and two cgroups, lease taken.
    fn reserved(&self, name: &str, detach: bool) -> SandboxRecord {
        let record = SandboxRecord {
            spec: SandboxSpec {
                name: name.into(),
                networks: vec![crate::model::NetworkRequest {
                    name: NET.into(),
                    ip: None,
                    ip6: None,
                }],
                detach,
                command: vec!["true".into()],
                ..SandboxSpec::default()
            },
            links: vec![crate::state::Link {
                network: NET.into(),
                ip: IP,
                ip6: None,
                veth: "vsbxunit".into(),
                ifname: "eth0".into(),
            }],
            created: 0,
            state: SandboxState::Running,
            owner: None,
            init: None,
            netns: Some(PathBuf::from(format!("/run/netns/sbx-{name}"))),
            exit_code: None,
            cgroups: vec![PathBuf::from("/cg/a"), PathBuf::from("/cg/b")],
            nft_elements: true,
        };
        std::fs::create_dir(self.root.sandbox_dir(name)).expect("its folder");
        self.root.write_sandbox(&record).expect("its record");
        assert_eq!(
            self.root.leases(NET).take(IP, name).expect("lease"),
            Take::Taken
        );
        record
    }

    fn lease_holder(&self) -> Option<String> {
        self.root.leases(NET).holder(IP)
    }

    fn record(&self, name: &str) -> Option<SandboxRecord> {
        match self.root.sandbox_entry(name) {
            Entry::Found(r) => Some(r),
            Entry::Absent => None,
            Entry::Unreadable(u) => panic!("unreadable record: {}", u.reason),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_failed_launch_is_undone_init_first_then_each_object_then_the_lease() {
    let s = Scratch::new("undo");
    let record = s.reserved("u1", false);
    let k = Recording::default();
    undo_launch(&k, &s.root, record, Some(Pid::from_raw(4242)), false).expect("undone");
    assert_eq!(
        k.calls(),
        [
            "stop-init 4242",
            "unpin /run/netns/sbx-u1",
            "unguard vsbxunit 10.99.0.7",
            "remove-cgroup /cg/a patient",
            "remove-cgroup /cg/b patient",
            "release-template",
        ]
    );
    assert_eq!(s.lease_holder(), None, "the address is free again");
    assert!(s.record("u1").is_none(), "no record, no folder");
    assert!(!s.root.sandbox_dir("u1").exists());
}

#[test]
fn a_failed_restart_keeps_the_sandbox_exited_without_an_exit_code() {
    let s = Scratch::new("again");
    let mut record = s.reserved("u2", true);
    record.exit_code = Some(3);
    let k = Recording::default();
    undo_launch(&k, &s.root, record, None, true).expect("undone");
    let kept = s.record("u2").expect("the restart's sandbox stays");
    assert_eq!(kept.state, SandboxState::Exited);
    assert_eq!(kept.exit_code, None);
    assert!(kept.netns.is_none() && kept.cgroups.is_empty());
    assert_eq!(s.lease_holder(), None);
    assert!(!k.calls().iter().any(|c| c.starts_with("stop-init")));
}

#[test]
fn what_cannot_be_released_stays_named_and_holds_the_lease() {
    let s = Scratch::new("busy");
    let record = s.reserved("u3", false);
    let k = Recording::failing(&["remove-cgroup /cg/b"]);
    let err = undo_launch(&k, &s.root, record, None, false).expect_err("reported");
    let text = format!("{err:#}");
    assert!(
        text.contains("/cg/b") && text.contains("sbx rm u3"),
        "{text}"
    );
    let kept = s.record("u3").expect("kept, to try again");
    assert_eq!(kept.state, SandboxState::Exited);
    assert_eq!(kept.cgroups, [PathBuf::from("/cg/b")], "only what remains");
    assert!(kept.netns.is_none(), "the pin went");
    // The address is not handed out while something of it may remain.
    assert_eq!(s.lease_holder().as_deref(), Some("u3"));

    // The retry (`sbx rm`) finishes the job with the same teardown (the
    // port's elements went the first time).
    let k = Recording::default();
    remove(&k, &s.root, &kept).expect("removed on retry");
    assert_eq!(
        k.calls(),
        ["remove-cgroup /cg/b patient", "release-template"]
    );
    assert!(s.record("u3").is_none());
    assert_eq!(s.lease_holder(), None);
}

#[test]
fn an_ended_sandbox_is_kept_exited_when_detached_and_removed_otherwise() {
    let s = Scratch::new("finish");
    let k = Recording::default();
    let detached = s.reserved("d1", true);
    finish(&k, &s.root, detached, Some(7)).expect("finished");
    let kept = s.record("d1").expect("a detached sandbox stays listed");
    assert_eq!(
        (kept.state, kept.exit_code),
        (SandboxState::Exited, Some(7))
    );
    assert!(kept.netns.is_none() && kept.cgroups.is_empty());
    assert_eq!(s.lease_holder(), None);

    let s = Scratch::new("finish-fg");
    let foreground = s.reserved("f1", false);
    finish(&k, &s.root, foreground, Some(0)).expect("finished");
    assert!(s.record("f1").is_none());
}

#[test]
fn the_sweep_releases_a_dead_sandbox_without_waiting_when_it_was_cleaned_before() {
    let s = Scratch::new("sweep");
    let mut record = s.reserved("w1", true);
    // Its own sbx died while launching: nothing was released yet.
    record.state = SandboxState::Creating;
    let k = Recording::default();
    sweep(&k, &s.root, record).expect("swept");
    assert!(
        k.calls()
            .contains(&"remove-cgroup /cg/a patient".to_string())
    );
    assert_eq!(s.lease_holder(), None);
    assert_eq!(s.record("w1").map(|r| r.state), Some(SandboxState::Exited));

    // One whose cleanup already ran but left a cgroup: one quick try.
    let mut left = s.record("w1").expect("kept");
    left.cgroups = vec![PathBuf::from("/cg/escaped")];
    let k = Recording::failing(&["remove-cgroup"]);
    assert!(sweep(&k, &s.root, left).is_err());
    // Its elements went with the first sweep: not asked for again.
    assert_eq!(
        k.calls(),
        ["remove-cgroup /cg/escaped quick", "release-template"]
    );
}

#[test]
fn rm_after_the_supervisors_cleanup_does_not_ask_nf_tables_again() {
    let s = Scratch::new("rmagain");
    let k = Recording::default();
    finish(&k, &s.root, s.reserved("r1", true), Some(0)).expect("finished");
    assert!(k.calls().iter().any(|c| c.starts_with("unguard")));
    let kept = s.record("r1").expect("kept exited");
    assert!(!kept.nft_elements);
    let k = Recording::default();
    remove(&k, &s.root, &kept).expect("removed");
    assert!(
        k.calls().iter().all(|c| !c.starts_with("unguard")),
        "{:?}",
        k.calls()
    );
    assert!(s.record("r1").is_none());

    // One whose elements could not be removed is asked again next time.
    let k = Recording::failing(&["unguard"]);
    assert!(finish(&k, &s.root, s.reserved("r2", true), Some(0)).is_err());
    let kept = s.record("r2").expect("kept");
    assert!(kept.nft_elements);
    let k = Recording::default();
    remove(&k, &s.root, &kept).expect("removed");
    assert!(k.calls().iter().any(|c| c.starts_with("unguard")));
}

#[test]
fn a_port_whose_elements_cannot_be_forgotten_keeps_the_lease_and_record() {
    let s = Scratch::new("unguard");
    let record = s.reserved("g1", false);
    let k = Recording::failing(&["unguard"]);
    assert!(finish(&k, &s.root, record, Some(0)).is_err());
    assert_eq!(s.lease_holder().as_deref(), Some("g1"));
    assert!(s.record("g1").is_some());
}

#[test]
fn ps_releases_a_dead_sandbox_but_keeps_it_listed() {
    let s = Scratch::new("psdead");
    let record = s.reserved("p1", false);
    let k = Recording::default();
    release_dead(&k, &s.root, record).expect("released");
    let kept = s.record("p1").expect("still listed for the user to see");
    assert_eq!(kept.state, SandboxState::Exited);
    assert!(k.calls().iter().all(|c| !c.ends_with("patient")));
    assert_eq!(s.lease_holder(), None);
}

#[test]
fn an_impaired_and_partitioned_sandbox_takes_its_rules_and_elements_with_it() {
    let s = Scratch::new("impair");
    let record = s.reserved("i1", false);
    std::fs::write(
        s.root.sandbox_dir("i1").join("impair.json"),
        r#"{"eth0":{"loss_percent":30.0}}"#,
    )
    .expect("impair.json");
    let groups = r#"[{"a":["i1","i3"],"b":["i2"]},{"a":["i1"],"b":["i4"]}]"#;
    std::fs::write(s.root.path().join("partitions.json"), groups).expect("partitions.json");
    let k = Recording::default();
    finish(&k, &s.root, record, Some(0)).expect("finished");
    let calls = k.calls();
    let unguard = calls.iter().position(|c| c.starts_with("unguard"));
    let unimpair = calls.iter().position(|c| c == "unimpair vsbxunit");
    let unpartition = calls
        .iter()
        .position(|c| c == "unpartition vsbxunit 10.99.0.7");
    assert!(
        unguard < unimpair && unimpair < unpartition && unguard.is_some(),
        "{calls:?}"
    );
    let left = std::fs::read_to_string(s.root.path().join("partitions.json")).expect("kept");
    let left: serde_json::Value = serde_json::from_str(&left).expect("JSON");
    assert_eq!(
        left,
        serde_json::json!([{"a": ["i3"], "b": ["i2"]}]),
        "i1 left its groups; the entry left empty went"
    );
}

#[test]
fn rules_that_cannot_be_removed_keep_the_record_and_what_was_asked() {
    let s = Scratch::new("impfail");
    let record = s.reserved("j1", false);
    let path = s.root.sandbox_dir("j1").join("impair.json");
    std::fs::write(&path, r#"{"eth0":{"rate_bit":1000000}}"#).expect("impair.json");
    let k = Recording::failing(&["unimpair"]);
    assert!(finish(&k, &s.root, record, Some(0)).is_err());
    assert!(path.exists(), "the next teardown still knows what to undo");
    assert_eq!(s.lease_holder().as_deref(), Some("j1"));
    // Nothing recorded: nothing asked of the kernel.
    assert!(!k.calls().iter().any(|c| c.starts_with("unpartition")));
}

#[test]
fn a_dual_stack_sandbox_gives_both_leases_and_both_hosts_lines_back() {
    let s = Scratch::new("dual");
    let k = Recording::default();
    let ip6: std::net::Ipv6Addr = "fd42:99::7".parse().unwrap();
    let mut record = s.reserved("v6a", true);
    record.links[0].ip6 = Some(ip6);
    s.root.write_sandbox(&record).expect("its record");
    let leases = s.root.leases(NET);
    assert_eq!(leases.take(ip6, "v6a").expect("v6 lease"), Take::Taken);
    let hosts = NetworkHosts::at(s.root.network_hosts(NET));
    hosts
        .join(&record.links[0].addrs(), &["v6a"], Vec::new)
        .expect("hosts lines");
    finish(&k, &s.root, record, Some(0)).expect("finished");
    assert_eq!(s.lease_holder(), None);
    assert_eq!(leases.holder(ip6), None, "the IPv6 address is free again");
    assert!(leases.list6().unwrap().is_empty());
    let text = std::fs::read_to_string(hosts.path()).unwrap();
    assert!(!text.contains("v6a"), "{text}");
}
