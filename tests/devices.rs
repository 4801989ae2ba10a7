//! The device allow list (issue 8, item 1): inside a sandbox, with and
//! without `--rootfs`, from the command and from `sbx exec`, a device node
//! outside Docker's standard set (hardware RNG 10:183, loop0 7:0, tty1 4:1,
//! /dev/mem 1:1, ...) cannot be opened, whether the sandbox made it with
//! mknod or it is the host's own; the standard ones (null, zero, full,
//! random, urandom, ptmx, and a node the sandbox makes with null's
//! numbers) work. Each case runs with the host's default enforcement (v1
//! devices controller here) and with the cgroup v2 BPF program forced
//! (`SBX_DEVICE_POLICY=bpf`), and the cgroups are gone afterwards.

mod common;
use common::*;
use std::path::{Path, PathBuf};

fn rootfs() -> String {
    busybox_rootfs().display().to_string()
}

/// The probe, a busybox sh script with the folder for its nodes as $1:
/// prints `LABEL RESULT` per check, RESULT being `ok`, `mknod-refused`, or
/// the error text of the failed open (`Operation not permitted`).
const PROBE: &str = r#"
D=$1
try() { # label mode path
    if [ "$2" = rw ]; then err=$( (: <>"$3") 2>&1 ); else err=$( (: <"$3") 2>&1 ); fi
    if [ -z "$err" ]; then echo "$1 ok"; else echo "$1 ${err##*: }"; fi
}
made() { # label type major minor mode
    if busybox mknod "$D/$1" "$2" "$3" "$4" 2>/dev/null; then
        try "$1" "$5" "$D/$1"; rm -f "$D/$1"
    else
        echo "$1 mknod-refused"
    fi
}
made made-hwrng c 10 183 r
made made-loop0 b 7 0 r
made made-tty1 c 4 1 rw
made made-mem c 1 1 r
made made-kmsg c 1 11 r
made made-tun c 10 200 rw
made made-null c 1 3 rw
for dev in hwrng loop0 tty1 mem kmsg vda; do
    [ -e /dev/$dev ] && try host-$dev r /dev/$dev
done
try null rw /dev/null
try zero r /dev/zero
try full rw /dev/full
try random r /dev/random
try urandom rw /dev/urandom
try ptmx rw /dev/ptmx
try tty rw /dev/tty
[ "$(busybox head -c 16 /dev/urandom | busybox wc -c)" = 16 ] && echo read-urandom ok
echo x > /dev/null && echo write-null ok
"#;

/// Checks the probe's report; `from` names the case for messages.
fn check(out: &str, from: &str) {
    let results: Vec<(&str, &str)> = out.lines().filter_map(|l| l.split_once(' ')).collect();
    let get = |label: &str| {
        results
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, r)| *r)
            .unwrap_or_else(|| panic!("{from}: no result for {label}: {out}"))
    };
    for label in [
        "made-hwrng",
        "made-loop0",
        "made-tty1",
        "made-mem",
        "made-kmsg",
        "made-tun",
    ] {
        let result = get(label);
        assert!(
            result == "mknod-refused" || result == "Operation not permitted",
            "{from}: {label} must not open: {result}\n{out}"
        );
    }
    let host_nodes: Vec<_> = results
        .iter()
        .filter(|(l, _)| l.starts_with("host-"))
        .collect();
    for (label, result) in &host_nodes {
        assert_eq!(
            *result, "Operation not permitted",
            "{from}: the host's {label} must not open\n{out}"
        );
    }
    for label in [
        "made-null",
        "null",
        "zero",
        "full",
        "random",
        "urandom",
        "ptmx",
        "read-urandom",
        "write-null",
    ] {
        assert_eq!(get(label), "ok", "{from}: {label} works\n{out}");
    }
    // No controlling terminal here: ENXIO, but never the allow list's EPERM.
    assert_ne!(
        get("tty"),
        "Operation not permitted",
        "{from}: /dev/tty\n{out}"
    );
}

