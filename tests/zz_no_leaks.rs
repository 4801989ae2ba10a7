//! Runs after the other test binaries (cargo runs them in name order): no
//! netns, link, nf_tables chain, mount or state root of the tests remains.

mod common;
use common::*;
use std::time::{Duration, Instant};

/// A host-side sandbox veth (`sbx` + 8 hex digits) that a test left: one
/// still on a test bridge (`tstb-*`), or one on no bridge at all (sbx plugs
/// a veth into its bridge when it makes it, so only a bridge deleted under
/// it leaves one loose). Veths on other bridges belong to sandboxes that
/// run on this host outside the suite, and are not the suite's business.
fn is_test_veth(link: &str) -> bool {
    let sbx_veth = link.len() == 11
        && link.starts_with("sbx")
        && link[3..].chars().all(|c| c.is_ascii_hexdigit());
    if !sbx_veth {
        return false;
    }
    let master = std::fs::read_link(format!("/sys/class/net/{link}/master"))
        .ok()
        .and_then(|p| p.file_name()?.to_str().map(String::from));
    master.is_none_or(|m| m.starts_with("tstb-"))
}

fn leftovers() -> Vec<String> {
    let mut found = Vec::new();
    for ns in list(std::path::Path::new("/run/netns")) {
        if ns.starts_with("sbx-tst-") || ns.starts_with("tst-") {
            found.push(format!("netns {ns}"));
        }
    }
    for link in list(std::path::Path::new("/sys/class/net")) {
        if link.starts_with("tst") || is_test_veth(&link) {
            found.push(format!("link {link}"));
        }
    }
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    for line in mounts
        .lines()
        .filter(|l| l.contains("sbx-tst-") || l.contains("/tst-"))
    {
        found.push(format!("mount {line}"));
    }
    let table = text(&host("nft", &["list", "table", "ip", "sbx"]).stdout);
    for line in table.lines().filter(|l| l.contains("tstb-")) {
        found.push(format!("nft {}", line.trim()));
    }
    for controller in ["memory", "pids", "cpu", "devices", "unified", ""] {
        let parent = std::path::Path::new("/sys/fs/cgroup")
            .join(controller)
            .join("sbx");
        for dir in list(&parent).into_iter().filter(|d| d.starts_with("tst-")) {
            found.push(format!("cgroup {}/{dir}", parent.display()));
        }
    }
    for dir in list(std::path::Path::new("/tmp")) {
        if dir.starts_with("sbx-tst-") || dir.starts_with("sbx-demo-") {
            found.push(format!("state root /tmp/{dir}"));
        }
    }
    found
}

#[test]
fn the_suite_left_nothing_behind() {
    // Namespace teardown is asynchronous in the kernel (and slow on a
    // loaded host): give veths and namespaces a moment.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut found = leftovers();
    while !found.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        found = leftovers();
    }
    assert!(found.is_empty(), "left behind: {found:#?}");
}
