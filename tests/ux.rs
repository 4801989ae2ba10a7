//! Docker habits: `ps --format`, one-line commands in `ps`, generated names,
//! usage errors that point at the subcommand's help, plurals, read-only
//! commands without root, and the default network's overlap error.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Runs sbx expecting a user error (one line, 125) containing `needle`.
fn refused(env: &TestEnv, args: &[&str], needle: &str) -> String {
    let out = env.sbx(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "sbx {args:?}: {stderr}");
    assert!(
        stderr.starts_with("sbx: ") && stderr.contains(needle) && stderr.lines().count() == 1,
        "sbx {args:?}: expected {needle:?} in {stderr:?}"
    );
    stderr
}

#[test]
fn ps_format_templates_and_one_line_commands() {
    let env = TestEnv::new("psfmt");
    let multi = "sleep 300\n#\tx";
    env.detach(
        "tst-psfmt-a",
        &["--network", "none", "--", "sh", "-c", multi],
    );
    let long = format!("sleep 300 # {}", "x".repeat(80));
    env.detach(
        "tst-psfmt-b",
        &["--network", "none", "--", "sh", "-c", &long],
    );

    let table = env.ok(&["ps"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "one line per sandbox:\n{table}");
    let a = lines.iter().find(|l| l.starts_with("tst-psfmt-a")).unwrap();
    assert!(a.ends_with(r"sh -c 'sleep 300\n#\tx'"), "{a}");
    let b = lines.iter().find(|l| l.starts_with("tst-psfmt-b")).unwrap();
    assert!(b.ends_with('…') && !b.contains(&"x".repeat(80)), "{b}");
    let whole = env.ok(&["ps", "--no-trunc"]);
    assert!(whole.contains(&"x".repeat(80)), "{whole}");

    let names = env.ok(&["ps", "--format", "{{.Name}} {{.Status}} {{.Network}}"]);
    assert_eq!(
        names,
        "tst-psfmt-a running none\ntst-psfmt-b running none\n"
    );
    let table = env.ok(&["ps", "--format", r"table {{.Name}}\t{{.Status}}"]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["NAME", "STATUS"],
            vec!["tst-psfmt-a", "running"],
            vec!["tst-psfmt-b", "running"]
        ]
    );
    let pids = env.ok(&["ps", "--format", r"{{.PID}}\n"]);
    assert!(
        pids.lines()
            .filter(|l| !l.is_empty())
            .all(|l| alive(l.parse().unwrap())),
        "{pids:?}"
    );

    let json = env.ok(&["ps", "--format", "json"]);
    let objects: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(objects.len(), 2);
    assert_eq!(objects[0]["name"], "tst-psfmt-a");
    assert_eq!(objects[0]["command"][2], multi);

    let err = refused(
        &env,
        &["ps", "--format", "{{.Name}} {{.Colour}}"],
        "unknown field .Colour",
    );
    assert!(err.contains(".Name, .PID"), "{err}");
}

#[test]
fn generated_names_are_short_ids_with_one_prefix() {
    let env = TestEnv::new("genname");
    let name = env.ok(&["run", "-d", "--network", "none", "--", "sleep", "300"]);
    let name = name.trim();
    assert!(
        name.len() == 12 && name.bytes().all(|b| b.is_ascii_hexdigit()),
        "{name:?}"
    );
    let netns = format!("/run/netns/sbx-{name}");
    assert!(Path::new(&netns).exists(), "{netns}");
    assert_eq!(
        env.ok(&["exec", name, "--", "hostname"]).trim(),
        name,
        "the hostname is the name"
    );
}

#[test]
fn usage_errors_point_at_the_subcommand_help() {
    let env = TestEnv::new("usehelp");
    refused(
        &env,
        &["run", "--bogus", "--", "true"],
        "(see 'sbx run --help')",
    );
    refused(
        &env,
        &["network", "create"],
        "(see 'sbx network create --help')",
    );
    refused(
        &env,
        &["--log-level", "warn", "network", "inspect"],
        "(see 'sbx network inspect --help')",
    );
    refused(&env, &["frobnicate"], "(see 'sbx --help')");
    refused(
        &env,
        &["ps", "--json", "--format", "json"],
        "(see 'sbx ps --help')",
    );
    assert!(!env.root.exists(), "a usage error creates nothing");
}

/// Runs sbx as `nobody` against this environment's state root.
fn as_nobody(env: &TestEnv, args: &[&str]) -> std::process::Output {
    std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", SBX])
        .arg("--root")
        .arg(&env.root)
        .args(args)
        .env_remove("SBX_ROOT")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run setpriv")
}