/// sbx with `SBX_DEVICE_POLICY` set (or not), insisting on success.
fn sbx_ok(env: &TestEnv, policy: Option<&str>, args: &[&str]) -> String {
    let mut cmd = env.cmd(args);
    cmd.stdin(std::process::Stdio::null());
    if let Some(p) = policy {
        cmd.env("SBX_DEVICE_POLICY", p);
    }
    let out = cmd.output().expect("run sbx");
    assert!(
        out.status.success(),
        "sbx {args:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The sandbox cgroup folders named after `name` that still exist.
fn leftover_cgroups(name: &str) -> Vec<String> {
    ["devices", "unified", "memory", "pids", "cpu", ""]
        .iter()
        .flat_map(|c| list(&Path::new("/sys/fs/cgroup").join(c).join("sbx")))
        .filter(|d| d.starts_with(name))
        .collect()
}

/// A folder on the host for the nodes a sandbox without a rootfs makes
/// (through a volume); removed on drop.
struct NodeDir(PathBuf);

impl NodeDir {
    fn new(id: &str) -> Self {
        let dir = PathBuf::from(format!("/tmp/sbx-tst-{id}-nodes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        NodeDir(dir)
    }
}

impl Drop for NodeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The whole check for one enforcement: run and exec, on the host's root
/// (nodes made in a volume, the host's own /dev) and in a rootfs (nodes
/// made in the sandbox's /dev, which must allow device nodes).
fn devices_are_confined(id: &str, policy: Option<&str>) {
    let env = TestEnv::new(id);
    let nodes = NodeDir::new(id);
    let dir = nodes.0.display().to_string();
    let volume = format!("{dir}:{dir}");
    let rootfs = rootfs();
    let cases: [(&str, Vec<&str>, &str); 2] = [
        ("host root", vec!["-v", &volume], &dir),
        ("rootfs", vec!["--rootfs", &rootfs], "/dev"),
    ];
    for (i, (what, extra, node_dir)) in cases.iter().enumerate() {
        let fg = format!("tst-{id}-r{i}");
        let mut run = vec!["run", "--network", "none", "--name", &fg];
        run.extend(extra.iter().copied());
        run.extend(["--", "busybox", "sh", "-c", PROBE, "probe", node_dir]);
        check(&sbx_ok(&env, policy, &run), &format!("{what}, sbx run"));
        assert!(leftover_cgroups(&fg).is_empty(), "{what}: cgroups removed");

        let name = format!("tst-{id}-{i}");
        let mut detach = vec!["run", "-d", "--name", &name, "--network", "none"];
        detach.extend(extra.iter().copied());
        detach.extend(["--", "sleep", "300"]);
        sbx_ok(&env, policy, &detach);
        let exec = [
            "exec", &name, "--", "busybox", "sh", "-c", PROBE, "probe", node_dir,
        ];
        check(&env.ok(&exec), &format!("{what}, sbx exec"));
        env.ok(&["rm", "-f", &name]);
        assert!(
            leftover_cgroups(&name).is_empty(),
            "{what}: cgroups removed: {:?}",
            leftover_cgroups(&name)
        );
    }
}

#[test]
fn devices_are_confined_by_the_hosts_cgroup_controller() {
    devices_are_confined("devdef", None);
}

#[test]
fn devices_are_confined_by_the_cgroup_v2_bpf_program() {
    devices_are_confined("devbpf", Some("bpf"));
}

#[test]
fn an_unknown_device_policy_is_a_user_error() {
    let env = TestEnv::new("devbad");
    let out = env
        .cmd(&[
            "run",
            "--network",
            "none",
            "--name",
            "tst-devbad",
            "--",
            "true",
        ])
        .env("SBX_DEVICE_POLICY", "none")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run sbx");
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("sbx: ") && err.contains("use bpf or v1"),
        "{err}"
    );
    assert!(
        env.records().is_empty(),
        "nothing left: {:?}",
        env.records()
    );
    assert!(leftover_cgroups("tst-devbad").is_empty());
}

/// sbx killed right after the clone (the init dies with it): the sandbox's
/// device cgroup, recorded before any process was in it, goes with
/// `sbx prune`, for either enforcement.
#[test]
fn a_crashed_launchs_device_cgroup_is_swept() {
    let env = TestEnv::new("devcrash");
    for (i, policy) in [None, Some("bpf")].into_iter().enumerate() {
        let name = format!("tst-devcrash-{i}");
        let mut cmd = env.cmd(&[
            "run",
            "--network",
            "none",
            "--name",
            &name,
            "--",
            "sleep",
            "300",
        ]);
        cmd.env("SBX_CRASH_AT", "clone")
            .stdin(std::process::Stdio::null());
        if let Some(p) = policy {
            cmd.env("SBX_DEVICE_POLICY", p);
        }
        let out = cmd.output().expect("run sbx");
        assert_eq!(out.status.code(), None, "killed: {}", text(&out.stderr));
        assert_eq!(
            leftover_cgroups(&name).len(),
            1,
            "{policy:?}: made and left"
        );
        env.ok(&["prune"]);
        assert!(
            wait_until(5, || leftover_cgroups(&name).is_empty()),
            "{policy:?}: swept: {:?}",
            leftover_cgroups(&name)
        );
    }
}

/// With a terminal (`script` gives sbx one), /dev/tty (5:0) and the
/// terminal's own pts node (136:N) open read-write, for either enforcement.
#[test]
fn with_a_terminal_tty_and_its_pts_open() {
    let env = TestEnv::new("devtty");
    let probe = ": <>/dev/tty && echo tty-ok; t=$(busybox tty); : <>$t && echo pts-ok";
    for policy in ["", "bpf"] {
        let command =
            format!("{SBX} run --network none --name tst-devtty -- busybox sh -c '{probe}'");
        let out = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env("SBX_ROOT", &env.root)
            .env("SBX_DEVICE_POLICY", policy)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run script (util-linux)");
        // `script` echoes a NUL (`^@`) when its input ends while sbx holds
        // the terminal in raw mode (see tests/terminal.rs).
        let stdout = text(&out.stdout).replace('\r', "").replace("^@", "");
        assert_eq!(
            stdout,
            "tty-ok\npts-ok\n",
            "policy {policy:?}: {}",
            text(&out.stderr)
        );
    }
}
