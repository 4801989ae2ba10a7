//! Every user error: one line starting `sbx: `, exit 125, nothing created.

mod common;
use common::*;
use std::path::Path;

/// Runs sbx expecting a user error containing `needle`.
fn refused(env: &TestEnv, args: &[&str], needle: &str) {
    let out = env.sbx(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "sbx {args:?}: {stderr}");
    assert!(
        stderr.starts_with("sbx: ") && stderr.contains(needle),
        "sbx {args:?}: expected {needle:?} in {stderr:?}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
}

#[test]
fn run_errors_leave_nothing_behind() {
    let mut env = TestEnv::new("errrun");
    let net = env.network(
        "tst-errrun",
        &["--subnet", "10.204.0.0/24", "--bridge", "tstb-errrun"],
    );
    env.start(
        "tst-errrun-a",
        &[
            "--network",
            &net,
            "--ip",
            "10.204.0.5",
            "--",
            "sleep",
            "120",
        ],
    );
    let ports_before = bridge_ports("tstb-errrun");

    let n = net.as_str();
    let x = "tst-errrun-x";
    let cases: [(&[&str], &str); 10] = [
        (
            &["--network", n, "--name", x, "--ip", "10.205.0.5"],
            "address 10.205.0.5 is outside network tst-errrun's subnet 10.204.0.0/24",
        ),
        (
            &["--network", n, "--name", x, "--ip", "10.204.0.0"],
            "is the network address",
        ),
        (
            &["--network", n, "--name", x, "--ip", "10.204.0.255"],
            "is the broadcast address",
        ),
        (
            &["--network", n, "--name", x, "--ip", "10.204.0.1"],
            "is network tst-errrun's gateway",
        ),
        (
            &["--network", n, "--name", x, "--ip", "10.204.0.5"],
            "address 10.204.0.5 is already in use by sandbox tst-errrun-a",
        ),
        (
            &["--network", n, "--name", x, "--ip", "banana"],
            "is not an IPv4 address",
        ),
        (
            &["--network", n, "--name", "tst-errrun-a"],
            "name tst-errrun-a is already in use",
        ),
        (
            &["--network", n, "--name", "bad/name"],
            "name \"bad/name\" is not valid",
        ),
        (
            &["--network", "tst-nosuch", "--name", x],
            "network tst-nosuch not found",
        ),
        (
            &["--network", "none", "--name", x, "--ip", "10.204.0.9"],
            "--ip needs a network",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["run"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "true"]);
        refused(&env, &args, needle);
        assert_eq!(
            env.records(),
            vec!["tst-errrun-a".to_string()],
            "no record left by {extra:?}"
        );
        assert!(
            !Path::new("/run/netns/sbx-tst-errrun-x").exists(),
            "no netns left by {extra:?}"
        );
        assert_eq!(
            bridge_ports("tstb-errrun"),
            ports_before,
            "no bridge port left by {extra:?}"
        );
    }
    assert_eq!(env.ps_json().len(), 1);
}

#[test]
fn network_errors_leave_nothing_behind() {
    let mut env = TestEnv::new("errnet");
    env.network(
        "tst-errnet",
        &["--subnet", "10.206.0.0/24", "--bridge", "tstb-errnet"],
    );
    let cases: [(&[&str], &str); 8] = [
        (
            &["tst-errnet", "--subnet", "10.207.0.0/24"],
            "network tst-errnet already exists",
        ),
        (
            &[
                "tst-errnet2",
                "--subnet",
                "10.206.0.128/25",
                "--bridge",
                "tstb-errnet2",
            ],
            "subnet 10.206.0.128/25 overlaps network tst-errnet (10.206.0.0/24)",
        ),
        (
            &[
                "tst-errnet2",
                "--subnet",
                "192.0.2.0/24",
                "--bridge",
                "tstb-errnet2",
            ],
            "overlaps the host's route",
        ),
        (
            &[
                "tst-errnet2",
                "--subnet",
                "10.207.0.0/24",
                "--gateway",
                "10.208.0.1",
                "--bridge",
                "tstb-errnet2",
            ],
            "gateway 10.208.0.1 is not a host address",
        ),
        (
            &[
                "tst-errnet2",
                "--subnet",
                "10.207.0.1/24",
                "--bridge",
                "tstb-errnet2",
            ],
            "has host bits set",
        ),
        (
            &[
                "tst-errnet2",
                "--subnet",
                "10.207.0.0/24",
                "--bridge",
                "a-very-long-bridge-name",
            ],
            "is not a valid interface name",
        ),
        (
            &["tst-errnet2", "--subnet", "10.207.0.0/24", "--bridge", "lo"],
            "interface lo exists and is not a bridge",
        ),
        (
            &[
                "tst-errnet2",
                "--subnet",
                "10.207.0.0/24",
                "--bridge",
                "tstb-errnet",
            ],
            "bridge tstb-errnet is already used by network tst-errnet",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["network", "create"];
        args.extend_from_slice(extra);
        refused(&env, &args, needle);
        assert!(!link_exists("tstb-errnet2"), "no bridge left by {extra:?}");
        assert_eq!(
            list(&env.root.join("networks")),
            vec!["tst-errnet.json".to_string()]
        );
    }
    refused(
        &env,
        &["network", "rm", "tst-nosuch"],
        "network tst-nosuch not found",
    );
    refused(
        &env,
        &["network", "inspect", "tst-nosuch"],
        "network tst-nosuch not found",
    );

    env.start(
        "tst-errnet-a",
        &["--network", "tst-errnet", "--", "sleep", "120"],
    );
    refused(
        &env,
        &["network", "rm", "tst-errnet"],
        "network tst-errnet is in use by sandbox tst-errnet-a",
    );
    assert!(link_exists("tstb-errnet"), "refused rm removed nothing");
}

#[test]
fn not_root_is_one_clear_line() {
    let env = TestEnv::new("noroot");
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            SBX,
            "--root",
            "/tmp/sbx-tst-noroot",
            "run",
            "--",
            "true",
        ])
        .output()
        .expect("run setpriv");
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        text(&out.stderr),
        "sbx: this command must be run as root (it changes namespaces, links or firewall rules); \
         ps, inspect, logs and network ls/inspect work for any user who can read the state root\n"
    );
    assert!(!env.root.exists());
}

