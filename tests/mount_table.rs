//! The host's mount table (issue 9): every sandbox's netns pin is a mount
//! under /run/netns, and a sandbox's mount namespace must not copy the
//! other sandboxes' pins (nor receive later ones), while `ip netns exec`
//! keeps working and host mounts still reach a sandbox without a rootfs.

mod common;
use common::*;
use std::path::{Path, PathBuf};

/// Netns pins this test makes itself under /run/netns (as many sandboxes
/// would), one netns bound many times; removed even on a panic.
struct Pins {
    paths: Vec<PathBuf>,
}

impl Pins {
    /// `n` pins named `tst-TAG-PID-I` of one fresh netns.
    fn new(tag: &str, n: usize) -> Self {
        let mut pins = Pins { paths: Vec::new() };
        let first = format!("tst-{tag}-{}-0", std::process::id());
        let out = host("ip", &["netns", "add", &first]);
        assert!(out.status.success(), "ip netns add: {}", text(&out.stderr));
        let first = Path::new("/run/netns").join(first);
        pins.paths.push(first.clone());
        for i in 1..n {
            let path = PathBuf::from(format!("/run/netns/tst-{tag}-{}-{i}", std::process::id()));
            std::fs::write(&path, b"").unwrap();
            pins.paths.push(path.clone());
            let out = host(
                "mount",
                &["--bind", first.to_str().unwrap(), path.to_str().unwrap()],
            );
            assert!(out.status.success(), "mount: {}", text(&out.stderr));
        }
        pins
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        for path in self.paths.iter().rev() {
            let _ = host("umount", &["-l", path.to_str().unwrap()]);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A tmpfs the test mounts on the host; unmounted even on a panic.
struct HostMount(PathBuf);

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = host("umount", &["-l", self.0.to_str().unwrap()]);
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Lines of a mountinfo text whose mount point is under /run/netns.
fn netns_mounts(mountinfo: &str) -> usize {
    mountinfo
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|at| at.starts_with("/run/netns/"))
        })
        .count()
}

/// Mounts of the host under the test's state root (the template's pin).
fn mounts_under(root: &Path) -> Vec<String> {
    let root = root.to_str().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(root))
        .map(String::from)
        .collect()
}

/// The inode of the pinned template mount namespace, if one is pinned.
fn template_ns(root: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let dir = root.join("mntns");
    list(&dir)
        .iter()
        .filter(|f| !f.ends_with(".digest"))
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.ino())
        .find(|&ino| ino > 1)
}

