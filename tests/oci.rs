//! sbx as an OCI runtime (SPEC "OCI runtime", issue 12): `sbx oci` /
//! `sbx-oci` driven like runc on bundles this test builds (the busybox
//! rootfs of `rootfs/`), with exact lifecycle states, and each honoured
//! config field checked so that ignoring it would fail a test.

mod common;
use common::oci::*;
use common::*;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn create_start_state_kill_delete_in_exact_states() {
    let env = TestEnv::new("ocilife");
    let bundle = Bundle::new(&env, "life", |c| {
        c["process"]["args"] = json!(["sh", "-c", "echo started; exec sleep 60"])
    });
    let pid_file = env.root.with_extension("pid");
    let output = env.root.with_extension("out");
    let out = create(
        &env,
        &bundle,
        "life1",
        &["--pid-file", pid_file.to_str().unwrap()],
        &output,
    );
    assert!(out.status.success(), "create: {}", out.stderr);
    let written = std::fs::read_to_string(&pid_file).unwrap();
    assert!(
        !written.ends_with('\n'),
        "pid file has no trailing newline: {written:?}"
    );
    let st = state(&env, "life1");
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], "life1");
    assert_eq!(st["pid"].as_i64().unwrap().to_string(), written);
    assert_eq!(st["bundle"], bundle.path());
    assert!(st["ociVersion"].as_str().unwrap().starts_with("1."));
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "",
        "nothing ran before start"
    );

    let out = oci(&env, &["start", "life1"]);
    assert!(out.status.success(), "start: {}", text(&out.stderr));
    assert_eq!(status(&env, "life1"), "running");
    assert!(wait_until(5, || std::fs::read_to_string(&output).unwrap()
        == "started\n"));
    let again = oci(&env, &["start", "life1"]);
    assert_eq!(
        again.status.code(),
        Some(125),
        "a running container cannot start again"
    );

    let refused = oci(&env, &["delete", "life1"]);
    assert_eq!(refused.status.code(), Some(125));
    assert!(
        text(&refused.stderr).contains("is running"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(status(&env, "life1"), "running");

    // SIGTERM by default, passed on to the command.
    let out = oci(&env, &["kill", "life1"]);
    assert!(out.status.success(), "kill: {}", text(&out.stderr));
    let t = Instant::now();
    assert!(wait_until(5, || status(&env, "life1") == "stopped"));
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "stopped within a second: {:?}",
        t.elapsed()
    );
    assert_eq!(state(&env, "life1")["pid"], 0);
    let out = oci(&env, &["kill", "life1", "KILL"]);
    assert_eq!(
        out.status.code(),
        Some(125),
        "a stopped container has no process"
    );

    let out = oci(&env, &["delete", "life1"]);
    assert!(out.status.success(), "delete: {}", text(&out.stderr));
    let gone = oci(&env, &["state", "life1"]);
    assert_eq!(gone.status.code(), Some(125));
    assert!(text(&gone.stderr).contains("does not exist"));
    assert!(
        env.records().is_empty(),
        "nothing left: {:?}",
        env.records()
    );
    assert!(!Path::new("/run/netns/sbx-life1").exists());
    let _ = std::fs::remove_file(pid_file);
    let _ = std::fs::remove_file(output);
}