#[test]
fn usage_errors_are_one_line_and_125_like_any_user_error() {
    let env = TestEnv::new("usage");
    refused(
        &env,
        &["run", "--bogus", "--", "true"],
        "unexpected argument '--bogus' found",
    );
    refused(
        &env,
        &["run"],
        "the following required arguments were not provided: <COMMAND>",
    );
    refused(
        &env,
        &["frobnicate"],
        "unrecognized subcommand 'frobnicate'",
    );
    let out = env.sbx(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("sbx "));
}

#[test]
fn a_default_network_that_cannot_be_made_says_what_to_do() {
    if link_exists("sbx0") {
        return; // a real sbx0 on this host: nothing to provoke
    }
    let env = TestEnv::new("nodef");
    struct Veth;
    impl Drop for Veth {
        fn drop(&mut self) {
            let _ = host("ip", &["link", "del", "sbx0"]);
        }
    }
    let _veth = Veth;
    assert!(
        host(
            "ip",
            &[
                "link",
                "add",
                "sbx0",
                "type",
                "veth",
                "peer",
                "name",
                "tstv-nodef"
            ]
        )
        .status
        .success()
    );
    refused(
        &env,
        &["run", "--", "true"],
        "the default network sbx0 cannot be created (interface sbx0 exists and is not a bridge",
    );
    assert!(env.records().is_empty());
    assert!(list(&env.root.join("networks")).is_empty());
}