#[test]
fn a_sandbox_copies_no_netns_pin_and_receives_none_later() {
    let mut env = TestEnv::new("mtab");
    let net = env.network(
        "tst-mtab",
        &["--subnet", "10.236.9.0/24", "--bridge", "tstb-mtab"],
    );
    env.detach("tst-mtab-a", &["--network", &net, "--", "sleep", "1000"]);
    // Others come after a: their pins, and 40 more, must not reach it.
    env.detach("tst-mtab-b", &["--network", &net, "--", "sleep", "1000"]);
    let _pins = Pins::new("mtab", 40);
    let first = env.ok(&["exec", "tst-mtab-a", "cat", "/proc/self/mountinfo"]);
    assert_eq!(netns_mounts(&first), 0, "a's mounts:\n{first}");
    let fresh = env.ok(&[
        "run",
        "--network",
        "none",
        "--",
        "cat",
        "/proc/self/mountinfo",
    ]);
    assert_eq!(netns_mounts(&fresh), 0, "a new sandbox's mounts:\n{fresh}");
    // The host still sees every pin, and `ip netns exec` works.
    let host_table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(netns_mounts(&host_table) >= 42, "{host_table}");
    let out = host(
        "ip",
        &["netns", "exec", "sbx-tst-mtab-b", "ip", "-o", "addr"],
    );
    assert!(out.status.success(), "ip netns exec: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("10.236.9."),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn host_mounts_made_later_reach_sandboxes_without_a_rootfs() {
    let env = TestEnv::new("mtabhost");
    // Enough pins that sbx clones sandboxes from its template.
    let _pins = Pins::new("mtabhost", 40);
    env.detach(
        "tst-mtabhost-a",
        &["--network", "none", "--", "sleep", "1000"],
    );
    // The template exists now; a mount made on the host afterwards must
    // reach a new sandbox (a running one gets it only where the host's
    // mounts are shared: this machine's / is private).
    let at = PathBuf::from(format!("/tmp/sbx-tst-mtabhost-m-{}", std::process::id()));
    std::fs::create_dir_all(&at).unwrap();
    let out = host("mount", &["-t", "tmpfs", "tstfs", at.to_str().unwrap()]);
    assert!(out.status.success(), "mount: {}", text(&out.stderr));
    let _mount = HostMount(at.clone());
    std::fs::write(at.join("hello"), b"from the host\n").unwrap();
    let file = at.join("hello");
    let file = file.to_str().unwrap();
    assert_eq!(
        env.ok(&["run", "--network", "none", "--", "cat", file]),
        "from the host\n"
    );
    // And one unmounted on the host is gone from the next sandbox.
    let out = host("umount", &[at.to_str().unwrap()]);
    assert!(out.status.success(), "umount: {}", text(&out.stderr));
    let out = env.sbx(&["run", "--network", "none", "--", "cat", file]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stdout));
    // The host's root is the sandbox's root.
    let etc = std::fs::read_to_string("/etc/os-release").unwrap();
    assert_eq!(
        env.ok(&["run", "--network", "none", "--", "cat", "/etc/os-release"]),
        etc
    );
}

#[test]
fn the_template_goes_with_the_last_sandbox() {
    let env = TestEnv::new("mtabgone");
    let _pins = Pins::new("mtabgone", 40);
    let root = env.root.clone();
    // A foreground sandbox that ends.
    env.ok(&["run", "--network", "none", "--", "true"]);
    assert_eq!(mounts_under(&root), Vec::<String>::new());
    // A sandbox whose command fails, and a launch undone after the
    // template was made (its init's setup fails).
    let out = env.sbx(&["run", "--network", "none", "--", "/no/such/command"]);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
    assert_eq!(mounts_under(&root), Vec::<String>::new());
    let out = env
        .cmd(&["run", "--network", "none", "--", "true"])
        .env("SBX_FAIL_AT", "init")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    assert_eq!(mounts_under(&root), Vec::<String>::new());
    // Two detached ones: the template stays while one runs.
    env.detach(
        "tst-mtabgone-a",
        &["--network", "none", "--", "sleep", "1000"],
    );
    env.detach(
        "tst-mtabgone-b",
        &["--network", "none", "--", "sleep", "1000"],
    );
    assert!(!mounts_under(&root).is_empty(), "no template pinned");
    // Launches reuse it while the host's mounts stay as they were.
    let before = template_ns(&root);
    assert!(before.is_some());
    env.ok(&["run", "--network", "none", "--", "true"]);
    assert_eq!(template_ns(&root), before, "the template was remade");
    env.ok(&["rm", "-f", "tst-mtabgone-a"]);
    assert!(!mounts_under(&root).is_empty(), "template gone too early");
    env.ok(&["rm", "-f", "tst-mtabgone-b"]);
    assert_eq!(mounts_under(&root), Vec::<String>::new());
    // A foreground sbx killed with SIGKILL: `sbx prune` takes the template.
    let child = env.spawn(&[
        "run",
        "--name",
        "tst-mtabgone-c",
        "--network",
        "none",
        "--",
        "sleep",
        "1000",
    ]);
    env.wait_running("tst-mtabgone-c");
    signal(child.id(), libc::SIGKILL);
    let _ = wait_or_kill(child);
    assert!(!mounts_under(&root).is_empty(), "no template pinned");
    // Its init follows sbx (parent-death signal) a moment later.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        env.ok(&["prune"]);
        if mounts_under(&root).is_empty() || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(mounts_under(&root), Vec::<String>::new());
}