#[test]
fn delete_force_kills_and_is_idempotent() {
    let env = TestEnv::new("ocidel");
    let bundle = Bundle::new(&env, "del", |c| {
        c["process"]["args"] = json!(["sleep", "60"])
    });
    let output = env.root.with_extension("out");
    assert!(create(&env, &bundle, "del1", &[], &output).status.success());
    // Only a stopped container is deleted without --force (runtime-spec).
    let out = oci(&env, &["delete", "del1"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("is created, not stopped"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        status(&env, "del1"),
        "created",
        "a refused delete changes nothing"
    );
    let out = oci(&env, &["delete", "--force", "del1"]);
    assert!(
        out.status.success(),
        "delete --force created: {}",
        text(&out.stderr)
    );
    assert!(env.records().is_empty());

    assert!(create(&env, &bundle, "del2", &[], &output).status.success());
    assert!(oci(&env, &["start", "del2"]).status.success());
    let init = state(&env, "del2")["pid"].as_i64().unwrap();
    let out = oci(&env, &["delete", "--force", "del2"]);
    assert!(
        out.status.success(),
        "delete --force: {}",
        text(&out.stderr)
    );
    assert!(!alive(init), "the container's init is gone");
    assert!(env.records().is_empty());
    let out = oci(&env, &["delete", "--force", "del2"]);
    assert!(out.status.success(), "again: {}", text(&out.stderr));
    let out = oci(&env, &["delete", "del2"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("does not exist"));
    let _ = std::fs::remove_file(output);
}

#[test]
fn run_waits_passes_output_and_status_and_removes_the_container() {
    let env = TestEnv::new("ocirun");
    let (out, err, code) = run_script(&env, "run1", "echo out; echo err >&2; exit 3", |_| {});
    assert_eq!((out.as_str(), err.as_str(), code), ("out\n", "err\n", 3));
    assert!(
        env.records().is_empty(),
        "run removes it: {:?}",
        env.records()
    );

    // --detach: it runs on, listed; sbx-oci (the launcher) is the same face.
    let bundle = Bundle::new(&env, "det", |c| {
        c["process"]["args"] = json!(["sleep", "60"])
    });
    let long_id = format!("det-{}", "x".repeat(80));
    let out = sbx_oci(&env)
        .args(["run", "--detach", "--bundle", bundle.path(), &long_id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(out.success(), "run -d");
    assert_eq!(status(&env, &long_id), "running");
    let list = text(&sbx_oci(&env).arg("list").output().unwrap().stdout);
    let header: Vec<&str> = list.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    );
    let row: Vec<&str> = list.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        (row[0], row[2], row[3]),
        (long_id.as_str(), "running", bundle.path())
    );
    let json: Value =
        serde_json::from_slice(&oci(&env, &["list", "--format", "json"]).stdout).unwrap();
    assert_eq!(json[0]["id"], long_id.as_str());
    assert_eq!(json[0]["status"], "running");
    // `sbx ps` of the same root shows it by its id, with state's pid.
    let ps = env.ps_json();
    let entry = ps
        .iter()
        .find(|s| s["name"] == long_id.as_str())
        .expect("in sbx ps");
    assert_eq!(entry["pid"], state(&env, &long_id)["pid"]);
    assert!(oci(&env, &["delete", "-f", &long_id]).status.success());
}

#[test]
fn spec_writes_a_config_sbx_runs_and_refuses_to_overwrite() {
    let env = TestEnv::new("ocispec");
    let bundle = Bundle::new(&env, "spec", |_| {});
    let again = oci(&env, &["spec", "--bundle", bundle.path()]);
    assert_eq!(again.status.code(), Some(125));
    assert!(text(&again.stderr).contains("exists"));
    let config: Value =
        serde_json::from_slice(&std::fs::read(bundle.dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["args"], json!(["sh"]));
    let features: Value = serde_json::from_slice(&oci(&env, &["features"]).stdout).unwrap();
    assert!(
        features["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!("network"))
    );
    let version = text(&oci(&env, &["--version"]).stdout);
    assert!(version.contains("spec: 1."), "{version}");
    // Unknown global flags of runc's callers do not stop an operation.
    let out = oci(
        &env,
        &[
            "--cgroup-manager=cgroupfs",
            "--systemd-cgroup",
            "--log-format",
            "json",
            "list",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn process_fields_are_honoured() {
    let env = TestEnv::new("ociproc");
    let script = "hostname; echo $GREETING; pwd; id; ulimit -n; grep -E '^(CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status; echo \"$@\"";
    let (out, err, code) = run_script(&env, "proc1", script, |c| {
        c["process"]["args"] = json!(["sh", "-c", script, "sh", "arg1", "arg 2"]);
        c["hostname"] = "ocihost".into();
        c["process"]["env"] = json!(["PATH=/bin:/sbin", "GREETING=hello-oci"]);
        c["process"]["cwd"] = "/tmp".into();
        c["process"]["user"] = json!({"uid": 1234, "gid": 2345, "additionalGids": [3456]});
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 321}]);
        c["process"]["capabilities"] = json!({"bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"], "inheritable": ["CAP_KILL"],
            "ambient": ["CAP_KILL"]});
        c["process"]["noNewPrivileges"] = true.into();
    });
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "ocihost");
    assert_eq!(lines[1], "hello-oci");
    assert_eq!(lines[2], "/tmp");
    assert!(
        lines[3].starts_with("uid=1234 gid=2345 groups=3456"),
        "{}",
        lines[3]
    );
    assert_eq!(lines[4], "321");
    // CAP_KILL is bit 5, CAP_NET_BIND_SERVICE bit 10: everything else dropped.
    assert_eq!(lines[5], "CapEff:\t0000000000000020");
    assert_eq!(lines[6], "CapBnd:\t0000000000000420");
    assert_eq!(
        lines[7], "CapAmb:\t0000000000000020",
        "kept across exec as uid 1234"
    );
    assert_eq!(lines[8], "NoNewPrivs:\t1");
    assert_eq!(lines[9], "arg1 arg 2");

    let (out, err, _) = run_script(&env, "proc2", "grep NoNewPrivs /proc/self/status", |c| {
        c["process"]["noNewPrivileges"] = false.into();
    });
    assert_eq!(out, "NoNewPrivs:\t0\n", "{err}");
}

#[test]
fn root_and_mounts_are_honoured() {
    let env = TestEnv::new("ocimnt");
    let shared = env.root.with_extension("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("file"), "from-host").unwrap();
    let script = "cat /data/file; echo; touch /newfile 2>/dev/null && echo root-rw || echo root-ro; \
                  grep ' /scratch ' /proc/mounts | cut -d' ' -f3,4; touch /scratch/x && echo scratch-rw; \
                  cat /proc/version | wc -c; touch /data/y 2>/dev/null && echo data-rw || echo data-ro";
    let (out, err, code) = run_script(&env, "mnt1", script, |c| {
        c["root"]["readonly"] = true.into();
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/data", "type": "bind", "source": shared.to_str().unwrap(), "options": ["rbind", "rw"]}));
        mounts.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m"]}));
        c["linux"]["maskedPaths"] = json!(["/proc/version"]);
        c["linux"]["readonlyPaths"] = json!(["/data"]);
    });
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "from-host", "{out}");
    assert_eq!(lines[1], "root-ro");
    assert!(lines[2].starts_with("tmpfs rw,nosuid"), "{}", lines[2]);
    assert!(lines[2].contains("size=1024k"), "{}", lines[2]);
    assert_eq!(lines[3], "scratch-rw");
    assert_eq!(lines[4].trim(), "0", "/proc/version masked");
    assert_eq!(lines[5], "data-ro", "readonlyPaths /data");
    assert!(!shared.join("y").exists());
    let _ = std::fs::remove_dir_all(shared);
}

/// A network namespace of the test's own, removed at the end.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = host("ip", &["netns", "del", &self.0]);
    }
}

#[test]
fn a_network_namespace_joined_by_path_is_used_unwired() {
    let env = TestEnv::new("ocins");
    let ns = Netns(format!("ocins-{}", std::process::id()));
    assert!(host("ip", &["netns", "add", &ns.0]).status.success());
    let made = host(
        "ip",
        &["-n", &ns.0, "link", "add", "ocimark0", "type", "bridge"],
    );
    assert!(made.status.success(), "{}", text(&made.stderr));
    let path = format!("/run/netns/{}", ns.0);
    let (out, err, code) = run_script(
        &env,
        "ns1",
        "ls /sys/class/net | sort | tr '\\n' ' '",
        |c| {
            c["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"},
                                          {"type": "network", "path": path}]);
        },
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out, "lo ocimark0 ",
        "the given netns, and sbx wired nothing into it"
    );
}

