//! Filesystem isolation and hardening: a busybox rootfs (built by
//! rootfs/build.sh), /dev, volumes, read-only root, masked paths, and the
//! escapes a sandboxed root must not manage.

mod common;
use common::*;

fn rootfs() -> String {
    busybox_rootfs().display().to_string()
}

#[test]
fn the_root_is_the_rootfs_with_its_own_proc_and_a_minimal_dev() {
    let env = TestEnv::new("rfs");
    let marker = format!("/tmp/sbx-tst-host-marker-{}", std::process::id());
    std::fs::write(&marker, "host").unwrap();
    let script = format!(
        "test -e {marker} && echo marker-visible; test -x /bin/busybox && echo busybox-root; \
         cat /proc/1/comm; ls -A /dev | tr '\\n' ' '; echo; readlink /dev/ptmx; \
         grep -c ' /dev/pts devpts ' /proc/mounts; grep ' /sys ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1; \
         ls /proc | grep -c '^[0-9]'"
    );
    let rootfs = rootfs();
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--rootfs",
        &rootfs,
        "--",
        "sh",
        "-c",
        &script,
    ]);
    std::fs::remove_file(&marker).ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "busybox-root",
        "the host's marker is absent, busybox is /: {out}"
    );
    assert_eq!(lines[1], "sbx-init", "its own /proc: PID 1 is the init");
    assert_eq!(
        lines[2].trim(),
        "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero",
        "exactly the expected /dev"
    );
    assert_eq!(lines[3], "pts/ptmx");
    assert_eq!(lines[4], "1", "a devpts instance of its own");
    assert_eq!(lines[5], "ro", "/sys is read-only");
    let procs: u32 = lines[6].parse().unwrap();
    assert!(procs <= 4, "only the sandbox's processes: {procs}");
}

#[test]
fn volumes_and_a_read_only_root() {
    let env = TestEnv::new("vol");
    let rootfs = rootfs();
    let shared = format!("/tmp/sbx-tst-vol-{}", std::process::id());
    std::fs::create_dir_all(&shared).unwrap();
    let rw = format!("{shared}:/data");
    let ro = format!("{shared}:/readonly:ro");
    let script = "echo hi > /data/from-sandbox && echo rw-ok; \
                  echo x > /readonly/nope 2>/dev/null || echo ro-refused; \
                  touch /rootfile 2>/dev/null || echo root-refused; \
                  touch /tmp/scratch && echo tmpfs-ok";
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--rootfs",
        &rootfs,
        "-v",
        &rw,
        "-v",
        &ro,
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(out, "rw-ok\nro-refused\nroot-refused\ntmpfs-ok\n");
    assert_eq!(
        std::fs::read_to_string(format!("{shared}/from-sandbox")).unwrap(),
        "hi\n"
    );
    assert!(!std::path::Path::new(&format!("{shared}/nope")).exists());
    std::fs::remove_dir_all(&shared).ok();

    // Without --read-only the root is writable (so the check above is not vacuous).
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--rootfs",
        &rootfs,
        "--",
        "sh",
        "-c",
        "touch /rootfile && echo ok; rm /rootfile",
    ]);
    assert_eq!(out, "ok\n");
}

#[test]
fn escapes_fail_for_a_sandboxed_root() {
    let mut env = TestEnv::new("escape");
    let net = env.network(
        "tst-escape",
        &["--subnet", "10.231.0.0/24", "--bridge", "tstb-escape"],
    );
    let rootfs = rootfs();
    let attempts = [
        ("mount", "mount -t tmpfs none /mnt"),
        ("addr", "ip addr add 10.231.0.99/24 dev eth0"),
        ("linkdown", "ip link set eth0 down"),
        ("route", "ip route del default"),
        ("kcore", "cat /proc/kcore > /dev/null"),
        ("keys", "test -n \"$(cat /proc/keys)\""),
        ("sysctl", "echo x > /proc/sys/kernel/domainname"),
        ("unshare", "unshare -n true"),
        ("module", "insmod /dev/null"),
    ];
    let script: String = attempts
        .iter()
        .map(|(name, cmd)| {
            format!(
                "if {cmd} 2>/dev/null; then echo '{name}:ESCAPED'; else echo '{name}:refused'; fi; "
            )
        })
        .collect();
    let out = env.ok(&[
        "run",
        "--network",
        &net,
        "--rootfs",
        &rootfs,
        "--",
        "sh",
        "-c",
        &script,
    ]);
    for (name, _) in attempts {
        assert!(
            out.contains(&format!("{name}:refused")),
            "{name} must fail: {out}"
        );
    }
    // Still wired after all that.
    let out = env.ok(&[
        "run",
        "--network",
        &net,
        "--rootfs",
        &rootfs,
        "--",
        "ip",
        "route",
    ]);
    assert!(out.contains("default via 10.231.0.1"), "{out}");

    // With NET_ADMIN added, changing the address works: the refusal above
    // came from the missing capability.
    let out = env.ok(&[
        "run",
        "--network",
        &net,
        "--rootfs",
        &rootfs,
        "--cap-add",
        "NET_ADMIN",
        "--",
        "sh",
        "-c",
        "ip addr add 10.231.0.99/24 dev eth0 && ip -o -4 addr show eth0 | grep -c 10.231.0.99",
    ]);
    assert_eq!(out, "1\n");
    // And --cap-drop ALL leaves nothing in the bounding set.
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--cap-drop",
        "ALL",
        "--",
        "grep",
        "CapBnd",
        "/proc/self/status",
    ]);
    assert_eq!(out, "CapBnd:\t0000000000000000\n");
}