#[test]
fn plural_users_and_read_only_commands_without_root() {
    let mut env = TestEnv::new("uxro");
    let net = env.network(
        "tst-uxro",
        &["--subnet", "10.239.77.0/24", "--bridge", "tstb-uxro"],
    );
    let script = "echo hello; echo oops >&2; exec sleep 300";
    env.detach("tst-uxro-a", &["--network", &net, "--", "sh", "-c", script]);
    env.detach("tst-uxro-b", &["--network", &net, "--", "sleep", "300"]);
    refused(
        &env,
        &["network", "rm", &net],
        "network tst-uxro is in use by sandboxes tst-uxro-a, tst-uxro-b: stop them first, or take each off with 'sbx network disconnect'",
    );
    env.ok(&["rm", "-f", "tst-uxro-b"]);
    refused(
        &env,
        &["network", "rm", &net],
        "network tst-uxro is in use by sandbox tst-uxro-a: stop it first, or take it off with 'sbx network disconnect tst-uxro tst-uxro-a'",
    );
    assert!(wait_until(5, || env.ok(&["logs", "tst-uxro-a"]) == "hello\n"));

    // Read-only commands work for a user who can read the state root: sbx
    // made it root's alone (0700, logs 0640); the admin opens it to a group.
    let chgrp = host("chgrp", &["-R", "65534", &env.root.to_string_lossy()]);
    assert!(chgrp.status.success(), "{}", text(&chgrp.stderr));
    std::fs::set_permissions(&env.root, std::fs::Permissions::from_mode(0o750)).unwrap();
    let ok = |args: &[&str]| {
        let out = as_nobody(&env, args);
        assert!(
            out.status.success(),
            "{args:?} as nobody: {}",
            text(&out.stderr)
        );
        (text(&out.stdout), text(&out.stderr))
    };
    assert_eq!(ok(&["ps", "-q"]).0, "tst-uxro-a\n");
    let listed: Vec<serde_json::Value> =
        serde_json::from_str(&ok(&["ps", "-a", "--json"]).0).unwrap();
    assert_eq!(listed[0]["status"], "running");
    assert_eq!(listed[0]["ip"], "10.239.77.2");
    assert!(ok(&["inspect", "tst-uxro-a"]).0.contains("\"10.239.77.2\""));
    assert_eq!(
        ok(&["logs", "tst-uxro-a"]),
        ("hello\n".into(), "oops\n".into())
    );
    assert!(ok(&["network", "ls"]).0.contains("tst-uxro"));
    assert!(ok(&["network", "inspect", &net]).0.contains("tst-uxro-a"));

    // Mutating ones still need root, and say so.
    for args in [
        &["stop", "tst-uxro-a"][..],
        &["network", "rm", &net],
        &["prune"],
    ] {
        let out = as_nobody(&env, args);
        assert_eq!(out.status.code(), Some(125), "{args:?}");
        assert!(
            text(&out.stderr).starts_with("sbx: this command must be run as root"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(env.status("tst-uxro-a").as_deref(), Some("running"));

    // A state root the user cannot read: the folder and the reason.
    let mode = |m| std::fs::set_permissions(&env.root, std::fs::Permissions::from_mode(m));
    mode(0o700).unwrap();
    let out = as_nobody(&env, &["ps"]);
    mode(0o755).unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr,
        format!(
            "sbx: cannot read state folder {}/sandboxes: Permission denied (os error 13): run as root, or make the state root readable to this user (see --root)\n",
            env.root.display()
        )
    );
    // One that does not exist: named too, and not created.
    let missing = env.root.join("nothing-here");
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            SBX,
            "--root",
        ])
        .arg(&missing)
        .arg("network")
        .arg("ls")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("No such file or directory"));
    assert!(!missing.exists());
}

#[test]
fn default_network_blocked_by_another_network_says_pass_network() {
    // A host of the test's own: a private netns and /run/netns, so the
    // real host's sbx0 or 10.11.0.0/16 is never touched.
    let env = TestEnv::new("defown");
    std::fs::create_dir_all("/run/netns").unwrap();
    let script = format!(
        "mount -t tmpfs tmpfs /run/netns && ip link set lo up && \
         {sbx} network create tst-defown --subnet 10.11.0.0/16 --bridge tstb-defown >/dev/null && \
         {sbx} run -- true; echo \"rc=$?\"; \
         echo \"networks: $(ls {root}/networks)\"; echo \"sandboxes: $(ls {root}/sandboxes)\"; \
         echo \"bridges: $(ip -br link show type bridge | cut -d' ' -f1)\"",
        sbx = SBX,
        root = env.root.display()
    );
    let out = std::process::Command::new("unshare")
        .args(["--net", "--mount", "sh", "-c", &script])
        .env("SBX_ROOT", &env.root)
        .output()
        .expect("run unshare");
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(stdout.starts_with("rc=125\n"), "{stdout}\n{stderr}");
    assert_eq!(
        stderr,
        "sbx: the default network sbx0 (10.11.0.0/16) cannot be created: network tst-defown already holds 10.11.0.0/16: pass --network tst-defown to use it, or remove it with 'sbx network rm tst-defown'\n"
    );
    // Nothing made: no sbx0 record or bridge, no sandbox folder.
    assert_eq!(
        stdout,
        "rc=125\nnetworks: tst-defown.json\nsandboxes: \nbridges: tstb-defown\n"
    );
    // The network record lives in the state root; its bridge died with
    // the private netns: drop the record so the guard has nothing to do.
    let _ = std::fs::remove_file(env.root.join("networks/tst-defown.json"));
}