#[test]
fn the_sbx_network_annotation_wires_the_container() {
    let mut env = TestEnv::new("ocinet");
    let net = env.network("tst-ocinet", &["--subnet", "10.229.0.0/24"]);
    let (out, err, code) = run_script(
        &env,
        "net1",
        "ip -4 -o addr show eth0 | awk '{print $4}'; ip route | grep default",
        |c| {
            c["annotations"] = json!({"org.sbx.network": format!("{net},ip=10.229.0.7")});
        },
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "10.229.0.7/24");
    assert!(lines[1].starts_with("default via 10.229.0.1"), "{out}");
}

#[test]
fn unhonoured_fields_and_failed_creates_leave_nothing() {
    let env = TestEnv::new("ocibad");
    let output = env.root.with_extension("out");
    for (id, edit, needle) in [
        (
            "bad1",
            json!({"linux": {"intelRdt": {"closID": "x"}}}),
            "linux.intelRdt is not supported",
        ),
        (
            "bad2",
            json!({"hooks": {"startContainer": [{"path": "/bin/true"}]}}),
            "hooks.startContainer is not supported",
        ),
        (
            "bad3",
            json!({"process": {"terminal": true}}),
            "process.terminal",
        ),
    ] {
        let bundle = Bundle::new(&env, id, |c| merge(c, &edit));
        let out = create(&env, &bundle, id, &[], &output);
        assert_eq!(out.status.code(), Some(125), "{id}");
        let err = out.stderr;
        assert!(
            err.starts_with("sbx: ") && err.contains(needle),
            "{id}: {err}"
        );
        assert!(env.records().is_empty(), "{id}: nothing left");
    }
    // A failure inside the init (a program that is not there is found only
    // at exec; a missing cwd parent on a read-only root fails the setup).
    let bundle = Bundle::new(&env, "bad4", |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/data", "type": "bind", "source": "/no/such/dir", "options": ["rbind"]}));
    });
    let out = create(&env, &bundle, "bad4", &[], &output);
    assert_eq!(out.status.code(), Some(125));
    assert!(out.stderr.contains("/no/such/dir"), "{}", out.stderr);
    let bundle = Bundle::new(&env, "bad5", |c| {
        c["process"]["rlimits"] =
            json!([{"type": "RLIMIT_NOFILE", "soft": 1_048_576_000u64, "hard": 1_048_576_000u64}]);
    });
    let out = create(&env, &bundle, "bad5", &[], &output);
    assert_eq!(out.status.code(), Some(125));
    assert!(out.stderr.contains("process.rlimits"), "{}", out.stderr);
    assert!(
        env.records().is_empty(),
        "nothing left: {:?}",
        env.records()
    );
    assert!(!Path::new("/run/netns/sbx-bad5").exists());
    let _ = std::fs::remove_file(output);
}