#[test]
fn mount_targets_the_init_could_not_use_are_refused_before_launch() {
    let env = TestEnv::new("errmnt");
    let file = format!("/tmp/sbx-tst-errmnt-file-{}", std::process::id());
    std::fs::write(&file, "").unwrap();
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _file = Remove(file.clone());
    let file_volume = format!("{file}:/tmp");
    let cases: [(&[&str], &str); 7] = [
        (
            &["-v", "/tmp:/"],
            "volume target / is the sandbox's root: a volume cannot be mounted on /; to make /tmp the root, use --rootfs /tmp",
        ),
        (&["-v", "/tmp:/."], "a volume cannot be mounted on /"),
        (&["--tmpfs", "/"], "--tmpfs / would hide the whole root"),
        (
            &["--tmpfs", "/etc/hostname"],
            "--tmpfs /etc/hostname: mount point /etc/hostname is a file, but a directory is mounted on it",
        ),
        (
            &["-v", "/tmp:/etc/hostname/x"],
            "volume /tmp:/etc/hostname/x: mount point /etc/hostname/x: a part of the path is a file",
        ),
        (
            &["-v", "/tmp:/etc/hostname"],
            "mount point /etc/hostname is a file, but a directory is mounted on it",
        ),
        (
            &["-v", &file_volume],
            "mount point /tmp is a directory, but a file is mounted on it",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["run", "--network", "none", "--name", "tst-errmnt"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "true"]);
        refused(&env, &args, needle);
        assert!(env.records().is_empty(), "{extra:?} left a record");
    }
}

/// A capability outside sbx's own bounding set cannot reach the sandbox:
/// adding it is refused, naming it (found from /proc/self/status CapBnd;
/// skipped on a host whose root holds every capability).
#[test]
fn a_capability_sbx_does_not_hold_is_refused() {
    let env = TestEnv::new("errcap");
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let bnd = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    // CAP_SYS_RESOURCE is 24 (linux/capability.h).
    if bnd & (1 << 24) != 0 {
        eprintln!("this host's root holds CAP_SYS_RESOURCE: nothing to refuse");
        return;
    }
    for name in ["SYS_RESOURCE", "cap_sys_resource"] {
        refused(
            &env,
            &["run", "--network", "none", "--cap-add", name, "--", "true"],
            "sbx cannot grant CAP_SYS_RESOURCE: it is not in sbx's own bounding set",
        );
        assert!(env.records().is_empty());
    }
    // ALL is all that sbx holds: the sandbox's bounding set is sbx's own.
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--cap-add",
        "ALL",
        "--",
        "grep",
        "CapBnd",
        "/proc/self/status",
    ]);
    let got = u64::from_str_radix(out.trim_start_matches("CapBnd:").trim(), 16).unwrap();
    assert_eq!(got, bnd, "{out}");
}

/// Targets at or under the mounts sbx makes itself (/proc, /sys, /dev,
/// /dev/pts, /dev/shm, /dev/mqueue) are refused before launch, for volumes
/// and --tmpfs alike, with and without a rootfs.
#[test]
fn targets_on_sbx_own_mounts_are_refused_before_launch() {
    let env = TestEnv::new("errown");
    let cases: [(&[&str], &str); 7] = [
        (
            &["-v", "/tmp:/proc"],
            "volume target /proc: sbx mounts the sandbox's own /proc there: pick another target",
        ),
        (
            &["-v", "/tmp:/proc/x"],
            "volume target /proc/x: sbx mounts the sandbox's own /proc there",
        ),
        (
            &["-v", "/tmp:/sys/kernel"],
            "sbx mounts the sandbox's own /sys there",
        ),
        (
            &["-v", "/tmp:/dev"],
            "sbx mounts the sandbox's own /dev there",
        ),
        (
            &["--tmpfs", "/dev/shm"],
            "--tmpfs /dev/shm: sbx mounts the sandbox's own /dev/shm there",
        ),
        (
            &["--tmpfs", "/dev/pts"],
            "sbx mounts the sandbox's own /dev/pts there",
        ),
        (
            &["--tmpfs", "/proc/keys"],
            "sbx mounts the sandbox's own /proc there",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["run", "--network", "none", "--name", "tst-errown"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "true"]);
        refused(&env, &args, needle);
        assert!(env.records().is_empty(), "{extra:?} left a record");
    }
}
