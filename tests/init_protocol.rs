//! The launch handshake and what the init shows: a setup failure of the
//! sandbox's init is one line `sbx: REASON`, exit 125, and nothing left
//! (foreground and `-d`); a command that cannot be found is 127 however it
//! is started; the init shows itself as `sbx-init` only, nothing of sbx's
//! host command line or environment.

mod common;
use common::*;
use std::path::Path;

fn rootfs() -> String {
    busybox_rootfs().display().to_string()
}

/// Nothing of sandbox `name` is left: record, netns file, bridge port.
fn assert_nothing_left(env: &TestEnv, name: &str, bridge: &str, why: &str) {
    assert!(env.records().is_empty(), "{why}: record left");
    assert!(
        !Path::new(&format!("/run/netns/sbx-{name}")).exists(),
        "{why}: netns left"
    );
    assert!(
        wait_until(5, || bridge_ports(bridge).is_empty()),
        "{why}: veth left on the bridge: {:?}",
        bridge_ports(bridge)
    );
}

#[test]
fn an_init_that_fails_to_set_up_says_why_in_one_line_and_leaves_nothing() {
    let mut env = TestEnv::new("ipfail");
    let bridge = "tstb-ipfail";
    let net = env.network(
        "tst-ipfail",
        &["--subnet", "10.247.0.0/24", "--bridge", bridge],
    );
    let rootfs = rootfs();
    let source = format!("/tmp/sbx-tst-ipfail-src-{}", std::process::id());
    std::fs::create_dir_all(&source).unwrap();
    let volume = format!("{source}:/etc/hostname/sub");
    // (extra arguments, SBX_FAIL_AT, what the line must name). The first two
    // may also be refused before the launch (validation of mount targets);
    // the third only the init can see.
    let cases: [(&[&str], Option<&str>, &str); 3] = [
        (
            &["--rootfs", &rootfs, "--tmpfs", "/etc/hostname"],
            None,
            "/etc/hostname",
        ),
        (
            &["--rootfs", &rootfs, "-v", &volume],
            None,
            "/etc/hostname/sub",
        ),
        (&[], Some("init"), "SBX_FAIL_AT=init"),
    ];
    for detach in [false, true] {
        for (extra, fail_at, needle) in &cases {
            let name = "tst-ipfail";
            let mut args = vec!["run", "--name", name, "--network", &net];
            if detach {
                args.push("-d");
            }
            args.extend_from_slice(extra);
            args.extend_from_slice(&["--", "true"]);
            let mut cmd = env.cmd(&args);
            if let Some(step) = fail_at {
                cmd.env("SBX_FAIL_AT", step);
            }
            let out = cmd
                .stdin(std::process::Stdio::null())
                .output()
                .expect("run sbx");
            let stderr = text(&out.stderr);
            let why = format!("detach={detach} {extra:?} {fail_at:?}");
            assert_eq!(out.status.code(), Some(125), "{why}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{why}: one line: {stderr:?}");
            assert!(
                stderr.starts_with("sbx: ") && stderr.contains(needle),
                "{why}: {needle:?} named in {stderr:?}"
            );
            assert!(
                !stderr.contains("Broken pipe") && !stderr.contains("netns"),
                "{why}: the init's reason, not a consequence: {stderr:?}"
            );
            assert_eq!(text(&out.stdout), "", "{why}: no name printed");
            assert_nothing_left(&env, name, bridge, &why);
        }
    }
    std::fs::remove_dir_all(&source).ok();
    // And the network still works for the next sandbox.
    let out = env.ok(&["run", "--network", &net, "--", "true"]);
    assert_eq!(out, "");
}

#[test]
fn a_command_not_found_is_127_however_it_is_started() {
    let env = TestEnv::new("ip127");
    let rootfs = rootfs();
    let run = |extra: &[&str], command: &str| {
        let mut args = vec!["run", "--network", "none"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", command]);
        env.sbx(&args)
    };
    let expect = |out: std::process::Output, code: i32, line: &str, why: &str| {
        assert_eq!(
            out.status.code(),
            Some(code),
            "{why}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr), format!("{line}\n"), "{why}");
    };
    let missing = "sbx: /nonexistent: command not found";
    let bare = "sbx: no-such-cmd: command not found in $PATH";
    let not_exec = "sbx: /etc/passwd: cannot execute: Permission denied";
    let with_root: &[&str] = &["--rootfs", &rootfs];
    expect(run(with_root, "/nonexistent"), 127, missing, "rootfs path");
    expect(run(with_root, "no-such-cmd"), 127, bare, "rootfs bare");
    expect(run(with_root, "/etc/passwd"), 126, not_exec, "rootfs");
    expect(run(&[], "/nonexistent"), 127, missing, "host root");
    expect(run(&[], "no-such-cmd"), 127, bare, "host root bare");
    expect(run(&[], "/etc/passwd"), 126, not_exec, "host root");
    assert!(env.records().is_empty(), "every run removed its record");

    env.detach(
        "tst-ip127",
        &[
            "--network",
            "none",
            "--rootfs",
            &rootfs,
            "--",
            "sleep",
            "60",
        ],
    );
    let exec = |command: &str| env.sbx(&["exec", "tst-ip127", "--", command]);
    expect(exec("/nonexistent"), 127, missing, "exec");
    expect(exec("no-such-cmd"), 127, bare, "exec bare");
    expect(exec("/etc/passwd"), 126, not_exec, "exec");
}

/// Reads a file of a process on the host.
fn proc_file(pid: i64, file: &str) -> Vec<u8> {
    std::fs::read(format!("/proc/{pid}/{file}")).unwrap_or_else(|e| panic!("{pid}/{file}: {e}"))
}

#[test]
fn the_init_shows_itself_as_sbx_init_only() {
    let env = TestEnv::new("ipname");
    let rootfs = rootfs();
    // CAP_SYS_PTRACE lets the command read /proc/1/environ at all.
    let show = "cat /proc/1/cmdline; echo; cat /proc/1/environ | tr -d '\\0'; echo end";
    for extra in [&[][..], &["--rootfs", rootfs.as_str()][..]] {
        let mut args = vec!["run", "--network", "none", "--cap-add", "SYS_PTRACE"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "sh", "-c", show]);
        // sbx's own environment holds SBX_ROOT (and this marker).
        let out = env
            .cmd(&args)
            .env("SBX_TST_MARKER", "host-secret")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run sbx");
        assert!(out.status.success(), "{extra:?}: {}", text(&out.stderr));
        assert_eq!(
            out.stdout,
            b"sbx-init\0\nend\n",
            "{extra:?}: /proc/1/cmdline is the name only, /proc/1/environ empty: {:?}",
            text(&out.stdout)
        );
    }

    // Seen from the host too, and `sbx exec`'d commands show their own.
    env.detach(
        "tst-ipname",
        &[
            "--network",
            "none",
            "--rootfs",
            &rootfs,
            "--",
            "sleep",
            "60",
        ],
    );
    let pid = env.inspect("tst-ipname")["pid"]
        .as_i64()
        .expect("inspect has the init's pid");
    assert_eq!(proc_file(pid, "cmdline"), b"sbx-init\0");
    let environ = proc_file(pid, "environ");
    assert!(
        environ.iter().all(|&b| b == 0),
        "nothing of sbx's environment: {:?}",
        text(&environ)
    );
    let out = env.ok(&["exec", "tst-ipname", "--", "cat", "/proc/self/cmdline"]);
    assert_eq!(out, "cat\0/proc/self/cmdline\0");
}