/// Overlays `patch`'s keys onto `value`, recursively.
fn merge(value: &mut Value, patch: &Value) {
    match (value, patch) {
        (Value::Object(v), Value::Object(p)) => {
            for (k, pv) in p {
                merge(v.entry(k.clone()).or_insert(Value::Null), pv);
            }
        }
        (v, p) => *v = p.clone(),
    }
}

#[test]
fn a_given_seccomp_profile_is_enforced() {
    let env = TestEnv::new("ocisec");
    let script = "mkdir /tmp/x 2>&1 | grep -o 'not permitted'; cd /tmp 2>/dev/null && echo cd-ok || echo cd-enoent; \
                  kill -0 $$ 2>/dev/null && echo k0-ok || echo k0-denied; kill -CONT $$ && echo cont-ok";
    let (out, err, code) = run_script(&env, "sec1", script, |c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat", "arm_only_call"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["chdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2},
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}
            ]
        });
    });
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out, "not permitted\ncd-enoent\nk0-denied\ncont-ok\n",
        "{err}"
    );
}

#[test]
fn hooks_run_with_the_state_on_stdin() {
    let env = TestEnv::new("ocihook");
    let dir = env.root.with_extension("hooks");
    std::fs::create_dir_all(&dir).unwrap();
    let hook = |name: &str| {
        let file = dir.join(name);
        json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", file.display())]})
    };
    let bundle = Bundle::new(&env, "hook", |c| {
        c["process"]["args"] = json!(["sleep", "60"]);
        c["hooks"] = json!({"createRuntime": [hook("create")], "poststart": [hook("poststart")],
                            "poststop": [hook("poststop")]});
    });
    let output = env.root.with_extension("out");
    let out = create(&env, &bundle, "hook1", &[], &output);
    assert!(out.status.success(), "{}", out.stderr);
    let read = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(dir.join(name)).expect(name)).expect("state JSON")
    };
    let created = read("create");
    assert_eq!(
        (created["id"].as_str(), created["status"].as_str()),
        (Some("hook1"), Some("created"))
    );
    assert_eq!(created["pid"], state(&env, "hook1")["pid"]);
    assert!(!dir.join("poststart").exists(), "poststart waits for start");
    assert!(oci(&env, &["start", "hook1"]).status.success());
    assert_eq!(read("poststart")["status"], "running");
    assert!(oci(&env, &["delete", "--force", "hook1"]).status.success());
    assert_eq!(read("poststop")["status"], "stopped");

    // A failing createRuntime hook fails create and leaves nothing.
    let bundle = Bundle::new(&env, "hookbad", |c| {
        c["hooks"] = json!({"createRuntime": [{"path": "/bin/false"}]});
    });
    let out = create(&env, &bundle, "hook2", &[], &output);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        out.stderr.contains("hooks.createRuntime[0] /bin/false"),
        "{}",
        out.stderr
    );
    assert!(env.records().is_empty(), "{:?}", env.records());
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_file(output);
}