#[test]
fn rootfs_errors_are_caught_before_launch() {
    let env = TestEnv::new("rfserr");
    // A command missing from the rootfs is 127, like a failed execve:
    // tests/init_protocol.rs.
    let cases: [(&[&str], &str); 4] = [
        (
            &["--rootfs", "/no/such/rootfs", "--", "sh"],
            "rootfs /no/such/rootfs does not exist",
        ),
        (
            &["-v", "/no/such/src:/x", "--", "true"],
            "volume source /no/such/src does not exist",
        ),
        (
            &["-v", "/tmp:relative", "--", "true"],
            "must be an absolute path",
        ),
        (
            &["--cap-add", "BOGUS", "--", "true"],
            "unknown capability \"BOGUS\"",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["run", "--network", "none", "--name", "tst-rfserr"];
        args.extend_from_slice(extra);
        let out = env.sbx(&args);
        assert_eq!(out.status.code(), Some(125), "{extra:?}");
        assert!(
            text(&out.stderr).contains(needle),
            "{extra:?}: {}",
            text(&out.stderr)
        );
        assert!(env.records().is_empty());
    }
}

#[test]
fn the_seccomp_filter_blocks_what_capabilities_alone_would_allow() {
    let env = TestEnv::new("seccomp");
    let rootfs = rootfs();
    // With CAP_SYS_ADMIN added, only the filter stands between the sandbox
    // and mount/unshare/setns.
    let script = "grep '^Seccomp:' /proc/self/status; \
                  mount -t tmpfs none /mnt 2>/dev/null && echo mount:ESCAPED || echo mount:refused; \
                  unshare -n true 2>/dev/null && echo unshare:ESCAPED || echo unshare:refused; \
                  nsenter -t 1 -n true 2>/dev/null && echo setns:ESCAPED || echo setns:refused";
    let confined = env.ok(&[
        "run",
        "--network",
        "none",
        "--rootfs",
        &rootfs,
        "--cap-add",
        "SYS_ADMIN",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(
        confined,
        "Seccomp:\t2\nmount:refused\nunshare:refused\nsetns:refused\n"
    );
    let unconfined = env.ok(&[
        "run",
        "--network",
        "none",
        "--rootfs",
        &rootfs,
        "--cap-add",
        "SYS_ADMIN",
        "--security-opt",
        "seccomp=unconfined",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert!(
        unconfined.starts_with("Seccomp:\t0\nmount:ESCAPED\nunshare:ESCAPED"),
        "the flag turns it off: {unconfined}"
    );
    // Ordinary programs, threads included (clone3 falls back to clone), still work.
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--",
        "python3",
        "-c",
        "import threading; t = threading.Thread(target=print, args=('ok',)); t.start(); t.join()",
    ]);
    assert_eq!(out, "ok\n");
}

#[test]
fn symlinks_in_a_rootfs_cannot_point_sbx_at_host_paths() {
    let env = TestEnv::new("evil");
    let evil_root = format!("/tmp/sbx-tst-evil-{}", std::process::id());
    let host_target = format!("/tmp/sbx-tst-evil-target-{}", std::process::id());
    struct Cleanup(Vec<String>);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            for dir in &self.0 {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
    let _cleanup = Cleanup(vec![evil_root.clone(), host_target.clone()]);
    assert!(host("cp", &["-a", &rootfs(), &evil_root]).status.success());
    // Absolute links that would lead outside the rootfs if followed on the host.
    std::fs::remove_file(format!("{evil_root}/etc/hostname")).unwrap();
    std::os::unix::fs::symlink(
        format!("{host_target}/hostname"),
        format!("{evil_root}/etc/hostname"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        format!("{host_target}/data"),
        format!("{evil_root}/evil-data"),
    )
    .unwrap();
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--rootfs",
        &evil_root,
        "--hostname",
        "inner",
        "-v",
        "/tmp:/evil-data/tmp:ro",
        "--",
        "sh",
        "-c",
        "cat /etc/hostname; test -d /evil-data/tmp && echo volume-inside",
    ]);
    assert_eq!(out, "inner\nvolume-inside\n");
    assert!(
        !std::path::Path::new(&host_target).exists(),
        "nothing was created on the host through the links"
    );
    assert!(
        std::path::Path::new(&format!("{evil_root}{host_target}/data/tmp")).is_dir(),
        "the mount point was made inside the rootfs"
    );
}

#[test]
fn a_command_brought_by_a_volume_runs_in_a_rootfs() {
    struct Dir(std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let env = TestEnv::new("rfsvol");
    let dir = Dir(format!("/tmp/sbx-tst-rfsvoldir-{}", std::process::id()).into());
    std::fs::create_dir_all(&dir.0).unwrap();
    let script = dir.0.join("hello");
    std::fs::write(&script, "#!/bin/sh\necho from-volume\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let volume = format!("{}:/opt/tool:ro", dir.0.display());
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--rootfs",
        &rootfs(),
        "-v",
        &volume,
        "--",
        "/opt/tool/hello",
    ]);
    assert_eq!(out, "from-volume\n");
}