#[test]
fn root_and_mount_propagation_are_honoured() {
    let env = TestEnv::new("ociprop");
    let shared = env.root.with_extension("shared");
    std::fs::create_dir_all(&shared).unwrap();
    // mountinfo's optional fields: "shared:N" for a shared mount, only
    // "master:N" for a plain slave.
    let script = "awk '$5 == \"/\" || $5 == \"/data\" {print $5, $7}' /proc/self/mountinfo";
    let (out, err, code) = run_script(&env, "prop1", script, |c| {
        c["linux"]["rootfsPropagation"] = json!("rshared");
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/data", "type": "bind",
            "source": shared.to_str().unwrap(), "options": ["rbind", "rprivate"]}));
    });
    assert_eq!(code, 0, "{err}");
    let root = out
        .lines()
        .find(|l| l.starts_with("/ "))
        .unwrap_or_default();
    assert!(root.contains("shared:"), "/ is shared: {out}");
    let data = out
        .lines()
        .find(|l| l.starts_with("/data "))
        .unwrap_or_default();
    assert!(
        !data.contains("shared:") && !data.contains("master:"),
        "/data is private: {out}"
    );
    let (out, err, _) = run_script(&env, "prop2", script, |_| {});
    let root = out
        .lines()
        .find(|l| l.starts_with("/ "))
        .unwrap_or_default();
    assert!(
        !root.contains("shared:"),
        "by default / is a slave only: {out} {err}"
    );
    let _ = std::fs::remove_dir_all(shared);
}

#[test]
fn mounts_are_listed_in_the_configs_order_with_their_options() {
    let env = TestEnv::new("ociord");
    let shared = env.root.with_extension("src");
    std::fs::create_dir_all(&shared).unwrap();
    let script = "awk '$5 ~ /^\\/m\\// {print $5, $6}' /proc/self/mountinfo";
    let opts = ["nosuid", "strictatime", "mode=755"];
    let (out, err, code) = run_script(&env, "ord1", script, |c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(
            json!({"destination": "/m/b", "type": "tmpfs", "source": "tmpfs", "options": opts}),
        );
        mounts.push(json!({"destination": "/m/a", "source": shared.to_str().unwrap(), "options": [opts[0], opts[1], opts[2], "bind"]}));
        mounts.push(
            json!({"destination": "/m/c", "type": "tmpfs", "source": "tmpfs", "options": opts}),
        );
    });
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    // The bind, though sbx takes its source first, is listed second.
    assert!(
        lines[0].starts_with("/m/b ")
            && lines[1].starts_with("/m/a ")
            && lines[2].starts_with("/m/c "),
        "{out}"
    );
    assert!(
        lines[1].contains("nosuid") && !lines[1].contains("relatime"),
        "strictatime on the bind: {out}"
    );
    let _ = std::fs::remove_dir_all(shared);
}

#[test]
fn a_config_without_a_mount_namespace_is_refused_and_mounts_nothing_on_the_host() {
    let env = TestEnv::new("ocinomnt");
    let before = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count();
    let bundle = Bundle::new(&env, "nomnt", |c| {
        c["process"]["args"] = json!(["true"]);
        c["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "network"}]);
        c["hostname"] = json!("");
    });
    let out = oci(&env, &["create", "--bundle", bundle.path(), "nomnt1"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("no mount namespace"),
        "{}",
        text(&out.stderr)
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(bundle.path()), "{mounts}");
    assert!(
        mounts.lines().count() <= before + 2,
        "the host's table grew"
    );
    assert!(env.records().is_empty());
}
